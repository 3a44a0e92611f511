//! Sign-in to the admin listener: `POST /admin/v1/login` trades a username
//! and password for a bearer token, `POST /admin/v1/logout` ends it, and the
//! [`AdminCaller`] extractor admits a request by its session.
//!
//! The token is 32 random bytes (base64url) that the store keeps only as a
//! SHA-256 hash, for [`SESSION_TTL`]. A consumer's data-plane JWT or API key is
//! no session, so it never authenticates here. An unknown username, a wrong
//! password and a disabled account cost the same argon2 verification and get
//! the same answer, so sign-in does not reveal which accounts exist, and each
//! source address may try only [`LOGIN_BURST`] times in a row.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Json, Router};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use super::accounts::{MAX_PASSWORD_BYTES, MAX_USERNAME_BYTES, Role};
use super::error::AdminError;
use crate::access::secrets::{generate_secret, hash_api_key, verify_secret, verify_unknown_client};
use crate::limits::TokenEndpointGuard;
use crate::store::Store;

/// How long a session lasts after sign-in: one working day.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);
/// Sign-in attempts per minute allowed from one source address, after the burst.
pub const LOGIN_PER_MINUTE: u32 = 10;
/// Sign-in attempts one source address may make in a row.
pub const LOGIN_BURST: u32 = 10;

/// What the admin plane's handlers need from the node's state.
pub trait AdminState: Clone + Send + Sync + 'static {
    /// The store holding accounts, sessions and the audit log.
    fn store(&self) -> &Store;
}

/// The account behind an admin-plane request, from its bearer session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCaller {
    /// The account's username.
    pub username: String,
    /// What it may do.
    pub role: Role,
    /// The commune agency of a commune officer.
    pub agency: Option<String>,
}

impl<S: AdminState> FromRequestParts<S> for AdminCaller {
    type Rejection = AdminError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers)?;
        let account = state
            .store()
            .session(&session_token_hash(token))
            .await?
            .ok_or(AdminError::Unauthenticated("no live session for the token"))?;
        Ok(AdminCaller {
            username: account.username,
            role: account.role,
            agency: account.agency,
        })
    }
}

/// Admits the caller when its role is one of `allowed`, or refuses with `FORBIDDEN` (403).
pub fn require(caller: &AdminCaller, allowed: &[Role]) -> Result<(), AdminError> {
    if allowed.contains(&caller.role) {
        return Ok(());
    }
    let names: Vec<&str> = allowed.iter().map(|role| role.as_str()).collect();
    Err(AdminError::Forbidden(format!(
        "this operation requires the role {}; the account has the role {}",
        names.join(" or "),
        caller.role
    )))
}

/// The sign-in routes: `POST /admin/v1/login` and `POST /admin/v1/logout`.
pub fn auth_routes<S: AdminState>() -> Router<S> {
    let guard = Arc::new(TokenEndpointGuard::new(LOGIN_PER_MINUTE, LOGIN_BURST));
    Router::new()
        .route("/admin/v1/login", post(login::<S>))
        .route("/admin/v1/logout", post(logout::<S>))
        .layer(Extension(guard))
}

/// The body of a sign-in; no `Debug`, so the password cannot reach a log.
#[derive(Deserialize, utoipa::ToSchema)]
pub(crate) struct LoginRequest {
    /// The account's username.
    username: String,
    /// Its password.
    password: String,
}

/// The answer to a successful sign-in (RFC 6749 §5.1 field names).
#[derive(Serialize)]
struct LoginResponse {
    /// The bearer token.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Seconds until the session ends.
    expires_in: u64,
    /// The account's role.
    role: Role,
}

/// `POST /admin/v1/login`: a bearer session for a username and password.
#[utoipa::path(post, path = "/admin/v1/login", tag = "sessions", request_body = LoginRequest,
    responses((status = 200, description = "`access_token`, `token_type`, `expires_in`, `role`"),
        (status = 401), (status = 429)))]
pub(crate) async fn login<S: AdminState>(
    State(state): State<S>,
    Extension(guard): Extension<Arc<TokenEndpointGuard>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    body: Result<Json<LoginRequest>, JsonRejection>,
) -> Result<Response, AdminError> {
    // Without connection info (a router served without it) all callers share
    // one bucket, which is stricter, never looser.
    let ip = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |Extension(info)| {
        info.0.ip()
    });
    guard.check(ip).map_err(AdminError::RateLimited)?;
    let Json(request) = body.map_err(|e| {
        AdminError::InvalidRequest(format!(
            "sign-in takes a JSON object {{\"username\", \"password\"}}: {}",
            e.body_text()
        ))
    })?;
    if request.username.is_empty()
        || request.username.len() > MAX_USERNAME_BYTES
        || request.password.is_empty()
        || request.password.len() > MAX_PASSWORD_BYTES
    {
        // Refused before any lookup: the bounds say nothing about which accounts exist.
        return Err(AdminError::Unauthenticated(
            "username or password out of bounds",
        ));
    }

    let store = state.store();
    let account = store.account(&request.username).await?;
    let stored = account
        .as_ref()
        .map(|account| (account.password_hash.clone(), account.disabled));
    let password = request.password;
    // argon2 is deliberately slow; keep it off the async workers. Every path
    // runs exactly one verification, so the answer time tells nothing.
    let verified = tokio::task::spawn_blocking(move || match stored {
        Some((hash, disabled)) => verify_secret(&hash, &password) && !disabled,
        None => {
            verify_unknown_client(&password);
            false
        }
    })
    .await
    .map_err(|e| AdminError::Internal(format!("password verification task failed: {e}")))?;
    let Some(account) = account.filter(|_| verified) else {
        return Err(AdminError::Unauthenticated("wrong username or password"));
    };

    // Expired sessions are swept here, where sessions are made, so the table
    // stays bounded without a background task.
    if let Err(error) = store.delete_expired_sessions().await {
        tracing::warn!(event = "admin_session_sweep_failed", error = %error);
    }
    let token = generate_secret();
    let expires_at = now_millis().saturating_add(duration_millis(SESSION_TTL));
    store
        .create_session(&session_token_hash(&token), &account.username, expires_at)
        .await?;
    tracing::info!(event = "admin_login", username = %account.username, role = %account.role);

    let mut response = Json(LoginResponse {
        access_token: token,
        token_type: "Bearer",
        expires_in: SESSION_TTL.as_secs(),
        role: account.role,
    })
    .into_response();
    // Token responses must never be cached (RFC 6749 §5.1).
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// `POST /admin/v1/logout`: ends the caller's session.
#[utoipa::path(post, path = "/admin/v1/logout", tag = "sessions",
    responses((status = 204), (status = 401)), security(("session" = [])))]
pub(crate) async fn logout<S: AdminState>(
    State(state): State<S>,
    caller: AdminCaller,
    headers: HeaderMap,
) -> Result<StatusCode, AdminError> {
    let token = bearer_token(&headers)?;
    state
        .store()
        .delete_session(&session_token_hash(token))
        .await?;
    tracing::info!(event = "admin_logout", username = %caller.username);
    Ok(StatusCode::NO_CONTENT)
}

/// The token of an `Authorization: Bearer …` header (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Result<&str, AdminError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(AdminError::Unauthenticated("no Authorization header"))?
        .to_str()
        .map_err(|_| AdminError::Unauthenticated("Authorization header is not text"))?;
    let (scheme, token) = value.split_once(' ').ok_or(AdminError::Unauthenticated(
        "Authorization header has no scheme",
    ))?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.len() > 512 {
        return Err(AdminError::Unauthenticated("not a bearer token"));
    }
    Ok(token)
}

/// The stored form of a session token: SHA-256, lowercase hex (the same
/// construction as an API key's, both being 256-bit random strings).
pub fn session_token_hash(token: &str) -> String {
    hash_api_key(token)
}

/// The current time in unix milliseconds.
fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, duration_millis)
}

/// A duration in whole milliseconds, saturating.
fn duration_millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_read_strictly() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(value).expect("header"),
            );
            headers
        };
        assert_eq!(bearer_token(&with("Bearer abc")).ok(), Some("abc"));
        assert_eq!(bearer_token(&with("bearer  abc ")).ok(), Some("abc"));
        assert!(bearer_token(&with("Basic abc")).is_err());
        assert!(bearer_token(&with("Bearer")).is_err());
        assert!(bearer_token(&with("Bearer ")).is_err());
        assert!(bearer_token(&HeaderMap::new()).is_err());
    }

    #[test]
    fn require_admits_only_the_listed_roles() {
        let caller = AdminCaller {
            username: "u".into(),
            role: Role::ProvinceAdmin,
            agency: None,
        };
        assert!(require(&caller, &[Role::ProvinceAdmin, Role::Operator]).is_ok());
        let Err(AdminError::Forbidden(detail)) = require(&caller, &[Role::Auditor]) else {
            panic!("a province admin is not an auditor");
        };
        assert!(detail.contains("auditor"), "{detail}");
    }
}
