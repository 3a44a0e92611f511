//! Evidence of what crossed the gateway: the SHA-256 and size of the request
//! body as it streamed upstream, and of the response body before it leaves.
//!
//! The audit record must be durable before the response is sent, and it
//! carries the response's hash, so responses up to `hash_limit` bytes (national
//! data answers are small JSON documents) are buffered and hashed first.
//! Larger ones, announced by their `Content-Length`, stream through unbuffered
//! and are recorded with their size and the marker [`STREAMED`] instead of a
//! hash: bounded memory wins over hashing a 50 MB download.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Recorded instead of a hash for responses too large to buffer.
pub const STREAMED: &str = "streamed";

/// The hash of the empty body, for requests whose body was never read.
pub fn empty_sha256() -> String {
    hex(&Sha256::digest([]))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size and running hash of a body, shared between the body and the record stage.
#[derive(Debug, Default)]
struct Tally {
    bytes: u64,
    hasher: Sha256,
}

/// A handle to read the tally of a request body after it has streamed.
#[derive(Debug, Clone, Default)]
pub struct RequestTally(Arc<Mutex<Tally>>);

impl RequestTally {
    /// Bytes seen so far and the SHA-256 of them.
    pub fn finish(&self) -> (u64, String) {
        let tally = self.0.lock().unwrap_or_else(|p| p.into_inner());
        (tally.bytes, hex(&tally.hasher.clone().finalize()))
    }
}

/// Wraps a request body so every frame that passes is counted and hashed.
pub fn tally_request(body: Body) -> (Body, RequestTally) {
    let tally = RequestTally::default();
    (
        Body::new(TallyingBody {
            inner: body,
            tally: tally.clone(),
        }),
        tally,
    )
}

struct TallyingBody {
    inner: Body,
    tally: RequestTally,
}

impl HttpBody for TallyingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let mut tally = self.tally.0.lock().unwrap_or_else(|p| p.into_inner());
            tally.bytes += data.len() as u64;
            tally.hasher.update(data);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// What the record says about a response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseEvidence {
    /// Body size in bytes (declared, for streamed bodies).
    pub bytes: u64,
    /// SHA-256 hex, or [`STREAMED`].
    pub sha256: String,
}

/// Buffers and hashes a response up to `hash_limit`; larger declared bodies stream on.
pub async fn hash_response(
    response: Response,
    hash_limit: u64,
) -> Result<(Response, ResponseEvidence), axum::Error> {
    let declared = response
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if let Some(n) = declared.filter(|n| *n > hash_limit) {
        return Ok((
            response,
            ResponseEvidence {
                bytes: n,
                sha256: STREAMED.to_string(),
            },
        ));
    }
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let evidence = ResponseEvidence {
        bytes: bytes.len() as u64,
        sha256: hex(&Sha256::digest(&bytes)),
    };
    Ok((Response::from_parts(parts, Body::from(bytes)), evidence))
}

/// Binds a request to the response it got: what `X-LGSP-Request-Hash` carries.
///
/// A consumer holding the request it sent and the response it received can
/// recompute this and prove which answer it got for which question.
pub fn request_hash(
    audit_id: &str,
    request_sha256: &str,
    response_sha256: &str,
    status: u16,
) -> String {
    let mut h = Sha256::new();
    h.update(b"lgsp-exchange:v1:");
    for part in [
        audit_id,
        request_sha256,
        response_sha256,
        &status.to_string(),
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tallies_what_streams_through() {
        let (body, tally) = tally_request(Body::from("xin chào"));
        let read = body.collect().await.expect("body").to_bytes();
        assert_eq!(&read[..], "xin chào".as_bytes());
        let (n, sha) = tally.finish();
        assert_eq!(n, "xin chào".len() as u64);
        assert_eq!(sha, hex(&Sha256::digest("xin chào".as_bytes())));
    }

    #[tokio::test]
    async fn small_responses_are_hashed_and_still_delivered() {
        let (r, ev) = hash_response(Response::new(Body::from("{\"a\":1}")), 1024)
            .await
            .expect("ok");
        assert_eq!(ev.bytes, 7);
        assert_eq!(ev.sha256, hex(&Sha256::digest(b"{\"a\":1}")));
        assert_eq!(
            &r.into_body().collect().await.expect("body").to_bytes()[..],
            b"{\"a\":1}"
        );
    }

    #[tokio::test]
    async fn large_declared_responses_stream_unhashed() {
        let mut big = Response::new(Body::from(vec![0u8; 10]));
        big.headers_mut()
            .insert(header::CONTENT_LENGTH, "10".parse().expect("value"));
        let (_, ev) = hash_response(big, 5).await.expect("ok");
        assert_eq!(
            ev,
            ResponseEvidence {
                bytes: 10,
                sha256: STREAMED.into()
            }
        );
    }

    #[test]
    fn request_hash_binds_every_part() {
        let base = request_hash("a", "b", "c", 200);
        assert_ne!(base, request_hash("a", "b", "c", 404));
        assert_ne!(base, request_hash("a", "b", "d", 200));
        assert_ne!(base, request_hash("x", "b", "c", 200));
        assert_eq!(
            empty_sha256(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
