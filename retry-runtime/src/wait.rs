//! How long to wait between attempts: the schedules (`fixed`, `exponential`, `linear`,
//! `decorrelated`) and the jitter spread over them.
//!
//! Every computation saturates: no attempt number, duration or seed overflows or panics, and no
//! wait exceeds the schedule's cap.

use std::cell::Cell;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

/// A wait schedule: the base delay before each retry, before jitter.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::Wait;
///
/// let wait = Wait::exponential(Duration::from_millis(500), Duration::from_secs(8));
/// assert_eq!(wait.base_delay(1), Duration::from_millis(500));
/// assert_eq!(wait.base_delay(3), Duration::from_secs(2));
/// assert_eq!(wait.base_delay(1_000), Duration::from_secs(8));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wait(Schedule);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Schedule {
    Fixed(Duration),
    Exponential { min: Duration, max: Duration },
    Linear { step: Duration, max: Duration },
    Decorrelated { min: Duration, max: Duration },
}

impl Wait {
    /// The same wait before every retry.
    #[must_use]
    pub const fn fixed(wait: Duration) -> Self {
        Wait(Schedule::Fixed(wait))
    }

    /// `min`, `2·min`, `4·min` … capped at `max`. With `min > max`, every wait is `max`.
    #[must_use]
    pub const fn exponential(min: Duration, max: Duration) -> Self {
        Wait(Schedule::Exponential { min, max })
    }

    /// `step`, `2·step`, `3·step` … capped at `max`.
    #[must_use]
    pub const fn linear(step: Duration, max: Duration) -> Self {
        Wait(Schedule::Linear { step, max })
    }

    /// AWS's "decorrelated jitter": each wait is uniform in `[min, 3 × previous wait]`, capped
    /// at `max`. It carries its own randomness, so [`Jitter`] does not apply to it.
    #[must_use]
    pub const fn decorrelated(min: Duration, max: Duration) -> Self {
        Wait(Schedule::Decorrelated { min, max })
    }

    /// The longest wait this schedule ever asks for.
    #[must_use]
    pub const fn cap(self) -> Duration {
        match self.0 {
            Schedule::Fixed(wait) => wait,
            Schedule::Exponential { max, .. }
            | Schedule::Linear { max, .. }
            | Schedule::Decorrelated { max, .. } => max,
        }
    }

    /// Whether the schedule draws its own random numbers (so [`Jitter`] is not applied).
    #[must_use]
    pub const fn is_randomized(self) -> bool {
        matches!(self.0, Schedule::Decorrelated { .. })
    }

    /// A description of a configuration error, if any (`min > max`).
    pub(crate) const fn problem(self) -> Option<&'static str> {
        match self.0 {
            Schedule::Fixed(_) => None,
            Schedule::Exponential { min, max } | Schedule::Decorrelated { min, max } => {
                if min.as_nanos() > max.as_nanos() {
                    Some("the wait's `min` is greater than its `max`")
                } else {
                    None
                }
            }
            Schedule::Linear { step, max } => {
                if step.as_nanos() > max.as_nanos() {
                    Some("the wait's `step` is greater than its `max`")
                } else {
                    None
                }
            }
        }
    }

    /// The delay before retry number `retry` (1 for the first retry), before jitter. For
    /// `decorrelated` this is its lower bound, `min`.
    #[must_use]
    pub fn base_delay(self, retry: u32) -> Duration {
        let retry = retry.max(1);
        match self.0 {
            Schedule::Fixed(wait) => wait,
            Schedule::Exponential { min, max } => 1u32
                .checked_shl(retry - 1)
                .and_then(|factor| min.checked_mul(factor))
                .map_or(max, |wait| wait.min(max)),
            Schedule::Linear { step, max } => {
                step.checked_mul(retry).map_or(max, |wait| wait.min(max))
            }
            Schedule::Decorrelated { min, max } => min.min(max),
        }
    }

    /// The wait before retry number `retry`, with `jitter` applied and `previous` the last wait
    /// this schedule produced (`decorrelated` grows from it). Never more than [`Wait::cap`].
    pub fn delay(
        self,
        jitter: Jitter,
        retry: u32,
        previous: Duration,
        rng: &mut impl rand::Rng,
    ) -> Duration {
        if let Schedule::Decorrelated { min, max } = self.0 {
            let low = min.min(max);
            let high = previous.saturating_mul(3).clamp(low, max);
            return uniform(rng, low, high);
        }
        jitter.apply(self.base_delay(retry), rng)
    }

    /// The schedule as an iterator of waits, with a seeded random source; the same seed gives
    /// the same waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{Jitter, Wait};
    ///
    /// let wait = Wait::exponential(Duration::from_secs(1), Duration::from_secs(60));
    /// let first: Vec<_> = wait.backoff(Jitter::Full, 7).take(5).collect();
    /// let again: Vec<_> = wait.backoff(Jitter::Full, 7).take(5).collect();
    /// assert_eq!(first, again);
    /// assert!(first.iter().all(|d| *d <= Duration::from_secs(60)));
    /// ```
    #[must_use]
    pub fn backoff(self, jitter: Jitter, seed: u64) -> Backoff {
        Backoff::new(self, jitter, Some(seed))
    }

    /// Whether a wait of this schedule with `jitter` draws a random number.
    const fn is_random(self, jitter: Jitter) -> bool {
        matches!(self.0, Schedule::Decorrelated { .. }) || !matches!(jitter, Jitter::None)
    }
}

/// How a base delay is spread out, so that clients that failed together do not return together.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Jitter {
    /// Uniform in `[0, d]` ("full jitter"): the fewest collisions.
    #[default]
    Full,
    /// `d/2` plus uniform in `[0, d/2]`: never less than half the base delay.
    Equal,
    /// Exactly `d`.
    None,
}

impl Jitter {
    /// `base` spread by this jitter.
    pub fn apply(self, base: Duration, rng: &mut impl rand::Rng) -> Duration {
        match self {
            Jitter::Full => uniform(rng, Duration::ZERO, base),
            Jitter::Equal => {
                let half = base / 2;
                uniform(rng, half, base)
            }
            Jitter::None => base,
        }
    }
}

/// Uniform in `[low, high]` at nanosecond resolution; `high` is clamped to what a `u64` of
/// nanoseconds holds (584 years), so the draw cannot overflow.
pub(crate) fn uniform(rng: &mut impl rand::Rng, low: Duration, high: Duration) -> Duration {
    let low = saturating_nanos(low);
    let high = saturating_nanos(high);
    if high <= low {
        return Duration::from_nanos(low);
    }
    Duration::from_nanos(rng.random_range(low..=high))
}

/// A jitter source for one call. Seeded from a per-thread SplitMix64 sequence, itself seeded
/// once per thread from the OS-backed thread RNG: jitter needs spread, not secrecy, and
/// seeding every failed call from the cryptographic RNG would cost more than the decision.
pub(crate) fn fresh_rng() -> SmallRng {
    thread_local! {
        static SEEDS: Cell<Option<u64>> = const { Cell::new(None) };
    }
    let state = SEEDS.with(|seeds| {
        let state = seeds
            .get()
            .unwrap_or_else(|| rand::rng().random())
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        seeds.set(Some(state));
        state
    });
    SmallRng::seed_from_u64(crate::testing::mix(state, 0))
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// A wait schedule as an iterator: each `next()` is the wait before the next retry.
///
/// Made by [`Wait::backoff`]; the runtime keeps one per retried call, made at its first failure.
#[derive(Clone, Debug)]
pub struct Backoff {
    wait: Wait,
    jitter: Jitter,
    retry: u32,
    previous: Duration,
    /// The seed of the random source; `None` for one from the thread's sequence.
    seed: Option<u64>,
    /// Made the first time a wait or a spread hint needs a random number: a fixed schedule
    /// without jitter, retried on its own waits, never seeds one.
    rng: Option<SmallRng>,
}

impl Backoff {
    pub(crate) fn new(wait: Wait, jitter: Jitter, seed: Option<u64>) -> Self {
        let previous = wait.base_delay(1);
        Backoff {
            wait,
            jitter,
            retry: 0,
            previous,
            seed,
            rng: None,
        }
    }

    /// The wait before retry number `retry` (1-based), advancing the schedule to it.
    pub(crate) fn delay_for(&mut self, retry: u32) -> Duration {
        self.retry = retry;
        let (wait, jitter, previous) = (self.wait, self.jitter, self.previous);
        let delay = if wait.is_random(jitter) {
            wait.delay(jitter, retry, previous, self.rng())
        } else {
            wait.base_delay(retry)
        };
        self.previous = delay;
        delay
    }

    /// The random source, for waits with jitter and for spreading server hints.
    pub(crate) fn rng(&mut self) -> &mut SmallRng {
        let seed = self.seed;
        self.rng
            .get_or_insert_with(|| seed.map_or_else(fresh_rng, SmallRng::seed_from_u64))
    }
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let retry = self.retry.saturating_add(1);
        Some(self.delay_for(retry))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn rng() -> SmallRng {
        SmallRng::seed_from_u64(1)
    }

    #[test]
    fn exponential_doubles_then_caps() {
        let wait = Wait::exponential(100 * MS, 1000 * MS);
        let bases: Vec<_> = (1..=6).map(|n| wait.base_delay(n)).collect();
        assert_eq!(
            bases,
            [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
        assert_eq!(wait.base_delay(u32::MAX), 1000 * MS);
        assert_eq!(
            wait.base_delay(0),
            100 * MS,
            "retry 0 is treated as the first"
        );
    }

    #[test]
    fn linear_steps_then_caps() {
        let wait = Wait::linear(300 * MS, 1000 * MS);
        let bases: Vec<_> = (1..=5).map(|n| wait.base_delay(n)).collect();
        assert_eq!(bases, [300 * MS, 600 * MS, 900 * MS, 1000 * MS, 1000 * MS]);
        assert_eq!(wait.base_delay(u32::MAX), 1000 * MS);
    }

    #[test]
    fn huge_durations_saturate() {
        let wait = Wait::exponential(Duration::MAX, Duration::MAX);
        assert_eq!(wait.base_delay(40), Duration::MAX);
        let d = wait.delay(Jitter::Full, 40, Duration::ZERO, &mut rng());
        assert!(d <= Duration::MAX);
        let d = Wait::decorrelated(Duration::MAX, Duration::MAX).delay(
            Jitter::None,
            3,
            Duration::MAX,
            &mut rng(),
        );
        assert!(d > Duration::ZERO);
    }

    #[test]
    fn full_jitter_spans_zero_to_base() {
        let mut rng = rng();
        let draws: Vec<_> = (0..2000)
            .map(|_| Jitter::Full.apply(1000 * MS, &mut rng))
            .collect();
        assert!(draws.iter().all(|d| *d <= 1000 * MS));
        assert!(
            draws.iter().any(|d| *d < 100 * MS),
            "full jitter reaches near zero"
        );
        assert!(
            draws.iter().any(|d| *d > 900 * MS),
            "full jitter reaches near the base"
        );
    }

    #[test]
    fn equal_jitter_keeps_half() {
        let mut rng = rng();
        let draws: Vec<_> = (0..2000)
            .map(|_| Jitter::Equal.apply(1000 * MS, &mut rng))
            .collect();
        assert!(draws.iter().all(|d| *d >= 500 * MS && *d <= 1000 * MS));
        assert!(draws.iter().any(|d| *d < 600 * MS) && draws.iter().any(|d| *d > 900 * MS));
    }

    #[test]
    fn no_jitter_is_exact() {
        assert_eq!(Jitter::None.apply(123 * MS, &mut rng()), 123 * MS);
    }

    #[test]
    fn decorrelated_stays_between_min_and_three_times_previous() {
        let wait = Wait::decorrelated(100 * MS, 10_000 * MS);
        let mut backoff = wait.backoff(Jitter::None, 9);
        let mut previous = 100 * MS;
        for _ in 0..200 {
            let d = backoff.next().unwrap();
            assert!(
                d >= 100 * MS && d <= (previous * 3).min(10_000 * MS),
                "{d:?} after {previous:?}"
            );
            previous = d;
        }
    }

    #[test]
    fn same_seed_same_waits() {
        let wait = Wait::exponential(100 * MS, 10_000 * MS);
        let a: Vec<_> = wait.backoff(Jitter::Full, 42).take(20).collect();
        let b: Vec<_> = wait.backoff(Jitter::Full, 42).take(20).collect();
        let c: Vec<_> = wait.backoff(Jitter::Full, 43).take(20).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn problems_are_reported() {
        assert!(Wait::exponential(2 * MS, MS).problem().is_some());
        assert!(Wait::linear(2 * MS, MS).problem().is_some());
        assert!(Wait::decorrelated(MS, 2 * MS).problem().is_none());
    }
}
