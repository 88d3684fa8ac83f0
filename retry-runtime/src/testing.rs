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

use std::cell::{Cell, RefCell};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::clock::{self, Clock};

struct ManualClock {
    now: Instant,
    sleeps: Vec<Duration>,
}

thread_local! {
    static MANUAL: RefCell<Option<ManualClock>> = const { RefCell::new(None) };
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
    let previous = MANUAL.with(|manual| {
        manual.replace(Some(ManualClock {
            now: Instant::now(),
            sleeps: Vec::new(),
        }))
    });
    SleepRecorder {
        previous: Some(previous),
        _not_send: PhantomData,
    }
}

/// A thread's test clock: see [`record_sleeps`].
#[derive(Debug)]
pub struct SleepRecorder {
    previous: Option<Option<ManualClock>>,
    _not_send: PhantomData<*const ()>,
}

impl std::fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManualClock")
            .field("sleeps", &self.sleeps)
            .finish_non_exhaustive()
    }
}

impl SleepRecorder {
    /// Every sleep recorded so far, in order.
    #[must_use]
    pub fn sleeps(&self) -> Vec<Duration> {
        MANUAL.with(|manual| {
            manual
                .borrow()
                .as_ref()
                .map(|clock| clock.sleeps.clone())
                .unwrap_or_default()
        })
    }

    /// The sum of the recorded sleeps.
    #[must_use]
    pub fn total(&self) -> Duration {
        self.sleeps().iter().sum()
    }

    /// Moves the test clock forward, as if an attempt had taken `by`.
    pub fn advance(&self, by: Duration) {
        MANUAL.with(|manual| {
            if let Some(clock) = manual.borrow_mut().as_mut() {
                clock.now += by;
            }
        });
    }

    /// Forgets the sleeps recorded so far (the clock keeps its time).
    pub fn clear(&self) {
        MANUAL.with(|manual| {
            if let Some(clock) = manual.borrow_mut().as_mut() {
                clock.sleeps.clear();
            }
        });
    }
}

impl Drop for SleepRecorder {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            MANUAL.with(|manual| *manual.borrow_mut() = previous);
        }
    }
}

/// A test clock shared by every thread: it stands still but for [`advance`](Self::advance) and
/// the sleeps recorded on it, and it can be built in a `static`.
///
/// - [Installed](Self::install) for the process, it is the runtime's clock: deadlines,
///   `attempt().elapsed()`, and every breaker and budget without a clock of their own read it,
///   and retried calls on any thread record their sleeps on it instead of sleeping. A thread's
///   own [`record_sleeps`] still comes first on that thread. Being process-wide, it is best
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
            replaced: clock::set_process_clock(Some(self)),
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
        clock::set_process_clock(self.replaced.take());
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

pub(crate) fn manual_now() -> Option<Instant> {
    MANUAL.with(|manual| manual.borrow().as_ref().map(|clock| clock.now))
}

/// Records `wait` if a test clock is installed on this thread; `false` if the caller must sleep.
pub(crate) fn record_sleep(wait: Duration) -> bool {
    MANUAL.with(|manual| match manual.borrow_mut().as_mut() {
        Some(clock) => {
            clock.sleeps.push(wait);
            clock.now += wait;
            true
        }
        None => false,
    })
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
