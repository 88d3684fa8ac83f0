//! The one parser for the header values in which servers say how long to wait.
//!
//! - `Retry-After` (RFC 9110 §10.2.3): delta-seconds (`120`; fractional `1.5` is accepted,
//!   as several gateways send it) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, and the
//!   obsolete RFC 850 and asctime forms, via the `httpdate` crate).
//! - `retry-after-ms` (sent by OpenAI-compatible gateways and Azure): milliseconds.
//!
//! A value that is negative, not a number, malformed, or longer than [`MAX_HINT`] is no hint at
//! all: the parser returns `None`, never panics. An HTTP-date in the past means "now"
//! (`Some(Duration::ZERO)`).
//!
//! ```
//! use std::time::Duration;
//! use retry_runtime::hint;
//!
//! assert_eq!(hint::parse_retry_after("120"), Some(Duration::from_secs(120)));
//! assert_eq!(hint::parse_retry_after("0.5"), Some(Duration::from_millis(500)));
//! assert_eq!(hint::parse_retry_after_ms("250"), Some(Duration::from_millis(250)));
//! assert_eq!(hint::parse_retry_after("-1"), None);
//! assert_eq!(hint::parse_retry_after("soon"), None);
//! ```

use std::time::{Duration, SystemTime};

/// The longest hint taken seriously: one year. A longer value is garbage, not a hint (a real
/// long wait, such as a daily quota, is far below this and is handled by `max_retry_after`).
pub const MAX_HINT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Parses a `Retry-After` value (delta-seconds or HTTP-date) relative to the system clock.
#[must_use]
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    parse_retry_after_at(value, SystemTime::now())
}

/// Parses a `Retry-After` value, reading an HTTP-date relative to `now`.
///
/// ```
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// use retry_runtime::hint::parse_retry_after_at;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_445_412_460); // Wed, 21 Oct 2015 07:27:40 GMT
/// assert_eq!(parse_retry_after_at("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::from_secs(20)));
/// assert_eq!(parse_retry_after_at("Wed, 21 Oct 2015 07:00:00 GMT", now), Some(Duration::ZERO));
/// ```
#[must_use]
pub fn parse_retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if value.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return parse_decimal(value, 1.0);
    }
    let date = httpdate::parse_http_date(value).ok()?;
    let wait = date.duration_since(now).unwrap_or(Duration::ZERO);
    (wait <= MAX_HINT).then_some(wait)
}

/// Parses a `retry-after-ms` value: a number of milliseconds (fractional accepted).
#[must_use]
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    parse_decimal(value.trim(), 0.001)
}

/// Parses a plain decimal (`12`, `1.5`, `.5`) of `unit` seconds. Signs, exponents, `inf` and
/// `NaN` are refused by the character check before the float parser sees them.
fn parse_decimal(value: &str, unit: f64) -> Option<Duration> {
    let mut dots = 0;
    for c in value.chars() {
        match c {
            '0'..='9' => {}
            '.' => dots += 1,
            _ => return None,
        }
    }
    if dots > 1 || value == "." || value.is_empty() {
        return None;
    }
    let seconds = value.parse::<f64>().ok()? * unit;
    let wait = Duration::try_from_secs_f64(seconds).ok()?;
    (wait <= MAX_HINT).then_some(wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn delta_seconds() {
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        assert_eq!(parse_retry_after(" 30 "), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after("1.25"), Some(Duration::from_millis(1250)));
        assert_eq!(parse_retry_after(".5"), Some(Duration::from_millis(500)));
    }

    #[test]
    fn garbage_is_no_hint() {
        for value in [
            "",
            " ",
            "-5",
            "+5",
            "NaN",
            "nan",
            "inf",
            "1e3",
            "1.2.3",
            ".",
            "5s",
            "0x10",
            "ten",
            "99999999999999999999999999999",
            "31536001",
            "Wed, 32 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(value), None, "{value:?}");
        }
        for value in ["", "-1", "NaN", "1e309", "abc", "100000000000000"] {
            assert_eq!(parse_retry_after_ms(value), None, "{value:?}");
        }
    }

    #[test]
    fn milliseconds() {
        assert_eq!(
            parse_retry_after_ms("300"),
            Some(Duration::from_millis(300))
        );
        assert_eq!(
            parse_retry_after_ms("0.5"),
            Some(Duration::from_micros(500))
        );
    }

    #[test]
    fn http_dates_in_all_three_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777 - 7); // 7 s before Sun, 06 Nov 1994 08:49:37 GMT
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after_at(value, now),
                Some(Duration::from_secs(7)),
                "{value}"
            );
        }
    }

    #[test]
    fn far_future_date_is_no_hint_and_past_date_is_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(
            parse_retry_after_at("Fri, 31 Dec 9999 23:59:59 GMT", now),
            None
        );
        assert_eq!(
            parse_retry_after_at("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }
}
