//! The policy value: everything `#[retry(...)]` says, buildable in a `static`, and callable
//! without the macro.

use core::fmt;
use std::time::Duration;

use crate::stats::{PolicyCounters, Statistics};
use crate::{ClassSet, ErrorClass, Jitter, Wait};

/// Attempts in all allowed by a policy, at the most.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;

/// A retry policy: how many attempts, how long to wait between them, which errors to retry, and
/// how long the whole call may take. `#[retry(...)]` builds one in a `static`; code without the
/// macro builds one the same way and runs closures through [`call`](Self::call) and
/// [`call_async`](Self::call_async).
///
/// # Default
/// - `max_attempts`: 3 (attempts in all, the first included)
/// - `wait`: `exponential(500ms, 8s)`, `jitter`: `Full`
/// - `on`: the transient classes ([`ClassSet::TRANSIENT`]); `Timeout` capped at 2 attempts
/// - `deadline`, `attempt_timeout`: none
/// - `max_retry_after`: 120 s
///
/// The builder methods never fail: out-of-range values are brought into range when used
/// (`max_attempts` into 1..=100, `Client`/`Auth` never retried), and [`validate`](Self::validate)
/// reports them.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{ClassSet, ErrorClass, RetryPolicy, Wait};
///
/// static POLICY: RetryPolicy = RetryPolicy::new()
///     .named("fetch_profile")
///     .max_attempts(5)
///     .wait(Wait::exponential(Duration::from_millis(100), Duration::from_secs(5)))
///     .on(ClassSet::TRANSIENT)
///     .class_max_attempts(ErrorClass::RateLimit, 8);
///
/// # let _clock = retry_runtime::testing::record_sleeps();
/// let mut failures = 2;
/// let result = POLICY.call(|| {
///     if failures > 0 {
///         failures -= 1;
///         return Err(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
///     }
///     Ok("profile")
/// });
/// assert_eq!(result.unwrap(), "profile");
/// ```
#[derive(Clone)]
pub struct RetryPolicy {
    name: &'static str,
    max_attempts: u32,
    /// `max_attempts` brought into 1..=100 when it is set, so that every call need not.
    max_attempts_clamped: u32,
    wait: Wait,
    jitter: Jitter,
    jitter_set: bool,
    on: ClassSet,
    class_caps: [u32; ErrorClass::COUNT],
    deadline: Option<Duration>,
    attempt_timeout: Option<Duration>,
    max_retry_after: Duration,
    jitter_seed: Option<u64>,
    fallback_on: ClassSet,
    /// Made at the first hand-built call; `#[retry]` functions count in a `static` of their own.
    counters: PolicyCounters,
}

impl RetryPolicy {
    /// The default policy (see the type's docs).
    #[must_use]
    pub const fn new() -> Self {
        RetryPolicy {
            name: "retry_runtime::RetryPolicy",
            max_attempts: 3,
            max_attempts_clamped: 3,
            wait: Wait::exponential(Duration::from_millis(500), Duration::from_secs(8)),
            jitter: Jitter::Full,
            jitter_set: false,
            on: ClassSet::TRANSIENT,
            class_caps: [0; ErrorClass::COUNT],
            deadline: None,
            attempt_timeout: None,
            max_retry_after: Duration::from_secs(120),
            jitter_seed: None,
            fallback_on: ClassSet::TRANSIENT,
            counters: PolicyCounters::new(),
        }
    }

    /// The name used in logs and statistics (`#[retry]` uses the function's path).
    #[must_use]
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// Attempts in all, the first included (1..=100).
    #[must_use]
    pub const fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self.max_attempts_clamped = clamp_attempts(attempts);
        self
    }

    /// The wait schedule between attempts.
    #[must_use]
    pub const fn wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    /// How the waits are spread (not applied to [`Wait::decorrelated`]).
    #[must_use]
    pub const fn jitter(mut self, jitter: Jitter) -> Self {
        self.jitter = jitter;
        self.jitter_set = true;
        self
    }

    /// The classes that are retried (replacing the default set). `Client` and `Auth` are never
    /// retried, even when named here.
    #[must_use]
    pub const fn on(mut self, classes: ClassSet) -> Self {
        self.on = classes;
        self
    }

    /// A cap of attempts in all for failures of `class`, replacing `max_attempts` whenever the
    /// latest failure is of that class.
    #[must_use]
    pub const fn class_max_attempts(mut self, class: ErrorClass, attempts: u32) -> Self {
        self.class_caps[class.index()] = attempts;
        self
    }

    /// A ceiling on the whole call, sleeps included.
    #[must_use]
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// A ceiling on one attempt (async calls through [`call_async_timed`](Self::call_async_timed)
    /// or `#[retry]` on an async fn).
    #[must_use]
    pub const fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = Some(timeout);
        self
    }

    /// The longest server hint that is waited for; a longer one gives up at once.
    #[must_use]
    pub const fn max_retry_after(mut self, longest: Duration) -> Self {
        self.max_retry_after = longest;
        self
    }

    /// Makes the jitter reproducible: the n-th call of this policy to fail draws from a
    /// generator seeded by `(seed, n)`.
    #[must_use]
    pub const fn jitter_seed(mut self, seed: u64) -> Self {
        self.jitter_seed = Some(seed);
        self
    }

    /// The classes whose final error hands the call to its fallback (`fallback = path` in the
    /// attribute); by default every transient class. An open circuit breaker always falls back.
    /// Unlike `on`, this may name `Client` or `Auth`: a request too long for one model can be
    /// sent to a bigger one on purpose.
    ///
    /// ```
    /// use retry_runtime::{ClassSet, ErrorClass, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new().fallback_on(ClassSet::EMPTY.with(ErrorClass::Client));
    /// assert!(policy.falls_back_on(ErrorClass::Client));
    /// assert!(!policy.falls_back_on(ErrorClass::Server));
    /// ```
    #[must_use]
    pub const fn fallback_on(mut self, classes: ClassSet) -> Self {
        self.fallback_on = classes;
        self
    }

    /// Whether a call that gave up on an error of `class` goes to its fallback.
    #[must_use]
    pub const fn falls_back_on(&self, class: ErrorClass) -> bool {
        self.fallback_on.contains(class)
    }

    /// The policy's name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The deadline of the whole call, if any.
    #[must_use]
    pub const fn deadline_value(&self) -> Option<Duration> {
        self.deadline
    }

    /// The timeout of one attempt, if any.
    #[must_use]
    pub const fn attempt_timeout_value(&self) -> Option<Duration> {
        self.attempt_timeout
    }

    /// The wait schedule.
    #[must_use]
    pub const fn wait_value(&self) -> Wait {
        self.wait
    }

    /// The jitter.
    #[must_use]
    pub const fn jitter_value(&self) -> Jitter {
        if self.wait.is_randomized() {
            Jitter::None
        } else {
            self.jitter
        }
    }

    /// The longest server hint that is waited for.
    #[must_use]
    pub const fn max_retry_after_value(&self) -> Duration {
        self.max_retry_after
    }

    pub(crate) const fn jitter_seed_value(&self) -> Option<u64> {
        self.jitter_seed
    }

    /// Attempts in all, brought into 1..=100.
    #[must_use]
    pub const fn max_attempts_value(&self) -> u32 {
        self.max_attempts_clamped
    }

    /// Whether failures of `class` are retried.
    #[must_use]
    pub const fn retries(&self, class: ErrorClass) -> bool {
        class.is_retryable() && self.on.contains(class)
    }

    /// The cap of attempts in all when the latest failure is of `class`.
    #[must_use]
    pub const fn cap_for(&self, class: ErrorClass) -> u32 {
        let own = self.class_caps[class.index()];
        if own != 0 {
            return clamp_attempts(own);
        }
        let max = self.max_attempts_value();
        if matches!(class, ErrorClass::Timeout) && max > 2 {
            2
        } else {
            max
        }
    }

    pub(crate) fn counters(&self) -> &crate::stats::Counters {
        self.counters.get()
    }

    /// The counters of the calls made so far through this policy's [`call`](Self::call) and
    /// its async siblings. A `#[retry]` function keeps its own counters beside its policy: see
    /// [`statistics_for`](crate::statistics_for).
    #[must_use]
    pub fn statistics(&self) -> Statistics {
        self.counters.snapshot(self.name)
    }

    /// Checks the configuration; every problem found is listed in the error.
    ///
    /// ```
    /// use retry_runtime::{ClassSet, ErrorClass, RetryPolicy};
    ///
    /// assert!(RetryPolicy::new().validate().is_ok());
    /// let bad = RetryPolicy::new().max_attempts(0).on(ClassSet::EMPTY.with(ErrorClass::Auth));
    /// let err = bad.validate().unwrap_err();
    /// assert_eq!(err.problems().len(), 2, "{err}");
    /// ```
    pub fn validate(&self) -> Result<(), InvalidPolicy> {
        let mut problems = Vec::new();
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&self.max_attempts) {
            problems.push(format!(
                "`max_attempts` is {}, expected 1..=100",
                self.max_attempts
            ));
        }
        for class in ErrorClass::ALL {
            let cap = self.class_caps[class.index()];
            if cap > MAX_ATTEMPTS_LIMIT {
                problems.push(format!("the cap of `{class}` is {cap}, expected 1..=100"));
            }
            if !class.is_retryable() && self.on.contains(class) {
                problems.push(format!(
                    "`{class}` errors are never retried: the same request fails the same way"
                ));
            }
        }
        if let Some(problem) = self.wait.problem() {
            problems.push(problem.to_owned());
        }
        if self.wait.is_randomized() && self.jitter_set {
            problems.push(
                "`decorrelated` carries its own randomness: `jitter` does not apply to it"
                    .to_owned(),
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(InvalidPolicy { problems })
        }
    }
}

#[allow(clippy::cast_possible_truncation)] // at most `MAX_ATTEMPTS_LIMIT`
const fn clamp_attempts(attempts: u32) -> u32 {
    if attempts == 0 {
        1
    } else if attempts > MAX_ATTEMPTS_LIMIT {
        MAX_ATTEMPTS_LIMIT
    } else {
        attempts
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("wait", &self.wait)
            .field("jitter", &self.jitter)
            .field("on", &self.on)
            .field("deadline", &self.deadline)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("max_retry_after", &self.max_retry_after)
            .finish_non_exhaustive()
    }
}

/// What [`RetryPolicy::validate`] found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidPolicy {
    problems: Vec<String>,
}

impl InvalidPolicy {
    /// Each problem, in words.
    #[must_use]
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
}

impl fmt::Display for InvalidPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid retry policy: {}", self.problems.join("; "))
    }
}

impl std::error::Error for InvalidPolicy {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_policy_is_configuration_not_live_counters() {
        // The counters (over 1 KiB, a cache line per thread shard) live elsewhere: beside a
        // `#[retry]` function's policy, or on the heap from a hand-built policy's first call.
        let size = std::mem::size_of::<RetryPolicy>();
        assert!(size <= 256, "RetryPolicy is {size} bytes");

        let policy = RetryPolicy::new().named("policy::tests::counted");
        policy.call(|| Ok::<_, std::io::Error>(())).unwrap();
        assert_eq!(policy.statistics().calls, 1);
        let copy = policy.clone();
        assert_eq!(copy.statistics().calls, 0, "a clone counts its own calls");
        assert_eq!(policy.statistics().calls, 1);
    }
}
