//! Text forms of times and durations, as the providers write them in their headers and bodies.
//!
//! Everything here is total: no input panics, out-of-range instants are clamped to what the
//! format can hold.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

// The server's clock: tokio's, so that tests on its paused clock judge retries in virtual time.
use tokio::time::Instant;

/// The last second an IMF-fixdate or a four-digit RFC 3339 year can show:
/// 9999-12-31T23:59:59Z, in seconds since the Unix epoch.
const MAX_UNIX_SECS: i64 = 253_402_300_799;

/// One moment read on both clocks: the wall clock that dates and instants in a response are
/// written from, and the monotonic clock the server judges retries by.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Moment {
    instant: Instant,
    since_epoch: Duration,
}

impl Moment {
    pub(crate) fn now() -> Self {
        // The monotonic clock first: the instant then never lies after the wall time read.
        let instant = Instant::now();
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Moment {
            instant,
            since_epoch,
        }
    }

    /// Whole milliseconds since the Unix epoch, truncated.
    pub(crate) fn unix_ms(&self) -> i64 {
        i64::try_from(self.since_epoch.as_millis()).unwrap_or(i64::MAX)
    }

    /// When the wall clock shows `unix_ms`, on the monotonic clock: this moment for a time
    /// already past. Never later than the true moment, so a client that waits until the time
    /// it was shown is never judged early; one that cannot be represented is a century away.
    pub(crate) fn instant_at(&self, unix_ms: i64) -> Instant {
        let target = Duration::from_millis(u64::try_from(unix_ms).unwrap_or(0));
        let wait = target.saturating_sub(self.since_epoch);
        self.instant
            .checked_add(wait)
            .or_else(|| {
                self.instant
                    .checked_add(Duration::from_secs(100 * 365 * 86_400))
            })
            .unwrap_or(self.instant)
    }
}

/// Milliseconds since the Unix epoch on the wall clock (0 if the clock is before 1970).
pub(crate) fn unix_now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Converts days since 1970-01-01 into a (year, month, day) civil date, proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146_096
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of year (from March 1st)
    let mp = (5 * doy + 2) / 153; // month from March, 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are small and positive by construction.
    (year, month as u32, day as u32)
}

/// Splits seconds since the epoch (clamped to 1970..=9999) into a civil date and time of day.
fn split(secs: i64) -> ((i64, u32, u32), i64, i64) {
    let secs = secs.clamp(0, MAX_UNIX_SECS);
    let days = secs.div_euclid(86_400);
    let time = secs.rem_euclid(86_400);
    (civil_from_days(days), days, time)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

/// An HTTP-date in the preferred IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`), for
/// seconds since the Unix epoch, clamped to years 1970..=9999.
pub(crate) fn http_date(unix_secs: i64) -> String {
    let ((year, month, day), days, time) = split(unix_secs);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS[(days + 4).rem_euclid(7) as usize];
    let month = MONTHS[(month - 1) as usize];
    format!(
        "{weekday}, {day:02} {month} {year:04} {:02}:{:02}:{:02} GMT",
        time / 3_600,
        time / 60 % 60,
        time % 60
    )
}

/// An RFC 3339 UTC instant (`2025-03-01T12:00:05Z`, or `…05.250Z` when the milliseconds are
/// not zero), for milliseconds since the Unix epoch, clamped to years 1970..=9999.
pub(crate) fn rfc3339_ms(unix_ms: i64) -> String {
    let ms = unix_ms.clamp(0, MAX_UNIX_SECS * 1_000 + 999);
    let ((year, month, day), _, time) = split(ms.div_euclid(1_000));
    let frac = ms.rem_euclid(1_000);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        time / 3_600,
        time / 60 % 60,
        time % 60
    );
    if frac != 0 {
        out.push_str(&format!(".{frac:03}"));
    }
    out.push('Z');
    out
}

/// Nanoseconds as a decimal fraction without trailing zeros (`"5"` for 500 ms of a second),
/// given the number of digits the unit has.
fn trimmed_fraction(value: u64, digits: usize) -> String {
    let text = format!("{value:0digits$}");
    text.trim_end_matches('0').to_owned()
}

/// Writes `whole[.fraction]unit`.
fn with_fraction(whole: u64, fraction: u64, digits: usize, unit: &str) -> String {
    if fraction == 0 {
        format!("{whole}{unit}")
    } else {
        format!("{whole}.{}{unit}", trimmed_fraction(fraction, digits))
    }
}

/// A duration as Go's `time.Duration.String` writes it, the form of OpenAI's
/// `x-ratelimit-reset-*` headers: `20ms`, `1s`, `1.5s`, `6m0s`, `1h2m3s`.
pub(crate) fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        let n = nanos as u64;
        return with_fraction(n / 1_000, n % 1_000, 3, "µs");
    }
    if nanos < 1_000_000_000 {
        let n = nanos as u64;
        return with_fraction(n / 1_000_000, n % 1_000_000, 6, "ms");
    }
    let secs = d.as_secs();
    let mut out = String::new();
    let hours = secs / 3_600;
    if hours > 0 {
        out.push_str(&format!("{hours}h"));
    }
    if secs >= 60 {
        out.push_str(&format!("{}m", secs / 60 % 60));
    }
    out.push_str(&with_fraction(
        secs % 60,
        u64::from(d.subsec_nanos()),
        9,
        "s",
    ));
    out
}

/// A duration in protobuf's JSON form (`google.protobuf.Duration`), the form of Google's
/// `RetryInfo.retryDelay`: seconds with 0, 3, 6 or 9 fractional digits and an `s` suffix
/// (`"30s"`, `"0.050s"`).
pub(crate) fn proto_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        format!("{secs}s")
    } else if nanos % 1_000_000 == 0 {
        format!("{secs}.{:03}s", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{secs}.{:06}s", nanos / 1_000)
    } else {
        format!("{secs}.{nanos:09}s")
    }
}

/// A `Retry-After` delta-seconds value. Whole values are written as integers (`"2"`), others
/// with their shortest decimal form (`"0.05"`); hostile values are written as they are
/// (`"-1"`, `"NaN"`, `"inf"`).
pub(crate) fn delta_seconds(secs: f64) -> String {
    format!("{secs}")
}

/// Milliseconds, rounded up, of a duration (saturating).
pub(crate) fn ceil_ms(d: Duration) -> u64 {
    let ms = d.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX)
}

/// Whole seconds, rounded up, of a duration.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
        assert_eq!(http_date(-5), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(784_111_777_050), "1994-11-06T08:49:37.050Z");
        assert_eq!(rfc3339_ms(1_735_689_600_000), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(i64::MAX), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn go_durations() {
        let ms = Duration::from_millis;
        assert_eq!(go_duration(Duration::ZERO), "0s");
        assert_eq!(go_duration(ms(20)), "20ms");
        assert_eq!(go_duration(Duration::from_micros(1_500)), "1.5ms");
        assert_eq!(go_duration(Duration::from_micros(3)), "3µs");
        assert_eq!(go_duration(Duration::from_nanos(7)), "7ns");
        assert_eq!(go_duration(ms(1_000)), "1s");
        assert_eq!(go_duration(ms(1_500)), "1.5s");
        assert_eq!(go_duration(ms(17_280)), "17.28s");
        assert_eq!(go_duration(ms(360_000)), "6m0s");
        assert_eq!(go_duration(ms(3_723_000)), "1h2m3s");
        assert_eq!(go_duration(ms(3_600_000)), "1h0m0s");
    }

    #[test]
    fn proto_durations() {
        assert_eq!(proto_duration(Duration::from_secs(30)), "30s");
        assert_eq!(proto_duration(Duration::from_millis(50)), "0.050s");
        assert_eq!(
            proto_duration(Duration::from_micros(1_000_001)),
            "1.000001s"
        );
        assert_eq!(proto_duration(Duration::from_nanos(5)), "0.000000005s");
    }

    #[test]
    fn delta_seconds_forms() {
        assert_eq!(delta_seconds(2.0), "2");
        assert_eq!(delta_seconds(0.05), "0.05");
        assert_eq!(delta_seconds(-1.0), "-1");
        assert_eq!(delta_seconds(f64::NAN), "NaN");
    }

    #[test]
    fn rounding_up() {
        assert_eq!(ceil_ms(Duration::from_micros(1_001)), 2);
        assert_eq!(ceil_ms(Duration::from_millis(3)), 3);
        assert_eq!(ceil_secs(Duration::from_millis(300)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_secs(Duration::ZERO), 0);
    }
}
