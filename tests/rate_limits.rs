//! Rate limits and quotas end to end: the configured rate holds within 1% over
//! a 10-second run on one node and on two nodes sharing Redis; quotas; the
//! Redis-down policy; priority classes.

mod harness;

use harness::{Gateway, GatewayBuilder, Mock, anonymous, problem_code};
use std::time::{Duration, Instant};

/// A system of its own per test run, so Redis state from other runs never counts.
struct Limited {
    system: String,
    key: String,
}

impl Limited {
    fn new() -> Limited {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let system = format!("rl-{nanos}");
        Limited {
            key: format!("lgsp_rate_test_{system}"),
            system,
        }
    }

    fn registry(&self, rate: f64, burst: u32, quota: Option<u64>) -> String {
        let quota = quota
            .map(|q| format!(", daily_quota = {q}"))
            .unwrap_or_default();
        format!(
            "[[systems]]\nslug = \"{s}\"\nagency = \"000.01.00.H29\"\nname = \"Hệ thống đo tần suất\"\nsecurity_level = 3\n\n\
             [[credentials]]\nid = \"{s}-key\"\nsystem = \"{s}\"\nkind = \"api_key\"\nkey_hash = \"{h}\"\n\n\
             [[subscriptions]]\nsystem = \"{s}\"\nservice = \"echo\"\nstate = \"approved\"\nplan = {{ rate_per_second = {rate:.1}, burst = {burst}{quota} }}\n",
            s = self.system,
            h = lgsp_gateway::access::secrets::hash_api_key(&self.key),
        )
    }
}

/// Offers `/api/echo/v1/inspect` to every gateway at a steady 4× the plan's
/// rate for `for_how_long`; returns (admitted, refused, elapsed). A paced load
/// measures the limiter; a flat-out one on two cores would measure the CPU.
async fn offer(
    gateways: &[&Gateway],
    key: &str,
    rate: f64,
    for_how_long: Duration,
) -> (u64, u64, Duration) {
    const WORKERS_PER_GATEWAY: usize = 4;
    let workers = (gateways.len() * WORKERS_PER_GATEWAY) as f64;
    let period = Duration::from_secs_f64(workers / (4.0 * rate));
    let started = Instant::now();
    let deadline = started + for_how_long;
    let mut tasks = Vec::new();
    for gw in gateways {
        for _ in 0..WORKERS_PER_GATEWAY {
            let url = gw.url("/api/echo/v1/inspect");
            let key = key.to_string();
            tasks.push(tokio::spawn(async move {
                let client = anonymous();
                let mut tick = tokio::time::interval(period);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let (mut ok, mut refused) = (0u64, 0u64);
                loop {
                    tick.tick().await;
                    if Instant::now() >= deadline {
                        break;
                    }
                    let r = client
                        .get(&url)
                        .header("x-api-key", &key)
                        .send()
                        .await
                        .expect("send");
                    match r.status().as_u16() {
                        200 => ok += 1,
                        429 => refused += 1,
                        other => panic!("unexpected status {other}"),
                    }
                }
                (ok, refused)
            }));
        }
    }
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        let (o, r) = t.await.expect("join");
        ok += o;
        refused += r;
    }
    (ok, refused, started.elapsed())
}

fn assert_within_one_percent(
    admitted: u64,
    rate: f64,
    burst: u32,
    elapsed: Duration,
    refused: u64,
) {
    let expected = f64::from(burst) + rate * elapsed.as_secs_f64();
    let error = (admitted as f64 - expected).abs() / expected;
    assert!(
        error <= 0.01,
        "admitted {admitted} over {elapsed:?} at {rate}/s burst {burst}: expected {expected:.0} (error {:.2}%, {refused} refused)",
        error * 100.0
    );
    assert!(
        refused > 0,
        "the run must push past the limit to measure it"
    );
}

#[tokio::test]
async fn rate_holds_within_one_percent_on_one_node() {
    let mock = Mock::start().await;
    let l = Limited::new();
    let gw = GatewayBuilder::new(&mock)
        .registry(&l.registry(50.0, 5, None))
        .start()
        .await;
    let (ok, refused, elapsed) = offer(&[&gw], &l.key, 50.0, Duration::from_secs(10)).await;
    assert_within_one_percent(ok, 50.0, 5, elapsed, refused);
}

#[tokio::test]
async fn rate_holds_within_one_percent_across_two_nodes_sharing_redis() {
    let mock = Mock::start().await;
    let l = Limited::new();
    let redis = "[rate_limits]\nmode = \"redis\"\nredis_url = \"redis://127.0.0.1:6379\"\nredis_timeout_ms = 1000\npublic_rate_per_second = 10000.0\npublic_burst = 10000\n";
    let a = GatewayBuilder::new(&mock)
        .config(redis)
        .registry(&l.registry(50.0, 5, None))
        .start()
        .await;
    let b = GatewayBuilder::new(&mock)
        .config(redis)
        .registry(&l.registry(50.0, 5, None))
        .start()
        .await;
    let (ok, refused, elapsed) = offer(&[&a, &b], &l.key, 50.0, Duration::from_secs(10)).await;
    assert_within_one_percent(ok, 50.0, 5, elapsed, refused);
}

#[tokio::test]
async fn daily_quota_is_shared_and_refused_with_its_code() {
    let mock = Mock::start().await;
    let l = Limited::new();
    let redis =
        "[rate_limits]\nmode = \"redis\"\npublic_rate_per_second = 10000.0\npublic_burst = 10000\n";
    let a = GatewayBuilder::new(&mock)
        .config(redis)
        .registry(&l.registry(1000.0, 100, Some(6)))
        .start()
        .await;
    let b = GatewayBuilder::new(&mock)
        .config(redis)
        .registry(&l.registry(1000.0, 100, Some(6)))
        .start()
        .await;
    for i in 0..6 {
        let gw = if i % 2 == 0 { &a } else { &b };
        let r = anonymous()
            .get(gw.url("/api/echo/v1/inspect"))
            .header("x-api-key", &l.key)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200, "call {i} is within the quota");
    }
    let r = anonymous()
        .get(b.url("/api/echo/v1/inspect"))
        .header("x-api-key", &l.key)
        .send()
        .await
        .expect("send");
    let retry_after: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!(
        (1..=86_400).contains(&retry_after),
        "quota resets at the next local midnight: {retry_after}"
    );
    assert_eq!(problem_code(r).await, (429, "QUOTA_EXCEEDED".into()));
}

#[tokio::test]
async fn over_the_rate_is_rate_limited_with_retry_after() {
    let mock = Mock::start().await;
    let l = Limited::new();
    let gw = GatewayBuilder::new(&mock)
        .registry(&l.registry(1.0, 2, None))
        .start()
        .await;
    for _ in 0..2 {
        let r = anonymous()
            .get(gw.url("/api/echo/v1/inspect"))
            .header("x-api-key", &l.key)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
        assert!(r.headers().contains_key("ratelimit"));
    }
    let r = anonymous()
        .get(gw.url("/api/echo/v1/inspect"))
        .header("x-api-key", &l.key)
        .send()
        .await
        .expect("send");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(problem_code(r).await, (429, "RATE_LIMITED".into()));
}

#[tokio::test]
async fn redis_down_policy() {
    let mock = Mock::start().await;
    let l = Limited::new();
    let closed = GatewayBuilder::new(&mock)
        .config("[rate_limits]\nmode = \"redis\"\nredis_url = \"redis://127.0.0.1:1\"\non_redis_failure = \"fail_closed\"")
        .registry(&l.registry(100.0, 10, None))
        .start()
        .await;
    let started = Instant::now();
    let r = anonymous()
        .get(closed.url("/api/echo/v1/inspect"))
        .header("x-api-key", &l.key)
        .send()
        .await
        .expect("send");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an unreachable Redis must not hang the data path"
    );
    assert_eq!(
        problem_code(r).await,
        (429, "RATE_LIMITED".into()),
        "fail closed refuses"
    );
    assert!(
        closed.log().contains("rate_limit_backend_unavailable"),
        "the outage is logged"
    );

    let open = GatewayBuilder::new(&mock)
        .config("[rate_limits]\nmode = \"redis\"\nredis_url = \"redis://127.0.0.1:1\"\non_redis_failure = \"local\"")
        .registry(&l.registry(100.0, 10, None))
        .start()
        .await;
    let r = anonymous()
        .get(open.url("/api/echo/v1/inspect"))
        .header("x-api-key", &l.key)
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "falls back to local limits");
}

#[tokio::test]
async fn bulk_traffic_cannot_starve_essential_services() {
    let mock = Mock::start().await;
    let bulk = format!(
        "[[services]]\nslug = \"bulk\"\nversion = \"v1\"\nname = \"Đồng bộ hàng loạt\"\nowner = \"000.00.00.H29\"\npriority = \"bulk\"\nupstream = {{ url = \"{}/echo/v1\", timeout_ms = 5000 }}\n",
        mock.url()
    );
    let gw = GatewayBuilder::new(&mock)
        .config("[rate_limits]\nmax_in_flight = 4\npublic_rate_per_second = 10000.0\npublic_burst = 10000")
        .registry(&bulk)
        .start()
        .await;
    let mut slow = Vec::new();
    for _ in 0..6 {
        let url = gw.url("/api/bulk/v1/slow/1500");
        slow.push(tokio::spawn(async move {
            harness::http()
                .get(url)
                .send()
                .await
                .expect("send")
                .status()
                .as_u16()
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let id = Mock::known_personal_id();
    let essential = harness::http()
        .get(gw.url(&format!("/api/population/v1/citizens/{id}")))
        .send()
        .await
        .expect("send");
    assert_eq!(
        essential.status(),
        200,
        "the essential population service keeps its reserved capacity"
    );
    let statuses: Vec<u16> = futures_util::future::join_all(slow)
        .await
        .into_iter()
        .map(|r| r.expect("join"))
        .collect();
    assert!(
        statuses.contains(&429),
        "bulk beyond its share is refused: {statuses:?}"
    );
    assert!(
        statuses.contains(&200),
        "bulk within its share passes: {statuses:?}"
    );
}
