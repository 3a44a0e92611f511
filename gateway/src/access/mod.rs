//! Credentials, tokens and TLS for consumer systems: the gateway's token
//! signing keys, OAuth2 access tokens (EdDSA JWTs), client-secret and API-key
//! hashing, and the TLS data listener with optional client certificates.

mod error;
pub mod keys;
pub mod secrets;
pub mod tls;
pub mod tokens;

pub use error::AccessError;
pub use keys::SigningKeys;
pub use tls::{ClientCertificate, TlsSettings};
pub use tokens::{IssuedToken, TokenIssuer, TokenVerifier, VerifiedToken};
