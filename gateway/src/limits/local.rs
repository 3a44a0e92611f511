//! Node-local limits: one governor GCRA limiter per (system, service) and an
//! in-memory daily quota counter beside it.
//!
//! Used on its own in local mode, and as the fallback when Redis is
//! unreachable and the policy says to fall back.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::SystemTime;

use governor::Quota;
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};

use super::calendar::local_day;
use super::gcra::GcraParams;
use super::{Admitted, LimitKey, Refusal, SUSPENDED_RETRY_AFTER};
use crate::registry::model::Plan;

/// A direct governor limiter that reports its state on every positive decision.
type DirectLimiter<C> =
    governor::RateLimiter<NotKeyed, InMemoryState, C, StateInformationMiddleware>;

/// Calls counted against the daily quota on one local day.
#[derive(Debug, Default)]
struct DayCount {
    /// Local (UTC+7) day number the count belongs to.
    day: u64,
    /// Calls admitted on that day.
    used: u64,
}

/// The limiter and quota counter of one (system, service) under one plan.
struct Entry<C: Clock> {
    /// The plan the limiter was built from; a different plan rebuilds it.
    plan: Plan,
    /// GCRA parameters and limiter; `None` for a plan that admits nothing.
    gcra: Option<(GcraParams, DirectLimiter<C>)>,
    /// Today's count, shared with the entry's successors so a plan change
    /// does not hand out a fresh daily quota.
    quota_used: Arc<Mutex<DayCount>>,
}

impl<C: Clock + Clone> Entry<C> {
    /// Builds the limiter for `plan`, keeping the existing quota count.
    fn new(key: LimitKey<'_>, plan: Plan, quota_used: Arc<Mutex<DayCount>>, clock: &C) -> Self {
        let gcra = GcraParams::from_plan(&plan).map(|params| {
            let burst = NonZeroU32::new(params.burst).unwrap_or(NonZeroU32::MIN);
            let quota = Quota::with_period(params.interval())
                .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
                .allow_burst(burst);
            let limiter = governor::RateLimiter::direct_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>();
            (params, limiter)
        });
        if gcra.is_none() {
            tracing::warn!(
                event = "rate_limit_plan_invalid",
                system = key.system,
                service = key.service,
                rate_per_second = plan.rate_per_second,
                "plan rate is not a positive number; every call is refused"
            );
        }
        Entry {
            plan,
            gcra,
            quota_used,
        }
    }

    /// Takes one cell from the GCRA bucket, or says when one will be free.
    fn take_cell(&self, clock: &C) -> Result<Admitted, Refusal> {
        let Some((params, limiter)) = &self.gcra else {
            return Err(Refusal::Rate {
                retry_after: SUSPENDED_RETRY_AFTER,
            });
        };
        match limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Ok(Admitted {
                    limit: params.burst,
                    remaining,
                    reset: params.reset_for(remaining),
                    window: params.window(),
                })
            }
            Err(not_until) => Err(Refusal::Rate {
                retry_after: not_until.wait_time_from(clock.now()),
            }),
        }
    }
}

/// Services of one system, each with its entry.
type ServiceEntries<C> = HashMap<String, Arc<Entry<C>>>;

/// Node-local GCRA limits and daily quotas per (system, service).
pub(crate) struct LocalLimiter<C: Clock = DefaultClock> {
    /// Entries by system, then service: two levels so a lookup borrows the
    /// request's `&str`s instead of allocating a composite key.
    entries: RwLock<HashMap<String, ServiceEntries<C>>>,
    /// The clock every limiter reads; a fake one in tests.
    clock: C,
}

impl LocalLimiter<DefaultClock> {
    /// A local limiter on the real monotonic clock.
    pub(crate) fn new() -> Self {
        Self::with_clock(DefaultClock::default())
    }
}

impl<C: Clock + Clone> LocalLimiter<C> {
    /// A local limiter on `clock`.
    pub(crate) fn with_clock(clock: C) -> Self {
        LocalLimiter {
            entries: RwLock::new(HashMap::new()),
            clock,
        }
    }

    /// Admits or refuses one call; `now` places it on the quota calendar.
    pub(crate) fn check(
        &self,
        key: LimitKey<'_>,
        plan: &Plan,
        now: SystemTime,
    ) -> Result<Admitted, Refusal> {
        let entry = self.entry(key, plan);
        let Some(daily_quota) = plan.daily_quota else {
            return entry.take_cell(&self.clock);
        };
        let (day, until_midnight) = local_day(now);
        // The lock spans the rate decision so that a call refused by the rate
        // consumes no quota and concurrent calls cannot overshoot the quota.
        let mut count = entry
            .quota_used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if count.day != day {
            *count = DayCount { day, used: 0 };
        }
        if count.used >= daily_quota {
            return Err(Refusal::Quota {
                retry_after: until_midnight,
            });
        }
        let admitted = entry.take_cell(&self.clock)?;
        count.used += 1;
        Ok(admitted)
    }

    /// The entry for `key` under `plan`, built or rebuilt when needed.
    fn entry(&self, key: LimitKey<'_>, plan: &Plan) -> Arc<Entry<C>> {
        {
            let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
            let current = entries.get(key.system).and_then(|s| s.get(key.service));
            if let Some(entry) = current.filter(|e| e.plan == *plan) {
                return Arc::clone(entry);
            }
        }
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let services = entries.entry(key.system.to_owned()).or_default();
        let previous = services.get(key.service);
        // Another call may have built it between releasing the read lock and
        // taking the write lock.
        if let Some(entry) = previous.filter(|e| e.plan == *plan) {
            return Arc::clone(entry);
        }
        let quota_used = previous
            .map(|e| Arc::clone(&e.quota_used))
            .unwrap_or_default();
        let entry = Arc::new(Entry::new(key, *plan, quota_used, &self.clock));
        services.insert(key.service.to_owned(), Arc::clone(&entry));
        entry
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use governor::clock::FakeRelativeClock;

    use super::*;

    const KEY: LimitKey<'static> = LimitKey {
        system: "motcua-xa-my-hiep",
        service: "dan-cu",
    };

    /// 2025-03-10T10:00:00+07:00, fourteen hours before local midnight.
    fn morning() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_741_575_600)
    }

    fn plan(rate_per_second: f64, burst: u32, daily_quota: Option<u64>) -> Plan {
        Plan {
            rate_per_second,
            burst,
            daily_quota,
        }
    }

    fn limiter() -> (LocalLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        (LocalLimiter::with_clock(clock.clone()), clock)
    }

    #[test]
    fn burst_then_refusal_with_retry_after_of_one_interval() {
        let (limiter, _clock) = limiter();
        let plan = plan(10.0, 3, None);
        let remaining: Vec<u32> = (0..3)
            .map(|_| {
                limiter
                    .check(KEY, &plan, morning())
                    .expect("in burst")
                    .remaining
            })
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refusal = limiter
            .check(KEY, &plan, morning())
            .expect_err("over burst");
        assert_eq!(
            refusal,
            Refusal::Rate {
                retry_after: Duration::from_millis(100)
            }
        );
    }

    #[test]
    fn admitted_reports_limit_and_reset() {
        let (limiter, _clock) = limiter();
        let admitted = limiter
            .check(KEY, &plan(10.0, 3, None), morning())
            .expect("first call");
        assert_eq!(admitted.limit, 3);
        assert_eq!(admitted.remaining, 2);
        assert_eq!(admitted.reset, Duration::from_millis(100));
        assert_eq!(admitted.window, Duration::from_millis(300));
    }

    #[test]
    fn capacity_returns_with_time() {
        let (limiter, clock) = limiter();
        let plan = plan(10.0, 1, None);
        assert!(limiter.check(KEY, &plan, morning()).is_ok());
        assert!(limiter.check(KEY, &plan, morning()).is_err());
        clock.advance(Duration::from_millis(99));
        assert!(limiter.check(KEY, &plan, morning()).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(limiter.check(KEY, &plan, morning()).is_ok());
    }

    #[test]
    fn fractional_rate_spaces_calls_seconds_apart() {
        let (limiter, clock) = limiter();
        // One call every four seconds.
        let plan = plan(0.25, 1, None);
        assert!(limiter.check(KEY, &plan, morning()).is_ok());
        let refusal = limiter.check(KEY, &plan, morning()).expect_err("too soon");
        assert_eq!(
            refusal,
            Refusal::Rate {
                retry_after: Duration::from_secs(4)
            }
        );
        clock.advance(Duration::from_millis(3_999));
        assert!(limiter.check(KEY, &plan, morning()).is_err());
        clock.advance(Duration::from_millis(1));
        assert!(limiter.check(KEY, &plan, morning()).is_ok());
    }

    #[test]
    fn a_changed_plan_rebuilds_the_limiter() {
        let (limiter, _clock) = limiter();
        let small = plan(1.0, 1, None);
        assert!(limiter.check(KEY, &small, morning()).is_ok());
        assert!(limiter.check(KEY, &small, morning()).is_err());
        let larger = plan(1.0, 5, None);
        let admitted = limiter.check(KEY, &larger, morning()).expect("new plan");
        assert_eq!((admitted.limit, admitted.remaining), (5, 4));
        // The same plan again keeps the same limiter and its state.
        let admitted = limiter.check(KEY, &larger, morning()).expect("same plan");
        assert_eq!(admitted.remaining, 3);
    }

    #[test]
    fn keys_are_independent() {
        let (limiter, _clock) = limiter();
        let plan = plan(1.0, 1, None);
        assert!(limiter.check(KEY, &plan, morning()).is_ok());
        assert!(limiter.check(KEY, &plan, morning()).is_err());
        let other_service = LimitKey {
            system: KEY.system,
            service: "ho-tich",
        };
        let other_system = LimitKey {
            system: "motcua-xa-khac",
            service: KEY.service,
        };
        assert!(limiter.check(other_service, &plan, morning()).is_ok());
        assert!(limiter.check(other_system, &plan, morning()).is_ok());
    }

    #[test]
    fn exhausted_quota_waits_for_local_midnight() {
        let (limiter, clock) = limiter();
        let plan = plan(1000.0, 1000, Some(3));
        for _ in 0..3 {
            assert!(limiter.check(KEY, &plan, morning()).is_ok());
        }
        let refusal = limiter
            .check(KEY, &plan, morning())
            .expect_err("quota spent");
        assert_eq!(
            refusal,
            Refusal::Quota {
                retry_after: Duration::from_secs(14 * 3600)
            }
        );
        // Time passing within the day does not help; the next local day does.
        clock.advance(Duration::from_secs(3600));
        let later = morning() + Duration::from_secs(3600);
        assert!(matches!(
            limiter.check(KEY, &plan, later),
            Err(Refusal::Quota { .. })
        ));
        let next_day = morning() + Duration::from_secs(14 * 3600);
        assert!(limiter.check(KEY, &plan, next_day).is_ok());
    }

    #[test]
    fn rate_refusal_consumes_no_quota() {
        let (limiter, clock) = limiter();
        let plan = plan(1.0, 1, Some(2));
        assert!(limiter.check(KEY, &plan, morning()).is_ok());
        for _ in 0..10 {
            assert!(matches!(
                limiter.check(KEY, &plan, morning()),
                Err(Refusal::Rate { .. })
            ));
        }
        clock.advance(Duration::from_secs(1));
        assert!(limiter.check(KEY, &plan, morning()).is_ok());
        clock.advance(Duration::from_secs(1));
        assert!(matches!(
            limiter.check(KEY, &plan, morning()),
            Err(Refusal::Quota { .. })
        ));
    }

    #[test]
    fn a_plan_change_keeps_the_days_quota_count() {
        let (limiter, _clock) = limiter();
        assert!(
            limiter
                .check(KEY, &plan(100.0, 10, Some(2)), morning())
                .is_ok()
        );
        assert!(
            limiter
                .check(KEY, &plan(100.0, 10, Some(2)), morning())
                .is_ok()
        );
        let raised_rate = plan(200.0, 20, Some(2));
        assert!(matches!(
            limiter.check(KEY, &raised_rate, morning()),
            Err(Refusal::Quota { .. })
        ));
    }

    #[test]
    fn a_zero_rate_plan_refuses_everything() {
        let (limiter, _clock) = limiter();
        let refusal = limiter
            .check(KEY, &plan(0.0, 10, None), morning())
            .expect_err("suspended");
        assert_eq!(
            refusal,
            Refusal::Rate {
                retry_after: SUSPENDED_RETRY_AFTER
            }
        );
    }
}
