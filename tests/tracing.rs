//! Traces and structured logs: the gateway exports one span tree per exchange
//! over OTLP/HTTP to a receiver started here, continues the caller's W3C trace,
//! makes the upstream's work a child of its upstream-call span, flushes on
//! graceful shutdown, honours the sampler, and never lets a personal ID into a
//! span or a log line.

mod harness;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use harness::{Gateway, GatewayBuilder, Mock, http};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A minimal OTLP/HTTP receiver: `POST /v1/traces` with `http/json` bodies.
struct Receiver {
    addr: SocketAddr,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let bodies: Arc<Mutex<Vec<Value>>> = Arc::default();
        async fn traces(State(bodies): State<Arc<Mutex<Vec<Value>>>>, body: Bytes) -> String {
            let parsed: Value = serde_json::from_slice(&body).expect("OTLP body is JSON");
            bodies.lock().expect("lock").push(parsed);
            "{}".into()
        }
        let app = Router::new()
            .route("/v1/traces", post(traces))
            .with_state(bodies.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { addr, bodies }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every exported span, flattened out of the resource and scope envelopes.
    fn spans(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|b| b["resourceSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Everything received, as text, to scan for what must never be there.
    fn text(&self) -> String {
        serde_json::to_string(&*self.bodies.lock().expect("lock")).expect("json")
    }

    fn service_names(&self) -> Vec<String> {
        self.bodies
            .lock()
            .expect("lock")
            .iter()
            .flat_map(|b| b["resourceSpans"].as_array().cloned().unwrap_or_default())
            .filter_map(|r| attr(&r["resource"], "service.name"))
            .collect()
    }
}

/// A span's (or resource's) attribute as text, whatever its OTLP value type.
fn attr(span: &Value, key: &str) -> Option<String> {
    let value = span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?["value"]
        .as_object()?
        .values()
        .next()?
        .clone();
    Some(match value {
        Value::String(s) => s,
        other => other.to_string(),
    })
}

fn str_of<'a>(span: &'a Value, key: &str) -> &'a str {
    span[key].as_str().unwrap_or_default()
}

const STAGES: [&str; 10] = [
    "accept",
    "route",
    "authenticate",
    "authorize",
    "limit",
    "reuse",
    "invoke",
    "minimize",
    "respond",
    "record",
];

/// Starts a gateway exporting to `receiver` with JSON logs and the given extra variables.
async fn traced_gateway(mock: &Mock, receiver: &Receiver, env: &[(&str, &str)]) -> Gateway {
    let mut builder = GatewayBuilder::new(mock)
        .config("[log]\nformat = \"json\"")
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint())
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    for (k, v) in env {
        builder = builder.env(k, v);
    }
    builder.start().await
}

/// Calls the echo service's inspection route; returns the request id and the
/// headers the upstream received.
async fn inspect(gw: &Gateway, headers: &[(&str, &str)]) -> (String, Value) {
    let mut request = http().get(gw.url("/api/echo/v1/inspect"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().await.expect("send");
    assert_eq!(r.status(), 200);
    let request_id = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    let seen: Value = r.json().await.expect("json");
    (request_id, seen["headers"].clone())
}

/// The `traceparent` the upstream received, split into its four fields.
fn traceparent_of(seen: &Value) -> Vec<String> {
    seen["traceparent"]
        .as_str()
        .expect("the upstream got a traceparent")
        .split('-')
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn one_span_tree_per_exchange_continues_the_callers_trace() {
    let mock = Mock::start().await;
    let receiver = Receiver::start().await;
    // Export only at shutdown: this also proves the flush on SIGTERM.
    let mut gw = traced_gateway(
        &mock,
        &receiver,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "600000"),
            ("OTEL_SERVICE_NAME", "lgsp-test-node"),
        ],
    )
    .await;

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let (request_id, seen) = inspect(
        &gw,
        &[
            ("traceparent", &format!("00-{trace_id}-{caller_span}-01")),
            ("tracestate", "congo=t61rcWkgMzE"),
        ],
    )
    .await;
    let upstream_traceparent = traceparent_of(&seen);
    assert_eq!(seen["tracestate"], "congo=t61rcWkgMzE");

    // A personal-data call: its ID is in the path and must appear nowhere.
    let personal_id = Mock::known_personal_id();
    let personal_trace = "0af7651916cd43dd8448eb211c80319c";
    let r = http()
        .get(gw.url(&format!("/api/population/v1/citizens/{personal_id}")))
        .header(
            "traceparent",
            format!("00-{personal_trace}-b7ad6b7169203331-01"),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());

    assert!(
        receiver.spans().is_empty(),
        "nothing is exported before the schedule delay or shutdown"
    );
    gw.terminate();
    assert!(gw.wait(Duration::from_secs(30)).await.success());

    let spans = receiver.spans();
    let in_trace: Vec<&Value> = spans
        .iter()
        .filter(|s| str_of(s, "traceId") == trace_id)
        .collect();
    let by_id: HashMap<&str, &Value> = in_trace.iter().map(|s| (str_of(s, "spanId"), *s)).collect();
    let named = |name: &str| -> &Value {
        let matching: Vec<&&Value> = in_trace.iter().filter(|s| s["name"] == name).collect();
        assert_eq!(matching.len(), 1, "one {name} span in {in_trace:#?}");
        matching[0]
    };

    let exchange = named("exchange");
    assert_eq!(
        str_of(exchange, "parentSpanId"),
        caller_span,
        "the exchange continues the caller's span"
    );
    let exchange_id = str_of(exchange, "spanId");
    assert_eq!(
        attr(exchange, "request_id").as_deref(),
        Some(request_id.as_str())
    );
    assert_eq!(attr(exchange, "trace_id").as_deref(), Some(trace_id));
    assert_eq!(attr(exchange, "route").as_deref(), Some("echo/v1"));
    assert_eq!(attr(exchange, "system").as_deref(), Some("sys-a"));
    assert_eq!(attr(exchange, "purpose").as_deref(), Some(harness::PURPOSE));
    assert_eq!(
        attr(exchange, "http.response.status_code").as_deref(),
        Some("200")
    );
    for stage in STAGES {
        assert_eq!(
            str_of(named(stage), "parentSpanId"),
            exchange_id,
            "{stage} is a child of the exchange"
        );
    }
    let upstream = named("upstream");
    assert_eq!(
        str_of(upstream, "parentSpanId"),
        str_of(named("invoke"), "spanId"),
        "the upstream call is a child of the invoke stage"
    );
    assert_eq!(attr(upstream, "route").as_deref(), Some("echo/v1"));
    assert_eq!(
        attr(upstream, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        upstream_traceparent,
        ["00", trace_id, str_of(upstream, "spanId"), "01"],
        "the upstream's parent is the exported upstream-call span"
    );
    for span in &in_trace {
        if span["name"] != "exchange" {
            assert!(
                by_id.contains_key(str_of(span, "parentSpanId")),
                "{} hangs off the tree",
                span["name"]
            );
        }
    }

    let personal: Vec<&Value> = spans
        .iter()
        .filter(|s| str_of(s, "traceId") == personal_trace)
        .collect();
    let exchange = personal
        .iter()
        .find(|s| s["name"] == "exchange")
        .expect("the personal-data exchange was exported");
    assert_eq!(attr(exchange, "route").as_deref(), Some("population/v1"));
    assert_eq!(
        attr(exchange, "operation").as_deref(),
        Some("/citizens/{soDinhDanh}")
    );
    assert!(personal.iter().any(|s| s["name"] == "upstream"));
    assert!(
        !receiver.text().contains(&personal_id),
        "a personal ID reached the collector"
    );
    assert!(
        receiver
            .service_names()
            .iter()
            .all(|n| n == "lgsp-test-node"),
        "{:?}",
        receiver.service_names()
    );

    // The JSON log: every line parses, exchange lines carry both ids, and the
    // trace id agrees with the exported spans.
    let log = gw.log();
    assert!(!log.contains(&personal_id), "a personal ID reached the log");
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?} is not JSON: {e}")))
        .collect();
    let finished: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "exchange_finished")
        .collect();
    assert_eq!(finished.len(), 2, "{log}");
    for line in &finished {
        assert!(line["request_id"].is_string(), "{line}");
        assert!(line["trace_id"].is_string(), "{line}");
        assert_eq!(
            line["span"]["request_id"], line["request_id"],
            "the exchange span names the line: {line}"
        );
    }
    assert_eq!(finished[0]["request_id"], request_id.as_str());
    assert_eq!(finished[0]["trace_id"], trace_id);
    assert_eq!(finished[1]["trace_id"], personal_trace);
}

#[tokio::test]
async fn a_new_trace_gets_one_id_everywhere_and_ratio_zero_exports_nothing() {
    let mock = Mock::start().await;

    // Sampled: a request with no traceparent starts a trace whose id is the
    // same in the log, the upstream's traceparent and the exported spans.
    let receiver = Receiver::start().await;
    let gw = traced_gateway(&mock, &receiver, &[("OTEL_BSP_SCHEDULE_DELAY", "50")]).await;
    let parts = traceparent_of(&inspect(&gw, &[]).await.1);
    assert_eq!(parts[3], "01", "sampled: {parts:?}");
    let mut upstream = None;
    for _ in 0..200 {
        upstream = receiver
            .spans()
            .into_iter()
            .find(|s| s["name"] == "upstream");
        if upstream.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let upstream = upstream.expect("the upstream span was exported within 10 s");
    assert_eq!(str_of(&upstream, "traceId"), parts[1]);
    assert_eq!(str_of(&upstream, "spanId"), parts[2]);
    let log = gw.log();
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["event"] == "exchange_finished")
        .expect("exchange_finished logged");
    assert_eq!(line["trace_id"], parts[1], "log and trace agree");

    // Ratio 0: the request still succeeds, and nothing is exported.
    let silent = Receiver::start().await;
    let mut gw = traced_gateway(
        &mock,
        &silent,
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
            ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "0"),
        ],
    )
    .await;
    for _ in 0..5 {
        let parts = traceparent_of(&inspect(&gw, &[]).await.1);
        assert_eq!(parts[3], "00", "not sampled: {parts:?}");
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    gw.terminate();
    assert!(gw.wait(Duration::from_secs(30)).await.success());
    assert!(
        silent.spans().is_empty(),
        "ratio 0 exported {:#?}",
        silent.spans()
    );
}

#[tokio::test]
async fn an_unusable_exporter_setting_stops_the_node_naming_the_variable() {
    let dir = tempfile::tempdir().expect("dir");
    let output = harness::lgsp()
        .args(["serve"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
        .env("LGSP_DATA_DIR", dir.path())
        .output()
        .await
        .expect("run lgsp serve");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("OTEL_EXPORTER_OTLP_PROTOCOL"), "{stderr}");
}
