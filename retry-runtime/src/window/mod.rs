//! What the circuit breaker and the retry budget share: a sliding window of counts
//! ([`ring`]), and their time ([`Timeline`]), whole milliseconds in which their state keeps its
//! instants and buckets.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::Clock;

pub(crate) mod ring;

use self::ring::BUCKETS;

/// A component's time, in whole milliseconds since it first read its clock: its own [`Clock`]
/// if it was given one, else the runtime's ([`crate::clock::now`]). Counting from the
/// component's first reading, on the one clock it reads, its time never goes back (an instant
/// before that first one, which only a clock that jumped back gives, counts as 0).
pub(crate) struct Timeline {
    clock: Option<&'static dyn Clock>,
    epoch: OnceLock<Instant>,
}

impl Timeline {
    /// On the runtime's clock.
    pub(crate) const fn new() -> Self {
        Timeline {
            clock: None,
            epoch: OnceLock::new(),
        }
    }

    /// Reads `clock` from now on. Set before the first reading (the builders of the breaker
    /// and the budget), so that every instant of the timeline is one clock's.
    pub(crate) const fn set_clock(&mut self, clock: &'static dyn Clock) {
        self.clock = Some(clock);
    }

    /// A timeline on the same clock, starting anew.
    pub(crate) const fn fresh(&self) -> Self {
        Timeline {
            clock: self.clock,
            epoch: OnceLock::new(),
        }
    }

    /// Milliseconds since the first reading.
    pub(crate) fn now_ms(&self) -> u64 {
        let now = self
            .clock
            .map_or_else(crate::clock::now, |clock| clock.now());
        let epoch = *self.epoch.get_or_init(|| now);
        let since = now.saturating_duration_since(epoch);
        since
            .as_secs()
            .saturating_mul(1_000)
            .saturating_add(u64::from(since.subsec_millis()))
    }
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

/// A turn that comes round at most once per period: of the callers that find it due, one
/// takes it. Used to send what a process counted to a shared store at most once per
/// staleness bound.
#[derive(Debug)]
pub(crate) struct Turn {
    /// When it was last taken (on the caller's timeline, ms; 0: never, so the first is due).
    taken_at: AtomicU64,
}

impl Turn {
    pub(crate) const fn new() -> Self {
        Turn {
            taken_at: AtomicU64::new(0),
        }
    }

    /// Whether this caller takes the turn at `now`: never taken yet, or last taken
    /// `every_ms` ago or more, and no other caller took it first.
    pub(crate) fn take(&self, now: u64, every_ms: u64) -> bool {
        let last = self.taken_at.load(Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= every_ms;
        due && self
            .taken_at
            .compare_exchange(last, now.max(1), Relaxed, Relaxed)
            .is_ok()
    }
}
