//! Civil calendar days for the synthetic dataset, without a date-time
//! dependency: birth, registration and founding dates only need day arithmetic
//! and ISO formatting.

/// A day of the proleptic Gregorian calendar, counted from 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Day(i64);

impl Day {
    /// The day of a year, month (1-12) and day of month (1-31).
    pub(crate) fn from_ymd(year: i64, month: i64, day: i64) -> Day {
        // Howard Hinnant's days_from_civil: shifting the year to start in March
        // puts the leap day last, so month lengths follow a fixed pattern.
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month_from_march = if month > 2 { month - 3 } else { month + 9 };
        let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Day(era * 146_097 + day_of_era - 719_468)
    }

    /// The first of January of a year.
    pub(crate) fn first_of_year(year: i64) -> Day {
        Day::from_ymd(year, 1, 1)
    }

    /// How many days the year has.
    pub(crate) fn days_in_year(year: i64) -> i64 {
        Day::first_of_year(year + 1).0 - Day::first_of_year(year).0
    }

    /// The day `days` later (or earlier when negative).
    pub(crate) fn plus_days(self, days: i64) -> Day {
        Day(self.0.saturating_add(days))
    }

    /// Year, month and day of month.
    pub(crate) fn ymd(self) -> (i64, i64, i64) {
        // Inverse of `from_ymd` (Hinnant's civil_from_days).
        let z = self.0 + 719_468;
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

    /// The year.
    pub(crate) fn year(self) -> i64 {
        self.ymd().0
    }

    /// `YYYY-MM-DD`.
    pub(crate) fn iso(self) -> String {
        let (year, month, day) = self.ymd();
        format!("{year:04}-{month:02}-{day:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::Day;

    #[test]
    fn round_trips_and_formats() {
        assert_eq!(Day::from_ymd(1970, 1, 1), Day(0));
        assert_eq!(Day::from_ymd(2000, 2, 29).iso(), "2000-02-29");
        assert_eq!(Day::from_ymd(2024, 2, 28).plus_days(1).iso(), "2024-02-29");
        assert_eq!(Day::from_ymd(2023, 2, 28).plus_days(1).iso(), "2023-03-01");
        assert_eq!(Day::from_ymd(1999, 12, 31).plus_days(1).iso(), "2000-01-01");
        assert_eq!(Day::days_in_year(2024), 366);
        assert_eq!(Day::days_in_year(1900), 365);
        for n in (-30_000..60_000).step_by(97) {
            let (y, m, d) = Day(n).ymd();
            assert_eq!(Day::from_ymd(y, m, d), Day(n));
        }
    }
}
