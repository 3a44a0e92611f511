//! GCRA parameters derived from a subscription plan, shared by the local and
//! the Redis limiter so that both enforce exactly the same limit.

use std::time::Duration;

use crate::registry::model::Plan;

/// Shortest emission interval: 1 µs, i.e. at most a million calls per second.
/// Redis computes in whole microseconds, so a shorter interval would round to zero.
const MIN_INTERVAL_MICROS: u64 = 1;

/// Longest emission interval: one call per day. A slower rate is better
/// expressed as a daily quota.
const MAX_INTERVAL_MICROS: u64 = 86_400 * 1_000_000;

/// Longest time a full burst may take to refill. Bounds `interval × burst` so
/// that neither governor's nanosecond arithmetic nor Redis' double-precision
/// microseconds can overflow or lose precision.
const MAX_WINDOW_MICROS: u64 = 30 * 86_400 * 1_000_000;

/// The emission interval and burst capacity of one plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GcraParams {
    /// Time between two calls at the sustained rate, in microseconds.
    pub(crate) interval_micros: u64,
    /// Calls that may arrive at once after a quiet period (at least 1).
    pub(crate) burst: u32,
}

impl GcraParams {
    /// Parameters of `plan`, or `None` when its rate is not a positive number
    /// (such a plan admits nothing).
    pub(crate) fn from_plan(plan: &Plan) -> Option<GcraParams> {
        let rate = plan.rate_per_second;
        if !rate.is_finite() || rate <= 0.0 {
            return None;
        }
        // Float-to-int `as` saturates, so an extreme rate clamps instead of wrapping.
        let interval_micros =
            ((1_000_000.0 / rate).round() as u64).clamp(MIN_INTERVAL_MICROS, MAX_INTERVAL_MICROS);
        let max_burst = u32::try_from(MAX_WINDOW_MICROS / interval_micros).unwrap_or(u32::MAX);
        let burst = plan.burst.clamp(1, max_burst.max(1));
        Some(GcraParams {
            interval_micros,
            burst,
        })
    }

    /// Time between two calls at the sustained rate.
    pub(crate) fn interval(&self) -> Duration {
        Duration::from_micros(self.interval_micros)
    }

    /// Time for an empty bucket to refill to its full burst.
    pub(crate) fn window(&self) -> Duration {
        Duration::from_micros(self.interval_micros.saturating_mul(u64::from(self.burst)))
    }

    /// Time until full capacity when `remaining` further calls are possible.
    /// Rounded up to whole intervals, so it never promises capacity too early.
    pub(crate) fn reset_for(&self, remaining: u32) -> Duration {
        let used = u64::from(self.burst.saturating_sub(remaining));
        Duration::from_micros(self.interval_micros.saturating_mul(used))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate_per_second: f64, burst: u32) -> Plan {
        Plan {
            rate_per_second,
            burst,
            daily_quota: None,
        }
    }

    #[test]
    fn fractional_rate_gives_a_long_interval() {
        let params = GcraParams::from_plan(&plan(0.5, 3)).expect("valid plan");
        assert_eq!(params.interval(), Duration::from_secs(2));
        assert_eq!(params.window(), Duration::from_secs(6));
    }

    #[test]
    fn zero_burst_means_one() {
        let params = GcraParams::from_plan(&plan(10.0, 0)).expect("valid plan");
        assert_eq!(params.burst, 1);
    }

    #[test]
    fn non_positive_or_nan_rate_admits_nothing() {
        assert_eq!(GcraParams::from_plan(&plan(0.0, 5)), None);
        assert_eq!(GcraParams::from_plan(&plan(-1.0, 5)), None);
        assert_eq!(GcraParams::from_plan(&plan(f64::NAN, 5)), None);
        assert_eq!(GcraParams::from_plan(&plan(f64::INFINITY, 5)), None);
    }

    #[test]
    fn extreme_values_are_clamped() {
        let fast = GcraParams::from_plan(&plan(1e12, u32::MAX)).expect("valid plan");
        assert_eq!(fast.interval_micros, MIN_INTERVAL_MICROS);
        let slow = GcraParams::from_plan(&plan(1e-9, u32::MAX)).expect("valid plan");
        assert_eq!(slow.interval_micros, MAX_INTERVAL_MICROS);
        assert_eq!(slow.burst, 30);
    }
}
