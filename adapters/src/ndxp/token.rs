//! The province's access token for NDXP, obtained with OAuth2 client
//! credentials (RFC 6749 §4.4), cached, and refreshed before it expires.
//!
//! Every request to NDXP needs the token, so under load hundreds of requests
//! find the cache cold or stale at the same instant. Only one of them fetches;
//! the others wait for that fetch and share its outcome, success or failure,
//! so the token endpoint sees one request however many callers there are.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tokio::time::Instant;

use crate::rest::{describe, lock};

/// The HTTP client the token source sends its requests with.
pub type TokenClient = Client<HttpConnector, Full<Bytes>>;

/// Largest token answer read; a token answer is a few hundred bytes.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Longest OAuth `error` code kept from a refusal, so a hostile endpoint cannot fill logs.
const MAX_ERROR_CODE_CHARS: usize = 64;

/// Longest token lifetime believed (one day); anything longer is a broken answer.
const MAX_LIFETIME_SECS: u64 = 24 * 60 * 60;

/// Where and how the province obtains its NDXP token.
#[derive(Clone)]
pub struct TokenSettings {
    /// The token endpoint, an absolute `http` URL.
    pub token_url: Uri,
    /// The province's client id at NDXP.
    pub client_id: String,
    /// The province's client secret at NDXP; never shown.
    pub client_secret: String,
    /// The scope asked for, if NDXP wants one.
    pub scope: Option<String>,
    /// Refresh when less than this remains of a token's lifetime.
    pub refresh_margin: Duration,
    /// Refresh when less than this share of a token's lifetime remains (0..1).
    pub refresh_fraction: f64,
    /// Time allowed for the whole token request, answer included.
    pub timeout: Duration,
}

impl TokenSettings {
    /// Settings with the usual refresh rule (60 s or 10 % of the lifetime) and a 10 s timeout.
    pub fn new(token_url: Uri, client_id: String, client_secret: String) -> TokenSettings {
        TokenSettings {
            token_url,
            client_id,
            client_secret,
            scope: None,
            refresh_margin: Duration::from_secs(60),
            refresh_fraction: 0.1,
            timeout: Duration::from_secs(10),
        }
    }

    /// How long before expiry a token of `lifetime` is refreshed.
    fn margin_for(&self, lifetime: Duration) -> Duration {
        let fraction = if self.refresh_fraction.is_finite() {
            self.refresh_fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.refresh_margin.max(lifetime.mul_f64(fraction))
    }
}

impl fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSettings")
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("scope", &self.scope)
            .field("refresh_margin", &self.refresh_margin)
            .field("refresh_fraction", &self.refresh_fraction)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why no token could be obtained. Never carries the client secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token endpoint could not be reached or the connection failed.
    #[error("NDXP token endpoint unreachable: {0}")]
    Unreachable(String),
    /// The token endpoint did not answer in time.
    #[error("NDXP token endpoint did not answer within {0:?}")]
    Timeout(Duration),
    /// The token endpoint answered with a server error.
    #[error("NDXP token endpoint failed with status {status}")]
    Unavailable {
        /// The endpoint's status code.
        status: u16,
    },
    /// The token endpoint refused the province's credentials or request (4xx).
    #[error("NDXP token endpoint refused the request with status {status} ({})", .error.as_deref().unwrap_or("no error code"))]
    Refused {
        /// The endpoint's status code.
        status: u16,
        /// The OAuth `error` code of the answer, if it had one.
        error: Option<String>,
    },
    /// The answer is not a usable token answer.
    #[error("NDXP token answer is malformed: {0}")]
    Malformed(String),
    /// The answer is larger than [`MAX_ANSWER_BYTES`].
    #[error("NDXP token answer exceeds {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The configured token URL cannot be used.
    #[error("invalid NDXP token url: {0}")]
    InvalidUrl(String),
}

impl TokenError {
    /// Whether the endpoint was down rather than refusing: the gateway answers these `UPSTREAM_UNAVAILABLE`.
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            TokenError::Unreachable(_) | TokenError::Timeout(_) | TokenError::Unavailable { .. }
        )
    }
}

/// A bearer token for NDXP. Its value is never shown by `Debug`.
#[derive(Clone)]
pub struct AccessToken {
    value: Arc<str>,
    refresh_at: Instant,
    expires_at: Instant,
}

impl AccessToken {
    /// The token itself, to send as `Authorization: Bearer <value>`.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The `Authorization` header value carrying the token.
    pub fn authorization(&self) -> String {
        format!("Bearer {}", self.value)
    }

    /// When the endpoint said the token stops being valid.
    pub fn expires_at(&self) -> Instant {
        self.expires_at
    }

    fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }

    fn is_valid(&self, now: Instant) -> bool {
        now < self.expires_at
    }
}

impl PartialEq for AccessToken {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl Eq for AccessToken {}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The province's NDXP token, fetched once and shared. Clones share the cache.
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    settings: TokenSettings,
    client: TokenClient,
    /// The token in use; read without waiting on a fetch in flight.
    cached: Mutex<Option<AccessToken>>,
    /// Held for the whole of a fetch: whoever holds it is the one fetcher.
    fetching: tokio::sync::Mutex<()>,
    /// Fetches finished so far, so a waiter can tell a fetch ended while it waited.
    finished: AtomicU64,
    /// The outcome of the last fetch when it failed, shared with its waiters.
    last_error: Mutex<Option<TokenError>>,
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSource")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl TokenSource {
    /// A token source with an empty cache; nothing is fetched until [`TokenSource::token`].
    pub fn new(settings: TokenSettings, client: TokenClient) -> TokenSource {
        TokenSource {
            inner: Arc::new(Inner {
                settings,
                client,
                cached: Mutex::new(None),
                fetching: tokio::sync::Mutex::new(()),
                finished: AtomicU64::new(0),
                last_error: Mutex::new(None),
            }),
        }
    }

    /// A plain HTTP client fit for the token endpoint.
    pub fn http_client(connect_timeout: Duration) -> TokenClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(connect_timeout));
        connector.set_nodelay(true);
        Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector)
    }

    /// The current token, fetched first if the cache is empty, invalidated or near expiry.
    pub async fn token(&self) -> Result<AccessToken, TokenError> {
        let inner = &self.inner;
        if let Some(token) = inner.fresh() {
            return Ok(token);
        }
        let seen = inner.finished.load(Ordering::Acquire);
        let _fetcher = inner.fetching.lock().await;
        if let Some(token) = inner.fresh() {
            return Ok(token);
        }
        // A fetch finished while this caller waited and found no fresh token:
        // it failed, and trying again at once would stampede a failing endpoint.
        if inner.finished.load(Ordering::Acquire) != seen
            && let Some(error) = lock(&inner.last_error).clone()
        {
            return inner.fallback(error);
        }
        let outcome = fetch(&inner.settings, &inner.client).await;
        let result = match outcome {
            Ok(token) => {
                *lock(&inner.cached) = Some(token.clone());
                *lock(&inner.last_error) = None;
                Ok(token)
            }
            Err(error) => {
                tracing::warn!(%error, "ndxp: fetching the upstream token failed");
                *lock(&inner.last_error) = Some(error.clone());
                inner.fallback(error)
            }
        };
        inner.finished.fetch_add(1, Ordering::AcqRel);
        result
    }

    /// Drops `rejected` from the cache after NDXP refused it, so the next call fetches anew.
    ///
    /// Does nothing when the cache already holds another token, so many
    /// requests rejected with the same token cause one fetch, not one each.
    pub fn invalidate(&self, rejected: &AccessToken) {
        let mut cached = lock(&self.inner.cached);
        if cached.as_ref() == Some(rejected) {
            *cached = None;
        }
    }
}

impl Inner {
    /// The cached token if it is not yet due for refresh.
    fn fresh(&self) -> Option<AccessToken> {
        let now = Instant::now();
        lock(&self.cached)
            .as_ref()
            .filter(|t| t.is_fresh(now))
            .cloned()
    }

    /// After a failed refresh, the old token while it is still valid; else the error.
    fn fallback(&self, error: TokenError) -> Result<AccessToken, TokenError> {
        let now = Instant::now();
        lock(&self.cached)
            .as_ref()
            .filter(|t| t.is_valid(now))
            .cloned()
            .ok_or(error)
    }
}

/// The token answer of RFC 6749 §5.1; other fields are ignored.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    token_type: Option<String>,
    expires_in: Option<serde_json::Value>,
}

/// The error answer of RFC 6749 §5.2.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: Option<String>,
}

/// Asks the endpoint for a token, within the settings' timeout.
async fn fetch(settings: &TokenSettings, client: &TokenClient) -> Result<AccessToken, TokenError> {
    match settings.token_url.scheme_str() {
        Some("http") if settings.token_url.authority().is_some() => {}
        _ => {
            return Err(TokenError::InvalidUrl(
                "the token url must be an absolute http url".to_owned(),
            ));
        }
    }
    let request = token_request(settings)?;
    let started = Instant::now();
    let exchange = async {
        let response = client
            .request(request)
            .await
            .map_err(|e| TokenError::Unreachable(describe(&e)))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| {
                if e.is::<http_body_util::LengthLimitError>() {
                    TokenError::TooLarge {
                        limit: MAX_ANSWER_BYTES,
                    }
                } else {
                    TokenError::Unreachable(format!("reading the answer failed: {e}"))
                }
            })?
            .to_bytes();
        Ok::<_, TokenError>((status, body))
    };
    let (status, body) = tokio::time::timeout(settings.timeout, exchange)
        .await
        .map_err(|_elapsed| TokenError::Timeout(settings.timeout))??;
    let token = read_answer(settings, status, &body, started)?;
    tracing::debug!(
        lifetime_s = (token.expires_at - started).as_secs(),
        "ndxp: fetched the upstream token"
    );
    Ok(token)
}

/// The `POST` of RFC 6749 §4.4.2, with the client authenticated by HTTP Basic (§2.3.1).
fn token_request(settings: &TokenSettings) -> Result<Request<Full<Bytes>>, TokenError> {
    let credentials = format!(
        "{}:{}",
        form_encode(&settings.client_id),
        form_encode(&settings.client_secret)
    );
    let mut form = String::from("grant_type=client_credentials");
    if let Some(scope) = &settings.scope {
        form.push_str("&scope=");
        form.push_str(&form_encode(scope));
    }
    Request::builder()
        .method(Method::POST)
        .uri(settings.token_url.clone())
        .header(
            header::AUTHORIZATION,
            format!("Basic {}", BASE64.encode(credentials)),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(form)))
        // Only a client id with bytes no header may hold fails here; say so without echoing it.
        .map_err(|_| TokenError::InvalidUrl("the token request cannot be built".to_owned()))
}

/// Turns the endpoint's answer into a token or the reason there is none.
fn read_answer(
    settings: &TokenSettings,
    status: StatusCode,
    body: &[u8],
    started: Instant,
) -> Result<AccessToken, TokenError> {
    if status.is_server_error() {
        return Err(TokenError::Unavailable {
            status: status.as_u16(),
        });
    }
    if status.is_client_error() {
        let error = serde_json::from_slice::<ErrorAnswer>(body)
            .ok()
            .and_then(|answer| answer.error)
            .map(|code| printable_code(&code))
            .filter(|code| !code.is_empty());
        return Err(TokenError::Refused {
            status: status.as_u16(),
            error,
        });
    }
    if status != StatusCode::OK {
        return Err(TokenError::Malformed(format!("unexpected status {status}")));
    }
    let answer: TokenAnswer = serde_json::from_slice(body)
        .map_err(|e| TokenError::Malformed(format!("not a JSON token answer: {e}")))?;
    let value = answer
        .access_token
        .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or_else(|| TokenError::Malformed("no usable access_token".to_owned()))?;
    if let Some(kind) = &answer.token_type
        && !kind.eq_ignore_ascii_case("bearer")
    {
        return Err(TokenError::Malformed(format!(
            "token_type {:?} is not Bearer",
            printable_code(kind)
        )));
    }
    let seconds = match &answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        // Some gateways quote numbers; the value is still meant.
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|s| (1..=MAX_LIFETIME_SECS).contains(s))
    .ok_or_else(|| {
        TokenError::Malformed(format!(
            "expires_in must be a whole number of seconds in 1..={MAX_LIFETIME_SECS}"
        ))
    })?;
    let lifetime = Duration::from_secs(seconds);
    // Counted from when the request left: the token may have been issued any time after.
    let expires_at = started + lifetime;
    let refresh_at = expires_at
        .checked_sub(settings.margin_for(lifetime))
        .unwrap_or(started)
        .max(started);
    Ok(AccessToken {
        value: Arc::from(value),
        refresh_at,
        expires_at,
    })
}

/// An OAuth error code cut to printable ASCII and a bounded length.
fn printable_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(MAX_ERROR_CODE_CHARS)
        .collect()
}

/// `application/x-www-form-urlencoded` encoding of one value (RFC 6749 Appendix B).
pub(crate) fn form_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                encoded.push(char::from(byte));
            }
            b' ' => encoded.push('+'),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

#[cfg(test)]
mod tests;
