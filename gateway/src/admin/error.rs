//! Errors of the admin and auditor APIs, and their mapping onto the gateway's
//! errors so that [`problem_response`] stays the one place that builds a
//! problem response.

use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::HeaderValue;

use crate::problem::{GatewayError, problem_response};
use crate::store::StoreError;

/// Why an admin-plane request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// No valid session; the reason is logged, never shown.
    #[error("admin authentication failed: {0}")]
    Unauthenticated(&'static str),
    /// The caller's role may not do this; the text is safe to show.
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed; the text is safe to show.
    #[error("{0}")]
    InvalidRequest(String),
    /// What was asked for does not exist; the text is safe to show.
    #[error("{0}")]
    NotFound(String),
    /// The entity's state does not allow the change; the text is safe to show.
    #[error("{0}")]
    Conflict(String),
    /// A specification breaks the V-APEX conventions.
    #[error("the specification breaks the V-APEX conventions")]
    Nonconforming(Vec<crate::problem::Finding>),
    /// Too many sign-in attempts from this address.
    #[error("too many sign-in attempts; retry after {} s", .0.as_secs().max(1))]
    RateLimited(Duration),
    /// A store query failed; logged, never shown.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// A fault inside the gateway; logged, never shown.
    #[error("{0}")]
    Internal(String),
}

/// The admin plane speaks the gateway's error codes.
impl From<AdminError> for GatewayError {
    fn from(error: AdminError) -> Self {
        match error {
            AdminError::Unauthenticated(why) => GatewayError::Unauthenticated(why.into()),
            AdminError::Forbidden(detail) => GatewayError::Forbidden(detail),
            AdminError::InvalidRequest(detail) => GatewayError::InvalidRequest(detail),
            AdminError::NotFound(detail) => GatewayError::NotFound(detail),
            AdminError::Conflict(detail) => GatewayError::Conflict(detail),
            AdminError::Nonconforming(findings) => GatewayError::ConformanceFailed(findings),
            AdminError::RateLimited(retry_after) => GatewayError::RateLimited { retry_after },
            AdminError::Store(e) => GatewayError::Internal(format!("store: {e}")),
            AdminError::Internal(detail) => GatewayError::Internal(detail),
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let request_id = uuid::Uuid::now_v7().to_string();
        match &self {
            AdminError::Store(_) | AdminError::Internal(_) => {
                tracing::error!(event = "admin_request_failed", request_id = %request_id, error = %self);
            }
            AdminError::Unauthenticated(why) => {
                tracing::info!(event = "admin_authentication_failed", request_id = %request_id, reason = why);
            }
            _ => {}
        }
        let mut response = problem_response(&GatewayError::from(self), &request_id);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("x-request-id", value);
        }
        response
    }
}
