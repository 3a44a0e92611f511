//! A per-source-address limit on `POST /oauth2/token` against credential
//! stuffing: each address gets its own small GCRA bucket.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

/// Every this many checks, buckets that have refilled are dropped, so an
/// attacker rotating addresses cannot grow the map without bound.
const HOUSEKEEPING_EVERY: u64 = 4096;

/// Rate limit per source address for the token endpoint.
#[derive(Debug)]
pub struct TokenEndpointGuard {
    /// One GCRA bucket per source key.
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Checks so far, to pace housekeeping.
    checks: AtomicU64,
}

impl TokenEndpointGuard {
    /// A guard allowing `per_minute` requests per address, with bursts of `burst` (each at least 1).
    pub fn new(per_minute: u32, burst: u32) -> Self {
        let per_minute = per_minute.max(1);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(Duration::from_secs(60) / per_minute)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(burst);
        TokenEndpointGuard {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            checks: AtomicU64::new(0),
        }
    }

    /// Admits one token request from `ip`, or says how long it must wait.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY
            == HOUSEKEEPING_EVERY - 1
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let source = source_key(ip);
        self.limiter.check_key(&source).map_err(|not_until| {
            let retry_after = not_until.wait_time_from(self.limiter.clock().now());
            tracing::debug!(
                event = "token_endpoint_limited",
                source = %source,
                retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
                "token request refused: too many from this address"
            );
            retry_after
        })
    }
}

/// The bucket key of an address: IPv4 as is (also when IPv4-mapped), IPv6 by
/// its /64 prefix, because one host usually owns a whole /64 and could
/// otherwise rotate through 2^64 addresses to dodge the limit.
fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("valid address")
    }

    #[test]
    fn each_address_has_its_own_bucket() {
        let guard = TokenEndpointGuard::new(6, 2);
        let attacker = ip("203.0.113.7");
        assert!(guard.check(attacker).is_ok());
        assert!(guard.check(attacker).is_ok());
        let retry_after = guard.check(attacker).expect_err("over the limit");
        // Six per minute: one every ten seconds.
        assert!(retry_after > Duration::from_secs(9), "{retry_after:?}");
        assert!(retry_after <= Duration::from_secs(10), "{retry_after:?}");
        assert!(guard.check(ip("198.51.100.20")).is_ok());
    }

    #[test]
    fn ipv6_addresses_in_one_slash_64_share_a_bucket() {
        let guard = TokenEndpointGuard::new(1, 1);
        assert!(guard.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(guard.check(ip("2001:db8:1:2:ffff::9")).is_err());
        assert!(guard.check(ip("2001:db8:1:3::1")).is_ok());
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4() {
        let guard = TokenEndpointGuard::new(1, 1);
        assert!(guard.check(ip("192.0.2.1")).is_ok());
        assert!(guard.check(ip("::ffff:192.0.2.1")).is_err());
    }

    #[test]
    fn housekeeping_keeps_working_buckets() {
        let guard = TokenEndpointGuard::new(1, 1);
        let busy = ip("192.0.2.1");
        assert!(guard.check(busy).is_ok());
        for n in 0..HOUSEKEEPING_EVERY {
            let other = IpAddr::from((n as u32 | 0x0a00_0000).to_be_bytes());
            let _ = guard.check(other);
        }
        // Still limited after the map was pruned.
        assert!(guard.check(busy).is_err());
    }
}
