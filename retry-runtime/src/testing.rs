//! Aids for testing code that uses `#[retry]`: run retried functions instantly and assert the
//! waits they chose, with reproducible jitter.
//!
//! - [`record_sleeps`] installs a test clock on the current thread: sleeps of retried calls on
//!   this thread are recorded instead of slept, the clock moves forward by each one (so deadlines
//!   see the time pass), and [`SleepRecorder::advance`] moves it by hand (a slow attempt).
//! - [`TestClock`] is one clock for every thread: [installed](TestClock::install) for the
//!   whole process, deadlines, breakers and budgets all read it and retried calls on any thread
//!   record their sleeps on it; or handed to one breaker or budget alone
//!   ([`CircuitBreaker::clock`](crate::CircuitBreaker::clock),
//!   [`RetryBudget::clock`](crate::RetryBudget::clock)).
//! - [`seed_jitter`] makes the jitter of calls on this thread reproducible.
//! - Async code can instead run under tokio's paused clock (`#[tokio::test(start_paused = true)]`),
//!   which the runtime reads as well.
//!
//! ```
//! use std::time::Duration;
//! use retry_runtime::{retry, testing, Classify, ErrorClass};
//!
//! #[derive(Debug)]
//! struct Busy;
//! impl Classify for Busy {
//!     fn class(&self) -> ErrorClass { ErrorClass::RateLimit }
//!     fn retry_after(&self) -> Option<Duration> { Some(Duration::from_secs(2)) }
//! }
//!
//! #[retry(max_attempts = 3)]
//! fn always_busy() -> Result<(), Busy> {
//!     Err(Busy)
//! }
//!
//! let clock = testing::record_sleeps();
//! assert!(always_busy().is_err());
//! let sleeps = clock.sleeps();
//! assert_eq!(sleeps.len(), 2);
//! // Never sooner than the server asked, and at most 10% later.
//! assert!(sleeps.iter().all(|s| *s >= Duration::from_secs(2) && *s <= Duration::from_millis(2200)));
//! ```

use std::cell::Cell;
use std::marker::PhantomData;
use std::time::Duration;

use crate::clock::thread;
pub use crate::clock::{InstalledClock, TestClock};

thread_local! {
    static SEED: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// Installs a test clock on this thread until the returned recorder is dropped.
///
/// While it is installed, sleeps of retried calls polled or run on this thread are recorded
/// instead of slept, and the runtime's clock (deadlines, `attempt().elapsed()`) stands still but
/// for those sleeps and [`SleepRecorder::advance`]. Installing one inside another replaces it
/// until the inner one is dropped.
#[must_use = "the test clock is removed when the recorder is dropped"]
pub fn record_sleeps() -> SleepRecorder {
    let previous = thread::install();
    SleepRecorder {
        previous: Some(previous),
        _not_send: PhantomData,
    }
}

/// A thread's test clock: see [`record_sleeps`].
#[derive(Debug)]
pub struct SleepRecorder {
    previous: Option<Option<thread::ManualClock>>,
    _not_send: PhantomData<*const ()>,
}

impl SleepRecorder {
    /// Every sleep recorded so far, in order.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        thread::sleeps()
    }

    /// The sum of the recorded sleeps.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.sleeps().iter().sum()
    }

    /// Moves the test clock forward, as if an attempt had taken `by`.
    pub fn advance(&self, by: Duration) {
        thread::advance(by);
    }

    /// Forgets the sleeps recorded so far (the clock keeps its time).
    pub fn clear(&self) {
        thread::clear();
    }
}

impl Drop for SleepRecorder {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            thread::restore(previous);
        }
    }
}

/// Makes the jitter of retried calls on this thread reproducible: the n-th call to fail after
/// this draws from a generator seeded by `(seed, n)`. A policy's own seed
/// ([`crate::RetryPolicy::jitter_seed`]) takes precedence. Dropping the guard restores the
/// previous state.
///
/// Idempotency keys are never drawn from this source: they stay unique even in tests.
#[must_use = "the seed is removed when the guard is dropped"]
pub fn seed_jitter(seed: u64) -> JitterSeed {
    let previous = SEED.with(|s| s.replace(Some((seed, 0))));
    JitterSeed {
        previous,
        _not_send: PhantomData,
    }
}

/// Guard of [`seed_jitter`].
#[derive(Debug)]
pub struct JitterSeed {
    previous: Option<(u64, u64)>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for JitterSeed {
    fn drop(&mut self) {
        SEED.with(|s| s.set(self.previous));
    }
}

/// The next seed from [`seed_jitter`] on this thread, if one is set.
pub(crate) fn next_seed() -> Option<u64> {
    SEED.with(|s| {
        let (seed, n) = s.get()?;
        s.set(Some((seed, n.wrapping_add(1))));
        Some(mix(seed, n))
    })
}

/// Combines a seed with a sequence number so that consecutive calls draw different waits.
pub(crate) fn mix(seed: u64, n: u64) -> u64 {
    // splitmix64's finaliser: neighbouring inputs give unrelated outputs.
    let mut z = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
