//! Channel monitoring: a background task that probes every upstream channel
//! on a fixed interval and keeps what it found for the admin plane
//! (`GET /admin/v1/health/channels`) and for `/metrics`.
//!
//! A channel is one upstream origin (`scheme://host:port`) of the services in
//! the current registry snapshot, re-derived every round so registry changes
//! are followed, plus each token endpoint named in `monitoring.token_endpoints`.
//! A probe connects (and, for https, completes a TLS handshake that checks the
//! certificate against Mozilla's roots and `monitoring.upstream_ca`); when the
//! services declare an `upstream.health_path`, it also GETs that path and
//! expects a 2xx answer. The peer certificate's expiry is read during the
//! handshake, even when verification fails, so an expired or untrusted
//! certificate is reported with its dates. The gateway's own data-listener
//! certificate (`tls.cert`) is re-read every round, so a renewed file is seen
//! without a restart.
//!
//! Nothing here carries personal data: channels are origins (registry URLs
//! have no query strings in their keys), errors are the prober's own words.

use crate::admin::accounts::Role;
use crate::admin::auth::{AdminCaller, require};
use crate::admin::error::AdminError;
use crate::admin::timestamps::{VIETNAM_OFFSET_MINUTES, format_rfc3339};
use crate::config::Config;
use crate::registry::model::ServiceState;
use crate::registry::snapshot::{Snapshot, SnapshotHandle};
use crate::server::NodeState;
use axum::Json;
use axum::extract::State;
use bytes::Bytes;
use http::uri::{PathAndQuery, Scheme};
use http::{Request, StatusCode, Uri, header};
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tokio_rustls::TlsConnector;
use x509_cert::der::Decode as _;

const SECONDS_PER_DAY: i64 = 86_400;

/// What the monitor needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct ChannelSettings {
    /// Time between the starts of two probe rounds.
    pub interval: Duration,
    /// Bound on one probe, from connect to the health answer's head.
    pub timeout: Duration,
    /// A probe slower than this marks the channel `degraded`.
    pub slow: Duration,
    /// A certificate with less validity left than this is `expiring`.
    pub certificate_warning: Duration,
    /// PEM file of private CAs trusted for https upstreams, besides Mozilla's roots.
    pub upstream_ca: Option<PathBuf>,
    /// Token endpoints probed as channels of kind `token_endpoint`.
    pub token_endpoints: Vec<String>,
    /// The gateway's own data-listener certificate (PEM), when it serves TLS.
    pub gateway_certificate: Option<PathBuf>,
}

impl ChannelSettings {
    /// The settings of `[monitoring]` and `tls.cert`.
    pub fn from_config(config: &Config) -> ChannelSettings {
        let m = &config.monitoring;
        ChannelSettings {
            interval: Duration::from_millis(m.probe_interval_ms),
            timeout: Duration::from_millis(m.probe_timeout_ms),
            slow: Duration::from_millis(m.probe_slow_ms),
            certificate_warning: Duration::from_secs(
                u64::from(m.cert_warning_days) * SECONDS_PER_DAY as u64,
            ),
            upstream_ca: m.upstream_ca.clone(),
            token_endpoints: m.token_endpoints.clone(),
            gateway_certificate: config.tls.as_ref().map(|tls| tls.cert.clone()),
        }
    }
}

/// Why channel monitoring could not start.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The private CA file for https upstreams is unusable.
    #[error("monitoring.upstream_ca {path}: {problem}")]
    UpstreamCa {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// Whether `path` can be an `upstream.health_path`: an absolute path on the
/// origin, without query or fragment (so nothing but a path reaches logs).
pub fn is_health_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains(['?', '#']) && path.parse::<PathAndQuery>().is_ok()
}

/// Whether `url` can be probed as a token endpoint: absolute http(s), no
/// credentials, query or fragment.
pub fn is_token_endpoint(url: &str) -> bool {
    !url.contains(['@', '?', '#']) && Origin::parse(url).is_some()
}

/// What a channel leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// The origin of one or more services' upstreams.
    Upstream,
    /// An OAuth2 token endpoint the gateway depends on.
    TokenEndpoint,
}

impl ChannelKind {
    /// The kind as shown in JSON and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Upstream => "upstream",
            ChannelKind::TokenEndpoint => "token_endpoint",
        }
    }
}

/// What the last probe of a channel found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    /// Not probed yet.
    Unknown,
    /// Answered in time, with a good health answer.
    Up,
    /// Answered, but slower than `monitoring.probe_slow_ms` or with a bad health answer.
    Degraded,
    /// No connection, no TLS, or no answer within `monitoring.probe_timeout_ms`.
    Down,
}

impl ChannelState {
    fn as_str(self) -> &'static str {
        match self {
            ChannelState::Unknown => "unknown",
            ChannelState::Up => "up",
            ChannelState::Degraded => "degraded",
            ChannelState::Down => "down",
        }
    }
}

/// How much validity a certificate has left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertificateState {
    /// More than `monitoring.cert_warning_days` left.
    Valid,
    /// Fewer than `monitoring.cert_warning_days` left.
    Expiring,
    /// Past its notAfter.
    Expired,
}

impl CertificateState {
    /// The state of a certificate valid until `not_after` (unix seconds) at `now`.
    pub fn at(not_after: i64, now: i64, warning: Duration) -> CertificateState {
        let left = not_after.saturating_sub(now);
        if left <= 0 {
            CertificateState::Expired
        } else if i128::from(left) < i128::from(warning.as_secs()) {
            CertificateState::Expiring
        } else {
            CertificateState::Valid
        }
    }
}

/// The facts read from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// Its subject, as an RFC 4514 string.
    pub subject: String,
    /// Its notAfter, unix seconds.
    pub not_after: i64,
}

impl Certificate {
    /// Reads subject and notAfter from a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Certificate, String> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("certificate does not parse: {e}"))?;
        let tbs = cert.tbs_certificate;
        Ok(Certificate {
            subject: tbs.subject.to_string(),
            not_after: i64::try_from(tbs.validity.not_after.to_unix_duration().as_secs())
                .unwrap_or(i64::MAX),
        })
    }

    /// Reads the first certificate of a PEM file (the leaf of a chain).
    pub fn from_pem_file(path: &Path) -> Result<Certificate, String> {
        let first = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read {}: {}", path.display(), pem_reason(&e)))?
            .next()
            .ok_or_else(|| format!("no certificate in {}", path.display()))?
            .map_err(|e| format!("cannot read {}: {}", path.display(), pem_reason(&e)))?;
        Certificate::from_der(&first)
    }
}

fn pem_reason(error: &rustls::pki_types::pem::Error) -> String {
    match error {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        _ => "malformed PEM".into(),
    }
}

/// An observable change of a channel or certificate; each logs in one place.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelEvent {
    /// A channel stopped answering.
    Down {
        /// The channel.
        channel: String,
        /// Its kind.
        kind: ChannelKind,
        /// Why the probe failed.
        error: String,
    },
    /// A channel answers, but slowly or with a bad health answer.
    Degraded {
        /// The channel.
        channel: String,
        /// Its kind.
        kind: ChannelKind,
        /// What is wrong.
        reason: String,
    },
    /// A channel that was down or degraded is up again.
    Recovered {
        /// The channel.
        channel: String,
        /// Its kind.
        kind: ChannelKind,
        /// What it was before.
        was: ChannelState,
        /// How long the recovering probe took.
        latency: Duration,
    },
    /// A certificate entered its warning window or expired.
    Certificate {
        /// The channel, or `gateway` for the data listener's own certificate.
        channel: String,
        /// `upstream` or `gateway`.
        which: &'static str,
        /// Its subject.
        subject: String,
        /// `expiring` or `expired`.
        state: CertificateState,
        /// Whole days left; once expired, whole days since (negative).
        days_remaining: i64,
        /// Its notAfter, RFC 3339.
        not_after: String,
    },
    /// The gateway's own certificate file could not be read.
    GatewayCertificateUnreadable {
        /// Why.
        error: String,
    },
}

impl ChannelEvent {
    /// Logs the event.
    pub fn emit(&self) {
        match self {
            ChannelEvent::Down {
                channel,
                kind,
                error,
            } => tracing::warn!(
                event = "channel_down",
                channel = channel.as_str(),
                kind = kind.as_str(),
                error = error.as_str()
            ),
            ChannelEvent::Degraded {
                channel,
                kind,
                reason,
            } => tracing::warn!(
                event = "channel_degraded",
                channel = channel.as_str(),
                kind = kind.as_str(),
                reason = reason.as_str()
            ),
            ChannelEvent::Recovered {
                channel,
                kind,
                was,
                latency,
            } => tracing::info!(
                event = "channel_recovered",
                channel = channel.as_str(),
                kind = kind.as_str(),
                was = was.as_str(),
                latency_ms = latency.as_secs_f64() * 1000.0
            ),
            ChannelEvent::Certificate {
                channel,
                which,
                subject,
                state,
                days_remaining,
                not_after,
            } => match state {
                CertificateState::Expired => tracing::error!(
                    event = "certificate_expired",
                    channel = channel.as_str(),
                    which = *which,
                    subject = subject.as_str(),
                    days_remaining = *days_remaining,
                    not_after = not_after.as_str()
                ),
                _ => tracing::warn!(
                    event = "certificate_expiring",
                    channel = channel.as_str(),
                    which = *which,
                    subject = subject.as_str(),
                    days_remaining = *days_remaining,
                    not_after = not_after.as_str()
                ),
            },
            ChannelEvent::GatewayCertificateUnreadable { error } => tracing::error!(
                event = "gateway_certificate_unreadable",
                error = error.as_str()
            ),
        }
    }
}

/// `scheme://host:port` of an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    https: bool,
    /// As written in a URL: IPv6 addresses keep their brackets.
    host: String,
    port: u16,
}

impl Origin {
    /// The origin and path of an absolute http(s) URL; `None` for anything else.
    fn parse(url: &str) -> Option<(Origin, String)> {
        let uri: Uri = url.parse().ok()?;
        let https = match uri.scheme() {
            Some(s) if *s == Scheme::HTTPS => true,
            Some(s) if *s == Scheme::HTTP => false,
            _ => return None,
        };
        let host = uri.host().filter(|h| !h.is_empty())?.to_ascii_lowercase();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let path = match uri.path() {
            "" => "/".to_string(),
            p => p.to_string(),
        };
        Some((Origin { https, host, port }, path))
    }

    fn key(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// The host without IPv6 brackets, for connecting and for TLS server names.
    fn bare_host(&self) -> &str {
        self.host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(&self.host)
    }
}

/// Which health answers count as healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Healthy {
    /// 2xx, for declared health paths.
    Success,
    /// Anything below 500: a token endpoint refuses an anonymous GET, but answering at all shows it serves.
    BelowServerError,
}

/// One channel to probe this round.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    key: String,
    kind: ChannelKind,
    origin: Origin,
    /// Paths to GET; empty means connect (and handshake) only.
    paths: Vec<String>,
    healthy: Healthy,
    /// `slug/version` of the services routed over the channel.
    services: Vec<String>,
}

impl Target {
    fn probe_description(&self) -> String {
        if self.paths.is_empty() {
            return if self.origin.https { "tls" } else { "tcp" }.to_string();
        }
        self.paths
            .iter()
            .map(|p| format!("GET {p}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The channels of a snapshot: one per upstream origin of a service that can
/// carry traffic (draft and retired services carry none), then one per token endpoint.
fn targets(snapshot: &Snapshot, token_endpoints: &[String]) -> Vec<Target> {
    let mut by_origin: BTreeMap<String, Target> = BTreeMap::new();
    for service in &snapshot.data.services {
        if matches!(service.state, ServiceState::Draft | ServiceState::Retired) {
            continue;
        }
        let Some((origin, _)) = Origin::parse(&service.upstream.url) else {
            continue;
        };
        let key = origin.key();
        let target = by_origin.entry(key.clone()).or_insert_with(|| Target {
            key,
            kind: ChannelKind::Upstream,
            origin,
            paths: Vec::new(),
            healthy: Healthy::Success,
            services: Vec::new(),
        });
        target
            .services
            .push(format!("{}/{}", service.slug, service.version));
        if let Some(path) = &service.upstream.health_path
            && is_health_path(path)
            && !target.paths.contains(path)
        {
            target.paths.push(path.clone());
        }
    }
    let mut targets: Vec<Target> = by_origin
        .into_values()
        .map(|mut t| {
            t.services.sort();
            t.paths.sort();
            t
        })
        .collect();
    for url in token_endpoints {
        if let Some((origin, path)) = Origin::parse(url).filter(|_| is_token_endpoint(url)) {
            targets.push(Target {
                key: format!("{}{path}", origin.key()),
                kind: ChannelKind::TokenEndpoint,
                origin,
                paths: vec![path],
                healthy: Healthy::BelowServerError,
                services: Vec::new(),
            });
        }
    }
    targets
}

/// What one probe of a channel found.
#[derive(Debug, Clone, PartialEq)]
struct Probe {
    state: ChannelState,
    /// Whether the probe failed (down, or a bad health answer); slowness alone is no failure.
    failed: bool,
    latency: Duration,
    error: Option<String>,
    /// The peer certificate, for https channels that got that far.
    certificate: Option<Result<Certificate, String>>,
}

/// Verifies like webpki, but keeps the end-entity certificate it was shown,
/// so expiry is known even when verification fails.
#[derive(Debug)]
struct RecordingVerifier {
    inner: Arc<WebPkiServerVerifier>,
    seen: Arc<Mutex<Option<CertificateDer<'static>>>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(end_entity.clone().into_owned());
        self.inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// TLS to https upstreams: Mozilla's roots plus `monitoring.upstream_ca`.
#[derive(Debug)]
struct TlsProbe {
    provider: Arc<CryptoProvider>,
    verifier: Arc<WebPkiServerVerifier>,
}

impl TlsProbe {
    fn new(upstream_ca: Option<&Path>) -> Result<TlsProbe, ChannelError> {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(path) = upstream_ca {
            let invalid = |problem: String| ChannelError::UpstreamCa {
                path: path.display().to_string(),
                problem,
            };
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| invalid(pem_reason(&e)))?;
            if certs.is_empty() {
                return Err(invalid("no certificate in the file".into()));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| invalid(e.to_string()))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| ChannelError::UpstreamCa {
                    path: upstream_ca
                        .map(|p| p.display().to_string())
                        .unwrap_or_default(),
                    problem: e.to_string(),
                })?;
        Ok(TlsProbe { provider, verifier })
    }

    async fn handshake(
        &self,
        origin: &Origin,
        tcp: TcpStream,
        seen: &Arc<Mutex<Option<CertificateDer<'static>>>>,
    ) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
        let verifier = Arc::new(RecordingVerifier {
            inner: self.verifier.clone(),
            seen: seen.clone(),
        });
        // `dangerous` is only rustls' door for a custom verifier: this one
        // delegates every check to webpki and merely keeps the certificate.
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = ServerName::try_from(origin.bare_host().to_string())
            .map_err(|_| "the host is not a valid TLS server name".to_string())?;
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| tls_reason(&e))
    }
}

/// A TLS failure in an operator's words; a failed verification is named as such.
fn tls_reason(error: &std::io::Error) -> String {
    use rustls::CertificateError as C;
    let Some(tls) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return format!("TLS handshake: {error}");
    };
    match tls {
        rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
            "certificate expired".into()
        }
        rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
            "certificate not trusted (unknown issuer)".into()
        }
        rustls::Error::InvalidCertificate(
            C::NotValidForName | C::NotValidForNameContext { .. },
        ) => "certificate not trusted (not valid for this host)".into(),
        rustls::Error::InvalidCertificate(other) => {
            format!("certificate not trusted ({other:?})")
        }
        other => format!("TLS handshake failed: {other}"),
    }
}

/// GETs `path` over `io` and returns the answer's status; the body is not read.
async fn get_status<S>(io: S, host: &str, path: &str) -> Result<StatusCode, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(io))
            .await
            .map_err(|e| format!("HTTP: {e}"))?;
    let request = Request::get(path)
        .header(header::HOST, host)
        .header(header::USER_AGENT, "lgsp-channel-probe")
        .header(header::CONNECTION, "close")
        .body(Empty::new())
        .map_err(|e| format!("HTTP request: {e}"))?;
    let answer = sender.send_request(request);
    tokio::pin!(connection, answer);
    // The connection must be driven for the answer to arrive; it may also end
    // first (the peer closed), and then the answer says why.
    let response = tokio::select! {
        biased;
        response = &mut answer => response,
        ended = &mut connection => match ended {
            Err(e) => return Err(format!("HTTP: {e}")),
            Ok(()) => answer.await,
        },
    };
    response
        .map(|r| r.status())
        .map_err(|e| format!("HTTP: {e}"))
}

/// One connection to `origin`, a TLS handshake for https, and a GET of `path` if given.
async fn exchange(
    origin: &Origin,
    path: Option<&str>,
    tls: &TlsProbe,
    seen: &Arc<Mutex<Option<CertificateDer<'static>>>>,
) -> Result<Option<StatusCode>, String> {
    let tcp = TcpStream::connect((origin.bare_host(), origin.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let host = if (origin.https && origin.port == 443) || (!origin.https && origin.port == 80) {
        origin.host.clone()
    } else {
        format!("{}:{}", origin.host, origin.port)
    };
    if origin.https {
        let stream = tls.handshake(origin, tcp, seen).await?;
        match path {
            Some(path) => get_status(stream, &host, path).await.map(Some),
            None => Ok(None),
        }
    } else {
        match path {
            Some(path) => get_status(tcp, &host, path).await.map(Some),
            None => Ok(None),
        }
    }
}

/// Probes one path of a target (or connects only, with `None`).
async fn probe_once(
    target: &Target,
    path: Option<&str>,
    tls: &TlsProbe,
    settings: &ChannelSettings,
) -> Probe {
    let seen = Arc::new(Mutex::new(None));
    let started = Instant::now();
    let outcome =
        tokio::time::timeout(settings.timeout, exchange(&target.origin, path, tls, &seen)).await;
    let latency = started.elapsed();
    let certificate = seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .map(|der| Certificate::from_der(&der));
    let (state, failed, error) = match outcome {
        Err(_) => (
            ChannelState::Down,
            true,
            Some(format!(
                "no answer within {} ms",
                settings.timeout.as_millis()
            )),
        ),
        Ok(Err(error)) => (ChannelState::Down, true, Some(error)),
        Ok(Ok(Some(status)))
            if !match target.healthy {
                Healthy::Success => status.is_success(),
                Healthy::BelowServerError => !status.is_server_error(),
            } =>
        {
            (
                ChannelState::Degraded,
                true,
                Some(format!(
                    "GET {} answered {}",
                    path.unwrap_or("/"),
                    status.as_u16()
                )),
            )
        }
        Ok(Ok(_)) if latency > settings.slow => (
            ChannelState::Degraded,
            false,
            Some(format!(
                "slow: {} ms, over monitoring.probe_slow_ms ({} ms)",
                latency.as_millis(),
                settings.slow.as_millis()
            )),
        ),
        Ok(Ok(_)) => (ChannelState::Up, false, None),
    };
    Probe {
        state,
        failed,
        latency,
        error,
        certificate,
    }
}

/// Probes every path of a target; the worst answer stands for the channel.
async fn probe(target: &Target, tls: &TlsProbe, settings: &ChannelSettings) -> Probe {
    let mut paths = target.paths.iter();
    let Some(first) = paths.next() else {
        return probe_once(target, None, tls, settings).await;
    };
    let mut worst = probe_once(target, Some(first), tls, settings).await;
    for path in paths {
        let next = probe_once(target, Some(path), tls, settings).await;
        let latency = worst.latency.max(next.latency);
        worst = if severity(next.state) > severity(worst.state) {
            Probe {
                latency,
                certificate: next.certificate.or(worst.certificate),
                ..next
            }
        } else {
            Probe {
                latency,
                certificate: worst.certificate.or(next.certificate),
                ..worst
            }
        };
    }
    worst
}

fn severity(state: ChannelState) -> u8 {
    match state {
        ChannelState::Unknown => 0,
        ChannelState::Up => 1,
        ChannelState::Degraded => 2,
        ChannelState::Down => 3,
    }
}

/// What is known of one channel.
#[derive(Debug, Clone)]
struct Channel {
    kind: ChannelKind,
    probe: String,
    services: Vec<String>,
    state: ChannelState,
    last_probe: Option<SystemTime>,
    last_latency: Option<Duration>,
    consecutive_failures: u32,
    failures_total: u64,
    last_error: Option<String>,
    certificate: Option<Result<Certificate, String>>,
    /// The certificate state last reported, so a warning is logged once per change.
    certificate_state: Option<CertificateState>,
}

impl Channel {
    fn new(target: &Target) -> Channel {
        Channel {
            kind: target.kind,
            probe: target.probe_description(),
            services: target.services.clone(),
            state: ChannelState::Unknown,
            last_probe: None,
            last_latency: None,
            consecutive_failures: 0,
            failures_total: 0,
            last_error: None,
            certificate: None,
            certificate_state: None,
        }
    }
}

/// Everything the monitor knows.
#[derive(Debug, Default)]
struct BoardState {
    channels: BTreeMap<String, Channel>,
    gateway: Option<Result<Certificate, String>>,
    gateway_state: Option<Result<CertificateState, ()>>,
    last_round: Option<SystemTime>,
}

fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

fn unix_millis(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

fn certificate_event(
    channel: &str,
    which: &'static str,
    certificate: &Certificate,
    state: CertificateState,
    now: i64,
) -> ChannelEvent {
    ChannelEvent::Certificate {
        channel: channel.to_string(),
        which,
        subject: certificate.subject.clone(),
        state,
        days_remaining: certificate.not_after.saturating_sub(now) / SECONDS_PER_DAY,
        not_after: format_rfc3339(
            certificate.not_after.saturating_mul(1000),
            VIETNAM_OFFSET_MINUTES,
        ),
    }
}

impl BoardState {
    /// Forgets channels no longer in the registry and adds new ones.
    fn follow(&mut self, targets: &[Target]) {
        self.channels
            .retain(|key, _| targets.iter().any(|t| &t.key == key));
        for target in targets {
            let channel = self
                .channels
                .entry(target.key.clone())
                .or_insert_with(|| Channel::new(target));
            channel.probe = target.probe_description();
            channel.services.clone_from(&target.services);
        }
    }

    /// Records a probe and returns the events it causes.
    fn record(
        &mut self,
        target: &Target,
        probe: Probe,
        now: SystemTime,
        warning: Duration,
    ) -> Vec<ChannelEvent> {
        let mut events = Vec::new();
        let channel = self
            .channels
            .entry(target.key.clone())
            .or_insert_with(|| Channel::new(target));
        let was = channel.state;
        match (was, probe.state) {
            (ChannelState::Down, ChannelState::Down)
            | (ChannelState::Degraded, ChannelState::Degraded)
            | (ChannelState::Unknown | ChannelState::Up, ChannelState::Up)
            | (_, ChannelState::Unknown) => {}
            (_, ChannelState::Down) => events.push(ChannelEvent::Down {
                channel: target.key.clone(),
                kind: target.kind,
                error: probe.error.clone().unwrap_or_default(),
            }),
            (ChannelState::Down, ChannelState::Degraded | ChannelState::Up)
            | (ChannelState::Degraded, ChannelState::Up) => {
                events.push(ChannelEvent::Recovered {
                    channel: target.key.clone(),
                    kind: target.kind,
                    was,
                    latency: probe.latency,
                });
                if probe.state == ChannelState::Degraded {
                    events.push(ChannelEvent::Degraded {
                        channel: target.key.clone(),
                        kind: target.kind,
                        reason: probe.error.clone().unwrap_or_default(),
                    });
                }
            }
            (_, ChannelState::Degraded) => events.push(ChannelEvent::Degraded {
                channel: target.key.clone(),
                kind: target.kind,
                reason: probe.error.clone().unwrap_or_default(),
            }),
        }
        channel.state = probe.state;
        channel.last_probe = Some(now);
        channel.last_latency = Some(probe.latency);
        channel.last_error = probe.error;
        if probe.failed {
            channel.consecutive_failures = channel.consecutive_failures.saturating_add(1);
            channel.failures_total = channel.failures_total.saturating_add(1);
        } else {
            channel.consecutive_failures = 0;
        }
        if let Some(certificate) = probe.certificate {
            let now = unix_seconds(now);
            let state = certificate
                .as_ref()
                .ok()
                .map(|c| CertificateState::at(c.not_after, now, warning));
            if let (Ok(cert), Some(state)) = (&certificate, state)
                && state != CertificateState::Valid
                && channel.certificate_state != Some(state)
            {
                events.push(certificate_event(&target.key, "upstream", cert, state, now));
            }
            channel.certificate_state = state;
            channel.certificate = Some(certificate);
        }
        events
    }

    /// Records the gateway's own certificate and returns the events it causes.
    fn record_gateway(
        &mut self,
        certificate: Result<Certificate, String>,
        now: SystemTime,
        warning: Duration,
    ) -> Vec<ChannelEvent> {
        let now = unix_seconds(now);
        let state = certificate
            .as_ref()
            .map(|c| CertificateState::at(c.not_after, now, warning))
            .map_err(|_| ());
        let mut events = Vec::new();
        if self.gateway_state != Some(state) {
            match (&certificate, state) {
                (Err(error), _) => events.push(ChannelEvent::GatewayCertificateUnreadable {
                    error: error.clone(),
                }),
                (Ok(cert), Ok(state)) if state != CertificateState::Valid => {
                    events.push(certificate_event("gateway", "gateway", cert, state, now));
                }
                _ => {}
            }
        }
        self.gateway_state = Some(state);
        self.gateway = Some(certificate);
        events
    }
}

/// A certificate as the admin plane shows it.
#[derive(Debug, Serialize)]
struct CertificateView {
    subject: Option<String>,
    not_after: Option<String>,
    seconds_remaining: Option<i64>,
    days_remaining: Option<i64>,
    state: Option<CertificateState>,
    error: Option<String>,
}

impl CertificateView {
    fn of(certificate: &Result<Certificate, String>, now: i64, warning: Duration) -> Self {
        match certificate {
            Ok(c) => {
                let left = c.not_after.saturating_sub(now);
                CertificateView {
                    subject: Some(c.subject.clone()),
                    not_after: Some(format_rfc3339(
                        c.not_after.saturating_mul(1000),
                        VIETNAM_OFFSET_MINUTES,
                    )),
                    seconds_remaining: Some(left),
                    days_remaining: Some(left / SECONDS_PER_DAY),
                    state: Some(CertificateState::at(c.not_after, now, warning)),
                    error: None,
                }
            }
            Err(error) => CertificateView {
                subject: None,
                not_after: None,
                seconds_remaining: None,
                days_remaining: None,
                state: None,
                error: Some(error.clone()),
            },
        }
    }
}

/// One channel as the admin plane shows it.
#[derive(Debug, Serialize)]
struct ChannelView {
    channel: String,
    kind: ChannelKind,
    state: ChannelState,
    probe: String,
    last_probe_at: Option<String>,
    last_latency_ms: Option<f64>,
    consecutive_failures: u32,
    failures_total: u64,
    last_error: Option<String>,
    services: Vec<String>,
    certificate: Option<CertificateView>,
}

/// The answer of `GET /admin/v1/health/channels`.
#[derive(Debug, Serialize)]
struct ChannelsReport {
    probe_interval_ms: u64,
    last_round_at: Option<String>,
    channels: Vec<ChannelView>,
    gateway_certificate: Option<CertificateView>,
}

/// What the monitor knows, shared by the probing task, the admin plane and `/metrics`.
#[derive(Debug, Clone)]
pub struct ChannelBoard {
    state: Arc<RwLock<BoardState>>,
    interval: Duration,
    warning: Duration,
}

impl ChannelBoard {
    /// An empty board for a monitor probing every `interval`.
    pub fn new(interval: Duration, warning: Duration) -> ChannelBoard {
        ChannelBoard {
            state: Arc::default(),
            interval,
            warning,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BoardState> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BoardState> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// One round: derive the channels, probe them all at once, read the gateway's certificate.
    async fn round(&self, settings: &ChannelSettings, tls: &TlsProbe, snapshot: &SnapshotHandle) {
        let targets = targets(&snapshot.current(), &settings.token_endpoints);
        self.write().follow(&targets);
        let probes =
            futures_util::future::join_all(targets.iter().map(|t| probe(t, tls, settings))).await;
        let gateway = match settings.gateway_certificate.clone() {
            Some(path) => Some(
                tokio::task::spawn_blocking(move || Certificate::from_pem_file(&path))
                    .await
                    .unwrap_or_else(|e| Err(format!("reading the certificate failed: {e}"))),
            ),
            None => None,
        };
        let now = SystemTime::now();
        let events = {
            let mut board = self.write();
            let mut events = Vec::new();
            for (target, probe) in targets.iter().zip(probes) {
                events.extend(board.record(target, probe, now, settings.certificate_warning));
            }
            if let Some(gateway) = gateway {
                events.extend(board.record_gateway(gateway, now, settings.certificate_warning));
            }
            board.last_round = Some(now);
            events
        };
        for event in events {
            event.emit();
        }
    }

    fn report(&self, now: SystemTime) -> ChannelsReport {
        let board = self.read();
        let seconds = unix_seconds(now);
        let time = |t: SystemTime| format_rfc3339(unix_millis(t), VIETNAM_OFFSET_MINUTES);
        ChannelsReport {
            probe_interval_ms: u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX),
            last_round_at: board.last_round.map(time),
            channels: board
                .channels
                .iter()
                .map(|(key, c)| ChannelView {
                    channel: key.clone(),
                    kind: c.kind,
                    state: c.state,
                    probe: c.probe.clone(),
                    last_probe_at: c.last_probe.map(time),
                    last_latency_ms: c.last_latency.map(|d| d.as_secs_f64() * 1000.0),
                    consecutive_failures: c.consecutive_failures,
                    failures_total: c.failures_total,
                    last_error: c.last_error.clone(),
                    services: c.services.clone(),
                    certificate: c
                        .certificate
                        .as_ref()
                        .map(|cert| CertificateView::of(cert, seconds, self.warning)),
                })
                .collect(),
            gateway_certificate: board
                .gateway
                .as_ref()
                .map(|cert| CertificateView::of(cert, seconds, self.warning)),
        }
    }

    /// The `/metrics` view of the board, for `Metrics::register_collector`.
    pub fn collector(&self) -> ChannelMetrics {
        ChannelMetrics(self.clone())
    }
}

/// The running monitor; dropping it stops the probes.
#[derive(Debug)]
pub struct ChannelMonitor {
    /// What it found so far.
    pub board: ChannelBoard,
    task: JoinHandle<()>,
}

impl ChannelMonitor {
    /// Starts probing: the first round at once, then every `settings.interval`.
    pub fn start(
        settings: ChannelSettings,
        snapshot: SnapshotHandle,
    ) -> Result<ChannelMonitor, ChannelError> {
        let tls = TlsProbe::new(settings.upstream_ca.as_deref())?;
        let board = ChannelBoard::new(settings.interval, settings.certificate_warning);
        let task = tokio::spawn({
            let board = board.clone();
            async move {
                let mut ticks = tokio::time::interval(settings.interval);
                ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    board.round(&settings, &tls, &snapshot).await;
                }
            }
        });
        Ok(ChannelMonitor { board, task })
    }
}

impl Drop for ChannelMonitor {
    /// A probe in flight is simply dropped: probes change nothing upstream.
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `GET /admin/v1/health/channels`: every channel's state, for operators and province admins.
pub async fn channels_report(
    caller: AdminCaller,
    State(state): State<NodeState>,
) -> Result<Json<serde_json::Value>, AdminError> {
    require(&caller, &[Role::Operator, Role::ProvinceAdmin])?;
    let report = state.channels.report(SystemTime::now());
    serde_json::to_value(report)
        .map(Json)
        .map_err(|e| AdminError::Internal(format!("channel report: {e}")))
}

/// The channel board as Prometheus metrics, encoded at scrape time.
#[derive(Debug)]
pub struct ChannelMetrics(ChannelBoard);

impl Collector for ChannelMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use prometheus_client::metrics::MetricType;
        let board = self.0.read();
        let probed = || {
            board
                .channels
                .iter()
                .filter(|(_, c)| c.state != ChannelState::Unknown)
        };
        let mut up = encoder.encode_descriptor(
            "lgsp_channel_up",
            "1 when the channel's last probe reached it (up or degraded), 0 when it is down",
            None,
            MetricType::Gauge,
        )?;
        for (key, c) in probed() {
            let labels = [("channel", key.as_str()), ("kind", c.kind.as_str())];
            ConstGauge::new(i64::from(c.state != ChannelState::Down))
                .encode(up.encode_family(&labels)?)?;
        }
        let mut degraded = encoder.encode_descriptor(
            "lgsp_channel_degraded",
            "1 when the channel's last probe was slow or got a bad health answer",
            None,
            MetricType::Gauge,
        )?;
        for (key, c) in probed() {
            let labels = [("channel", key.as_str()), ("kind", c.kind.as_str())];
            ConstGauge::new(i64::from(c.state == ChannelState::Degraded))
                .encode(degraded.encode_family(&labels)?)?;
        }
        let mut duration = encoder.encode_descriptor(
            "lgsp_channel_probe_duration_seconds",
            "How long the channel's last probe took",
            None,
            MetricType::Gauge,
        )?;
        for (key, c) in probed() {
            if let Some(latency) = c.last_latency {
                ConstGauge::new(latency.as_secs_f64())
                    .encode(duration.encode_family(&[("channel", key.as_str())])?)?;
            }
        }
        let mut failures = encoder.encode_descriptor(
            "lgsp_channel_probe_failures",
            "Failed probes of the channel since the node started",
            None,
            MetricType::Counter,
        )?;
        for (key, c) in probed() {
            ConstCounter::new(c.failures_total)
                .encode(failures.encode_family(&[("channel", key.as_str())])?)?;
        }
        let now = unix_seconds(SystemTime::now());
        let mut expiry = encoder.encode_descriptor(
            "lgsp_certificate_expiry_seconds",
            "Seconds until the certificate's notAfter (negative once expired)",
            None,
            MetricType::Gauge,
        )?;
        let upstream = board
            .channels
            .iter()
            .filter_map(|(key, c)| match &c.certificate {
                Some(Ok(cert)) => Some((key.as_str(), "upstream", cert)),
                _ => None,
            });
        let gateway = match &board.gateway {
            Some(Ok(cert)) => Some(("gateway", "gateway", cert)),
            _ => None,
        };
        for (channel, which, cert) in upstream.chain(gateway) {
            ConstGauge::new(cert.not_after.saturating_sub(now))
                .encode(expiry.encode_family(&[("channel", channel), ("which", which)])?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::model::RegistryData;

    const DAY: Duration = Duration::from_secs(86_400);

    fn snapshot(services: &str) -> Snapshot {
        let data: RegistryData = toml::from_str(services).expect("registry");
        Snapshot::build(
            1,
            data,
            &Config::default(),
            &crate::upstream::Upstreams::plain(),
        )
        .expect("snapshot")
    }

    fn service(slug: &str, upstream: &str, extra: &str) -> String {
        format!(
            "[[services]]\nslug = '{slug}'\nversion = 'v1'\nname = 'x'\nowner = '000.00.00.G01'\n{extra}\nupstream = {{ {upstream} }}\n"
        )
    }

    #[test]
    fn channels_are_origins_with_their_services_and_health_paths() {
        let snap = snapshot(
            &[
                service("a", "url = 'http://127.0.0.1:9000/a/v1?x=1'", ""),
                service(
                    "b",
                    "url = 'http://127.0.0.1:9000/b/v1', health_path = '/healthz'",
                    "",
                ),
                service("c", "url = 'https://Upstream.example/c'", ""),
                service("d", "url = 'http://127.0.0.1:7/d'", "state = 'retired'"),
                service("e", "url = 'http://[::1]:8080/e'", "state = 'blocked'"),
            ]
            .concat(),
        );
        let targets = targets(&snap, &["https://idp.example/oauth2/token".to_string()]);
        let keys: Vec<(&str, ChannelKind, String)> = targets
            .iter()
            .map(|t| (t.key.as_str(), t.kind, t.probe_description()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (
                    "http://127.0.0.1:9000",
                    ChannelKind::Upstream,
                    "GET /healthz".into()
                ),
                ("http://[::1]:8080", ChannelKind::Upstream, "tcp".into()),
                (
                    "https://upstream.example:443",
                    ChannelKind::Upstream,
                    "tls".into()
                ),
                (
                    "https://idp.example:443/oauth2/token",
                    ChannelKind::TokenEndpoint,
                    "GET /oauth2/token".into()
                ),
            ],
            "the query string never reaches a channel name; retired services have none"
        );
        assert_eq!(targets[0].services, vec!["a/v1", "b/v1"]);
        assert_eq!(targets[1].origin.bare_host(), "::1");
    }

    #[test]
    fn apply_refuses_a_health_path_that_is_not_a_path() {
        let data = |path: &str| -> RegistryData {
            toml::from_str(&service(
                "a",
                &format!("url = 'http://127.0.0.1:9000/a', health_path = '{path}'"),
                "",
            ))
            .expect("registry")
        };
        let (what, problem) =
            crate::apply::validate(&data("healthz?token=x")).expect_err("refused");
        assert_eq!(what, "service a/v1");
        assert!(problem.contains("upstream.health_path"), "{problem}");
        crate::apply::validate(&data("/healthz")).expect("a path is accepted");
    }

    #[test]
    fn health_paths_and_token_endpoints_are_checked() {
        assert!(is_health_path("/healthz"));
        assert!(!is_health_path("healthz"));
        assert!(!is_health_path("/health?full=1"));
        assert!(!is_health_path("/a b"));
        assert!(is_token_endpoint("https://idp.example/token"));
        assert!(!is_token_endpoint("ftp://idp.example/token"));
        assert!(!is_token_endpoint("https://user:pw@idp.example/token"));
        assert!(!is_token_endpoint("https://idp.example/token?client=x"));
        assert!(!is_token_endpoint("/token"));
    }

    #[test]
    fn certificate_states_follow_the_warning_window() {
        let warning = 30 * DAY;
        let now = 1_800_000_000;
        let day = SECONDS_PER_DAY;
        assert_eq!(
            CertificateState::at(now + 31 * day, now, warning),
            CertificateState::Valid
        );
        assert_eq!(
            CertificateState::at(now + 5 * day, now, warning),
            CertificateState::Expiring
        );
        assert_eq!(
            CertificateState::at(now, now, warning),
            CertificateState::Expired
        );
        assert_eq!(
            CertificateState::at(now + 1, now, Duration::ZERO),
            CertificateState::Valid,
            "0 days of warning means only expiry is reported"
        );
    }

    fn target(key: &str) -> Target {
        let (origin, _) = Origin::parse(key).expect("origin");
        Target {
            key: key.into(),
            kind: ChannelKind::Upstream,
            origin,
            paths: Vec::new(),
            healthy: Healthy::Success,
            services: vec!["a/v1".into()],
        }
    }

    fn probe(state: ChannelState) -> Probe {
        Probe {
            state,
            failed: matches!(state, ChannelState::Down),
            latency: Duration::from_millis(3),
            error: (state != ChannelState::Up).then(|| "connect: refused".to_string()),
            certificate: None,
        }
    }

    fn names(events: &[ChannelEvent]) -> Vec<&'static str> {
        events
            .iter()
            .map(|e| match e {
                ChannelEvent::Down { .. } => "down",
                ChannelEvent::Degraded { .. } => "degraded",
                ChannelEvent::Recovered { .. } => "recovered",
                ChannelEvent::Certificate { .. } => "certificate",
                ChannelEvent::GatewayCertificateUnreadable { .. } => "unreadable",
            })
            .collect()
    }

    #[test]
    fn transitions_log_once_and_count_failures() {
        let mut board = BoardState::default();
        let t = target("http://127.0.0.1:9000");
        let now = SystemTime::now();
        let mut step = |state| names(&board.record(&t, probe(state), now, DAY));
        assert!(
            step(ChannelState::Up).is_empty(),
            "a first good probe is quiet"
        );
        assert_eq!(step(ChannelState::Down), ["down"]);
        assert!(
            step(ChannelState::Down).is_empty(),
            "still down: no new event"
        );
        assert_eq!(step(ChannelState::Degraded), ["recovered", "degraded"]);
        assert_eq!(step(ChannelState::Up), ["recovered"]);
        assert_eq!(step(ChannelState::Degraded), ["degraded"]);
        let channel = &board.channels["http://127.0.0.1:9000"];
        assert_eq!(channel.failures_total, 2);
        assert_eq!(channel.consecutive_failures, 0);
        assert_eq!(channel.state, ChannelState::Degraded);
    }

    #[test]
    fn removed_channels_are_forgotten() {
        let mut board = BoardState::default();
        let (a, b) = (target("http://a.example:80"), target("http://b.example:80"));
        board.follow(&[a.clone(), b]);
        assert_eq!(board.channels.len(), 2);
        board.follow(&[a]);
        assert_eq!(
            board.channels.keys().collect::<Vec<_>>(),
            ["http://a.example:80"]
        );
    }

    #[test]
    fn certificate_warnings_are_logged_on_change_only() {
        let mut board = BoardState::default();
        let now = SystemTime::now();
        let soon = Certificate {
            subject: "CN=lgsp.example".into(),
            not_after: unix_seconds(now) + 5 * SECONDS_PER_DAY,
        };
        let first = board.record_gateway(Ok(soon.clone()), now, 30 * DAY);
        match first.as_slice() {
            [
                ChannelEvent::Certificate {
                    state: CertificateState::Expiring,
                    days_remaining: 4 | 5,
                    which: "gateway",
                    ..
                },
            ] => {}
            other => panic!("expected one expiring event, got {other:?}"),
        }
        assert!(
            board
                .record_gateway(Ok(soon.clone()), now, 30 * DAY)
                .is_empty()
        );
        let later = now + 6 * DAY;
        assert_eq!(
            names(&board.record_gateway(Ok(soon), later, 30 * DAY)),
            ["certificate"]
        );
        assert_eq!(
            names(&board.record_gateway(Err("gone".into()), later, 30 * DAY)),
            ["unreadable"]
        );
    }

    #[test]
    fn monitoring_keys_are_validated_by_name() {
        let with = |edit: fn(&mut crate::config::MonitoringConfig)| {
            let mut c = Config::default();
            edit(&mut c.monitoring);
            c.validate()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(with(|m| m.probe_interval_ms = 0).contains("monitoring.probe_interval_ms"));
        assert!(with(|m| m.probe_timeout_ms = 0).contains("monitoring.probe_timeout_ms"));
        assert!(with(|m| m.probe_slow_ms = 0).contains("monitoring.probe_slow_ms"));
        assert!(
            with(|m| m.upstream_ca = Some("/nonexistent/ca.pem".into()))
                .contains("monitoring.upstream_ca")
        );
        let secret = with(|m| m.token_endpoints = vec!["https://id:secret@idp.example/t".into()]);
        assert!(secret.contains("monitoring.token_endpoints"), "{secret}");
        assert!(
            !secret.contains("secret@"),
            "the URL is not echoed: {secret}"
        );
        assert_eq!(
            with(|m| m.token_endpoints = vec!["https://idp.example/oauth2/token".into()]),
            ""
        );
        let settings = ChannelSettings::from_config(&Config::default());
        assert_eq!(settings.interval, Duration::from_secs(30));
        assert_eq!(settings.certificate_warning, 30 * DAY);
    }

    #[tokio::test]
    async fn an_unreachable_origin_is_down_and_a_listening_one_up() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let open = format!("http://{}", listener.local_addr().expect("addr"));
        let settings = ChannelSettings {
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
            slow: Duration::from_secs(1),
            certificate_warning: 30 * DAY,
            upstream_ca: None,
            token_endpoints: Vec::new(),
            gateway_certificate: None,
        };
        let tls = TlsProbe::new(None).expect("tls");
        let up = super::probe(&target(&open), &tls, &settings).await;
        assert_eq!(up.state, ChannelState::Up, "{up:?}");
        // Port 1 on loopback has nothing listening.
        let down = super::probe(&target("http://127.0.0.1:1"), &tls, &settings).await;
        assert_eq!(down.state, ChannelState::Down);
        assert!(
            down.error
                .as_deref()
                .is_some_and(|e| e.starts_with("connect:")),
            "{down:?}"
        );
    }
}
