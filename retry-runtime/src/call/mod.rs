//! One logical call: runs attempts in their context, settles each failed one with the strategy,
//! and waits. `#[retry]` generates one loop over these methods for every function, sync or
//! async (see `__private`), and [`RetryPolicy::call`] runs the same loop:
//!
//! ```text
//! let mut call = Call::new(&POLICY, &COUNTERS);
//! loop {
//!     let outcome = call.run(|| body);            // `run_async(async { body }).await`
//!     match call.decide(outcome) {
//!         Step::Return(r) => return r,
//!         Step::Wait(d) => call.sleep(d),         // `sleep_async(d).await`
//!     }
//! }
//! ```
//!
//! A first try that succeeds pays for its context and one count. What only a call that failed
//! (or that someone watches) needs, the span, the backoff and its random numbers, attempt
//! durations, lives in [`CallState`], boxed and made the first time it is needed.

use core::fmt;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use tracing::field;

use crate::context::{self, AttemptCtx};
use crate::deadline::{self, RecentDurations};
use crate::observe::{self, emit, Event};
use crate::stats::{self, Counters};
use crate::strategy::{self, Before, Failure, Verdict};
use crate::wait::Backoff;
use crate::RetryPolicy;
use crate::{clock, testing, Classify, Elapsed, ErrorClass, GiveUpReason, RetryBudget};

mod attempt;
mod gate;
mod run;
mod shared;

#[cfg(feature = "tokio")]
pub use attempt::TimedAttempting;
pub use attempt::{Attempting, Sleeping};
pub use gate::{as_gate, token_cost, AsGate, NotAdmittedInto, TokenCost};
pub use shared::{as_breaker, as_budget, AsBreaker, AsBudget, CircuitOpenInto};

/// The result type of a retried function: `Result<T, E>`, under any alias.
#[diagnostic::on_unimplemented(
    message = "`#[retry]` functions must return `Result<T, E>`, not `{Self}`",
    label = "not a `Result`",
    note = "the runtime retries on `Err` and returns on `Ok`: return `Result<T, E>` with `E: retry_runtime::Classify`"
)]
pub trait RetryResult: Sized {
    /// The success type.
    type Ok;
    /// The error type.
    type Err;
    /// The error, if this is one.
    fn error(&self) -> Option<&Self::Err>;
    /// Wraps an error.
    fn from_err(error: Self::Err) -> Self;
}

impl<T, E> RetryResult for Result<T, E> {
    type Ok = T;
    type Err = E;

    #[inline]
    fn error(&self) -> Option<&E> {
        self.as_ref().err()
    }

    fn from_err(error: E) -> Self {
        Err(error)
    }
}

/// An error type that a timed-out attempt can be turned into.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot carry a timeout: `attempt_timeout` or `deadline` on an async fn needs `impl From<retry_runtime::Elapsed> for {Self}`",
    label = "needs `From<retry_runtime::Elapsed>`"
)]
pub trait TimeoutInto {
    /// The error of an attempt cut short.
    fn from_elapsed(elapsed: Elapsed) -> Self;
}

impl<E: From<Elapsed>> TimeoutInto for E {
    fn from_elapsed(elapsed: Elapsed) -> Self {
        E::from(elapsed)
    }
}

/// What to do after an attempt.
#[derive(Debug)]
pub enum Step<R> {
    /// Return this from the function.
    Return(R),
    /// Wait this long, then run the next attempt.
    Wait(Duration),
}

/// What a call needs only once an attempt failed, or once someone watches it.
struct CallState {
    /// The call's span: disabled unless INFO was on when it was made (at the first failure, or
    /// at the start when DEBUG is on).
    span: tracing::Span,
    /// Made at the first failure.
    backoff: Option<Backoff>,
    durations: RecentDurations,
    /// Why the attempt that just ended was cut short, if it was.
    cut: Option<Elapsed>,
    /// When the running retry began, under a deadline.
    attempt_started: Option<Instant>,
    /// The circuit breaker refused the attempt that just ended.
    refused: bool,
    /// The admission gate could not admit the attempt that just ended before the deadline.
    not_admitted: bool,
    /// The class of the latest failure, for `fallback_on`.
    last_class: Option<ErrorClass>,
}

impl CallState {
    fn new() -> Box<Self> {
        // `Box::default` builds the value in its allocation; `Box::new(CallState { .. })`
        // built it on the stack and copied its few hundred bytes over (64 of a retry's ~1,270
        // instructions under callgrind).
        Box::default()
    }
}

impl Default for CallState {
    fn default() -> Self {
        CallState {
            span: tracing::Span::none(),
            backoff: None,
            durations: RecentDurations::default(),
            cut: None,
            attempt_started: None,
            refused: false,
            not_admitted: false,
            last_class: None,
        }
    }
}

/// One logical call of a retried function.
pub struct Call<'p, R> {
    policy: &'p RetryPolicy,
    counters: &'p Counters,
    ctx: AttemptCtx,
    state: Option<Box<CallState>>,
    _result: PhantomData<fn() -> R>,
}

impl<R: RetryResult> Call<'static, R>
where
    R::Err: Classify,
{
    /// Starts a call of a `#[retry]` function: its `static` policy, and its counters, which
    /// appear in [`crate::statistics()`] under the policy's name.
    #[inline]
    pub fn new(policy: &'static RetryPolicy, counters: &'static Counters) -> Self {
        if !counters.is_registered() {
            stats::register(policy.name(), counters);
        }
        Self::counted_in(policy, counters)
    }
}

impl<'p, R: RetryResult> Call<'p, R>
where
    R::Err: Classify,
{
    /// Starts a call of a hand-built policy, counted in the policy's own counters (see
    /// [`RetryPolicy::statistics`]).
    pub(crate) fn borrowed(policy: &'p RetryPolicy) -> Self {
        Self::counted_in(policy, policy.counters())
    }

    /// Starts a call counted in `counters`. A call nested in another's attempt inherits its
    /// deadline when that is sooner than its own.
    #[inline]
    fn counted_in(policy: &'p RetryPolicy, counters: &'p Counters) -> Self {
        let mut ctx = AttemptCtx::new(policy.max_attempts_value());
        let inherited = context::with_current(AttemptCtx::deadline).flatten();
        if policy.deadline_value().is_some() || inherited.is_some() {
            let now = clock::now();
            if let Some(deadline) = deadline::of_call(policy.deadline_value(), inherited, now) {
                ctx.set_deadline(deadline, now);
            }
        }
        let state = tracing::level_enabled!(tracing::Level::DEBUG).then(|| traced(policy));
        Call {
            policy,
            counters,
            ctx,
            state,
            _result: PhantomData,
        }
    }

    /// The decision after an attempt: return its outcome, or wait and try again.
    #[inline]
    pub fn decide(&mut self, outcome: R) -> Step<R> {
        self.decide_drawing_on(outcome, None)
    }

    /// The one decision path, with or without a retry budget: a first attempt adds to the
    /// budget, and a first-try success returns at once, counted.
    #[inline]
    fn decide_drawing_on(&mut self, outcome: R, budget: Option<&RetryBudget>) -> Step<R> {
        if self.ctx.number() == 1 {
            if let Some(budget) = budget {
                budget.deposit();
            }
            if outcome.error().is_none() {
                observe::first_try_success(self.policy.name(), self.counters);
                return Step::Return(outcome);
            }
        }
        self.after_first_attempt(outcome, budget)
    }

    /// Any outcome but a first-try success: a success after retry, or a failure to settle.
    #[inline(never)]
    fn after_first_attempt(&mut self, outcome: R, budget: Option<&RetryBudget>) -> Step<R> {
        let first_failure = self.state.as_ref().is_none_or(|s| s.backoff.is_none());
        if first_failure {
            self.start_retrying();
        }
        let took = self.attempt_took();
        let Some(error) = outcome.error() else {
            let attempts = self.ctx.number();
            self.emit(Event::SucceededAfterRetry { attempts });
            return Step::Return(outcome);
        };
        let (failure, before) = self.record_failure(error, took);
        // An attempt refused before it was made says nothing of the provider's health.
        let made = !matches!(before, Before::Refused | Before::NotAdmitted);
        let counted = made.then_some(failure.class);
        self.emit(Event::Failed {
            first_failure,
            class: counted,
        });
        let verdict = self.verdict_on(failure, before, budget);
        let attempt = self.ctx.number();
        match verdict {
            Verdict::Retry { wait, reason, cap } => {
                self.emit(Event::Retrying {
                    attempt,
                    cap,
                    class: failure.class,
                    error,
                    wait,
                    why: reason,
                });
                self.ctx.next_attempt(cap);
                Step::Wait(wait)
            }
            Verdict::GiveUp { reason, cap } => {
                self.emit(Event::GaveUp {
                    attempt,
                    cap,
                    class: failure.class,
                    error,
                    hint: failure.hint,
                    reason,
                });
                self.tell_outer_call(reason);
                Step::Return(outcome)
            }
        }
    }

    /// How long the attempt that just ended took, when a deadline needs to know.
    fn attempt_took(&mut self) -> Option<Duration> {
        self.ctx.deadline()?;
        let started = if self.ctx.number() == 1 {
            self.ctx.started()
        } else {
            self.state_mut().attempt_started.take()
        };
        started.map(|started| clock::now().saturating_duration_since(started))
    }

    /// Notes a failed attempt: its class (a cut attempt is a `Timeout`), its hint, what stands
    /// before judging it, and its duration.
    fn record_failure(&mut self, error: &R::Err, took: Option<Duration>) -> (Failure, Before) {
        let inner_gave_up = self.ctx.take_inner_gave_up();
        let state = self.state_mut();
        if let Some(took) = took {
            state.durations.push(took);
        }
        let cut = state.cut.take();
        let before = if state.refused {
            Before::Refused
        } else if state.not_admitted {
            Before::NotAdmitted
        } else if cut.is_some_and(|elapsed| elapsed.is_deadline()) {
            Before::CutByDeadline
        } else {
            Before::Nothing
        };
        let class = if cut.is_some() {
            ErrorClass::Timeout
        } else {
            error.class()
        };
        state.last_class = Some(class);
        let hint = if cut.is_some() {
            None
        } else {
            error.retry_after()
        };
        let failure = Failure {
            class,
            hint,
            inner_gave_up,
        };
        (failure, before)
    }

    /// The verdict on a failed attempt, by the precedence of [`strategy::settle`].
    fn verdict_on(
        &mut self,
        failure: Failure,
        before: Before,
        budget: Option<&RetryBudget>,
    ) -> Verdict {
        let (policy, number, max_attempts) =
            (self.policy, self.ctx.number(), self.ctx.max_attempts());
        let deadline = self.ctx.deadline();
        let state = self.state.get_or_insert_with(CallState::new);
        let judged = || {
            let time = deadline.map(|d| deadline::time_left(d, clock::now(), &state.durations));
            let backoff = state.backoff.as_mut().expect("made at the first failure");
            strategy::judge(policy, number, failure, time, backoff)
        };
        let draw = || budget.is_none_or(RetryBudget::try_withdraw);
        strategy::settle(before, max_attempts, judged, draw)
    }

    /// Sleeps (blocking) before the next attempt.
    pub fn sleep(&mut self, wait: Duration) {
        clock::sleep_blocking(wait);
        self.emit(Event::Slept(wait));
    }

    /// At the first failure: the backoff (seeded when the policy or the test asks), the start
    /// of the call if nothing read it yet, and the span if INFO is on.
    #[cold]
    fn start_retrying(&mut self) {
        let policy = self.policy;
        let seed = policy
            .jitter_seed_value()
            .map(|seed| testing::mix(seed, self.counters.next_jitter_sequence()))
            .or_else(testing::next_seed);
        let backoff = Backoff::new(policy.wait_value(), policy.jitter_value(), seed);
        self.ctx.started_or(clock::now());
        let state = self.state_mut();
        state.backoff = Some(backoff);
        if state.span.is_none() && tracing::level_enabled!(tracing::Level::INFO) {
            state.span = span_of(policy);
        }
        if !state.span.is_disabled() {
            // Made here only for a span that shows it: a key costs a system random number.
            let key = self.ctx.key();
            self.state_mut()
                .span
                .record("idempotency_key", field::display(key));
        }
    }

    /// An inner call that gave up on an error it had retried tells the call it runs in, so that
    /// the outer one does not retry it again.
    fn tell_outer_call(&self, reason: GiveUpReason) {
        let retried = self.ctx.number() > 1 || !matches!(reason, GiveUpReason::Exhausted);
        if retried && reason != GiveUpReason::NotRetryable {
            context::with_current(AttemptCtx::note_inner_gave_up);
        }
    }

    fn emit(&self, event: Event<'_, R::Err>) {
        let span = self.state.as_ref().map_or(&DISABLED, |state| &state.span);
        emit(self.policy.name(), self.counters, span, event);
    }
}

impl<R> Drop for Call<'_, R> {
    /// Most calls never make their state: dropping one is then an inlined check. Without this,
    /// the drop glue of `Option<Box<CallState>>` was an out-of-line call on every first try
    /// (BENCHMARKS.md: 9 of a sync first try's 123 instructions, about 0.9 ns).
    #[inline]
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            drop_state(state);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_state(state: Box<CallState>) {
    drop(state);
}

/// The parent of a call's events before it has a span: none.
static DISABLED: tracing::Span = tracing::Span::none();

impl<R> Call<'_, R> {
    /// The boxed state, made the first time it is needed.
    fn state_mut(&mut self) -> &mut CallState {
        self.state.get_or_insert_with(CallState::new)
    }
}

/// The state of a call traced from its start (DEBUG is on): its span.
#[cold]
fn traced(policy: &RetryPolicy) -> Box<CallState> {
    let mut state = CallState::new();
    state.span = span_of(policy);
    state
}

fn span_of(policy: &RetryPolicy) -> tracing::Span {
    tracing::info_span!(
        "retry",
        function = policy.name(),
        idempotency_key = field::Empty
    )
}

impl<R> fmt::Debug for Call<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("policy", &self.policy.name())
            .field("attempt", &self.ctx.number())
            .field("deadline", &self.ctx.deadline())
            .finish_non_exhaustive()
    }
}
