//! A circuit breaker per upstream: closed, open, half-open.
//!
//! It stops the gateway from piling requests onto an upstream that is failing,
//! so callers get `UPSTREAM_UNAVAILABLE` at once instead of waiting for timeouts,
//! and the upstream gets room to recover. One probe at a time is let through
//! once the open period is over.

use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long the circuit stays open before a probe is allowed.
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failure_threshold: 5,
            open_for: Duration::from_secs(10),
        }
    }
}

/// The externally visible state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Calls are refused.
    Open,
    /// One probe call is allowed to test recovery.
    HalfOpen,
}

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probing: bool },
}

/// A circuit breaker for one upstream.
#[derive(Debug)]
pub struct CircuitBreaker {
    settings: BreakerSettings,
    state: Mutex<State>,
}

/// Leave to make one call; report its outcome with [`CircuitBreaker::record`].
#[derive(Debug)]
#[must_use = "report the call's outcome with CircuitBreaker::record"]
pub struct Permit {
    probe: bool,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(settings: BreakerSettings) -> Self {
        CircuitBreaker {
            settings,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// The state now, for health reports.
    pub fn state(&self) -> CircuitState {
        let mut state = self.lock();
        Self::expire_open(&mut state);
        match *state {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Asks to make a call; `None` while the circuit is open or a probe is already out.
    pub fn try_acquire(&self) -> Option<Permit> {
        let mut state = self.lock();
        Self::expire_open(&mut state);
        match &mut *state {
            State::Closed { .. } => Some(Permit { probe: false }),
            State::Open { .. } => None,
            State::HalfOpen { probing } if !*probing => {
                *probing = true;
                Some(Permit { probe: true })
            }
            State::HalfOpen { .. } => None,
        }
    }

    /// Reports how a permitted call went.
    pub fn record(&self, permit: Permit, success: bool) {
        let mut state = self.lock();
        let open = State::Open {
            until: Instant::now() + self.settings.open_for,
        };
        *state = match (&*state, success) {
            (_, true) => State::Closed { failures: 0 },
            (State::HalfOpen { .. }, false) if permit.probe => open,
            (State::Closed { failures }, false)
                if failures + 1 >= self.settings.failure_threshold =>
            {
                open
            }
            (State::Closed { failures }, false) => State::Closed {
                failures: failures + 1,
            },
            // A late failure from before the circuit opened changes nothing.
            (State::Open { until }, false) => State::Open { until: *until },
            (State::HalfOpen { probing }, false) => State::HalfOpen { probing: *probing },
        };
    }

    /// Returns a permit without a verdict: the call failed for the caller's
    /// reasons (an oversize body), which say nothing about the upstream.
    pub fn release(&self, permit: Permit) {
        if permit.probe {
            let mut state = self.lock();
            if let State::HalfOpen { probing } = &mut *state {
                *probing = false;
            }
        }
    }

    fn expire_open(state: &mut State) {
        if let State::Open { until } = *state
            && Instant::now() >= until
        {
            *state = State::HalfOpen { probing: false };
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update of a
        // plain enum; the value is still a valid state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerSettings {
            failure_threshold: 3,
            open_for: Duration::from_secs(5),
        })
    }

    fn fail(b: &CircuitBreaker) {
        let permit = b.try_acquire().expect("permit");
        b.record(permit, false);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures() {
        let b = breaker();
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), CircuitState::Closed);
        fail(&b);
        assert_eq!(b.state(), CircuitState::Open);
        assert!(b.try_acquire().is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn success_resets_the_count() {
        let b = breaker();
        fail(&b);
        fail(&b);
        let p = b.try_acquire().expect("permit");
        b.record(p, true);
        fail(&b);
        fail(&b);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn half_open_allows_one_probe_then_closes_on_success() {
        let b = breaker();
        for _ in 0..3 {
            fail(&b);
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(b.state(), CircuitState::HalfOpen);
        let probe = b.try_acquire().expect("probe");
        assert!(b.try_acquire().is_none(), "only one probe at a time");
        b.record(probe, true);
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn failed_probe_reopens() {
        let b = breaker();
        for _ in 0..3 {
            fail(&b);
        }
        tokio::time::advance(Duration::from_secs(6)).await;
        fail(&b);
        assert_eq!(b.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(
            b.state(),
            CircuitState::Open,
            "the open period restarts after a failed probe"
        );
    }
}
