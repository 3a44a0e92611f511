//! The NDOP simulator: the National Data Center's platform on its own TLS
//! listener, speaking the `LGSP-NDOP-1` conventions of [`crate::ndop`].
//!
//! - **mTLS.** A client certificate issued by the [`NdopPki`] CA is required
//!   at the handshake.
//! - **Requests** under `/ndop/v1` must be signed with the province client
//!   certificate's key, within 300 s of the simulator's clock, with a nonce
//!   not seen in the last 600 s. Refusals are 401 `{"maLoi", "moTa"}` with
//!   `CHU_KY_KHONG_HOP_LE`, `THOI_GIAN_LECH` or `YEU_CAU_LAP_LAI`.
//! - **Every answer** (refusals and control answers too) is signed with
//!   NDOP's response-signing key, echoing the request's nonce.
//! - **Routes:** `GET /ndop/v1/citizens/{soDinhDanh}` answers as the
//!   population route does, `GET /ndop/v1/land/parcels/{maThuaDat}` as the
//!   land route does.
//! - **Fault knobs.** The family `ndop` of the shared fault board (latency,
//!   errors, malformed bodies; a reset answers 502 here, since TLS
//!   connections are not served by the resettable server). They can be set
//!   on the main listener's `PUT /__sim/faults/ndop`, or on this listener's
//!   `PUT /__sim/faults/ndop` (mTLS, no request signature needed), which also
//!   takes `bad_signature_next`: the next N answers carry a well-formed but
//!   wrong signature. `GET /__sim/faults/ndop` here shows both.

use std::future::Future;
use std::io;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use serde_json::{Map, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::faults::{self, FaultGate, FaultSettings, RouteKey};
use super::{NdopPki, Simulator, land, population, replies, server};
use crate::ndop::signature::{
    self, NONCE_HEADER, ReplayGuard, SignatureError, SigningKey, VerifyingKey,
};

/// How far a request's timestamp may be from the simulator's clock.
const MAX_SKEW: Duration = Duration::from_secs(300);
/// Most nonces remembered; past it, new requests are refused (503) rather
/// than an old nonce forgotten while it could still be replayed.
const REPLAY_CAPACITY: usize = 200_000;
/// Largest request body read to check its digest.
const MAX_REQUEST_BYTES: usize = 1024 * 1024;
/// Largest answer body signed; the simulator's own answers are far smaller.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;
/// Time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The simulator's keys, nonce cache and signature knob.
struct NdopGuard {
    province_key: VerifyingKey,
    signing_key: SigningKey,
    replay: ReplayGuard,
    bad_signature_next: AtomicU32,
}

impl NdopGuard {
    fn new(pki: &NdopPki) -> io::Result<NdopGuard> {
        Ok(NdopGuard {
            province_key: VerifyingKey::from_certificate_pem(&pki.client_cert_pem)
                .map_err(setup_error)?,
            signing_key: SigningKey::from_pkcs8_pem(&pki.signing_key_pem).map_err(setup_error)?,
            replay: ReplayGuard::new(MAX_SKEW, REPLAY_CAPACITY),
            bad_signature_next: AtomicU32::new(0),
        })
    }
}

/// What the control routes of the NDOP listener reach.
#[derive(Clone)]
struct NdopControl {
    simulator: Simulator,
    guard: Arc<NdopGuard>,
}

fn setup_error(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("NDOP simulator setup: {e}"),
    )
}

impl Simulator {
    /// Serves the NDOP simulator over mTLS on `listener` with `pki`'s server
    /// certificate, until `shutdown` resolves; then drains open connections
    /// for up to 5 s. The PKI is read before the future is returned, so the
    /// future borrows nothing and can be spawned.
    pub fn serve_ndop(
        self,
        listener: TcpListener,
        pki: &NdopPki,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = io::Result<()>> + Send + 'static {
        let prepared = server_tls(pki)
            .and_then(|tls| Ok((tls, Arc::new(NdopGuard::new(pki)?))))
            .map(|(tls, guard)| (TlsAcceptor::from(Arc::new(tls)), router(self, guard)));
        async move {
            let (acceptor, router) = prepared?;
            serve_tls(router, acceptor, listener, shutdown).await
        }
    }
}

/// TLS 1.2+ with NDOP's server certificate, requiring a client certificate
/// issued by the PKI's CA.
fn server_tls(pki: &NdopPki) -> io::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(pki.ca_pem.as_bytes()) {
        roots.add(cert.map_err(setup_error)?).map_err(setup_error)?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(setup_error)?;
    let chain = CertificateDer::pem_slice_iter(pki.server_cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(setup_error)?;
    let key = PrivateKeyDer::from_pem_slice(pki.server_key_pem.as_bytes()).map_err(setup_error)?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(setup_error)?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(setup_error)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The NDOP routes behind signature checks and the fault gate, the control
/// routes beside them, and every answer signed.
fn router(simulator: Simulator, guard: Arc<NdopGuard>) -> Router {
    let gate = FaultGate {
        board: simulator.faults.clone(),
        key: RouteKey::Ndop,
    };
    let data = Router::new()
        .route("/ndop/v1/citizens/{so_dinh_danh}", get(population::citizen))
        .route("/ndop/v1/land/parcels/{ma_thua_dat}", get(land::parcel))
        .route_layer(from_fn_with_state(gate, faults::apply_faults))
        .fallback(unknown_service)
        .layer(from_fn_with_state(guard.clone(), verify_request))
        .with_state(simulator.clone());
    let control = Router::new()
        .route("/__sim/faults/ndop", get(get_knobs).put(put_knobs))
        .with_state(NdopControl {
            simulator,
            guard: guard.clone(),
        });
    control
        .merge(data)
        .layer(from_fn_with_state(guard, sign_answer))
}

/// Answer for paths NDOP does not serve.
async fn unknown_service() -> Response {
    replies::lgsp_error(
        StatusCode::NOT_FOUND,
        "SERVICE_NOT_FOUND",
        "Không tìm thấy dịch vụ",
    )
}

/// A 401 refusal with an NDOP code.
fn refusal(code: &str, text: &str) -> Response {
    replies::lgsp_error(StatusCode::UNAUTHORIZED, code, text)
}

/// Middleware: lets a request through only with a valid, fresh, first-seen signature.
async fn verify_request(
    State(guard): State<Arc<NdopGuard>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_REQUEST_BYTES).await else {
        return replies::lgsp_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            replies::DATA_INCORRECT,
            "Nội dung yêu cầu quá lớn",
        );
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let now = signature::unix_now();
    let verified = signature::verify_request(
        &guard.province_key,
        parts.method.as_str(),
        path,
        &parts.headers,
        &body,
        now,
        MAX_SKEW,
    );
    let refused = match verified {
        Ok(verified) => match guard.replay.check_and_record(&verified.nonce, now) {
            Ok(()) => None,
            Err(SignatureError::ReplayCacheFull) => Some(replies::lgsp_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SYSTEM_BUSY",
                "Hệ thống bận: bộ nhớ chống lặp yêu cầu đã đầy",
            )),
            Err(_) => Some(refusal(
                "YEU_CAU_LAP_LAI",
                "Yêu cầu lặp lại: mã nonce đã được sử dụng",
            )),
        },
        Err(SignatureError::Skew { .. }) => Some(refusal(
            "THOI_GIAN_LECH",
            "Thời gian ký yêu cầu lệch quá 300 giây so với máy chủ NDOP",
        )),
        Err(e) => Some(refusal(
            "CHU_KY_KHONG_HOP_LE",
            &format!("Chữ ký yêu cầu không hợp lệ ({e})"),
        )),
    };
    match refused {
        Some(response) => response,
        None => next.run(Request::from_parts(parts, Body::from(body))).await,
    }
}

/// Decrements a countdown if it is positive; true when it was.
fn take_one(countdown: &AtomicU32) -> bool {
    countdown
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
        .is_ok()
}

/// Middleware: signs every answer over its status, the request's nonce, a
/// timestamp and the body's digest.
async fn sign_answer(
    State(guard): State<Arc<NdopGuard>>,
    request: Request,
    next: Next,
) -> Response {
    // Echoed as sent (even when malformed) so the caller sees what it sent.
    let nonce = request
        .headers()
        .get(NONCE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // The knob spares control answers, or setting it would consume it.
    let corruptible = request.uri().path().starts_with("/ndop/");
    let (mut parts, body) = next.run(request).await.into_parts();
    let body = match axum::body::to_bytes(body, MAX_ANSWER_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            parts.status = StatusCode::INTERNAL_SERVER_ERROR;
            Bytes::new()
        }
    };
    let status = parts.status.as_u16();
    // A corrupted answer is signed for another status: well formed, but wrong.
    let signed_status = if corruptible && take_one(&guard.bad_signature_next) {
        status.wrapping_add(1)
    } else {
        status
    };
    if let Err(error) = signature::sign_response(
        &guard.signing_key,
        signed_status,
        &nonce,
        &body,
        signature::unix_now(),
        &mut parts.headers,
    ) {
        tracing::warn!(%error, "ndop simulator: could not sign an answer");
    }
    Response::from_parts(parts, Body::from(body))
}

/// The `ndop` fault settings with the signature knob.
fn knobs(control: &NdopControl) -> Response {
    let settings = control.simulator.faults.settings(RouteKey::Ndop);
    let mut shown = match serde_json::to_value(settings) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    shown.insert(
        "bad_signature_next".to_owned(),
        Value::from(control.guard.bad_signature_next.load(Ordering::Acquire)),
    );
    replies::json(StatusCode::OK, &shown)
}

/// `GET /__sim/faults/ndop`.
async fn get_knobs(State(control): State<NdopControl>) -> Response {
    knobs(&control)
}

/// `PUT /__sim/faults/ndop`: the fault settings of the `ndop` family plus
/// `bad_signature_next`; an empty body clears them.
async fn put_knobs(State(control): State<NdopControl>, body: Bytes) -> Response {
    let mut object = if body.is_empty() {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(object)) => object,
            _ => return replies::data_incorrect("Cấu hình lỗi giả lập phải là một đối tượng JSON"),
        }
    };
    let bad_signature_next = match object.remove("bad_signature_next") {
        None => 0,
        Some(value) => match value.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) => n,
            None => {
                return replies::data_incorrect("bad_signature_next phải là số nguyên không âm");
            }
        },
    };
    let Ok(settings) = serde_json::from_value::<FaultSettings>(Value::Object(object)) else {
        return replies::data_incorrect("Cấu hình lỗi giả lập không hợp lệ");
    };
    if let Err(reason) = settings.validate() {
        return replies::data_incorrect(reason);
    }
    control.simulator.faults.set(RouteKey::Ndop, settings);
    control
        .guard
        .bad_signature_next
        .store(bad_signature_next, Ordering::Release);
    knobs(&control)
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves, then
/// stops accepting and gives open connections time to finish.
async fn serve_tls(
    router: Router,
    acceptor: TlsAcceptor,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    server::accept_until(listener, shutdown, "ndop simulator", move |stream, stop| {
        serve_tls_connection(stream, acceptor.clone(), router.clone(), stop)
    })
    .await
}

/// Completes the TLS handshake (client certificate required), then serves
/// HTTP/1.1 or HTTP/2 until the connection ends or drains after shutdown.
async fn serve_tls_connection(
    stream: TcpStream,
    acceptor: TlsAcceptor,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    if let Err(error) = stream.set_nodelay(true) {
        tracing::debug!(%error, "ndop simulator: could not set TCP_NODELAY");
    }
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            tracing::debug!(%error, "ndop simulator: TLS handshake refused");
            return;
        }
        Err(_elapsed) => {
            tracing::debug!("ndop simulator: TLS handshake timed out");
            return;
        }
    };
    let builder = auto::Builder::new(TokioExecutor::new());
    let mut connection =
        pin!(builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(router)));
    let mut draining = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "ndop simulator: connection ended with an error");
                }
                break;
            }
            _ = stop.changed(), if !draining => {
                connection.as_mut().graceful_shutdown();
                draining = true;
            }
        }
    }
}
