//! reqwest support (feature `reqwest`): `Classify` for `reqwest::Error`, `ApiError` from a
//! `reqwest::Response`, the `HttpError` enum, and idempotency headers.

use core::fmt;
use std::borrow::Cow;
use std::error::Error as _;
use std::io;
use std::time::{Duration, SystemTime};

use ::reqwest::{RequestBuilder, Response};

use super::{ApiError, JSON_LIMIT};
use crate::{attempt, CircuitOpen, Classify, Elapsed, ErrorClass, IdempotencyKey, NotYet};

/// The request header that carries the call's idempotency key: `Idempotency-Key`.
///
/// ```
/// use retry_runtime::http::{RequestBuilderExt, IDEMPOTENCY_KEY};
///
/// let request = reqwest::Client::new().post("http://localhost/v1").idempotency_key().build().unwrap();
/// assert_eq!(request.headers()[IDEMPOTENCY_KEY].len(), 36); // a UUID
/// ```
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The request header that tells the server how many times this request was retried
/// (`x-stainless-retry-count`, as the official OpenAI and Anthropic SDKs send it): `0` on the
/// first attempt.
///
/// ```
/// use retry_runtime::http::{RequestBuilderExt, RETRY_COUNT};
///
/// let request = reqwest::Client::new().get("http://localhost/v1").retry_count_header().build().unwrap();
/// assert_eq!(request.headers()[RETRY_COUNT], "0"); // not in a retried call: the first try
/// ```
pub const RETRY_COUNT: &str = "x-stainless-retry-count";

impl Classify for ::reqwest::Error {
    /// - a timeout (`is_timeout`: the client's `timeout`/`read_timeout`, or a timed-out
    ///   connection) → `Timeout`;
    /// - a failed connection (`is_connect`: refused, DNS, TLS handshake) → `Network`;
    /// - a status error (from `error_for_status`) → by its status, with
    ///   [`ErrorClass::from_status`] (it has no headers, so no hint: prefer [`check`]);
    /// - a request that could not be built (`is_builder`: a bad URL or header) → `Client`;
    /// - an error sending the request or reading the body (`is_request`, `is_body`,
    ///   `is_decode`) → `Network` when its cause shows the connection was lost (reset, aborted,
    ///   broken pipe, unexpected end of file, a connection closed before the response was
    ///   complete), as when a server drops a pooled keep-alive connection; else `Other`, not
    ///   retried unless named: a body that does not decode fails the same way again;
    /// - anything else (redirect loops, upgrades) → `Other`.
    fn class(&self) -> ErrorClass {
        if self.is_timeout() {
            ErrorClass::Timeout
        } else if self.is_connect() {
            ErrorClass::Network
        } else if let Some(status) = self.status() {
            ErrorClass::from_status(status.as_u16())
        } else if self.is_builder() {
            ErrorClass::Client
        } else if connection_lost(self) {
            ErrorClass::Network
        } else {
            ErrorClass::Other
        }
    }

    fn status(&self) -> Option<u16> {
        self.status().map(|status| status.as_u16())
    }

    fn message(&self) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(self.to_string()))
    }
}

/// Whether the error's cause chain shows a lost connection.
fn connection_lost(error: &::reqwest::Error) -> bool {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::NotConnected
                    | io::ErrorKind::UnexpectedEof
            ) {
                return true;
            }
        }
        if let Some(hyper) = cause.downcast_ref::<::hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() || hyper.is_closed() {
                return true;
            }
        }
        source = cause.source();
    }
    false
}

impl ApiError {
    /// The error of a failed response: reads its status and headers, and at most 64 KiB of its
    /// body (of which [`BODY_PREFIX_LIMIT`](super::BODY_PREFIX_LIMIT) bytes are kept). The time
    /// of receipt, for date hints, is when this is called. A body that fails midway is kept
    /// as far as it was read; one that never ends is cut by the attempt's timeout, if any.
    ///
    /// ```no_run
    /// use retry_runtime::http::ApiError;
    /// use retry_runtime::Classify;
    ///
    /// # async fn run() -> Result<(), reqwest::Error> {
    /// let response = reqwest::get("https://api.example.com/v1/models").await?;
    /// if !response.status().is_success() {
    ///     let error = ApiError::from_response(response).await;
    ///     println!("{error} ({}), retry after {:?}", error.class(), error.retry_after());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_response(mut response: Response) -> ApiError {
        let received = SystemTime::now();
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        while body.len() < JSON_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = JSON_LIMIT - body.len();
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                Ok(None) | Err(_) => break,
            }
        }
        ApiError::new_at(status, &headers, &body, received)
    }
}

/// Passes a response with a success (or informational, or redirect) status through, and turns
/// one with a 4xx or 5xx status into an [`ApiError`] (like `error_for_status`, but keeping the
/// headers and the start of the body, so the hints and the provider's error are there).
///
/// ```no_run
/// use retry_runtime::http::{check, HttpError};
/// use retry_runtime::retry;
///
/// #[retry(max_attempts = 4)]
/// async fn list_models(client: &reqwest::Client) -> Result<String, HttpError> {
///     let response = client.get("https://api.openai.com/v1/models").send().await?;
///     Ok(check(response).await?.text().await?)
/// }
/// ```
pub async fn check(response: Response) -> Result<Response, ApiError> {
    crate::report_rate_limits(rate_limits(response.headers()));
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        return Err(ApiError::from_response(response).await);
    }
    Ok(response)
}

/// The error of a retried reqwest call: an error response, a transport error, an attempt (or
/// deadline) that ran out, or a circuit breaker that refused the call. Use it as the error type
/// of a `#[retry]` function; it is `From` each of them, so `?` works on all of them, and
/// `attempt_timeout`, `deadline`, `circuit_breaker` and `admission` can build it.
///
/// ```no_run
/// use retry_runtime::http::{check, HttpError, RequestBuilderExt};
/// use retry_runtime::retry;
///
/// #[retry(max_attempts = 5, attempt_timeout = 60s, deadline = 3m)]
/// async fn complete(client: &reqwest::Client, body: String) -> Result<String, HttpError> {
///     let response = client
///         .post("https://api.anthropic.com/v1/messages")
///         .header("content-type", "application/json")
///         .body(body.clone())
///         .idempotency_key()
///         .retry_count_header()
///         .send()
///         .await?;
///     Ok(check(response).await?.text().await?)
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum HttpError {
    /// The server answered with an error status.
    Api(ApiError),
    /// The request failed before a response (or while reading it).
    Transport(::reqwest::Error),
    /// The attempt (`attempt_timeout`) or the whole call (`deadline`) ran out of time.
    Elapsed(Elapsed),
    /// The call's circuit breaker refused it (`circuit_breaker`).
    CircuitOpen(CircuitOpen),
    /// The call's admission gate could not admit it before its deadline (`admission`).
    NotAdmitted(NotYet),
}

impl HttpError {
    /// The error response, if the server answered.
    ///
    /// ```
    /// use http::{HeaderMap, StatusCode};
    /// use retry_runtime::http::{ApiError, HttpError};
    ///
    /// let error = HttpError::from(ApiError::new(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b""));
    /// assert_eq!(error.api().map(ApiError::status), Some(StatusCode::BAD_GATEWAY));
    /// ```
    #[must_use]
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            HttpError::Api(error) => Some(error),
            _ => None,
        }
    }
}

impl Classify for HttpError {
    fn class(&self) -> ErrorClass {
        match self {
            HttpError::Api(error) => error.class(),
            HttpError::Transport(error) => error.class(),
            HttpError::Elapsed(error) => error.class(),
            HttpError::CircuitOpen(error) => error.class(),
            HttpError::NotAdmitted(error) => error.class(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::Api(error) => error.retry_after(),
            HttpError::CircuitOpen(error) => error.retry_after(),
            HttpError::NotAdmitted(error) => error.retry_after(),
            HttpError::Transport(_) | HttpError::Elapsed(_) => None,
        }
    }

    fn request_id(&self) -> Option<&str> {
        self.api().and_then(Classify::request_id)
    }

    fn status(&self) -> Option<u16> {
        match self {
            HttpError::Api(error) => Classify::status(error),
            HttpError::Transport(error) => Classify::status(error),
            HttpError::Elapsed(_) | HttpError::CircuitOpen(_) | HttpError::NotAdmitted(_) => None,
        }
    }

    fn message(&self) -> Option<Cow<'_, str>> {
        match self {
            HttpError::Api(error) => Classify::message(error),
            other => Some(Cow::Owned(other.to_string())),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::Api(error) => fmt::Display::fmt(error, f),
            HttpError::Transport(error) => fmt::Display::fmt(error, f),
            HttpError::Elapsed(error) => fmt::Display::fmt(error, f),
            HttpError::CircuitOpen(error) => fmt::Display::fmt(error, f),
            HttpError::NotAdmitted(error) => fmt::Display::fmt(error, f),
        }
    }
}

impl std::error::Error for HttpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            HttpError::Api(error) => Some(error),
            HttpError::Transport(error) => Some(error),
            HttpError::Elapsed(error) => Some(error),
            HttpError::CircuitOpen(error) => Some(error),
            HttpError::NotAdmitted(error) => Some(error),
        }
    }
}

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        HttpError::Api(error)
    }
}

impl From<::reqwest::Error> for HttpError {
    fn from(error: ::reqwest::Error) -> Self {
        HttpError::Transport(error)
    }
}

impl From<Elapsed> for HttpError {
    fn from(error: Elapsed) -> Self {
        HttpError::Elapsed(error)
    }
}

impl From<CircuitOpen> for HttpError {
    fn from(error: CircuitOpen) -> Self {
        HttpError::CircuitOpen(error)
    }
}

impl From<NotYet> for HttpError {
    fn from(error: NotYet) -> Self {
        HttpError::NotAdmitted(error)
    }
}

/// The rate limits in a response's headers.
fn rate_limits(headers: &http::HeaderMap) -> crate::RateLimits {
    crate::RateLimits::from_headers(
        headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?))),
    )
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for ::reqwest::RequestBuilder {}
}

/// Headers that tie the attempts of one retried call together, on a `reqwest::RequestBuilder`.
///
/// Inside a retried call (the body of a `#[retry]` function, or the future that
/// [`RetryPolicy::call_async`](crate::RetryPolicy::call_async)'s closure returns) they read the
/// current [`attempt()`](crate::attempt()): every attempt of one call sends the same
/// idempotency key, and each call has its own. Outside one, each request gets a fresh key (a
/// request of its own is a logical call of its own) and a retry count of 0: a hand-written
/// retry loop should instead set [`IDEMPOTENCY_KEY`] itself, with a key it keeps across tries.
///
/// ```no_run
/// use retry_runtime::http::{check, HttpError, RequestBuilderExt};
/// use retry_runtime::retry;
///
/// #[retry]
/// async fn create_batch(client: &reqwest::Client) -> Result<(), HttpError> {
///     let response = client
///         .post("https://api.openai.com/v1/batches")
///         .idempotency_key() // Idempotency-Key: the same UUID on every attempt of this call
///         .retry_count_header() // x-stainless-retry-count: 0, 1, 2, ...
///         .send()
///         .await?;
///     check(response).await?;
///     Ok(())
/// }
/// ```
pub trait RequestBuilderExt: sealed::Sealed + Sized {
    /// Sets `Idempotency-Key` to the current call's key (a UUID).
    #[must_use]
    fn idempotency_key(self) -> Self;

    /// Sets `x-stainless-retry-count` to the number of attempts before this one.
    #[must_use]
    fn retry_count_header(self) -> Self;
}

impl RequestBuilderExt for RequestBuilder {
    fn idempotency_key(self) -> Self {
        let key = attempt().map_or_else(IdempotencyKey::new, |now| now.idempotency_key());
        self.header(IDEMPOTENCY_KEY, key.to_string())
    }

    fn retry_count_header(self) -> Self {
        let retries = attempt().map_or(0, |now| now.number().saturating_sub(1));
        self.header(RETRY_COUNT, retries.to_string())
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests;
