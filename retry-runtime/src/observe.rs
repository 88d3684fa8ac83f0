//! What a call or a circuit breaker did, told to whoever watches: the function's statistics,
//! the `metrics` facade (feature `metrics`) and `tracing`. The call path emits an [`Event`],
//! a breaker a [`BreakerTransition`]; nothing is decided here, and this module is the one
//! place that knows the observers.

use std::time::Duration;

use crate::stats::Counters;
use crate::strategy::WaitReason;
use crate::summary::ErrorSummary;
use crate::{BreakerState, Classify, ErrorClass, GiveUpReason};

/// Something that happened to one call.
pub(crate) enum Event<'a, E: ?Sized> {
    /// A retry succeeded, after `attempts` attempts in all.
    SucceededAfterRetry { attempts: u32 },
    /// An attempt failed: `first_failure` when it is the call's first attempt (the call is
    /// now one that retries), `class` its class, `None` when the breaker refused it (it never
    /// reached the provider, and says nothing of its health).
    Failed {
        first_failure: bool,
        class: Option<ErrorClass>,
    },
    /// A failed attempt will be retried after `wait`.
    Retrying {
        attempt: u32,
        cap: u32,
        class: ErrorClass,
        error: &'a E,
        wait: Duration,
        why: WaitReason,
    },
    /// The call gave up with the error of its last attempt.
    GaveUp {
        attempt: u32,
        cap: u32,
        class: ErrorClass,
        error: &'a E,
        hint: Option<Duration>,
        reason: GiveUpReason,
    },
    /// The call waited before its next attempt.
    Slept(Duration),
    /// The call gave up and is handed to its fallback.
    FellBack {
        refused: bool,
        class: Option<ErrorClass>,
    },
}

/// Tells the observers that a call's first attempt succeeded: the one event of the common case,
/// kept apart from [`emit`] so that it inlines into every call (one count, one metric).
#[inline]
pub(crate) fn first_try_success(function: &'static str, counters: &Counters) {
    counters.first_try_success();
    #[cfg(feature = "metrics")]
    crate::metrics::first_try_success(function, &counters.first_try_key);
    #[cfg(not(feature = "metrics"))]
    let _ = function;
}

/// Tells the observers what happened to a call of `function` (the policy's name), counted in
/// `counters`; `span` is the call's span (disabled when it has none), the parent of its log
/// events.
pub(crate) fn emit<E: Classify + ?Sized>(
    function: &'static str,
    counters: &Counters,
    span: &tracing::Span,
    event: Event<'_, E>,
) {
    match event {
        Event::SucceededAfterRetry { attempts } => {
            later_attempt(function, counters, false);
            counters.success_after_retry();
            #[cfg(feature = "metrics")]
            crate::metrics::success_after_retry(function);
            tracing::info!(parent: span, attempts, "succeeded after retry");
        }
        Event::Failed {
            first_failure,
            class,
        } => {
            later_attempt(function, counters, first_failure);
            if let Some(class) = class {
                counters.failure(class);
                #[cfg(feature = "metrics")]
                crate::metrics::failure(function, class);
            }
        }
        Event::Retrying {
            attempt,
            cap,
            class,
            error,
            wait,
            why,
        } => {
            full_error(span, attempt, error);
            tracing::warn!(
                parent: span,
                function,
                attempt,
                max_attempts = cap,
                class = class.name(),
                status = error.status(),
                request_id = error.request_id(),
                delay = ?wait,
                why = why.as_str(),
                error = %ErrorSummary(error),
                "attempt failed; retrying"
            );
        }
        Event::GaveUp {
            attempt,
            cap,
            class,
            error,
            hint,
            reason,
        } => {
            full_error(span, attempt, error);
            counters.gave_up(reason);
            #[cfg(feature = "metrics")]
            crate::metrics::gave_up(function, reason);
            tracing::error!(
                parent: span,
                function,
                attempt,
                max_attempts = cap,
                class = class.name(),
                status = error.status(),
                request_id = error.request_id(),
                hint = ?hint,
                reason = reason.as_str(),
                error = %ErrorSummary(error),
                "giving up"
            );
        }
        Event::Slept(wait) => {
            counters.slept(wait);
            #[cfg(feature = "metrics")]
            crate::metrics::slept(function, wait);
        }
        Event::FellBack { refused, class } => {
            counters.fell_back();
            #[cfg(feature = "metrics")]
            crate::metrics::fell_back(function);
            tracing::warn!(
                parent: span,
                function,
                breaker_open = refused,
                class = class.map(ErrorClass::name),
                "gave up; falling back"
            );
        }
    }
}

/// Counts an attempt of a call whose first attempt failed (that first one included).
fn later_attempt(function: &'static str, counters: &Counters, first_failure: bool) {
    counters.attempt_after_first_failure(first_failure);
    #[cfg(feature = "metrics")]
    crate::metrics::attempt_after_first_failure(function, first_failure);
    #[cfg(not(feature = "metrics"))]
    let _ = function;
}

/// The whole error of a failed attempt, headers and body included, for those who ask (DEBUG),
/// before the one-line WARN or ERROR.
fn full_error<E: Classify + ?Sized>(span: &tracing::Span, attempt: u32, error: &E) {
    tracing::debug!(parent: span, attempt, error = ?error, "attempt failed");
}

/// A circuit breaker changed state, or was tripped or reset by hand.
pub(crate) struct BreakerTransition<'a> {
    pub(crate) breaker: &'static str,
    pub(crate) from: BreakerState,
    pub(crate) to: BreakerState,
    /// Why, in words; `None` for the usual cause of the new state.
    pub(crate) why: Option<&'a str>,
    /// Open: how long it stays open, after how many trips in a row.
    pub(crate) break_for: Duration,
    pub(crate) trips_in_a_row: u32,
    /// Half-open: how many probe calls it lets through.
    pub(crate) probes: u32,
}

/// Tells the observers of a breaker's transition: counted (a change that leaves the state as
/// it was, a trip of an open breaker or a reset of a closed one, is not) and logged.
pub(crate) fn breaker_transition(t: &BreakerTransition<'_>) {
    #[cfg(feature = "metrics")]
    crate::metrics::breaker_transition(t.breaker, t.from, t.to);
    match t.to {
        BreakerState::Open => tracing::warn!(
            breaker = t.breaker,
            from = t.from.as_str(),
            why = t.why.unwrap_or("a probe call failed"),
            break_for = ?t.break_for,
            trips_in_a_row = t.trips_in_a_row,
            "circuit breaker opened"
        ),
        BreakerState::HalfOpen => tracing::info!(
            breaker = t.breaker,
            from = t.from.as_str(),
            probes = t.probes,
            "circuit breaker half-open: letting probe calls through"
        ),
        BreakerState::Closed => tracing::info!(
            breaker = t.breaker,
            from = t.from.as_str(),
            why = t.why.unwrap_or("the probe calls succeeded"),
            "circuit breaker closed"
        ),
    }
}
