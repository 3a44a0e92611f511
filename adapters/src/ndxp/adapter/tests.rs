//! The NDXP adapter against the NDXP simulator over real HTTP on loopback:
//! headers, both payload kinds, the token under load and after expiry, and
//! every refusal and fault the adapter maps.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use http::{Method, Uri};
use http_body_util::BodyExt;
use lgsp_contracts::{Contract, ContractName};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::*;
use crate::adapter::CallContext;
use crate::ndxp::token::TokenSettings;
use crate::rest::breaker::BreakerSettings;
use crate::simulators::{NdxpTokenSettings, Simulator, SimulatorOptions};

/// The province code the simulator expects by default (the demo province).
const PROVINCE: &str = "000.00.00.H29";

/// A simulator on an ephemeral loopback port, stopped when dropped.
struct Running {
    addr: SocketAddr,
    simulator: Simulator,
    _stop: oneshot::Sender<()>,
}

async fn start() -> Running {
    let simulator = Simulator::new(SimulatorOptions {
        citizens: 400,
        enterprises: 10,
        ..SimulatorOptions::default()
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(simulator.clone().serve(listener, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        simulator,
        _stop: stop,
    }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn province(&self, agency_code: &str) -> NdxpProvince {
        province_with_token_url(&self.url("/ndxp/oauth2/token"), agency_code)
    }

    /// A control-plane call; answers the JSON body.
    async fn control(&self, method: Method, path: &str, body: &str) -> Value {
        let request = Request::builder()
            .method(method)
            .uri(self.url(path))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.to_owned())))
            .expect("request");
        let client = TokenSource::http_client(Duration::from_secs(2));
        let response = client.request(request).await.expect("an answer");
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        serde_json::from_slice(&body).expect("JSON")
    }

    async fn token_fetches(&self) -> Value {
        self.control(Method::GET, "/__sim/stats", "").await["ndxp_token"].clone()
    }
}

fn province_with_token_url(token_url: &str, agency_code: &str) -> NdxpProvince {
    let defaults = NdxpTokenSettings::default();
    let url: Uri = token_url.parse().expect("token url");
    let mut settings = TokenSettings::new(url, defaults.client_id, defaults.client_secret);
    settings.timeout = Duration::from_secs(2);
    NdxpProvince {
        agency_code: agency_code.to_owned(),
        tokens: Arc::new(TokenSource::new(
            settings,
            TokenSource::http_client(Duration::from_secs(2)),
        )),
        transport: Arc::new(RestAdapter::new(BreakerSettings::default())),
    }
}

fn settings() -> CallSettings {
    CallSettings {
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
        retries: 0,
        max_request_bytes: 64 * 1024,
        max_response_bytes: 1024 * 1024,
    }
}

fn context() -> CallContext {
    CallContext {
        request_id: "req-0001".to_owned(),
        consumer_system: "motcua-myhiep".to_owned(),
        consumer_agency: "000.01.00.H29".to_owned(),
        officer: Some("canbo.tuphap.myhiep".to_owned()),
        purpose: Some("1.001612".to_owned()),
        dossier: Some("H29.01-2026-000123".to_owned()),
    }
}

/// A GET forwarded as is (the JSON payload).
fn get_call(url: String) -> UpstreamCall {
    let request = Request::get(url.as_str())
        // A consumer trying to speak for the province; the adapter drops it.
        .header("x-ndxp-consumer", "000.00.00.H99")
        .body(Body::empty())
        .expect("request");
    UpstreamCall {
        request,
        endpoint: url,
        params: Vec::new(),
        settings: settings(),
        context: context(),
    }
}

/// A lookup by personal ID through a translating service.
fn lookup_call(endpoint: String, so_dinh_danh: &str) -> UpstreamCall {
    let request = Request::get(endpoint.as_str())
        .body(Body::empty())
        .expect("request");
    UpstreamCall {
        request,
        endpoint,
        params: vec![("soDinhDanh".to_owned(), so_dinh_danh.to_owned())],
        settings: settings(),
        context: context(),
    }
}

fn xml_service(running: &Running, mapping: &str) -> NdxpAdapter {
    let mapping = Mapping::builtin(mapping).expect("built-in mapping");
    NdxpAdapter::new(
        running.province(PROVINCE),
        Some("CSDLHT".to_owned()),
        NdxpPayload::XmlInJson(Arc::new(mapping)),
    )
}

async fn json_body(response: Response<StreamBody>) -> Value {
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    serde_json::from_slice(&body).expect("JSON")
}

fn valid(name: ContractName, value: &Value) {
    let contract = Contract::get(name).expect("compiled");
    if let Err(violations) = contract.validate(value) {
        panic!("breaks `{}`: {violations:#?}\n{value}", name.as_str());
    }
}

#[tokio::test]
async fn json_service_sends_the_ndxp_headers_and_returns_the_citizen() {
    let running = start().await;
    let id = running.simulator.sample_personal_ids(1).remove(0);
    let adapter = NdxpAdapter::new(
        running.province(PROVINCE),
        Some("CSDLQGDC".to_owned()),
        NdxpPayload::Json,
    );
    assert_eq!(adapter.kind(), "ndxp");
    let url = running.url(&format!("/ndxp/v1/population/citizens/{id}"));
    let response = adapter.call(get_call(url)).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let citizen = json_body(response).await;
    assert_eq!(citizen["soDinhDanh"], id.as_str());
    valid(ContractName::Citizen, &citizen);

    let seen = running
        .control(Method::GET, "/__sim/ndxp/last-headers", "")
        .await;
    let expected = serde_json::json!({
        "x-ndxp-consumer": PROVINCE,
        "x-ndxp-origin-agency": "000.01.00.H29",
        "x-ndxp-origin-system": "motcua-myhiep",
        "x-ndxp-officer": "canbo.tuphap.myhiep",
        "x-ndxp-purpose": "1.001612",
        "x-ndxp-dossier": "H29.01-2026-000123",
        "x-ndxp-request-id": "req-0001",
        "x-ndxp-service": "CSDLQGDC",
    });
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn optional_headers_are_left_out_and_bad_values_refused() {
    let running = start().await;
    let id = running.simulator.sample_personal_ids(1).remove(0);
    let adapter = NdxpAdapter::new(running.province(PROVINCE), None, NdxpPayload::Json);
    let url = running.url(&format!("/ndxp/v1/social-insurance/households/{id}"));
    let mut call = get_call(url.clone());
    call.context.officer = None;
    call.context.purpose = None;
    call.context.dossier = None;
    let response = adapter.call(call).await.expect("an answer");
    assert_eq!(response.status(), StatusCode::OK);
    let seen = running
        .control(Method::GET, "/__sim/ndxp/last-headers", "")
        .await;
    let names: Vec<&str> = seen
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        [
            "x-ndxp-consumer",
            "x-ndxp-origin-agency",
            "x-ndxp-origin-system",
            "x-ndxp-request-id"
        ]
    );

    let mut call = get_call(url);
    call.context.officer = Some("canbo\r\nX-Evil: 1".to_owned());
    let error = adapter.call(call).await.expect_err("not a header value");
    assert!(
        matches!(&error, AdapterError::InvalidRequest { reason, .. } if reason.contains("x-ndxp-officer")),
        "{error:?}"
    );
    assert_eq!(
        running.token_fetches().await,
        1,
        "nothing sent for the bad call"
    );
}

#[tokio::test]
async fn birth_and_death_records_decode_to_their_contracts() {
    let running = start().await;
    let endpoint = running.url("/ndxp/v1/civil-status/records");
    let population = NdxpAdapter::new(running.province(PROVINCE), None, NdxpPayload::Json);
    let birth = xml_service(&running, "civil-status-birth");
    let death = xml_service(&running, "civil-status-death");

    let mut accented = 0;
    for id in running.simulator.sample_personal_ids(5) {
        let url = running.url(&format!("/ndxp/v1/population/citizens/{id}"));
        let citizen = json_body(population.call(get_call(url)).await.expect("citizen")).await;
        let response = birth
            .call(lookup_call(endpoint.clone(), &id))
            .await
            .expect("a birth record");
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE),
            Some(&HeaderValue::from_static("application/json"))
        );
        let record = json_body(response).await;
        valid(ContractName::BirthRecord, &record);
        // The name went through XML and back with its diacritics intact.
        assert_eq!(record["hoTen"], citizen["hoTen"]);
        assert_eq!(record["noiSinh"], citizen["noiSinh"]);
        if record["hoTen"].as_str().is_some_and(|n| !n.is_ascii()) {
            accented += 1;
        }
    }
    assert!(accented > 0, "no sampled name has a diacritic");

    let deceased = running.simulator.sample_deceased_ids(3);
    assert_eq!(deceased.len(), 3, "the dataset has deceased citizens");
    for id in &deceased {
        let record = json_body(
            death
                .call(lookup_call(endpoint.clone(), id))
                .await
                .expect("a death record"),
        )
        .await;
        valid(ContractName::DeathRecord, &record);
        assert_eq!(record["soDinhDanh"], id.as_str());
        assert!(record["nguoiDiKhai"]["hoTen"].is_string(), "{record}");
    }

    // A living citizen has no death record: NDXP's own 404 comes back as sent.
    let living = running
        .simulator
        .sample_personal_ids(400)
        .into_iter()
        .find(|id| {
            !deceased.contains(id) && !running.simulator.sample_deceased_ids(400).contains(id)
        })
        .expect("a living citizen");
    let response = death
        .call(lookup_call(endpoint, &living))
        .await
        .expect("passed through");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json_body(response).await["maLoi"], "RECORD_NOT_FOUND");
}

#[tokio::test]
async fn translated_requests_are_checked_before_sending() {
    let running = start().await;
    let birth = xml_service(&running, "civil-status-birth");
    let endpoint = running.url("/ndxp/v1/civil-status/records");
    // No soDinhDanh at all: the mapping refuses it with a pointer.
    let mut call = lookup_call(endpoint.clone(), "x");
    call.params.clear();
    let error = birth.call(call).await.expect_err("required member missing");
    assert!(
        matches!(&error, AdapterError::InvalidRequest { pointer, .. } if pointer == "/soDinhDanh"),
        "{error:?}"
    );
    // A body that is not a JSON object.
    let mut call = lookup_call(endpoint.clone(), "x");
    call.request = Request::post(endpoint.as_str())
        .body(Body::from("[1,2]"))
        .expect("request");
    let error = birth.call(call).await.expect_err("not an object");
    assert!(
        matches!(error, AdapterError::InvalidRequest { .. }),
        "{error:?}"
    );
    // The simulator's own refusal of a malformed ID is a fault, not a pass-through.
    let error = birth
        .call(lookup_call(endpoint, "12345"))
        .await
        .expect_err("refused upstream");
    assert!(
        matches!(&error, AdapterError::Fault { code, reason } if code == "HTTP 400" && reason.starts_with("DATA_INCORRECT")),
        "{error:?}"
    );
}

#[tokio::test]
async fn two_hundred_concurrent_calls_fetch_one_token() {
    let running = start().await;
    let adapter = Arc::new(NdxpAdapter::new(
        running.province(PROVINCE),
        None,
        NdxpPayload::Json,
    ));
    let ids = running.simulator.sample_personal_ids(200);
    let mut tasks = tokio::task::JoinSet::new();
    for id in ids {
        let adapter = adapter.clone();
        let url = running.url(&format!("/ndxp/v1/population/citizens/{id}"));
        tasks.spawn(async move { adapter.call(get_call(url)).await.map(|r| r.status()) });
    }
    let mut ok = 0;
    while let Some(joined) = tasks.join_next().await {
        assert_eq!(joined.expect("task").expect("call"), StatusCode::OK);
        ok += 1;
    }
    assert_eq!(ok, 200);
    assert_eq!(running.token_fetches().await, 1);
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_call_succeeds() {
    let running = start().await;
    let adapter = NdxpAdapter::new(running.province(PROVINCE), None, NdxpPayload::Json);
    let id = running.simulator.sample_personal_ids(1).remove(0);
    let url = running.url(&format!("/ndxp/v1/population/citizens/{id}"));
    let first = adapter.call(get_call(url.clone())).await.expect("first");
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(running.token_fetches().await, 1);

    running
        .control(Method::POST, "/__sim/ndxp/expire-tokens", "")
        .await;
    let second = adapter
        .call(get_call(url.clone()))
        .await
        .expect("refreshed");
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(json_body(second).await["soDinhDanh"], id.as_str());
    assert_eq!(running.token_fetches().await, 2);
    // The refreshed token stays in use.
    adapter.call(get_call(url)).await.expect("third");
    assert_eq!(running.token_fetches().await, 2);
}

#[tokio::test]
async fn a_token_endpoint_down_is_token_unavailable() {
    let running = start().await;
    running
        .control(
            Method::PUT,
            "/__sim/faults/ndxp_token",
            r#"{"error_rate": 1.0, "error_status": 503}"#,
        )
        .await;
    let adapter = NdxpAdapter::new(running.province(PROVINCE), None, NdxpPayload::Json);
    let url = running.url("/ndxp/v1/population/citizens/001203004567");
    let error = adapter
        .call(get_call(url.clone()))
        .await
        .expect_err("no token");
    assert!(
        matches!(error, AdapterError::TokenUnavailable(_)),
        "{error:?}"
    );

    // Nothing listening on the token endpoint at all.
    let nowhere = NdxpAdapter::new(
        province_with_token_url("http://127.0.0.1:1/ndxp/oauth2/token", PROVINCE),
        None,
        NdxpPayload::Json,
    );
    let error = nowhere.call(get_call(url)).await.expect_err("no token");
    assert!(
        matches!(error, AdapterError::TokenUnavailable(_)),
        "{error:?}"
    );
}

#[tokio::test]
async fn refused_credentials_and_wrong_consumer_are_rejected() {
    let running = start().await;
    let url = running.url("/ndxp/v1/population/citizens/001203004567");

    let wrong_consumer =
        NdxpAdapter::new(running.province("000.00.00.H30"), None, NdxpPayload::Json);
    let error = wrong_consumer
        .call(get_call(url.clone()))
        .await
        .expect_err("not the province");
    assert!(
        matches!(&error, AdapterError::Rejected { status: 403, reason } if reason.starts_with("CONSUMER_NOT_ALLOWED")),
        "{error:?}"
    );

    let mut province = running.province(PROVINCE);
    let defaults = NdxpTokenSettings::default();
    let url_token: Uri = running.url("/ndxp/oauth2/token").parse().expect("url");
    province.tokens = Arc::new(TokenSource::new(
        TokenSettings::new(url_token, defaults.client_id, "wrong-secret".to_owned()),
        TokenSource::http_client(Duration::from_secs(2)),
    ));
    let wrong_secret = NdxpAdapter::new(province, None, NdxpPayload::Json);
    let error = wrong_secret.call(get_call(url)).await.expect_err("refused");
    assert!(
        matches!(error, AdapterError::Rejected { status: 401, .. }),
        "{error:?}"
    );
}

/// A stand-in upstream answering every request with `status`, `headers` and `body`.
async fn fixed_upstream(
    status: StatusCode,
    headers: &'static [(&'static str, &'static str)],
    body: String,
) -> (String, oneshot::Sender<()>) {
    let router = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = status;
            for (name, value) in headers {
                response
                    .headers_mut()
                    .insert(*name, HeaderValue::from_static(value));
            }
            response
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    (format!("http://{addr}/records"), stop)
}

#[tokio::test]
async fn a_second_invalid_token_refusal_is_rejected_after_one_refresh() {
    let running = start().await;
    let (endpoint, _stop) = fixed_upstream(
        StatusCode::UNAUTHORIZED,
        &[("www-authenticate", "Bearer error=\"invalid_token\"")],
        r#"{"maLoi":"INVALID_TOKEN","moTa":"Mã truy cập không hợp lệ"}"#.to_owned(),
    )
    .await;
    let adapter = NdxpAdapter::new(running.province(PROVINCE), None, NdxpPayload::Json);
    let error = adapter
        .call(get_call(endpoint))
        .await
        .expect_err("refused twice");
    assert!(
        matches!(&error, AdapterError::Rejected { status: 401, reason } if reason.contains("Mã truy cập")),
        "{error:?}"
    );
    assert_eq!(running.token_fetches().await, 2, "exactly one refresh");
}

#[tokio::test]
async fn hostile_or_broken_answers_are_malformed() {
    let running = start().await;
    let birth = xml_service(&running, "civil-status-birth");
    let id = running.simulator.sample_personal_ids(1).remove(0);

    // The simulator's own knob: a truncated JSON envelope.
    running
        .control(
            Method::PUT,
            "/__sim/faults/ndxp",
            r#"{"malformed_rate": 1.0}"#,
        )
        .await;
    let endpoint = running.url("/ndxp/v1/civil-status/records");
    let error = birth
        .call(lookup_call(endpoint, &id))
        .await
        .expect_err("truncated");
    assert!(matches!(error, AdapterError::Malformed(_)), "{error:?}");

    let laughs = concat!(
        r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">"#,
        r#"<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">"#,
        r#"<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>"#,
        "<KhaiSinh><hoTen>&lol3;</hoTen></KhaiSinh>"
    );
    let external = concat!(
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"#,
        "<KhaiSinh><hoTen>&xxe;</hoTen></KhaiSinh>"
    );
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    let undeclared = "<KhaiSinh><hoTen>&lol;</hoTen></KhaiSinh>".to_owned();
    for xml in [laughs.to_owned(), external.to_owned(), deep, undeclared] {
        let envelope = serde_json::json!({ "maKetQua": "00", "moTa": "Thành công", "duLieu": xml });
        let (endpoint, _stop) = fixed_upstream(
            StatusCode::OK,
            &[("content-type", "application/json")],
            envelope.to_string(),
        )
        .await;
        let error = birth
            .call(lookup_call(endpoint, &id))
            .await
            .expect_err("hostile XML");
        assert!(matches!(error, AdapterError::Malformed(_)), "{error:?}");
    }

    // An error result code in a well-formed envelope is the upstream's fault.
    let failed = serde_json::json!({ "maKetQua": "05", "moTa": "Hệ thống bận", "duLieu": "" });
    let (endpoint, _stop) = fixed_upstream(
        StatusCode::OK,
        &[("content-type", "application/json")],
        failed.to_string(),
    )
    .await;
    let error = birth
        .call(lookup_call(endpoint, &id))
        .await
        .expect_err("result code");
    assert!(
        matches!(&error, AdapterError::Fault { code, reason } if code == "05" && reason == "Hệ thống bận"),
        "{error:?}"
    );
}
