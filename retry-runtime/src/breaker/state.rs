//! Where a circuit breaker stands, as its users and its observers see it.

use core::fmt;
use std::time::Duration;

/// Where a circuit breaker stands.
///
/// ```
/// use retry_runtime::{BreakerState, CircuitBreaker};
///
/// static BREAKER: CircuitBreaker = CircuitBreaker::new();
/// assert_eq!(BREAKER.state(), BreakerState::Closed);
/// assert_eq!(BreakerState::HalfOpen.to_string(), "half-open");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BreakerState {
    /// Calls go through and their failures are counted.
    Closed,
    /// Calls are refused with [`CircuitOpen`](crate::CircuitOpen) until the break is over.
    Open,
    /// The break is over: a few probe calls go through (the rest are refused), and they decide
    /// whether the breaker closes or opens again. An open breaker whose break has ended reads
    /// as half-open: its next call is a probe.
    HalfOpen,
}

impl BreakerState {
    /// The state's name for logs and metric labels: `closed`, `open`, `half-open`.
    ///
    /// ```
    /// use retry_runtime::BreakerState;
    /// assert_eq!(BreakerState::Open.as_str(), "open");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half-open",
        }
    }
}

impl fmt::Display for BreakerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of a breaker's state and counts, from [`CircuitBreaker::snapshot`](crate::CircuitBreaker::snapshot).
///
/// ```
/// use retry_runtime::{BreakerState, CircuitBreaker, ErrorClass};
///
/// let breaker = CircuitBreaker::new();
/// breaker.try_acquire().unwrap().success();
/// breaker.try_acquire().unwrap().failure(ErrorClass::Server);
/// let snap = breaker.snapshot();
/// assert_eq!(snap.state, BreakerState::Closed);
/// assert_eq!((snap.calls, snap.failures, snap.consecutive_failures), (2, 1, 1));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BreakerSnapshot {
    /// The state, as [`CircuitBreaker::state`](crate::CircuitBreaker::state) reads it.
    pub state: BreakerState,
    /// Calls counted in the sliding window: successes and counted failures (closed state only).
    pub calls: u64,
    /// Counted failures in the sliding window.
    pub failures: u64,
    /// Counted failures in a row since the last success.
    pub consecutive_failures: u32,
    /// Times the breaker opened since it was made (by a failure ratio, failures in a row, a
    /// failed probe, or [`CircuitBreaker::trip`](crate::CircuitBreaker::trip)).
    pub trips: u64,
    /// While open: how long until it lets a probe through.
    pub retry_in: Option<Duration>,
    /// While half-open: probe calls running.
    pub probes_in_flight: u32,
}
