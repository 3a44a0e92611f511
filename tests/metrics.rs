//! Metrics and service health after scripted traffic, against the real binary:
//! `/metrics` on the admin listener counts exactly what was sent, with bounded
//! labels and no personal ID; `/admin/v1/health/services` counts the same
//! successes and failures and shows a commune officer only its own agency.

mod harness;

use harness::{Gateway, GatewayBuilder, Mock, PURPOSE, anonymous, http, problem_code, token};
use serde_json::{Value, json};

/// A system of another commune, for the commune officer's view.
const SYS_D_KEY: &str = "lgsp_test_key_for_sys_d_0123456789abcdef";
/// A system whose echo plan admits one call, for a rate-limit refusal.
const SYS_RL_KEY: &str = "lgsp_test_key_for_sys_rl_0123456789abcde";
/// The commune of `sys-d`.
const AGENCY_D: &str = "000.02.00.H29";
/// The commune of `sys-a` and `sys-rl` (the base registry's).
const AGENCY_A: &str = "000.01.00.H29";

fn extra_registry() -> String {
    let key = lgsp_gateway::access::secrets::hash_api_key;
    format!(
        r#"
[[agencies]]
code = "{AGENCY_D}"
name = "UBND xã thử nghiệm D"
parent = "000.00.00.H29"

[[systems]]
slug = "sys-d"
agency = "{AGENCY_D}"
name = "Một cửa xã D"
security_level = 3

[[credentials]]
id = "sys-d-key"
system = "sys-d"
kind = "api_key"
key_hash = "{d}"

[[systems]]
slug = "sys-rl"
agency = "{AGENCY_A}"
name = "Hệ thống giới hạn"
security_level = 3

[[credentials]]
id = "sys-rl-key"
system = "sys-rl"
kind = "api_key"
key_hash = "{rl}"

[[subscriptions]]
system = "sys-rl"
service = "echo"
state = "approved"
plan = {{ rate_per_second = 0.01, burst = 1 }}
"#,
        d = key(SYS_D_KEY),
        rl = key(SYS_RL_KEY),
    )
}

/// The value of one series (name and labels exactly as exposed), or a panic naming it.
fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in the scrape:\n{scrape}"))
}

async fn get(url: String, key: &str) -> reqwest::Response {
    anonymous()
        .get(url)
        .header("x-api-key", key)
        .send()
        .await
        .expect("send")
}

/// A gateway over the simulators with the extra systems, and the citizen URL to call.
async fn start() -> (Mock, Gateway, String) {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .registry(&extra_registry())
        .config("[upstream]\nretries = 0")
        .start()
        .await;
    let citizen = gw.url(&format!(
        "/api/population/v1/citizens/{}",
        Mock::known_personal_id()
    ));
    (mock, gw, citizen)
}

/// What both tests send: three answered citizen lookups by `sys-a`, one
/// without credentials (401), one to an unknown service (404) and one echo
/// call whose upstream fails (502).
async fn common_traffic(mock: &Mock, gw: &Gateway, citizen: &str) {
    for _ in 0..3 {
        let r = http().get(citizen).send().await.expect("send");
        assert_eq!(r.status(), 200);
    }
    let r = anonymous().get(citizen).send().await.expect("send");
    assert_eq!(problem_code(r).await, (401, "AUTHEN_ERROR".into()));
    let r = http()
        .get(gw.url("/api/land/v1/parcels/1"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (404, "SERVICE_NOT_FOUND".into()));
    mock.fault("echo", json!({ "fail_next": 1, "error_status": 500 }))
        .await;
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (502, "UPSTREAM_ERROR".into()));
}

#[tokio::test]
async fn scripted_traffic_shows_in_metrics() {
    let (mock, gw, citizen) = start().await;
    let id = Mock::known_personal_id();
    common_traffic(&mock, &gw, &citizen).await;
    let bearer = token(&gw).await;
    for _ in 0..2 {
        let r = anonymous()
            .get(&citizen)
            .bearer_auth(&bearer)
            .header("x-lgsp-purpose", PURPOSE)
            .header("x-lgsp-user", "canbo.test")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
    }
    assert_eq!(
        get(gw.url("/api/echo/v1/inspect"), SYS_RL_KEY)
            .await
            .status(),
        200
    );
    let r = get(gw.url("/api/echo/v1/inspect"), SYS_RL_KEY).await;
    assert_eq!(problem_code(r).await, (429, "RATE_LIMITED".into()));

    // Unauthenticated, like any Prometheus target on a private listener.
    let r = anonymous()
        .get(gw.admin_url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let scrape = r.text().await.expect("text");

    let requests = |service: &str, system: &str, status: u16, code: &str| {
        value(
            &scrape,
            &format!(
                "lgsp_requests_total{{service=\"{service}\",system=\"{system}\",status=\"{status}\",code=\"{code}\"}}"
            ),
        )
    };
    assert_eq!(requests("population/v1", "sys-a", 200, ""), 5.0);
    assert_eq!(requests("-", "-", 404, "SERVICE_NOT_FOUND"), 1.0);
    assert_eq!(requests("echo/v1", "sys-a", 502, "UPSTREAM_ERROR"), 1.0);
    assert_eq!(requests("echo/v1", "sys-rl", 200, ""), 1.0);
    assert_eq!(requests("echo/v1", "sys-rl", 429, "RATE_LIMITED"), 1.0);
    assert_eq!(requests("population/v1", "-", 401, "AUTHEN_ERROR"), 1.0);
    let total: f64 = scrape
        .lines()
        .filter(|l| l.starts_with("lgsp_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 10.0, "every exchange counted once:\n{scrape}");

    let duration = "lgsp_request_duration_seconds";
    let allowed = "{service=\"population/v1\",system=\"sys-a\",outcome=\"allowed\"}";
    assert_eq!(value(&scrape, &format!("{duration}_count{allowed}")), 5.0);
    let inf = "{service=\"population/v1\",system=\"sys-a\",outcome=\"allowed\",le=\"+Inf\"}";
    assert_eq!(value(&scrape, &format!("{duration}_bucket{inf}")), 5.0);
    assert!(value(&scrape, &format!("{duration}_sum{allowed}")) > 0.0);
    assert_eq!(
        value(
            &scrape,
            "lgsp_request_duration_seconds_count{service=\"echo/v1\",system=\"sys-a\",outcome=\"failed\"}"
        ),
        1.0
    );

    assert_eq!(
        value(
            &scrape,
            "lgsp_upstream_duration_seconds_count{service=\"population/v1\"}"
        ),
        5.0
    );
    assert_eq!(
        value(
            &scrape,
            "lgsp_upstream_duration_seconds_count{service=\"echo/v1\"}"
        ),
        2.0
    );
    assert_eq!(
        value(
            &scrape,
            "lgsp_upstream_errors_total{service=\"echo/v1\",kind=\"status\"}"
        ),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            &format!("lgsp_upstream_circuit_state{{upstream=\"{}\"}}", mock.url())
        ),
        0.0
    );
    assert_eq!(
        value(
            &scrape,
            "lgsp_rate_limit_refusals_total{system=\"sys-rl\",service=\"echo/v1\",code=\"RATE_LIMITED\"}"
        ),
        1.0
    );
    // No service of this registry declares `reuse`, so no call looked in the reuse store.
    assert_eq!(
        value(&scrape, "lgsp_reuse_lookups_total{result=\"miss\"}"),
        0.0
    );
    assert_eq!(
        value(&scrape, "lgsp_reuse_lookups_total{result=\"hit\"}"),
        0.0
    );
    assert_eq!(
        value(&scrape, "lgsp_token_cache_lookups_total{result=\"miss\"}"),
        1.0
    );
    assert_eq!(
        value(&scrape, "lgsp_token_cache_lookups_total{result=\"hit\"}"),
        1.0
    );

    // Durable audit: every routed exchange was committed before its answer left.
    assert_eq!(value(&scrape, "lgsp_audit_records_committed_total"), 10.0);
    assert!(value(&scrape, "lgsp_audit_commit_duration_seconds_count") >= 1.0);
    assert_eq!(value(&scrape, "lgsp_audit_queue_depth_records"), 0.0);
    assert_eq!(value(&scrape, "lgsp_audit_queue_capacity_records"), 8192.0);

    let ready: Value = anonymous()
        .get(gw.admin_url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(
        value(&scrape, "lgsp_snapshot_version"),
        ready["snapshotVersion"].as_f64().expect("version")
    );
    assert!(value(&scrape, "lgsp_snapshot_reload_duration_seconds_count") >= 1.0);
    assert_eq!(
        value(
            &scrape,
            &format!(
                "lgsp_build_info{{version=\"{}\"}}",
                env!("CARGO_PKG_VERSION")
            )
        ),
        1.0
    );
    assert_eq!(value(&scrape, "lgsp_maintenance_enabled"), 0.0);

    assert!(!scrape.contains(&id), "a personal ID leaked into /metrics");
    assert!(
        !scrape.contains("/citizens/"),
        "request paths never become labels"
    );

    // A scraper asking for OpenMetrics gets it, terminated as the format requires.
    let r = anonymous()
        .get(gw.admin_url("/metrics"))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .expect("scrape");
    assert_eq!(
        r.headers()["content-type"],
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let open = r.text().await.expect("text");
    assert!(open.ends_with("# EOF\n"));
    assert!(open.contains(
        "lgsp_requests_total{service=\"population/v1\",system=\"sys-a\",status=\"200\",code=\"\"} 5"
    ));

    // The data plane does not serve metrics.
    let r = http().get(gw.url("/metrics")).send().await.expect("send");
    assert_eq!(problem_code(r).await, (404, "SERVICE_NOT_FOUND".into()));
}

/// The entry of `service` in a health report.
fn service<'a>(report: &'a Value, service: &str) -> Option<&'a Value> {
    report["services"]
        .as_array()
        .expect("services")
        .iter()
        .find(|s| s["service"] == service)
}

/// Durations and sizes that are possible: min ≤ mean ≤ max, min ≤ p95 ≤ max.
fn assert_sane(stats: &Value) {
    let d = &stats["duration_ms"];
    let f = |k: &str| d[k].as_f64().unwrap_or_else(|| panic!("{k} in {stats}"));
    assert!(f("min") > 0.0, "{stats}");
    assert!(f("min") <= f("mean") && f("mean") <= f("max"), "{stats}");
    assert!(f("min") <= f("p95") && f("p95") <= f("max"), "{stats}");
    for sizes in ["request_bytes", "response_bytes"] {
        let s = &stats[sizes];
        let n = |k: &str| {
            s[k].as_u64()
                .unwrap_or_else(|| panic!("{sizes}.{k} in {stats}"))
        };
        assert!(n("min") <= n("mean") && n("mean") <= n("max"), "{stats}");
        assert!(n("max") <= n("total"), "{stats}");
    }
}

#[tokio::test]
async fn service_health_matches_scripted_traffic_and_is_scoped() {
    let (mock, gw, citizen) = start().await;
    // The unknown service of the common traffic is no service: it has no health entry.
    common_traffic(&mock, &gw, &citizen).await;
    for _ in 0..2 {
        let r = anonymous()
            .post(gw.url("/api/echo/v1/inspect"))
            .header("x-api-key", SYS_D_KEY)
            .body("{\"a\":1}")
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
    }

    let operator = gw.admin_token("operator", "vanhanh", None).await;
    let health = |token: String| {
        let url = gw.admin_url("/admin/v1/health/services");
        async move {
            let r = anonymous()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("health");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("json"))
        }
    };
    let (status, all) = health(operator).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["window_secs"], 600.0);
    assert_eq!(all["services"].as_array().map(Vec::len), Some(2), "{all}");

    let population = service(&all, "population/v1").expect("population");
    assert_eq!(
        (
            &population["successes"],
            &population["failures"],
            &population["refused"],
            &population["failed"]
        ),
        (&json!(3), &json!(1), &json!(1), &json!(0)),
        "{population}"
    );
    assert_sane(population);
    assert_eq!(population["request_bytes"]["total"], 0, "GETs have no body");
    assert!(population["response_bytes"]["min"].as_u64() > Some(0));
    let systems: Vec<&str> = population["systems"]
        .as_array()
        .expect("systems")
        .iter()
        .map(|s| s["system"].as_str().expect("slug"))
        .collect();
    assert_eq!(systems, ["-", "sys-a"]);

    let echo = service(&all, "echo/v1").expect("echo");
    assert_eq!(
        (&echo["successes"], &echo["failures"], &echo["failed"]),
        (&json!(2), &json!(1), &json!(1)),
        "{echo}"
    );
    assert_sane(echo);
    assert_eq!(echo["request_bytes"]["max"], 7, "{echo}");
    assert_eq!(echo["request_bytes"]["total"], 14, "{echo}");

    // A commune officer sees only its own agency's systems.
    let officer_d = gw
        .admin_token("commune_officer", "canbo.xa.d", Some(AGENCY_D))
        .await;
    let (status, mine) = health(officer_d).await;
    assert_eq!(status, 200, "{mine}");
    assert!(service(&mine, "population/v1").is_none(), "{mine}");
    let echo = service(&mine, "echo/v1").expect("own echo calls");
    assert_eq!(
        (&echo["successes"], &echo["failures"]),
        (&json!(2), &json!(0)),
        "{echo}"
    );
    assert_eq!(echo["systems"].as_array().map(Vec::len), Some(1));
    assert_eq!(echo["systems"][0]["system"], "sys-d");

    let officer_a = gw
        .admin_token("commune_officer", "canbo.xa.a", Some(AGENCY_A))
        .await;
    let (_, mine) = health(officer_a).await;
    let population = service(&mine, "population/v1").expect("population");
    assert_eq!(
        (&population["successes"], &population["failures"]),
        (&json!(3), &json!(0)),
        "the unauthenticated caller is nobody's system: {population}"
    );
    let echo = service(&mine, "echo/v1").expect("echo");
    assert_eq!(
        (&echo["successes"], &echo["failed"]),
        (&json!(0), &json!(1))
    );

    let auditor = gw.admin_token("auditor", "thanhtra", None).await;
    let r = anonymous()
        .get(gw.admin_url("/admin/v1/health/services"))
        .bearer_auth(auditor)
        .send()
        .await
        .expect("health");
    assert_eq!(problem_code(r).await, (403, "FORBIDDEN".into()));
    let r = anonymous()
        .get(gw.admin_url("/admin/v1/health/services"))
        .send()
        .await
        .expect("health");
    assert_eq!(r.status(), 401);
}
