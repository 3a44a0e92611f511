//! Stage 10, respond: put the exchange's headers on the answer, or turn the
//! error into its problem response through [`crate::problem`].

use super::accept::Exchange;
use crate::problem::{GatewayError, problem_response};
use axum::response::Response;
use http::HeaderValue;

/// Builds the response the consumer receives.
pub fn respond(exchange: &Exchange, outcome: Result<Response, GatewayError>) -> Response {
    let mut response = match outcome {
        Ok(response) => response,
        Err(error) => problem_response(&error, &exchange.request_id),
    };
    if let Ok(id) = HeaderValue::from_str(&exchange.request_id) {
        response.headers_mut().insert("x-request-id", id);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::accept::TraceContext;
    use axum::body::Body;
    use std::time::Instant;

    fn exchange() -> Exchange {
        Exchange {
            request_id: "rid-7".into(),
            trace: TraceContext::continue_or_start(&http::HeaderMap::new()),
            client: "127.0.0.1:1".parse().expect("addr"),
            started: Instant::now(),
        }
    }

    #[test]
    fn success_and_error_both_carry_the_request_id() {
        let ok = respond(&exchange(), Ok(Response::new(Body::empty())));
        assert_eq!(ok.headers()["x-request-id"], "rid-7");
        let err = respond(
            &exchange(),
            Err(GatewayError::ServiceNotFound("/api/x".into())),
        );
        assert_eq!(err.status(), 404);
        assert_eq!(err.headers()["x-request-id"], "rid-7");
    }
}
