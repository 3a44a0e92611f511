//! Stage 9, record: leave evidence of the exchange.
//!
//! NOT DURABLE YET: the tamper-evident audit log arrives with the audit issue.
//! Today the stage emits one structured log event per exchange, which is
//! operational telemetry, not evidence. The event never carries the request
//! path, which may hold a personal ID; only the route key.

use super::Trail;
use super::accept::Exchange;
use crate::problem::GatewayError;
use crate::telemetry::ExchangeFinished;
use axum::response::Response;

/// Records the outcome of an exchange.
pub fn record(exchange: &Exchange, trail: &Trail, outcome: &Result<Response, GatewayError>) {
    let (status, code) = match outcome {
        Ok(response) => (response.status().as_u16(), None),
        Err(error) => (error.code().status(), Some(error.code())),
    };
    ExchangeFinished {
        request_id: &exchange.request_id,
        trace_id: &exchange.trace.trace_id,
        route: trail.route.as_deref(),
        system: trail.system.as_deref(),
        purpose: trail.purpose.as_deref(),
        status,
        code,
        error: outcome.as_ref().err(),
        elapsed: exchange.started.elapsed(),
    }
    .emit();
}
