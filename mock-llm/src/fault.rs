//! The faults the server can inject, and their textual spec (used by the CLI).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// What the server does with one request: a fault, or [`FaultKind::Ok`].
///
/// See the crate documentation for the table of what each one sends and which provider sends it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum FaultKind {
    /// 200 with a `chat.completion` body, after the configured latency; billed.
    Ok,
    /// 429 without any hint (OpenAI's `rate_limit_exceeded` body).
    RateLimitNoHint,
    /// 429 with `Retry-After: <delta-seconds>`; fractions are written as given (`0.05`), so
    /// tests can stay fast. Non-finite or negative values are sent as they are (`NaN`, `-1`)
    /// and then promise nothing.
    RetryAfterSeconds(f64),
    /// 429 with `Retry-After: <HTTP-date>` at `offset_ms` milliseconds from now, rounded up to
    /// the next whole second (an HTTP-date has no fraction). Negative offsets give a date in the
    /// past; huge ones are clamped to year 9999.
    RetryAfterHttpDate {
        /// Milliseconds from now; may be negative.
        offset_ms: i64,
    },
    /// 429 with `retry-after-ms: <ms>` (OpenAI).
    RetryAfterMs(u64),
    /// 429 with `x-ms-retry-after-ms: <ms>` (Azure OpenAI).
    AzureRetryAfterMs(u64),
    /// 429 with `x-ratelimit-reset-requests: <Go duration>` (OpenAI), e.g. `20ms`, `6m0s`.
    OpenAiResetRequests(Duration),
    /// 429 with `x-ratelimit-reset-tokens: <Go duration>` (OpenAI).
    OpenAiResetTokens(Duration),
    /// 429 with `anthropic-ratelimit-requests-reset: <RFC 3339 instant>` (Anthropic), the
    /// instant being now plus this duration (milliseconds shown when not zero).
    AnthropicRequestsReset(Duration),
    /// 429 with `anthropic-ratelimit-tokens-reset: <RFC 3339 instant>` (Anthropic).
    AnthropicTokensReset(Duration),
    /// 429 with a Google error body (`RESOURCE_EXHAUSTED`) whose `details` hold a
    /// `google.rpc.RetryInfo` with this `retryDelay` (`"30s"`, `"0.050s"`): Gemini and Vertex AI.
    GeminiRetryDelay(Duration),
    /// 429 with one header sent verbatim, e.g. a hostile `Retry-After: -5` or `NaN`. The server
    /// makes no promise from it (it does not count early retries against it).
    RateLimitHeader {
        /// Header name (an invalid name sends no header).
        name: String,
        /// Header value, verbatim (an invalid value sends no header).
        value: String,
    },
    /// 429 with OpenAI's `insufficient_quota` body: out of credit, retrying will not help.
    InsufficientQuota,
    /// 429 with a Google `QuotaFailure` naming a per-day quota
    /// (`GenerateRequestsPerDayPerProjectPerModel-FreeTier`) and no `RetryInfo`.
    GeminiDailyQuota,
    /// Any error status with a provider-shaped body: 500/502/503/504 and 400/401/403 in
    /// OpenAI's error shape, 529 in Anthropic's `overloaded_error` shape, 429 as
    /// [`FaultKind::RateLimitNoHint`]. A code outside 200..=599 is sent as 500.
    Status(u16),
    /// A 200 that is slower than the given delay: the work is done, billed and stored for
    /// idempotent replay at once, then the response waits this long before it is sent.
    Slow(Duration),
    /// The work is done and billed, the status line and headers (with the full
    /// `Content-Length`) and half of the body are sent, then the connection is closed.
    CutBody,
    /// The work is done and billed, then the connection is closed without any response.
    Disconnect,
    /// The connection is closed without any response before any work is done: nothing billed.
    DisconnectBeforeWork,
}

/// One scripted, random or outage behaviour: a [`FaultKind`] and an optional
/// `x-should-retry` header.
///
/// Build one with the constructors (`Fault::retry_after_ms(300)`, `Fault::status(503)`, …),
/// from a [`FaultKind`], or parse one from its spec text (`"retry-after-ms:300"`, see
/// [`Fault::from_str`](#impl-FromStr-for-Fault)).
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// What is sent.
    pub kind: FaultKind,
    /// When set, the response carries `x-should-retry: true|false` (the header OpenAI's and
    /// Anthropic's SDKs obey before anything else).
    pub should_retry: Option<bool>,
}

impl From<FaultKind> for Fault {
    fn from(kind: FaultKind) -> Self {
        Fault {
            kind,
            should_retry: None,
        }
    }
}

impl Fault {
    /// A 200 response (the default behaviour, explicitly).
    pub fn ok() -> Self {
        FaultKind::Ok.into()
    }
    /// A 429 without any hint.
    pub fn rate_limited() -> Self {
        FaultKind::RateLimitNoHint.into()
    }
    /// A 429 with `Retry-After: <secs>` (delta-seconds, fractions allowed).
    pub fn retry_after_secs(secs: f64) -> Self {
        FaultKind::RetryAfterSeconds(secs).into()
    }
    /// A 429 with `Retry-After: <HTTP-date>` at `offset_ms` from now (negative: in the past).
    pub fn retry_after_http_date(offset_ms: i64) -> Self {
        FaultKind::RetryAfterHttpDate { offset_ms }.into()
    }
    /// A 429 with `retry-after-ms` (OpenAI).
    pub fn retry_after_ms(ms: u64) -> Self {
        FaultKind::RetryAfterMs(ms).into()
    }
    /// A 429 with `x-ms-retry-after-ms` (Azure OpenAI).
    pub fn azure_retry_after_ms(ms: u64) -> Self {
        FaultKind::AzureRetryAfterMs(ms).into()
    }
    /// A 429 with `x-ratelimit-reset-requests` (OpenAI, Go duration).
    pub fn openai_reset_requests(after: Duration) -> Self {
        FaultKind::OpenAiResetRequests(after).into()
    }
    /// A 429 with `x-ratelimit-reset-tokens` (OpenAI, Go duration).
    pub fn openai_reset_tokens(after: Duration) -> Self {
        FaultKind::OpenAiResetTokens(after).into()
    }
    /// A 429 with `anthropic-ratelimit-requests-reset` (RFC 3339 instant `after` from now).
    pub fn anthropic_requests_reset(after: Duration) -> Self {
        FaultKind::AnthropicRequestsReset(after).into()
    }
    /// A 429 with `anthropic-ratelimit-tokens-reset` (RFC 3339 instant `after` from now).
    pub fn anthropic_tokens_reset(after: Duration) -> Self {
        FaultKind::AnthropicTokensReset(after).into()
    }
    /// A 429 with a Google `RetryInfo.retryDelay` in its JSON body (Gemini, Vertex AI).
    pub fn gemini_retry_delay(delay: Duration) -> Self {
        FaultKind::GeminiRetryDelay(delay).into()
    }
    /// A 429 with one header sent verbatim (for hostile hints).
    pub fn rate_limit_header(name: impl Into<String>, value: impl Into<String>) -> Self {
        FaultKind::RateLimitHeader {
            name: name.into(),
            value: value.into(),
        }
        .into()
    }
    /// A 429 with OpenAI's `insufficient_quota` body.
    pub fn insufficient_quota() -> Self {
        FaultKind::InsufficientQuota.into()
    }
    /// A 429 with a Gemini per-day `QuotaFailure`.
    pub fn gemini_daily_quota() -> Self {
        FaultKind::GeminiDailyQuota.into()
    }
    /// An error status with a provider-shaped body (see [`FaultKind::Status`]).
    pub fn status(code: u16) -> Self {
        FaultKind::Status(code).into()
    }
    /// A 529 with Anthropic's `overloaded_error` body.
    pub fn overloaded() -> Self {
        FaultKind::Status(529).into()
    }
    /// A 200 sent `delay` after the work was done and billed.
    pub fn slow(delay: Duration) -> Self {
        FaultKind::Slow(delay).into()
    }
    /// Work billed, headers and half the body sent, then the connection closed.
    pub fn cut_body() -> Self {
        FaultKind::CutBody.into()
    }
    /// Work billed, then the connection closed without a response.
    pub fn disconnect() -> Self {
        FaultKind::Disconnect.into()
    }
    /// Connection closed without a response before any work: nothing billed.
    pub fn disconnect_before_work() -> Self {
        FaultKind::DisconnectBeforeWork.into()
    }
    /// Adds `x-should-retry: <value>` to the response.
    pub fn with_should_retry(mut self, value: bool) -> Self {
        self.should_retry = Some(value);
        self
    }
}

/// The error of parsing a fault spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseFaultError(String);

impl fmt::Display for ParseFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseFaultError {}

/// The spec grammar, for error messages and `--help`. Every line is indented by two spaces:
/// a `\` line continuation here would strip the first line's.
pub(crate) const SPEC_HELP: &str = "  ok                         200 (billed)
  429                        429 without a hint
  retry-after:SECS           429, Retry-After delta-seconds (fractions allowed: 0.05)
  retry-after-date:MS        429, Retry-After HTTP-date MS milliseconds from now (may be negative)
  retry-after-ms:MS          429, retry-after-ms (OpenAI)
  x-ms-retry-after-ms:MS     429, x-ms-retry-after-ms (Azure OpenAI)
  reset-requests:MS          429, x-ratelimit-reset-requests as a Go duration (OpenAI)
  reset-tokens:MS            429, x-ratelimit-reset-tokens as a Go duration (OpenAI)
  anthropic-requests-reset:MS  429, anthropic-ratelimit-requests-reset RFC 3339 instant
  anthropic-tokens-reset:MS  429, anthropic-ratelimit-tokens-reset RFC 3339 instant
  gemini-retry-delay:MS      429, Google RetryInfo.retryDelay in the body (Gemini, Vertex)
  header:NAME:VALUE          429 with one header sent verbatim
  insufficient-quota         429, OpenAI insufficient_quota body
  gemini-daily-quota         429, Gemini QuotaFailure with a per-day quota id
  CODE                       that status (500, 502, 503, 529, 400, 401, 403, ...)
  slow:MS                    200 sent MS after the work was billed
  cut                        billed, headers + half the body, then the connection is closed
  disconnect                 billed, then the connection is closed without a response
  disconnect-before-work     connection closed without a response, nothing billed
  any of these +x-should-retry=true|false   also send x-should-retry";

fn parse_u64(spec: &str, value: &str) -> Result<u64, ParseFaultError> {
    value.parse().map_err(|_| {
        ParseFaultError(format!(
            "fault `{spec}`: `{value}` is not a whole number of milliseconds"
        ))
    })
}

fn need_value<'a>(
    arg: Option<&'a str>,
    spec: &str,
    name: &str,
) -> Result<&'a str, ParseFaultError> {
    arg.ok_or_else(|| ParseFaultError(format!("fault `{spec}` needs a value: `{name}:N`")))
}

fn parse_ms(spec: &str, value: &str) -> Result<Duration, ParseFaultError> {
    parse_u64(spec, value).map(Duration::from_millis)
}

impl FromStr for Fault {
    type Err = ParseFaultError;

    /// Parses a fault spec: `ok`, `429`, `retry-after:0.05`, `retry-after-date:-2000`,
    /// `retry-after-ms:300`, `x-ms-retry-after-ms:300`, `reset-requests:20`,
    /// `reset-tokens:20`, `anthropic-requests-reset:50`, `anthropic-tokens-reset:50`,
    /// `gemini-retry-delay:50`, `header:NAME:VALUE`, `insufficient-quota`,
    /// `gemini-daily-quota`, a status code (`503`), `slow:200`, `cut`, `disconnect`,
    /// `disconnect-before-work`; numbers are milliseconds except `retry-after`'s seconds.
    /// Any of them may end with `+x-should-retry=true` or `+x-should-retry=false`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let spec = text.trim();
        let (body, should_retry) = match spec.split_once('+') {
            Some((body, suffix)) => {
                let value = match suffix.trim() {
                    "x-should-retry=true" => true,
                    "x-should-retry=false" => false,
                    other => {
                        return Err(ParseFaultError(format!(
                            "fault `{spec}`: unknown suffix `+{other}` \
                             (expected +x-should-retry=true or +x-should-retry=false)"
                        )))
                    }
                };
                (body.trim(), Some(value))
            }
            None => (spec, None),
        };
        let (name, arg) = match body.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (body, None),
        };
        let need = |arg| need_value(arg, spec, name);
        let no_arg = |arg: Option<&str>| match arg {
            Some(_) => Err(ParseFaultError(format!(
                "fault `{spec}`: `{name}` takes no value"
            ))),
            None => Ok(()),
        };
        let kind = match name {
            "ok" => no_arg(arg).map(|()| FaultKind::Ok)?,
            "retry-after" => {
                let value = need(arg)?;
                let secs: f64 = value.parse().map_err(|_| {
                    ParseFaultError(format!(
                        "fault `{spec}`: `{value}` is not a number of seconds"
                    ))
                })?;
                FaultKind::RetryAfterSeconds(secs)
            }
            "retry-after-date" => {
                let value = need(arg)?;
                let offset_ms: i64 = value.parse().map_err(|_| {
                    ParseFaultError(format!(
                        "fault `{spec}`: `{value}` is not a whole number of milliseconds"
                    ))
                })?;
                FaultKind::RetryAfterHttpDate { offset_ms }
            }
            "retry-after-ms" => FaultKind::RetryAfterMs(parse_u64(spec, need(arg)?)?),
            "x-ms-retry-after-ms" => FaultKind::AzureRetryAfterMs(parse_u64(spec, need(arg)?)?),
            "reset-requests" => FaultKind::OpenAiResetRequests(parse_ms(spec, need(arg)?)?),
            "reset-tokens" => FaultKind::OpenAiResetTokens(parse_ms(spec, need(arg)?)?),
            "anthropic-requests-reset" => {
                FaultKind::AnthropicRequestsReset(parse_ms(spec, need(arg)?)?)
            }
            "anthropic-tokens-reset" => {
                FaultKind::AnthropicTokensReset(parse_ms(spec, need(arg)?)?)
            }
            "gemini-retry-delay" => FaultKind::GeminiRetryDelay(parse_ms(spec, need(arg)?)?),
            "header" => {
                let value = need(arg)?;
                let (name, value) = value.split_once(':').ok_or_else(|| {
                    ParseFaultError(format!("fault `{spec}`: expected `header:NAME:VALUE`"))
                })?;
                FaultKind::RateLimitHeader {
                    name: name.to_owned(),
                    value: value.to_owned(),
                }
            }
            "insufficient-quota" => no_arg(arg).map(|()| FaultKind::InsufficientQuota)?,
            "gemini-daily-quota" => no_arg(arg).map(|()| FaultKind::GeminiDailyQuota)?,
            "slow" => FaultKind::Slow(parse_ms(spec, need(arg)?)?),
            "cut" => no_arg(arg).map(|()| FaultKind::CutBody)?,
            "disconnect" => no_arg(arg).map(|()| FaultKind::Disconnect)?,
            "disconnect-before-work" => no_arg(arg).map(|()| FaultKind::DisconnectBeforeWork)?,
            code if !code.is_empty() && code.bytes().all(|b| b.is_ascii_digit()) => {
                no_arg(arg)?;
                match code.parse::<u16>() {
                    Ok(429) => FaultKind::RateLimitNoHint,
                    Ok(code @ 200..=599) => FaultKind::Status(code),
                    _ => {
                        return Err(ParseFaultError(format!(
                            "fault `{spec}`: status must be within 200..=599"
                        )))
                    }
                }
            }
            _ => {
                return Err(ParseFaultError(format!(
                    "unknown fault `{spec}`; expected one of:\n{SPEC_HELP}"
                )))
            }
        };
        Ok(Fault { kind, should_retry })
    }
}

impl fmt::Display for FaultKind {
    /// The spec text of this fault (what [`Fault::from_str`](Fault#impl-FromStr-for-Fault)
    /// parses), with durations in milliseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: &Duration| d.as_millis();
        match self {
            FaultKind::Ok => f.write_str("ok"),
            FaultKind::RateLimitNoHint => f.write_str("429"),
            FaultKind::RetryAfterSeconds(s) => write!(f, "retry-after:{s}"),
            FaultKind::RetryAfterHttpDate { offset_ms } => {
                write!(f, "retry-after-date:{offset_ms}")
            }
            FaultKind::RetryAfterMs(v) => write!(f, "retry-after-ms:{v}"),
            FaultKind::AzureRetryAfterMs(v) => write!(f, "x-ms-retry-after-ms:{v}"),
            FaultKind::OpenAiResetRequests(d) => write!(f, "reset-requests:{}", ms(d)),
            FaultKind::OpenAiResetTokens(d) => write!(f, "reset-tokens:{}", ms(d)),
            FaultKind::AnthropicRequestsReset(d) => {
                write!(f, "anthropic-requests-reset:{}", ms(d))
            }
            FaultKind::AnthropicTokensReset(d) => write!(f, "anthropic-tokens-reset:{}", ms(d)),
            FaultKind::GeminiRetryDelay(d) => write!(f, "gemini-retry-delay:{}", ms(d)),
            FaultKind::RateLimitHeader { name, value } => write!(f, "header:{name}:{value}"),
            FaultKind::InsufficientQuota => f.write_str("insufficient-quota"),
            FaultKind::GeminiDailyQuota => f.write_str("gemini-daily-quota"),
            FaultKind::Status(code) => write!(f, "{code}"),
            FaultKind::Slow(d) => write!(f, "slow:{}", ms(d)),
            FaultKind::CutBody => f.write_str("cut"),
            FaultKind::Disconnect => f.write_str("disconnect"),
            FaultKind::DisconnectBeforeWork => f.write_str("disconnect-before-work"),
        }
    }
}

impl fmt::Display for Fault {
    /// The spec text of this fault, `+x-should-retry=…` included when set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(value) = self.should_retry {
            write!(f, "+x-should-retry={value}")?;
        }
        Ok(())
    }
}

/// Parses a comma-separated list of fault specs (`"retry-after-ms:300,503,ok"`).
///
/// # Errors
///
/// The first spec that does not parse.
pub fn parse_script(text: &str) -> Result<Vec<Fault>, ParseFaultError> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_of_the_spec_help_is_indented_alike() {
        for line in SPEC_HELP.lines() {
            assert!(
                line.starts_with("  ") && !line.starts_with("   "),
                "{line:?}"
            );
        }
    }

    #[test]
    fn specs_round_trip() {
        for spec in [
            "ok",
            "429",
            "retry-after:0.05",
            "retry-after-date:-2000",
            "retry-after-ms:300",
            "x-ms-retry-after-ms:300",
            "reset-requests:20",
            "reset-tokens:1500",
            "anthropic-requests-reset:50",
            "anthropic-tokens-reset:50",
            "gemini-retry-delay:50",
            "header:retry-after:NaN",
            "insufficient-quota",
            "gemini-daily-quota",
            "503",
            "529+x-should-retry=false",
            "slow:200",
            "cut",
            "disconnect",
            "disconnect-before-work+x-should-retry=true",
        ] {
            let fault: Fault = spec.parse().unwrap_or_else(|e| panic!("{spec}: {e}"));
            assert_eq!(fault.to_string(), spec);
        }
    }

    #[test]
    fn bad_specs_are_errors() {
        for spec in [
            "",
            "nope",
            "retry-after",
            "retry-after:x",
            "retry-after-ms:-1",
            "ok:3",
            "99",
            "600",
            "70000",
            "503+retry",
            "header:x",
        ] {
            assert!(spec.parse::<Fault>().is_err(), "{spec} parsed");
        }
    }

    #[test]
    fn scripts() {
        let script = parse_script("retry-after-ms:300, 503,ok").expect("parses");
        assert_eq!(
            script,
            vec![Fault::retry_after_ms(300), Fault::status(503), Fault::ok()]
        );
    }
}
