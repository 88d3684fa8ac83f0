//! The live counters of one retried function (or of one name of hand-built policies): what the
//! call path's events add up to, read as [`Statistics`].

use core::fmt;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use super::{GiveUpReason, Statistics};
use crate::ErrorClass;

/// The live counters of one retried function: `#[retry]` keeps them in a `static` beside the
/// function's policy.
#[doc(hidden)]
pub struct Counters {
    first_try_successes: ShardedCounter,
    /// Calls whose first attempt failed: `calls = first_try_successes + failed_first`.
    failed_first: AtomicU64,
    /// Attempts of calls whose first attempt failed.
    later_attempts: AtomicU64,
    successes_after_retry: AtomicU64,
    give_ups: [AtomicU64; 8],
    failures: [AtomicU64; 9],
    slept_nanos: AtomicU64,
    fallbacks: AtomicU64,
    registered: AtomicBool,
    jitter_sequence: AtomicU64,
    /// The key of the `metrics` count of first-try successes, made at the first one.
    #[cfg(feature = "metrics")]
    pub(crate) first_try_key: crate::metrics::FirstTryKey,
}

impl Counters {
    /// No calls yet.
    #[must_use]
    pub const fn new() -> Self {
        Counters {
            first_try_successes: ShardedCounter::new(),
            failed_first: AtomicU64::new(0),
            later_attempts: AtomicU64::new(0),
            successes_after_retry: AtomicU64::new(0),
            give_ups: [const { AtomicU64::new(0) }; 8],
            failures: [const { AtomicU64::new(0) }; 9],
            slept_nanos: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            registered: AtomicBool::new(false),
            jitter_sequence: AtomicU64::new(0),
            #[cfg(feature = "metrics")]
            first_try_key: crate::metrics::FirstTryKey::new(),
        }
    }

    #[inline]
    pub(crate) fn first_try_success(&self) {
        self.first_try_successes.increment();
    }

    /// Counts one attempt of a call whose first attempt failed, and the call as one that did
    /// when this is the attempt after that first failure.
    pub(crate) fn attempt_after_first_failure(&self, first_failure: bool) {
        self.later_attempts.fetch_add(1, Relaxed);
        if first_failure {
            self.failed_first.fetch_add(1, Relaxed);
        }
    }

    /// The next number of the policy's sequence of calls that began retrying: with a jitter
    /// seed, the n-th such call draws its waits from `(seed, n)`.
    pub(crate) fn next_jitter_sequence(&self) -> u64 {
        self.jitter_sequence.fetch_add(1, Relaxed)
    }

    pub(crate) fn failure(&self, class: ErrorClass) {
        self.failures[class.index()].fetch_add(1, Relaxed);
    }

    pub(crate) fn success_after_retry(&self) {
        self.successes_after_retry.fetch_add(1, Relaxed);
    }

    pub(crate) fn gave_up(&self, reason: GiveUpReason) {
        self.give_ups[reason as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn fell_back(&self) {
        self.fallbacks.fetch_add(1, Relaxed);
    }

    pub(crate) fn slept(&self, wait: Duration) {
        let nanos = u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX);
        self.slept_nanos.fetch_add(nanos, Relaxed);
    }

    pub(crate) fn snapshot(&self, name: &'static str) -> Statistics {
        let first_try = self.first_try_successes.sum();
        let failed_first = self.failed_first.load(Relaxed);
        Statistics {
            name,
            calls: first_try + failed_first,
            attempts: first_try + self.later_attempts.load(Relaxed),
            first_try_successes: first_try,
            successes_after_retry: self.successes_after_retry.load(Relaxed),
            give_ups: self.give_ups.each_ref().map(|c| c.load(Relaxed)),
            failures: self.failures.each_ref().map(|c| c.load(Relaxed)),
            slept: Duration::from_nanos(self.slept_nanos.load(Relaxed)),
            fallbacks: self.fallbacks.load(Relaxed),
        }
    }

    #[inline]
    pub(crate) fn is_registered(&self) -> bool {
        self.registered.load(Relaxed)
    }

    /// Marks the counters as listed; whether they already were.
    pub(super) fn mark_registered(&self) -> bool {
        self.registered.swap(true, Relaxed)
    }
}

impl Default for Counters {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

// ===== sharded counter =====

const SHARDS: usize = 16;

#[repr(align(64))]
struct Shard(AtomicU64);

/// A counter whose increments from different threads land on different cache lines.
///
/// Each thread owns one shard exclusively while it lives (slots are handed out and taken back
/// under a lock), so an increment is a plain load and store, with no read-modify-write; threads
/// beyond the shard count share the last shard and use `fetch_add`.
struct ShardedCounter {
    shards: [Shard; SHARDS],
}

impl ShardedCounter {
    const fn new() -> Self {
        ShardedCounter {
            shards: [const { Shard(AtomicU64::new(0)) }; SHARDS],
        }
    }

    #[inline]
    fn increment(&self) {
        // After thread-local destruction begins, fall back to the shared shard.
        let slot = SLOT.try_with(Cell::get).unwrap_or(SHARDS);
        if slot < SHARDS - 1 {
            self.increment_own(slot);
        } else {
            self.increment_other(slot);
        }
    }

    #[inline]
    fn increment_own(&self, slot: usize) {
        let shard = &self.shards[slot].0;
        shard.store(shard.load(Relaxed).wrapping_add(1), Relaxed);
    }

    /// A thread without a shard of its own: it gets one if it never asked, else it shares the
    /// last one. Out of line, so that the common case is one comparison.
    #[cold]
    #[inline(never)]
    fn increment_other(&self, slot: usize) {
        if slot == UNASSIGNED {
            let slot = assign_slot();
            if slot < SHARDS - 1 {
                return self.increment_own(slot);
            }
        }
        self.shards[SHARDS - 1].0.fetch_add(1, Relaxed);
    }

    fn sum(&self) -> u64 {
        self.shards
            .iter()
            .map(|s| s.0.load(Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// Slots free for new threads; a slot goes back when its thread exits.
static FREE_SLOTS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static NEXT_SLOT: AtomicU64 = AtomicU64::new(0);

const UNASSIGNED: usize = usize::MAX;

thread_local! {
    static SLOT: Cell<usize> = const { Cell::new(UNASSIGNED) };
    static SLOT_OWNER: SlotOwner = const { SlotOwner };
}

struct SlotOwner;

impl Drop for SlotOwner {
    fn drop(&mut self) {
        let slot = SLOT.try_with(|s| s.replace(SHARDS)).unwrap_or(SHARDS);
        if slot < SHARDS - 1 {
            FREE_SLOTS
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(slot);
        }
    }
}

#[cold]
fn assign_slot() -> usize {
    let reused = FREE_SLOTS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop();
    let slot = reused.unwrap_or_else(|| {
        let next = NEXT_SLOT.fetch_add(1, Relaxed);
        usize::try_from(next).map_or(SHARDS, |n| n.min(SHARDS))
    });
    // Registering the owner makes the slot come back when this thread exits; a thread whose
    // destructors already ran keeps to the shared shard.
    if SLOT_OWNER.try_with(|_| ()).is_err() {
        return SHARDS;
    }
    let _ = SLOT.try_with(|s| s.set(slot));
    slot
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sharded_counter_loses_nothing_across_threads() {
        static COUNTER: ShardedCounter = ShardedCounter::new();
        let threads: Vec<_> = (0..40)
            .map(|_| std::thread::spawn(|| (0..10_000).for_each(|_| COUNTER.increment())))
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(COUNTER.sum(), 400_000);
    }
}
