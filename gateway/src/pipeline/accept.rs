//! Stage 1, accept: give the exchange its identity (request id, trace
//! context, client address) and refuse what is too large before any work.

use crate::problem::GatewayError;
use axum::body::Body;
use http::{HeaderMap, Request, header};
use rand::Rng;
use std::net::SocketAddr;
use std::time::Instant;

/// Limits checked before routing.
#[derive(Debug, Clone, Copy)]
pub struct AcceptLimits {
    /// Largest request body the gateway accepts for any service.
    pub max_request_bytes: u64,
}

/// The identity of one exchange, carried through every stage.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The caller's request id, if well-formed, or a new time-ordered one.
    pub request_id: String,
    /// W3C trace context for this hop.
    pub trace: TraceContext,
    /// The TCP peer.
    pub client: SocketAddr,
    /// When the gateway accepted the request.
    pub started: Instant,
}

/// W3C trace context: the caller's trace continued, with the gateway as a new hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// The gateway's own span id, 16 hex digits.
    pub span_id: String,
    /// Trace flags, 2 hex digits.
    pub flags: String,
}

impl TraceContext {
    /// Continues the caller's `traceparent`, or starts a new trace.
    pub fn continue_or_start(headers: &HeaderMap) -> TraceContext {
        let mut rng = rand::rng();
        let span_id = format!("{:016x}", rng.random_range(1..=u64::MAX));
        if let Some((trace_id, flags)) = headers
            .get("traceparent")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent)
        {
            return TraceContext {
                trace_id,
                span_id,
                flags,
            };
        }
        let trace_id = format!("{:032x}", rng.random_range(1..=u128::MAX));
        TraceContext {
            trace_id,
            span_id,
            flags: "01".into(),
        }
    }

    /// The `traceparent` header sent upstream.
    pub fn traceparent(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

fn parse_traceparent(value: &str) -> Option<(String, String)> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if parts.len() < 4
        || !hex(parts[0], 2)
        || parts[0] == "ff"
        || !hex(parts[1], 32)
        || !hex(parts[2], 16)
        || !hex(parts[3], 2)
    {
        return None;
    }
    if parts[1].bytes().all(|b| b == b'0') || parts[2].bytes().all(|b| b == b'0') {
        return None;
    }
    Some((parts[1].to_string(), parts[3].to_string()))
}

fn request_id(headers: &HeaderMap) -> String {
    let supplied = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
                // The id goes into logs, spans and the audit record in clear.
                && !crate::telemetry::may_hold_identifier(id)
        });
    match supplied {
        Some(id) => id.to_string(),
        None => uuid::Uuid::now_v7().to_string(),
    }
}

/// Gives the exchange its identity. Never fails: even a refusal needs a request id.
pub fn accept(client: SocketAddr, request: Request<Body>) -> (Exchange, Request<Body>) {
    let exchange = Exchange {
        request_id: request_id(request.headers()),
        trace: TraceContext::continue_or_start(request.headers()),
        client,
        started: Instant::now(),
    };
    (exchange, request)
}

/// Refuses a body whose declared size is over the gateway-wide limit; the
/// REST adapter also counts streamed bytes against the service's limit.
pub fn check_limits(limits: &AcceptLimits, request: &Request<Body>) -> Result<(), GatewayError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.parse::<u64>().ok()));
    match declared {
        Some(None) => Err(GatewayError::InvalidRequest(
            "Content-Length is not a number".into(),
        )),
        Some(Some(n)) if n > limits.max_request_bytes => Err(GatewayError::PayloadTooLarge {
            limit: limits.max_request_bytes,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn keeps_a_well_formed_request_id() {
        assert_eq!(
            request_id(&headers(&[("x-request-id", "abc-123")])),
            "abc-123"
        );
    }

    #[test]
    fn replaces_a_hostile_request_id() {
        let id = request_id(&headers(&[("x-request-id", "a b\"<script>")]));
        assert_ne!(id, "a b\"<script>");
        assert!(uuid::Uuid::parse_str(&id).is_ok());
    }

    #[test]
    fn replaces_a_request_id_that_could_hold_a_personal_id() {
        let id = request_id(&headers(&[("x-request-id", "hs-001090012345")]));
        assert!(uuid::Uuid::parse_str(&id).is_ok(), "{id}");
    }

    #[test]
    fn continues_a_valid_trace() {
        let h = headers(&[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )]);
        let t = TraceContext::continue_or_start(&h);
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(t.span_id, "00f067aa0ba902b7", "the gateway is a new hop");
        assert!(
            t.traceparent()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
    }

    #[test]
    fn starts_a_trace_on_garbage() {
        for bad in [
            "00-0000-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "zz",
        ] {
            let h: HeaderMap = [(
                http::header::HeaderName::from_static("traceparent"),
                HeaderValue::from_static(bad),
            )]
            .into_iter()
            .collect();
            let t = TraceContext::continue_or_start(&h);
            assert_eq!(t.trace_id.len(), 32);
            assert_ne!(t.trace_id, "00000000000000000000000000000000");
        }
    }

    #[test]
    fn refuses_declared_oversize() {
        let limits = AcceptLimits {
            max_request_bytes: 10,
        };
        let req = Request::post("/api/x/v1/y")
            .header("content-length", "11")
            .body(Body::empty())
            .expect("req");
        assert!(matches!(
            check_limits(&limits, &req),
            Err(GatewayError::PayloadTooLarge { limit: 10 })
        ));
        let req = Request::post("/api/x/v1/y")
            .header("content-length", "10")
            .body(Body::empty())
            .expect("req");
        assert!(check_limits(&limits, &req).is_ok());
        let req = Request::post("/api/x/v1/y")
            .header("content-length", "ten")
            .body(Body::empty())
            .expect("req");
        assert!(matches!(
            check_limits(&limits, &req),
            Err(GatewayError::InvalidRequest(_))
        ));
    }
}
