//! Cluster limits in Redis: one Lua script does the GCRA and the daily quota
//! atomically, on Redis' own clock, so the limit is exact across nodes.
//!
//! Redis must never stall the hot path: each call is bounded by a short
//! timeout, and after a failure calls skip Redis for a cool-down, letting one
//! probe through per cool-down to notice recovery.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::calendar::VN_UTC_OFFSET_SECS;
use super::gcra::GcraParams;
use super::{Admitted, LimitError, LimitKey, RedisFailure, Refusal};

/// GCRA plus daily quota, atomically, on Redis' clock (`TIME`).
///
/// KEYS[1]: theoretical arrival time (TAT) in µs, expiring when the bucket is full again.
/// KEYS[2]: today's call count, expiring at local midnight.
/// ARGV: emission interval µs, burst, daily quota (-1: none), UTC offset in seconds.
/// Returns {status, remaining, retry_after µs, reset µs}; status 0 admitted,
/// 1 refused by rate, 2 refused by quota. The quota is checked first and
/// incremented only for an admitted call, so a rate refusal consumes no quota.
/// Numbers written back use `%.0f` because Lua's default number formatting
/// would turn a 16-digit microsecond timestamp into lossy exponent notation.
const GCRA_SCRIPT: &str = r"
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local quota = tonumber(ARGV[3])
local offset = tonumber(ARGV[4]) * 1000000
local day = 86400000000
local until_midnight = day - ((now + offset) % day)
if quota >= 0 then
  local used = tonumber(redis.call('GET', KEYS[2]) or '0')
  if used >= quota then
    return {2, 0, until_midnight, 0}
  end
end
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then
  tat = now
end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if now < allow_at then
  return {1, 0, allow_at - now, tat - now}
end
local ttl_ms = math.ceil((new_tat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
if quota >= 0 then
  redis.call('INCR', KEYS[2])
  redis.call('PEXPIREAT', KEYS[2], string.format('%.0f', math.floor((now + until_midnight) / 1000)))
end
local remaining = math.floor((now + interval * burst - new_tat) / interval)
return {0, remaining, 0, new_tat - now}
";

/// How long one Redis call may take before the call is treated as failed.
pub(crate) const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_millis(50);

/// How long calls skip Redis after a failure before one probe tries again.
pub(crate) const DEFAULT_COOL_DOWN: Duration = Duration::from_millis(500);

/// How long `RateLimiter::new` waits for the first connection; a Redis that
/// is down at start only costs this much, then the gateway starts anyway.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(1);

/// How long one TCP connection attempt to Redis may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// Redis could not answer in time; the caller applies the failure policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BackendDown;

/// Shared limiter state in one Redis server.
pub(crate) struct RedisLimiter {
    /// Multiplexed connection that reconnects in the background.
    connection: ConnectionManager,
    /// The GCRA script, sent by SHA and loaded again on `NOSCRIPT`.
    script: redis::Script,
    /// Namespace between the fixed key prefixes and the (system, service).
    namespace: String,
    /// Bound on one Redis call.
    call_timeout: Duration,
    /// Skip period after a failure.
    cool_down: Duration,
    /// What the gateway does while Redis is unreachable (for the log).
    on_failure: RedisFailure,
    /// Origin of the millisecond clock used by `retry_at_ms`.
    epoch: Instant,
    /// 0 while healthy; otherwise the time (ms after `epoch`, plus one) when
    /// the next probe may go to Redis.
    retry_at_ms: AtomicU64,
    /// Calls that Redis failed or that skipped Redis while it was down.
    failures: AtomicU64,
}

impl RedisLimiter {
    /// Prepares the connection and tries it once, without failing when Redis is down.
    pub(crate) async fn connect(
        url: &str,
        on_failure: RedisFailure,
        namespace: String,
        call_timeout: Duration,
        cool_down: Duration,
    ) -> Result<Self, LimitError> {
        let client = redis::Client::open(url).map_err(LimitError::RedisUrl)?;
        // No retries inside the manager: the cool-down below paces retries,
        // and a retrying connection future would keep calls waiting.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(call_timeout));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(LimitError::RedisSetup)?;
        let limiter = RedisLimiter {
            connection,
            script: redis::Script::new(GCRA_SCRIPT),
            namespace,
            call_timeout,
            cool_down,
            on_failure,
            epoch: Instant::now(),
            retry_at_ms: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        };
        limiter.warm_up().await;
        Ok(limiter)
    }

    /// Connects and loads the script so the first calls find both ready.
    async fn warm_up(&self) {
        let mut connection = self.connection.clone();
        let loaded = tokio::time::timeout(STARTUP_TIMEOUT, self.script.load_async(&mut connection));
        match loaded.await {
            Ok(Ok(_sha)) => {}
            Ok(Err(error)) => self.record_failure(&error.to_string()),
            Err(_elapsed) => self.record_failure("timed out connecting"),
        }
    }

    /// Runs the GCRA script for one call, or reports that Redis is down.
    pub(crate) async fn check(
        &self,
        key: LimitKey<'_>,
        params: GcraParams,
        daily_quota: Option<u64>,
    ) -> Result<Result<Admitted, Refusal>, BackendDown> {
        if !self.may_call() {
            self.failures.fetch_add(1, Ordering::Relaxed);
            return Err(BackendDown);
        }
        let tag = format!("{}{{{}:{}}}", self.namespace, key.system, key.service);
        let mut invocation = self.script.prepare_invoke();
        invocation
            // The hash tag `{system:service}` keeps both keys in one slot, as
            // Redis Cluster requires for a multi-key script.
            .key(format!("lgsp:rl:{tag}"))
            .key(format!("lgsp:quota:{tag}"))
            .arg(params.interval_micros)
            .arg(params.burst)
            .arg(daily_quota.map_or(-1, |q| i64::try_from(q).unwrap_or(i64::MAX)))
            .arg(VN_UTC_OFFSET_SECS);
        let mut connection = self.connection.clone();
        let reply = tokio::time::timeout(
            self.call_timeout,
            invocation.invoke_async::<(i64, i64, i64, i64)>(&mut connection),
        )
        .await;
        match reply {
            Ok(Ok(reply)) => {
                self.record_success();
                Ok(decision(reply, params))
            }
            Ok(Err(error)) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.record_failure(&error.to_string());
                Err(BackendDown)
            }
            Err(_elapsed) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                self.record_failure("timed out");
                Err(BackendDown)
            }
        }
    }

    /// Calls that Redis failed, or that skipped Redis while it was down.
    pub(crate) fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Milliseconds since `epoch`, plus one so that 0 can mean "healthy".
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis())
            .unwrap_or(u64::MAX - 1)
            .saturating_add(1)
    }

    /// The cool-down in milliseconds.
    fn cool_down_ms(&self) -> u64 {
        u64::try_from(self.cool_down.as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether this call should go to Redis: always while healthy; while down,
    /// only the one call that claims the probe once the cool-down is over.
    fn may_call(&self) -> bool {
        let retry_at = self.retry_at_ms.load(Ordering::Acquire);
        if retry_at == 0 {
            return true;
        }
        let now = self.now_ms();
        if now < retry_at {
            return false;
        }
        let next = now.saturating_add(self.cool_down_ms());
        self.retry_at_ms
            .compare_exchange(retry_at, next, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Marks Redis down; logs only the transition from healthy.
    fn record_failure(&self, error: &str) {
        let next = self.now_ms().saturating_add(self.cool_down_ms());
        if self.retry_at_ms.swap(next, Ordering::AcqRel) == 0 {
            let fallback = match self.on_failure {
                RedisFailure::FailClosed => "refusing calls (fail closed)",
                RedisFailure::Local => "falling back to node-local limits",
            };
            tracing::warn!(
                event = "rate_limit_backend_unavailable",
                on_failure = self.on_failure.as_str(),
                error = %error,
                "Redis rate-limit backend unreachable; {fallback}"
            );
        }
    }

    /// Marks Redis healthy; logs only the transition from down.
    fn record_success(&self) {
        // Load first so the healthy hot path does not write a shared cache line.
        if self.retry_at_ms.load(Ordering::Acquire) != 0
            && self.retry_at_ms.swap(0, Ordering::AcqRel) != 0
        {
            tracing::info!(
                event = "rate_limit_backend_restored",
                "Redis rate-limit backend reachable again; cluster limits apply"
            );
        }
    }
}

/// Turns the script's reply into a decision.
fn decision(
    (status, remaining, retry_after_micros, reset_micros): (i64, i64, i64, i64),
    params: GcraParams,
) -> Result<Admitted, Refusal> {
    let micros = |value: i64| Duration::from_micros(u64::try_from(value).unwrap_or(0));
    match status {
        0 => Ok(Admitted {
            limit: params.burst,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset: micros(reset_micros),
            window: params.window(),
        }),
        2 => Err(Refusal::Quota {
            retry_after: micros(retry_after_micros),
        }),
        _ => Err(Refusal::Rate {
            retry_after: micros(retry_after_micros),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARAMS: GcraParams = GcraParams {
        interval_micros: 20_000,
        burst: 5,
    };

    #[test]
    fn script_replies_map_to_decisions() {
        let admitted = decision((0, 4, 0, 20_000), PARAMS).expect("admitted");
        assert_eq!(admitted.limit, 5);
        assert_eq!(admitted.remaining, 4);
        assert_eq!(admitted.reset, Duration::from_millis(20));
        assert_eq!(
            decision((1, 0, 7_000, 100_000), PARAMS),
            Err(Refusal::Rate {
                retry_after: Duration::from_millis(7)
            })
        );
        assert_eq!(
            decision((2, 0, 3_600_000_000, 0), PARAMS),
            Err(Refusal::Quota {
                retry_after: Duration::from_secs(3600)
            })
        );
    }
}
