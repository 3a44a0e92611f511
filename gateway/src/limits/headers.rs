//! `RateLimit`, `RateLimit-Policy` and `Retry-After` response headers.
//!
//! The format follows draft-ietf-httpapi-ratelimit-headers-07:
//!
//! ```text
//! RateLimit: limit=20, remaining=7, reset=3
//! RateLimit-Policy: 20;w=2
//! ```
//!
//! - `limit`: the burst capacity of the plan (calls that may arrive at once);
//! - `remaining`: calls that may still be made right now;
//! - `reset`: seconds until the full burst is available again, rounded up;
//! - `RateLimit-Policy` `20;w=2`: `limit` calls per window of `w` seconds,
//!   where the window is the time the sustained rate takes to refill the
//!   whole burst, rounded up to whole seconds (at least 1) so the statement
//!   is never more generous than the actual plan.

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::Admitted;

/// `RateLimit` and `RateLimit-Policy` headers for an admitted call.
pub fn rate_limit_headers(admitted: &Admitted) -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(2);
    let state = format!(
        "limit={}, remaining={}, reset={}",
        admitted.limit,
        admitted.remaining,
        ceil_secs(admitted.reset)
    );
    let policy = format!("{};w={}", admitted.limit, ceil_secs(admitted.window).max(1));
    // Digits, commas and `=` are always valid header bytes, so these never fail.
    if let Ok(value) = HeaderValue::from_str(&state) {
        headers.insert(HeaderName::from_static("ratelimit"), value);
    }
    if let Ok(value) = HeaderValue::from_str(&policy) {
        headers.insert(HeaderName::from_static("ratelimit-policy"), value);
    }
    headers
}

/// `Retry-After` in whole seconds, rounded up and at least 1 so that clients
/// never retry at once.
pub fn retry_after_header(d: Duration) -> (HeaderName, HeaderValue) {
    (RETRY_AFTER, HeaderValue::from(ceil_secs(d).max(1)))
}

/// `d` in whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_headers_follow_the_draft() {
        let admitted = Admitted {
            limit: 20,
            remaining: 7,
            reset: Duration::from_millis(2_600),
            window: Duration::from_millis(4_000),
        };
        let headers = rate_limit_headers(&admitted);
        assert_eq!(
            headers.get("RateLimit").and_then(|v| v.to_str().ok()),
            Some("limit=20, remaining=7, reset=3")
        );
        assert_eq!(
            headers
                .get("RateLimit-Policy")
                .and_then(|v| v.to_str().ok()),
            Some("20;w=4")
        );
    }

    #[test]
    fn policy_window_is_at_least_one_second() {
        let admitted = Admitted {
            limit: 5,
            remaining: 4,
            reset: Duration::from_millis(20),
            window: Duration::from_millis(100),
        };
        let headers = rate_limit_headers(&admitted);
        assert_eq!(
            headers.get("ratelimit").and_then(|v| v.to_str().ok()),
            Some("limit=5, remaining=4, reset=1")
        );
        assert_eq!(
            headers
                .get("ratelimit-policy")
                .and_then(|v| v.to_str().ok()),
            Some("5;w=1")
        );
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let (name, value) = retry_after_header(Duration::from_millis(1_200));
        assert_eq!(name, RETRY_AFTER);
        assert_eq!(value, "2");
        assert_eq!(retry_after_header(Duration::ZERO).1, "1");
        assert_eq!(retry_after_header(Duration::from_millis(1)).1, "1");
        assert_eq!(retry_after_header(Duration::from_secs(3600)).1, "3600");
    }
}
