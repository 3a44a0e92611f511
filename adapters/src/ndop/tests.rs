//! The NDOP adapter against the NDOP simulator over real mTLS sockets.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lgsp_contracts::{Contract, ContractName};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use super::signature::{self, NONCE_HEADER, SIGNATURE_HEADER};
use super::{NdopAdapter, NdopClient, NdopSettings};
use crate::adapter::{Adapter, CallContext, RequestBody, UpstreamCall};
use crate::error::AdapterError;
use crate::rest::CallSettings;
use crate::rest::breaker::BreakerSettings;
use crate::simulators::{NdopPki, Simulator, SimulatorOptions};

/// A running NDOP simulator; dropping it shuts the simulator down.
struct Running {
    simulator: Simulator,
    addr: SocketAddr,
    pki: NdopPki,
    _stop: oneshot::Sender<()>,
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    fn client(&self) -> Arc<NdopClient> {
        self.client_with(self.pki.province_settings("province-01"))
    }

    fn client_with(&self, settings: NdopSettings) -> Arc<NdopClient> {
        Arc::new(NdopClient::new(settings, BreakerSettings::default()).expect("client"))
    }

    fn citizen_url(&self) -> String {
        let id = self
            .simulator
            .sample_personal_ids(1)
            .pop()
            .expect("a citizen");
        self.url(&format!("/ndop/v1/citizens/{id}"))
    }
}

async fn start() -> Running {
    let pki = NdopPki::generate().expect("pki");
    let simulator = Simulator::new(SimulatorOptions {
        seed: 11,
        citizens: 200,
        enterprises: 10,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = simulator.clone().serve_ndop(listener, &pki, async {
        let _ = stopped.await;
    });
    tokio::spawn(serving);
    Running {
        simulator,
        addr,
        pki,
        _stop: stop,
    }
}

fn settings() -> CallSettings {
    CallSettings {
        connect_timeout: Duration::from_secs(5),
        timeout: Duration::from_secs(10),
        retries: 1,
        max_request_bytes: 64 * 1024,
        max_response_bytes: 1024 * 1024,
    }
}

fn call(method: Method, url: &str) -> UpstreamCall {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(RequestBody::empty())
        .expect("request");
    UpstreamCall {
        request,
        endpoint: url.to_owned(),
        params: Vec::new(),
        settings: settings(),
        context: CallContext::default(),
    }
}

async fn body_of(response: http::Response<crate::rest::StreamBody>) -> Bytes {
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
}

#[tokio::test]
async fn citizen_and_parcel_through_the_adapter() {
    let ndop = start().await;
    let adapter = NdopAdapter::new(ndop.client());
    assert_eq!(adapter.kind(), "ndop");

    let response = adapter
        .call(call(Method::GET, &ndop.citizen_url()))
        .await
        .expect("citizen");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        !response.headers().contains_key(SIGNATURE_HEADER),
        "signature headers are verified and removed"
    );
    let body = body_of(response).await;
    let text = std::str::from_utf8(&body).expect("utf-8");
    let citizen = Contract::get(ContractName::Citizen)
        .expect("contract")
        .validate_slice(&body)
        .expect("a citizen");
    let name = citizen["hoTen"].as_str().expect("hoTen");
    assert!(
        !name.is_ascii(),
        "Vietnamese names keep their diacritics: {name}"
    );
    assert!(
        text.contains(name),
        "diacritics arrive as UTF-8, not escapes"
    );

    let code = ndop
        .simulator
        .sample_parcel_codes(1)
        .pop()
        .expect("a parcel");
    let response = adapter
        .call(call(
            Method::GET,
            &ndop.url(&format!("/ndop/v1/land/parcels/{code}")),
        ))
        .await
        .expect("parcel");
    let body = body_of(response).await;
    let parcel = Contract::get(ContractName::LandParcel)
        .expect("contract")
        .validate_slice(&body)
        .expect("a parcel");
    assert_eq!(parcel["maThuaDat"], code.as_str());
}

#[tokio::test]
async fn a_client_without_certificate_is_refused_at_tls() {
    let ndop = start().await;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ndop.pki.ca_pem.as_bytes()).expect("ca"))
        .expect("root");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(config)
        .https_only()
        .enable_http1()
        .wrap_connector(http);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let uri: Uri = ndop.citizen_url().parse().expect("uri");
    let outcome = tokio::time::timeout(Duration::from_secs(10), client.get(uri))
        .await
        .expect("answered in time");
    let error = outcome.expect_err("no client certificate, no answer");
    let text = crate::rest::describe(&error).to_lowercase();
    assert!(text.contains("certificate"), "{text}");
}

#[tokio::test]
async fn a_wrong_signing_key_is_rejected() {
    let ndop = start().await;
    let mut settings = ndop.pki.province_settings("province-01");
    // A valid P-256 key, but not the one the province's certificate holds.
    settings.signing_key_pem = ndop.pki.signing_key_pem.clone();
    let adapter = NdopAdapter::new(ndop.client_with(settings));
    let error = adapter
        .call(call(Method::GET, &ndop.citizen_url()))
        .await
        .expect_err("refused");
    match error {
        AdapterError::Rejected { status, reason } => {
            assert_eq!(status, 401);
            assert!(reason.starts_with("CHU_KY_KHONG_HOP_LE"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bad_answer_signature_is_refused() {
    let ndop = start().await;
    let client = ndop.client();
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let knob = client
        .sign(
            Method::PUT,
            ndop.url("/__sim/faults/ndop").parse().expect("uri"),
            headers,
            Bytes::from_static(br#"{"bad_signature_next":1}"#),
        )
        .expect("sign");
    let set = client
        .send_signed(&knob, &settings())
        .await
        .expect("knob set");
    let shown: serde_json::Value = serde_json::from_slice(&body_of(set).await).expect("json");
    assert_eq!(shown["bad_signature_next"], 1);

    let adapter = NdopAdapter::new(client);
    let error = adapter
        .call(call(Method::GET, &ndop.citizen_url()))
        .await
        .expect_err("bad signature");
    assert!(matches!(error, AdapterError::BadSignature(_)), "{error:?}");
    let response = adapter
        .call(call(Method::GET, &ndop.citizen_url()))
        .await
        .expect("the knob fired once");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_replayed_request_is_refused() {
    let ndop = start().await;
    let client = ndop.client();
    let signed = client
        .sign(
            Method::GET,
            ndop.citizen_url().parse().expect("uri"),
            HeaderMap::new(),
            Bytes::new(),
        )
        .expect("sign");
    let first = client
        .send_signed(&signed, &settings())
        .await
        .expect("first");
    assert_eq!(first.status(), StatusCode::OK);
    let again = client
        .send_signed(&signed, &settings())
        .await
        .expect_err("replay");
    match again {
        AdapterError::Rejected { status, reason } => {
            assert_eq!(status, 401);
            assert!(reason.starts_with("YEU_CAU_LAP_LAI"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
    assert_eq!(
        signed.headers()[NONCE_HEADER],
        signed.nonce(),
        "the nonce sent is the one the answer had to echo"
    );
}

#[tokio::test]
async fn a_stale_request_is_refused() {
    let ndop = start().await;
    let client = ndop.client();
    let signed = client
        .sign_at(
            Method::GET,
            ndop.citizen_url().parse().expect("uri"),
            HeaderMap::new(),
            Bytes::new(),
            signature::unix_now() - 301,
        )
        .expect("sign");
    let error = client
        .send_signed(&signed, &settings())
        .await
        .expect_err("stale");
    match error {
        AdapterError::Rejected { status, reason } => {
            assert_eq!(status, 401);
            assert!(reason.starts_with("THOI_GIAN_LECH"), "{reason}");
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn plain_http_is_refused_before_any_call() {
    let ndop = start().await;
    let adapter = NdopAdapter::new(ndop.client());
    let url = ndop.citizen_url().replacen("https://", "http://", 1);
    let error = adapter
        .call(call(Method::GET, &url))
        .await
        .expect_err("http");
    assert!(matches!(error, AdapterError::InvalidUrl(_)), "{error:?}");
}

#[test]
fn settings_errors_say_what_to_fix() {
    let pki = NdopPki::generate().expect("pki");
    let mut settings = pki.province_settings("province-01");
    settings.server_ca_pem = String::new();
    let error = NdopClient::new(settings, BreakerSettings::default()).expect_err("no ca");
    assert!(error.to_string().contains("server_ca_pem"), "{error}");
    let mut settings = pki.province_settings("bad id");
    settings.key_id = "bad id".into();
    let error = NdopClient::new(settings, BreakerSettings::default()).expect_err("space");
    assert!(error.to_string().contains("key_id"), "{error}");
    let mut settings = pki.province_settings("province-01");
    settings.response_verify_cert_pem = pki.signing_key_pem.clone();
    let error = NdopClient::new(settings, BreakerSettings::default()).expect_err("key, not cert");
    assert!(
        error.to_string().contains("response_verify_cert_pem"),
        "{error}"
    );
}
