//! Stage 7, invoke: call the service's upstream through its adapter, with the
//! exchange's request id and trace context, and the caller's address in
//! `Forwarded`.

use super::accept::Exchange;
use super::route::Routed;
use crate::problem::GatewayError;
use crate::traces;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Request, Uri};
use lgsp_adapters::rest::RestAdapter;
use lgsp_adapters::rest::headers::{ForwardedFor, outbound_request_headers};
use tracing::Instrument;

/// Calls the upstream and returns its answer with the body still streaming.
pub async fn invoke(
    rest: &RestAdapter,
    scheme: &'static str,
    exchange: &Exchange,
    routed: &Routed,
    request: Request<Body>,
) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
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
    let call = traces::upstream_span(&exchange.trace, &routed.route.key, &parts.method, &uri);
    let traceparent = traces::traceparent(&call).unwrap_or_else(|| exchange.trace.traceparent());
    if let Ok(v) = HeaderValue::from_str(&traceparent) {
        headers.insert("traceparent", v);
    }

    let mut outbound = Request::new(body);
    *outbound.method_mut() = parts.method;
    *outbound.uri_mut() = uri;
    *outbound.headers_mut() = headers;

    let answer = rest
        .call(outbound, &routed.route.call)
        .instrument(call.clone())
        .await
        .map_err(GatewayError::from);
    traces::upstream_outcome(&call, &answer);
    Ok(answer?.map(Body::new))
}

/// The upstream URL: the service's base, the path below the version, the query.
fn upstream_uri(routed: &Routed) -> Result<Uri, GatewayError> {
    let mut text = format!("{}{}", routed.route.upstream_base, routed.rest);
    if let Some(q) = &routed.query {
        text.push('?');
        text.push_str(q);
    }
    text.parse()
        .map_err(|_| GatewayError::InvalidRequest("the request path cannot be forwarded".into()))
}
