//! The simulated V-APEX over real HTTP on loopback: publication and read
//! back, idempotent replays and conflicts, validation, authentication, and
//! faults that must not leave a publication behind.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::CONTENT_TYPE;
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::super::{Simulator, SimulatorOptions};
use super::*;

const AGENCY: &str = "000.00.00.H29";
const PATH: &str = "/vapex/v1/catalogue/000.00.00.H29/population/v1";
const TOKEN: &str = "vapex-sim-token";

/// A simulator served on an ephemeral loopback port.
struct Running {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<io::Result<()>>,
}

/// An answer read whole.
struct Answer {
    status: StatusCode,
    content_type: String,
    body: Value,
}

impl Running {
    async fn start(settings: VapexCatalogueSettings) -> Running {
        let simulator = Simulator::new(SimulatorOptions {
            citizens: 10,
            enterprises: 10,
            ..SimulatorOptions::default()
        })
        .with_vapex(settings);
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

    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        let response = self.client.request(request).await.expect("an answer");
        let status = response.status();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!("not JSON: {}", String::from_utf8_lossy(&bytes));
        });
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn put(&self, path: &str, key: &str, body: &Value) -> Answer {
        let auth = format!("Bearer {TOKEN}");
        self.send(
            Method::PUT,
            path,
            &[("authorization", &auth), ("idempotency-key", key)],
            &body.to_string(),
        )
        .await
    }

    async fn get_authorized(&self, path: &str) -> Answer {
        let auth = format!("Bearer {TOKEN}");
        self.send(Method::GET, path, &[("authorization", &auth)], "")
            .await
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, &[], "").await
    }

    async fn stats(&self) -> Value {
        self.get("/__sim/vapex/stats").await.body
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
    }
}

/// A descriptor of the population service, version v1, in `lifecycle`.
fn descriptor(lifecycle: Value) -> Value {
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Tra cứu công dân", "version": "v1" },
        "paths": {},
        "x-vapex": {
            "agencyCode": AGENCY,
            "serviceCode": "population",
            "version": "v1",
            "lifecycle": lifecycle,
        }
    })
}

fn publish_body() -> Value {
    json!({ "event": "publish", "descriptor": descriptor(json!("published")) })
}

fn assert_problem(answer: &Answer, status: StatusCode, detail_has: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(answer.body["status"], status.as_u16());
    let detail = answer.body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains(detail_has), "{detail}");
}

#[tokio::test]
async fn accepts_a_publication_and_reads_it_back_published() {
    let running = Running::start(VapexCatalogueSettings::default()).await;
    let accepted = running.put(PATH, "outbox-1", &publish_body()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    assert_eq!(accepted.body["status"], "pending");
    let id = accepted.body["publicationId"]
        .as_str()
        .expect("an id")
        .to_owned();
    assert_eq!(id.len(), 36, "{id}");

    let status = running
        .get_authorized(&format!("/vapex/v1/publications/{id}"))
        .await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(
        status.body,
        json!({ "publicationId": id, "status": "published" })
    );

    let entry = running.get(PATH).await;
    assert_eq!(entry.status, StatusCode::OK);
    assert_eq!(entry.body["lifecycle"], "published");
    assert_eq!(entry.body["publicationId"], id.as_str());
    assert_eq!(entry.body["descriptor"], descriptor(json!("published")));
    assert!(entry.body["updatedAt"].as_u64().is_some_and(|ms| ms > 0));

    let listing = running
        .get("/vapex/v1/catalogue?agencyCode=000.00.00.H29")
        .await;
    assert_eq!(listing.body["items"].as_array().map(Vec::len), Some(1));
    let other = running.get("/vapex/v1/catalogue?serviceCode=land").await;
    assert_eq!(other.body, json!({ "items": [] }));

    let missing = running
        .get_authorized("/vapex/v1/publications/no-such-id")
        .await;
    assert_problem(&missing, StatusCode::NOT_FOUND, "no publication");
    let absent = running
        .get("/vapex/v1/catalogue/000.00.00.H29/population/v2")
        .await;
    assert_eq!(absent.status, StatusCode::NOT_FOUND);
    running.stop().await;
}

#[tokio::test]
async fn a_later_event_updates_the_entry() {
    let running = Running::start(VapexCatalogueSettings::default()).await;
    running.put(PATH, "k-publish", &publish_body()).await;
    let deprecate = json!({
        "event": "deprecate",
        "descriptor": descriptor(json!("deprecated")),
    });
    let answer = running.put(PATH, "k-deprecate", &deprecate).await;
    assert_eq!(answer.status, StatusCode::ACCEPTED, "{}", answer.body);
    let entry = running.get(PATH).await;
    assert_eq!(entry.body["lifecycle"], "deprecated");
    assert_eq!(entry.body["publicationId"], answer.body["publicationId"]);
    assert_eq!(running.stats().await["publications"], 2);
    running.stop().await;
}

#[tokio::test]
async fn publications_stay_pending_for_the_processing_delay() {
    let running = Running::start(VapexCatalogueSettings {
        processing_delay: Duration::from_millis(300),
        ..VapexCatalogueSettings::default()
    })
    .await;
    let accepted = running.put(PATH, "slow", &publish_body()).await;
    let id = accepted.body["publicationId"].as_str().expect("an id");
    let path = format!("/vapex/v1/publications/{id}");
    assert_eq!(
        running.get_authorized(&path).await.body["status"],
        "pending"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        running.get_authorized(&path).await.body["status"],
        "published"
    );
    running.stop().await;
}

#[tokio::test]
async fn replays_return_the_same_publication_and_conflicts_are_refused() {
    let running = Running::start(VapexCatalogueSettings::default()).await;
    let first = running.put(PATH, "outbox-7", &publish_body()).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    // The same body with its members in another order is the same request.
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{"descriptor": {}, "event": "publish"}}"#,
        descriptor(json!("published"))
    ))
    .expect("json");
    let replay = running.put(PATH, "outbox-7", &reordered).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    assert_eq!(replay.body["publicationId"], first.body["publicationId"]);
    assert_eq!(replay.body["status"], "published");

    let mut changed = publish_body();
    changed["descriptor"]["info"]["title"] = json!("Khác");
    let conflict = running.put(PATH, "outbox-7", &changed).await;
    assert_problem(&conflict, StatusCode::CONFLICT, "Idempotency-Key");
    let mut v2 = publish_body();
    v2["descriptor"]["x-vapex"]["version"] = json!("v2");
    let other_path = running
        .put(
            "/vapex/v1/catalogue/000.00.00.H29/population/v2",
            "outbox-7",
            &v2,
        )
        .await;
    assert_eq!(other_path.status, StatusCode::CONFLICT);

    let stats = running.stats().await;
    assert_eq!(stats["publications"], 1, "{stats}");
    assert_eq!(stats["duplicates"], 1, "{stats}");
    assert_eq!(stats["requests"], 4, "{stats}");
    let v2_entry = running
        .get("/vapex/v1/catalogue/000.00.00.H29/population/v2")
        .await;
    assert_eq!(v2_entry.status, StatusCode::NOT_FOUND);
    let reset = running
        .send(Method::DELETE, "/__sim/vapex/stats", &[], "")
        .await;
    assert_eq!(
        reset.body,
        json!({ "requests": 0, "publications": 0, "duplicates": 0 })
    );
    running.stop().await;
}

#[tokio::test]
async fn invalid_publications_are_refused_with_what_is_wrong() {
    let running = Running::start(VapexCatalogueSettings::default()).await;
    let mismatch = json!({ "event": "retire", "descriptor": descriptor(json!("published")) });
    let answer = running.put(PATH, "k1", &mismatch).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "lifecycle");
    let answer = running
        .put(
            "/vapex/v1/catalogue/000.00.00.H30/population/v1",
            "k2",
            &publish_body(),
        )
        .await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "agencyCode");
    let answer = running
        .put(
            "/vapex/v1/catalogue/000.00.00.H29/population/v9",
            "k3",
            &publish_body(),
        )
        .await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "version");
    let answer = running
        .put(PATH, "k4", &json!({ "event": "publish", "descriptor": [] }))
        .await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "object");
    let mut old = publish_body();
    old["descriptor"]["openapi"] = json!("3.0.3");
    let answer = running.put(PATH, "k5", &old).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "openapi");
    let mut unknown = publish_body();
    unknown["event"] = json!("draft");
    let answer = running.put(PATH, "k6", &unknown).await;
    assert_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY, "event");

    let auth = format!("Bearer {TOKEN}");
    let no_key = running
        .send(
            Method::PUT,
            PATH,
            &[("authorization", &auth)],
            &publish_body().to_string(),
        )
        .await;
    assert_problem(&no_key, StatusCode::BAD_REQUEST, "Idempotency-Key");
    let long_key = "k".repeat(201);
    let answer = running.put(PATH, &long_key, &publish_body()).await;
    assert_problem(&answer, StatusCode::BAD_REQUEST, "Idempotency-Key");
    let answer = running
        .send(
            Method::PUT,
            PATH,
            &[("authorization", &auth), ("idempotency-key", "k7")],
            "{not json",
        )
        .await;
    assert_problem(&answer, StatusCode::BAD_REQUEST, "JSON");

    assert_eq!(running.stats().await["publications"], 0);
    assert_eq!(running.get(PATH).await.status, StatusCode::NOT_FOUND);
    running.stop().await;
}

#[tokio::test]
async fn publishing_and_reading_status_need_the_token() {
    let running = Running::start(VapexCatalogueSettings::default()).await;
    let body = publish_body().to_string();
    for headers in [
        vec![("idempotency-key", "k")],
        vec![("idempotency-key", "k"), ("authorization", "Bearer wrong")],
        vec![
            ("idempotency-key", "k"),
            ("authorization", "Basic dmFwZXg="),
        ],
    ] {
        let answer = running.send(Method::PUT, PATH, &headers, &body).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "bearer token");
    }
    let answer = running.get("/vapex/v1/publications/anything").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // The catalogue itself is public.
    assert_eq!(
        running.get("/vapex/v1/catalogue").await.status,
        StatusCode::OK
    );
    assert_eq!(running.stats().await["publications"], 0);
    running.stop().await;
}

#[tokio::test]
async fn faulted_requests_leave_no_publication() {
    let running = Running::start(VapexCatalogueSettings::default()).await;
    let set = running
        .send(
            Method::PUT,
            "/__sim/faults/vapex",
            &[],
            r#"{"fail_next": 2, "error_status": 503}"#,
        )
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    for _ in 0..2 {
        let failed = running.put(PATH, "outbox-42", &publish_body()).await;
        assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
        // Read from the control plane: catalogue reads would use up the countdown.
        assert_eq!(running.stats().await["publications"], 0);
    }
    let accepted = running.put(PATH, "outbox-42", &publish_body()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED, "{}", accepted.body);
    let stats = running.stats().await;
    assert_eq!(stats["publications"], 1, "{stats}");
    assert_eq!(stats["duplicates"], 0, "{stats}");
    assert_eq!(stats["requests"], 3, "{stats}");
    let hits = running.get("/__sim/stats").await.body;
    assert_eq!(hits["vapex"], 3, "{hits}");
    let entry = running.get(PATH).await;
    assert_eq!(entry.body["publicationId"], accepted.body["publicationId"]);
    running.stop().await;
}

#[test]
fn fingerprints_ignore_member_order_but_not_content() {
    let path: EntryKey = (AGENCY.to_owned(), "population".to_owned(), "v1".to_owned());
    let a: Value = serde_json::from_str(r#"{"a": 1, "b": [true, null, "x"]}"#).expect("json");
    let b: Value = serde_json::from_str(r#"{"b": [true, null, "x"], "a": 1}"#).expect("json");
    let c: Value = serde_json::from_str(r#"{"a": 1, "b": [null, true, "x"]}"#).expect("json");
    assert_eq!(fingerprint(&path, &a), fingerprint(&path, &b));
    assert_ne!(fingerprint(&path, &a), fingerprint(&path, &c));
    let other: EntryKey = (AGENCY.to_owned(), "population".to_owned(), "v2".to_owned());
    assert_ne!(fingerprint(&path, &a), fingerprint(&other, &a));
}

#[test]
fn publication_ids_are_version_4_uuids() {
    let id = publication_id();
    let parts: Vec<_> = id.split('-').map(str::len).collect();
    assert_eq!(parts, [8, 4, 4, 4, 12]);
    assert_eq!(id.as_bytes()[14], b'4');
    assert!(
        matches!(id.as_bytes()[19], b'8' | b'9' | b'a' | b'b'),
        "{id}"
    );
    assert_ne!(id, publication_id());
}
