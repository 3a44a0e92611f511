//! Errors of the upstream adapters. The gateway maps each to one problem code.

use std::time::Duration;

/// Why an upstream call failed.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The upstream did not send its response head in time.
    #[error("upstream did not answer within {0:?}")]
    Timeout(Duration),
    /// The circuit for this upstream is open; no call was made.
    #[error("circuit open for upstream {upstream}")]
    CircuitOpen {
        /// The upstream origin.
        upstream: String,
    },
    /// The consumer's request body is larger than the service allows.
    #[error("request body exceeds {limit} bytes")]
    RequestTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The upstream's response body is larger than the service allows.
    #[error("response body exceeds {limit} bytes")]
    ResponseTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Connecting or talking to the upstream failed.
    #[error("upstream transport failed: {0}")]
    Transport(String),
    /// The upstream answered with a server error, after any retries.
    #[error("upstream answered status {status}")]
    Status {
        /// The upstream's status code.
        status: u16,
    },
    /// The service's upstream URL cannot be used.
    #[error("invalid upstream url: {0}")]
    InvalidUrl(String),
    /// The upstream's token endpoint could not give the province a token.
    #[error("upstream token unavailable: {0}")]
    TokenUnavailable(String),
    /// The upstream refused the province's own credentials or signature
    /// (after the one transparent token refresh, for NDXP).
    #[error("upstream refused the province's credentials with status {status}: {reason}")]
    Rejected {
        /// The upstream's status code.
        status: u16,
        /// What the upstream said, cut short.
        reason: String,
    },
    /// The upstream's answer carries a missing or wrong signature, a stale
    /// timestamp or a nonce other than the one sent.
    #[error("upstream answer signature refused: {0}")]
    BadSignature(String),
    /// The upstream answered with a SOAP fault or an error result code.
    #[error("upstream fault {code}: {reason}")]
    Fault {
        /// The fault or result code.
        code: String,
        /// The upstream's reason, cut short.
        reason: String,
    },
    /// The upstream's answer cannot be read (malformed or hostile XML or JSON).
    #[error("upstream answer unreadable: {0}")]
    Malformed(String),
    /// The consumer's request cannot be mapped to the upstream's message.
    #[error("request member {pointer} {reason}")]
    InvalidRequest {
        /// JSON pointer of the offending member (`""` for the whole body).
        pointer: String,
        /// What is wrong.
        reason: String,
    },
}

impl AdapterError {
    /// The upstream's status code, when it answered at all.
    pub fn upstream_status(&self) -> Option<u16> {
        match self {
            AdapterError::Status { status } | AdapterError::Rejected { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }
}
