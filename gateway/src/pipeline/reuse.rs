//! Stage 6, reuse: answer once-only data from the reuse store when fresh.
//!
//! NOT IMPLEMENTED YET: every lookup misses until the once-only issue brings
//! the reuse store, so every call reaches the authoritative source.

use super::authenticate::Caller;
use super::route::Routed;
use axum::response::Response;

/// A fresh answer from the reuse store, if any. Today: always `None`.
pub fn lookup(_caller: &Caller, _routed: &Routed) -> Option<Response> {
    None
}
