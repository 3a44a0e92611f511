//! Backoff between retries: exponential with full jitter, so that many
//! gateways retrying one recovering upstream do not arrive in lockstep.

use rand::Rng;
use std::time::Duration;

const BASE: Duration = Duration::from_millis(25);
const CAP: Duration = Duration::from_secs(1);

/// The pause before the retry that follows attempt number `attempt` (1-based).
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE.saturating_mul(1 << attempt.min(10)).min(CAP);
    let millis = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_under_the_exponential_ceiling_and_the_cap() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            assert!(d <= CAP, "{d:?}");
            assert!(d <= BASE * (1 << attempt.min(10)), "{d:?}");
        }
    }
}
