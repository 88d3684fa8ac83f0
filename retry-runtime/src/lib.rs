//! Reliable calls to flaky remote APIs, first of all LLM APIs.
//!
//! Put `#[retry]` on a sync or async function that returns `Result<T, E>`, implement
//! [`Classify`] for `E`, and the call is retried the way production teams do it: exponential
//! backoff with full jitter, the server's `Retry-After` honoured and never shortened, a strategy
//! per kind of error (429 waits for the hint, 5xx backs off, 400/401/403 never retry, timeouts
//! retry but bounded), a deadline over the whole call, one idempotency key across attempts, no
//! multiplied retries when retried functions nest, a `tracing` event per failed attempt and
//! counters per function.
//!
//! ```
//! use std::time::Duration;
//! use retry_runtime::{retry, Classify, ErrorClass};
//!
//! #[derive(Debug)]
//! enum LlmError {
//!     Status { code: u16, retry_after: Option<Duration> },
//!     Io(std::io::Error),
//! }
//!
//! impl Classify for LlmError {
//!     fn class(&self) -> ErrorClass {
//!         match self {
//!             LlmError::Status { code, .. } => ErrorClass::from_status(*code),
//!             LlmError::Io(e) => e.class(),
//!         }
//!     }
//!     fn retry_after(&self) -> Option<Duration> {
//!         match self {
//!             LlmError::Status { retry_after, .. } => *retry_after,
//!             LlmError::Io(_) => None,
//!         }
//!     }
//! }
//!
//! #[retry(max_attempts = 5, wait = exponential(1, 60), on = [RateLimit, Timeout])]
//! async fn complete(prompt: &str) -> Result<String, LlmError> {
//!     Ok(format!("echo: {prompt}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! assert_eq!(complete("hi").await.unwrap(), "echo: hi");
//! # }
//! ```
//!
//! Everything the attribute does is also reachable without it, through a [`RetryPolicy`] value
//! and its [`call`](RetryPolicy::call) / [`call_async`](RetryPolicy::call_async) methods.
//!
//! # Features
//! - `macros` (default): the `#[retry]` attribute.
//! - `tokio` (default): async retries, waiting on tokio's timer (and its paused clock in tests).
//! - `http`: `http::ApiError`, classifying a failed API response from its status, headers and
//!   body, with every provider's retry hint.
//! - `reqwest` (implies `http`): `Classify` for `reqwest::Error`, `HttpError`, and the
//!   idempotency-key and retry-count headers for a `RequestBuilder`. No TLS: plain HTTP only.
//! - `rustls` (implies `reqwest`): TLS for `https://` through rustls (aws-lc-rs, no OpenSSL).
//! - `async-openai` (implies `reqwest`): `Classify` for async-openai's error, and a transport that
//!   sends each request once and keeps the response headers.
//! - `metrics`: `retry_runtime::metrics`, counters, a histogram and gauges on the `metrics`
//!   facade (calls by outcome, retries, failures by class, waits, fallbacks, circuit breaker
//!   state and transitions), for the recorder the program installs (Prometheus, ...). Off, not
//!   one instruction of it is compiled in.

#![warn(missing_docs, unreachable_pub, missing_debug_implementations)]
// Every `unsafe` block says why it is sound (there is one: the published attempt context).
#![deny(clippy::undocumented_unsafe_blocks)]

mod admission;
mod breaker;
mod budget;
mod call;
mod classify;
mod clock;
mod context;
mod deadline;
mod elapsed;
#[cfg(feature = "redis")]
mod fleet;
pub mod hint;
#[cfg(feature = "http")]
pub mod http;
mod keyed;
#[cfg(feature = "metrics")]
pub mod metrics;
mod observe;
mod policy;
mod stats;
mod strategy;
mod summary;
pub mod testing;
mod wait;
mod window;

pub use admission::{AdmissionGate, AdmissionWait, Admitted, KeyedGates, NotYet, RateLimits};
pub use breaker::{BreakerPermit, BreakerSnapshot, BreakerState, CircuitBreaker, CircuitOpen};
pub use budget::{BudgetSnapshot, KeyedBudgets, RetryBudget};
pub use classify::{ClassSet, Classify, ErrorClass};
pub use clock::Clock;
pub use context::{attempt, report_rate_limits, report_token_usage, Attempt, IdempotencyKey};
pub use elapsed::Elapsed;
#[cfg(feature = "redis")]
pub use fleet::RedisStore;
pub use policy::{InvalidPolicy, RetryPolicy, MAX_ATTEMPTS_LIMIT};
pub use stats::{statistics, statistics_for, GiveUpReason, Statistics};
pub use wait::{Backoff, Jitter, Wait};

/// Retries the function it is put on: see the crate docs and the README for the arguments.
#[cfg(feature = "macros")]
pub use retry_macros::retry;

/// What `#[retry]` expansions name. Not a public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    #[cfg(feature = "tokio")]
    pub use crate::call::TimedAttempting;
    pub use crate::call::{
        as_breaker, as_budget, AsBreaker, AsBudget, Attempting, Call, CircuitOpenInto, RetryResult,
        Sleeping, Step, TimeoutInto,
    };
    pub use crate::call::{as_gate, token_cost, AsGate, NotAdmittedInto, TokenCost};
    pub use crate::stats::Counters;
    pub use crate::{ClassSet, Elapsed, ErrorClass, Jitter, RetryPolicy, Wait};
    pub use core::clone::Clone;
    pub use core::future::Future;
    pub use core::result::Result;
    pub use core::time::Duration;
    pub use core::{concat, module_path};

    /// Checks that a retried function returns `Result<T, E>`.
    #[inline(always)]
    pub fn check_return<R: RetryResult>() {}

    /// Checks that a timed retried function's error type can carry a timeout.
    #[inline(always)]
    pub fn check_timeout_capable<R: RetryResult>()
    where
        R::Err: TimeoutInto,
    {
    }

    /// Never implemented: the error when async retries are used without the `tokio` feature.
    #[cfg(not(feature = "tokio"))]
    #[diagnostic::on_unimplemented(
        message = "async `#[retry]` functions need retry-runtime's `tokio` feature",
        label = "enable the `tokio` feature of retry-runtime"
    )]
    pub trait TokioFeatureRequired {}
}
