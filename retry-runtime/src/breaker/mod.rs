//! The circuit breaker: stops calling a provider that is failing, lets a few probe calls
//! through after a break, and closes again when they succeed.
//!
//! The decisions are pure functions in `decide`, the window of counts is the lock-free `ring`
//! (shared with the retry budget), and [`CircuitBreaker`] holds the state in atomics.

use core::fmt;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Relaxed};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use crate::observe::{self, BreakerTransition};
use crate::{ClassSet, Clock, ErrorClass};

pub(crate) mod decide;
mod fleet;
mod permit;
mod state;

#[cfg(feature = "redis")]
pub(crate) use self::fleet::{BreakerTerms, SharedBreakers};
pub use self::permit::{BreakerPermit, CircuitOpen};
pub use self::state::{BreakerSnapshot, BreakerState};

#[cfg(all(test, retry_loom))]
mod loom_tests;
#[cfg(all(test, not(retry_loom)))]
mod tests;

use self::decide::{Acquired, PermitKind, Phase, ProbeOutcome, Settings, State};
use crate::window::ring::{self, Lazy, Ring, BUCKETS};
use crate::window::{bucket_ms, ceil_millis, ratio_ppm, Timeline};

// ===== the breaker =====

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
    time: Timeline,
    /// The store the fleet shares this breaker through (its name is the scope there).
    shared: Option<&'static dyn fleet::SharedBreakers>,
    /// Outcomes not yet added to the fleet's window.
    pending: fleet::Pending,
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
            time: Timeline::new(),
            shared: None,
            pending: fleet::Pending::new(),
        }
    }

    /// Shares this breaker with every process whose breaker of the same name uses `store`:
    /// outcomes count in one window for the fleet (each process adds its own at most the
    /// store's staleness bound late), the fleet's breaker opens on the fleet's failure ratio
    /// over its minimum of calls, and each process that hears of it opens its own. Failures
    /// in a row still open only this process's breaker: one worker's bad network does not
    /// open the fleet's.
    ///
    /// ```no_run
    /// use retry_runtime::{CircuitBreaker, RedisStore};
    ///
    /// static FLEET: RedisStore = RedisStore::new("redis://127.0.0.1:6379/");
    /// static OPENAI: CircuitBreaker = CircuitBreaker::new().named("openai").shared(&FLEET);
    /// ```
    #[cfg(feature = "redis")]
    #[must_use]
    pub const fn shared(mut self, store: &'static crate::RedisStore) -> Self {
        self.shared = Some(store);
        self
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

    /// Reads `clock` instead of the runtime's clock (see [`Clock`]): a test moves this
    /// breaker's window and breaks by hand, the same for every thread.
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
    /// CLOCK.advance(Duration::from_secs(4));
    /// assert_eq!(BREAKER.state(), BreakerState::Open);
    /// CLOCK.advance(Duration::from_secs(1));
    /// assert_eq!(BREAKER.state(), BreakerState::HalfOpen);
    /// ```
    #[must_use]
    pub const fn clock(mut self, clock: &'static dyn Clock) -> Self {
        self.time.set_clock(clock);
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
        let now = self.time.now_ms();
        match decide::acquire_in(&self.state, &self.settings, now) {
            Acquired::Granted { permit, changed } => {
                if let Some((before, next)) = changed {
                    self.tell(before, next, None);
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
            Phase::Open { until_ms } if self.time.now_ms() >= until_ms => BreakerState::HalfOpen,
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
        let now = self.time.now_ms();
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
        self.trip_because("tripped by hand");
    }

    fn trip_because(&self, why: &str) {
        let now = self.time.now_ms();
        if let Some((before, next)) = decide::transition(&self.state, |state| {
            Some(decide::trip(&self.settings, state, now))
        }) {
            self.trips.fetch_add(1, Relaxed);
            self.tell(before, next, Some(why));
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
        let now = self.time.now_ms();
        self.forget_counts(now);
        if let Some((before, next)) =
            decide::transition(&self.state, |state| Some(decide::reset(state)))
        {
            self.tell(before, next, Some("reset by hand"));
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
    pub(super) fn closed_success(&self) {
        match self.ring.add_lazy(1, 0) {
            Lazy::Added { a } if !ring::time_to_look(a) => {}
            Lazy::Added { .. } => {
                self.ring.advance_to(self.tick(self.time.now_ms()));
            }
            Lazy::NeedsTick => {
                self.ring.add_at(self.tick(self.time.now_ms()), 1, 0);
            }
        }
        // Read first: the common case (no run of failures) writes nothing shared.
        if self.consecutive.load(Relaxed) != 0 {
            self.consecutive.store(0, Relaxed);
        }
    }

    #[cold]
    pub(super) fn closed_failure(&self, gen: u32) {
        // A call that began before the breaker tripped (or was reset) reports to nothing.
        if State::closed_gen(self.state.load(Acquire)) != Some(gen) {
            return;
        }
        let now = self.time.now_ms();
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
            self.tell(before, next, Some(&cause.to_string()));
        }
    }

    #[cold]
    pub(super) fn probe_ended(&self, gen: u32, outcome: ProbeOutcome) {
        let now = self.time.now_ms();
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
                self.tell(before, next, None);
            }
        }
    }

    /// Tells the observers of a change of state (or a trip or reset by hand): `why` in words,
    /// `None` for the usual cause of the new state.
    fn tell(&self, before: State, next: State, why: Option<&str>) {
        observe::breaker_transition(&BreakerTransition {
            breaker: self.name,
            from: before.phase.visible(),
            to: next.phase.visible(),
            why,
            break_for: Duration::from_millis(decide::break_ms(&self.settings, next.streak)),
            trips_in_a_row: next.streak,
            probes: self.settings.probes,
        });
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
