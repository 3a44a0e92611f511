//! Each refusal and failure of the data plane is a problem response with its
//! code, and a malformed configuration stops the binary with a message naming the key.

mod harness;

use harness::{GatewayBuilder, Mock, http, lgsp, problem_code};
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn unknown_service_is_service_not_found() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    for path in [
        "/api/land/v1/parcels/1",
        "/api/population/v9/citizens/001203004567",
        "/nothing-here",
    ] {
        let r = http().get(gw.url(path)).send().await.expect("send");
        assert_eq!(
            problem_code(r).await,
            (404, "SERVICE_NOT_FOUND".into()),
            "{path}"
        );
    }
}

#[tokio::test]
async fn malformed_personal_id_is_refused_before_any_upstream_call() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    mock.reset_stats().await;
    for bad in ["12345", "00120300456a", "003203004567", "0012030045678"] {
        let r = http()
            .get(gw.url(&format!("/api/population/v1/citizens/{bad}")))
            .send()
            .await
            .expect("send");
        let body = r.text().await.expect("body");
        assert!(body.contains("INVALID_REQUEST"), "{bad}: {body}");
        assert!(
            !body.contains(bad),
            "the identifier is not echoed back: {body}"
        );
    }
    assert_eq!(
        mock.hits("population").await,
        0,
        "no upstream call for a malformed ID"
    );

    let ok = http()
        .get(gw.url(&format!(
            "/api/population/v1/citizens/{}",
            Mock::known_personal_id()
        )))
        .send()
        .await
        .expect("send");
    assert_eq!(ok.status(), 200);
    assert_eq!(mock.hits("population").await, 1);
}

#[tokio::test]
async fn oversize_body_is_payload_too_large() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .config("[limits]\nmax_request_bytes = 1048576")
        .registry(&format!(
            "[[services]]\nslug='small'\nversion='v1'\nname='Nhỏ'\nowner='000.00.00.H29'\nupstream={{ url='{}/echo/v1', max_request_bytes=1000 }}\n",
            mock.url()
        ))
        .start()
        .await;
    // Over the gateway-wide limit, declared up front: refused from the head alone,
    // before a byte of the body is read.
    let mut socket = tokio::net::TcpStream::connect(gw.data)
        .await
        .expect("connect");
    let head = "POST /api/echo/v1/upload HTTP/1.1\r\nhost: lgsp\r\ncontent-length: 2097152\r\n\r\n";
    socket.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .expect("answer in time")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"PAYLOAD_TOO_LARGE\""),
        "{answer}"
    );
    // Over the service's limit, declared.
    let r = http()
        .post(gw.url("/api/small/v1/upload"))
        .body(vec![b'x'; 1001])
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (413, "PAYLOAD_TOO_LARGE".into()));
    // Over the service's limit, streamed without a length.
    let chunks =
        futures_util::stream::iter((0..20).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 100])));
    let r = http()
        .post(gw.url("/api/small/v1/upload"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (413, "PAYLOAD_TOO_LARGE".into()));
    // Within the limit it passes.
    let r = http()
        .post(gw.url("/api/small/v1/upload"))
        .body(vec![b'x'; 1000])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn upstream_down_is_upstream_error() {
    // Port 1 on loopback: nothing listens there, and unlike a freed ephemeral
    // port no parallel test can take it.
    let port = 1;
    let gw = GatewayBuilder::empty()
        .registry(&harness::base_registry(&format!("http://127.0.0.1:{port}")))
        .start()
        .await;
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (502, "UPSTREAM_ERROR".into()));
    assert!(!gw.log().contains("001203004567"));
}

#[tokio::test]
async fn upstream_server_error_is_upstream_error_with_its_status() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    mock.fault("echo", json!({ "error_rate": 1.0, "error_status": 500 }))
        .await;
    let r = http()
        .post(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    let body: serde_json::Value = r.json().await.expect("json");
    assert_eq!(body["code"], "UPSTREAM_ERROR");
    assert_eq!(body["upstream_status"], 500);
}

#[tokio::test]
async fn slow_upstream_times_out_within_the_bound() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .registry(&format!(
            "[[services]]\nslug='slow'\nversion='v1'\nname='Chậm'\nowner='000.00.00.H29'\nupstream={{ url='{}/echo/v1', timeout_ms=300 }}\n",
            mock.url()
        ))
        .start()
        .await;
    let started = Instant::now();
    let r = http()
        .get(gw.url("/api/slow/v1/slow/5000"))
        .send()
        .await
        .expect("send");
    let took = started.elapsed();
    assert_eq!(problem_code(r).await, (504, "UPSTREAM_TIMEOUT".into()));
    assert!(
        took < Duration::from_millis(1500),
        "answered after {took:?}, bound is 300 ms"
    );
    assert!(
        took >= Duration::from_millis(300),
        "cannot time out before the bound: {took:?}"
    );
}

#[tokio::test]
async fn retired_and_blocked_services() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock)
        .registry(&format!(
            "[[services]]\nslug='old'\nversion='v1'\nname='Cũ'\nowner='000.00.00.H29'\nstate='retired'\nupstream={{ url='{0}/echo/v1' }}\n\
             [[services]]\nslug='stopped'\nversion='v1'\nname='Tạm dừng'\nowner='000.00.00.H29'\nstate='blocked'\nupstream={{ url='{0}/echo/v1' }}\n\
             [[services]]\nslug='ageing'\nversion='v1'\nname='Sắp ngừng'\nowner='000.00.00.H29'\nstate='deprecated'\n\
             deprecated_on='2026-11-01'\nsunset_on='2027-06-30'\nupstream={{ url='{0}/echo/v1' }}\n",
            mock.url()
        ))
        .start()
        .await;
    let r = http()
        .get(gw.url("/api/old/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (410, "SERVICE_RETIRED".into()));
    let r = http()
        .get(gw.url("/api/stopped/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(problem_code(r).await, (503, "UPSTREAM_UNAVAILABLE".into()));

    // A deprecated service still answers, announcing when it was deprecated and its sunset.
    let r = http()
        .get(gw.url("/api/ageing/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    // 2026-11-01T00:00:00+07:00 and 2027-06-30T00:00:00+07:00.
    assert_eq!(r.headers()["deprecation"], "@1793466000");
    assert_eq!(r.headers()["sunset"], "Tue, 29 Jun 2027 17:00:00 GMT");
    let r = http()
        .get(gw.url("/api/echo/v1/inspect"))
        .send()
        .await
        .expect("send");
    assert!(r.headers().get("deprecation").is_none() && r.headers().get("sunset").is_none());

    // Deprecating without announcing the sunset is refused by apply.
    let out = gw
        .apply("[[services]]\nslug='ageing'\nversion='v1'\nname='x'\nowner='000.00.00.H29'\nstate='deprecated'\nupstream={ url='http://127.0.0.1:1' }\n")
        .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("sunset_on"));
}

#[tokio::test]
async fn garbage_requests_never_crash_the_gateway() {
    let mock = Mock::start().await;
    let gw = GatewayBuilder::new(&mock).start().await;
    let paths = [
        "/api/population/v1/citizens/%00%ff",
        "/api/%2e%2e/v1/x",
        "/api/echo/v1/../../etc/passwd",
        "/api//v1/x",
        "/api/echo/v1/a%2fb",
        "/api/population/v1/citizens/001203004567/extra",
    ];
    for p in paths {
        let r = http().get(gw.url(p)).send().await.expect("send");
        assert!(r.status().is_client_error(), "{p}: {}", r.status());
    }
    let r = http().get(gw.url("/healthz")).send().await.expect("alive");
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn malformed_config_exits_nonzero_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        ("[listen]\ndata = 8080\n", "listen.data"),
        ("[upstream]\ntimeout_ms = \"soon\"\n", "upstream.timeout_ms"),
        ("[upstream]\ntimeout_ms = 0\n", "upstream.timeout_ms"),
        ("[store]\nurl = \"mysql://root:secret@db/x\"\n", "store.url"),
        (
            "[listen]\ndata = \"127.0.0.1:9\"\nadmin = \"127.0.0.1:9\"\n",
            "listen.admin",
        ),
        ("[limits]\nmax_request_byte = 5\n", "max_request_byte"),
    ];
    for (toml, key) in cases {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, toml).expect("write");
        let out = bounded(lgsp().arg("serve").arg("--config").arg(&path)).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{toml} was accepted");
        assert!(
            stderr.contains(key),
            "message for {toml:?} does not name {key}: {stderr}"
        );
        assert!(!stderr.contains("secret"), "password leaked: {stderr}");
    }
    // An environment override is validated the same way.
    let out = bounded(
        lgsp()
            .args(["serve"])
            .env("LGSP_UPSTREAM__RETRIES", "99")
            .env("LGSP_DATA_DIR", dir.path().join("d")),
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("upstream.retries"));
    // A missing file is named.
    let out = bounded(lgsp().args(["serve", "--config", "/nonexistent/lgsp.toml"])).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/lgsp.toml"));
}

/// Runs a command that must exit on its own (a refused configuration), not serve.
async fn bounded(cmd: &mut tokio::process::Command) -> std::process::Output {
    tokio::time::timeout(Duration::from_secs(20), cmd.output())
        .await
        .expect("a refused configuration exits at once instead of serving")
        .expect("run lgsp")
}
