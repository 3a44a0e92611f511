//! Observable events, each one type that logs in one place, and the log set-up.
//!
//! Events never carry personal data in clear: no request paths (they may hold
//! a personal ID), only route keys, codes and timings.

use crate::audit::record::Outcome;
use crate::config::LogFormat;
use crate::metrics::Metrics;
use crate::problem::GatewayError;
use crate::traces::TraceExport;
use lgsp_contracts::ErrorCode;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry, fmt};

/// Installs the global log subscriber; the level comes from `RUST_LOG` (default `info`).
///
/// Log lines inside an exchange carry its `request_id` and `trace_id` from the
/// exchange span (under `span` in JSON). With `traces`, the gateway's spans are
/// also exported, filtered on their own: `RUST_LOG` only decides what is logged.
pub fn init_logging(format: LogFormat, traces: Option<&TraceExport>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt::layer()
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed(),
    };
    let mut layers = vec![logs];
    if let Some(traces) = traces {
        layers.push(traces.layer().boxed());
    }
    // A second initialisation (tests, demo) is harmless; ignore it.
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

/// Whether a free-text value could be a personal ID or an enterprise code (a
/// run of nine or more digits), so it must not be logged or exported.
pub fn may_hold_identifier(value: &str) -> bool {
    value
        .split(|c: char| !c.is_ascii_digit())
        .any(|run| run.len() >= 9)
}

/// One data-plane exchange has finished.
#[derive(Debug)]
pub struct ExchangeFinished<'a> {
    /// The exchange's request id.
    pub request_id: &'a str,
    /// The W3C trace id.
    pub trace_id: &'a str,
    /// `slug/version`, when routing succeeded.
    pub route: Option<&'a str>,
    /// The consumer system, once authenticated.
    pub system: Option<&'a str>,
    /// Its agency code (counted, not logged).
    pub agency: Option<&'a str>,
    /// The stated purpose code.
    pub purpose: Option<&'a str>,
    /// HTTP status sent.
    pub status: u16,
    /// The problem code, for refusals and failures.
    pub code: Option<ErrorCode>,
    /// The error behind the code, logged for operators only.
    pub error: Option<&'a str>,
    /// Allowed, refused or failed.
    pub outcome: Outcome,
    /// Time spent in the gateway.
    pub elapsed: Duration,
    /// Request body bytes read.
    pub request_bytes: u64,
    /// Response body bytes sent.
    pub response_bytes: u64,
}

impl ExchangeFinished<'_> {
    /// Logs the event and counts it in the metrics and service health.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.exchange(self);
        let elapsed_ms = self.elapsed.as_secs_f64() * 1000.0;
        match (self.code, self.error) {
            (Some(code), Some(error)) => tracing::warn!(
                event = "exchange_finished",
                request_id = self.request_id,
                trace_id = self.trace_id,
                route = self.route.unwrap_or("-"),
                system = self.system.unwrap_or("-"),
                purpose = self
                    .purpose
                    .filter(|p| !may_hold_identifier(p))
                    .unwrap_or("-"),
                status = self.status,
                code = code.as_str(),
                error = error,
                elapsed_ms,
            ),
            _ => tracing::info!(
                event = "exchange_finished",
                request_id = self.request_id,
                trace_id = self.trace_id,
                route = self.route.unwrap_or("-"),
                system = self.system.unwrap_or("-"),
                purpose = self
                    .purpose
                    .filter(|p| !may_hold_identifier(p))
                    .unwrap_or("-"),
                status = self.status,
                elapsed_ms,
            ),
        }
    }
}

/// The registry snapshot was rebuilt from the store.
#[derive(Debug)]
pub struct SnapshotReloaded {
    /// The new registry version.
    pub version: i64,
    /// Service versions routable.
    pub routes: usize,
    /// How long loading and building took.
    pub took: Duration,
}

impl SnapshotReloaded {
    /// Logs the event and sets the snapshot metrics.
    pub fn emit(&self, metrics: &Metrics) {
        metrics.snapshot_reloaded(self.version, self.took);
        tracing::info!(
            event = "snapshot_reloaded",
            version = self.version,
            routes = self.routes,
            took_ms = self.took.as_secs_f64() * 1000.0
        );
    }
}

/// An upstream call of a routed service finished (its response head arrived, or it failed).
#[derive(Debug)]
pub struct UpstreamCallFinished<'a> {
    /// The route key, `slug/version`.
    pub route: &'a str,
    /// Time to the response head or the failure.
    pub elapsed: Duration,
    /// Why it failed, if it did.
    pub error: Option<&'a GatewayError>,
}

impl UpstreamCallFinished<'_> {
    /// Counts the call; failures are logged with the exchange (`exchange_finished`).
    pub fn emit(&self, metrics: &Metrics) {
        use lgsp_adapters::AdapterError;
        let kind = self.error.map(|error| match error {
            GatewayError::Upstream(e) => match e {
                AdapterError::Timeout(_) => "timeout",
                AdapterError::CircuitOpen { .. } => "circuit_open",
                AdapterError::RequestTooLarge { .. } => "request_too_large",
                AdapterError::ResponseTooLarge { .. } => "response_too_large",
                AdapterError::Transport(_) => "transport",
                AdapterError::Status { .. } => "status",
                AdapterError::InvalidUrl(_) => "invalid_url",
                AdapterError::TokenUnavailable(_) => "token_unavailable",
                AdapterError::Rejected { .. } => "rejected",
                AdapterError::BadSignature(_) => "bad_signature",
                AdapterError::Fault { .. } => "fault",
                AdapterError::Malformed(_) => "malformed",
                AdapterError::InvalidRequest { .. } => "invalid_request",
            },
            GatewayError::ContractViolation(_) => "contract_violation",
            _ => "invalid_request",
        });
        // Only calls that reached the upstream say anything about its latency.
        let reached = !matches!(
            self.error,
            Some(GatewayError::Upstream(
                AdapterError::CircuitOpen { .. }
                    | AdapterError::RequestTooLarge { .. }
                    | AdapterError::InvalidUrl(_)
                    | AdapterError::TokenUnavailable(_)
                    | AdapterError::InvalidRequest { .. }
            )) | Some(GatewayError::InvalidRequest(_))
                | Some(GatewayError::InvalidMember { .. })
        );
        tracing::debug!(
            event = "upstream_call_finished",
            route = self.route,
            elapsed_ms = self.elapsed.as_secs_f64() * 1000.0,
            error_kind = kind.unwrap_or("-"),
        );
        metrics.upstream_call(self.route, reached.then_some(self.elapsed), kind);
    }
}

/// A token request at `/oauth2/token` finished.
#[derive(Debug)]
pub struct TokenRequestFinished<'a, T> {
    /// The request id.
    pub request_id: &'a str,
    /// The system the token was issued to, or why it was refused.
    pub outcome: &'a Result<(String, T), GatewayError>,
}

impl<T> TokenRequestFinished<'_, T> {
    /// Logs the event; the refusal's inner reason is for operators, the client never sees it.
    pub fn emit(&self) {
        match self.outcome {
            Ok((system, _)) => tracing::info!(
                event = "token_issued",
                request_id = self.request_id,
                system = system.as_str()
            ),
            Err(error) => tracing::warn!(
                event = "token_refused",
                request_id = self.request_id,
                code = error.code().as_str(),
                error = %error,
            ),
        }
    }
}

/// An audit record could not be made durable; the consumer got 503 instead of data.
#[derive(Debug)]
pub struct AuditAppendFailed<'a> {
    /// The exchange's request id.
    pub request_id: &'a str,
    /// Why.
    pub error: &'a crate::audit::AuditError,
}

impl AuditAppendFailed<'_> {
    /// Logs the event.
    pub fn emit(&self) {
        tracing::error!(event = "audit_append_failed", request_id = self.request_id, error = %self.error);
    }
}
