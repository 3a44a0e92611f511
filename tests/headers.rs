//! What the upstream receives: hop-by-hop headers stripped, the consumer's
//! gateway credentials removed, forwarding and tracing headers added.

mod harness;

use harness::{GatewayBuilder, Mock, http};
use serde_json::Value;

#[tokio::test]
async fn upstream_sees_clean_forwarded_headers() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let r = http()
        .get(gw.url("/api/echo/v1/inspect/deep/path?q=1&r=ă"))
        .header("connection", "x-hop")
        .header("x-hop", "1")
        .header("te", "trailers")
        .header(
            "authorization",
            format!("Bearer {}", harness::token(&gw).await),
        )
        .header("x-request-id", "req-abc-1")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .header("x-lgsp-purpose", "1.001612")
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-request-id"], "req-abc-1");
    let seen: Value = r.json().await.expect("json");
    let h = &seen["headers"];
    assert_eq!(seen["path"], "/echo/v1/inspect/deep/path");
    assert!(
        seen["query"]
            .as_str()
            .is_some_and(|q| q.starts_with("q=1&r=")),
        "{seen}"
    );
    for gone in ["x-hop", "te", "authorization", "x-api-key"] {
        assert!(h.get(gone).is_none(), "{gone} reached the upstream: {h}");
    }
    assert_eq!(h["x-request-id"], "req-abc-1");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert!(
        h["forwarded"]
            .as_str()
            .is_some_and(|f| f.starts_with("for=127.0.0.1;proto=http")),
        "{h}"
    );
    let tp = h["traceparent"].as_str().expect("traceparent");
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );
    assert!(
        !tp.contains("00f067aa0ba902b7"),
        "the gateway is its own hop: {tp}"
    );
    assert_eq!(
        h["x-lgsp-purpose"], "1.001612",
        "consumer context passes through"
    );
}

#[tokio::test]
async fn request_id_is_generated_when_absent_or_hostile() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .header("x-request-id", "bad id\"")
        .send()
        .await
        .expect("send");
    let rid = r.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert_ne!(rid, "bad id\"");
    let seen: Value = r.json().await.expect("json");
    assert_eq!(
        seen["headers"]["x-request-id"],
        rid.as_str(),
        "the same id reaches the upstream"
    );
    assert!(
        seen["headers"]["traceparent"]
            .as_str()
            .is_some_and(|t| t.len() == 55)
    );
}
