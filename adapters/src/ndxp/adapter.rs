//! The NDXP adapter: calls national services through NDXP, the national
//! integration platform, with the province's token and the consumer's
//! identity in headers.
//!
//! # Wire conventions
//!
//! Every request the adapter sends to NDXP carries:
//!
//! | header | value |
//! |---|---|
//! | `Authorization` | `Bearer <province token>` from the NDXP token endpoint |
//! | `X-NDXP-Consumer` | the province's agency code: the province is NDXP's consumer |
//! | `X-NDXP-Origin-Agency` | the agency code of the consumer system behind the call |
//! | `X-NDXP-Origin-System` | the slug of that consumer system |
//! | `X-NDXP-Officer` | the officer acting, when the call names one |
//! | `X-NDXP-Purpose` | the stated purpose, when given |
//! | `X-NDXP-Dossier` | the administrative dossier, when given |
//! | `X-NDXP-Request-Id` | the exchange's request id |
//! | `X-NDXP-Service` | the national service code, when the service has one |
//!
//! Any `X-NDXP-*` header the consumer sent is dropped first, so a consumer
//! cannot speak for the province. A value that cannot be a header is
//! refused as [`AdapterError::InvalidRequest`] before anything is sent.
//!
//! # Payloads
//!
//! - [`NdxpPayload::Json`]: the consumer's request (method, URI, headers,
//!   body) is forwarded with the headers above and the answer passed back.
//! - [`NdxpPayload::XmlInJson`]: the call's path parameters, merged with the
//!   consumer's JSON object body if any, form the canonical request; the
//!   mapping turns it into a JSON envelope carrying an XML message, which is
//!   posted to the service endpoint, and turns the answer back into
//!   canonical JSON. A 404 is passed back as NDXP sent it; another refusal
//!   is a [`AdapterError::Fault`]; an answer that cannot be read (hostile
//!   or broken XML included) is [`AdapterError::Malformed`].
//!
//! # Token
//!
//! The token comes from the shared [`TokenSource`] before each call. When
//! NDXP answers 401 with `WWW-Authenticate: Bearer error="invalid_token"`
//! (the token expired or was revoked early), the adapter drops that token,
//! fetches another and retries once, which the caller never sees; a second
//! 401, or a 403, is [`AdapterError::Rejected`]. The body is buffered (up to
//! the service's request limit) so it can be sent again.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::request::Parts;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use serde_json::Value;

use super::token::{AccessToken, TokenError, TokenSource};
use crate::adapter::{
    Adapter, AdapterFuture, UpstreamCall, json_response, read_request_body, read_response_body,
};
use crate::error::AdapterError;
use crate::rest::{CallSettings, RestAdapter, StreamBody};
use crate::soap::{Mapping, XmlLimits, answer_error, canonical_request, request_error};

/// Prefix of NDXP's own headers, which only the adapter may set.
const NDXP_HEADER_PREFIX: &str = "x-ndxp-";

/// Largest refusal body read to explain a refusal; refusals are short.
const MAX_REFUSAL_BYTES: u64 = 4 * 1024;

/// Longest reason kept from an upstream refusal.
const MAX_REASON_CHARS: usize = 256;

/// The province's standing at NDXP, shared by every NDXP service. Clones share it.
#[derive(Clone)]
pub struct NdxpProvince {
    /// The province's agency code, sent as `X-NDXP-Consumer`.
    pub agency_code: String,
    /// The province's token, fetched once for all services.
    pub tokens: Arc<TokenSource>,
    /// The pooled HTTP transport, with its breakers and retries.
    pub transport: Arc<RestAdapter>,
}

impl std::fmt::Debug for NdxpProvince {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdxpProvince")
            .field("agency_code", &self.agency_code)
            .field("tokens", &self.tokens)
            .finish_non_exhaustive()
    }
}

/// What an NDXP service's payload looks like on the wire.
#[derive(Debug, Clone)]
pub enum NdxpPayload {
    /// JSON both ways: the request is forwarded and the answer passed back.
    Json,
    /// An XML message inside a JSON envelope, translated by the mapping.
    XmlInJson(Arc<Mapping>),
}

/// The adapter of one NDXP service.
#[derive(Debug, Clone)]
pub struct NdxpAdapter {
    province: NdxpProvince,
    service_code: Option<String>,
    payload: NdxpPayload,
}

/// A request ready to be sent, and sent again after a token refresh.
struct Prepared {
    parts: Parts,
    body: Bytes,
}

impl NdxpAdapter {
    /// The adapter of a service with an optional NDXP service code (`X-NDXP-Service`).
    pub fn new(
        province: NdxpProvince,
        service_code: Option<String>,
        payload: NdxpPayload,
    ) -> NdxpAdapter {
        NdxpAdapter {
            province,
            service_code,
            payload,
        }
    }

    async fn run(&self, call: UpstreamCall) -> Result<Response<StreamBody>, AdapterError> {
        let ndxp_headers = self.ndxp_headers(&call)?;
        let settings = call.settings;
        let mut prepared = match &self.payload {
            NdxpPayload::Json => forwarded(call).await?,
            NdxpPayload::XmlInJson(mapping) => translated(mapping, call).await?,
        };
        drop_consumer_ndxp_headers(&mut prepared.parts.headers);
        prepared.parts.headers.extend(ndxp_headers);
        let response = self.send_with_token(&prepared, &settings).await?;
        match &self.payload {
            NdxpPayload::Json => Ok(response),
            NdxpPayload::XmlInJson(mapping) => decode(mapping, response, &settings).await,
        }
    }

    /// The `X-NDXP-*` headers of a call.
    fn ndxp_headers(&self, call: &UpstreamCall) -> Result<HeaderMap, AdapterError> {
        let context = &call.context;
        let mut pairs: Vec<(&'static str, &str)> = vec![
            ("x-ndxp-consumer", &self.province.agency_code),
            ("x-ndxp-origin-agency", &context.consumer_agency),
            ("x-ndxp-origin-system", &context.consumer_system),
            ("x-ndxp-request-id", &context.request_id),
        ];
        for (name, value) in [
            ("x-ndxp-officer", &context.officer),
            ("x-ndxp-purpose", &context.purpose),
            ("x-ndxp-dossier", &context.dossier),
            ("x-ndxp-service", &self.service_code),
        ] {
            if let Some(value) = value {
                pairs.push((name, value));
            }
        }
        let mut headers = HeaderMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            let value = HeaderValue::from_str(value).map_err(|_| AdapterError::InvalidRequest {
                pointer: String::new(),
                reason: format!("cannot be sent to NDXP: the {name} header value is not valid"),
            })?;
            headers.insert(HeaderName::from_static(name), value);
        }
        Ok(headers)
    }

    /// Sends with the current token; after an `invalid_token` refusal, once more with a new one.
    async fn send_with_token(
        &self,
        prepared: &Prepared,
        settings: &CallSettings,
    ) -> Result<Response<StreamBody>, AdapterError> {
        let tokens = &self.province.tokens;
        let mut refreshed = false;
        loop {
            let token = tokens.token().await.map_err(token_failure)?;
            let request = with_token(prepared, &token)?;
            let response = self.province.transport.send(request, settings).await?;
            match response.status() {
                StatusCode::UNAUTHORIZED if !refreshed && says_invalid_token(&response) => {
                    tracing::debug!("ndxp: token refused as invalid, refreshing once");
                    tokens.invalidate(&token);
                    refreshed = true;
                }
                status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
                    let reason = refusal_reason(response).await;
                    return Err(AdapterError::Rejected {
                        status: status.as_u16(),
                        reason,
                    });
                }
                _ => return Ok(response),
            }
        }
    }
}

impl Adapter for NdxpAdapter {
    fn kind(&self) -> &'static str {
        "ndxp"
    }

    fn call(&self, call: UpstreamCall) -> AdapterFuture<'_> {
        Box::pin(self.run(call))
    }
}

/// Removes every `X-NDXP-*` header a consumer sent.
fn drop_consumer_ndxp_headers(headers: &mut HeaderMap) {
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with(NDXP_HEADER_PREFIX))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(name);
    }
}

/// The consumer's request, its body buffered so it can be replayed.
async fn forwarded(call: UpstreamCall) -> Result<Prepared, AdapterError> {
    let (mut parts, body) = call.request.into_parts();
    let body = read_request_body(body, call.settings.max_request_bytes).await?;
    // The buffered body gets its own framing.
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    Ok(Prepared { parts, body })
}

/// The canonical request of a call, encoded by the mapping, posted to the endpoint.
async fn translated(mapping: &Mapping, call: UpstreamCall) -> Result<Prepared, AdapterError> {
    let body = read_request_body(call.request.into_body(), call.settings.max_request_bytes).await?;
    // The path names the subject; a body member cannot override it.
    let canonical = canonical_request(&call.params, &body)?;
    let message = mapping.encode_request(&canonical).map_err(request_error)?;
    let content_type =
        HeaderValue::from_str(&message.content_type).map_err(|_| AdapterError::InvalidRequest {
            pointer: String::new(),
            reason: "the mapping's content type cannot be a header".to_owned(),
        })?;
    let (mut parts, ()) = Request::post(call.endpoint.as_str())
        .body(())
        .map_err(|_| AdapterError::InvalidUrl("the service endpoint is not a URL".to_owned()))?
        .into_parts();
    parts.headers.insert(header::CONTENT_TYPE, content_type);
    parts
        .headers
        .insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    Ok(Prepared {
        parts,
        body: Bytes::from(message.body),
    })
}

/// The prepared request with the token's `Authorization`.
fn with_token(
    prepared: &Prepared,
    token: &AccessToken,
) -> Result<Request<Full<Bytes>>, AdapterError> {
    let mut request = Request::from_parts(prepared.parts.clone(), Full::new(prepared.body.clone()));
    // The token source only keeps tokens of visible ASCII, which are valid header values.
    let authorization = HeaderValue::from_str(&token.authorization())
        .map_err(|_| AdapterError::TokenUnavailable("the NDXP token cannot be sent".to_owned()))?;
    request
        .headers_mut()
        .insert(header::AUTHORIZATION, authorization);
    Ok(request)
}

/// A token failure as the gateway reports it: endpoint down or province refused.
fn token_failure(error: TokenError) -> AdapterError {
    if error.is_unavailable() {
        AdapterError::TokenUnavailable(error.to_string())
    } else {
        AdapterError::Rejected {
            status: 401,
            reason: error.to_string(),
        }
    }
}

/// Whether a 401 says the token itself is bad (RFC 6750 §3.1), so a new one may help.
fn says_invalid_token(response: &Response<StreamBody>) -> bool {
    response
        .headers()
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            let v = v.trim_start();
            v.get(..6).is_some_and(|s| s.eq_ignore_ascii_case("bearer"))
                && v.contains("error=\"invalid_token\"")
        })
}

/// The LGSP error code and description of a refusal, cut short.
async fn refusal_reason(response: Response<StreamBody>) -> String {
    let status = response.status();
    let body = read_response_body(response.into_body(), MAX_REFUSAL_BYTES)
        .await
        .unwrap_or_default();
    let described = serde_json::from_slice::<Value>(&body).ok().map(|v| {
        let text = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        (text("maLoi"), text("moTa"))
    });
    let reason = match described {
        Some((code, text)) if !code.is_empty() => format!("{code}: {text}"),
        _ => format!("NDXP answered {status}"),
    };
    reason.chars().take(MAX_REASON_CHARS).collect()
}

/// The upstream's XML-inside-JSON answer as canonical JSON.
async fn decode(
    mapping: &Mapping,
    response: Response<StreamBody>,
    settings: &CallSettings,
) -> Result<Response<StreamBody>, AdapterError> {
    let status = response.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(response);
    }
    if !status.is_success() {
        let reason = refusal_reason(response).await;
        return Err(AdapterError::Fault {
            code: format!("HTTP {}", status.as_u16()),
            reason,
        });
    }
    let body = read_response_body(response.into_body(), settings.max_response_bytes).await?;
    let defaults = XmlLimits::default();
    let limits = XmlLimits {
        max_bytes: usize::try_from(settings.max_response_bytes)
            .unwrap_or(usize::MAX)
            .min(defaults.max_bytes),
        ..defaults
    };
    mapping
        .decode_response(&body, &limits)
        .map(|value| json_response(&value))
        .map_err(answer_error)
}

#[cfg(test)]
mod tests;
