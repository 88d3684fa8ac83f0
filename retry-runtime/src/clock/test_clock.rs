//! A test clock shared by every thread, which a test installs for the process or hands to one
//! breaker or budget.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use super::Clock;

/// A test clock shared by every thread: it stands still but for [`advance`](Self::advance) and
/// the sleeps recorded on it, and it can be built in a `static`.
///
/// - [Installed](Self::install) for the process, it is the runtime's clock: deadlines,
///   `attempt().elapsed()`, and every breaker and budget without a clock of their own read it,
///   and retried calls on any thread record their sleeps on it instead of sleeping. A thread's
///   own [`record_sleeps`](crate::testing::record_sleeps) still comes first on that thread. Being process-wide, it is best
///   installed in a test binary of its own (an integration test file), where no test expects
///   real time.
/// - Given to one [`CircuitBreaker`](crate::CircuitBreaker) or
///   [`RetryBudget`](crate::RetryBudget), it is that component's time alone.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{retry, testing::TestClock, RetryBudget};
///
/// static CLOCK: TestClock = TestClock::new();
///
/// #[retry(max_attempts = 3, wait = fixed(2s), jitter = none)]
/// fn flaky() -> Result<(), std::io::Error> {
///     Err(std::io::ErrorKind::ConnectionReset.into())
/// }
///
/// let _installed = CLOCK.install();
/// let start = CLOCK.now();
/// std::thread::spawn(|| assert!(flaky().is_err())).join().unwrap();
/// assert_eq!(CLOCK.sleeps(), [Duration::from_secs(2); 2]);
/// assert_eq!(CLOCK.now() - start, Duration::from_secs(4));
/// ```
#[derive(Debug)]
pub struct TestClock {
    /// The instant it reads before any advance: the real time of its first reading.
    start: OnceLock<Instant>,
    advanced_nanos: AtomicU64,
    sleeps: Mutex<Vec<Duration>>,
}

impl TestClock {
    /// A clock that starts at the real time of its first reading.
    #[must_use]
    pub const fn new() -> Self {
        TestClock {
            start: OnceLock::new(),
            advanced_nanos: AtomicU64::new(0),
            sleeps: Mutex::new(Vec::new()),
        }
    }

    /// Now, on this clock.
    #[must_use]
    pub fn now(&self) -> Instant {
        let start = *self.start.get_or_init(Instant::now);
        start + Duration::from_nanos(self.advanced_nanos.load(Relaxed))
    }

    /// Moves the clock forward (saturating at some 584 years).
    pub fn advance(&self, by: Duration) {
        let by = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        // `fetch_update` with a saturating add: concurrent advances all count.
        let _ = self
            .advanced_nanos
            .fetch_update(Relaxed, Relaxed, |nanos| Some(nanos.saturating_add(by)));
    }

    /// Every sleep recorded so far, in the order they were recorded.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock_sleeps().clone()
    }

    /// The sum of the recorded sleeps.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.lock_sleeps().iter().sum()
    }

    /// Forgets the sleeps recorded so far (the clock keeps its time).
    pub fn clear(&self) {
        self.lock_sleeps().clear();
    }

    /// Makes this the runtime's clock for the whole process until the returned guard is
    /// dropped, which puts back the one it replaced, if any (so guards are dropped in the
    /// reverse order of their installs).
    #[must_use = "the clock is uninstalled when the guard is dropped"]
    pub fn install(&'static self) -> InstalledClock {
        InstalledClock {
            replaced: super::set_process_clock(Some(self)),
        }
    }

    /// A retried call's sleep: recorded, and the clock moved by it.
    pub(crate) fn record_sleep(&self, wait: Duration) {
        self.lock_sleeps().push(wait);
        self.advance(wait);
    }

    fn lock_sleeps(&self) -> std::sync::MutexGuard<'_, Vec<Duration>> {
        self.sleeps.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for TestClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for TestClock {
    fn now(&self) -> Instant {
        TestClock::now(self)
    }
}

/// The guard of [`TestClock::install`].
#[derive(Debug)]
pub struct InstalledClock {
    replaced: Option<&'static TestClock>,
}

impl Drop for InstalledClock {
    fn drop(&mut self) {
        super::set_process_clock(self.replaced.take());
    }
}
