//! Counters per retried function, in the spirit of tenacity's `statistics`: readable from code
//! with [`statistics()`] / [`statistics_for`], or for hand-built policies with
//! [`RetryPolicy::statistics`](crate::RetryPolicy::statistics).
//!
//! The counters are not in the policy, which is configuration only: `#[retry]` keeps a
//! function's counters in a `static` beside its policy, and hand-built policies count into a
//! set of its own, made at its first call. The call path tells them what happened through
//! [`crate::observe`]; they decide nothing.

use core::fmt;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::ErrorClass;

mod counters;

pub use counters::Counters;

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
    /// The call's [`AdmissionGate`](crate::AdmissionGate) could not admit the attempt before
    /// the deadline: it was not made.
    NotAdmitted,
}

impl GiveUpReason {
    /// Every reason, in declaration order.
    pub const ALL: [GiveUpReason; 8] = [
        GiveUpReason::NotRetryable,
        GiveUpReason::Exhausted,
        GiveUpReason::Deadline,
        GiveUpReason::HintTooLong,
        GiveUpReason::AlreadyRetried,
        GiveUpReason::BudgetSpent,
        GiveUpReason::CircuitOpen,
        GiveUpReason::NotAdmitted,
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
            GiveUpReason::NotAdmitted => "not_admitted",
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
    pub give_ups: [u64; 8],
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

/// The counters of every `#[retry]` function called so far, with its name, in the order of
/// their first call.
static FUNCTIONS: Mutex<Vec<(&'static str, &'static Counters)>> = Mutex::new(Vec::new());

fn lock<T>(registry: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    registry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Adds a `#[retry]` function's counters to the list that [`statistics()`] reads, once.
#[cold]
pub(crate) fn register(name: &'static str, counters: &'static Counters) {
    let mut functions = lock(&FUNCTIONS);
    if !counters.mark_registered() {
        functions.push((name, counters));
    }
}

/// The counters of a hand-built policy: made at its first call, dropped with it. A clone of
/// the policy starts with none.
#[derive(Default)]
pub(crate) struct PolicyCounters(OnceLock<Box<Counters>>);

impl PolicyCounters {
    pub(crate) const fn new() -> Self {
        PolicyCounters(OnceLock::new())
    }

    /// The counters, made at the first call.
    pub(crate) fn get(&self) -> &Counters {
        self.0.get_or_init(Box::default)
    }

    /// What they hold so far.
    pub(crate) fn snapshot(&self, name: &'static str) -> Statistics {
        self.0
            .get()
            .map_or_else(|| Counters::new().snapshot(name), |c| c.snapshot(name))
    }
}

impl Clone for PolicyCounters {
    fn clone(&self) -> Self {
        PolicyCounters::new()
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
    lock(&FUNCTIONS)
        .iter()
        .map(|(name, counters)| counters.snapshot(name))
        .collect()
}

/// The counters of the retried function named `name`: its full path
/// (`my_crate::client::complete`) or its last segment(s) (`complete`, `client::complete`).
/// When several functions share the name, the first called is returned; name more of the path.
#[must_use]
pub fn statistics_for(name: &str) -> Option<Statistics> {
    lock(&FUNCTIONS)
        .iter()
        .find(|(full, _)| {
            *full == name
                || full
                    .strip_suffix(name)
                    .is_some_and(|head| head.ends_with("::"))
        })
        .map(|(full, counters)| counters.snapshot(full))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        let stats = Statistics {
            name: "f",
            calls: 10,
            attempts: 15,
            first_try_successes: 6,
            successes_after_retry: 3,
            give_ups: [0, 1, 0, 0, 0, 0, 0, 0],
            failures: [0; 9],
            slept: Duration::ZERO,
            fallbacks: 0,
        };
        assert!((stats.retry_rate() - 0.5).abs() < 1e-9);
        assert!((stats.success_after_retry_rate() - 0.75).abs() < 1e-9);
        assert_eq!(stats.gave_up(GiveUpReason::Exhausted), 1);
    }
}
