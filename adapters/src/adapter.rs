//! The one interface every upstream kind implements (REST, NDXP, NDOP,
//! SOAP), and what the gateway hands an adapter for one call.
//!
//! The trait returns a boxed future so the gateway can hold its adapters as
//! `dyn Adapter` and pick one per service from the registry.

use crate::error::AdapterError;
use crate::rest::{BoxError, CallSettings, StreamBody};
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full, Limited};
use std::future::Future;
use std::pin::Pin;

/// Who is calling and why: carried to upstreams that want the consumer's
/// identity (NDXP headers) and into every adapter's logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallContext {
    /// The exchange's request id.
    pub request_id: String,
    /// The consumer system's slug.
    pub consumer_system: String,
    /// The consumer system's agency code.
    pub consumer_agency: String,
    /// The officer acting (`X-LGSP-User`).
    pub officer: Option<String>,
    /// The stated purpose (`X-LGSP-Purpose`).
    pub purpose: Option<String>,
    /// The administrative dossier (`X-LGSP-Dossier`).
    pub dossier: Option<String>,
}

/// One upstream call as the invoke stage prepares it.
pub struct UpstreamCall {
    /// The request, with the absolute upstream URI (service base + path
    /// below the version + query) and the outbound headers already cleaned.
    pub request: Request<RequestBody>,
    /// The service's upstream base URL without a trailing slash; translating
    /// adapters (SOAP, XML inside JSON) post to it rather than to the URI.
    pub endpoint: String,
    /// Path parameters of the matched operation (`soDinhDanh` → value),
    /// which translating adapters put into the canonical request.
    pub params: Vec<(String, String)>,
    /// Timeouts and size limits.
    pub settings: CallSettings,
    /// The consumer and purpose behind the call.
    pub context: CallContext,
}

/// The body of a request to an upstream. axum's body, because its concrete
/// error type keeps adapter futures `Send` where a boxed error type trips a
/// rustc limitation (rust-lang/rust#102211).
pub type RequestBody = axum::body::Body;

/// What an adapter's call resolves to.
pub type AdapterFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Response<StreamBody>, AdapterError>> + Send + 'a>>;

/// An upstream protocol: turns one gateway call into the upstream's
/// conventions and its answer back into an HTTP response.
///
/// Errors are [`AdapterError`]s; the gateway maps each to one problem code.
/// A successful answer whose body is canonical JSON carries
/// `content-type: application/json`.
pub trait Adapter: Send + Sync {
    /// The adapter's name as services name it in the registry (`rest`, `ndxp`…).
    fn kind(&self) -> &'static str;

    /// Calls the upstream.
    fn call(&self, call: UpstreamCall) -> AdapterFuture<'_>;
}

/// Reads a whole request body into memory, refusing more than `limit` bytes,
/// for adapters that must see all of it (signatures, translation).
pub async fn read_request_body<B>(body: B, limit: u64) -> Result<Bytes, AdapterError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    read_limited(body, limit, || AdapterError::RequestTooLarge { limit }).await
}

/// Reads a whole response body into memory, refusing more than `limit` bytes.
///
/// Reads frame by frame rather than through `Limited`, whose bound on a
/// boxed error type trips rust-lang/rust#102211 inside `Send` futures.
pub async fn read_response_body<B>(mut body: B, limit: u64) -> Result<Bytes, AdapterError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut buffer = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| AdapterError::Transport(format!("reading a body failed: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if (buffer.len() + data.len()) as u64 > limit {
                return Err(AdapterError::ResponseTooLarge { limit });
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

async fn read_limited<B>(
    body: B,
    limit: u64,
    too_large: impl FnOnce() -> AdapterError,
) -> Result<Bytes, AdapterError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limited = Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX));
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(e) => Err(AdapterError::Transport(format!(
            "reading a body failed: {e}"
        ))),
    }
}

/// A buffered body as a [`StreamBody`].
pub fn full_body(bytes: impl Into<Bytes>) -> StreamBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A JSON answer with status 200, as translating adapters return canonical data.
pub fn json_response(value: &serde_json::Value) -> Response<StreamBody> {
    let body = serde_json::to_vec(value).unwrap_or_default();
    let mut response = Response::new(full_body(body));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
