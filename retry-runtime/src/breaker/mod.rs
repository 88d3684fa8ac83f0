//! The circuit breaker: stops calling a provider that is failing, lets a few probe calls
//! through after a break, and closes again when they succeed.
//!
//! The decisions are pure functions in `decide`, the window of counts is the lock-free `ring`
//! (shared with the retry budget), and [`CircuitBreaker`] holds the state in atomics.

use core::fmt;
use std::mem::ManuallyDrop;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::{clock, ClassSet, Classify, ErrorClass};

pub(crate) mod decide;
pub(crate) mod ring;

#[cfg(all(test, retry_loom))]
mod loom_tests;
#[cfg(all(test, not(retry_loom)))]
mod tests;

use self::decide::{Acquired, PermitKind, Phase, ProbeOutcome, Settings, State};
use self::ring::{Lazy, Ring, BUCKETS};

// ===== time =====

/// Milliseconds from a process-wide epoch to `now`, an instant of the runtime's clock.
///
/// The epoch is a day (or less, if the clock does not reach back that far) before the first
/// call, so that instants of test clocks made earlier in the process still count forward from
/// it; an instant before it counts as 0.
pub(crate) fn millis(now: Instant) -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| {
        let real = Instant::now();
        [86_400, 3_600, 60]
            .into_iter()
            .find_map(|secs| real.checked_sub(Duration::from_secs(secs)))
            .unwrap_or(real)
    });
    let since = now.saturating_duration_since(epoch);
    since
        .as_secs()
        .saturating_mul(1_000)
        .saturating_add(u64::from(since.subsec_millis()))
}

/// Milliseconds in `duration`, rounded up, saturating.
pub(crate) const fn ceil_millis(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    let millis = nanos / 1_000_000 + if nanos % 1_000_000 == 0 { 0 } else { 1 };
    if millis > u64::MAX as u128 {
        u64::MAX
    } else {
        millis as u64
    }
}

/// The shortest window: one millisecond a bucket.
pub(crate) const MIN_WINDOW_MS: u64 = BUCKETS;
/// The longest window: a day.
pub(crate) const MAX_WINDOW_MS: u64 = 86_400_000;

/// A window brought into range: 10 ms ..= 1 day, rounded down to a whole number of
/// milliseconds per bucket. The bucket width in milliseconds.
pub(crate) const fn bucket_ms(window: Duration) -> u64 {
    let ms = window.as_millis();
    let ms = if ms < MIN_WINDOW_MS as u128 {
        MIN_WINDOW_MS
    } else if ms > MAX_WINDOW_MS as u128 {
        MAX_WINDOW_MS
    } else {
        ms as u64
    };
    ms / BUCKETS
}

/// A ratio in parts per million, clamped into `0.0..=max`; NaN is `nan`.
#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
pub(crate) const fn ratio_ppm(ratio: f64, max: f64, nan: f64) -> u32 {
    let ratio = if ratio.is_nan() {
        nan
    } else if ratio < 0.0 {
        0.0
    } else if ratio > max {
        max
    } else {
        ratio
    };
    // In range and rounded: below u32::MAX for any max up to 4000.
    (ratio * 1_000_000.0 + 0.5) as u32
}

// ===== the breaker =====

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
    /// Calls are refused with [`CircuitOpen`] until the break is over.
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

/// A snapshot of a breaker's state and counts, from [`CircuitBreaker::snapshot`].
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
    /// The state, as [`CircuitBreaker::state`] reads it.
    pub state: BreakerState,
    /// Calls counted in the sliding window: successes and counted failures (closed state only).
    pub calls: u64,
    /// Counted failures in the sliding window.
    pub failures: u64,
    /// Counted failures in a row since the last success.
    pub consecutive_failures: u32,
    /// Times the breaker opened since it was made (by a failure ratio, failures in a row, a
    /// failed probe, or [`CircuitBreaker::trip`]).
    pub trips: u64,
    /// While open: how long until it lets a probe through.
    pub retry_in: Option<Duration>,
    /// While half-open: probe calls running.
    pub probes_in_flight: u32,
}

/// A circuit breaker, shared by every call to one provider (Polly's and resilience4j's
/// semantics): while **closed** it counts the calls and failures of a sliding window; it
/// **opens** when, with at least `minimum_calls` calls in the window, the failures reach
/// `failure_ratio` of them, or after `consecutive_failures` failures in a row. Open, it refuses
/// calls with [`CircuitOpen`] for the break duration; then it is **half-open**: it lets
/// `half_open_probes` probe calls through, closes when they all succeed, and opens again when
/// one fails, for a break twice as long as the last (up to `max_break_duration`). Closing
/// forgets the window and the growth of the break.
///
/// Before each attempt, ask for a [`BreakerPermit`] with [`try_acquire`](Self::try_acquire);
/// report the attempt's outcome on it ([`success`](BreakerPermit::success),
/// [`failure`](BreakerPermit::failure)). A permit dropped unresolved during a panic counts as a
/// failure; dropped otherwise (a cancelled future), it counts nothing and gives its probe slot
/// back.
///
/// # Defaults and ranges
/// The builder methods are `const` and never fail: out-of-range values are clamped, as each
/// method says.
///
/// | setting | default | range |
/// | --- | --- | --- |
/// | [`failure_ratio`](Self::failure_ratio) | 0.5 | 0.0..=1.0 (NaN: 1.0) |
/// | [`minimum_calls`](Self::minimum_calls) | 20 | ≥ 1 |
/// | [`window`](Self::window) | 30 s | 10 ms..=1 day, in whole ms per tenth |
/// | [`consecutive_failures`](Self::consecutive_failures) | 5 | 0 (off) or more |
/// | [`break_duration`](Self::break_duration) | 5 s | whole ms, rounded up |
/// | [`max_break_duration`](Self::max_break_duration) | 60 s | ≥ the break duration |
/// | [`half_open_probes`](Self::half_open_probes) | 1 | 1..=1000 |
/// | [`counts`](Self::counts) | `Overloaded`, `Server`, `Timeout`, `Network` | never `Client`, `Auth` |
///
/// # Cost
/// A call through a closed breaker that succeeds ([`try_acquire`](Self::try_acquire) then
/// [`success`](BreakerPermit::success)) takes no lock, allocates nothing and reads the clock
/// only once every 16 successes: four atomic loads and one compare-and-swap, under 10 ns on
/// one thread (`benches/shared_state.rs`). So a success is counted in the bucket of the
/// breaker's latest look at the clock (at every failure, every probe, every 16th success of a
/// bucket): after a quiet spell, the window may miss up to 15 of its oldest successes, which
/// can only make the failure ratio look higher. A bucket counts at most 2^20 − 1 calls; past
/// that, its counts stay there (and each success reads the clock). Transitions are
/// compare-and-swaps on one state word; failures read the clock.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{BreakerState, CircuitBreaker, ClassSet, ErrorClass};
///
/// static OPENAI: CircuitBreaker = CircuitBreaker::new()
///     .named("openai")
///     .failure_ratio(0.5)
///     .minimum_calls(10)
///     .window(Duration::from_secs(30))
///     .consecutive_failures(3)
///     .break_duration(Duration::from_secs(5))
///     .max_break_duration(Duration::from_secs(60))
///     .half_open_probes(2)
///     .counts(ClassSet::EMPTY.with(ErrorClass::Overloaded).with(ErrorClass::Server));
///
/// # let clock = retry_runtime::testing::record_sleeps();
/// for _ in 0..3 {
///     let permit = OPENAI.try_acquire().expect("closed");
///     permit.failure(ErrorClass::Overloaded); // a 503
/// }
/// assert_eq!(OPENAI.state(), BreakerState::Open);
/// let refused = OPENAI.try_acquire().unwrap_err();
/// assert_eq!(refused.retry_in(), Some(Duration::from_secs(5)));
/// # clock.advance(Duration::from_secs(5));
/// # assert!(OPENAI.try_acquire().unwrap().is_probe());
/// ```
pub struct CircuitBreaker {
    name: &'static str,
    settings: Settings,
    /// The [`State`] word: read (and nothing else) by the closed path.
    state: AtomicU64,
    consecutive: AtomicU32,
    trips: AtomicU64,
    ring: Ring,
}

impl CircuitBreaker {
    /// A closed breaker with the defaults (see the type's docs), named `circuit_breaker`.
    ///
    /// ```
    /// use retry_runtime::{BreakerState, CircuitBreaker};
    /// static BREAKER: CircuitBreaker = CircuitBreaker::new();
    /// assert_eq!(BREAKER.name(), "circuit_breaker");
    /// assert_eq!(BREAKER.state(), BreakerState::Closed);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        CircuitBreaker {
            name: "circuit_breaker",
            settings: Settings {
                ratio_ppm: 500_000,
                minimum_calls: 20,
                consecutive: 5,
                window_ms: 30_000,
                break_ms: 5_000,
                max_break_ms: 60_000,
                probes: 1,
                counts: ClassSet::EMPTY
                    .with(ErrorClass::Overloaded)
                    .with(ErrorClass::Server)
                    .with(ErrorClass::Timeout)
                    .with(ErrorClass::Network),
            },
            state: AtomicU64::new(State::INITIAL.encode()),
            consecutive: AtomicU32::new(0),
            trips: AtomicU64::new(0),
            ring: Ring::new(),
        }
    }

    /// The name in logs and in [`CircuitOpen`].
    ///
    /// ```
    /// use retry_runtime::CircuitBreaker;
    /// static OPENAI: CircuitBreaker = CircuitBreaker::new().named("openai");
    /// assert_eq!(OPENAI.name(), "openai");
    /// ```
    #[must_use]
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The share of failed calls in the window that opens the breaker (once the window holds
    /// [`minimum_calls`](Self::minimum_calls)). Clamped into `0.0..=1.0`; 0.0 opens it at any
    /// failure, NaN counts as 1.0 (only when every call failed).
    ///
    /// ```
    /// use retry_runtime::{BreakerState, CircuitBreaker, ErrorClass};
    /// let breaker = CircuitBreaker::new()
    ///     .failure_ratio(0.25)
    ///     .minimum_calls(4)
    ///     .consecutive_failures(0);
    /// for _ in 0..3 {
    ///     breaker.try_acquire().unwrap().success();
    /// }
    /// breaker.try_acquire().unwrap().failure(ErrorClass::Server); // 1 of 4
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// ```
    #[must_use]
    pub const fn failure_ratio(mut self, ratio: f64) -> Self {
        self.settings.ratio_ppm = ratio_ppm(ratio, 1.0, 1.0);
        self
    }

    /// The calls the window must hold before its failure ratio can open the breaker; 0 counts
    /// as 1.
    ///
    /// ```
    /// use retry_runtime::{BreakerState, CircuitBreaker, ErrorClass};
    /// let breaker = CircuitBreaker::new().minimum_calls(0).consecutive_failures(0); // 0 counts as 1
    /// breaker.try_acquire().unwrap().failure(ErrorClass::Timeout);
    /// assert_eq!(breaker.state(), BreakerState::Open); // 1 of 1 calls failed
    /// ```
    #[must_use]
    pub const fn minimum_calls(mut self, calls: u32) -> Self {
        self.settings.minimum_calls = if calls == 0 { 1 } else { calls };
        self
    }

    /// The sliding window whose calls the failure ratio is taken over, kept as 10 buckets:
    /// clamped into 10 ms..=1 day and rounded down to whole milliseconds per bucket.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing, CircuitBreaker, ErrorClass};
    ///
    /// let clock = testing::record_sleeps();
    /// let breaker = CircuitBreaker::new().window(Duration::from_secs(10));
    /// breaker.try_acquire().unwrap().failure(ErrorClass::Server);
    /// assert_eq!(breaker.snapshot().failures, 1);
    /// clock.advance(Duration::from_secs(10));
    /// assert_eq!(breaker.snapshot().failures, 0); // it left the window
    /// ```
    #[must_use]
    pub const fn window(mut self, window: Duration) -> Self {
        self.settings.window_ms = bucket_ms(window) * BUCKETS;
        self
    }

    /// The counted failures in a row that open the breaker whatever the window holds (a
    /// success ends a run); 0 turns this rule off.
    ///
    /// ```
    /// use retry_runtime::{BreakerState, CircuitBreaker, ErrorClass};
    /// let breaker = CircuitBreaker::new().consecutive_failures(2);
    /// breaker.try_acquire().unwrap().failure(ErrorClass::Network);
    /// assert_eq!(breaker.state(), BreakerState::Closed);
    /// breaker.try_acquire().unwrap().failure(ErrorClass::Network);
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// ```
    #[must_use]
    pub const fn consecutive_failures(mut self, failures: u32) -> Self {
        self.settings.consecutive = failures;
        self
    }

    /// How long the breaker stays open after a first trip, in whole milliseconds (rounded up).
    /// Each trip in a row after it (a failed probe) doubles the break, up to
    /// [`max_break_duration`](Self::max_break_duration).
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::CircuitBreaker;
    ///
    /// let breaker = CircuitBreaker::new().break_duration(Duration::from_millis(1_500));
    /// breaker.trip();
    /// let wait = breaker.try_acquire().unwrap_err().retry_in().unwrap();
    /// assert!(wait > Duration::from_secs(1) && wait <= Duration::from_millis(1_500));
    /// ```
    #[must_use]
    pub const fn break_duration(mut self, duration: Duration) -> Self {
        self.settings.break_ms = ceil_millis(duration);
        self
    }

    /// The longest break; one shorter than [`break_duration`](Self::break_duration) counts as
    /// that.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing, CircuitBreaker, ErrorClass};
    ///
    /// let clock = testing::record_sleeps();
    /// let breaker = CircuitBreaker::new()
    ///     .break_duration(Duration::from_secs(10))
    ///     .max_break_duration(Duration::from_secs(15));
    /// breaker.trip();
    /// clock.advance(Duration::from_secs(10));
    /// breaker.try_acquire().unwrap().failure(ErrorClass::Server); // the probe fails
    /// let wait = breaker.try_acquire().unwrap_err().retry_in();
    /// assert_eq!(wait, Some(Duration::from_secs(15))); // 20 s, capped
    /// ```
    #[must_use]
    pub const fn max_break_duration(mut self, duration: Duration) -> Self {
        self.settings.max_break_ms = ceil_millis(duration);
        self
    }

    /// The probe calls a half-open breaker lets through; it closes when all of them succeed.
    /// Clamped into 1..=1000.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing, BreakerState, CircuitBreaker};
    ///
    /// let clock = testing::record_sleeps();
    /// let breaker = CircuitBreaker::new()
    ///     .half_open_probes(2)
    ///     .break_duration(Duration::from_secs(1));
    /// breaker.trip();
    /// clock.advance(Duration::from_secs(1));
    /// let (first, second) = (breaker.try_acquire().unwrap(), breaker.try_acquire().unwrap());
    /// assert!(breaker.try_acquire().is_err()); // both probes are running
    /// first.success();
    /// second.success();
    /// assert_eq!(breaker.state(), BreakerState::Closed);
    /// ```
    #[must_use]
    pub const fn half_open_probes(mut self, probes: u32) -> Self {
        self.settings.probes = if probes == 0 {
            1
        } else if probes > decide::PROBES_MAX {
            decide::PROBES_MAX
        } else {
            probes
        };
        self
    }

    /// The error classes that count as failures; the others are neutral (neither success nor
    /// failure). `RateLimit` may be added (a provider that throttles everyone is struggling);
    /// `Client` and `Auth` never count, even when named here: a bad request says nothing of the
    /// provider's health.
    ///
    /// ```
    /// use retry_runtime::{CircuitBreaker, ClassSet, ErrorClass};
    /// let breaker = CircuitBreaker::new()
    ///     .counts(ClassSet::EMPTY.with(ErrorClass::RateLimit).with(ErrorClass::Auth));
    /// assert!(breaker.is_counted(ErrorClass::RateLimit));
    /// assert!(!breaker.is_counted(ErrorClass::Auth)); // never
    /// assert!(!breaker.is_counted(ErrorClass::Server)); // the set replaces the default
    /// ```
    #[must_use]
    pub const fn counts(mut self, classes: ClassSet) -> Self {
        self.settings.counts = classes
            .without(ErrorClass::Client)
            .without(ErrorClass::Auth);
        self
    }

    /// The breaker's name.
    ///
    /// ```
    /// use retry_runtime::CircuitBreaker;
    /// assert_eq!(CircuitBreaker::new().named("gemini").name(), "gemini");
    /// ```
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Whether a failure of `class` counts against the provider.
    ///
    /// ```
    /// use retry_runtime::{CircuitBreaker, ErrorClass};
    ///
    /// let breaker = CircuitBreaker::new();
    /// assert!(breaker.is_counted(ErrorClass::Server));
    /// assert!(!breaker.is_counted(ErrorClass::RateLimit));
    /// assert!(!breaker.is_counted(ErrorClass::Auth));
    /// ```
    #[must_use]
    pub const fn is_counted(&self, class: ErrorClass) -> bool {
        self.settings.counts.contains(class)
    }

    /// Asks to make a call: a permit to report its outcome on.
    ///
    /// # Errors
    /// [`CircuitOpen`] while the breaker is open, or half-open with all its probes taken.
    ///
    /// ```
    /// use retry_runtime::{CircuitBreaker, CircuitOpen};
    ///
    /// fn call(breaker: &CircuitBreaker) -> Result<u32, CircuitOpen> {
    ///     let permit = breaker.try_acquire()?;
    ///     let answer = 42; // the call
    ///     permit.success();
    ///     Ok(answer)
    /// }
    /// assert_eq!(call(&CircuitBreaker::new()), Ok(42));
    /// ```
    #[inline]
    pub fn try_acquire(&self) -> Result<BreakerPermit<'_>, CircuitOpen> {
        match State::closed_gen(self.state.load(Acquire)) {
            Some(gen) => Ok(BreakerPermit {
                breaker: self,
                kind: PermitKind::Closed { gen },
            }),
            None => self.acquire_slow(),
        }
    }

    #[cold]
    #[inline(never)]
    fn acquire_slow(&self) -> Result<BreakerPermit<'_>, CircuitOpen> {
        let now = millis(clock::now());
        match decide::acquire_in(&self.state, &self.settings, now) {
            Acquired::Granted { permit, changed } => {
                if let Some((before, next)) = changed {
                    self.emit(before, next);
                    self.log_transition(next, None);
                }
                Ok(BreakerPermit {
                    breaker: self,
                    kind: permit,
                })
            }
            Acquired::Refused { retry_in_ms } => Err(CircuitOpen {
                name: self.name,
                retry_in: retry_in_ms.map(Duration::from_millis),
            }),
        }
    }

    /// The state now. An open breaker whose break is over reads as
    /// [`HalfOpen`](BreakerState::HalfOpen): its next call is a probe.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing, BreakerState, CircuitBreaker};
    ///
    /// let clock = testing::record_sleeps();
    /// let breaker = CircuitBreaker::new().break_duration(Duration::from_secs(5));
    /// breaker.trip();
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// clock.advance(Duration::from_secs(5));
    /// assert_eq!(breaker.state(), BreakerState::HalfOpen);
    /// ```
    #[must_use]
    pub fn state(&self) -> BreakerState {
        let state = State::decode(self.state.load(Acquire));
        match state.phase {
            Phase::Closed => BreakerState::Closed,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
            Phase::Open { until_ms } if millis(clock::now()) >= until_ms => BreakerState::HalfOpen,
            Phase::Open { .. } => BreakerState::Open,
        }
    }

    /// The state and counts now.
    ///
    /// ```
    /// use retry_runtime::{BreakerState, CircuitBreaker};
    /// let breaker = CircuitBreaker::new();
    /// breaker.trip();
    /// let snap = breaker.snapshot();
    /// assert_eq!((snap.state, snap.trips), (BreakerState::Open, 1));
    /// assert!(snap.retry_in.is_some());
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> BreakerSnapshot {
        let now = millis(clock::now());
        let state = State::decode(self.state.load(Acquire));
        let bucket = self.settings.window_ms / BUCKETS;
        let sums = self.ring.sums(self.ring.head_word(), Some(now / bucket));
        let (visible, retry_in, probes_in_flight) = match state.phase {
            Phase::Closed => (BreakerState::Closed, None, 0),
            Phase::Open { until_ms } if now < until_ms => (
                BreakerState::Open,
                Some(Duration::from_millis(until_ms - now)),
                0,
            ),
            Phase::Open { .. } => (BreakerState::HalfOpen, None, 0),
            Phase::HalfOpen { in_flight, .. } => (BreakerState::HalfOpen, None, in_flight),
        };
        BreakerSnapshot {
            state: visible,
            calls: sums.a,
            failures: sums.b,
            consecutive_failures: self.consecutive.load(Relaxed),
            trips: self.trips.load(Relaxed),
            retry_in,
            probes_in_flight,
        }
    }

    /// Opens the breaker now, as a trip would: for the break of one more trip in a row.
    ///
    /// ```
    /// use retry_runtime::{BreakerState, CircuitBreaker};
    ///
    /// let breaker = CircuitBreaker::new();
    /// breaker.trip();
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// breaker.reset();
    /// assert_eq!(breaker.state(), BreakerState::Closed);
    /// ```
    pub fn trip(&self) {
        let now = millis(clock::now());
        if let Some((before, next)) = decide::transition(&self.state, |state| {
            Some(decide::trip(&self.settings, state, now))
        }) {
            self.trips.fetch_add(1, Relaxed);
            self.emit(before, next);
            self.log_transition(next, Some("tripped by hand"));
        }
    }

    /// Closes the breaker now and forgets its counts and the growth of its break. Calls
    /// still running report to nothing.
    ///
    /// ```
    /// use retry_runtime::{BreakerState, CircuitBreaker, ErrorClass};
    /// let breaker = CircuitBreaker::new().consecutive_failures(1);
    /// breaker.try_acquire().unwrap().failure(ErrorClass::Server);
    /// assert_eq!(breaker.state(), BreakerState::Open);
    /// breaker.reset();
    /// let snap = breaker.snapshot();
    /// assert_eq!((snap.state, snap.failures), (BreakerState::Closed, 0));
    /// ```
    pub fn reset(&self) {
        let now = millis(clock::now());
        self.forget_counts(now);
        if let Some((before, next)) =
            decide::transition(&self.state, |state| Some(decide::reset(state)))
        {
            self.emit(before, next);
            self.log_transition(next, Some("reset by hand"));
        }
    }

    fn tick(&self, now_ms: u64) -> u64 {
        now_ms / (self.settings.window_ms / BUCKETS)
    }

    fn forget_counts(&self, now_ms: u64) {
        self.ring.clear(self.tick(now_ms));
        self.consecutive.store(0, Relaxed);
    }

    // ===== outcomes =====

    #[inline]
    fn closed_success(&self) {
        match self.ring.add_lazy(1, 0) {
            Lazy::Added { a } if !ring::time_to_look(a) => {}
            Lazy::Added { .. } => {
                self.ring.advance_to(self.tick(millis(clock::now())));
            }
            Lazy::NeedsTick => {
                self.ring.add_at(self.tick(millis(clock::now())), 1, 0);
            }
        }
        // Read first: the common case (no run of failures) writes nothing shared.
        if self.consecutive.load(Relaxed) != 0 {
            self.consecutive.store(0, Relaxed);
        }
    }

    #[cold]
    fn closed_failure(&self, gen: u32) {
        // A call that began before the breaker tripped (or was reset) reports to nothing.
        if State::closed_gen(self.state.load(Acquire)) != Some(gen) {
            return;
        }
        let now = millis(clock::now());
        let (head, _) = self.ring.add_at(self.tick(now), 1, 1);
        let consecutive = self.consecutive.fetch_add(1, AcqRel).saturating_add(1);
        let sums = self.ring.sums(head, None);
        let Some(cause) = decide::should_trip(&self.settings, sums.a, sums.b, consecutive) else {
            return;
        };
        let tripped = decide::transition(&self.state, |state| {
            (state.phase == Phase::Closed && state.gen == gen)
                .then(|| decide::trip(&self.settings, state, now))
        });
        if let Some((before, next)) = tripped {
            self.trips.fetch_add(1, Relaxed);
            self.emit(before, next);
            self.log_open(next, &cause.to_string());
        }
    }

    #[cold]
    fn probe_ended(&self, gen: u32, outcome: ProbeOutcome) {
        let now = millis(clock::now());
        let transition = decide::transition(&self.state, |state| {
            let next = decide::resolve_probe(&self.settings, state, gen, outcome, now)?;
            if next.phase == Phase::Closed {
                // Before the swap: a failure of the new closed phase must not meet the counts
                // that opened the breaker.
                self.forget_counts(now);
            }
            Some(next)
        });
        if let Some((before, next)) = transition {
            if before.phase != next.phase && !matches!(next.phase, Phase::HalfOpen { .. }) {
                if matches!(next.phase, Phase::Open { .. }) {
                    self.trips.fetch_add(1, Relaxed);
                }
                self.emit(before, next);
                self.log_transition(next, None);
            }
        }
    }

    /// Reports a transition to the `metrics` recorder (feature `metrics`): a counter with its
    /// `from` and `to` states, and the state gauge; a change that leaves the state as it was (a
    /// trip of an open breaker, a reset of a closed one) is logged but not counted.
    #[inline]
    #[allow(clippy::unused_self)] // without the feature
    fn emit(&self, before: State, next: State) {
        #[cfg(feature = "metrics")]
        crate::metrics::breaker_transition(self.name, before.phase, next.phase);
        #[cfg(not(feature = "metrics"))]
        let _ = (before, next);
    }

    fn log_transition(&self, next: State, why: Option<&str>) {
        match next.phase {
            Phase::Open { .. } => self.log_open(next, why.unwrap_or("a probe call failed")),
            Phase::HalfOpen { .. } => tracing::info!(
                breaker = self.name,
                probes = self.settings.probes,
                "circuit breaker half-open: letting probe calls through"
            ),
            Phase::Closed => tracing::info!(
                breaker = self.name,
                why = why.unwrap_or("the probe calls succeeded"),
                "circuit breaker closed"
            ),
        }
    }

    fn log_open(&self, next: State, why: &str) {
        tracing::warn!(
            breaker = self.name,
            why,
            break_for = ?Duration::from_millis(decide::break_ms(&self.settings, next.streak)),
            trips_in_a_row = next.streak,
            "circuit breaker opened"
        );
    }
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for CircuitBreaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.settings;
        f.debug_struct("CircuitBreaker")
            .field("name", &self.name)
            .field("state", &State::decode(self.state.load(Acquire)).phase)
            .field("failure_ratio", &(f64::from(s.ratio_ppm) / 1e6))
            .field("minimum_calls", &s.minimum_calls)
            .field("window", &Duration::from_millis(s.window_ms))
            .field("consecutive_failures", &s.consecutive)
            .field("break_duration", &Duration::from_millis(s.break_ms))
            .field("max_break_duration", &Duration::from_millis(s.max_break_ms))
            .field("half_open_probes", &s.probes)
            .field("counts", &s.counts)
            .finish_non_exhaustive()
    }
}

// ===== the permit =====

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
    breaker: &'a CircuitBreaker,
    kind: PermitKind,
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
    name: &'static str,
    retry_in: Option<Duration>,
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
