//! A breaker the fleet shares (feature `redis`): each process keeps its own breaker and adds
//! its calls and counted failures to the fleet's window in the store, at most the store's
//! staleness bound late. The store opens the fleet's breaker on the fleet's failure ratio over
//! its minimum of calls, and each process that hears of it opens its own. A process's own
//! failures in a row open only its own breaker: one worker's bad network does not open the
//! fleet's.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::CircuitBreaker;
use crate::window::Turn;

/// A store the fleet shares breakers through.
pub(crate) trait SharedBreakers: Sync {
    /// Adds `calls` and `failures` to `scope`'s window; `Some(open_ms)`, how long the fleet's
    /// breaker stays open (0: closed), or `None` when the store did not answer.
    fn exchange(&self, scope: &str, calls: u64, failures: u64, terms: BreakerTerms) -> Option<u64>;

    /// How long outcomes may wait before they are added to the fleet's window (ms).
    fn staleness_ms(&self) -> u64;
}

/// A breaker's terms, as a shared store applies them.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // only a shared store reads them
pub(crate) struct BreakerTerms {
    pub(crate) ratio_ppm: u32,
    pub(crate) minimum_calls: u32,
    pub(crate) window_ms: u64,
    pub(crate) break_ms: u64,
}

/// Outcomes not yet added to the fleet's window.
#[derive(Debug)]
pub(crate) struct Pending {
    calls: AtomicU64,
    failures: AtomicU64,
    /// Adding them to the fleet's window: at most once per staleness bound.
    flush: Turn,
}

impl Pending {
    pub(crate) const fn new() -> Self {
        Pending {
            calls: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            flush: Turn::new(),
        }
    }
}

impl CircuitBreaker {
    /// Counts a call's outcome for the fleet, and adds this process's outcomes to the fleet's
    /// window once the last ones were added a staleness bound ago; opens this breaker when
    /// the fleet's is open.
    #[cold]
    pub(super) fn count_for_fleet(&self, store: &dyn SharedBreakers, failed: bool) {
        let pending = &self.pending;
        pending.calls.fetch_add(1, Relaxed);
        if failed {
            pending.failures.fetch_add(1, Relaxed);
        }
        if !pending.flush.take(self.time.now_ms(), store.staleness_ms()) {
            return;
        }
        let calls = pending.calls.swap(0, Relaxed);
        let failures = pending.failures.swap(0, Relaxed);
        let terms = BreakerTerms {
            ratio_ppm: self.settings.ratio_ppm,
            minimum_calls: self.settings.minimum_calls,
            window_ms: self.settings.window_ms,
            break_ms: self.settings.break_ms,
        };
        match store.exchange(self.name, calls, failures, terms) {
            Some(open_ms) if open_ms > 0 && self.state() == super::BreakerState::Closed => {
                self.trip_because("the fleet's breaker is open");
            }
            Some(_) => {}
            None => {
                // Kept for the next time the store answers.
                pending.calls.fetch_add(calls, Relaxed);
                pending.failures.fetch_add(failures, Relaxed);
            }
        }
    }
}
