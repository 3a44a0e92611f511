//! Stage 7, invoke: check the request against the service's request
//! contract, call the upstream through the service's adapter (REST, NDXP,
//! NDOP, SOAP) with the exchange's request id, trace context and the
//! caller's address in `Forwarded`, and check the answer against the
//! service's contract.

use super::accept::Exchange;
use super::route::Routed;
use crate::problem::GatewayError;
use crate::traces;
use crate::upstream::RouteAdapter;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Method, Request, Uri};
use lgsp_adapters::adapter::{read_request_body, read_response_body};
use lgsp_adapters::rest::headers::{ForwardedFor, outbound_request_headers};
use lgsp_adapters::{AdapterError, CallContext, UpstreamCall};
use lgsp_contracts::{Contract, Violation};
use tracing::Instrument;

/// Violations named in a `CONTRACT_VIOLATION` record; the rest are counted.
const NAMED_VIOLATIONS: usize = 3;

/// Calls the upstream and returns its answer: streaming for services without
/// a contract, checked and buffered for those with one.
pub async fn invoke(
    scheme: &'static str,
    exchange: &Exchange,
    routed: &Routed,
    context: CallContext,
    request: Request<Body>,
) -> Result<Response, GatewayError> {
    let route = &routed.route;
    let adapter = match &route.adapter {
        RouteAdapter::Upstream(adapter) => adapter.clone(),
        RouteAdapter::Unusable(problem) => {
            return Err(GatewayError::Upstream(AdapterError::InvalidUrl(
                problem.clone(),
            )));
        }
        RouteAdapter::ReuseStore => {
            return Err(GatewayError::Internal(
                "the reuse service is served by the reuse stage, not invoked".into(),
            ));
        }
    };
    let (parts, body) = request.into_parts();
    let body = match route.request_contract {
        Some(contract) if carries_body(&parts.method) => {
            check_request(contract, body, route.call.max_request_bytes).await?
        }
        _ => body,
    };
    let uri = upstream_uri(routed)?;
    let forwarded = ForwardedFor {
        client: exchange.client.ip(),
        proto: scheme,
        host: parts.headers.get(http::header::HOST).cloned(),
    };
    let mut headers = outbound_request_headers(parts.headers, &forwarded);
    if let Ok(v) = HeaderValue::from_str(&exchange.request_id) {
        headers.insert("x-request-id", v);
    }
    // The upstream's work is a child of this call's span when traces are exported.
    let call = traces::upstream_span(&exchange.trace, &route.key, &parts.method, &uri);
    let traceparent = traces::traceparent(&call).unwrap_or_else(|| exchange.trace.traceparent());
    if let Ok(v) = HeaderValue::from_str(&traceparent) {
        headers.insert("traceparent", v);
    }

    let mut outbound = Request::new(body);
    *outbound.method_mut() = parts.method;
    *outbound.uri_mut() = uri;
    *outbound.headers_mut() = headers;

    let answer = adapter
        .call(UpstreamCall {
            request: outbound,
            endpoint: routed.upstream_base().to_string(),
            params: routed.params.clone(),
            settings: route.call,
            context,
        })
        .instrument(call.clone())
        .await
        .map_err(GatewayError::from);
    traces::upstream_outcome(&call, &answer);
    let answer = answer?;
    match route.contract {
        Some(contract) if answer.status().is_success() => {
            check_answer(contract, answer, route.call.max_response_bytes).await
        }
        _ => Ok(answer.map(Body::new)),
    }
}

/// Methods whose requests carry a body to check.
fn carries_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// Reads the request body and checks it; the refusal names the first
/// offending member by JSON pointer.
async fn check_request(contract: &Contract, body: Body, limit: u64) -> Result<Body, GatewayError> {
    let bytes = read_request_body(body, limit).await?;
    contract.check_request(&bytes)?;
    Ok(Body::from(bytes))
}

/// Reads a successful answer and checks it against the contract. The
/// offending paths go to the log and the audit record, never to the caller.
async fn check_answer(
    contract: &Contract,
    answer: http::Response<lgsp_adapters::rest::StreamBody>,
    limit: u64,
) -> Result<Response, GatewayError> {
    let (parts, body) = answer.into_parts();
    let bytes = read_response_body(body, limit).await?;
    match contract.validate_slice(&bytes) {
        Ok(_) => Ok(Response::from_parts(parts, Body::from(bytes))),
        Err(violations) => Err(GatewayError::ContractViolation(describe_violations(
            contract,
            &violations,
        ))),
    }
}

/// `contract citizen: /ngaySinh (format); /hoTen (required)`: pointers and
/// keywords only, because messages could echo personal data.
fn describe_violations(contract: &Contract, violations: &[Violation]) -> String {
    let mut text = format!("contract {}:", contract.name().as_str());
    for (i, v) in violations.iter().take(NAMED_VIOLATIONS).enumerate() {
        let pointer = if v.pointer.is_empty() {
            "/"
        } else {
            &v.pointer
        };
        let sep = if i == 0 { " " } else { "; " };
        text.push_str(&format!("{sep}{pointer} ({})", v.keyword));
    }
    if violations.len() > NAMED_VIOLATIONS {
        text.push_str(&format!(
            " and {} more",
            violations.len() - NAMED_VIOLATIONS
        ));
    }
    text
}

/// The upstream URL: the service's base, the path below the version, the query.
fn upstream_uri(routed: &Routed) -> Result<Uri, GatewayError> {
    let mut text = format!("{}{}", routed.upstream_base(), routed.rest);
    if let Some(q) = &routed.query {
        text.push('?');
        text.push_str(q);
    }
    text.parse()
        .map_err(|_| GatewayError::InvalidRequest("the request path cannot be forwarded".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violation(pointer: &str, keyword: &str) -> Violation {
        Violation {
            pointer: pointer.into(),
            keyword: keyword.into(),
            message: "\"079123456789\" is not valid".into(),
        }
    }

    #[test]
    fn violations_are_described_by_pointer_and_keyword_only() {
        let contract = Contract::by_name("citizen").expect("contract");
        let text = describe_violations(
            contract,
            &[
                violation("/ngaySinh", "format"),
                violation("", "required"),
                violation("/hoTen", "type"),
                violation("/gioiTinh", "enum"),
            ],
        );
        assert_eq!(
            text,
            "contract citizen: /ngaySinh (format); / (required); /hoTen (type) and 1 more"
        );
        assert!(!text.contains("079123456789"));
    }

    #[test]
    fn only_body_methods_are_checked_against_request_contracts() {
        assert!(carries_body(&Method::POST));
        assert!(carries_body(&Method::PUT));
        assert!(!carries_body(&Method::GET));
        assert!(!carries_body(&Method::DELETE));
    }
}
