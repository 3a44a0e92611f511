//! Stage 9, record: make the exchange's evidence durable before the answer
//! leaves.
//!
//! Every request that reaches the route stage gets exactly one audit record,
//! refusals included. The response body is hashed (see [`super::evidence`]),
//! the record is appended through the group-commit writer, and only when it is
//! committed does the response go out, carrying `X-LGSP-Audit-Id` and
//! `X-LGSP-Request-Hash`. If the record cannot be written the consumer gets
//! `503 AUDIT_UNAVAILABLE` instead of data: no evidence, no answer.

use super::Trail;
use super::accept::Exchange;
use super::evidence::{RequestTally, hash_response, request_hash};
use crate::audit::record::NewRecord;
use crate::audit::writer::AuditWriter;
use crate::metrics::Metrics;
use crate::problem::{GatewayError, problem_response};
use crate::telemetry::{AuditAppendFailed, ExchangeFinished};
use axum::response::Response;
use http::HeaderValue;

/// Records the exchange and returns the response to send.
pub async fn record(
    writer: &AuditWriter,
    metrics: &Metrics,
    hash_limit: u64,
    exchange: &Exchange,
    trail: &Trail,
    tally: &RequestTally,
    response: Response,
) -> Response {
    let (response, evidence) = match hash_response(response, hash_limit).await {
        Ok(hashed) => hashed,
        Err(e) => {
            // The upstream's body broke off mid-read: answer with a problem, and record that.
            let error =
                GatewayError::Upstream(lgsp_adapters::AdapterError::Transport(e.to_string()));
            let problem = problem_response(&error, &exchange.request_id);
            match hash_response(problem, hash_limit).await {
                Ok(hashed) => hashed,
                Err(_) => return problem_response(&error, &exchange.request_id),
            }
        }
    };
    let (request_bytes, request_sha256) = tally.finish();
    let status = response.status().as_u16();
    ExchangeFinished {
        request_id: &exchange.request_id,
        trace_id: &exchange.trace.trace_id,
        route: trail.route.as_deref(),
        system: trail.system.as_deref(),
        agency: trail.agency.as_deref(),
        purpose: trail.purpose.as_deref(),
        status,
        code: trail.error_code,
        error: trail.error.as_deref(),
        outcome: trail.outcome(),
        elapsed: exchange.started.elapsed(),
        request_bytes,
        response_bytes: evidence.bytes,
    }
    .emit(metrics);

    let record = NewRecord {
        request_id: exchange.request_id.clone(),
        trace_id: exchange.trace.trace_id.clone(),
        client_ip: exchange.client.ip().to_string(),
        system: trail.system.clone(),
        agency: trail.agency.clone(),
        auth_method: trail.auth_method.map(|m| m.as_str().to_string()),
        officer: trail.officer.clone(),
        purpose: trail.purpose.clone(),
        dossier: trail.dossier.clone(),
        service: trail.service.clone(),
        version: trail.version.clone(),
        operation: trail.operation.clone(),
        method: trail.method.clone(),
        subject: trail.subject.clone(),
        outcome: trail.outcome(),
        status,
        error_code: trail.error_code.map(|c| c.as_str().to_string()),
        upstream_status: trail.upstream_status,
        latency: exchange.started.elapsed(),
        request_bytes,
        response_bytes: evidence.bytes,
        request_sha256: request_sha256.clone(),
        response_sha256: evidence.sha256.clone(),
        reuse: trail.reuse.map(str::to_string),
        contract_violation: trail.contract_violation.clone(),
    };
    match writer.append(record).await {
        Ok(appended) => {
            let mut response = response;
            let binding = request_hash(&appended.id, &request_sha256, &evidence.sha256, status);
            for (name, value) in [
                ("x-lgsp-audit-id", appended.id.as_str()),
                ("x-lgsp-request-hash", binding.as_str()),
            ] {
                if let Ok(v) = HeaderValue::from_str(value) {
                    response.headers_mut().insert(name, v);
                }
            }
            response
        }
        Err(error) => {
            AuditAppendFailed {
                request_id: &exchange.request_id,
                error: &error,
            }
            .emit();
            problem_response(&GatewayError::AuditUnavailable, &exchange.request_id)
        }
    }
}
