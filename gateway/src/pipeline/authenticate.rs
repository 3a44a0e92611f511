//! Stage 3, authenticate: establish which consumer system is calling.
//!
//! NOT ENFORCED YET. Until the access-control issue fills this stage (bearer
//! JWT, API key, mTLS, IP allow-list), every request passes as
//! [`Caller::Unauthenticated`]. Nothing here pretends to check credentials.

use crate::problem::GatewayError;
use axum::body::Body;
use http::Request;

/// Who is calling, as far as the gateway knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// No authentication has been performed (the stage is a pass-through).
    Unauthenticated,
}

/// Identifies the caller. Today: always [`Caller::Unauthenticated`].
pub fn authenticate(_request: &Request<Body>) -> Result<Caller, GatewayError> {
    Ok(Caller::Unauthenticated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_through_without_claiming_identity() {
        let req = Request::get("/api/x/v1/y")
            .header("authorization", "Bearer forged")
            .body(Body::empty())
            .expect("req");
        assert_eq!(authenticate(&req).ok(), Some(Caller::Unauthenticated));
    }
}
