//! Stage 5, limit: the subscription's rate plan and daily quota per system and
//! service (GCRA; in Redis when nodes share state), and the priority classes
//! that keep capacity for essential services when bulk traffic surges.

use super::authenticate::Caller;
use super::route::Routed;
use crate::limits::{
    LimitKey, PriorityGate, PriorityPermit, RateLimiter, Refusal, rate_limit_headers,
};
use crate::problem::GatewayError;
use crate::registry::consumers::Consumers;
use crate::registry::model::{Plan, SubscriptionState};
use http::HeaderMap;
use std::time::Duration;

/// What an admitted call carries on: its priority slot and the headers to send back.
pub struct Admission {
    /// Held until the upstream has answered.
    pub permit: PriorityPermit,
    /// `RateLimit` and `RateLimit-Policy`.
    pub headers: HeaderMap,
}

/// Admits or refuses the call under its plan and priority class.
pub async fn limit(
    limiter: &RateLimiter,
    gate: &PriorityGate,
    consumers: &Consumers,
    public_plan: &Plan,
    caller: &Caller,
    routed: &Routed,
) -> Result<Admission, GatewayError> {
    let service = &routed.route.service;
    // Public services need no subscription; their callers share a default plan.
    let plan = consumers
        .subscription(caller.slug(), service.slug.as_str())
        .filter(|s| s.state == SubscriptionState::Approved)
        .map(|s| &s.plan)
        .unwrap_or(public_plan);
    let key = LimitKey {
        system: caller.slug(),
        service: service.slug.as_str(),
    };
    let admitted = limiter
        .check(key, plan)
        .await
        .map_err(|refusal| match refusal {
            Refusal::Rate { retry_after } => GatewayError::RateLimited { retry_after },
            Refusal::Quota { retry_after } => GatewayError::QuotaExceeded { retry_after },
            Refusal::Unavailable => GatewayError::LimiterUnavailable,
        })?;
    let permit = gate
        .try_enter(service.priority)
        .ok_or(GatewayError::RateLimited {
            retry_after: Duration::from_secs(1),
        })?;
    Ok(Admission {
        permit,
        headers: rate_limit_headers(&admitted),
    })
}
