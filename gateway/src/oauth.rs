//! The OAuth2 token endpoint (client credentials, RFC 6749 §4.4) and the JWKS
//! that lets anyone verify the tokens it issues.
//!
//! Refusals never reveal whether a client id exists: an unknown id costs the
//! same argon2 verification as a wrong secret and gets the same answer. Each
//! source address is rate limited against credential stuffing.

use crate::access::secrets::{verify_secret, verify_unknown_client};
use crate::problem::{GatewayError, problem_response};
use crate::server::NodeState;
use crate::telemetry::TokenRequestFinished;
use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, Form, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use http::{HeaderMap, HeaderValue, header};
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};

/// The form of a token request.
#[derive(Debug, Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    scope: Option<String>,
}

/// `POST /oauth2/token`.
pub async fn token(
    State(state): State<NodeState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    let request_id = uuid::Uuid::now_v7().to_string();
    let outcome = issue(&state, peer.ip(), &headers, form).await;
    TokenRequestFinished {
        request_id: &request_id,
        outcome: &outcome,
    }
    .emit();
    let mut response = match outcome {
        Ok((_, token)) => Json(token).into_response(),
        Err(error) => problem_response(&error, &request_id),
    };
    // Token responses must never be cached (RFC 6749 §5.1).
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
        .headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    response
}

async fn issue(
    state: &NodeState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<(String, crate::access::tokens::IssuedToken), GatewayError> {
    state
        .token_guard
        .check(ip)
        .map_err(|retry_after| GatewayError::RateLimited { retry_after })?;
    let Form(form) = form.map_err(|e| {
        GatewayError::InvalidRequest(format!(
            "token request must be an application/x-www-form-urlencoded form: {e}"
        ))
    })?;
    if form.grant_type.as_deref() != Some("client_credentials") {
        return Err(GatewayError::InvalidRequest(
            "grant_type must be client_credentials".into(),
        ));
    }
    let (client_id, secret) = client_credentials(headers, &form)?;
    if form.scope.as_ref().is_some_and(|s| s.len() > 256) {
        return Err(GatewayError::InvalidRequest("scope is too long".into()));
    }

    let snapshot = state.snapshot.current();
    let client = snapshot
        .consumers
        .client(&client_id)
        .map(|c| (c.system.clone(), c.secret_hash.clone()));
    // argon2 is deliberately slow; keep it off the async workers.
    let verified = tokio::task::spawn_blocking(move || match &client {
        Some((system, hash)) => verify_secret(hash, &secret).then(|| system.clone()),
        None => {
            verify_unknown_client(&secret);
            None
        }
    })
    .await
    .map_err(|e| GatewayError::Internal(format!("secret verification task failed: {e}")))?;
    let system = verified
        .ok_or_else(|| GatewayError::Unauthenticated("wrong client id or secret".into()))?;
    let entry = snapshot
        .consumers
        .system(&system)
        .ok_or_else(|| GatewayError::Unauthenticated("client's system is gone".into()))?;
    if !entry.allow.allows(ip) {
        return Err(GatewayError::IpDisallowed);
    }
    let token = state
        .issuer
        .issue(&system, form.scope.as_deref())
        .map_err(|e| GatewayError::Internal(format!("issuing a token failed: {e}")))?;
    Ok((system, token))
}

/// Client id and secret from HTTP Basic (client_secret_basic) or the form (client_secret_post).
fn client_credentials(
    headers: &HeaderMap,
    form: &TokenForm,
) -> Result<(String, String), GatewayError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|raw| String::from_utf8(raw).ok())
        .and_then(|pair| {
            pair.split_once(':')
                .map(|(id, secret)| (id.to_string(), secret.to_string()))
        });
    let pair = basic.or_else(|| Some((form.client_id.clone()?, form.client_secret.clone()?)));
    match pair {
        Some((id, secret))
            if !id.is_empty() && !secret.is_empty() && id.len() <= 128 && secret.len() <= 512 =>
        {
            Ok((id, secret))
        }
        _ => Err(GatewayError::Unauthenticated(
            "client credentials missing".into(),
        )),
    }
}

/// `GET /.well-known/jwks.json`.
pub async fn jwks(State(state): State<NodeState>) -> Response {
    let mut response = Json(state.keys.jwks()).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response
}
