//! Timestamps of the auditor API: parsing a time bound given as an RFC 3339
//! date-time or as unix milliseconds, and writing unix milliseconds as an
//! RFC 3339 date-time at a fixed offset (Vietnam's +07:00 for reports).
//!
//! Written here rather than pulled from a date crate because the gateway needs
//! only these two conversions, over the proleptic Gregorian calendar.

/// Vietnam's offset from UTC in minutes; Vietnam keeps no daylight saving time.
pub const VIETNAM_OFFSET_MINUTES: i32 = 7 * 60;

/// Why a time bound was refused; the message is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a time must be unix milliseconds or an RFC 3339 date-time such as \
     2025-01-31T08:00:00+07:00 or 2025-01-31T01:00:00Z"
)]
pub struct TimeError;

/// Unix milliseconds from `text`: digits (optionally signed) are unix
/// milliseconds, anything else must be an RFC 3339 date-time.
///
/// A space where the offset's `+` belongs is read as `+`, because an
/// unencoded `+` in a query string arrives as a space.
pub fn parse_time(text: &str) -> Result<i64, TimeError> {
    let text = text.trim_start();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse::<i64>().map_err(|_| TimeError);
    }
    parse_rfc3339(text).ok_or(TimeError)
}

/// Unix milliseconds of 00:00 Asia/Ho_Chi_Minh on the calendar day `text`
/// (`YYYY-MM-DD`, checked for shape, month and day of the month).
pub fn local_day_start(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    parse_rfc3339(&format!("{text}T00:00:00+07:00"))
}

/// Unix milliseconds of an RFC 3339 date-time, or `None` when malformed.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = bytes.get(range)?;
        if part.iter().all(u8::is_ascii_digit) {
            std::str::from_utf8(part).ok()?.parse().ok()
        } else {
            None
        }
    };
    let separators_ok = bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    // RFC 3339 allows a leap second (60); it is folded into the next second's start.
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut rest = &text[19..];
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Precision finer than a millisecond is truncated, as the log keeps ms.
        let kept = &fraction[..digits.min(3)];
        millis = kept.parse::<i64>().ok()? * 10_i64.pow(3 - kept.len() as u32);
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-' | b' '), h1, h2, b':', m1, m2] => {
            let two = |a: u8, b: u8| -> Option<i64> {
                (a.is_ascii_digit() && b.is_ascii_digit())
                    .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
            };
            let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let magnitude = hours * 60 + minutes;
            if *sign == b'-' { -magnitude } else { magnitude }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    seconds.checked_mul(1000)?.checked_add(millis)
}

/// `ms` (unix milliseconds) as an RFC 3339 date-time with millisecond
/// precision at `offset_minutes` from UTC (`Z` when 0).
pub fn format_rfc3339(ms: i64, offset_minutes: i32) -> String {
    let local = ms + i64::from(offset_minutes) * 60_000;
    let (days, millis_of_day) = (local.div_euclid(86_400_000), local.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let seconds_of_day = millis_of_day / 1000;
    let offset = if offset_minutes == 0 {
        "Z".to_string()
    } else {
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let magnitude = offset_minutes.unsigned_abs();
        format!("{sign}{:02}:{:02}", magnitude / 60, magnitude % 60)
    };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}{offset}",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
        millis_of_day % 1000,
    )
}

/// Today's date in Vietnam (`YYYY-MM-DD`, +07:00).
pub fn local_today() -> String {
    format_rfc3339(crate::audit::now_millis(), 7 * 60)
        .chars()
        .take(10)
        .collect()
}

/// `ms` as Vietnamese reading expects it at +07:00: `dd/mm/yyyy hh:mm:ss`.
pub fn format_vietnamese(ms: i64) -> String {
    let local = ms + i64::from(VIETNAM_OFFSET_MINUTES) * 60_000;
    let (days, millis_of_day) = (local.div_euclid(86_400_000), local.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let seconds_of_day = millis_of_day / 1000;
    format!(
        "{day:02}/{month:02}/{year:04} {:02}:{:02}:{:02}",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
    )
}

/// Whether `year` is a Gregorian leap year.
fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// The number of days in `month` of `year`.
fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_unix_milliseconds_and_rfc3339() {
        assert_eq!(parse_time("0"), Ok(0));
        assert_eq!(parse_time("1735689600000"), Ok(1_735_689_600_000));
        assert_eq!(parse_time("2025-01-01T00:00:00Z"), Ok(1_735_689_600_000));
        assert_eq!(
            parse_time("2025-01-01T07:00:00+07:00"),
            Ok(1_735_689_600_000)
        );
        assert_eq!(
            parse_time("2025-01-01T07:00:00 07:00"),
            Ok(1_735_689_600_000)
        );
        assert_eq!(
            parse_time("2024-12-31T23:00:00-01:00"),
            Ok(1_735_689_600_000)
        );
        assert_eq!(parse_time("2025-01-01t00:00:00.5z"), Ok(1_735_689_600_500));
        assert_eq!(
            parse_time("2025-01-01T00:00:00.123456Z"),
            Ok(1_735_689_600_123)
        );
        assert_eq!(parse_time("2024-02-29T00:00:00Z"), Ok(1_709_164_800_000));
        assert_eq!(parse_time("1969-12-31T23:59:59Z"), Ok(-1000));
    }

    #[test]
    fn refuses_malformed_times() {
        for bad in [
            "",
            "2025-01-01",
            "2025-01-01T00:00:00",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T00:00:00.Z",
            "2025-01-01T00:00:00+7:00",
            "2025-01-01T00:00:00Zjunk",
            "yesterday",
            "99999999999999999999999",
            "2025-01-01T00:00:00+07:00\u{1F600}",
        ] {
            assert_eq!(parse_time(bad), Err(TimeError), "{bad:?}");
        }
    }

    #[test]
    fn formats_at_an_offset_and_round_trips() {
        assert_eq!(
            format_rfc3339(1_735_689_600_000, 0),
            "2025-01-01T00:00:00.000Z"
        );
        assert_eq!(
            format_rfc3339(1_735_689_600_123, VIETNAM_OFFSET_MINUTES),
            "2025-01-01T07:00:00.123+07:00"
        );
        assert_eq!(format_rfc3339(-1, 0), "1969-12-31T23:59:59.999Z");
        assert_eq!(format_vietnamese(1_735_689_600_000), "01/01/2025 07:00:00");
        for ms in [0, 951_782_400_000, 1_709_164_800_999, 4_102_444_800_000] {
            for offset in [0, VIETNAM_OFFSET_MINUTES, -330] {
                assert_eq!(
                    parse_time(&format_rfc3339(ms, offset)),
                    Ok(ms),
                    "{ms} {offset}"
                );
            }
        }
    }
}
