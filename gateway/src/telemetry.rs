//! Observable events, each one type that logs in one place, and the log set-up.
//!
//! Events never carry personal data in clear: no request paths (they may hold
//! a personal ID), only route keys, codes and timings.

use crate::config::LogFormat;
use crate::problem::GatewayError;
use lgsp_contracts::ErrorCode;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

/// Installs the global log subscriber; the level comes from `RUST_LOG` (default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second initialisation (tests, demo) is harmless; ignore it.
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
    /// The stated purpose code.
    pub purpose: Option<&'a str>,
    /// HTTP status sent.
    pub status: u16,
    /// The problem code, for refusals and failures.
    pub code: Option<ErrorCode>,
    /// The error behind the code, logged for operators only.
    pub error: Option<&'a str>,
    /// Time spent in the gateway.
    pub elapsed: Duration,
}

impl ExchangeFinished<'_> {
    /// Logs the event.
    pub fn emit(&self) {
        let elapsed_ms = self.elapsed.as_secs_f64() * 1000.0;
        match (self.code, self.error) {
            (Some(code), Some(error)) => tracing::warn!(
                event = "exchange_finished",
                request_id = self.request_id,
                trace_id = self.trace_id,
                route = self.route.unwrap_or("-"),
                system = self.system.unwrap_or("-"),
                purpose = self.purpose.unwrap_or("-"),
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
                purpose = self.purpose.unwrap_or("-"),
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
    /// Logs the event.
    pub fn emit(&self) {
        tracing::info!(
            event = "snapshot_reloaded",
            version = self.version,
            routes = self.routes,
            took_ms = self.took.as_secs_f64() * 1000.0
        );
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
