//! The one source of time and sleep for every decision, in this order: a thread's test clock
//! ([`crate::testing::record_sleeps`], [`thread`]) when one is installed, else the process's
//! test clock ([`TestClock::install`]), else tokio's clock (which a
//! `start_paused` test pauses and advances), else the system's monotonic clock. A circuit
//! breaker or a retry budget given a [`Clock`] of its own reads that one instead.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

mod test_clock;
pub(crate) mod thread;

pub use test_clock::{InstalledClock, TestClock};

/// A source of "now" for a component that keeps state over time: a
/// [`CircuitBreaker`](crate::CircuitBreaker) or a [`RetryBudget`](crate::RetryBudget) given one
/// reads it instead of the runtime's clock, so a test can move that component's time by hand,
/// the same for every thread.
///
/// Its instants must never go backwards. [`TestClock`] is one; a simulation can bring its own.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{testing::TestClock, BreakerState, CircuitBreaker};
///
/// static CLOCK: TestClock = TestClock::new();
/// static BREAKER: CircuitBreaker = CircuitBreaker::new()
///     .break_duration(Duration::from_secs(5))
///     .clock(&CLOCK);
///
/// BREAKER.trip();
/// CLOCK.advance(Duration::from_secs(5));
/// // Any thread sees the break over.
/// let state = std::thread::spawn(|| BREAKER.state()).join().unwrap();
/// assert_eq!(state, BreakerState::HalfOpen);
/// ```
pub trait Clock: Sync {
    /// Now, on this clock.
    fn now(&self) -> Instant;
}

/// Whether a process test clock is installed: read before the lock, so that the runtime pays
/// one relaxed load when none is.
static PROCESS_SET: AtomicBool = AtomicBool::new(false);
static PROCESS: RwLock<Option<&'static TestClock>> = RwLock::new(None);

/// The process's test clock, if one is installed.
fn process_clock() -> Option<&'static TestClock> {
    if !PROCESS_SET.load(Relaxed) {
        return None;
    }
    *PROCESS.read().unwrap_or_else(PoisonError::into_inner)
}

/// Installs `clock` as the process's test clock (or none); the one it replaces.
pub(crate) fn set_process_clock(clock: Option<&'static TestClock>) -> Option<&'static TestClock> {
    let mut slot = PROCESS.write().unwrap_or_else(PoisonError::into_inner);
    PROCESS_SET.store(clock.is_some(), Relaxed);
    std::mem::replace(&mut *slot, clock)
}

/// Now, as the runtime sees it.
pub(crate) fn now() -> Instant {
    if let Some(now) = thread::now() {
        return now;
    }
    if let Some(clock) = process_clock() {
        return clock.now();
    }
    #[cfg(feature = "tokio")]
    {
        tokio::time::Instant::now().into_std()
    }
    #[cfg(not(feature = "tokio"))]
    {
        Instant::now()
    }
}

/// Records `wait` on the thread's or the process's test clock, if one is installed; `false`
/// if the caller must really wait.
fn recorded(wait: Duration) -> bool {
    if thread::record_sleep(wait) {
        return true;
    }
    process_clock().is_some_and(|clock| {
        clock.record_sleep(wait);
        true
    })
}

/// Blocks the thread for `wait`, or records it on a test clock.
pub(crate) fn sleep_blocking(wait: Duration) {
    if wait.is_zero() || recorded(wait) {
        return;
    }
    std::thread::sleep(wait);
}

/// The timer for `wait` on tokio's clock, or none when the wait is zero (tokio rounds every
/// timer up to the next millisecond) or was recorded on a test clock.
#[cfg(feature = "tokio")]
pub(crate) fn sleep_async(wait: Duration) -> Option<tokio::time::Sleep> {
    if wait.is_zero() || recorded(wait) {
        return None;
    }
    Some(tokio::time::sleep(wait))
}
