//! Cluster rate limits against the real Redis on 127.0.0.1:6379: two limiter
//! "nodes" share one GCRA and one daily quota exactly, and an unreachable
//! Redis is handled by the configured policy, quickly.
//!
//! Fails loudly when Redis is not running (set `LGSP_SKIP_REDIS=1` to skip).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lgsp_gateway::limits::{
    LimitKey, LimitMode, LimiterOptions, RateLimiter, RedisFailure, Refusal,
};
use lgsp_gateway::registry::model::Plan;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const REDIS_ADDR: &str = "127.0.0.1:6379";
const REDIS_URL: &str = "redis://127.0.0.1:6379";
/// Nothing listens on port 1, so connections are refused at once.
const DEAD_REDIS_URL: &str = "redis://127.0.0.1:1";

/// Whether Redis answers PING; panics with instructions when it does not,
/// unless the run opted out with `LGSP_SKIP_REDIS=1`.
async fn redis_available() -> bool {
    let ping = async {
        let mut stream = tokio::net::TcpStream::connect(REDIS_ADDR).await?;
        stream.write_all(b"PING\r\n").await?;
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).await?;
        Ok::<_, std::io::Error>(reply == *b"+PONG\r\n")
    };
    let up = matches!(
        tokio::time::timeout(Duration::from_secs(2), ping).await,
        Ok(Ok(true))
    );
    if up {
        return true;
    }
    if std::env::var("LGSP_SKIP_REDIS").as_deref() == Ok("1") {
        eprintln!("skipped: Redis is not reachable on {REDIS_ADDR} and LGSP_SKIP_REDIS=1");
        return false;
    }
    panic!(
        "Redis is not reachable on {REDIS_ADDR}. Start it with:\n  \
         redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no\n\
         or set LGSP_SKIP_REDIS=1 to skip these tests."
    );
}

/// A key namespace unique to this test and run, so parallel runs never share counters.
fn namespace(test: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("test-{test}-{}-{nanos}:", std::process::id())
}

/// A limiter "node" in Redis mode with the production defaults.
async fn node(url: &str, on_failure: RedisFailure, namespace: &str) -> RateLimiter {
    node_with(url, on_failure, namespace, LimiterOptions::default()).await
}

/// A limiter "node" in Redis mode with `options` and its own namespace.
async fn node_with(
    url: &str,
    on_failure: RedisFailure,
    namespace: &str,
    options: LimiterOptions,
) -> RateLimiter {
    let mode = LimitMode::Redis {
        url: url.to_owned(),
        on_failure,
    };
    let options = LimiterOptions {
        key_namespace: namespace.to_owned(),
        ..options
    };
    RateLimiter::with_options(mode, options)
        .await
        .expect("limiter set up")
}

/// Options for the exactness tests: a generous call timeout, because on a
/// loaded two-core CI machine a 50 ms bound can expire while Redis did
/// admit the call, which would make the count wrong for reasons that are not
/// the limiter's.
fn patient() -> LimiterOptions {
    LimiterOptions {
        redis_call_timeout: Duration::from_secs(1),
        ..LimiterOptions::default()
    }
}

const KEY: LimitKey<'static> = LimitKey {
    system: "motcua-xa-my-hiep",
    service: "dan-cu",
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_rate_exactly() {
    if !redis_available().await {
        return;
    }
    let namespace = namespace("rate");
    let nodes = [
        Arc::new(node_with(REDIS_URL, RedisFailure::FailClosed, &namespace, patient()).await),
        Arc::new(node_with(REDIS_URL, RedisFailure::FailClosed, &namespace, patient()).await),
    ];
    let plan = Plan {
        rate_per_second: 50.0,
        burst: 5,
        daily_quota: None,
    };
    let run = Duration::from_secs(3);
    let admitted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + run;
    let workers: Vec<_> = (0..8)
        .map(|n| {
            let node = Arc::clone(&nodes[n % 2]);
            let (admitted, refused) = (Arc::clone(&admitted), Arc::clone(&refused));
            tokio::spawn(async move {
                while Instant::now() < deadline {
                    match node.check(KEY, &plan).await {
                        Ok(_) => admitted.fetch_add(1, Ordering::Relaxed),
                        Err(Refusal::Rate { .. }) => refused.fetch_add(1, Ordering::Relaxed),
                        Err(other) => panic!("unexpected refusal {other:?}"),
                    };
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await.expect("worker finished");
    }
    let admitted = admitted.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);
    let expected = 50 * 3 + 5;
    let tolerance = (expected / 100).max(2);
    println!(
        "two nodes, 50/s burst 5, 3 s: admitted {admitted} (expected {expected} ± {tolerance}), \
         refused {refused}, backend failures {}",
        nodes[0].backend_failures() + nodes[1].backend_failures()
    );
    assert!(
        refused > admitted,
        "the nodes were not hammered hard enough to test the limit"
    );
    assert!(
        admitted.abs_diff(expected) <= tolerance,
        "admitted {admitted}, expected {expected} ± {tolerance}"
    );
    assert_eq!(nodes[0].backend_failures() + nodes[1].backend_failures(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_and_retry_after_come_from_redis() {
    if !redis_available().await {
        return;
    }
    let limiter = node(REDIS_URL, RedisFailure::FailClosed, &namespace("burst")).await;
    assert_eq!(limiter.mode_name(), "redis");
    // One call per 10 s, so nothing refills during the test.
    let plan = Plan {
        rate_per_second: 0.1,
        burst: 3,
        daily_quota: None,
    };
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let admitted = limiter.check(KEY, &plan).await.expect("within burst");
        assert_eq!(admitted.limit, 3);
        assert_eq!(admitted.window, Duration::from_secs(30));
        remaining.push(admitted.remaining);
    }
    assert_eq!(remaining, [2, 1, 0]);
    match limiter.check(KEY, &plan).await {
        Err(Refusal::Rate { retry_after }) => {
            assert!(retry_after > Duration::from_secs(9), "{retry_after:?}");
            assert!(retry_after <= Duration::from_secs(10), "{retry_after:?}");
        }
        other => panic!("expected a rate refusal, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_one_daily_quota_exactly() {
    if !redis_available().await {
        return;
    }
    let namespace = namespace("quota");
    let nodes = [
        Arc::new(node_with(REDIS_URL, RedisFailure::FailClosed, &namespace, patient()).await),
        Arc::new(node_with(REDIS_URL, RedisFailure::FailClosed, &namespace, patient()).await),
    ];
    let plan = Plan {
        rate_per_second: 10_000.0,
        burst: 10_000,
        daily_quota: Some(37),
    };
    let calls: Vec<_> = (0..200)
        .map(|n| {
            let node = Arc::clone(&nodes[n % 2]);
            tokio::spawn(async move { node.check(KEY, &plan).await })
        })
        .collect();
    let mut admitted = 0;
    let mut quota_waits = Vec::new();
    for call in calls {
        match call.await.expect("call finished") {
            Ok(_) => admitted += 1,
            Err(Refusal::Quota { retry_after }) => quota_waits.push(retry_after),
            Err(other) => panic!("unexpected refusal {other:?}"),
        }
    }
    println!(
        "two nodes, quota 37/day, 200 calls: admitted {admitted}, quota refusals {}",
        quota_waits.len()
    );
    assert_eq!(admitted, 37);
    assert_eq!(quota_waits.len(), 163);
    let until_midnight = until_local_midnight();
    for wait in quota_waits {
        assert!(
            wait.abs_diff(until_midnight) < Duration::from_secs(5),
            "quota retry_after {wait:?}, local midnight in {until_midnight:?}"
        );
    }
}

/// Time until the next midnight in Asia/Ho_Chi_Minh (UTC+7), by this machine's clock.
fn until_local_midnight() -> Duration {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        + Duration::from_secs(7 * 3600);
    let day = Duration::from_secs(86_400);
    let into_day = Duration::from_nanos((now.as_nanos() % day.as_nanos()) as u64);
    day - into_day
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_fails_closed_quickly() {
    let started = Instant::now();
    let limiter = node(
        DEAD_REDIS_URL,
        RedisFailure::FailClosed,
        &namespace("closed"),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a dead Redis held up start-up for {:?}",
        started.elapsed()
    );
    let plan = Plan {
        rate_per_second: 100.0,
        burst: 10,
        daily_quota: None,
    };
    // Beyond the first cool-down too, so the probe path is measured as well.
    for _ in 0..20 {
        let call = Instant::now();
        let refusal = limiter.check(KEY, &plan).await;
        let took = call.elapsed();
        assert_eq!(refusal, Err(Refusal::Unavailable));
        assert!(took < Duration::from_millis(200), "refusal took {took:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(limiter.fallbacks(), 0);
    assert_eq!(limiter.backend_failures(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_redis_falls_back_to_local_limits() {
    let limiter = node(DEAD_REDIS_URL, RedisFailure::Local, &namespace("fallback")).await;
    let plan = Plan {
        rate_per_second: 0.1,
        burst: 3,
        daily_quota: None,
    };
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let call = Instant::now();
        outcomes.push(limiter.check(KEY, &plan).await.is_ok());
        assert!(call.elapsed() < Duration::from_millis(200));
    }
    assert_eq!(outcomes, [true, true, true, false, false]);
    assert_eq!(limiter.fallbacks(), 5);
    assert_eq!(limiter.mode_name(), "redis");
}

/// A private `redis-server` on `port`, killed when dropped.
struct PrivateRedis(tokio::process::Child);

impl PrivateRedis {
    /// Starts the server and waits until it answers.
    async fn start(port: u16) -> PrivateRedis {
        let child = tokio::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server on PATH (apt-get install redis-server)");
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return PrivateRedis(child);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("private redis-server on port {port} did not start");
    }

    /// Kills the server and waits until it is gone.
    async fn stop(mut self) {
        self.0.kill().await.expect("redis-server killed");
    }
}

/// A port nobody listens on right now.
async fn free_port() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("ephemeral port");
    listener.local_addr().expect("bound address").port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_then_recovers() {
    if !redis_available().await {
        return;
    }
    let port = free_port().await;
    let server = PrivateRedis::start(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let limiter = node(&url, RedisFailure::Local, &namespace("outage")).await;
    let plan = Plan {
        rate_per_second: 1000.0,
        burst: 1000,
        daily_quota: None,
    };
    assert!(limiter.check(KEY, &plan).await.is_ok());
    assert_eq!(limiter.fallbacks(), 0, "served by Redis while it is up");

    server.stop().await;
    for _ in 0..10 {
        let call = Instant::now();
        assert!(
            limiter.check(KEY, &plan).await.is_ok(),
            "local fallback admits"
        );
        assert!(call.elapsed() < Duration::from_millis(200));
    }
    assert_eq!(
        limiter.fallbacks(),
        10,
        "every call during the outage fell back"
    );

    let _server = PrivateRedis::start(port).await;
    let recovered_by = Instant::now() + Duration::from_secs(5);
    loop {
        let before = limiter.fallbacks();
        assert!(limiter.check(KEY, &plan).await.is_ok());
        if limiter.fallbacks() == before {
            break;
        }
        assert!(
            Instant::now() < recovered_by,
            "still falling back 5 s after Redis returned"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    println!(
        "outage: {} fallbacks, {} backend failures, then Redis again",
        limiter.fallbacks(),
        limiter.backend_failures()
    );
}
