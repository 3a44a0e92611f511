//! Echo and test routes the gateway's tests call through the gateway:
//! fixed-size downloads, streamed uploads, request inspection and slow
//! answers, plus the constant body the benchmark uses.
//!
//! Downloads and uploads stream in both directions, so tests can move
//! gigabytes through the gateway without the simulator holding them.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Path;
use axum::extract::rejection::PathRejection;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use http_body_util::BodyExt;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::replies;

/// Size of each chunk of a download.
const CHUNK: usize = 64 * 1024;
/// Largest download served.
const MAX_DOWNLOAD: u64 = 1 << 30;
/// Longest sleep served, so a typo cannot park a connection for days.
const MAX_SLEEP_MS: u64 = 10 * 60 * 1000;

/// The bytes every download chunk is cut from: the alphabet, repeated.
static FILLER: [u8; CHUNK] = alphabet_filler();

const fn alphabet_filler() -> [u8; CHUNK] {
    let mut filler = [0u8; CHUNK];
    let mut i = 0;
    while i < CHUNK {
        filler[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    filler
}

/// The body of `/fixed`.
const FIXED_BODY: &[u8] =
    r#"{"maKetQua":"00","moTa":"Thành công","duLieu":{"dichVu":"fixed","phienBan":"1"}}"#
        .as_bytes();

/// A body of `remaining` bytes sliced from [`FILLER`], never allocated.
#[derive(Debug)]
struct FillerBody {
    remaining: u64,
}

impl http_body::Body for FillerBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if self.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = usize::try_from(self.remaining).map_or(CHUNK, |r| r.min(CHUNK));
        self.remaining -= len as u64;
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(&FILLER[..len])))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Parses a numeric path parameter no larger than `max`.
fn bounded_number(param: Result<Path<String>, PathRejection>, max: u64) -> Option<u64> {
    let Path(text) = param.ok()?;
    text.parse::<u64>().ok().filter(|n| *n <= max)
}

/// `GET /fixed`: a constant body, as cheap as an answer gets.
pub(crate) async fn fixed() -> Response {
    replies::json_bytes(StatusCode::OK, Bytes::from_static(FIXED_BODY))
}

/// `GET /echo/v1/bytes/{n}`: exactly `n` bytes in 64 KiB chunks.
pub(crate) async fn bytes(n: Result<Path<String>, PathRejection>) -> Response {
    let Some(n) = bounded_number(n, MAX_DOWNLOAD) else {
        return replies::data_incorrect("Số byte phải là số nguyên từ 0 đến 1073741824");
    };
    let mut response = Response::new(Body::new(FillerBody { remaining: n }));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(n));
    response
}

/// The answer of an upload.
#[derive(Debug, Serialize)]
struct UploadAnswer {
    bytes: u64,
    sha256: String,
}

/// `POST|PUT /echo/v1/upload`: counts and hashes the body as it streams in.
pub(crate) async fn upload(mut body: Body) -> Response {
    let mut hasher = Sha256::new();
    let mut count = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return replies::data_incorrect("Không đọc được nội dung tải lên");
        };
        if let Some(data) = frame.data_ref() {
            hasher.update(data);
            count += data.len() as u64;
        }
    }
    let mut sha256 = String::with_capacity(64);
    for byte in hasher.finalize() {
        let _ = write!(sha256, "{byte:02x}");
    }
    replies::json(
        StatusCode::OK,
        &UploadAnswer {
            bytes: count,
            sha256,
        },
    )
}

/// What `/echo/v1/inspect` saw of a request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Inspection {
    method: String,
    path: String,
    query: String,
    headers: BTreeMap<String, String>,
    body_bytes: u64,
}

/// Any method on `/echo/v1/inspect[/{*rest}]`: the request as the simulator
/// received it, so tests can see what the gateway forwarded.
pub(crate) async fn inspect(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    mut body: Body,
) -> Response {
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        seen.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    let mut body_bytes = 0u64;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return replies::data_incorrect("Không đọc được nội dung yêu cầu");
        };
        if let Some(data) = frame.data_ref() {
            body_bytes += data.len() as u64;
        }
    }
    let inspection = Inspection {
        method: method.as_str().to_owned(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        headers: seen,
        body_bytes,
    };
    replies::json(StatusCode::OK, &inspection)
}

/// The answer of a slow request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SlowAnswer {
    slept_ms: u64,
}

/// `GET /echo/v1/slow/{ms}`: answers after `ms` milliseconds.
pub(crate) async fn slow(ms: Result<Path<String>, PathRejection>) -> Response {
    let Some(ms) = bounded_number(ms, MAX_SLEEP_MS) else {
        return replies::data_incorrect("Thời gian chờ phải là số mili giây từ 0 đến 600000");
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    replies::json(StatusCode::OK, &SlowAnswer { slept_ms: ms })
}
