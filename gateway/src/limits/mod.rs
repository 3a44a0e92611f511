//! Rate limits, daily quotas and priority classes: the "limit" stage's engine.
//!
//! - [`RateLimiter`] applies a subscription [`Plan`] per (system, service):
//!   GCRA for the rate and burst, and a daily quota that rolls over at
//!   midnight Asia/Ho_Chi_Minh (UTC+7). In local mode the state lives in this
//!   node (governor); in Redis mode one Lua script keeps it in Redis, exact
//!   across nodes. When Redis is unreachable, [`RedisFailure`] decides:
//!   refuse, or fall back to node-local limits. Either way it is logged once
//!   per outage and counted.
//! - [`PriorityGate`] keeps in-flight capacity for essential services so that
//!   bulk traffic cannot starve them.
//! - [`TokenEndpointGuard`] limits `POST /oauth2/token` per source address.
//! - [`rate_limit_headers`] and [`retry_after_header`] format the response
//!   headers (see [`headers`] for the exact format).

mod calendar;
mod cluster;
mod gcra;
pub mod headers;
mod local;
mod priority;
mod token_guard;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

pub use headers::{rate_limit_headers, retry_after_header};
pub use priority::{PriorityGate, PriorityPermit};
pub use token_guard::TokenEndpointGuard;

use crate::config::redact_url;
use crate::registry::model::Plan;
use cluster::{BackendDown, RedisLimiter};
use gcra::GcraParams;
use local::LocalLimiter;

/// Retry-After for a plan whose rate admits nothing: long enough not to
/// invite hammering, short enough to notice a corrected plan.
const SUSPENDED_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Where the limiter keeps its state.
#[derive(Clone, PartialEq, Eq)]
pub enum LimitMode {
    /// In this node's memory; no Redis needed.
    Local,
    /// In Redis, shared by every node.
    Redis {
        /// `redis://[user:password@]host:port[/db]`.
        url: String,
        /// What to do when Redis cannot be reached.
        on_failure: RedisFailure,
    },
}

impl fmt::Debug for LimitMode {
    // Hand-written so that a Redis password never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LimitMode::Local => f.write_str("Local"),
            LimitMode::Redis { url, on_failure } => f
                .debug_struct("Redis")
                .field("url", &redact_url(url))
                .field("on_failure", on_failure)
                .finish(),
        }
    }
}

/// What to do while Redis is unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RedisFailure {
    /// Refuse every limited call with [`Refusal::Unavailable`].
    #[default]
    FailClosed,
    /// Answer from this node's own limits (each node then admits the full
    /// plan, so the cluster may admit up to nodes × plan until Redis returns).
    Local,
}

impl RedisFailure {
    /// The policy's configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            RedisFailure::FailClosed => "fail_closed",
            RedisFailure::Local => "local",
        }
    }
}

/// Whose calls are limited: a consumer system calling one service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LimitKey<'a> {
    /// The consumer system's slug.
    pub system: &'a str,
    /// The service's slug.
    pub service: &'a str,
}

/// An admitted call, with the state reported in the `RateLimit` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    /// Burst capacity of the plan.
    pub limit: u32,
    /// Calls that may still be made right now.
    pub remaining: u32,
    /// Time until the full burst capacity is available again.
    pub reset: Duration,
    /// Time the sustained rate takes to refill the whole burst (the policy window).
    pub window: Duration,
}

/// Why a call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the rate (`RATE_LIMITED`); a cell is free again after `retry_after`.
    Rate {
        /// Time until the call would be admitted.
        retry_after: Duration,
    },
    /// Daily quota spent (`QUOTA_EXCEEDED`); it renews at local midnight (UTC+7).
    Quota {
        /// Time until the day rolls over.
        retry_after: Duration,
    },
    /// Redis is unreachable and the policy is to fail closed.
    Unavailable,
}

impl Refusal {
    /// The wait to announce in `Retry-After`; one second when Redis is unavailable.
    pub fn retry_after(&self) -> Duration {
        match self {
            Refusal::Rate { retry_after } | Refusal::Quota { retry_after } => *retry_after,
            Refusal::Unavailable => Duration::from_secs(1),
        }
    }

    /// A short name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::Rate { .. } => "rate",
            Refusal::Quota { .. } => "quota",
            Refusal::Unavailable => "unavailable",
        }
    }
}

/// Errors setting up the limiter; an unreachable Redis is not one of them.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The Redis URL cannot be used (malformed, or `rediss://` without TLS support).
    #[error("invalid Redis URL for rate limits: {0}")]
    RedisUrl(#[source] redis::RedisError),
    /// The Redis connection manager could not be created.
    #[error("cannot set up the Redis connection for rate limits: {0}")]
    RedisSetup(#[source] redis::RedisError),
}

/// Tuning of a [`RateLimiter`]; the defaults suit production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimiterOptions {
    /// Inserted after `lgsp:rl:` and `lgsp:quota:` in Redis keys, so that
    /// test runs or several gateways can share one Redis without colliding.
    pub key_namespace: String,
    /// Bound on one Redis call; past it the call counts as a Redis failure.
    pub redis_call_timeout: Duration,
    /// After a Redis failure, how long calls skip Redis before one probes it again.
    pub redis_cool_down: Duration,
}

impl Default for LimiterOptions {
    fn default() -> Self {
        LimiterOptions {
            key_namespace: String::new(),
            redis_call_timeout: cluster::DEFAULT_CALL_TIMEOUT,
            redis_cool_down: cluster::DEFAULT_COOL_DOWN,
        }
    }
}

/// Rate and quota limits per (system, service), local or shared in Redis.
pub struct RateLimiter {
    /// Node-local limits: the whole story in local mode, the fallback in Redis mode.
    local: LocalLimiter,
    /// The shared limits, in Redis mode.
    cluster: Option<RedisLimiter>,
    /// The Redis failure policy (irrelevant in local mode).
    on_failure: RedisFailure,
    /// Calls answered by the local limiter because Redis was unreachable.
    fallbacks: AtomicU64,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("mode", &self.mode_name())
            .field("on_failure", &self.on_failure)
            .field("fallbacks", &self.fallbacks())
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter in `mode` with default options; a Redis that is down does not fail this.
    pub async fn new(mode: LimitMode) -> Result<RateLimiter, LimitError> {
        Self::with_options(mode, LimiterOptions::default()).await
    }

    /// A limiter in `mode` with `options`; waits at most about a second for Redis.
    pub async fn with_options(
        mode: LimitMode,
        options: LimiterOptions,
    ) -> Result<RateLimiter, LimitError> {
        let (cluster, on_failure) = match mode {
            LimitMode::Local => (None, RedisFailure::default()),
            LimitMode::Redis { url, on_failure } => {
                let cluster = RedisLimiter::connect(
                    &url,
                    on_failure,
                    options.key_namespace,
                    options.redis_call_timeout,
                    options.redis_cool_down,
                )
                .await?;
                (Some(cluster), on_failure)
            }
        };
        Ok(RateLimiter {
            local: LocalLimiter::new(),
            cluster,
            on_failure,
            fallbacks: AtomicU64::new(0),
        })
    }

    /// Admits one call by `key` under `plan`, or says why not.
    pub async fn check(&self, key: LimitKey<'_>, plan: &Plan) -> Result<Admitted, Refusal> {
        let decision = self.decide(key, plan).await;
        if let Err(refusal) = &decision {
            // Debug level: under a flood this fires per request, and the
            // pipeline's access log and audit already record each 429.
            tracing::debug!(
                event = "rate_limit_refused",
                system = key.system,
                service = key.service,
                kind = refusal.kind(),
                retry_after_ms =
                    u64::try_from(refusal.retry_after().as_millis()).unwrap_or(u64::MAX),
            );
        }
        decision
    }

    /// The decision, without logging.
    async fn decide(&self, key: LimitKey<'_>, plan: &Plan) -> Result<Admitted, Refusal> {
        let Some(cluster) = &self.cluster else {
            return self.local.check(key, plan, SystemTime::now());
        };
        let Some(params) = GcraParams::from_plan(plan) else {
            // A plan that admits nothing needs no round trip; the local
            // limiter refuses it and logs the invalid plan once.
            return self.local.check(key, plan, SystemTime::now());
        };
        match cluster.check(key, params, plan.daily_quota).await {
            Ok(decision) => decision,
            Err(BackendDown) => match self.on_failure {
                RedisFailure::FailClosed => Err(Refusal::Unavailable),
                RedisFailure::Local => {
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    self.local.check(key, plan, SystemTime::now())
                }
            },
        }
    }

    /// `"local"` or `"redis"`.
    pub fn mode_name(&self) -> &'static str {
        if self.cluster.is_some() {
            "redis"
        } else {
            "local"
        }
    }

    /// Calls answered by node-local limits because Redis was unreachable.
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    /// Calls for which Redis failed or was skipped as down, whatever the policy.
    pub fn backend_failures(&self) -> u64 {
        self.cluster.as_ref().map_or(0, RedisLimiter::failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: LimitKey<'static> = LimitKey {
        system: "motcua-xa-my-hiep",
        service: "dan-cu",
    };

    #[tokio::test]
    async fn local_mode_limits_without_redis() {
        let limiter = RateLimiter::new(LimitMode::Local)
            .await
            .expect("local limiter");
        assert_eq!(limiter.mode_name(), "local");
        let plan = Plan {
            rate_per_second: 1.0,
            burst: 2,
            daily_quota: None,
        };
        assert!(limiter.check(KEY, &plan).await.is_ok());
        assert!(limiter.check(KEY, &plan).await.is_ok());
        let refusal = limiter.check(KEY, &plan).await.expect_err("over burst");
        assert!(
            matches!(refusal, Refusal::Rate { retry_after } if retry_after <= Duration::from_secs(1))
        );
        assert_eq!(limiter.fallbacks(), 0);
        assert_eq!(limiter.backend_failures(), 0);
    }

    #[test]
    fn refusals_announce_a_retry_after() {
        let quota = Refusal::Quota {
            retry_after: Duration::from_secs(7),
        };
        assert_eq!(quota.retry_after(), Duration::from_secs(7));
        assert_eq!(Refusal::Unavailable.retry_after(), Duration::from_secs(1));
        assert_eq!(Refusal::Unavailable.kind(), "unavailable");
    }

    #[test]
    fn mode_debug_hides_the_redis_password() {
        let mode = LimitMode::Redis {
            url: "redis://lgsp:s3cret@10.0.0.5:6379".into(),
            on_failure: RedisFailure::Local,
        };
        let shown = format!("{mode:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("10.0.0.5"), "{shown}");
    }
}
