//! The admin listener's accounts, sign-in and the auditor API.
//!
//! Mount [`routes`] on the admin plane's router; the node's state implements
//! [`AdminState`] (the store) and [`AuditorState`] (the subject hash).
//! Everything here answers errors as RFC 9457 problems through
//! [`crate::problem::problem_response`], via [`AdminError`].

pub mod accounts;
pub mod audit_api;
pub mod auth;
pub mod error;
pub mod openapi;
pub mod registry_api;
pub mod timestamps;

pub use accounts::{Account, Role, create_user};
pub use audit_api::{AuditorState, audit_routes};
pub use auth::{AdminCaller, AdminState, auth_routes, require};
pub use error::AdminError;

use axum::Router;

/// Sign-in (`/admin/v1/login`, `/admin/v1/logout`) and the auditor API (`/audit/v1/…`).
pub fn routes<S: AuditorState>() -> Router<S> {
    auth_routes::<S>().merge(audit_routes::<S>())
}
