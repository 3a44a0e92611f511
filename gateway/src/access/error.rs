//! The one error type of the access module.

use std::path::PathBuf;

/// What can go wrong with keys, tokens, secrets and TLS settings.
///
/// Messages never carry secret material: no key bytes, no secrets, no tokens.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// An I/O error without a file to name (kept for callers that wrap their own I/O).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A key file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    File {
        /// What was being done (e.g. "reading signing key").
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A signing key file exists but is not a usable Ed25519 PKCS#8 key.
    #[error("signing key {path}: {reason}")]
    InvalidKey {
        /// The key file.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// A new key id could not be chosen so that it sorts after the existing ones.
    #[error("cannot rotate keys in {dir}: {reason}")]
    Rotation {
        /// The key directory.
        dir: PathBuf,
        /// Why rotation failed.
        reason: String,
    },
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// Signing a token failed.
    #[error("token signing failed: {0}")]
    Signing(String),
    /// The token's lifetime is over.
    #[error("token expired")]
    TokenExpired,
    /// The token is malformed, forged, of the wrong algorithm, or not for us.
    #[error("token rejected: {0}")]
    TokenRejected(&'static str),
    /// Hashing a client secret failed.
    #[error("secret hashing failed: {0}")]
    Hash(String),
    /// The TLS certificate, key or client CA is unusable.
    #[error("TLS settings: {0}")]
    Tls(String),
}
