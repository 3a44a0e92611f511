//! The publisher against the simulated V-APEX over real HTTP on loopback,
//! and its encoding and answer reading on their own.

use std::io;
use std::net::SocketAddr;

use http_body_util::BodyExt;
use serde_json::json;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;
use crate::simulators::{Simulator, SimulatorOptions, VapexCatalogueSettings};

/// A simulator served on an ephemeral loopback port.
struct Running {
    addr: SocketAddr,
    client: VapexClient,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

impl Running {
    async fn start() -> Running {
        let simulator = Simulator::new(SimulatorOptions {
            citizens: 10,
            enterprises: 10,
            ..SimulatorOptions::default()
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(simulator.serve(listener, async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            client: Client::builder(TokioExecutor::new()).build_http(),
            stop,
            task,
        }
    }

    fn publisher_with_token(&self, token: &str) -> VapexPublisher {
        VapexPublisher::new(VapexSettings {
            base_url: format!("http://{}/vapex/v1/", self.addr)
                .parse()
                .expect("url"),
            token: token.to_owned(),
            timeout: Duration::from_secs(5),
        })
    }

    fn publisher(&self) -> VapexPublisher {
        self.publisher_with_token(&VapexCatalogueSettings::default().token)
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

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

fn publication(key: &str, event: PublicationEvent, lifecycle: &str) -> Publication {
    Publication {
        idempotency_key: key.to_owned(),
        agency_code: "000.00.00.H29".to_owned(),
        service_code: "civil-status".to_owned(),
        version: "v1".to_owned(),
        event,
        descriptor: json!({
            "openapi": "3.1.0",
            "info": { "title": "Hộ tịch", "version": "v1" },
            "paths": {},
            "x-vapex": {
                "agencyCode": "000.00.00.H29",
                "serviceCode": "civil-status",
                "version": "v1",
                "lifecycle": lifecycle,
            },
        }),
    }
}

#[tokio::test]
async fn submits_then_reads_the_publication_published() {
    let running = Running::start().await;
    let publisher = running.publisher();
    let item = publication("outbox-1", PublicationEvent::Publish, "published");
    let submitted = publisher.submit(&item).await.expect("accepted");
    assert_eq!(submitted.status, PublicationStatus::Pending);
    let status = publisher
        .status(&submitted.publication_id)
        .await
        .expect("a status");
    assert_eq!(status, PublicationStatus::Published);
    assert!(status.is_final());

    // A retry after a lost answer gets the same receipt and publishes nothing new.
    let again = publisher.clone().submit(&item).await.expect("replayed");
    assert_eq!(again.publication_id, submitted.publication_id);
    let stats = running.send(Method::GET, "/__sim/vapex/stats", "").await;
    assert_eq!(stats["publications"], 1, "{stats}");
    assert_eq!(stats["duplicates"], 1, "{stats}");
    let entry = running
        .send(
            Method::GET,
            "/vapex/v1/catalogue/000.00.00.H29/civil-status/v1",
            "",
        )
        .await;
    assert_eq!(entry["lifecycle"], "published");

    let unknown = publisher.status("no such/id").await;
    assert!(
        matches!(unknown, Err(PublishError::Rejected { status: 404, .. })),
        "{unknown:?}"
    );
    running.stop().await;
}

#[tokio::test]
async fn server_faults_are_transient_and_publish_nothing() {
    let running = Running::start().await;
    let publisher = running.publisher();
    running
        .send(
            Method::PUT,
            "/__sim/faults/vapex",
            r#"{"fail_next": 1, "error_status": 503}"#,
        )
        .await;
    let item = publication("outbox-2", PublicationEvent::Publish, "published");
    let failed = publisher.submit(&item).await;
    match &failed {
        Err(error @ PublishError::Transient(message)) => {
            assert!(error.is_transient());
            assert!(message.contains("503"), "{message}");
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
    let stats = running.send(Method::GET, "/__sim/vapex/stats", "").await;
    assert_eq!(stats["publications"], 0, "{stats}");
    running
        .send(
            Method::PUT,
            "/__sim/faults/vapex",
            r#"{"fail_next": 1, "error_status": 429}"#,
        )
        .await;
    assert!(
        publisher
            .submit(&item)
            .await
            .is_err_and(|e| e.is_transient())
    );
    let submitted = publisher
        .submit(&item)
        .await
        .expect("accepted after the faults");
    assert_eq!(submitted.status, PublicationStatus::Pending);
    let stats = running.send(Method::GET, "/__sim/vapex/stats", "").await;
    assert_eq!(stats["publications"], 1, "{stats}");
    running.stop().await;
}

#[tokio::test]
async fn connection_refused_is_transient() {
    let publisher = VapexPublisher::new(VapexSettings {
        base_url: Uri::from_static("http://127.0.0.1:1/vapex/v1"),
        token: "secret-token-value".to_owned(),
        timeout: Duration::from_secs(5),
    });
    let error = publisher
        .submit(&publication("k", PublicationEvent::Publish, "published"))
        .await
        .expect_err("nothing listens on port 1");
    assert!(error.is_transient(), "{error:?}");
    assert!(!error.to_string().contains("secret-token-value"));
    assert!(!format!("{publisher:?}").contains("secret-token-value"));
    let error = publisher.status("p").await.expect_err("refused");
    assert!(error.is_transient(), "{error:?}");
}

#[tokio::test]
async fn refusals_are_rejected_with_the_detail() {
    let running = Running::start().await;
    let publisher = running.publisher();
    let mismatch = publication("outbox-3", PublicationEvent::Retire, "published");
    let error = publisher.submit(&mismatch).await.expect_err("refused");
    match &error {
        PublishError::Rejected { status, detail } => {
            assert_eq!(*status, 422);
            assert!(detail.contains("lifecycle"), "{detail}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(!error.is_transient());

    let conflicting = Publication {
        idempotency_key: "outbox-3".to_owned(),
        ..publication("x", PublicationEvent::Retire, "retired")
    };
    publisher.submit(&conflicting).await.expect("accepted");
    let reused = Publication {
        idempotency_key: "outbox-3".to_owned(),
        ..publication("x", PublicationEvent::Block, "blocked")
    };
    let error = publisher.submit(&reused).await.expect_err("conflict");
    assert!(
        matches!(error, PublishError::Rejected { status: 409, .. }),
        "{error:?}"
    );

    let wrong_token = running.publisher_with_token("wrong-token-value");
    let error = wrong_token
        .submit(&publication("k4", PublicationEvent::Publish, "published"))
        .await
        .expect_err("unauthorized");
    assert!(
        matches!(error, PublishError::Rejected { status: 401, .. }),
        "{error:?}"
    );
    assert!(!error.to_string().contains("wrong-token-value"));

    let bad_key = publication("", PublicationEvent::Publish, "published");
    let error = publisher.submit(&bad_key).await.expect_err("bad key");
    assert!(
        matches!(error, PublishError::Rejected { status: 400, .. }),
        "{error:?}"
    );
    let stats = running.send(Method::GET, "/__sim/vapex/stats", "").await;
    assert_eq!(stats["requests"], 4, "the empty key never left: {stats}");
    running.stop().await;
}

#[tokio::test]
async fn odd_path_segments_are_encoded_not_refused() {
    let running = Running::start().await;
    let publisher = running.publisher();
    let mut item = publication("outbox-5", PublicationEvent::Publish, "published");
    item.service_code = "dịch vụ/../x?y#z".to_owned();
    item.descriptor["x-vapex"]["serviceCode"] = json!("dịch vụ/../x?y#z");
    let submitted = publisher.submit(&item).await.expect("accepted");
    let listing = running
        .send(
            Method::GET,
            "/vapex/v1/catalogue?agencyCode=000.00.00.H29",
            "",
        )
        .await;
    assert_eq!(listing["items"][0]["serviceCode"], "dịch vụ/../x?y#z");
    assert_eq!(
        listing["items"][0]["publicationId"],
        submitted.publication_id.as_str()
    );
    running.stop().await;
}

#[test]
fn segments_keep_unreserved_characters_and_encode_the_rest() {
    assert_eq!(encode_segment("000.00.00.H29"), "000.00.00.H29");
    assert_eq!(encode_segment("v1.2_a-b~c"), "v1.2_a-b~c");
    assert_eq!(encode_segment("a/b c?d#e%"), "a%2Fb%20c%3Fd%23e%25");
    assert_eq!(encode_segment("đ"), "%C4%91");
    assert_eq!(encode_segment(".."), "%2E%2E");
    assert_eq!(encode_segment("."), "%2E");
    assert_eq!(encode_segment(""), "");
}

#[test]
fn base_urls_must_be_absolute_http() {
    assert_eq!(
        base_of(&Uri::from_static("http://h:9/vapex/v1/")).as_deref(),
        Ok("http://h:9/vapex/v1")
    );
    assert_eq!(
        base_of(&Uri::from_static("http://h:9")).as_deref(),
        Ok("http://h:9")
    );
    assert!(base_of(&Uri::from_static("/vapex/v1")).is_err());
    assert!(base_of(&Uri::from_static("https://h/vapex/v1")).is_err());
}

#[tokio::test]
async fn unusable_settings_are_transient() {
    let publisher = VapexPublisher::new(VapexSettings {
        base_url: Uri::from_static("/vapex/v1"),
        token: "t".to_owned(),
        timeout: Duration::from_secs(1),
    });
    let error = publisher.status("p").await.expect_err("no base url");
    assert!(error.is_transient(), "{error:?}");
    let publisher = VapexPublisher::new(VapexSettings {
        base_url: Uri::from_static("http://127.0.0.1:1/vapex/v1"),
        token: "line\nbreak".to_owned(),
        timeout: Duration::from_secs(1),
    });
    let error = publisher.status("p").await.expect_err("bad token");
    assert!(error.is_transient(), "{error:?}");
    assert!(!error.to_string().contains("break"), "{error}");
}

#[test]
fn status_answers_are_read_strictly() {
    let read = |s: &str| read_status_answer(s.as_bytes());
    assert_eq!(
        read(r#"{"publicationId":"p1","status":"pending"}"#),
        Ok(("p1".to_owned(), PublicationStatus::Pending))
    );
    assert_eq!(
        read(r#"{"publicationId":"p1","status":"rejected","reason":"bad\nthing"}"#),
        Ok((
            "p1".to_owned(),
            PublicationStatus::Rejected {
                reason: "bad thing".to_owned()
            }
        ))
    );
    for broken in [
        "not json",
        r#"{"status":"published"}"#,
        r#"{"publicationId":"","status":"published"}"#,
        r#"{"publicationId":"p1","status":"done"}"#,
    ] {
        assert!(read(broken).is_err_and(|e| e.is_transient()), "{broken}");
    }
}

#[test]
fn details_are_bounded_and_never_show_the_token() {
    let detail = printable_detail(&format!("token tok-123 {}", "x".repeat(1000)), "tok-123");
    assert!(detail.starts_with("token <redacted> x"));
    assert_eq!(detail.chars().count(), MAX_DETAIL_CHARS);
}

#[test]
fn events_and_statuses_spell_the_wire_names() {
    for event in PublicationEvent::ALL {
        assert_eq!(PublicationEvent::parse(event.as_str()), Some(event));
    }
    assert_eq!(PublicationEvent::Deprecate.lifecycle(), "deprecated");
    assert_eq!(PublicationEvent::parse("draft"), None);
    assert_eq!(PublicationStatus::Published.as_str(), "published");
    assert!(!PublicationStatus::Pending.is_final());
    let settings = VapexSettings {
        base_url: Uri::from_static("http://h/vapex/v1"),
        token: "hidden-token".to_owned(),
        timeout: Duration::from_secs(1),
    };
    assert!(!format!("{settings:?}").contains("hidden-token"));
}

#[tokio::test]
async fn publishes_the_national_example_descriptor() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contracts/vapex/examples/population-descriptor.json"
    );
    let text = std::fs::read_to_string(path).expect("the example descriptor");
    let descriptor: Value = serde_json::from_str(&text).expect("JSON");
    let block = &descriptor["x-vapex"];
    let field = |name: &str| block[name].as_str().expect(name).to_owned();
    let item = Publication {
        idempotency_key: "example-1".to_owned(),
        agency_code: field("agencyCode"),
        service_code: field("serviceCode"),
        version: field("version"),
        event: PublicationEvent::Publish,
        descriptor: descriptor.clone(),
    };
    let running = Running::start().await;
    let publisher = running.publisher();
    let submitted = publisher.submit(&item).await.expect("accepted");
    assert_eq!(
        publisher.status(&submitted.publication_id).await,
        Ok(PublicationStatus::Published)
    );
    let retire = Publication {
        idempotency_key: "example-2".to_owned(),
        event: PublicationEvent::Retire,
        ..item
    };
    let error = publisher
        .submit(&retire)
        .await
        .expect_err("lifecycle is published");
    assert!(
        matches!(error, PublishError::Rejected { status: 422, .. }),
        "{error:?}"
    );
    running.stop().await;
}
