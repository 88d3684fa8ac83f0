//! Metrics on the [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): what the
//! runtime counts per function in [`Statistics`](crate::Statistics), and what its circuit
//! breakers do, sent to whatever recorder the program installs (Prometheus through
//! `metrics-exporter-prometheus`, StatsD, OpenTelemetry, ...). Without a recorder they cost next
//! to nothing and go nowhere.
//!
//! | name | type | labels | meaning |
//! | --- | --- | --- | --- |
//! | [`retry_calls_total`](CALLS) | counter | `function`, `outcome`, `reason` (gave up only) | finished calls: `outcome` is `first_try_success`, `success_after_retry` or `gave_up`; `reason` is [`GiveUpReason::as_str`] |
//! | [`retry_retries_total`](RETRIES) | counter | `function` | attempts after the first (attempts in all = calls + retries) |
//! | [`retry_failures_total`](FAILURES) | counter | `function`, `class` | failed attempts, by [`ErrorClass::name`] (not those an open breaker refused) |
//! | [`retry_sleep_seconds`](SLEEP) | histogram | `function` | each wait between two attempts, in seconds |
//! | [`retry_fallbacks_total`](FALLBACKS) | counter | `function` | calls that gave up and were handed to their `fallback` (a part of `outcome="gave_up"`) |
//! | [`retry_breaker_state`](BREAKER_STATE) | gauge | `breaker` | 0 closed, 1 open, 2 half-open, as of the breaker's latest transition |
//! | [`retry_breaker_transitions_total`](BREAKER_TRANSITIONS) | counter | `breaker`, `from`, `to` | transitions (`closed`, `open`, `half-open`) |
//!
//! `function` is the policy's name: the function's path under `#[retry]`
//! (`my_crate::client::complete`), else what
//! [`RetryPolicy::named`](crate::RetryPolicy::named) set. `breaker` is the [`CircuitBreaker`]'s
//! name.
//!
//! The retry rate is `retries / calls` and the success-after-retry rate is
//! `calls{outcome="success_after_retry"} / calls{outcome!="first_try_success"}`: over the same
//! finished calls, the values of [`Statistics::retry_rate`](crate::Statistics::retry_rate) and
//! [`Statistics::success_after_retry_rate`](crate::Statistics::success_after_retry_rate).
//! A retry budget that refuses a retry ends its call with `outcome="gave_up"`,
//! `reason="budget_spent"`; an open breaker with `reason="circuit_open"`.
//!
//! # Cost
//! The first-try-success path adds one counter increment: one call out of line, a look-up of
//! the recorder (thread-local, then global), and the recorder's own look-up of the counter by
//! its key. The key (name and labels) is made once per function, at its first first-try
//! success, and kept beside its counters, so a first try allocates nothing and hashes nothing. Measured on a
//! 2-core VM: about 3 ns more per first try with no recorder installed (the increment is a
//! no-op), about 80 ns more with `metrics-exporter-prometheus`'s recorder. Failures, waits
//! and give-ups build their keys when they happen (one small allocation each), on paths that
//! already format a log event. Breakers emit only at transitions: their closed path is
//! unchanged. Without the feature, none of this is compiled.
//!
//! ```
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use retry_runtime::{metrics::CALLS, RetryPolicy};
//!
//! static POLICY: RetryPolicy = RetryPolicy::new().named("fetch_profile");
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     POLICY.call(|| Ok::<_, std::io::Error>("profile")).unwrap();
//! });
//! let (key, _, _, value) = snapshotter.snapshot().into_vec().pop().unwrap();
//! assert_eq!(key.key().name(), CALLS);
//! let labels: Vec<_> = key.key().labels().map(|l| (l.key(), l.value())).collect();
//! assert_eq!(labels, [("function", "fetch_profile"), ("outcome", "first_try_success")]);
//! assert_eq!(value, DebugValue::Counter(1));
//! ```

use std::ptr;
use std::sync::OnceLock;
use std::time::Duration;

use ::metrics::{Key, Label, Level, Metadata, Unit};

use crate::{BreakerState, CircuitBreaker, ErrorClass, GiveUpReason};

/// `retry_calls_total`, a counter of finished calls, by `function` and `outcome`
/// (`first_try_success`, `success_after_retry`, `gave_up`), with the give-up `reason`.
pub const CALLS: &str = "retry_calls_total";
/// `retry_retries_total`, a counter of attempts after the first, by `function`.
pub const RETRIES: &str = "retry_retries_total";
/// `retry_failures_total`, a counter of failed attempts, by `function` and error `class`.
pub const FAILURES: &str = "retry_failures_total";
/// `retry_sleep_seconds`, a histogram of the waits between attempts, by `function`.
pub const SLEEP: &str = "retry_sleep_seconds";
/// `retry_fallbacks_total`, a counter of calls handed to their fallback, by `function`.
pub const FALLBACKS: &str = "retry_fallbacks_total";
/// `retry_breaker_state`, a gauge per `breaker`: 0 closed, 1 open, 2 half-open.
pub const BREAKER_STATE: &str = "retry_breaker_state";
/// `retry_breaker_transitions_total`, a counter of breaker transitions, by `breaker`, `from`
/// and `to`.
pub const BREAKER_TRANSITIONS: &str = "retry_breaker_transitions_total";

/// Gives the installed recorder each metric's unit and help text (the `# HELP` lines of a
/// Prometheus scrape). Call it once, after installing the recorder; the metrics work without it.
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
///
/// let recorder = DebuggingRecorder::new();
/// metrics::with_local_recorder(&recorder, retry_runtime::metrics::describe);
/// ```
pub fn describe() {
    ::metrics::describe_counter!(
        CALLS,
        Unit::Count,
        "Finished calls of retried functions, by outcome (first_try_success, success_after_retry, gave_up) and give-up reason"
    );
    ::metrics::describe_counter!(
        RETRIES,
        Unit::Count,
        "Attempts after the first: attempts in all are calls plus retries"
    );
    ::metrics::describe_counter!(
        FAILURES,
        Unit::Count,
        "Failed attempts of retried functions, by error class"
    );
    ::metrics::describe_histogram!(
        SLEEP,
        Unit::Seconds,
        "Each wait between two attempts of a retried function"
    );
    ::metrics::describe_counter!(
        FALLBACKS,
        Unit::Count,
        "Calls that gave up and were handed to their fallback"
    );
    ::metrics::describe_gauge!(
        BREAKER_STATE,
        "Circuit breaker state as of its latest transition: 0 closed, 1 open, 2 half-open"
    );
    ::metrics::describe_counter!(
        BREAKER_TRANSITIONS,
        Unit::Count,
        "Circuit breaker transitions, by from and to state"
    );
}

/// Sets the [`retry_breaker_state`](BREAKER_STATE) gauge of `breaker` to its state now. The
/// breaker sets it at each transition; call this at start-up so that a breaker that never left
/// `closed` shows too (or periodically, so that an open breaker whose break is over reads
/// half-open before its next call).
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use retry_runtime::CircuitBreaker;
///
/// static OPENAI: CircuitBreaker = CircuitBreaker::new().named("openai");
///
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || retry_runtime::metrics::record_breaker(&OPENAI));
/// let (key, _, _, value) = snapshotter.snapshot().into_vec().pop().unwrap();
/// assert_eq!(key.key().name(), "retry_breaker_state");
/// assert_eq!(value, DebugValue::Gauge(0.0.into())); // closed
/// ```
pub fn record_breaker(breaker: &CircuitBreaker) {
    ::metrics::gauge!(BREAKER_STATE, "breaker" => breaker.name()).set(gauge_value(breaker.state()));
}

/// The gauge's value for a state.
const fn gauge_value(state: BreakerState) -> f64 {
    match state {
        BreakerState::Closed => 0.0,
        BreakerState::Open => 1.0,
        BreakerState::HalfOpen => 2.0,
    }
}

// ===== emission points, called by the runtime =====

/// Where the runtime's metrics come from, for the recorder (as `counter!` would set it).
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// The key of a function's first-try-success count, made at the first one and kept beside its
/// counters, so that later first tries neither allocate nor hash. It remembers the name it was
/// made with: a hand-built policy renamed after use gets a key made for each call.
pub(crate) struct FirstTryKey(OnceLock<(&'static str, Key)>);

impl FirstTryKey {
    pub(crate) const fn new() -> Self {
        FirstTryKey(OnceLock::new())
    }
}

/// A call's first attempt succeeded.
pub(crate) fn first_try_success(function: &'static str, key: &FirstTryKey) {
    let (made_for, key) = key
        .0
        .get_or_init(|| (function, outcome_key(function, "first_try_success")));
    if ptr::eq(*made_for, function) || *made_for == function {
        ::metrics::with_recorder(|recorder| recorder.register_counter(key, &METADATA).increment(1));
    } else {
        ::metrics::with_recorder(|recorder| {
            recorder
                .register_counter(&outcome_key(function, "first_try_success"), &METADATA)
                .increment(1);
        });
    }
}

fn outcome_key(function: &'static str, outcome: &'static str) -> Key {
    Key::from_parts(
        CALLS,
        vec![
            Label::from_static_parts("function", function),
            Label::from_static_parts("outcome", outcome),
        ],
    )
}

/// An attempt of a call whose first attempt failed ended: a retry, unless it is that first one.
pub(crate) fn attempt_after_first_failure(function: &'static str, first_failure: bool) {
    if !first_failure {
        ::metrics::counter!(RETRIES, "function" => function).increment(1);
    }
}

/// A retry succeeded.
pub(crate) fn success_after_retry(function: &'static str) {
    ::metrics::counter!(CALLS, "function" => function, "outcome" => "success_after_retry")
        .increment(1);
}

/// An attempt failed with an error of `class`.
pub(crate) fn failure(function: &'static str, class: ErrorClass) {
    ::metrics::counter!(FAILURES, "function" => function, "class" => class.name()).increment(1);
}

/// The call gave up.
pub(crate) fn gave_up(function: &'static str, reason: GiveUpReason) {
    ::metrics::counter!(
        CALLS,
        "function" => function,
        "outcome" => "gave_up",
        "reason" => reason.as_str()
    )
    .increment(1);
}

/// The call waits `wait` before its next attempt.
pub(crate) fn slept(function: &'static str, wait: Duration) {
    ::metrics::histogram!(SLEEP, "function" => function).record(wait.as_secs_f64());
}

/// The call gave up and goes to its fallback.
pub(crate) fn fell_back(function: &'static str) {
    ::metrics::counter!(FALLBACKS, "function" => function).increment(1);
}

/// The breaker named `breaker` went from `from` to `to`.
pub(crate) fn breaker_transition(breaker: &'static str, from: BreakerState, to: BreakerState) {
    if from == to {
        // `reset()` of a closed breaker, `trip()` of an open one: no transition to count.
        return;
    }
    ::metrics::counter!(
        BREAKER_TRANSITIONS,
        "breaker" => breaker,
        "from" => from.as_str(),
        "to" => to.as_str()
    )
    .increment(1);
    ::metrics::gauge!(BREAKER_STATE, "breaker" => breaker).set(gauge_value(to));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RetryPolicy;
    use retry_test_capture::{labels, Metric, Value};

    /// Every metric recorded on this thread while `f` ran.
    fn recorded(f: impl FnOnce()) -> Vec<Metric> {
        retry_test_capture::metrics(f).1
    }

    #[test]
    fn the_first_try_key_is_made_once_and_follows_a_rename() {
        let policy = RetryPolicy::new().named("metrics::tests::before");
        let seen = recorded(|| {
            for _ in 0..3 {
                policy.call(|| Ok::<_, std::io::Error>(())).unwrap();
            }
        });
        let made = policy
            .counters()
            .first_try_key
            .0
            .get()
            .map(|(name, _)| *name);
        assert_eq!(made, Some("metrics::tests::before"));
        let outcome = labels(&[
            ("function", "metrics::tests::before"),
            ("outcome", "first_try_success"),
        ]);
        assert_eq!(seen, [(CALLS.to_owned(), outcome, Value::Counter(3))]);

        // A policy renamed after use: its key was made for the old name.
        let policy = policy.named("metrics::tests::after");
        let seen = recorded(|| policy.call(|| Ok::<_, std::io::Error>(())).unwrap());
        let outcome = labels(&[
            ("function", "metrics::tests::after"),
            ("outcome", "first_try_success"),
        ]);
        assert_eq!(seen, [(CALLS.to_owned(), outcome, Value::Counter(1))]);
    }

    #[test]
    fn breaker_transitions_set_the_gauge() {
        let seen = recorded(|| {
            use BreakerState::{Closed, HalfOpen, Open};
            // A reset of a closed breaker, a trip of an open one: not transitions.
            breaker_transition("b", Closed, Closed);
            breaker_transition("b", Open, Open);
            breaker_transition("b", Closed, Open);
            breaker_transition("b", Open, HalfOpen);
        });
        assert_eq!(
            seen,
            [
                (
                    BREAKER_STATE.to_owned(),
                    labels(&[("breaker", "b")]),
                    Value::Gauge(2.0)
                ),
                (
                    BREAKER_TRANSITIONS.to_owned(),
                    labels(&[("breaker", "b"), ("from", "closed"), ("to", "open")]),
                    Value::Counter(1)
                ),
                (
                    BREAKER_TRANSITIONS.to_owned(),
                    labels(&[("breaker", "b"), ("from", "open"), ("to", "half-open")]),
                    Value::Counter(1)
                ),
            ]
        );
    }

    #[test]
    fn without_a_recorder_nothing_happens() {
        let policy = RetryPolicy::new().named("metrics::tests::unrecorded");
        policy.call(|| Ok::<_, std::io::Error>(())).unwrap();
        assert_eq!(policy.statistics().first_try_successes, 1);
    }
}
