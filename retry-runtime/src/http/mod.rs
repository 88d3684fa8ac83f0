//! Provider-aware classification of failed HTTP API responses (feature `http`).
//!
//! [`ApiError`] is the error value of a failed response, built from its status, headers and a
//! bounded prefix of its body. It implements [`Classify`]: its class comes from the status
//! ([`ErrorClass::from_status`]), corrected by what the provider said (`x-should-retry`, an
//! exhausted quota), and its [`retry_after`](Classify::retry_after) from every hint the
//! providers send, read by the runtime's one hint parser, [`crate::hint`].
//!
//! With feature `reqwest`: `Classify` for `reqwest::Error`, [`ApiError::from_response`],
//! [`check`], the [`HttpError`] enum to use as a retried function's error type, and
//! [`RequestBuilderExt`] to send the call's idempotency key and retry count. With feature
//! `async-openai`: `Classify` for `async_openai::error::OpenAIError` and [`OpenAiTransport`].
//!
//! ```
//! use std::time::Duration;
//! use http::{HeaderMap, HeaderValue, StatusCode};
//! use retry_runtime::http::ApiError;
//! use retry_runtime::{Classify, ErrorClass};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("retry-after", HeaderValue::from_static("2"));
//! headers.insert("x-request-id", HeaderValue::from_static("req_123"));
//! let body = br#"{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}"#;
//!
//! let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, &headers, body);
//! assert_eq!(error.class(), ErrorClass::RateLimit);
//! assert_eq!(error.retry_after(), Some(Duration::from_secs(2)));
//! assert_eq!(error.request_id(), Some("req_123"));
//! assert_eq!(error.error_code(), Some("rate_limit_exceeded"));
//! ```
//!
//! # What each provider sends
//!
//! | provider | where | name | format | meaning | used as |
//! | --- | --- | --- | --- | --- | --- |
//! | any (RFC 9110) | header | `Retry-After` | delta-seconds (fractional accepted) or HTTP-date | when to retry | direct hint |
//! | OpenAI, Azure OpenAI, OpenAI-compatible gateways | header | `retry-after-ms` | milliseconds | when to retry, precisely | direct hint |
//! | Azure | header | `x-ms-retry-after-ms` | milliseconds | when to retry | direct hint |
//! | Gemini, Vertex AI | JSON body | `error.details[]` of `@type` `type.googleapis.com/google.rpc.RetryInfo`: `retryDelay` | protobuf Duration (`"30s"`, `"0.5s"`) | when to retry | direct hint |
//! | OpenAI | header | `x-ratelimit-reset-requests`, `x-ratelimit-reset-tokens` | Go duration (`20ms`, `6m0s`) | time until that limit resets | reset hint, on a 429 only |
//! | OpenAI | header | `x-ratelimit-remaining-requests`, `x-ratelimit-remaining-tokens` | integer | what is left of that limit | picks the reset of the exhausted limit |
//! | Anthropic | header | `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset` | RFC 3339 instant | when that limit is fully replenished | reset hint, on a 429 only |
//! | Anthropic | header | `anthropic-ratelimit-{...}-remaining` | integer | what is left of that limit | picks the reset of the exhausted limit |
//! | OpenAI, Anthropic | header | `x-should-retry` | `true` / `false` | the server's own retry decision | overrides the status (see below) |
//! | OpenAI | JSON body | `error.code` or `error.type` = `insufficient_quota` (status 429) | string | out of credit, not "slow down" | not retried: `Client` |
//! | Gemini, Vertex AI | JSON body | `error.details[]` of `@type` `...google.rpc.QuotaFailure`: `violations[].quotaId` / `quotaMetric` naming a per-day quota (`...PerDay...`, `..._per_day`), or `...google.rpc.ErrorInfo`: `metadata.quota_limit` / `quota_metric` likewise (status 429) | string | the daily quota is spent | not retried: `Client` |
//! | Anthropic | status | 529 | | overloaded | `Overloaded` (as 503) |
//! | OpenAI | header | `x-request-id` | string | the request's id | [`request_id`](Classify::request_id) |
//! | Anthropic | header / JSON body | `request-id` / `request_id` | string | the request's id | [`request_id`](Classify::request_id) |
//! | all | JSON body | `error.type` (OpenAI, Anthropic) or `error.status` (Google); `error.code` when a string (OpenAI); `error.message` | string | the provider's error | [`error_type`](ApiError::error_type), [`error_code`](ApiError::error_code), [`message`](ApiError::message) |
//!
//! # Precedence
//!
//! **The class**, first rule that applies:
//! 1. `x-should-retry: false` → never retried: `Client` (`Auth` stays `Auth`).
//! 2. `x-should-retry: true` → retried: the status's class when it is a retryable one other than
//!    `Other` (a 429 stays `RateLimit`, a 503 `Overloaded`); else `Server` (a 400, 401, 404, or a
//!    non-error status, becomes `Server`, which is retried by default with backoff). This follows
//!    the official OpenAI and Anthropic SDKs, which obey the header before looking at the status
//!    (they compare the value to exactly `true` / `false`; here case is ignored).
//! 3. A 429 whose body says the quota is spent ([`is_quota_exhausted`](ApiError::is_quota_exhausted))
//!    → `Client`: waiting a few seconds does not bring credit back or a daily quota forward.
//! 4. Else [`ErrorClass::from_status`].
//!
//! **The wait** ([`retry_after`](Classify::retry_after)): see [`hint::select`].
//! In short, direct hints (`retry-after-ms`, `x-ms-retry-after-ms`, `Retry-After`,
//! `RetryInfo.retryDelay`) on any status, the soonest trustworthy one; failing those, on a 429,
//! the rate-limit resets (of the exhausted limits when the `...-remaining` headers say which),
//! the soonest trustworthy one. Trustworthy: parsable, finite, non-negative (a longer one than
//! [`hint::MAX_HINT`] counts as that); a reset of zero or in the past is ignored. A hint
//! longer than the policy's `max_retry_after` (120 s by default) makes the runtime give up at
//! once, as a daily quota's reset should.
//!
//! **Time.** An HTTP-date or RFC 3339 hint is an instant; it becomes a duration against the
//! system clock when the `ApiError` is built ([`ApiError::new`]), so build it when the response
//! arrives. Holding on to the error afterwards only makes the wait longer than needed, never
//! shorter. [`ApiError::new_at`] takes the time of receipt explicitly.

use core::fmt;
use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use ::http::header::{HeaderMap, HeaderName};
use ::http::StatusCode;

use crate::hint::{self, Hint};
use crate::{Classify, ErrorClass};

#[cfg(feature = "reqwest")]
mod client;
#[cfg(feature = "async-openai")]
mod openai;

#[cfg(feature = "reqwest")]
pub use client::{check, HttpError, RequestBuilderExt, IDEMPOTENCY_KEY, RETRY_COUNT};
#[cfg(feature = "async-openai")]
pub use openai::OpenAiTransport;

/// The `async-openai` crate this module is built against (feature `async-openai`): use it (or
/// the same version) so that its error type is the one [`Classify`] is implemented for.
#[cfg(feature = "async-openai")]
pub use ::async_openai;
/// The `reqwest` crate this module is built against (feature `reqwest`): use it (or the same
/// version) so that its error type is the one [`Classify`] is implemented for.
#[cfg(feature = "reqwest")]
pub use ::reqwest;

/// The most of a response body an [`ApiError`] keeps (8 KiB), as text.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use retry_runtime::http::{ApiError, BODY_PREFIX_LIMIT};
///
/// let error = ApiError::new(StatusCode::BAD_GATEWAY, &HeaderMap::new(), &[b'x'; 20_000]);
/// assert_eq!(error.body().len(), BODY_PREFIX_LIMIT);
/// ```
pub const BODY_PREFIX_LIMIT: usize = 8 * 1024;

/// The most of a body that is parsed as JSON (64 KiB): error bodies are far smaller.
const JSON_LIMIT: usize = 64 * 1024;

/// Response headers an [`ApiError`] keeps, besides every `x-ratelimit-*` and
/// `anthropic-ratelimit-*` one.
const KEPT_HEADERS: [&str; 7] = [
    "retry-after",
    "retry-after-ms",
    "x-ms-retry-after-ms",
    "x-should-retry",
    "x-request-id",
    "request-id",
    "content-type",
];

/// A failed API response: its status, the headers that matter for retrying, a bounded prefix
/// of its body, and what the provider said in them.
///
/// Build it with [`ApiError::new`] when the response arrives (or, with feature `reqwest`,
/// [`ApiError::from_response`]). It never keeps more than [`BODY_PREFIX_LIMIT`] bytes of the
/// body, and of the headers only those listed in the [module docs](self) (the retry hints,
/// rate-limit headers, `x-should-retry`, request ids and `content-type`).
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use retry_runtime::http::ApiError;
/// use retry_runtime::{Classify, ErrorClass};
///
/// let quota = br#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}"#;
/// let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), quota);
/// assert!(error.is_quota_exhausted());
/// assert_eq!(error.class(), ErrorClass::Client); // not retried
/// assert!(error.to_string().starts_with("429 Too Many Requests"));
/// ```
#[derive(Clone)]
pub struct ApiError(Box<Inner>);

#[derive(Clone)]
struct Inner {
    status: StatusCode,
    class: ErrorClass,
    hint: Option<Hint>,
    should_retry: Option<bool>,
    quota_exhausted: bool,
    request_id: Option<String>,
    error_type: Option<String>,
    error_code: Option<String>,
    message: Option<String>,
    headers: HeaderMap,
    body: String,
    body_truncated: bool,
}

impl ApiError {
    /// The error of a response with this status, headers and body, received now (the system
    /// clock): HTTP-date and RFC 3339 hints become durations against it. `body` may be the
    /// whole body or a prefix of it; at most [`BODY_PREFIX_LIMIT`] bytes of it are kept (as
    /// UTF-8, invalid sequences replaced).
    ///
    /// ```
    /// use http::{HeaderMap, HeaderValue, StatusCode};
    /// use retry_runtime::http::ApiError;
    /// use retry_runtime::{Classify, ErrorClass};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("request-id", HeaderValue::from_static("req_011CSHoEeqs5C35K2UUqR7Fy"));
    /// let body = br#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#;
    /// let error = ApiError::new(StatusCode::from_u16(529).unwrap(), &headers, body);
    /// assert_eq!(error.class(), ErrorClass::Overloaded);
    /// assert_eq!(error.error_type(), Some("overloaded_error"));
    /// assert_eq!(error.request_id(), Some("req_011CSHoEeqs5C35K2UUqR7Fy"));
    /// ```
    #[must_use]
    pub fn new(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        Self::new_at(status, headers, body, SystemTime::now())
    }

    /// Like [`new`](Self::new), for a response received at `received` (for tests, or for a
    /// response recorded earlier).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use http::{HeaderMap, HeaderValue, StatusCode};
    /// use retry_runtime::http::ApiError;
    /// use retry_runtime::Classify;
    ///
    /// let received = UNIX_EPOCH + Duration::from_secs(1_735_732_800); // 2025-01-01T12:00:00Z
    /// let mut headers = HeaderMap::new();
    /// headers.insert("anthropic-ratelimit-requests-reset", HeaderValue::from_static("2025-01-01T12:00:07Z"));
    /// headers.insert("anthropic-ratelimit-requests-remaining", HeaderValue::from_static("0"));
    /// let error = ApiError::new_at(StatusCode::TOO_MANY_REQUESTS, &headers, b"", received);
    /// assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    /// ```
    #[must_use]
    pub fn new_at(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        received: SystemTime,
    ) -> Self {
        let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
        let info = BodyInfo::parse(&body[..body.len().min(JSON_LIMIT)]);
        let code = status.as_u16();
        let hint = hint::select(code, header, info.retry_delay.as_deref(), received);
        let should_retry = header("x-should-retry").and_then(|value| {
            let value = value.trim();
            if value.eq_ignore_ascii_case("true") {
                Some(true)
            } else if value.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        });
        let quota_exhausted = code == 429 && (info.insufficient_quota || info.per_day_quota);
        let by_status = ErrorClass::from_status(code);
        let class = match should_retry {
            Some(false) if by_status == ErrorClass::Auth => ErrorClass::Auth,
            Some(false) => ErrorClass::Client,
            Some(true) if by_status.is_retryable() && by_status != ErrorClass::Other => by_status,
            Some(true) => ErrorClass::Server,
            None if quota_exhausted => ErrorClass::Client,
            None => by_status,
        };
        let request_id = header("x-request-id")
            .or_else(|| header("request-id"))
            .map(str::to_owned)
            .or(info.request_id);
        let mut kept = HeaderMap::new();
        for (name, value) in headers {
            if is_kept(name) {
                kept.append(name.clone(), value.clone());
            }
        }
        let (body, body_truncated) = text_prefix(body);
        ApiError(Box::new(Inner {
            status,
            class,
            hint,
            should_retry,
            quota_exhausted,
            request_id,
            error_type: info.error_type,
            error_code: info.error_code,
            message: info.message,
            headers: kept,
            body,
            body_truncated,
        }))
    }

    /// The response's status.
    ///
    /// ```
    /// # use http::{HeaderMap, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// let error = ApiError::new(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"");
    /// assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    /// ```
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The response headers kept: the retry hints, `x-ratelimit-*` and `anthropic-ratelimit-*`,
    /// `x-should-retry`, `x-request-id`, `request-id`, `content-type`.
    ///
    /// ```
    /// # use http::{HeaderMap, HeaderValue, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-ratelimit-remaining-tokens", HeaderValue::from_static("0"));
    /// headers.insert("set-cookie", HeaderValue::from_static("session=secret"));
    /// let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
    /// assert_eq!(error.headers()["x-ratelimit-remaining-tokens"], "0");
    /// assert!(error.headers().get("set-cookie").is_none());
    /// ```
    #[must_use]
    pub fn headers(&self) -> &HeaderMap {
        &self.0.headers
    }

    /// The start of the response body (at most [`BODY_PREFIX_LIMIT`] bytes, as UTF-8 with
    /// invalid sequences replaced).
    ///
    /// ```
    /// # use http::{HeaderMap, StatusCode};
    /// # use retry_runtime::http::{ApiError, BODY_PREFIX_LIMIT};
    /// let huge = vec![b'x'; 100_000];
    /// let error = ApiError::new(StatusCode::BAD_GATEWAY, &HeaderMap::new(), &huge);
    /// assert_eq!(error.body().len(), BODY_PREFIX_LIMIT);
    /// assert!(error.body_truncated());
    /// ```
    #[must_use]
    pub fn body(&self) -> &str {
        &self.0.body
    }

    /// Whether the body was longer than what [`body`](Self::body) keeps.
    ///
    /// ```
    /// # use http::{HeaderMap, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// let error = ApiError::new(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"upstream failed");
    /// assert!(!error.body_truncated());
    /// ```
    #[must_use]
    pub fn body_truncated(&self) -> bool {
        self.0.body_truncated
    }

    /// The server's hint with where it was read (see the [module docs](self) for which one
    /// wins); [`retry_after`](Classify::retry_after) is its wait.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use http::{HeaderMap, HeaderValue, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// use retry_runtime::hint::HintSource;
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("retry-after", HeaderValue::from_static("2"));
    /// headers.insert("retry-after-ms", HeaderValue::from_static("1500"));
    /// let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
    /// let hint = error.hint().unwrap();
    /// assert_eq!((hint.wait(), hint.source()), (Duration::from_millis(1500), HintSource::RetryAfterMs));
    /// ```
    #[must_use]
    pub fn hint(&self) -> Option<Hint> {
        self.0.hint
    }

    /// The provider's error type: `error.type` (OpenAI's `invalid_request_error`, Anthropic's
    /// `rate_limit_error`, ...) or, for Google APIs, `error.status` (`RESOURCE_EXHAUSTED`).
    ///
    /// ```
    /// # use http::{HeaderMap, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// let body = br#"{"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}"#;
    /// let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
    /// assert_eq!(error.error_type(), Some("RESOURCE_EXHAUSTED"));
    /// assert_eq!(error.error_code(), None); // Google's numeric code is the status
    /// ```
    #[must_use]
    pub fn error_type(&self) -> Option<&str> {
        self.0.error_type.as_deref()
    }

    /// The provider's error code, when the body has a string `error.code` (OpenAI's
    /// `rate_limit_exceeded`, `insufficient_quota`, `server_error`, ...).
    ///
    /// ```
    /// # use http::{HeaderMap, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// let body = br#"{"error": {"message": "The server had an error", "type": "server_error", "code": "server_error"}}"#;
    /// let error = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, &HeaderMap::new(), body);
    /// assert_eq!(error.error_code(), Some("server_error"));
    /// ```
    #[must_use]
    pub fn error_code(&self) -> Option<&str> {
        self.0.error_code.as_deref()
    }

    /// The provider's error message (`error.message`, or `error` when it is a string).
    ///
    /// ```
    /// # use http::{HeaderMap, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// let body = br#"{"error": "model not found"}"#;
    /// let error = ApiError::new(StatusCode::NOT_FOUND, &HeaderMap::new(), body);
    /// assert_eq!(error.message(), Some("model not found"));
    /// ```
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    /// Whether the response is a 429 that means "out of quota" rather than "slow down":
    /// OpenAI's `insufficient_quota`, or a Google `QuotaFailure` / `ErrorInfo` naming a per-day
    /// quota. Such an error is classed `Client` (not retried) unless `x-should-retry: true`.
    ///
    /// ```
    /// # use http::{HeaderMap, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// use retry_runtime::{Classify, ErrorClass};
    ///
    /// let body = br#"{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota", "details": [
    ///   {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
    ///     {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
    ///      "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},
    ///   {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "36s"}]}}"#;
    /// let error = ApiError::new(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body);
    /// assert!(error.is_quota_exhausted());
    /// assert_eq!(error.class(), ErrorClass::Client);
    /// ```
    #[must_use]
    pub fn is_quota_exhausted(&self) -> bool {
        self.0.quota_exhausted
    }

    /// The server's `x-should-retry` (`Some(true)` / `Some(false)`), if it sent one.
    ///
    /// ```
    /// # use http::{HeaderMap, HeaderValue, StatusCode};
    /// # use retry_runtime::http::ApiError;
    /// use retry_runtime::{Classify, ErrorClass};
    ///
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-should-retry", HeaderValue::from_static("false"));
    /// let error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, &headers, b"");
    /// assert_eq!(error.should_retry(), Some(false));
    /// assert_eq!(error.class(), ErrorClass::Client);
    /// ```
    #[must_use]
    pub fn should_retry(&self) -> Option<bool> {
        self.0.should_retry
    }
}

impl Classify for ApiError {
    /// See the [module docs](self#precedence).
    fn class(&self) -> ErrorClass {
        self.0.class
    }

    fn retry_after(&self) -> Option<Duration> {
        self.0.hint.map(|hint| hint.wait())
    }

    fn request_id(&self) -> Option<&str> {
        self.0.request_id.as_deref()
    }

    fn status(&self) -> Option<u16> {
        Some(self.0.status.as_u16())
    }

    /// The provider's message; else its error type, the status's reason, or the start of the
    /// body (the log line trims it).
    fn message(&self) -> Option<Cow<'_, str>> {
        let inner = &*self.0;
        let text = (inner.message.as_deref())
            .or(inner.error_type.as_deref())
            .or(inner.status.canonical_reason())
            .unwrap_or(&inner.body);
        Some(Cow::Borrowed(text))
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.0;
        f.debug_struct("ApiError")
            .field("status", &inner.status)
            .field("class", &inner.class)
            .field("hint", &inner.hint)
            .field("should_retry", &inner.should_retry)
            .field("quota_exhausted", &inner.quota_exhausted)
            .field("request_id", &inner.request_id)
            .field("error_type", &inner.error_type)
            .field("error_code", &inner.error_code)
            .field("message", &inner.message)
            .field("headers", &inner.headers)
            .field("body", &inner.body)
            .field("body_truncated", &inner.body_truncated)
            .finish()
    }
}

impl fmt::Display for ApiError {
    /// `429 Too Many Requests: rate_limit_error (code): message [request id req_1]`; without a
    /// provider message, the start of the body (200 characters at most).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.0;
        write!(f, "{}", inner.status.as_u16())?;
        if let Some(reason) = inner.status.canonical_reason() {
            write!(f, " {reason}")?;
        }
        if let Some(kind) = &inner.error_type {
            write!(f, ": {kind}")?;
        }
        if let Some(code) = inner
            .error_code
            .as_ref()
            .filter(|code| Some(*code) != inner.error_type.as_ref())
        {
            write!(f, " ({code})")?;
        }
        if let Some(message) = &inner.message {
            write!(f, ": {message}")?;
        } else {
            let body = inner.body.trim();
            if !body.is_empty() {
                let mut end = body.len().min(200);
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                let more = if end < body.len() { "…" } else { "" };
                write!(f, ": {}{more}", &body[..end])?;
            }
        }
        if let Some(id) = &inner.request_id {
            write!(f, " [request id {id}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

fn is_kept(name: &HeaderName) -> bool {
    let name = name.as_str();
    KEPT_HEADERS.contains(&name)
        || name.starts_with("x-ratelimit-")
        || name.starts_with("anthropic-ratelimit-")
}

/// At most [`BODY_PREFIX_LIMIT`] bytes of `body` as text, without a character cut in two at the
/// end; and whether anything was left out.
fn text_prefix(body: &[u8]) -> (String, bool) {
    if body.len() <= BODY_PREFIX_LIMIT {
        return (String::from_utf8_lossy(body).into_owned(), false);
    }
    let mut prefix = &body[..BODY_PREFIX_LIMIT];
    if let Err(error) = std::str::from_utf8(prefix) {
        if error.error_len().is_none() {
            // The limit cut a character: end before it.
            prefix = &prefix[..error.valid_up_to()];
        }
    }
    (String::from_utf8_lossy(prefix).into_owned(), true)
}

/// What a JSON error body says, in the shapes of OpenAI, Anthropic and Google APIs.
#[derive(Default)]
struct BodyInfo {
    error_type: Option<String>,
    error_code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    retry_delay: Option<String>,
    insufficient_quota: bool,
    per_day_quota: bool,
}

impl BodyInfo {
    fn parse(body: &[u8]) -> Self {
        let mut info = BodyInfo::default();
        let start = body.iter().position(|b| !b.is_ascii_whitespace());
        if !start.is_some_and(|i| matches!(body[i], b'{' | b'[')) {
            return info;
        }
        let Ok(root) = serde_json::from_slice::<serde_json::Value>(body) else {
            return info;
        };
        // Vertex AI's streaming endpoints wrap the error in an array.
        let root = match &root {
            serde_json::Value::Array(items) => match items.first() {
                Some(first) => first,
                None => return info,
            },
            other => other,
        };
        let text = |value: &serde_json::Value| value.as_str().map(str::to_owned);
        info.request_id = root.get("request_id").and_then(text);
        let Some(error) = root.get("error") else {
            return info;
        };
        if let Some(message) = error.as_str() {
            info.message = Some(message.to_owned());
            return info;
        }
        info.message = error.get("message").and_then(text);
        info.error_type = error
            .get("type")
            .and_then(text)
            .or_else(|| error.get("status").and_then(text));
        info.error_code = error.get("code").and_then(text);
        info.insufficient_quota = [&info.error_code, &info.error_type]
            .into_iter()
            .any(|field| field.as_deref() == Some("insufficient_quota"));
        let details = error.get("details").and_then(serde_json::Value::as_array);
        for detail in details.into_iter().flatten() {
            let Some(kind) = detail.get("@type").and_then(serde_json::Value::as_str) else {
                continue;
            };
            if kind.ends_with("google.rpc.RetryInfo") {
                if info.retry_delay.is_none() {
                    info.retry_delay = detail.get("retryDelay").and_then(text);
                }
            } else if kind.ends_with("google.rpc.QuotaFailure") {
                let violations = detail
                    .get("violations")
                    .and_then(serde_json::Value::as_array);
                for violation in violations.into_iter().flatten() {
                    info.per_day_quota |= ["quotaId", "quotaMetric"].iter().any(|field| {
                        violation
                            .get(*field)
                            .and_then(serde_json::Value::as_str)
                            .is_some_and(names_per_day_quota)
                    });
                }
            } else if kind.ends_with("google.rpc.ErrorInfo") {
                let metadata = detail.get("metadata");
                info.per_day_quota |= ["quota_limit", "quota_metric"].iter().any(|field| {
                    metadata
                        .and_then(|metadata| metadata.get(*field))
                        .and_then(serde_json::Value::as_str)
                        .is_some_and(names_per_day_quota)
                });
            }
        }
        info
    }
}

/// Whether a Google quota id or metric names a per-day quota
/// (`GenerateRequestsPerDayPerProjectPerModel-FreeTier`, `..._requests_per_day`).
fn names_per_day_quota(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name.contains("perday") || name.contains("per_day") || name.contains("per-day")
}

#[cfg(all(test, feature = "reqwest", feature = "tokio"))]
mod test_server;
#[cfg(test)]
mod tests;
