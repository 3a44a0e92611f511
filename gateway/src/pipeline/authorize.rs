//! Stage 4, authorize: subscription, security level, data class and purpose.
//!
//! NOT ENFORCED YET: a pass-through until the access-control issue brings the
//! policy engine in `policies/`.

use super::authenticate::Caller;
use super::route::Routed;
use crate::problem::GatewayError;

/// Decides whether the caller may invoke the route. Today: always allowed.
pub fn authorize(_caller: &Caller, _routed: &Routed) -> Result<(), GatewayError> {
    Ok(())
}
