//! The token source against the simulated NDXP token endpoint over real HTTP
//! on loopback: single flight, refresh before expiry, invalidation and faults.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;
use crate::simulators::{NdxpTokenSettings, Simulator, SimulatorOptions};

/// A simulator served on an ephemeral loopback port.
struct Running {
    addr: SocketAddr,
    client: TokenClient,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    async fn start(lifetime: Duration) -> Running {
        let simulator = Simulator::new(SimulatorOptions {
            citizens: 10,
            enterprises: 10,
            ..SimulatorOptions::default()
        })
        .with_ndxp_tokens(NdxpTokenSettings {
            lifetime,
            ..NdxpTokenSettings::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(simulator.serve(listener, async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            client: TokenSource::http_client(Duration::from_secs(2)),
            stop,
            task,
        }
    }

    fn settings(&self) -> TokenSettings {
        let defaults = NdxpTokenSettings::default();
        let url: Uri = format!("http://{}/ndxp/oauth2/token", self.addr)
            .parse()
            .expect("url");
        TokenSettings::new(url, defaults.client_id, defaults.client_secret)
    }

    fn source(&self, settings: TokenSettings) -> TokenSource {
        TokenSource::new(settings, self.client.clone())
    }

    async fn send(&self, method: Method, path: &str, body: &str) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr))
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        let response = self.client.request(request).await.expect("an answer");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        serde_json::from_slice(&body).expect("JSON")
    }

    async fn fetches(&self) -> u64 {
        let stats = self.send(Method::GET, "/__sim/stats", "").await;
        stats["ndxp_token"].as_u64().expect("ndxp_token is counted")
    }

    async fn set_faults(&self, faults: &str) {
        self.send(Method::PUT, "/__sim/faults/ndxp_token", faults)
            .await;
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// Calls `token()` from `n` tasks at once and returns what each got.
async fn concurrently(source: &TokenSource, n: usize) -> Vec<AccessToken> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.token().await })
        })
        .collect();
    let mut tokens = Vec::with_capacity(n);
    for call in calls {
        tokens.push(call.await.expect("task").expect("a token"));
    }
    tokens
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_concurrent_callers_cause_one_fetch() {
    let running = Running::start(Duration::from_secs(300)).await;
    let source = running.source(running.settings());
    let first = concurrently(&source, 200).await;
    assert_eq!(running.fetches().await, 1);
    assert!(first.iter().all(|t| *t == first[0]));
    assert!(first[0].value().starts_with("ndxp-sim-"));
    assert_eq!(
        first[0].authorization(),
        format!("Bearer {}", first[0].value())
    );

    let second = concurrently(&source, 200).await;
    assert_eq!(running.fetches().await, 1, "the cached token is reused");
    assert!(second.iter().all(|t| *t == first[0]));
    running.stop().await;
}

#[tokio::test]
async fn refreshes_before_expiry() {
    let running = Running::start(Duration::from_secs(2)).await;
    let mut settings = running.settings();
    settings.refresh_margin = Duration::from_secs(1);
    let source = running.source(settings);
    let first = source.token().await.expect("token");
    assert_eq!(source.token().await.expect("token"), first);
    assert_eq!(running.fetches().await, 1);

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = source.token().await.expect("token");
    assert_ne!(second, first, "a token within its margin is replaced");
    assert_eq!(running.fetches().await, 2);
    assert_eq!(source.token().await.expect("token"), second);
    assert_eq!(running.fetches().await, 2);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalidating_the_current_token_refetches_once() {
    let running = Running::start(Duration::from_secs(300)).await;
    let source = running.source(running.settings());
    let old = source.token().await.expect("token");
    source.invalidate(&old);
    let renewed = concurrently(&source, 50).await;
    assert_eq!(running.fetches().await, 2);
    assert!(renewed.iter().all(|t| *t == renewed[0]));
    assert_ne!(renewed[0], old);

    // Requests rejected with the old token arrive late: the new one stays.
    source.invalidate(&old);
    assert_eq!(source.token().await.expect("token"), renewed[0]);
    assert_eq!(running.fetches().await, 2);
    running.stop().await;
}

#[tokio::test]
async fn wrong_secret_is_refused_without_showing_it() {
    let running = Running::start(Duration::from_secs(300)).await;
    let mut settings = running.settings();
    settings.client_secret = "s3cret-that-is-wrong".to_owned();
    settings.scope = Some("ndxp tra cuu".to_owned());
    let source = running.source(settings);
    let error = source.token().await.expect_err("refused");
    assert_eq!(
        error,
        TokenError::Refused {
            status: 401,
            error: Some("invalid_client".to_owned())
        }
    );
    assert!(!error.is_unavailable());
    for shown in [
        error.to_string(),
        format!("{error:?}"),
        format!("{source:?}"),
    ] {
        assert!(!shown.contains("s3cret"), "{shown}");
    }
    running.stop().await;
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    // Port 1 on loopback: nothing listens there, and no parallel test can take it.
    let url: Uri = "http://127.0.0.1:1/ndxp/oauth2/token".parse().expect("url");
    let source = TokenSource::new(
        TokenSettings::new(url, "id".to_owned(), "secret".to_owned()),
        TokenSource::http_client(Duration::from_secs(1)),
    );
    let error = source.token().await.expect_err("nobody listens");
    assert!(matches!(error, TokenError::Unreachable(_)), "{error:?}");
    assert!(error.is_unavailable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_become_their_errors_and_waiters_share_a_failure() {
    let running = Running::start(Duration::from_secs(300)).await;
    let source = running.source(running.settings());

    running.set_faults(r#"{"malformed_rate": 1.0}"#).await;
    let error = source.token().await.expect_err("malformed");
    assert!(matches!(error, TokenError::Malformed(_)), "{error:?}");

    running
        .set_faults(r#"{"error_rate": 1.0, "error_status": 503, "latency_ms": 200}"#)
        .await;
    let before = running.fetches().await;
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let source = source.clone();
            tokio::spawn(async move { source.token().await })
        })
        .collect();
    for call in calls {
        let error = call.await.expect("task").expect_err("endpoint failing");
        assert_eq!(error, TokenError::Unavailable { status: 503 });
    }
    assert_eq!(
        running.fetches().await - before,
        1,
        "one failed fetch, shared"
    );

    running.set_faults(r#"{"latency_ms": 500}"#).await;
    let mut settings = running.settings();
    settings.timeout = Duration::from_millis(100);
    let error = running.source(settings).token().await.expect_err("slow");
    assert_eq!(error, TokenError::Timeout(Duration::from_millis(100)));

    running.set_faults("{}").await;
    assert!(
        source.token().await.is_ok(),
        "recovers once the endpoint does"
    );
    running.stop().await;
}

fn answer(body: &str) -> Result<AccessToken, TokenError> {
    let settings = TokenSettings::new(
        "http://127.0.0.1:1/t".parse().expect("url"),
        "id".to_owned(),
        "secret".to_owned(),
    );
    read_answer(&settings, StatusCode::OK, body.as_bytes(), Instant::now())
}

#[tokio::test]
async fn answers_without_a_usable_token_are_malformed() {
    for body in [
        r#"{"token_type":"Bearer","expires_in":60}"#,
        r#"{"access_token":"","token_type":"Bearer","expires_in":60}"#,
        r#"{"access_token":"a b","expires_in":60}"#,
        r#"{"access_token":"t","token_type":"MAC","expires_in":60}"#,
        r#"{"access_token":"t","token_type":"Bearer"}"#,
        r#"{"access_token":"t","expires_in":0}"#,
        r#"{"access_token":"t","expires_in":-5}"#,
        r#"{"access_token":"t","expires_in":1.5}"#,
        r#"{"access_token":"t","expires_in":"soon"}"#,
        r#"{"access_token":"t","expires_in":99999999999}"#,
        "[]",
    ] {
        assert!(
            matches!(answer(body), Err(TokenError::Malformed(_))),
            "{body}"
        );
    }
    assert!(answer(r#"{"access_token":"t","token_type":"bearer","expires_in":"60"}"#).is_ok());
}

#[tokio::test(start_paused = true)]
async fn refresh_margin_is_the_larger_of_time_and_share() {
    let mut settings = TokenSettings::new(
        "http://127.0.0.1:1/t".parse().expect("url"),
        "id".to_owned(),
        "secret".to_owned(),
    );
    assert_eq!(
        settings.margin_for(Duration::from_secs(3600)),
        Duration::from_secs(360)
    );
    assert_eq!(
        settings.margin_for(Duration::from_secs(300)),
        Duration::from_secs(60)
    );
    settings.refresh_fraction = f64::NAN;
    assert_eq!(
        settings.margin_for(Duration::from_secs(3600)),
        Duration::from_secs(60)
    );
    // A lifetime shorter than the margin is refreshed on every call, yet still used.
    let now = Instant::now();
    let token = read_answer(
        &settings,
        StatusCode::OK,
        br#"{"access_token":"t","expires_in":30}"#,
        now,
    )
    .expect("token");
    assert!(!token.is_fresh(now));
    assert!(token.is_valid(now));
    assert_eq!(token.expires_at(), now + Duration::from_secs(30));
}

#[test]
fn refusals_keep_only_a_printable_code_and_server_errors_are_unavailable() {
    let settings = TokenSettings::new(
        "http://127.0.0.1:1/t".parse().expect("url"),
        "id".to_owned(),
        "secret".to_owned(),
    );
    let now = Instant::now();
    let long = format!(r#"{{"error":"bad\u0000{}"}}"#, "x".repeat(500));
    match read_answer(&settings, StatusCode::BAD_REQUEST, long.as_bytes(), now) {
        Err(TokenError::Refused {
            status: 400,
            error: Some(code),
        }) => {
            assert_eq!(code.len(), MAX_ERROR_CODE_CHARS);
            assert!(code.starts_with("badx"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        read_answer(&settings, StatusCode::FORBIDDEN, b"<html>", now),
        Err(TokenError::Refused {
            status: 403,
            error: None
        })
    );
    assert_eq!(
        read_answer(&settings, StatusCode::BAD_GATEWAY, b"", now),
        Err(TokenError::Unavailable { status: 502 })
    );
    assert_eq!(form_encode("a b+c/é"), "a+b%2Bc%2F%C3%A9");
    assert!(!format!("{settings:?}").contains("secret\""));
}
