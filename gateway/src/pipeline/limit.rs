//! Stage 5, limit: rate and quota per system and service, with priority classes.
//!
//! NOT ENFORCED YET: a pass-through until the access-control issue brings
//! GCRA limits and quotas.

use super::authenticate::Caller;
use super::route::Routed;
use crate::problem::GatewayError;

/// Admits or refuses the call under its rate plan. Today: always admitted.
pub fn limit(_caller: &Caller, _routed: &Routed) -> Result<(), GatewayError> {
    Ok(())
}
