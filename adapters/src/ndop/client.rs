//! The NDOP client (mTLS, pooled, a breaker per origin) and the adapter over it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt as _, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::signature::{
    self, CONTENT_DIGEST_HEADER, NONCE_HEADER, SIGNATURE_HEADER, SignatureError, SigningKey,
    TIMESTAMP_HEADER, VerifyingKey,
};
use crate::adapter::{
    Adapter, AdapterFuture, UpstreamCall, full_body, read_request_body, read_response_body,
};
use crate::error::AdapterError;
use crate::rest::breaker::{BreakerSettings, CircuitBreaker};
use crate::rest::{BoxError, CallSettings, StreamBody, describe, headers, lock};

/// Longest key id accepted, so it fits any header limit with room to spare.
const MAX_KEY_ID_LEN: usize = 128;
/// Pause before the one retry of an idempotent read.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// Characters of a refusal's reason kept in errors.
const REASON_CHARS: usize = 200;

/// How the province reaches NDOP. Every `*_pem` holds PEM *contents*; the
/// gateway reads the files.
#[derive(Clone, PartialEq, Eq)]
pub struct NdopSettings {
    /// The province's TLS client certificate (leaf first, then intermediates).
    pub client_cert_pem: String,
    /// The private key of the client certificate (PKCS#8, SEC1 or PKCS#1).
    pub client_key_pem: String,
    /// The CA certificate(s) that issue NDOP's server certificate; nothing else is trusted.
    pub server_ca_pem: String,
    /// The province's request-signing key (PKCS#8 ECDSA P-256).
    pub signing_key_pem: String,
    /// The id NDOP knows the signing key by (`X-NDOP-Key-Id`).
    pub key_id: String,
    /// NDOP's response-signing certificate (ECDSA P-256).
    pub response_verify_cert_pem: String,
    /// How far NDOP's response timestamps may be from the local clock.
    pub max_skew: Duration,
}

impl NdopSettings {
    /// The skew window NDOP uses for requests, and the default for responses.
    pub const DEFAULT_MAX_SKEW: Duration = Duration::from_secs(300);
}

impl std::fmt::Debug for NdopSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Private keys never reach logs.
        f.debug_struct("NdopSettings")
            .field("key_id", &self.key_id)
            .field("max_skew", &self.max_skew)
            .finish_non_exhaustive()
    }
}

/// Why NDOP settings cannot be used; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum NdopError {
    /// The client certificate PEM cannot be read.
    #[error("ndop client_cert_pem: {0}; give the province's client certificate as PEM, leaf first")]
    ClientCertificate(String),
    /// The client key PEM cannot be read.
    #[error("ndop client_key_pem: {0}; give the client certificate's private key as PEM")]
    ClientKey(String),
    /// The server CA PEM cannot be read.
    #[error(
        "ndop server_ca_pem: {0}; give the CA certificate(s) that issue NDOP's server certificate as PEM"
    )]
    ServerCa(String),
    /// The signing key cannot be used.
    #[error("ndop signing_key_pem: {0}")]
    SigningKey(SignatureError),
    /// The response-verifying certificate cannot be used.
    #[error("ndop response_verify_cert_pem: {0}")]
    ResponseVerifyCert(SignatureError),
    /// The key id cannot be sent in a header.
    #[error("ndop key_id must be 1 to {MAX_KEY_ID_LEN} visible ASCII characters")]
    KeyId,
    /// The skew window is empty.
    #[error("ndop max_skew must be at least 1 second")]
    MaxSkew,
    /// rustls refused the TLS identity.
    #[error("ndop TLS setup failed: {0}; check that client_key_pem is the key of client_cert_pem")]
    Tls(String),
}

/// A request signed for NDOP, ready to send once (its nonce is single-use).
#[derive(Debug, Clone)]
pub struct SignedRequest {
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
    nonce: String,
}

impl SignedRequest {
    /// The nonce the answer must echo.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// The headers, signature headers included.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }
}

type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The province's client to NDOP: its TLS identity, its signing key, NDOP's
/// verifying key, and pooled connections and a breaker per origin.
pub struct NdopClient {
    tls: ClientConfig,
    clients: Mutex<HashMap<Duration, HttpsClient>>,
    signing_key: SigningKey,
    key_id: String,
    verifying_key: VerifyingKey,
    max_skew: Duration,
    breaker_settings: BreakerSettings,
    breakers: Mutex<HashMap<String, Arc<CircuitBreaker>>>,
}

impl std::fmt::Debug for NdopClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdopClient")
            .field("key_id", &self.key_id)
            .field("max_skew", &self.max_skew)
            .finish_non_exhaustive()
    }
}

impl NdopClient {
    /// Checks the settings and builds the TLS identity and keys.
    pub fn new(settings: NdopSettings, breaker: BreakerSettings) -> Result<NdopClient, NdopError> {
        let key_id_ok = !settings.key_id.is_empty()
            && settings.key_id.len() <= MAX_KEY_ID_LEN
            && settings.key_id.bytes().all(|b| b.is_ascii_graphic());
        if !key_id_ok {
            return Err(NdopError::KeyId);
        }
        if settings.max_skew < Duration::from_secs(1) {
            return Err(NdopError::MaxSkew);
        }
        let signing_key =
            SigningKey::from_pkcs8_pem(&settings.signing_key_pem).map_err(NdopError::SigningKey)?;
        let verifying_key = VerifyingKey::from_certificate_pem(&settings.response_verify_cert_pem)
            .map_err(NdopError::ResponseVerifyCert)?;
        let tls = tls_config(&settings)?;
        Ok(NdopClient {
            tls,
            clients: Mutex::default(),
            signing_key,
            key_id: settings.key_id,
            verifying_key,
            max_skew: settings.max_skew,
            breaker_settings: breaker,
            breakers: Mutex::default(),
        })
    }

    /// Signs a request now, with a fresh nonce.
    pub fn sign(
        &self,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<SignedRequest, AdapterError> {
        self.sign_at(method, uri, headers, body, signature::unix_now())
    }

    /// Signs a request as if at `timestamp` (unix seconds), with a fresh nonce;
    /// for tests and tools that must control the clock.
    pub fn sign_at(
        &self,
        method: Method,
        uri: Uri,
        mut headers: HeaderMap,
        body: Bytes,
        timestamp: u64,
    ) -> Result<SignedRequest, AdapterError> {
        https_origin(&uri)?;
        // The pooled client derives these from the URI and the buffered body.
        for name in [
            http::header::HOST,
            http::header::CONTENT_LENGTH,
            http::header::TRANSFER_ENCODING,
        ] {
            headers.remove(name);
        }
        let nonce = signature::new_nonce().map_err(signing_failed)?;
        let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
        signature::sign_request(
            &self.signing_key,
            &self.key_id,
            method.as_str(),
            path_and_query,
            &body,
            timestamp,
            &nonce,
            &mut headers,
        )
        .map_err(signing_failed)?;
        Ok(SignedRequest {
            method,
            uri,
            headers,
            body,
            nonce,
        })
    }

    /// Sends a signed request once and verifies the answer.
    ///
    /// 5xx → [`AdapterError::Status`]; a missing, wrong or stale answer
    /// signature, or one for another nonce → [`AdapterError::BadSignature`];
    /// a signed 401 or 403 (NDOP refused the province's signature or
    /// certificate) → [`AdapterError::Rejected`]. Other answers come back
    /// buffered, without hop-by-hop or signature headers. `settings.timeout`
    /// bounds the whole exchange, since the body must be read to be verified.
    pub async fn send_signed(
        &self,
        request: &SignedRequest,
        settings: &CallSettings,
    ) -> Result<Response<StreamBody>, AdapterError> {
        let origin = https_origin(&request.uri)?;
        let breaker = self.breaker(&origin);
        let permit = breaker
            .try_acquire()
            .ok_or_else(|| AdapterError::CircuitOpen {
                upstream: origin.clone(),
            })?;
        let mut outgoing = Request::new(Full::new(request.body.clone()));
        *outgoing.method_mut() = request.method.clone();
        *outgoing.uri_mut() = request.uri.clone();
        *outgoing.headers_mut() = request.headers.clone();
        let client = self.client(settings.connect_timeout);
        let exchange = async {
            let response = client
                .request(outgoing)
                .await
                .map_err(|e| AdapterError::Transport(describe(&e)))?;
            let (parts, body) = response.into_parts();
            let body = body.map_err(|e| Box::new(e) as BoxError).boxed_unsync();
            let body = read_response_body(body, settings.max_response_bytes).await?;
            Ok::<_, AdapterError>((parts, body))
        };
        let (mut parts, body) = match tokio::time::timeout(settings.timeout, exchange).await {
            Err(_elapsed) => {
                breaker.record(permit, false);
                return Err(AdapterError::Timeout(settings.timeout));
            }
            Ok(Err(e @ AdapterError::ResponseTooLarge { .. })) => {
                // NDOP answered; the service's limit is the province's choice.
                breaker.record(permit, true);
                return Err(e);
            }
            Ok(Err(e)) => {
                breaker.record(permit, false);
                return Err(e);
            }
            Ok(Ok(answer)) => answer,
        };
        let status = parts.status;
        if status.is_server_error() {
            breaker.record(permit, false);
            return Err(AdapterError::Status {
                status: status.as_u16(),
            });
        }
        if let Err(e) = signature::verify_response(
            &self.verifying_key,
            status.as_u16(),
            &parts.headers,
            &body,
            &request.nonce,
            signature::unix_now(),
            self.max_skew,
        ) {
            breaker.record(permit, false);
            tracing::warn!(upstream = %origin, status = status.as_u16(), error = %e, "ndop: answer signature refused");
            return Err(AdapterError::BadSignature(e.to_string()));
        }
        breaker.record(permit, true);
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(AdapterError::Rejected {
                status: status.as_u16(),
                reason: refusal_reason(&body),
            });
        }
        headers::inbound_response_headers(&mut parts.headers);
        // Verified here; they mean nothing to the consumer.
        for name in [
            SIGNATURE_HEADER,
            NONCE_HEADER,
            TIMESTAMP_HEADER,
            CONTENT_DIGEST_HEADER,
        ] {
            parts.headers.remove(name);
        }
        Ok(Response::from_parts(parts, full_body(body)))
    }

    fn breaker(&self, origin: &str) -> Arc<CircuitBreaker> {
        lock(&self.breakers)
            .entry(origin.to_owned())
            .or_insert_with(|| Arc::new(CircuitBreaker::new(self.breaker_settings)))
            .clone()
    }

    fn client(&self, connect_timeout: Duration) -> HttpsClient {
        lock(&self.clients)
            .entry(connect_timeout)
            .or_insert_with(|| {
                let mut http = HttpConnector::new();
                http.set_connect_timeout(Some(connect_timeout));
                http.set_nodelay(true);
                // TLS is layered on top; the inner connector sees https URIs.
                http.enforce_http(false);
                let connector = HttpsConnectorBuilder::new()
                    .with_tls_config(self.tls.clone())
                    .https_only()
                    .enable_http1()
                    .enable_http2()
                    .wrap_connector(http);
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .build(connector)
            })
            .clone()
    }
}

/// The NDOP adapter (`kind() == "ndop"`): signs each call, sends it over
/// mTLS and verifies the signed answer.
#[derive(Debug, Clone)]
pub struct NdopAdapter {
    /// The shared client.
    pub client: Arc<NdopClient>,
}

impl NdopAdapter {
    /// An adapter over `client`.
    pub fn new(client: Arc<NdopClient>) -> NdopAdapter {
        NdopAdapter { client }
    }

    async fn exchange(&self, call: UpstreamCall) -> Result<Response<StreamBody>, AdapterError> {
        let UpstreamCall {
            request, settings, ..
        } = call;
        let (parts, body) = request.into_parts();
        https_origin(&parts.uri)?;
        let body = read_request_body(body, settings.max_request_bytes).await?;
        // A read can be repeated safely; anything else might act twice at NDOP.
        let attempts = if matches!(parts.method, Method::GET | Method::HEAD) && settings.retries > 0
        {
            2
        } else {
            1
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            // Each attempt gets its own nonce: NDOP refuses a nonce it has seen.
            let signed = self.client.sign(
                parts.method.clone(),
                parts.uri.clone(),
                parts.headers.clone(),
                body.clone(),
            )?;
            match self.client.send_signed(&signed, &settings).await {
                Err(AdapterError::Transport(_)) if attempt < attempts => {
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
                outcome => return outcome,
            }
        }
    }
}

impl Adapter for NdopAdapter {
    fn kind(&self) -> &'static str {
        "ndop"
    }

    fn call(&self, call: UpstreamCall) -> AdapterFuture<'_> {
        Box::pin(self.exchange(call))
    }
}

/// `https://authority` of an absolute https URI; NDOP is only spoken over TLS.
fn https_origin(uri: &Uri) -> Result<String, AdapterError> {
    match (uri.scheme_str(), uri.authority()) {
        (Some("https"), Some(authority)) => Ok(format!("https://{authority}")),
        (Some(other), Some(_)) => Err(AdapterError::InvalidUrl(format!(
            "NDOP is only reached over https, not {other}"
        ))),
        _ => Err(AdapterError::InvalidUrl(format!(
            "{uri} is not an absolute URL"
        ))),
    }
}

fn signing_failed(e: SignatureError) -> AdapterError {
    AdapterError::Transport(format!("signing the NDOP request failed: {e}"))
}

/// NDOP's `maLoi: moTa`, or the start of the body when it is not that shape.
fn refusal_reason(body: &[u8]) -> String {
    let parsed = serde_json::from_slice::<serde_json::Value>(body).ok();
    let field = |name: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let text = match (field("maLoi"), field("moTa")) {
        (Some(code), Some(text)) => format!("{code}: {text}"),
        (Some(code), None) => code,
        _ => String::from_utf8_lossy(body).into_owned(),
    };
    text.chars().take(REASON_CHARS).collect()
}

/// TLS 1.2+ on the ring provider, trusting only `server_ca_pem`, presenting
/// the client certificate.
fn tls_config(settings: &NdopSettings) -> Result<ClientConfig, NdopError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(settings.server_ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| NdopError::ServerCa(e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| NdopError::ServerCa(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(NdopError::ServerCa("no certificate found".into()));
    }
    let chain = CertificateDer::pem_slice_iter(settings.client_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| NdopError::ClientCertificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(NdopError::ClientCertificate("no certificate found".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(settings.client_key_pem.as_bytes())
        .map_err(|e| NdopError::ClientKey(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| NdopError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| NdopError::Tls(e.to_string()))
}
