//! The generic REST adapter: one pooled HTTP client for all upstreams.
//!
//! Bodies stream both ways so a 50 MB upload never sits in memory. Only
//! idempotent calls with small bodies are retried, because a streamed body
//! cannot be replayed and a repeated POST could act twice upstream.

pub mod breaker;
pub mod headers;
mod retry;

use crate::adapter::{Adapter, AdapterFuture, UpstreamCall};
use crate::error::AdapterError;
use breaker::{BreakerSettings, CircuitBreaker, CircuitState};
use bytes::Bytes;
use http::{Method, Request, Response, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The error type carried by streamed bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A streamed body, as sent to and received from upstreams.
pub type StreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// Bodies up to this size are buffered so an idempotent call can be retried.
const REPLAYABLE_BODY_BYTES: u64 = 64 * 1024;

/// How one service's upstream is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallSettings {
    /// Time allowed to establish the TCP connection.
    pub connect_timeout: Duration,
    /// Time allowed for the response head, per attempt.
    pub timeout: Duration,
    /// Extra attempts for idempotent calls.
    pub retries: u32,
    /// Largest request body sent upstream.
    pub max_request_bytes: u64,
    /// Largest response body passed back.
    pub max_response_bytes: u64,
}

/// The REST adapter: pooled clients and a circuit breaker per upstream origin.
pub struct RestAdapter {
    breaker_settings: BreakerSettings,
    clients: Mutex<HashMap<Duration, Client<HttpConnector, StreamBody>>>,
    breakers: Mutex<HashMap<String, Arc<CircuitBreaker>>>,
}

impl RestAdapter {
    /// An adapter whose breakers use `breaker_settings`.
    pub fn new(breaker_settings: BreakerSettings) -> Self {
        RestAdapter {
            breaker_settings,
            clients: Mutex::default(),
            breakers: Mutex::default(),
        }
    }

    /// The circuit state of every upstream called so far, by origin.
    pub fn circuit_states(&self) -> Vec<(String, CircuitState)> {
        let breakers = lock(&self.breakers);
        let mut states: Vec<_> = breakers
            .iter()
            .map(|(k, b)| (k.clone(), b.state()))
            .collect();
        states.sort_by(|a, b| a.0.cmp(&b.0));
        states
    }

    /// Calls the upstream named by the request's absolute URI.
    ///
    /// Server errors (5xx) come back as [`AdapterError::Status`] after any
    /// retries; every other status is returned with its body streaming.
    pub async fn send<B>(
        &self,
        request: Request<B>,
        settings: &CallSettings,
    ) -> Result<Response<StreamBody>, AdapterError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.exchange(request, settings, ServerErrors::Fail).await
    }

    /// Like [`RestAdapter::send`], but a `500` answer is returned with its
    /// body: SOAP carries its faults in `500` responses, and an upstream that
    /// answers with a fault is up, so the breaker counts it as a success.
    pub async fn send_keeping_faults<B>(
        &self,
        request: Request<B>,
        settings: &CallSettings,
    ) -> Result<Response<StreamBody>, AdapterError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.exchange(request, settings, ServerErrors::KeepFaults)
            .await
    }

    async fn exchange<B>(
        &self,
        request: Request<B>,
        settings: &CallSettings,
        server_errors: ServerErrors,
    ) -> Result<Response<StreamBody>, AdapterError>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let origin = origin_of(request.uri())?;
        let breaker = self.breaker(&origin);
        let client = self.client(settings.connect_timeout);
        let (parts, body) = request.into_parts();

        let declared = declared_length(&parts.headers);
        if declared.is_some_and(|n| n > settings.max_request_bytes) {
            return Err(AdapterError::RequestTooLarge {
                limit: settings.max_request_bytes,
            });
        }
        let limited = Limited::new(
            body,
            usize::try_from(settings.max_request_bytes).unwrap_or(usize::MAX),
        );
        let size_hint = http_body::Body::size_hint(&limited).exact();
        let replayable = is_idempotent(&parts.method)
            && (size_hint == Some(0)
                || declared
                    .or(size_hint)
                    .is_some_and(|n| n <= REPLAYABLE_BODY_BYTES));

        let mut body = if replayable {
            let bytes = limited
                .collect()
                .await
                .map_err(|e| classify_body_error(e, settings.max_request_bytes))?
                .to_bytes();
            Outgoing::Replayable(bytes)
        } else {
            Outgoing::Stream(Some(limited.map_err(Into::into).boxed_unsync()))
        };
        let attempts = if replayable { settings.retries + 1 } else { 1 };

        let mut attempt = 0;
        loop {
            attempt += 1;
            let permit = breaker
                .try_acquire()
                .ok_or_else(|| AdapterError::CircuitOpen {
                    upstream: origin.clone(),
                })?;
            let mut req = Request::from_parts(parts.clone(), body.take());
            // The pooled client derives Host from the URI.
            req.headers_mut().remove(http::header::HOST);
            let outcome = tokio::time::timeout(settings.timeout, client.request(req)).await;
            let more = attempt < attempts;
            match outcome {
                Err(_elapsed) => {
                    breaker.record(permit, false);
                    return Err(AdapterError::Timeout(settings.timeout));
                }
                Ok(Err(e)) if is_length_limit(&e) => {
                    breaker.release(permit);
                    return Err(AdapterError::RequestTooLarge {
                        limit: settings.max_request_bytes,
                    });
                }
                Ok(Err(e)) => {
                    breaker.record(permit, false);
                    if !more {
                        return Err(AdapterError::Transport(describe(&e)));
                    }
                }
                Ok(Ok(response))
                    if server_errors == ServerErrors::KeepFaults
                        && response.status() == http::StatusCode::INTERNAL_SERVER_ERROR =>
                {
                    breaker.record(permit, true);
                    return limit_response(response, settings.max_response_bytes);
                }
                Ok(Ok(response)) if response.status().is_server_error() => {
                    breaker.record(permit, false);
                    let status = response.status().as_u16();
                    if !(more && matches!(status, 502..=504)) {
                        return Err(AdapterError::Status { status });
                    }
                }
                Ok(Ok(response)) => {
                    breaker.record(permit, true);
                    return limit_response(response, settings.max_response_bytes);
                }
            }
            tokio::time::sleep(retry::backoff(attempt)).await;
        }
    }

    fn breaker(&self, origin: &str) -> Arc<CircuitBreaker> {
        let mut breakers = lock(&self.breakers);
        breakers
            .entry(origin.to_string())
            .or_insert_with(|| Arc::new(CircuitBreaker::new(self.breaker_settings)))
            .clone()
    }

    fn client(&self, connect_timeout: Duration) -> Client<HttpConnector, StreamBody> {
        let mut clients = lock(&self.clients);
        clients
            .entry(connect_timeout)
            .or_insert_with(|| {
                let mut connector = HttpConnector::new();
                connector.set_connect_timeout(Some(connect_timeout));
                connector.set_nodelay(true);
                Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(90))
                    .pool_max_idle_per_host(256)
                    .build(connector)
            })
            .clone()
    }
}

impl Adapter for RestAdapter {
    fn kind(&self) -> &'static str {
        "rest"
    }

    fn call(&self, call: UpstreamCall) -> AdapterFuture<'_> {
        Box::pin(async move { self.send(call.request, &call.settings).await })
    }
}

/// Whether a 5xx answer is an error or, for SOAP, possibly a fault to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServerErrors {
    Fail,
    KeepFaults,
}

/// A request body that is either buffered (and can be sent again) or streamed once.
enum Outgoing {
    Replayable(Bytes),
    Stream(Option<StreamBody>),
}

impl Outgoing {
    fn take(&mut self) -> StreamBody {
        match self {
            Outgoing::Replayable(bytes) => Full::new(bytes.clone())
                .map_err(|never| match never {})
                .boxed_unsync(),
            // A streamed body is only ever sent once: `attempts` is 1 for it.
            Outgoing::Stream(body) => body.take().unwrap_or_else(|| {
                Full::new(Bytes::new())
                    .map_err(|never| match never {})
                    .boxed_unsync()
            }),
        }
    }
}

fn limit_response(
    response: Response<hyper::body::Incoming>,
    max: u64,
) -> Result<Response<StreamBody>, AdapterError> {
    if declared_length(response.headers()).is_some_and(|n| n > max) {
        return Err(AdapterError::ResponseTooLarge { limit: max });
    }
    let (mut parts, body) = response.into_parts();
    headers::inbound_response_headers(&mut parts.headers);
    let body = Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX)).boxed_unsync();
    Ok(Response::from_parts(parts, body))
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

fn declared_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn origin_of(uri: &Uri) -> Result<String, AdapterError> {
    match (uri.scheme_str(), uri.authority()) {
        (Some("http"), Some(authority)) => Ok(format!("http://{authority}")),
        (Some(other), Some(_)) => Err(AdapterError::InvalidUrl(format!(
            "scheme {other} is not supported by the REST adapter yet"
        ))),
        _ => Err(AdapterError::InvalidUrl(format!(
            "{uri} is not an absolute URL"
        ))),
    }
}

fn classify_body_error(e: BoxError, limit: u64) -> AdapterError {
    if e.downcast_ref::<LengthLimitError>().is_some() {
        AdapterError::RequestTooLarge { limit }
    } else {
        AdapterError::Transport(format!("reading the request body failed: {e}"))
    }
}

fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// An error with its chain of causes, for messages.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(err) = source {
        text.push_str(": ");
        text.push_str(&err.to_string());
        source = err.source();
    }
    text
}

/// Locks a mutex whose guarded value stays consistent even if a holder panicked.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Maps of Arcs stay consistent even if a holder panicked.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_follows_rfc_9110() {
        assert!(is_idempotent(&Method::GET));
        assert!(is_idempotent(&Method::PUT));
        assert!(is_idempotent(&Method::DELETE));
        assert!(!is_idempotent(&Method::POST));
        assert!(!is_idempotent(&Method::PATCH));
    }

    #[test]
    fn origins() {
        let uri: Uri = "http://127.0.0.1:9000/population/v1/x?y=1"
            .parse()
            .expect("uri");
        assert_eq!(
            origin_of(&uri).ok().as_deref(),
            Some("http://127.0.0.1:9000")
        );
        let rel: Uri = "/x".parse().expect("uri");
        assert!(origin_of(&rel).is_err());
    }

    #[tokio::test]
    async fn unreachable_upstream_is_a_transport_error() {
        // Port 1 on loopback: nothing listens there, and no parallel test can take it.
        let port = 1;
        let adapter = RestAdapter::new(BreakerSettings::default());
        let settings = CallSettings {
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries: 1,
            max_request_bytes: 1024,
            max_response_bytes: 1024,
        };
        let req = Request::get(format!("http://127.0.0.1:{port}/x"))
            .body(Full::new(Bytes::new()))
            .expect("request");
        let err = adapter
            .send(req, &settings)
            .await
            .expect_err("nobody listens");
        assert!(matches!(err, AdapterError::Transport(_)), "{err:?}");
    }

    #[tokio::test]
    async fn declared_oversize_body_is_refused_before_connecting() {
        let adapter = RestAdapter::new(BreakerSettings::default());
        let settings = CallSettings {
            connect_timeout: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            retries: 0,
            max_request_bytes: 10,
            max_response_bytes: 10,
        };
        let req = Request::post("http://127.0.0.1:9/x")
            .header("content-length", "11")
            .body(Full::new(Bytes::from_static(b"0123456789a")))
            .expect("request");
        let err = adapter.send(req, &settings).await.expect_err("too large");
        assert!(
            matches!(err, AdapterError::RequestTooLarge { limit: 10 }),
            "{err:?}"
        );
    }
}
