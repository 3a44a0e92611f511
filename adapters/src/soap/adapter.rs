//! The SOAP adapter: a JSON call becomes a SOAP 1.1 or 1.2 envelope by the
//! service's mapping, and the envelope answered becomes canonical JSON; a
//! fault becomes [`AdapterError::Fault`].

use super::{CodecError, Mapping, XmlLimits};
use crate::adapter::{
    Adapter, AdapterFuture, UpstreamCall, json_response, read_request_body, read_response_body,
};
use crate::error::AdapterError;
use crate::rest::RestAdapter;
use http::{HeaderValue, Method, Request, header};
use serde_json::{Map, Value};
use std::sync::Arc;

/// Longest upstream reason kept in an error, in characters.
const MAX_REASON_CHARS: usize = 256;

/// Calls one SOAP service through the shared HTTP transport.
pub struct SoapAdapter {
    transport: Arc<RestAdapter>,
    mapping: Arc<Mapping>,
}

impl SoapAdapter {
    /// An adapter speaking `mapping` over `transport`.
    pub fn new(transport: Arc<RestAdapter>, mapping: Arc<Mapping>) -> SoapAdapter {
        SoapAdapter { transport, mapping }
    }

    async fn exchange(
        &self,
        call: UpstreamCall,
    ) -> Result<http::Response<crate::rest::StreamBody>, AdapterError> {
        let UpstreamCall {
            request,
            endpoint,
            params,
            settings,
            ..
        } = call;
        let (parts, body) = request.into_parts();
        let body = read_request_body(body, settings.max_request_bytes).await?;
        let canonical = canonical_request(&params, &body)?;
        let encoded = self
            .mapping
            .encode_request(&canonical)
            .map_err(request_error)?;

        let mut outbound = Request::new(axum::body::Body::from(encoded.body));
        *outbound.method_mut() = Method::POST;
        *outbound.uri_mut() = endpoint
            .parse()
            .map_err(|_| AdapterError::InvalidUrl(endpoint.clone()))?;
        let headers = outbound.headers_mut();
        for name in [
            "x-request-id",
            "traceparent",
            "forwarded",
            "x-forwarded-for",
        ] {
            if let Some(v) = parts.headers.get(name) {
                headers.insert(name, v.clone());
            }
        }
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&encoded.content_type)
                .map_err(|_| AdapterError::InvalidUrl("SOAP content type".into()))?,
        );
        if let Some(action) = &encoded.soap_action
            && let Ok(v) = HeaderValue::from_str(action)
        {
            headers.insert("soapaction", v);
        }

        let answer = self
            .transport
            .send_keeping_faults(outbound, &settings)
            .await?;
        let status = answer.status();
        let body = read_response_body(answer.into_body(), settings.max_response_bytes).await?;
        let limits = XmlLimits {
            max_bytes: usize::try_from(settings.max_response_bytes).unwrap_or(usize::MAX),
            ..XmlLimits::default()
        };
        match self.mapping.decode_response(&body, &limits) {
            Ok(value) if status.is_success() => Ok(json_response(&value)),
            Ok(_) => Err(AdapterError::Status {
                status: status.as_u16(),
            }),
            Err(e) => Err(answer_error(e)),
        }
    }
}

impl Adapter for SoapAdapter {
    fn kind(&self) -> &'static str {
        "soap"
    }

    fn call(&self, call: UpstreamCall) -> AdapterFuture<'_> {
        Box::pin(self.exchange(call))
    }
}

/// The canonical request of a translated call: the consumer's JSON object
/// body (if any), with the operation's path parameters as string members.
pub fn canonical_request(params: &[(String, String)], body: &[u8]) -> Result<Value, AdapterError> {
    let mut object = if body.iter().all(u8::is_ascii_whitespace) {
        Map::new()
    } else {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                return Err(AdapterError::InvalidRequest {
                    pointer: String::new(),
                    reason: "must be a JSON object".into(),
                });
            }
            Err(e) => {
                return Err(AdapterError::InvalidRequest {
                    pointer: String::new(),
                    reason: format!("is not JSON: {e}"),
                });
            }
        }
    };
    for (name, value) in params {
        object.insert(name.clone(), Value::String(value.clone()));
    }
    Ok(Value::Object(object))
}

/// A request that the mapping cannot encode: the consumer's mistake.
pub fn request_error(error: CodecError) -> AdapterError {
    match error {
        CodecError::Json { pointer, reason } => AdapterError::InvalidRequest { pointer, reason },
        other => AdapterError::InvalidRequest {
            pointer: String::new(),
            reason: other.to_string(),
        },
    }
}

/// An answer that cannot become canonical JSON: a fault, an error result, or unreadable.
pub fn answer_error(error: CodecError) -> AdapterError {
    let cut = |s: &str| s.chars().take(MAX_REASON_CHARS).collect::<String>();
    match error {
        CodecError::Fault(fault) => AdapterError::Fault {
            code: cut(fault.detail.as_deref().unwrap_or(&fault.code)),
            reason: cut(&fault.reason),
        },
        CodecError::UpstreamResult { code, message } => AdapterError::Fault {
            code,
            reason: cut(&message),
        },
        other => AdapterError::Malformed(cut(&other.to_string())),
    }
}
