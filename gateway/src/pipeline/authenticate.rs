//! Stage 3, authenticate: establish which consumer system is calling, then
//! check the caller's address against that system's allow-list.
//!
//! A system proves itself with one of: a bearer token issued by our
//! `/oauth2/token` (EdDSA JWT, verified once and then cached until expiry), an
//! API key (`X-API-Key`, looked up by its SHA-256), or an mTLS client
//! certificate bound to the system by fingerprint. A credential that is
//! present but wrong is refused outright; the gateway never falls back to a
//! weaker one.

use crate::access::secrets::hash_api_key;
use crate::access::tls::ClientCertificate;
use crate::access::tokens::TokenVerifier;
use crate::problem::GatewayError;
use crate::registry::consumers::{Consumers, SystemEntry};
use axum::body::Body;
use http::{Request, header};
use std::net::IpAddr;
use std::sync::Arc;

/// How the caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// A bearer JWT from `/oauth2/token`.
    Bearer,
    /// An API key.
    ApiKey,
    /// An mTLS client certificate.
    Certificate,
}

impl AuthMethod {
    /// The method's name in logs and audit records.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Bearer => "bearer",
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Certificate => "certificate",
        }
    }
}

/// An authenticated consumer system.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The system.
    pub system: Arc<SystemEntry>,
    /// How it authenticated.
    pub method: AuthMethod,
}

impl Caller {
    /// The system's slug.
    pub fn slug(&self) -> &str {
        self.system.system.slug.as_str()
    }
}

/// Identifies the caller and checks its address.
pub fn authenticate(
    consumers: &Consumers,
    verifier: &TokenVerifier,
    request: &Request<Body>,
    client_ip: IpAddr,
) -> Result<Caller, GatewayError> {
    let caller = identify(consumers, verifier, request)?;
    if !caller.system.allow.allows(client_ip) {
        return Err(GatewayError::IpDisallowed);
    }
    Ok(caller)
}

fn identify(
    consumers: &Consumers,
    verifier: &TokenVerifier,
    request: &Request<Body>,
) -> Result<Caller, GatewayError> {
    let refuse = |why: &str| GatewayError::Unauthenticated(why.to_string());
    if let Some(value) = request.headers().get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| refuse("Authorization is not a Bearer token"))?;
        let verified = verifier
            .verify(token)
            .map_err(|e| refuse(&format!("token refused: {e}")))?;
        let system = consumers
            .system(&verified.system)
            .ok_or_else(|| refuse("token names a system that no longer exists"))?;
        return Ok(Caller {
            system: system.clone(),
            method: AuthMethod::Bearer,
        });
    }
    if let Some(value) = request.headers().get("x-api-key") {
        let key = value
            .to_str()
            .map_err(|_| refuse("X-API-Key is not text"))?;
        let system = consumers
            .system_by_api_key_hash(&hash_api_key(key.trim()))
            .ok_or_else(|| refuse("unknown API key"))?;
        return Ok(Caller {
            system: system.clone(),
            method: AuthMethod::ApiKey,
        });
    }
    if let Some(cert) = request.extensions().get::<ClientCertificate>() {
        let system = consumers
            .system_by_certificate(&cert.fingerprint)
            .ok_or_else(|| refuse("client certificate is not bound to any system"))?;
        return Ok(Caller {
            system: system.clone(),
            method: AuthMethod::Certificate,
        });
    }
    Err(refuse("no credentials"))
}
