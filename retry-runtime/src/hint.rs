//! The one parser for what servers say about how long to wait: header values, and the
//! `retryDelay` of a Google `RetryInfo` error detail.
//!
//! Value parsers (each returns `None` for a value that is no hint, never panics):
//!
//! | parser | format | sent as |
//! | --- | --- | --- |
//! | [`parse_retry_after`] | delta-seconds (`120`; fractional `1.5` accepted, as several gateways send it) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`, and the obsolete RFC 850 and asctime forms, via the `httpdate` crate) | `Retry-After` (RFC 9110 §10.2.3) |
//! | [`parse_retry_after_ms`] | milliseconds (`250`, `1.5`) | `retry-after-ms` (OpenAI-compatible gateways, Azure OpenAI), `x-ms-retry-after-ms` (Azure) |
//! | [`parse_go_duration`] | a Go duration (`20ms`, `1s`, `6m0s`, `1h2m3.5s`) | OpenAI's `x-ratelimit-reset-requests` / `-tokens` |
//! | [`parse_rfc3339`] | an RFC 3339 instant (`2025-01-01T12:00:30Z`, `...30.5+01:00`) | Anthropic's `anthropic-ratelimit-*-reset` |
//! | [`parse_proto_duration`] | a protobuf JSON `Duration` (`30s`, `0.5s`) | `retryDelay` of `google.rpc.RetryInfo` (Gemini, Vertex AI) |
//!
//! A value that is negative, not a number, malformed, or too large for a `Duration` is no hint
//! at all. A readable wait longer than [`MAX_HINT`] (a date years ahead) is [`MAX_HINT`]: the
//! server means "not soon", and a call that gets it gives up at once (it is over any sane
//! `max_retry_after`) rather than treat it as no hint and retry after a short backoff. An instant
//! in the past (HTTP-date, RFC 3339) means "now" (`Some(Duration::ZERO)`).
//!
//! [`select`] reads every hint of one response and picks the one to follow: see its docs for
//! the precedence rules. `retry_runtime::http::ApiError` (feature `http`) feeds it a
//! `HeaderMap` and a JSON error body.
//!
//! ```
//! use std::time::Duration;
//! use retry_runtime::hint;
//!
//! assert_eq!(hint::parse_retry_after("120"), Some(Duration::from_secs(120)));
//! assert_eq!(hint::parse_retry_after("0.5"), Some(Duration::from_millis(500)));
//! assert_eq!(hint::parse_retry_after_ms("250"), Some(Duration::from_millis(250)));
//! assert_eq!(hint::parse_go_duration("6m0s"), Some(Duration::from_secs(360)));
//! assert_eq!(hint::parse_proto_duration("0.5s"), Some(Duration::from_millis(500)));
//! assert_eq!(hint::parse_retry_after("-1"), None);
//! assert_eq!(hint::parse_retry_after("soon"), None);
//! ```

use core::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The longest hint: one year. A longer readable value is cut to it, which still makes a call
/// give up at once (a real long wait, such as a daily quota, is far below this and is handled by
/// `max_retry_after`).
pub const MAX_HINT: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Parses a `Retry-After` value (delta-seconds or HTTP-date) relative to the system clock.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::hint::parse_retry_after;
///
/// assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
/// assert_eq!(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT"), Some(Duration::ZERO));
/// ```
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
    Some(wait.min(MAX_HINT))
}

/// Parses a `retry-after-ms` (or `x-ms-retry-after-ms`) value: a number of milliseconds
/// (fractional accepted).
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::hint::parse_retry_after_ms;
///
/// assert_eq!(parse_retry_after_ms("1500"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_retry_after_ms("-5"), None);
/// ```
#[must_use]
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    parse_decimal(value.trim(), 0.001)
}

/// Parses a plain decimal (`12`, `1.5`, `.5`) of `unit` seconds. Signs, exponents, `inf` and
/// `NaN` are refused by the character check before the float parser sees them.
fn parse_decimal(value: &str, unit: f64) -> Option<Duration> {
    bounded(decimal(value)? * unit)
}

/// Parses a Go duration, as OpenAI sends in `x-ratelimit-reset-requests` and
/// `x-ratelimit-reset-tokens`: one or more decimal numbers, each with a unit (`h`, `m`, `s`,
/// `ms`, `us`/`µs`, `ns`), such as `20ms`, `1s`, `6m0s`, `1h2m3.5s`; a bare `0` is zero.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::hint::parse_go_duration;
///
/// assert_eq!(parse_go_duration("20ms"), Some(Duration::from_millis(20)));
/// assert_eq!(parse_go_duration("1h2m3.5s"), Some(Duration::from_millis(3_723_500)));
/// assert_eq!(parse_go_duration("-1s"), None);
/// assert_eq!(parse_go_duration("5"), None); // a unit is required
/// ```
#[must_use]
pub fn parse_go_duration(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value == "0" {
        return Some(Duration::ZERO);
    }
    let mut rest = value;
    let mut seconds = 0.0_f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        seconds += decimal(number)? * unit;
        rest = after;
    }
    bounded(seconds)
}

/// Parses a protobuf JSON `Duration`, as Google APIs send in the `retryDelay` of a
/// `google.rpc.RetryInfo` error detail: decimal seconds with an `s` suffix (`30s`, `0.5s`,
/// `1.000340012s`).
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::hint::parse_proto_duration;
///
/// assert_eq!(parse_proto_duration("30s"), Some(Duration::from_secs(30)));
/// assert_eq!(parse_proto_duration("0.5s"), Some(Duration::from_millis(500)));
/// assert_eq!(parse_proto_duration("-3s"), None);
/// assert_eq!(parse_proto_duration("30"), None);
/// ```
#[must_use]
pub fn parse_proto_duration(value: &str) -> Option<Duration> {
    let number = value.trim().strip_suffix('s')?;
    bounded(decimal(number)?)
}

/// Parses an RFC 3339 instant (as Anthropic sends in `anthropic-ratelimit-*-reset`) into the
/// time from the system clock's now until then: see [`parse_rfc3339_at`].
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::hint::parse_rfc3339;
///
/// assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(Duration::ZERO)); // in the past
/// assert_eq!(parse_rfc3339("tomorrow"), None);
/// ```
#[must_use]
pub fn parse_rfc3339(value: &str) -> Option<Duration> {
    parse_rfc3339_at(value, SystemTime::now())
}

/// Parses an RFC 3339 instant (`2025-01-01T12:00:30Z`, with optional fractional seconds and a
/// `Z` or `±hh:mm` offset; `t`, `z` and a space separator are accepted too) into the time from
/// `now` until then: zero for an instant in the past, `None` for a malformed date (day 31 of a
/// 30-day month, hour 24, ...); [`MAX_HINT`] for one further away.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use retry_runtime::hint::parse_rfc3339_at;
///
/// let now = UNIX_EPOCH + Duration::from_secs(1_735_732_800); // 2025-01-01T12:00:00Z
/// assert_eq!(parse_rfc3339_at("2025-01-01T12:00:30Z", now), Some(Duration::from_secs(30)));
/// assert_eq!(parse_rfc3339_at("2025-01-01T13:00:30.5+01:00", now), Some(Duration::from_millis(30_500)));
/// assert_eq!(parse_rfc3339_at("2025-01-01T11:00:00Z", now), Some(Duration::ZERO));
/// assert_eq!(parse_rfc3339_at("2025-02-30T00:00:00Z", now), None);
/// ```
#[must_use]
pub fn parse_rfc3339_at(value: &str, now: SystemTime) -> Option<Duration> {
    let instant = rfc3339_unix_nanos(value.trim())?;
    let now = match now.duration_since(UNIX_EPOCH) {
        Ok(since) => i128::try_from(since.as_nanos()).ok()?,
        Err(before) => -i128::try_from(before.duration().as_nanos()).ok()?,
    };
    let wait = instant - now;
    if wait <= 0 {
        return Some(Duration::ZERO);
    }
    let wait = u64::try_from(wait).map_or(MAX_HINT, Duration::from_nanos);
    Some(wait.min(MAX_HINT))
}

/// Nanoseconds since the Unix epoch of an RFC 3339 date-time, if it is one.
fn rfc3339_unix_nanos(value: &str) -> Option<i128> {
    let bytes = value.as_bytes();
    // YYYY-MM-DDThh:mm:ss is 19 bytes; an offset or `Z` follows, perhaps after a fraction.
    if bytes.len() < 20 || !value.is_ascii() {
        return None;
    }
    let digits = |range: core::ops::Range<usize>| unsigned(&value[range]);
    let year = digits(0..4)?;
    let month = digits(5..7)?;
    let day = digits(8..10)?;
    let hour = digits(11..13)?;
    let minute = digits(14..16)?;
    let second = digits(17..19)?;
    if bytes[4] != b'-'
        || bytes[7] != b'-'
        || !matches!(bytes[10], b'T' | b't' | b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &value[19..];
    let mut nanos: i128 = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(fraction.len());
        if len == 0 {
            return None;
        }
        // Nanosecond precision: further digits are dropped.
        for (i, b) in fraction.bytes().take(len).enumerate() {
            if i < 9 {
                nanos = nanos * 10 + i128::from(b - b'0');
            }
        }
        for _ in len..9 {
            nanos *= 10;
        }
        rest = &fraction[len..];
    }
    let offset_seconds: i64 = match rest {
        "Z" | "z" => 0,
        _ => {
            let ob = rest.as_bytes();
            if ob.len() != 6 || ob[3] != b':' {
                return None;
            }
            let sign = match ob[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = (unsigned(&rest[1..3])?, unsigned(&rest[4..6])?);
            if oh > 23 || om > 59 {
                return None;
            }
            sign * (oh * 3600 + om * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offset_seconds;
    Some(i128::from(seconds) * 1_000_000_000 + nanos)
}

/// A run of ASCII digits (no sign), as a number.
fn unsigned(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (years 0..=9999).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Count from 0000-03-01, so that the leap day ends each counted year.
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let day_of_year = (153 * m + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    // 719_468 days from 0000-03-01 to 1970-01-01.
    era * 146_097 + day_of_era - 719_468
}

/// A plain decimal (`12`, `1.5`, `.5`), as an `f64`.
fn decimal(value: &str) -> Option<f64> {
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
    value.parse::<f64>().ok()
}

/// `seconds` as a hint, if it is one (finite, non-negative, fits a `Duration`), cut to
/// [`MAX_HINT`].
fn bounded(seconds: f64) -> Option<Duration> {
    let wait = Duration::try_from_secs_f64(seconds).ok()?;
    Some(wait.min(MAX_HINT))
}

/// Where a server's hint came from: the header (or error detail) that carried it.
///
/// ```
/// use retry_runtime::hint::HintSource;
///
/// assert_eq!(HintSource::RetryAfter.name(), "retry-after");
/// assert_eq!(HintSource::GoogleRetryInfo.to_string(), "google.rpc.RetryInfo");
/// assert!(HintSource::RetryAfterMs.is_direct());
/// assert!(!HintSource::OpenAiResetTokens.is_direct());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HintSource {
    /// `retry-after-ms`: milliseconds (OpenAI-compatible gateways, Azure OpenAI).
    RetryAfterMs,
    /// `x-ms-retry-after-ms`: milliseconds (Azure).
    XMsRetryAfterMs,
    /// `Retry-After`: delta-seconds or an HTTP-date (every provider).
    RetryAfter,
    /// `retryDelay` of a `google.rpc.RetryInfo` detail in a JSON error body (Gemini, Vertex AI).
    GoogleRetryInfo,
    /// OpenAI's `x-ratelimit-reset-requests`: when the request limit resets (Go duration).
    OpenAiResetRequests,
    /// OpenAI's `x-ratelimit-reset-tokens`: when the token limit resets (Go duration).
    OpenAiResetTokens,
    /// Anthropic's `anthropic-ratelimit-requests-reset` (RFC 3339 instant).
    AnthropicRequestsReset,
    /// Anthropic's `anthropic-ratelimit-tokens-reset` (RFC 3339 instant).
    AnthropicTokensReset,
    /// Anthropic's `anthropic-ratelimit-input-tokens-reset` (RFC 3339 instant).
    AnthropicInputTokensReset,
    /// Anthropic's `anthropic-ratelimit-output-tokens-reset` (RFC 3339 instant).
    AnthropicOutputTokensReset,
}

impl HintSource {
    /// The header's name in lower case (`"google.rpc.RetryInfo"` for the error detail).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            HintSource::RetryAfterMs => "retry-after-ms",
            HintSource::XMsRetryAfterMs => "x-ms-retry-after-ms",
            HintSource::RetryAfter => "retry-after",
            HintSource::GoogleRetryInfo => "google.rpc.RetryInfo",
            HintSource::OpenAiResetRequests => "x-ratelimit-reset-requests",
            HintSource::OpenAiResetTokens => "x-ratelimit-reset-tokens",
            HintSource::AnthropicRequestsReset => "anthropic-ratelimit-requests-reset",
            HintSource::AnthropicTokensReset => "anthropic-ratelimit-tokens-reset",
            HintSource::AnthropicInputTokensReset => "anthropic-ratelimit-input-tokens-reset",
            HintSource::AnthropicOutputTokensReset => "anthropic-ratelimit-output-tokens-reset",
        }
    }

    /// Whether the server said outright when to retry (`Retry-After` and its relatives,
    /// `RetryInfo`), rather than when a rate limit resets.
    #[must_use]
    pub const fn is_direct(self) -> bool {
        matches!(
            self,
            HintSource::RetryAfterMs
                | HintSource::XMsRetryAfterMs
                | HintSource::RetryAfter
                | HintSource::GoogleRetryInfo
        )
    }

    /// The header that says how much of this reset's limit is left, for a reset header.
    const fn remaining_header(self) -> Option<&'static str> {
        match self {
            HintSource::OpenAiResetRequests => Some("x-ratelimit-remaining-requests"),
            HintSource::OpenAiResetTokens => Some("x-ratelimit-remaining-tokens"),
            HintSource::AnthropicRequestsReset => Some("anthropic-ratelimit-requests-remaining"),
            HintSource::AnthropicTokensReset => Some("anthropic-ratelimit-tokens-remaining"),
            HintSource::AnthropicInputTokensReset => {
                Some("anthropic-ratelimit-input-tokens-remaining")
            }
            HintSource::AnthropicOutputTokensReset => {
                Some("anthropic-ratelimit-output-tokens-remaining")
            }
            _ => None,
        }
    }

    const DIRECT_HEADERS: [HintSource; 3] = [
        HintSource::RetryAfterMs,
        HintSource::XMsRetryAfterMs,
        HintSource::RetryAfter,
    ];

    const RESET_HEADERS: [HintSource; 6] = [
        HintSource::OpenAiResetRequests,
        HintSource::OpenAiResetTokens,
        HintSource::AnthropicRequestsReset,
        HintSource::AnthropicTokensReset,
        HintSource::AnthropicInputTokensReset,
        HintSource::AnthropicOutputTokensReset,
    ];

    fn parse(self, value: &str, now: SystemTime) -> Option<Duration> {
        match self {
            HintSource::RetryAfterMs | HintSource::XMsRetryAfterMs => parse_retry_after_ms(value),
            HintSource::RetryAfter => parse_retry_after_at(value, now),
            HintSource::GoogleRetryInfo => parse_proto_duration(value),
            HintSource::OpenAiResetRequests | HintSource::OpenAiResetTokens => {
                parse_go_duration(value)
            }
            HintSource::AnthropicRequestsReset
            | HintSource::AnthropicTokensReset
            | HintSource::AnthropicInputTokensReset
            | HintSource::AnthropicOutputTokensReset => parse_rfc3339_at(value, now),
        }
    }
}

impl fmt::Display for HintSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A server's hint: how long to wait, and where it was read.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::hint::{Hint, HintSource};
///
/// let hint = Hint::new(Duration::from_secs(2), HintSource::RetryAfter);
/// assert_eq!(hint.wait(), Duration::from_secs(2));
/// assert_eq!(hint.to_string(), "2s (retry-after)");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Hint {
    wait: Duration,
    source: HintSource,
}

impl Hint {
    /// A hint of `wait`, read from `source`.
    #[must_use]
    pub const fn new(wait: Duration, source: HintSource) -> Self {
        Hint { wait, source }
    }

    /// How long the server asked the client to wait.
    #[must_use]
    pub const fn wait(&self) -> Duration {
        self.wait
    }

    /// Where the hint was read.
    #[must_use]
    pub const fn source(&self) -> HintSource {
        self.source
    }
}

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({})", self.wait, self.source)
    }
}

/// Picks the hint to follow among everything one response says, relative to `now` (the time
/// the response was received: HTTP-dates and RFC 3339 instants become durations against it).
///
/// `header(name)` returns the value of the response header `name` (names are asked in lower
/// case); `retry_delay` is the `retryDelay` of a `google.rpc.RetryInfo` detail in the body, if
/// any.
///
/// # Precedence
///
/// 1. **Direct hints** — `retry-after-ms`, `x-ms-retry-after-ms`, `Retry-After`, and
///    `RetryInfo.retryDelay` — on a response of any status: the soonest trustworthy one wins
///    (they normally agree; the millisecond headers are the precise form of `Retry-After`).
/// 2. **Rate-limit resets** — OpenAI's `x-ratelimit-reset-{requests,tokens}` and Anthropic's
///    `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` — only on a 429
///    and only when there is no direct hint (a direct hint is what the server asked for, and a
///    retry is never sooner than that). If the matching `...-remaining-...` header of some of
///    them says `0`, only those limits count (they are the ones that were hit); else all do.
///    The soonest trustworthy one wins.
///
/// A hint is **trustworthy** when it parses, is finite and non-negative (one longer than
/// [`MAX_HINT`] counts as [`MAX_HINT`]). An HTTP-date in the past is a hint of zero ("now"); a rate-limit reset of zero
/// or in the past is ignored, because a limit that has already reset does not explain a 429
/// (it is clock skew or a stale header), so the runtime backs off instead.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use retry_runtime::hint::{select, HintSource};
///
/// let headers = [
///     ("retry-after", "20"),
///     ("x-ratelimit-reset-requests", "1s"),
///     ("x-ratelimit-reset-tokens", "6m0s"),
/// ];
/// let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
/// let hint = select(429, header, None, SystemTime::now()).unwrap();
/// assert_eq!((hint.wait(), hint.source()), (Duration::from_secs(20), HintSource::RetryAfter));
///
/// // Without a direct hint, the resets count on a 429 (the exhausted limit's, when known).
/// let headers = [
///     ("x-ratelimit-reset-requests", "1s"),
///     ("x-ratelimit-remaining-requests", "59"),
///     ("x-ratelimit-reset-tokens", "6m0s"),
///     ("x-ratelimit-remaining-tokens", "0"),
/// ];
/// let header = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
/// let hint = select(429, header, None, SystemTime::now()).unwrap();
/// assert_eq!(hint.source(), HintSource::OpenAiResetTokens);
/// assert_eq!(hint.wait(), Duration::from_secs(360));
/// ```
pub fn select<'h>(
    status: u16,
    header: impl Fn(&str) -> Option<&'h str>,
    retry_delay: Option<&str>,
    now: SystemTime,
) -> Option<Hint> {
    let direct = HintSource::DIRECT_HEADERS
        .iter()
        .filter_map(|source| {
            let wait = source.parse(header(source.name())?, now)?;
            Some(Hint::new(wait, *source))
        })
        .chain(retry_delay.and_then(|delay| {
            Some(Hint::new(
                parse_proto_duration(delay)?,
                HintSource::GoogleRetryInfo,
            ))
        }))
        .min_by_key(Hint::wait);
    if direct.is_some() || status != 429 {
        return direct;
    }
    let mut soonest_exhausted: Option<Hint> = None;
    let mut soonest: Option<Hint> = None;
    for source in HintSource::RESET_HEADERS {
        let Some(wait) = header(source.name()).and_then(|value| source.parse(value, now)) else {
            continue;
        };
        if wait.is_zero() {
            continue;
        }
        let hint = Hint::new(wait, source);
        let exhausted = source
            .remaining_header()
            .and_then(&header)
            .is_some_and(|remaining| remaining.trim() == "0");
        if exhausted && soonest_exhausted.is_none_or(|best| wait < best.wait) {
            soonest_exhausted = Some(hint);
        }
        if soonest.is_none_or(|best| wait < best.wait) {
            soonest = Some(hint);
        }
    }
    soonest_exhausted.or(soonest)
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
            "Wed, 32 Oct 2015 07:28:00 GMT",
        ] {
            assert_eq!(parse_retry_after(value), None, "{value:?}");
        }
        for value in ["", "-1", "NaN", "1e309", "abc"] {
            assert_eq!(parse_retry_after_ms(value), None, "{value:?}");
        }
        // Readable but longer than a year: "not soon", so the call gives up, not "no hint".
        assert_eq!(parse_retry_after("31536001"), Some(MAX_HINT));
        assert_eq!(parse_retry_after_ms("100000000000000"), Some(MAX_HINT));
        assert_eq!(
            parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(MAX_HINT)
        );
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
    fn far_future_date_is_the_longest_hint_and_past_date_is_now() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        assert_eq!(
            parse_retry_after_at("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(MAX_HINT)
        );
        assert_eq!(
            parse_retry_after_at("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn go_durations() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("20ms", Duration::from_millis(20)),
            ("1s", Duration::from_secs(1)),
            ("6m0s", Duration::from_secs(360)),
            ("1h2m3.5s", Duration::from_millis(3_723_500)),
            ("17.28s", Duration::from_millis(17_280)),
            ("1.5h", Duration::from_secs(5400)),
            ("250us", Duration::from_micros(250)),
            ("250\u{b5}s", Duration::from_micros(250)),
            ("250\u{3bc}s", Duration::from_micros(250)),
            ("1500ns", Duration::from_nanos(1500)),
            (" 2s ", Duration::from_secs(2)),
        ];
        for (value, expected) in cases {
            let parsed = parse_go_duration(value).unwrap_or_else(|| panic!("{value:?}"));
            let error = parsed.abs_diff(expected);
            assert!(error < Duration::from_micros(1), "{value:?}: {parsed:?}");
        }
        for value in [
            "", "s", "5", "-1s", "+1s", "1.2.3s", "1d", "1 s", "1S", "NaN", "inf", "1e3s", "ms",
            ".s", "1h-5m",
        ] {
            assert_eq!(parse_go_duration(value), None, "{value:?}");
        }
        assert_eq!(parse_go_duration("9999999999h"), Some(MAX_HINT));
    }

    #[test]
    fn proto_durations() {
        assert_eq!(parse_proto_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_proto_duration("0.5s"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_proto_duration("1.000340012s"),
            Some(Duration::new(1, 340_012))
        );
        for value in ["", "s", "30", "-1s", "30ms", "1m", "NaN s", "1e2s"] {
            assert_eq!(parse_proto_duration(value), None, "{value:?}");
        }
        assert_eq!(parse_proto_duration("99999999999s"), Some(MAX_HINT));
    }

    #[test]
    fn rfc3339_instants() {
        let now = UNIX_EPOCH + Duration::from_secs(1_735_732_800); // 2025-01-01T12:00:00Z
        let cases = [
            ("2025-01-01T12:00:30Z", Duration::from_secs(30)),
            ("2025-01-01t12:00:30z", Duration::from_secs(30)),
            ("2025-01-01 12:00:30Z", Duration::from_secs(30)),
            ("2025-01-01T12:00:30.25Z", Duration::from_millis(30_250)),
            (
                "2025-01-01T12:00:30.123456789123Z",
                Duration::new(30, 123_456_789),
            ),
            ("2025-01-01T13:00:30+01:00", Duration::from_secs(30)),
            ("2025-01-01T06:30:30-05:30", Duration::from_secs(30)),
            ("2025-01-02T12:00:00Z", Duration::from_secs(86_400)),
            ("2025-03-01T12:00:00Z", Duration::from_secs(59 * 86_400)),
            ("2025-01-01T11:59:59Z", Duration::ZERO),
            ("1970-01-01T00:00:00Z", Duration::ZERO),
            ("0001-01-01T00:00:00Z", Duration::ZERO),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_rfc3339_at(value, now), Some(expected), "{value}");
        }
        // Leap years.
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29T00:00:00Z
        assert_eq!(
            parse_rfc3339_at("2000-03-01T00:00:00Z", leap),
            Some(Duration::from_secs(86_400))
        );
        for value in [
            "",
            "2025-01-01",
            "2025-01-01T12:00:30",
            "2025-01-01T12:00:30+0100",
            "2025-01-01T12:00:30+01",
            "2025-13-01T00:00:00Z",
            "2025-00-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-01-01T24:00:00Z",
            "2025-01-01T12:60:00Z",
            "2025-01-01T12:00:61Z",
            "2025-01-01T12:00:00.Z",
            "2025-01-01T12:00:00+24:00",
            "2025-01-01T12:00:00Zjunk",
            "+025-01-01T12:00:00Z",
            "2025-01-01X12:00:00Z",
            "2025-01-01T12:00:00\u{e9}",
        ] {
            assert_eq!(parse_rfc3339_at(value, now), None, "{value:?}");
        }
        assert_eq!(
            parse_rfc3339_at("9999-12-31T23:59:59Z", now),
            Some(MAX_HINT)
        );
        // Before the epoch, `now` still works.
        let before = UNIX_EPOCH - Duration::from_secs(60);
        assert_eq!(
            parse_rfc3339_at("1970-01-01T00:00:00Z", before),
            Some(Duration::from_secs(60))
        );
    }

    /// Days from 1970-01-01 by counting, to check `days_from_civil`.
    fn days_by_counting(year: i64, month: i64, day: i64) -> i64 {
        let mut days = 0;
        for y in 1970..year {
            days += if is_leap_year(y) { 366 } else { 365 };
        }
        for m in 1..month {
            days += days_in_month(year, m);
        }
        days + day - 1
    }

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> + 'a {
        move |name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    #[test]
    fn select_prefers_direct_hints_and_the_soonest() {
        let now = UNIX_EPOCH + Duration::from_secs(1_735_732_800);
        let pairs = [
            ("retry-after", "9"),
            ("retry-after-ms", "8000"),
            ("x-ratelimit-reset-requests", "1s"),
        ];
        let hint = select(429, lookup(&pairs), Some("30s"), now).unwrap();
        assert_eq!(
            hint,
            Hint::new(Duration::from_secs(8), HintSource::RetryAfterMs)
        );
        let hint = select(429, lookup(&pairs), Some("2s"), now).unwrap();
        assert_eq!(hint.source(), HintSource::GoogleRetryInfo);
        // Resets only on a 429.
        let pairs = [("x-ratelimit-reset-requests", "1s")];
        assert!(select(503, lookup(&pairs), None, now).is_none());
        assert!(select(429, lookup(&pairs), None, now).is_some());
        assert!(select(429, lookup(&[]), None, now).is_none());
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic_on_any_string(value in ".*") {
            let now = SystemTime::now();
            for parsed in [
                parse_retry_after(&value),
                parse_retry_after_ms(&value),
                parse_go_duration(&value),
                parse_proto_duration(&value),
                parse_rfc3339(&value),
                parse_rfc3339_at(&value, UNIX_EPOCH),
                parse_rfc3339_at(&value, now),
            ]
            .into_iter()
            .flatten()
            {
                proptest::prop_assert!(parsed <= MAX_HINT);
            }
        }

        #[test]
        fn parsers_never_panic_on_near_misses(
            value in "[0-9hmsuµnT:Z.+\\- ]{0,32}",
            now in 0_u64..400_000_000_000,
        ) {
            let now = UNIX_EPOCH + Duration::from_secs(now);
            let _ = (
                parse_retry_after_at(&value, now),
                parse_go_duration(&value),
                parse_proto_duration(&value),
                parse_rfc3339_at(&value, now),
            );
            let pairs = [
                ("retry-after", value.as_str()),
                ("x-ratelimit-reset-tokens", value.as_str()),
                ("x-ratelimit-remaining-tokens", value.as_str()),
                ("anthropic-ratelimit-tokens-reset", value.as_str()),
            ];
            let _ = select(429, lookup(&pairs), Some(&value), now);
        }

        #[test]
        fn go_durations_add_up(h in 0_u64..100, m in 0_u64..60, s in 0_u64..60, ms in 0_u64..1000) {
            let value = format!("{h}h{m}m{s}.{ms:03}s");
            let expected = Duration::from_secs(h * 3600 + m * 60 + s) + Duration::from_millis(ms);
            let parsed = parse_go_duration(&value).unwrap();
            proptest::prop_assert!(parsed.abs_diff(expected) < Duration::from_micros(1), "{} {:?}", value, parsed);
        }

        #[test]
        fn rfc3339_matches_counting_days(
            year in 1970_i64..2400,
            month in 1_i64..=12,
            day in 1_i64..=31,
            hour in 0_i64..24,
            minute in 0_i64..60,
            second in 0_i64..60,
        ) {
            proptest::prop_assume!(day <= days_in_month(year, month));
            let value = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z");
            let seconds = days_by_counting(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
            let instant = UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).unwrap());
            // Ten seconds before the instant, it is ten seconds away.
            let now = instant - Duration::from_secs(10);
            proptest::prop_assert_eq!(parse_rfc3339_at(&value, now), Some(Duration::from_secs(10)));
        }
    }
}
