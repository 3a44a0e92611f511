//! Stage 8, minimize: drop the fields the caller's purpose may not see.
//!
//! NOT ENFORCED YET: the response passes unchanged until the access-control
//! issue brings per-purpose field policies.

use super::authenticate::Caller;
use super::route::Routed;
use axum::response::Response;

/// Removes fields the purpose may not see. Today: returns the response as is.
pub fn minimize(_caller: &Caller, _routed: &Routed, response: Response) -> Response {
    response
}
