//! SIGTERM stops the node gracefully: in-flight exchanges complete, new
//! connections are refused, the process exits cleanly.

mod harness;

use harness::{GatewayBuilder, Mock, http};
use std::time::Duration;

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[limits]\nshutdown_grace_ms = 5000")
        .start()
        .await;
    let url = gw.url("/api/echo/v1/slow/1500");
    let in_flight = tokio::spawn(async move { http().get(url).send().await });
    tokio::time::sleep(Duration::from_millis(400)).await;

    let mut gw = gw;
    gw.terminate();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = reqwest::Client::new()
        .get(gw.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a stopping node accepts no new connection"
    );

    let response = in_flight
        .await
        .expect("join")
        .expect("the in-flight request completes");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.expect("json");
    assert_eq!(body["sleptMs"], 1500);

    let status = gw.wait(Duration::from_secs(10)).await;
    assert!(status.success(), "clean exit after SIGTERM: {status:?}");
    assert!(gw.log().contains("node_stopped"));
}

#[tokio::test]
async fn grace_period_bounds_shutdown() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[limits]\nshutdown_grace_ms = 500")
        .start()
        .await;
    let url = gw.url("/api/echo/v1/slow/2900");
    let _stuck = tokio::spawn(async move { http().get(url).send().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut gw = gw;
    let started = std::time::Instant::now();
    gw.terminate();
    let status = gw.wait(Duration::from_secs(10)).await;
    assert!(status.success());
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "shutdown waited {:?} despite a 500 ms grace",
        started.elapsed()
    );
}
