//! The NDOP adapter: the National Data Center's platform, reached over mutual
//! TLS with every request and every answer signed.
//!
//! # Wire conventions (`LGSP-NDOP-1`)
//!
//! **Transport.** HTTPS only (TLS 1.2 or 1.3). The province presents its
//! client certificate; it trusts only the CA configured for NDOP's server
//! certificate.
//!
//! **Signatures.** ECDSA P-256 with SHA-256, ASN.1 DER signature, sent as
//! standard base64. Keys are PKCS#8 PEM; NDOP's verifying key is taken from
//! its certificate's public key.
//!
//! **Request.** The canonical form is these lines joined by `\n` (UTF-8, no
//! trailing newline):
//!
//! ```text
//! LGSP-NDOP-1
//! <METHOD>                      GET
//! <path-and-query as sent>      /ndop/v1/citizens/001090000001?x=1
//! <timestamp, unix seconds>     1767225600
//! <nonce>                       3q2-7wAAAAAAAAAAAAAAAA
//! <content digest>              sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:
//! ```
//!
//! and the request carries:
//!
//! | header | value |
//! |---|---|
//! | `X-NDOP-Key-Id` | the configured key id |
//! | `X-NDOP-Timestamp` | the timestamp |
//! | `X-NDOP-Nonce` | 128 random bits, base64url without padding |
//! | `Content-Digest` | `sha-256=:<base64 SHA-256 of the body>:` (RFC 9530; also for empty bodies) |
//! | `X-NDOP-Signature` | base64 signature over the canonical form |
//!
//! NDOP refuses (401, `{"maLoi", "moTa"}`) a bad signature or digest
//! (`CHU_KY_KHONG_HOP_LE`), a timestamp more than 300 s from its clock
//! (`THOI_GIAN_LECH`) and a nonce it saw within the last 600 s
//! (`YEU_CAU_LAP_LAI`).
//!
//! **Response.** Every answer, refusals included, is signed by NDOP over
//!
//! ```text
//! LGSP-NDOP-1-response
//! <status code>                 200
//! <the request's nonce>
//! <response timestamp>
//! <response content digest>
//! ```
//!
//! with headers `X-NDOP-Timestamp`, `X-NDOP-Nonce` (the request's, echoed),
//! `Content-Digest` and `X-NDOP-Signature`. The adapter refuses an answer
//! whose signature is missing or wrong, whose timestamp is outside
//! `max_skew`, or whose nonce is not the one it sent, so a replayed answer
//! fails ([`AdapterError::BadSignature`](crate::AdapterError::BadSignature)).
//!
//! # Settings ([`NdopSettings`](crate::ndop::NdopSettings))
//!
//! `client_cert_pem`, `client_key_pem` (mTLS identity), `server_ca_pem`
//! (trust for NDOP's server), `signing_key_pem` and `key_id` (request
//! signatures), `response_verify_cert_pem` (NDOP's signing certificate) and
//! `max_skew` (response timestamps, 300 s by default). PEM contents, not paths.
//!
//! # Errors
//!
//! An http:// URL → `InvalidUrl`; 5xx → `Status`; a signed 401/403 → `Rejected`
//! (NDOP refused the province's certificate or signature); a bad answer
//! signature → `BadSignature`. Only GET and HEAD are retried, once, on a
//! transport error, each attempt with a fresh nonce.

mod client;
pub mod signature;

#[cfg(test)]
mod tests;

pub use client::{NdopAdapter, NdopClient, NdopError, NdopSettings, SignedRequest};
