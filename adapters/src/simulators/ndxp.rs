//! NDXP, the national integration platform, as the province sees it: the
//! national services under `/ndxp/v1/...`, reachable only with a token from
//! the simulated token endpoint and the headers the platform requires.
//!
//! The guard refuses, before any service runs:
//! - a missing, unknown or expired bearer token with 401 and
//!   `WWW-Authenticate: Bearer error="invalid_token"`, which tells the
//!   adapter to fetch a new token and retry once;
//! - an `X-NDXP-Consumer` other than the province's agency code
//!   ([`super::NdxpTokenSettings::consumer_agency`]) with 403;
//! - a request without `X-NDXP-Origin-System` with 400.
//!
//! Every request reaching the guard leaves its `X-NDXP-*` headers for
//! `GET /__sim/ndxp/last-headers`, so tests can see what the adapter sent.

use std::sync::Mutex;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Map, Value};

use super::{Simulator, replies};
use crate::rest::lock;

/// Prefix of the platform's own headers.
const NDXP_HEADER_PREFIX: &str = "x-ndxp-";

/// Longest header value kept for inspection.
const MAX_SHOWN_VALUE: usize = 512;

/// What the NDXP routes remember between requests.
#[derive(Debug, Default)]
pub(crate) struct NdxpState {
    /// The `X-NDXP-*` headers of the last request, by lower-case name.
    last_headers: Mutex<Map<String, Value>>,
}

/// The `X-NDXP-*` headers of a request, by lower-case name.
fn ndxp_headers(headers: &HeaderMap) -> Map<String, Value> {
    headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with(NDXP_HEADER_PREFIX))
        .map(|(name, value)| {
            let text: String = String::from_utf8_lossy(value.as_bytes())
                .chars()
                .take(MAX_SHOWN_VALUE)
                .collect();
            (name.as_str().to_owned(), Value::String(text))
        })
        .collect()
}

/// The bearer token of a request, if it has one.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// 401 telling the client its token is not (or no longer) good (RFC 6750 §3.1).
fn invalid_token() -> Response {
    let mut response = replies::lgsp_error(
        StatusCode::UNAUTHORIZED,
        "INVALID_TOKEN",
        "Mã truy cập NDXP không hợp lệ hoặc đã hết hạn",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"ndxp\", error=\"invalid_token\""),
    );
    response
}

/// Middleware of every `/ndxp/v1` route: records the headers, then checks
/// the token, the consumer and the origin system.
pub(crate) async fn guard(
    State(simulator): State<Simulator>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    *lock(&simulator.ndxp.last_headers) = ndxp_headers(headers);
    let issuer = &simulator.ndxp_tokens;
    if !bearer(headers).is_some_and(|token| issuer.is_valid(token)) {
        return invalid_token();
    }
    let consumer = headers.get("x-ndxp-consumer").and_then(|v| v.to_str().ok());
    if consumer != Some(issuer.settings.consumer_agency.as_str()) {
        return replies::lgsp_error(
            StatusCode::FORBIDDEN,
            "CONSUMER_NOT_ALLOWED",
            "Đơn vị khai thác không khớp với mã truy cập",
        );
    }
    if headers
        .get("x-ndxp-origin-system")
        .is_none_or(|v| v.is_empty())
    {
        return replies::data_incorrect("Thiếu tiêu đề X-NDXP-Origin-System");
    }
    next.run(request).await
}

/// `GET /__sim/ndxp/last-headers`: the `X-NDXP-*` headers of the last NDXP request.
pub(crate) async fn last_headers(State(simulator): State<Simulator>) -> Response {
    let shown = lock(&simulator.ndxp.last_headers).clone();
    replies::json(StatusCode::OK, &shown)
}

/// `POST /__sim/ndxp/expire-tokens`: every token issued so far expires now.
pub(crate) async fn expire_tokens(State(simulator): State<Simulator>) -> Response {
    simulator.ndxp_tokens.expire_all();
    replies::json(
        StatusCode::OK,
        &serde_json::json!({ "daHetHan": simulator.ndxp_tokens.issued() }),
    )
}
