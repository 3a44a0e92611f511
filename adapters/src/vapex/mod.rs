//! The V-APEX publisher: puts a service version's descriptor into the
//! national API catalogue and reads how the publication stands, over the
//! wire API of `contracts/vapex/publication-api.md`.
//!
//! Every submission carries the caller's idempotency key, so retrying a
//! [`PublishError::Transient`] failure with the same [`Publication`] cannot
//! publish twice: the outbox that drives this client retries those and
//! gives up on [`PublishError::Rejected`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde_json::Value;

use crate::rest::describe;

/// Largest answer read; V-APEX answers are a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Longest idempotency key V-APEX accepts.
pub const MAX_IDEMPOTENCY_KEY: usize = 200;

/// Longest refusal detail kept, so a hostile catalogue cannot fill logs or the outbox.
const MAX_DETAIL_CHARS: usize = 500;

/// Where V-APEX is and how the province authenticates to it.
#[derive(Clone)]
pub struct VapexSettings {
    /// The API's base, an absolute `http` URL such as `http://127.0.0.1:9/vapex/v1`.
    pub base_url: Uri,
    /// The bearer token the province publishes with; never shown.
    pub token: String,
    /// Time allowed for one request, connection and answer included.
    pub timeout: Duration,
}

impl fmt::Debug for VapexSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapexSettings")
            .field("base_url", &self.base_url)
            .field("token", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// What a publication asks of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PublicationEvent {
    /// The version becomes callable and listed.
    Publish,
    /// The version stays callable but is due to retire.
    Deprecate,
    /// The version is no longer callable.
    Retire,
    /// The version is suspended, e.g. after a security incident.
    Block,
}

impl PublicationEvent {
    /// Every event.
    pub const ALL: [PublicationEvent; 4] = [
        PublicationEvent::Publish,
        PublicationEvent::Deprecate,
        PublicationEvent::Retire,
        PublicationEvent::Block,
    ];

    /// The event as the wire API spells it (`publish`, `deprecate`, `retire`, `block`).
    pub fn as_str(self) -> &'static str {
        match self {
            PublicationEvent::Publish => "publish",
            PublicationEvent::Deprecate => "deprecate",
            PublicationEvent::Retire => "retire",
            PublicationEvent::Block => "block",
        }
    }

    /// The event with this wire name, e.g. as an outbox row stored it.
    pub fn parse(name: &str) -> Option<PublicationEvent> {
        PublicationEvent::ALL
            .into_iter()
            .find(|e| e.as_str() == name)
    }

    /// The `x-vapex` lifecycle state the descriptor must declare for this event.
    pub fn lifecycle(self) -> &'static str {
        match self {
            PublicationEvent::Publish => "published",
            PublicationEvent::Deprecate => "deprecated",
            PublicationEvent::Retire => "retired",
            PublicationEvent::Block => "blocked",
        }
    }
}

/// One descriptor to put into the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Publication {
    /// Stable across retries of the same publication (1..=200 visible ASCII), e.g. the outbox row id.
    pub idempotency_key: String,
    /// The owning agency's code, e.g. `000.00.00.H29`.
    pub agency_code: String,
    /// The service's code in the registry.
    pub service_code: String,
    /// The service version, e.g. `v1`.
    pub version: String,
    /// What happens to the version.
    pub event: PublicationEvent,
    /// The OpenAPI 3.1 document with its `x-vapex` block.
    pub descriptor: Value,
}

/// Where a publication stands at V-APEX.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicationStatus {
    /// Accepted, not yet in the catalogue.
    Pending,
    /// In the catalogue.
    Published,
    /// Accepted, then refused by the catalogue.
    Rejected {
        /// Why, as V-APEX says it.
        reason: String,
    },
}

impl PublicationStatus {
    /// The status as the wire API spells it (`pending`, `published`, `rejected`).
    pub fn as_str(&self) -> &'static str {
        match self {
            PublicationStatus::Pending => "pending",
            PublicationStatus::Published => "published",
            PublicationStatus::Rejected { .. } => "rejected",
        }
    }

    /// Whether the status can still change.
    pub fn is_final(&self) -> bool {
        !matches!(self, PublicationStatus::Pending)
    }
}

/// V-APEX's receipt for a submission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    /// The id to ask [`VapexPublisher::status`] about.
    pub publication_id: String,
    /// Where the publication stood when accepted (replays answer the current status).
    pub status: PublicationStatus,
}

/// Why a call to V-APEX failed. Never carries the bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// Unreachable, timed out, 5xx, 429, an unusable answer or unusable settings: retry later with the same key.
    #[error("V-APEX unavailable, retry later: {0}")]
    Transient(String),
    /// Refused for good (4xx other than 429): retrying the same request will not help.
    #[error("V-APEX refused the request with status {status}: {detail}")]
    Rejected {
        /// The HTTP status of the refusal.
        status: u16,
        /// What V-APEX said was wrong.
        detail: String,
    },
}

impl PublishError {
    /// Whether the same request may succeed later.
    pub fn is_transient(&self) -> bool {
        matches!(self, PublishError::Transient(_))
    }
}

/// The HTTP client the publisher sends its requests with.
type VapexClient = Client<HttpConnector, Full<Bytes>>;

/// The V-APEX publisher client. Clones share one connection pool.
#[derive(Clone)]
pub struct VapexPublisher {
    inner: Arc<Inner>,
}

struct Inner {
    /// `http://host:port/base/path` without a trailing slash, or why the base URL is unusable.
    base: Result<String, String>,
    /// `Bearer <token>`.
    authorization: String,
    token: String,
    timeout: Duration,
    client: VapexClient,
}

impl fmt::Debug for VapexPublisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapexPublisher")
            .field("base", &self.inner.base)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

/// The submission answer (202 or 200).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubmitAnswer {
    publication_id: Option<String>,
    status: Option<String>,
    reason: Option<String>,
}

/// The problem answer of a refusal (RFC 9457); other members are ignored.
#[derive(Deserialize)]
struct ProblemAnswer {
    detail: Option<String>,
    title: Option<String>,
}

impl VapexPublisher {
    /// A publisher with its own connection pool; nothing is sent until a call.
    ///
    /// An unusable base URL is reported by every call, as a transient
    /// error, so publications wait in the outbox until the settings are fixed.
    pub fn new(settings: VapexSettings) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(settings.timeout));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        VapexPublisher {
            inner: Arc::new(Inner {
                base: base_of(&settings.base_url),
                authorization: format!("Bearer {}", settings.token),
                token: settings.token,
                timeout: settings.timeout,
                client,
            }),
        }
    }

    /// Puts a descriptor into the catalogue; replaying the same publication answers the first receipt.
    pub async fn submit(&self, publication: &Publication) -> Result<Submitted, PublishError> {
        check_idempotency_key(&publication.idempotency_key)?;
        let url = self.inner.url(&[
            "catalogue",
            &publication.agency_code,
            &publication.service_code,
            &publication.version,
        ])?;
        let body = serde_json::to_vec(&serde_json::json!({
            "event": publication.event.as_str(),
            "descriptor": publication.descriptor,
        }))
        .map_err(|e| PublishError::Transient(format!("encoding the publication failed: {e}")))?;
        let request = self
            .inner
            .request(Method::PUT, url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("idempotency-key", publication.idempotency_key.as_str())
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| unsendable())?;
        let (status, body) = self.inner.exchange(request).await?;
        if status != StatusCode::ACCEPTED && status != StatusCode::OK {
            return Err(self.inner.failure(status, &body));
        }
        let answer = read_status_answer(&body)?;
        Ok(Submitted {
            publication_id: answer.0,
            status: answer.1,
        })
    }

    /// Where a publication stands.
    pub async fn status(&self, publication_id: &str) -> Result<PublicationStatus, PublishError> {
        let url = self.inner.url(&["publications", publication_id])?;
        let request = self
            .inner
            .request(Method::GET, url)
            .body(Full::new(Bytes::new()))
            .map_err(|_| unsendable())?;
        let (status, body) = self.inner.exchange(request).await?;
        if status != StatusCode::OK {
            return Err(self.inner.failure(status, &body));
        }
        Ok(read_status_answer(&body)?.1)
    }
}

/// The error when the token cannot go in a header; says so without echoing it.
fn unsendable() -> PublishError {
    PublishError::Transient("the V-APEX token cannot be sent in an HTTP header".to_owned())
}

/// Checks the key as V-APEX would, so a bad key is refused without a round trip.
fn check_idempotency_key(key: &str) -> Result<(), PublishError> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(PublishError::Rejected {
            status: 400,
            detail: format!(
                "the idempotency key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters (checked before sending)"
            ),
        });
    }
    Ok(())
}

/// The base URL without a trailing slash, if it is an absolute `http` URL.
fn base_of(url: &Uri) -> Result<String, String> {
    match (url.scheme_str(), url.authority()) {
        (Some("http"), Some(authority)) => Ok(format!(
            "http://{authority}{}",
            url.path().trim_end_matches('/')
        )),
        _ => Err("the V-APEX base url must be an absolute http url".to_owned()),
    }
}

/// Percent-encodes a path segment: only RFC 3986 unreserved characters stay,
/// and a segment of dots is encoded whole so no one resolves it as `.` or `..`.
fn encode_segment(segment: &str) -> String {
    /// Everything but RFC 3986's unreserved characters.
    const RESERVED: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    if !segment.is_empty() && segment.bytes().all(|b| b == b'.') {
        return "%2E".repeat(segment.len());
    }
    utf8_percent_encode(segment, RESERVED).to_string()
}

/// A refusal's detail cut to one bounded line, with the token scrubbed should the server echo it.
fn printable_detail(detail: &str, token: &str) -> String {
    let scrubbed = if token.is_empty() {
        detail.to_owned()
    } else {
        detail.replace(token, "<redacted>")
    };
    scrubbed
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_DETAIL_CHARS)
        .collect()
}

/// The publication id and status of a submit or status answer.
fn read_status_answer(body: &[u8]) -> Result<(String, PublicationStatus), PublishError> {
    // The request may have been carried out: retrying with the same key is safe and tells.
    let malformed =
        |why: &str| PublishError::Transient(format!("V-APEX answer is malformed: {why}"));
    let answer: SubmitAnswer =
        serde_json::from_slice(body).map_err(|_| malformed("not a JSON status object"))?;
    let id = answer
        .publication_id
        .filter(|id| !id.is_empty() && id.len() <= 200)
        .ok_or_else(|| malformed("no publicationId"))?;
    let status = match answer.status.as_deref() {
        Some("pending") => PublicationStatus::Pending,
        Some("published") => PublicationStatus::Published,
        Some("rejected") => PublicationStatus::Rejected {
            reason: printable_detail(answer.reason.as_deref().unwrap_or_default(), ""),
        },
        _ => return Err(malformed("status is not pending, published or rejected")),
    };
    Ok((id, status))
}

impl Inner {
    /// The URL of `segments` under the base, each percent-encoded.
    fn url(&self, segments: &[&str]) -> Result<Uri, PublishError> {
        let base = self
            .base
            .as_ref()
            .map_err(|e| PublishError::Transient(e.clone()))?;
        let mut url = base.clone();
        for segment in segments {
            url.push('/');
            url.push_str(&encode_segment(segment));
        }
        url.parse()
            .map_err(|_| PublishError::Transient("the V-APEX url cannot be built".to_owned()))
    }

    /// A request to `url` with the bearer token.
    fn request(&self, method: Method, url: Uri) -> http::request::Builder {
        Request::builder()
            .method(method)
            .uri(url)
            .header(header::AUTHORIZATION, self.authorization.as_str())
            .header(header::ACCEPT, "application/json, application/problem+json")
    }

    /// Sends a request and reads its answer, within the timeout and the size cap.
    async fn exchange(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), PublishError> {
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                PublishError::Transient(format!("V-APEX unreachable: {}", describe(&e)))
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        PublishError::Transient(format!(
                            "V-APEX answer exceeds {MAX_ANSWER_BYTES} bytes"
                        ))
                    } else {
                        PublishError::Transient(format!("reading the V-APEX answer failed: {e}"))
                    }
                })?
                .to_bytes();
            Ok::<_, PublishError>((status, body))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_elapsed| {
                PublishError::Transient(format!("V-APEX did not answer within {:?}", self.timeout))
            })?
    }

    /// The error for an answer that is not the expected success.
    fn failure(&self, status: StatusCode, body: &[u8]) -> PublishError {
        let said = serde_json::from_slice::<ProblemAnswer>(body)
            .ok()
            .and_then(|p| p.detail.or(p.title))
            .map(|d| printable_detail(&d, &self.token))
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("no detail").to_owned());
        if status.is_client_error() && status != StatusCode::TOO_MANY_REQUESTS {
            PublishError::Rejected {
                status: status.as_u16(),
                detail: said,
            }
        } else {
            PublishError::Transient(format!("V-APEX answered {}: {said}", status.as_u16()))
        }
    }
}

#[cfg(test)]
mod tests;
