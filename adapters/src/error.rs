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
}

impl AdapterError {
    /// The upstream's status code, when it answered at all.
    pub fn upstream_status(&self) -> Option<u16> {
        match self {
            AdapterError::Status { status } => Some(*status),
            _ => None,
        }
    }
}
