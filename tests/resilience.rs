//! Retries only for idempotent calls, and the circuit breaker's whole cycle.

mod harness;

use harness::{GatewayBuilder, Mock, http, problem_code};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn retries_only_idempotent_methods() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[upstream]\nretries = 2\nbreaker_failures = 50")
        .start()
        .await;

    mock.reset_stats().await;
    mock.fault("echo", json!({ "fail_next": 2, "error_status": 503 }))
        .await;
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200, "GET succeeds on the third attempt");
    assert_eq!(mock.hits("echo").await, 3);

    mock.reset_stats().await;
    mock.fault("echo", json!({ "fail_next": 2, "error_status": 503 }))
        .await;
    let r = http()
        .put(gw.url("/api/echo/v1/inspect"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        200,
        "PUT with a small body is idempotent and retried"
    );
    assert_eq!(mock.hits("echo").await, 3);

    mock.reset_stats().await;
    mock.fault("echo", json!({ "fail_next": 2, "error_status": 503 }))
        .await;
    let r = http()
        .post(gw.url("/api/echo/v1/inspect"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (502, "UPSTREAM_ERROR".into()));
    assert_eq!(mock.hits("echo").await, 1, "POST is never repeated");

    mock.reset_stats().await;
    mock.fault("echo", json!({ "reset_next": 1 })).await;
    let r = http()
        .post(gw.url("/api/echo/v1/inspect"))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(
        problem_code(r).await,
        (502, "UPSTREAM_ERROR".into()),
        "a reset POST is not retried"
    );
    mock.fault("echo", json!({ "reset_next": 1 })).await;
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        200,
        "a reset GET is retried on a new connection"
    );
}

#[tokio::test]
async fn circuit_opens_after_repeated_failures_and_recovers() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[upstream]\nretries = 0\nbreaker_failures = 3\nbreaker_open_ms = 800")
        .start()
        .await;
    mock.fault("echo", json!({ "error_rate": 1.0, "error_status": 503 }))
        .await;
    mock.reset_stats().await;
    for _ in 0..3 {
        let r = http()
            .get(gw.url("/api/echo/v1/inspect"))
            .send()
            .await
            .expect("send");
        assert_eq!(problem_code(r).await, (502, "UPSTREAM_ERROR".into()));
    }
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(problem_code(r).await, (503, "UPSTREAM_UNAVAILABLE".into()));
    assert_eq!(
        mock.hits("echo").await,
        3,
        "an open circuit makes no upstream call"
    );

    // Recovery: after the open period one probe goes through.
    mock.clear_faults().await;
    tokio::time::sleep(Duration::from_millis(900)).await;
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(
        r.status(),
        200,
        "the half-open probe succeeds and closes the circuit"
    );
    for _ in 0..5 {
        let r = http()
            .get(gw.url("/api/echo/v1/inspect"))
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test]
async fn failed_probe_keeps_the_circuit_open() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[upstream]\nretries = 0\nbreaker_failures = 2\nbreaker_open_ms = 500")
        .start()
        .await;
    mock.fault("echo", json!({ "error_rate": 1.0, "error_status": 500 }))
        .await;
    for _ in 0..2 {
        http()
            .get(gw.url("/api/echo/v1/inspect"))
            .send()
            .await
            .expect("send");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    mock.reset_stats().await;
    let probe = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(probe).await, (502, "UPSTREAM_ERROR".into()));
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (503, "UPSTREAM_UNAVAILABLE".into()));
    assert_eq!(
        mock.hits("echo").await,
        1,
        "only the probe reached the upstream"
    );
}
