//! Leave to make a call through a breaker, and the refusal when there is none.

use core::fmt;
use std::mem::ManuallyDrop;
use std::time::Duration;

use super::decide::{PermitKind, ProbeOutcome};
use super::CircuitBreaker;
use crate::{Classify, ErrorClass};

/// Leave to make one call through a [`CircuitBreaker`]; report how the call ended with
/// [`success`](Self::success) or [`failure`](Self::failure).
///
/// Dropped unresolved while its thread panics (the call panicked), it counts as a failure.
/// Dropped unresolved otherwise (the future making the call was cancelled), it counts nothing
/// and, if it was a probe, gives its probe slot back.
///
/// ```
/// use retry_runtime::{CircuitBreaker, ErrorClass};
///
/// let breaker = CircuitBreaker::new();
/// let permit = breaker.try_acquire().unwrap();
/// assert!(!permit.is_probe());
/// permit.failure(ErrorClass::Client); // neutral: a bad request says nothing of the provider
/// assert_eq!(breaker.snapshot().failures, 0);
/// ```
#[must_use = "report the call's outcome with `success()` or `failure(class)`"]
pub struct BreakerPermit<'a> {
    pub(super) breaker: &'a CircuitBreaker,
    pub(super) kind: PermitKind,
}

impl BreakerPermit<'_> {
    /// The call succeeded.
    ///
    /// ```
    /// use retry_runtime::CircuitBreaker;
    /// let breaker = CircuitBreaker::new();
    /// breaker.try_acquire().unwrap().success();
    /// assert_eq!(breaker.snapshot().calls, 1);
    /// ```
    #[inline]
    pub fn success(self) {
        let this = ManuallyDrop::new(self);
        match this.kind {
            PermitKind::Closed { .. } => this.breaker.closed_success(),
            PermitKind::Probe { gen } => this.breaker.probe_ended(gen, ProbeOutcome::Success),
        }
        if let Some(store) = this.breaker.shared {
            this.breaker.count_for_fleet(store, false);
        }
    }

    /// The call failed with an error of `class`: a failure if the breaker counts the class,
    /// else neutral (nothing is counted, and a probe gives its slot back).
    ///
    /// ```
    /// use retry_runtime::{CircuitBreaker, ErrorClass};
    /// let breaker = CircuitBreaker::new();
    /// breaker.try_acquire().unwrap().failure(ErrorClass::Overloaded); // a 503: counted
    /// breaker.try_acquire().unwrap().failure(ErrorClass::RateLimit); // a 429: neutral by default
    /// let snap = breaker.snapshot();
    /// assert_eq!((snap.calls, snap.failures), (1, 1));
    /// ```
    pub fn failure(self, class: ErrorClass) {
        let this = ManuallyDrop::new(self);
        if this.breaker.is_counted(class) {
            this.counted_failure();
            if let Some(store) = this.breaker.shared {
                this.breaker.count_for_fleet(store, true);
            }
        } else if let PermitKind::Probe { gen } = this.kind {
            this.breaker.probe_ended(gen, ProbeOutcome::Abandoned);
        }
    }

    /// Whether this call is a probe of a half-open breaker.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing, CircuitBreaker};
    ///
    /// let clock = testing::record_sleeps();
    /// let breaker = CircuitBreaker::new().break_duration(Duration::from_secs(1));
    /// assert!(!breaker.try_acquire().unwrap().is_probe());
    /// breaker.trip();
    /// clock.advance(Duration::from_secs(1));
    /// assert!(breaker.try_acquire().unwrap().is_probe());
    /// ```
    #[must_use]
    pub const fn is_probe(&self) -> bool {
        matches!(self.kind, PermitKind::Probe { .. })
    }

    fn counted_failure(&self) {
        match self.kind {
            PermitKind::Closed { gen } => self.breaker.closed_failure(gen),
            PermitKind::Probe { gen } => self.breaker.probe_ended(gen, ProbeOutcome::Failure),
        }
    }
}

impl Drop for BreakerPermit<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.counted_failure();
        } else if let PermitKind::Probe { gen } = self.kind {
            self.breaker.probe_ended(gen, ProbeOutcome::Abandoned);
        }
    }
}

impl fmt::Debug for BreakerPermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BreakerPermit")
            .field("breaker", &self.breaker.name)
            .field("probe", &self.is_probe())
            .finish()
    }
}

// ===== the refusal =====

/// A call refused by an open [`CircuitBreaker`] (or a half-open one whose probe calls are all
/// running).
///
/// It classifies as [`ErrorClass::Overloaded`], with the time until the breaker lets a probe
/// through as its [`retry_after`](Classify::retry_after), so an error type of yours that wraps
/// it can forward both:
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{CircuitBreaker, CircuitOpen, Classify, ErrorClass};
///
/// #[derive(Debug)]
/// enum LlmError { Open(CircuitOpen), Status(u16) }
///
/// impl Classify for LlmError {
///     fn class(&self) -> ErrorClass {
///         match self {
///             LlmError::Open(open) => open.class(),
///             LlmError::Status(code) => ErrorClass::from_status(*code),
///         }
///     }
///     fn retry_after(&self) -> Option<Duration> {
///         match self {
///             LlmError::Open(open) => open.retry_after(),
///             LlmError::Status(_) => None,
///         }
///     }
/// }
///
/// let breaker = CircuitBreaker::new().named("anthropic").break_duration(Duration::from_secs(30));
/// breaker.trip();
/// let err = LlmError::Open(breaker.try_acquire().unwrap_err());
/// assert_eq!(err.class(), ErrorClass::Overloaded);
/// assert!(err.retry_after().is_some_and(|d| d <= Duration::from_secs(30)));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CircuitOpen {
    pub(super) name: &'static str,
    pub(super) retry_in: Option<Duration>,
}

impl CircuitOpen {
    /// The name of the breaker that refused the call.
    ///
    /// ```
    /// use retry_runtime::CircuitBreaker;
    /// let breaker = CircuitBreaker::new().named("azure");
    /// breaker.trip();
    /// assert_eq!(breaker.try_acquire().unwrap_err().breaker(), "azure");
    /// ```
    #[must_use]
    pub const fn breaker(&self) -> &'static str {
        self.name
    }

    /// How long until the breaker lets a probe call through; `None` when it is half-open and
    /// its probes are all running (no estimate: it closes or reopens when they end).
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing, CircuitBreaker};
    ///
    /// let clock = testing::record_sleeps();
    /// let breaker = CircuitBreaker::new().break_duration(Duration::from_secs(5));
    /// breaker.trip();
    /// clock.advance(Duration::from_secs(2));
    /// let refused = breaker.try_acquire().unwrap_err();
    /// assert_eq!(refused.retry_in(), Some(Duration::from_secs(3)));
    /// ```
    #[must_use]
    pub const fn retry_in(&self) -> Option<Duration> {
        self.retry_in
    }
}

impl fmt::Display for CircuitOpen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.retry_in {
            Some(wait) => write!(
                f,
                "circuit breaker `{}` is open: calls are refused for {wait:?} more",
                self.name
            ),
            None => write!(
                f,
                "circuit breaker `{}` is half-open: its probe calls are running",
                self.name
            ),
        }
    }
}

impl std::error::Error for CircuitOpen {}

impl Classify for CircuitOpen {
    /// `Overloaded`: the provider is known to be failing.
    fn class(&self) -> ErrorClass {
        ErrorClass::Overloaded
    }

    /// The time until the breaker lets a probe through.
    fn retry_after(&self) -> Option<Duration> {
        self.retry_in
    }

    fn message(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.to_string().into())
    }
}
