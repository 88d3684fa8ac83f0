//! Counters per retried function, in the spirit of tenacity's `statistics`: readable from code
//! with [`statistics()`] / [`statistics_for`], or from a policy with
//! [`RetryPolicy::statistics`](crate::RetryPolicy::statistics).
//!
//! The first-try-success path touches one counter, sharded per thread so that threads never
//! write the same cache line; everything else is counted on the failure path.

use core::fmt;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

use crate::ErrorClass;

/// Why a call stopped retrying and returned its error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The error's class is not retried (`Client`, `Auth`, or a class not in `on = [...]`).
    NotRetryable,
    /// The call made as many attempts as its cap allows.
    Exhausted,
    /// Another attempt could not finish before the deadline (or the deadline cut an attempt).
    Deadline,
    /// The server asked for a longer wait than `max_retry_after`.
    HintTooLong,
    /// A retried call inside this one already retried this error to exhaustion: retrying it
    /// again here would multiply the attempts.
    AlreadyRetried,
    /// The call's [`RetryBudget`](crate::RetryBudget) had no retry left.
    BudgetSpent,
    /// The call's [`CircuitBreaker`](crate::CircuitBreaker) was open: the attempt was not made.
    CircuitOpen,
}

impl GiveUpReason {
    /// Every reason, in declaration order.
    pub const ALL: [GiveUpReason; 7] = [
        GiveUpReason::NotRetryable,
        GiveUpReason::Exhausted,
        GiveUpReason::Deadline,
        GiveUpReason::HintTooLong,
        GiveUpReason::AlreadyRetried,
        GiveUpReason::BudgetSpent,
        GiveUpReason::CircuitOpen,
    ];

    /// A short name for logs and metric labels.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            GiveUpReason::NotRetryable => "not_retryable",
            GiveUpReason::Exhausted => "exhausted",
            GiveUpReason::Deadline => "deadline",
            GiveUpReason::HintTooLong => "retry_after_too_long",
            GiveUpReason::AlreadyRetried => "already_retried",
            GiveUpReason::BudgetSpent => "budget_spent",
            GiveUpReason::CircuitOpen => "circuit_open",
        }
    }
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A snapshot of one retried function's counters.
///
/// ```
/// use retry_runtime::{RetryPolicy, ErrorClass};
///
/// let policy = RetryPolicy::new();
/// let _ = policy.call(|| Ok::<_, std::io::Error>(1));
/// let stats = policy.statistics();
/// assert_eq!((stats.calls, stats.attempts, stats.first_try_successes), (1, 1, 1));
/// assert_eq!(stats.retry_rate(), 0.0);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Statistics {
    /// The function's name (`module::path::function`).
    pub name: &'static str,
    /// Calls made (finished, or still retrying).
    pub calls: u64,
    /// Attempts made in all, first ones included.
    pub attempts: u64,
    /// Calls whose first attempt succeeded.
    pub first_try_successes: u64,
    /// Calls that succeeded after one or more retries.
    pub successes_after_retry: u64,
    /// Calls that gave up, by reason (indexed as [`GiveUpReason::ALL`]).
    pub give_ups: [u64; 7],
    /// Failed attempts by class (indexed as [`ErrorClass::ALL`]); an attempt refused by an open
    /// circuit breaker never reached the provider and is not one of them.
    pub failures: [u64; 9],
    /// Time spent waiting between attempts, in all.
    pub slept: Duration,
    /// Calls that gave up and were handed to their `fallback`.
    pub fallbacks: u64,
}

impl Statistics {
    /// Calls that gave up for `reason`.
    #[must_use]
    pub fn gave_up(&self, reason: GiveUpReason) -> u64 {
        self.give_ups[reason as usize]
    }

    /// Calls that gave up, for any reason.
    #[must_use]
    pub fn gave_up_total(&self) -> u64 {
        self.give_ups.iter().sum()
    }

    /// Failed attempts of `class`.
    #[must_use]
    pub fn failures_of(&self, class: ErrorClass) -> u64 {
        self.failures[class.index()]
    }

    /// Retries per call: `(attempts − calls) / calls`; 0 without calls.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn retry_rate(&self) -> f64 {
        if self.calls == 0 {
            return 0.0;
        }
        self.attempts.saturating_sub(self.calls) as f64 / self.calls as f64
    }

    /// Of the calls that needed a retry, the share that then succeeded; 0 when none needed one.
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn success_after_retry_rate(&self) -> f64 {
        let retried = self.calls.saturating_sub(self.first_try_successes);
        if retried == 0 {
            return 0.0;
        }
        self.successes_after_retry as f64 / retried as f64
    }
}

/// The live counters inside a policy.
pub(crate) struct Counters {
    first_try_successes: ShardedCounter,
    /// Calls whose first attempt failed: `calls = first_try_successes + failed_first`.
    failed_first: AtomicU64,
    /// Attempts of calls whose first attempt failed.
    later_attempts: AtomicU64,
    successes_after_retry: AtomicU64,
    give_ups: [AtomicU64; 7],
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
    pub(crate) const fn new() -> Self {
        Counters {
            first_try_successes: ShardedCounter::new(),
            failed_first: AtomicU64::new(0),
            later_attempts: AtomicU64::new(0),
            successes_after_retry: AtomicU64::new(0),
            give_ups: [const { AtomicU64::new(0) }; 7],
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
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters").finish_non_exhaustive()
    }
}

/// The counters of every `'static` policy called so far, with its name.
static REGISTRY: Mutex<Vec<(&'static str, &'static Counters)>> = Mutex::new(Vec::new());

/// Adds a `'static` policy's counters to the registry that [`statistics()`] reads, once.
#[cold]
pub(crate) fn register(name: &'static str, counters: &'static Counters) {
    let mut registry = REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !counters.registered.swap(true, Relaxed) {
        registry.push((name, counters));
    }
}

/// The counters of every `#[retry]` function called so far in this process, in the order of
/// their first call.
///
/// ```
/// use retry_runtime::retry;
///
/// #[retry]
/// fn ping() -> Result<(), std::io::Error> { Ok(()) }
///
/// ping().unwrap();
/// let stats = retry_runtime::statistics_for("ping").expect("called once");
/// assert!(stats.first_try_successes >= 1);
/// ```
#[must_use]
pub fn statistics() -> Vec<Statistics> {
    let registry = REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry
        .iter()
        .map(|(name, counters)| counters.snapshot(name))
        .collect()
}

/// The counters of the retried function named `name`: its full path
/// (`my_crate::client::complete`) or its last segment(s) (`complete`, `client::complete`).
/// When several functions share the name, the first called is returned; name more of the path.
#[must_use]
pub fn statistics_for(name: &str) -> Option<Statistics> {
    let registry = REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    registry
        .iter()
        .find(|(full, _)| {
            *full == name
                || full
                    .strip_suffix(name)
                    .is_some_and(|head| head.ends_with("::"))
        })
        .map(|(full, counters)| counters.snapshot(full))
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

    #[test]
    fn rates() {
        let stats = Statistics {
            name: "f",
            calls: 10,
            attempts: 15,
            first_try_successes: 6,
            successes_after_retry: 3,
            give_ups: [0, 1, 0, 0, 0, 0, 0],
            failures: [0; 9],
            slept: Duration::ZERO,
            fallbacks: 0,
        };
        assert!((stats.retry_rate() - 0.5).abs() < 1e-9);
        assert!((stats.success_after_retry_rate() - 0.75).abs() < 1e-9);
        assert_eq!(stats.gave_up(GiveUpReason::Exhausted), 1);
    }
}
