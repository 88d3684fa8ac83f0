//! async-openai support (feature `async-openai`): `Classify` for its error type, and a
//! transport that keeps what its default one drops.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::borrow::Cow;
use std::time::Duration;

use ::async_openai::error::{ApiErrorResponse, OpenAIError};
use ::async_openai::middleware::HttpRequestFactory;
use ::http::HeaderValue;
use ::reqwest::Response;

use super::{ApiError, HttpError, IDEMPOTENCY_KEY, RETRY_COUNT};
use crate::{attempt, CircuitOpen, Classify, Elapsed, ErrorClass};

/// What async-openai's error can tell (async-openai 0.43).
///
/// - `Reqwest` → as [`reqwest::Error`](::reqwest::Error) classifies (timeout, connection, ...).
/// - `ApiError` → by its status ([`ErrorClass::from_status`]); a 429 whose `code` or `type` is
///   `insufficient_quota` → `Client` (not retried). The `code`/`type` strings
///   (`rate_limit_exceeded`, `server_error`, ...) agree with the status, which decides.
/// - `Boxed` holding an [`ApiError`], an [`HttpError`], an [`Elapsed`], a [`CircuitOpen`], a
///   `reqwest::Error` or an `std::io::Error` → as that error classifies: this is how
///   [`OpenAiTransport`], `attempt_timeout`, `deadline` and `circuit_breaker` report, and the
///   only way to get a hint and a request id.
/// - `JSONDeserialize`, `StreamError`, `InvalidArgument`, file errors, other `Boxed` errors →
///   `Other` (not retried unless named): the same request fails the same way again.
///
/// What it cannot see with async-openai's default transport: the response headers are dropped
/// before the error is built, so there is no `Retry-After` (or any other) hint, no
/// `x-should-retry`, and no request id; a 4xx whose body is not OpenAI's JSON error (an HTML
/// page from a proxy, say) arrives as `JSONDeserialize` with its status lost, so it is `Other`.
/// The default transport also retries by itself (3 retries of 429s, 5xx and connection errors,
/// with its own backoff that reads only integer `Retry-After`) before this runtime sees an
/// error, so attempts multiply. Install [`OpenAiTransport`] to fix all of that.
///
/// ```
/// use async_openai::error::{ApiError, ApiErrorResponse, OpenAIError};
/// use reqwest::StatusCode;
/// use retry_runtime::{Classify, ErrorClass};
///
/// let quota = OpenAIError::ApiError(ApiErrorResponse {
///     status_code: StatusCode::TOO_MANY_REQUESTS,
///     api_error: ApiError {
///         message: "You exceeded your current quota".into(),
///         r#type: Some("insufficient_quota".into()),
///         code: Some("insufficient_quota".into()),
///         ..ApiError::default()
///     },
/// });
/// assert_eq!(quota.class(), ErrorClass::Client);
/// assert_eq!(OpenAIError::InvalidArgument("no model".into()).class(), ErrorClass::Other);
/// ```
impl Classify for OpenAIError {
    fn class(&self) -> ErrorClass {
        match self {
            OpenAIError::Reqwest(error) => error.class(),
            OpenAIError::ApiError(response) => response_class(response),
            OpenAIError::Boxed(error) => {
                boxed(error.as_ref()).map_or(ErrorClass::Other, Classify::class)
            }
            _ => ErrorClass::Other,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            OpenAIError::Boxed(error) => boxed(error.as_ref()).and_then(Classify::retry_after),
            _ => None,
        }
    }

    fn request_id(&self) -> Option<&str> {
        match self {
            OpenAIError::Boxed(error) => boxed(error.as_ref()).and_then(Classify::request_id),
            _ => None,
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            OpenAIError::Reqwest(error) => Classify::status(error),
            OpenAIError::ApiError(response) => Some(response.status_code.as_u16()),
            OpenAIError::Boxed(error) => boxed(error.as_ref()).and_then(Classify::status),
            _ => None,
        }
    }

    fn message(&self) -> Option<Cow<'_, str>> {
        match self {
            OpenAIError::ApiError(response) => Some(Cow::Borrowed(&response.api_error.message)),
            OpenAIError::Boxed(error) => match boxed(error.as_ref()) {
                Some(known) => known.message(),
                None => Some(Cow::Owned(error.to_string())),
            },
            other => Some(Cow::Owned(other.to_string())),
        }
    }
}

fn response_class(response: &ApiErrorResponse) -> ErrorClass {
    let status = response.status_code.as_u16();
    let error = &response.api_error;
    let quota = [&error.code, &error.r#type]
        .into_iter()
        .any(|field| field.as_deref() == Some("insufficient_quota"));
    if status == 429 && quota {
        ErrorClass::Client
    } else {
        ErrorClass::from_status(status)
    }
}

/// The error in a `Boxed`, if it is one this crate can classify.
fn boxed<'e>(
    error: &'e (dyn std::error::Error + Send + Sync + 'static),
) -> Option<&'e dyn Classify> {
    if let Some(error) = error.downcast_ref::<ApiError>() {
        Some(error)
    } else if let Some(error) = error.downcast_ref::<HttpError>() {
        Some(error)
    } else if let Some(error) = error.downcast_ref::<Elapsed>() {
        Some(error)
    } else if let Some(error) = error.downcast_ref::<CircuitOpen>() {
        Some(error)
    } else if let Some(error) = error.downcast_ref::<::reqwest::Error>() {
        Some(error)
    } else if let Some(error) = error.downcast_ref::<std::io::Error>() {
        Some(error)
    } else {
        None
    }
}

/// Lets a retried function that returns `OpenAIError` use `attempt_timeout` and `deadline`: the
/// cut attempt's error is `OpenAIError::Boxed` holding the [`Elapsed`], classified `Timeout`.
///
/// ```
/// use std::time::Duration;
/// use async_openai::error::OpenAIError;
/// use retry_runtime::{Classify, Elapsed, ErrorClass};
///
/// let error = OpenAIError::from(Elapsed::attempt_timeout(Duration::from_secs(30)));
/// assert_eq!(error.class(), ErrorClass::Timeout);
/// ```
impl From<Elapsed> for OpenAIError {
    fn from(elapsed: Elapsed) -> Self {
        OpenAIError::Boxed(Box::new(elapsed))
    }
}

/// Lets a retried function that returns `OpenAIError` use `circuit_breaker`: the refused call's
/// error is `OpenAIError::Boxed` holding the [`CircuitOpen`], classified `Overloaded` with the
/// time until the breaker lets a probe through as its hint.
///
/// ```
/// use std::time::Duration;
/// use async_openai::error::OpenAIError;
/// use retry_runtime::{CircuitBreaker, Classify, ErrorClass};
///
/// let breaker = CircuitBreaker::new().named("openai").break_duration(Duration::from_secs(30));
/// breaker.trip();
/// let error = OpenAIError::from(breaker.try_acquire().unwrap_err());
/// assert_eq!(error.class(), ErrorClass::Overloaded);
/// assert!(error.retry_after().is_some());
/// ```
impl From<CircuitOpen> for OpenAIError {
    fn from(open: CircuitOpen) -> Self {
        OpenAIError::Boxed(Box::new(open))
    }
}

/// An async-openai transport that sends each request once and keeps the whole failed response:
/// install it with `Client::with_http_service`.
///
/// Compared with async-openai's default transport:
/// - it does not retry (the `#[retry]` around the call does, so attempts do not multiply);
/// - a 4xx or 5xx response becomes `OpenAIError::Boxed(`[`ApiError`]`)`, built from the status,
///   headers and the start of the body, so the runtime sees every hint (`Retry-After`,
///   `retry-after-ms`, rate-limit resets), `x-should-retry`, the quota checks and the request
///   id (match on `Boxed` and downcast to `ApiError` to read it);
/// - inside a retried call it sends `Idempotency-Key` (the call's key, the same on every
///   attempt) and `x-stainless-retry-count` (0 on the first attempt), unless the request
///   already has them.
///
/// ```no_run
/// use async_openai::config::OpenAIConfig;
/// use async_openai::error::OpenAIError;
/// use async_openai::types::chat::{
///     ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs, CreateChatCompletionResponse,
/// };
/// use async_openai::Client;
/// use retry_runtime::http::OpenAiTransport;
/// use retry_runtime::retry;
///
/// #[retry(max_attempts = 5, attempt_timeout = 60s)]
/// async fn ask(client: &Client<OpenAIConfig>, prompt: &str) -> Result<CreateChatCompletionResponse, OpenAIError> {
///     let request = CreateChatCompletionRequestArgs::default()
///         .model("gpt-4o-mini")
///         .messages([ChatCompletionRequestUserMessage::from(prompt).into()])
///         .build()?;
///     client.chat().create(request).await
/// }
///
/// # async fn run() -> Result<(), OpenAIError> {
/// let client = Client::with_config(OpenAIConfig::new())
///     .with_http_service(OpenAiTransport::new(reqwest::Client::new()));
/// let reply = ask(&client, "Say hi").await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct OpenAiTransport {
    client: ::reqwest::Client,
}

impl OpenAiTransport {
    /// A transport that sends requests with `client` (its timeouts, proxy and TLS settings).
    ///
    /// ```
    /// use retry_runtime::http::OpenAiTransport;
    ///
    /// let transport = OpenAiTransport::new(reqwest::Client::new());
    /// # let _ = transport;
    /// ```
    #[must_use]
    pub fn new(client: ::reqwest::Client) -> Self {
        OpenAiTransport { client }
    }
}

impl tower_service::Service<HttpRequestFactory> for OpenAiTransport {
    type Response = Response;
    type Error = OpenAIError;
    type Future = Pin<Box<dyn Future<Output = Result<Response, OpenAIError>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), OpenAIError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, factory: HttpRequestFactory) -> Self::Future {
        let client = self.client.clone();
        Box::pin(async move {
            let mut request = factory.build().await?;
            // Polled inside the retried body, so the attempt is the body's.
            if let Some(now) = attempt() {
                let headers = request.headers_mut();
                if let Ok(key) = HeaderValue::from_str(&now.idempotency_key().to_string()) {
                    headers.entry(IDEMPOTENCY_KEY).or_insert(key);
                }
                headers
                    .entry(RETRY_COUNT)
                    .or_insert(HeaderValue::from(now.number().saturating_sub(1)));
            }
            let response = client
                .execute(request)
                .await
                .map_err(OpenAIError::Reqwest)?;
            let status = response.status();
            if status.is_client_error() || status.is_server_error() {
                let error = ApiError::from_response(response).await;
                return Err(OpenAIError::Boxed(Box::new(error)));
            }
            Ok(response)
        })
    }
}

#[cfg(all(test, feature = "tokio"))]
mod tests;
