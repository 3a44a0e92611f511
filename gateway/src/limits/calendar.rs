//! The quota calendar: daily quotas roll over at midnight Asia/Ho_Chi_Minh.
//!
//! Vietnam has kept UTC+7 without daylight saving since 1975, so a fixed
//! offset is exact and needs no time-zone database.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Offset of Asia/Ho_Chi_Minh from UTC, in seconds.
pub(crate) const VN_UTC_OFFSET_SECS: u64 = 7 * 3600;

/// Seconds in one calendar day.
const DAY_SECS: u64 = 86_400;

/// The local (UTC+7) day number of `now` and the time left until that day ends.
pub(crate) fn local_day(now: SystemTime) -> (u64, Duration) {
    // A clock before 1970 is a broken clock; treating it as the epoch keeps
    // the counters consistent instead of failing requests.
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let local = since_epoch.saturating_add(Duration::from_secs(VN_UTC_OFFSET_SECS));
    let day = local.as_secs() / DAY_SECS;
    let next_midnight = Duration::from_secs(day.saturating_add(1).saturating_mul(DAY_SECS));
    (day, next_midnight.saturating_sub(local))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_rolls_over_at_utc_plus_seven_midnight() {
        // 2025-01-01T16:59:59Z is 23:59:59 in Hanoi: one second to go.
        let before = UNIX_EPOCH + Duration::from_secs(1_735_750_799);
        let (day_before, left) = local_day(before);
        assert_eq!(left, Duration::from_secs(1));
        // 17:00:00Z is the next local day, with a full day ahead.
        let after = before + Duration::from_secs(1);
        let (day_after, left) = local_day(after);
        assert_eq!(day_after, day_before + 1);
        assert_eq!(left, Duration::from_secs(DAY_SECS));
    }
}
