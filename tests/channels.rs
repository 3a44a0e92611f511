//! Channel monitoring against real processes: the simulators and a gateway
//! probing them every 200 ms, https upstreams served by small rustls servers
//! in the test, the gateway's own short-lived certificate, and the deploy
//! files (Grafana dashboard, Prometheus, compose, collector) checked against
//! a live `/metrics` scrape.

mod harness;

use harness::pki::{Leaf, TestCa as Ca};
use harness::{GatewayBuilder, Mock, SYS_A_KEY, SYS_B_KEY, anonymous, http, problem_code};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The probe interval of every gateway in this file.
const INTERVAL: Duration = Duration::from_millis(200);
/// Room for scheduling on a busy machine on top of one probe interval.
const SLACK: Duration = Duration::from_secs(2);

const MONITORING: &str =
    "[monitoring]\nprobe_interval_ms = 200\nprobe_timeout_ms = 1500\nprobe_slow_ms = 400\n";

/// `GET /admin/v1/health/channels` as `token`.
async fn channels(gw: &harness::Gateway, token: &str) -> Value {
    let r = anonymous()
        .get(gw.admin_url("/admin/v1/health/channels"))
        .bearer_auth(token)
        .send()
        .await
        .expect("channels request");
    assert_eq!(r.status(), 200, "channels answer 200 to {token:.8}…");
    r.json().await.expect("channels JSON")
}

fn channel<'a>(report: &'a Value, key: &str) -> Option<&'a Value> {
    report["channels"]
        .as_array()?
        .iter()
        .find(|c| c["channel"] == key)
}

/// Polls the report until `done` holds for the channel `key`; returns it and how long that took.
async fn wait_for(
    gw: &harness::Gateway,
    token: &str,
    key: &str,
    within: Duration,
    done: impl Fn(&Value) -> bool,
) -> (Value, Duration) {
    let started = Instant::now();
    loop {
        let report = channels(gw, token).await;
        if let Some(c) = channel(&report, key).filter(|c| done(c)) {
            return (c.clone(), started.elapsed());
        }
        assert!(
            started.elapsed() < within,
            "channel {key} did not reach the expected state within {within:?}: {report:#}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn state_is(state: &'static str) -> impl Fn(&Value) -> bool {
    move |c| c["state"] == state
}

/// The admin listener's `/metrics` text (Prometheus format 0.0.4).
async fn scrape(gw: &harness::Gateway) -> String {
    let r = anonymous()
        .get(gw.admin_url("/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200, "/metrics answers");
    r.text().await.expect("metrics text")
}

/// The value of the sample `name` whose labels include every `labels` pair.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?;
        if !(rest.starts_with('{') || rest.starts_with(' ')) {
            return None;
        }
        let (label_text, value) = rest.rsplit_once(' ')?;
        labels
            .iter()
            .all(|(k, v)| label_text.contains(&format!("{k}=\"{v}\"")))
            .then(|| value.parse().ok())?
    })
}

/// A tiny https upstream: answers every request `200 ok` and closes.
struct TlsUpstream {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl TlsUpstream {
    async fn start(leaf: &Leaf) -> TlsUpstream {
        let certs = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("cert pem");
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key pem");
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that refuses the certificate ends the handshake: nothing to answer.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = tls
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        TlsUpstream { addr, task }
    }

    fn origin(&self) -> String {
        format!("https://{}", self.addr)
    }
}

impl Drop for TlsUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path
}

fn service(slug: &str, upstream: &str) -> String {
    format!(
        "[[services]]\nslug = \"{slug}\"\nversion = \"v1\"\nname = \"Kênh {slug}\"\nowner = \"000.00.00.H29\"\nupstream = {{ {upstream} }}\n"
    )
}

#[tokio::test]
async fn a_failing_upstream_shows_in_channel_health_within_one_probe_interval() {
    let mock = Mock::start().await;
    let spare = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config(MONITORING)
        .registry(&service(
            "fixed",
            &format!("url = \"{}/fixed\", health_path = \"/fixed\"", mock.url()),
        ))
        .registry(&service(
            "spare",
            &format!("url = \"{}/spare\"", spare.url()),
        ))
        .start()
        .await;
    let operator = gw.admin_token("operator", "vanhanh", None).await;
    let main = mock.url();
    let other = spare.url();

    // Both origins are probed and up; the simulator's with the declared health path.
    let (c, _) = wait_for(&gw, &operator, &main, SLACK * 3, state_is("up")).await;
    assert_eq!(c["kind"], "upstream");
    assert_eq!(c["probe"], "GET /fixed");
    assert_eq!(
        c["services"],
        serde_json::json!(["echo/v1", "fixed/v1", "population/v1"]),
        "every service routed over the origin is listed"
    );
    assert_eq!(c["consecutive_failures"], 0);
    assert!(c["last_error"].is_null(), "{c}");
    assert!(
        c["last_probe_at"]
            .as_str()
            .is_some_and(|t| t.ends_with("+07:00")),
        "{c}"
    );
    assert!(c["last_latency_ms"].as_f64().is_some(), "{c}");
    let (c, _) = wait_for(&gw, &operator, &other, SLACK, state_is("up")).await;
    assert_eq!(
        c["probe"], "tcp",
        "without a health path the probe only connects"
    );
    let report = channels(&gw, &operator).await;
    assert_eq!(report["probe_interval_ms"], 200);
    assert!(
        report["gateway_certificate"].is_null(),
        "no TLS, no certificate"
    );

    // The upstream resets every connection: down within one interval.
    mock.fault("fixed", serde_json::json!({ "reset_rate": 1.0 }))
        .await;
    let (c, took) = wait_for(&gw, &operator, &main, INTERVAL + SLACK, state_is("down")).await;
    assert!(took <= INTERVAL + SLACK, "down after {took:?}");
    assert!(c["consecutive_failures"].as_u64() >= Some(1), "{c}");
    assert!(
        c["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("HTTP")),
        "{c}"
    );
    let metrics = scrape(&gw).await;
    assert_eq!(
        sample(
            &metrics,
            "lgsp_channel_up",
            &[("channel", &main), ("kind", "upstream")]
        ),
        Some(0.0),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "lgsp_channel_probe_failures_total",
            &[("channel", &main)]
        ) >= Some(1.0),
        "{metrics}"
    );

    // Cleared: it recovers, and the failure count stays.
    mock.clear_faults().await;
    let (c, took) = wait_for(&gw, &operator, &main, INTERVAL + SLACK, state_is("up")).await;
    assert!(took <= INTERVAL + SLACK, "recovered after {took:?}");
    assert_eq!(c["consecutive_failures"], 0);
    assert!(c["failures_total"].as_u64() >= Some(1), "{c}");
    let metrics = scrape(&gw).await;
    assert_eq!(
        sample(&metrics, "lgsp_channel_up", &[("channel", &main)]),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            "lgsp_channel_probe_duration_seconds",
            &[("channel", &main)]
        )
        .is_some_and(|s| s < 1.5),
        "{metrics}"
    );

    // A bad health answer and a slow one degrade the channel without taking it down.
    mock.fault(
        "fixed",
        serde_json::json!({ "error_rate": 1.0, "error_status": 503 }),
    )
    .await;
    let (c, _) = wait_for(
        &gw,
        &operator,
        &main,
        INTERVAL + SLACK,
        state_is("degraded"),
    )
    .await;
    assert_eq!(c["last_error"], "GET /fixed answered 503");
    mock.fault("fixed", serde_json::json!({ "latency_ms": 700 }))
        .await;
    let (c, _) = wait_for(&gw, &operator, &main, SLACK * 2, |c| {
        c["state"] == "degraded"
            && c["last_error"]
                .as_str()
                .is_some_and(|e| e.starts_with("slow"))
    })
    .await;
    assert!(c["last_latency_ms"].as_f64() >= Some(400.0), "{c}");
    let metrics = scrape(&gw).await;
    assert_eq!(
        sample(&metrics, "lgsp_channel_up", &[("channel", &main)]),
        Some(1.0),
        "a degraded channel is still up"
    );
    assert_eq!(
        sample(&metrics, "lgsp_channel_degraded", &[("channel", &main)]),
        Some(1.0),
        "{metrics}"
    );
    mock.clear_faults().await;
    wait_for(&gw, &operator, &main, SLACK * 2, state_is("up")).await;

    // The second origin goes away altogether.
    drop(spare);
    let (c, took) = wait_for(&gw, &operator, &other, INTERVAL + SLACK, state_is("down")).await;
    assert!(took <= INTERVAL + SLACK, "down after {took:?}");
    assert!(
        c["last_error"]
            .as_str()
            .is_some_and(|e| e.starts_with("connect:")),
        "{c}"
    );
    assert_eq!(
        sample(
            &scrape(&gw).await,
            "lgsp_channel_up",
            &[("channel", &other)]
        ),
        Some(0.0)
    );
    let log = gw.log();
    for event in ["channel_down", "channel_recovered", "channel_degraded"] {
        assert!(
            log.contains(&format!("\"event\":\"{event}\"")),
            "{event} logged: {log}"
        );
    }

    // A registry change is followed on the next rounds: a new origin appears.
    let applied = gw
        .apply(&service("unreachable", "url = \"http://127.0.0.1:1/x\""))
        .await;
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    let (c, _) = wait_for(
        &gw,
        &operator,
        "http://127.0.0.1:1",
        SLACK * 3,
        state_is("down"),
    )
    .await;
    assert_eq!(c["services"], serde_json::json!(["unreachable/v1"]));

    // Who may look: operators and province admins; not auditors or commune officers.
    let admin = gw.admin_token("province_admin", "quantri", None).await;
    channels(&gw, &admin).await;
    let auditor = gw.admin_token("auditor", "thanhtra", None).await;
    let officer = gw
        .admin_token("commune_officer", "canbo.xa", Some("000.01.00.H29"))
        .await;
    for token in [&auditor, &officer] {
        let r = anonymous()
            .get(gw.admin_url("/admin/v1/health/channels"))
            .bearer_auth(token)
            .send()
            .await
            .expect("send");
        assert_eq!(problem_code(r).await, (403, "FORBIDDEN".into()));
    }
    let r = anonymous()
        .get(gw.admin_url("/admin/v1/health/channels"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await.0, 401);
    let r = http()
        .get(gw.admin_url("/admin/v1/health/channels"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        problem_code(r).await.0,
        401,
        "a consumer's API key is no admin session"
    );
}

#[tokio::test]
async fn certificates_near_expiry_are_reported_for_the_gateway_and_upstreams() {
    let mock = Mock::start().await;
    let ca = Ca::new("LGSP test CA");
    let stranger = Ca::new("Some other CA");
    let expiring = TlsUpstream::start(&ca.server("upstream.expiring", -1, 3)).await;
    let untrusted = TlsUpstream::start(&stranger.server("upstream.untrusted", -1, 90)).await;
    let expired = TlsUpstream::start(&ca.server("upstream.expired", -10, -1)).await;
    let files = tempfile::tempdir().expect("tempdir");
    let own = ca.server("lgsp.gateway", -1, 5);
    let config = format!(
        "{MONITORING}upstream_ca = {:?}\n\n[tls]\ncert = {:?}\nkey = {:?}\n",
        write(files.path(), "ca.pem", &ca.pem()),
        write(files.path(), "gateway.pem", &own.cert_pem),
        write(files.path(), "gateway.key", &own.key_pem),
    );
    let gw = GatewayBuilder::new(&mock)
        .config(&config)
        .registry(&service(
            "secure",
            &format!(
                "url = \"{}/v1\", health_path = \"/healthz\"",
                expiring.origin()
            ),
        ))
        .registry(&service(
            "untrusted",
            &format!("url = \"{}/v1\"", untrusted.origin()),
        ))
        .registry(&service(
            "expired",
            &format!("url = \"{}/v1\"", expired.origin()),
        ))
        .start()
        .await;
    let operator = gw.admin_token("operator", "vanhanh", None).await;

    // Trusted through monitoring.upstream_ca, answering its health path, three days left.
    let (c, _) = wait_for(
        &gw,
        &operator,
        &expiring.origin(),
        SLACK * 3,
        state_is("up"),
    )
    .await;
    assert_eq!(c["probe"], "GET /healthz");
    let cert = &c["certificate"];
    assert_eq!(cert["state"], "expiring", "{c}");
    // Whole days, truncated; within the certificate's second it is still exactly three.
    assert!(
        matches!(cert["days_remaining"].as_i64(), Some(2 | 3)),
        "{c}"
    );
    assert!(
        cert["subject"]
            .as_str()
            .is_some_and(|s| s.contains("upstream.expiring")),
        "{c}"
    );
    assert!(
        cert["not_after"]
            .as_str()
            .is_some_and(|t| t.ends_with("+07:00")),
        "{c}"
    );

    // A certificate from an unknown CA: the channel is down for it, and its dates are still read.
    let (c, _) = wait_for(&gw, &operator, &untrusted.origin(), SLACK, state_is("down")).await;
    assert_eq!(c["probe"], "tls");
    assert_eq!(c["last_error"], "certificate not trusted (unknown issuer)");
    assert_eq!(c["certificate"]["state"], "valid", "{c}");
    let (c, _) = wait_for(&gw, &operator, &expired.origin(), SLACK, state_is("down")).await;
    assert_eq!(c["last_error"], "certificate expired");
    assert_eq!(c["certificate"]["state"], "expired", "{c}");
    assert_eq!(c["certificate"]["days_remaining"], -1, "{c}");

    // The gateway's own data-listener certificate, five days left.
    let report = channels(&gw, &operator).await;
    let own = &report["gateway_certificate"];
    assert_eq!(own["state"], "expiring", "{report:#}");
    assert!(
        matches!(own["days_remaining"].as_i64(), Some(4 | 5)),
        "{report:#}"
    );
    assert!(
        own["subject"]
            .as_str()
            .is_some_and(|s| s.contains("lgsp.gateway")),
        "{own}"
    );

    let metrics = scrape(&gw).await;
    let seconds = |channel: &str, which: &str| {
        sample(
            &metrics,
            "lgsp_certificate_expiry_seconds",
            &[("channel", channel), ("which", which)],
        )
        .unwrap_or_else(|| panic!("no expiry of {channel}: {metrics}"))
    };
    let day = 86_400.0;
    assert!((4.0 * day..=5.0 * day).contains(&seconds("gateway", "gateway")));
    assert!((2.0 * day..=3.0 * day).contains(&seconds(&expiring.origin(), "upstream")));
    assert!(seconds(&expired.origin(), "upstream") < 0.0);

    let log = gw.log();
    assert!(
        log.lines()
            .any(|l| l.contains("\"event\":\"certificate_expiring\"")
                && l.contains("\"which\":\"gateway\"")),
        "the gateway's own certificate warning is logged: {log}"
    );
    assert!(
        log.lines()
            .any(|l| l.contains("\"event\":\"certificate_expired\"")
                && l.contains(&expired.origin())),
        "{log}"
    );
}

/// Every `lgsp_…` metric name in `text`.
fn names_in(text: &str, names: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(at) = rest.find("lgsp_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_string());
        rest = &tail[end..];
    }
}

/// Every `lgsp_…` metric name used anywhere in `value` (queries, template variables).
fn metric_names(value: &Value, names: &mut BTreeSet<String>) {
    match value {
        Value::String(text) => names_in(text, names),
        Value::Array(items) => items.iter().for_each(|v| metric_names(v, names)),
        Value::Object(map) => map.values().for_each(|v| metric_names(v, names)),
        _ => {}
    }
}

fn deploy(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &str) -> yaml_rust2::Yaml {
    let mut docs = yaml_rust2::YamlLoader::load_from_str(&deploy(path))
        .unwrap_or_else(|e| panic!("{path} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{path} holds one document");
    docs.remove(0)
}

#[tokio::test]
async fn the_dashboard_uses_only_metrics_a_running_gateway_exports() {
    let dashboard: Value =
        serde_json::from_str(&deploy("grafana/lgsp-dashboard.json")).expect("dashboard is JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "a real dashboard");
    let mut ids = BTreeSet::new();
    for panel in panels {
        assert!(
            ids.insert(panel["id"].as_u64().expect("panel id")),
            "panel ids are unique"
        );
    }
    let mut used = BTreeSet::new();
    metric_names(&dashboard, &mut used);
    let alerts = yaml("prometheus-alerts.yml");
    let rules = alerts["groups"][0]["rules"].as_vec().expect("alert rules");
    for rule in rules {
        names_in(rule["expr"].as_str().expect("expr"), &mut used);
    }

    // A gateway with traffic of every kind the dashboard shows.
    let mock = Mock::start().await;
    let ca = Ca::new("LGSP test CA");
    let idp = TlsUpstream::start(&ca.server("idp.example", -1, 60)).await;
    let files = tempfile::tempdir().expect("tempdir");
    let gw = GatewayBuilder::new(&mock)
        .config(&format!(
            "{MONITORING}upstream_ca = {:?}\ntoken_endpoints = [\"{}/oauth2/token\"]\n\n[rate_limits]\npublic_rate_per_second = 1.0\npublic_burst = 2\n",
            write(files.path(), "ca.pem", &ca.pem()),
            idp.origin()
        ))
        .start()
        .await;
    let id = Mock::known_personal_id();
    let citizen = gw.url(&format!("/api/population/v1/citizens/{id}"));
    for _ in 0..3 {
        assert_eq!(
            http().get(&citizen).send().await.expect("send").status(),
            200
        );
    }
    assert_eq!(
        anonymous()
            .get(&citizen)
            .send()
            .await
            .expect("send")
            .status(),
        401
    );
    let mut limited = false;
    for _ in 0..5 {
        let r = anonymous()
            .get(gw.url("/api/echo/v1/inspect"))
            .header("x-api-key", SYS_B_KEY)
            .send()
            .await
            .expect("send");
        limited |= r.status() == 429;
    }
    assert!(limited, "the public plan refuses a burst");
    mock.fault(
        "population",
        serde_json::json!({ "error_rate": 1.0, "error_status": 503 }),
    )
    .await;
    let r = anonymous()
        .get(&citizen)
        .header("x-api-key", SYS_A_KEY)
        .header("x-lgsp-purpose", harness::PURPOSE)
        .header("x-lgsp-user", "canbo.test")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 502);
    let operator = gw.admin_token("operator", "vanhanh", None).await;
    let token_endpoint = format!("{}/oauth2/token", idp.origin());
    let (c, _) = wait_for(&gw, &operator, &token_endpoint, SLACK * 3, state_is("up")).await;
    assert_eq!(c["kind"], "token_endpoint");
    wait_for(&gw, &operator, &mock.url(), SLACK, state_is("up")).await;

    let metrics = scrape(&gw).await;
    let exported: BTreeSet<&str> = metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .collect();
    let missing: Vec<&String> = used
        .iter()
        .filter(|name| !exported.contains(name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the dashboard uses metrics the gateway does not export: {missing:?}\n{metrics}"
    );
    for family in [
        "lgsp_requests_total",
        "lgsp_request_duration_seconds_bucket",
        "lgsp_rate_limit_refusals_total",
        "lgsp_channel_up",
        "lgsp_certificate_expiry_seconds",
        "lgsp_audit_queue_depth_records",
    ] {
        assert!(used.contains(family), "the dashboard shows {family}");
    }
    assert_eq!(
        sample(
            &metrics,
            "lgsp_channel_up",
            &[("channel", &token_endpoint), ("kind", "token_endpoint")]
        ),
        Some(1.0)
    );

    // The rest of deploy/: Prometheus scrapes the admin listener, compose wires the stack.
    let prometheus = yaml("prometheus.yml");
    let job = &prometheus["scrape_configs"][0];
    assert_eq!(job["metrics_path"].as_str(), Some("/metrics"));
    let target = job["static_configs"][0]["targets"][0]
        .as_str()
        .expect("target");
    assert!(target.ends_with(":8081"), "the admin listener: {target}");
    let compose = yaml("compose.yaml");
    for name in ["lgsp", "prometheus", "grafana", "otel-collector"] {
        assert!(
            !compose["services"][name].is_badvalue(),
            "compose runs {name}"
        );
    }
    let environment = &compose["services"]["lgsp"]["environment"];
    assert!(
        environment["OTEL_EXPORTER_OTLP_ENDPOINT"]
            .as_str()
            .is_some_and(|e| e.starts_with("http://otel-collector:")),
        "lgsp exports traces to the collector"
    );
    let collector = yaml("otel-collector.yaml");
    assert!(!collector["receivers"]["otlp"]["protocols"]["http"].is_badvalue());
    assert!(!collector["service"]["pipelines"]["traces"]["receivers"].is_badvalue());
    for provisioning in [
        "grafana/provisioning/datasources/prometheus.yaml",
        "grafana/provisioning/dashboards/lgsp.yaml",
    ] {
        assert!(
            !yaml(provisioning)["apiVersion"].is_badvalue(),
            "{provisioning}"
        );
    }
}
