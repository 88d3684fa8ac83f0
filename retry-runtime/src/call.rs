//! One logical call: runs attempts in their context, hands each outcome to the strategy, and
//! sleeps. `#[retry]` generates a loop over these methods (see `__private`), and
//! [`RetryPolicy::call`](crate::RetryPolicy::call) runs the same loop.
//!
//! A first try that succeeds is the common case, and it pays only for what it cannot do
//! without: the attempt context (so `attempt()` and nested calls work), a level check for the
//! span, and one per-thread count. Everything else (the span when tracing is on, the backoff
//! and its random numbers, attempt durations, a cut attempt's error) lives in [`Slow`], boxed
//! and made the first time something needs it.

use core::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tracing::field;

use crate::context::{self, AttemptCtx};
use crate::strategy::{self, Failure, TimeLeft, Verdict};
use crate::summary::ErrorSummary;
use crate::wait::Backoff;
use crate::{
    clock, stats, testing, Classify, Elapsed, ErrorClass, GiveUpReason, RetryBudget, RetryPolicy,
};

mod shared;
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

/// What a call needs only once something goes wrong, or once someone watches: boxed, so that a
/// first try neither builds it nor carries it in its future.
struct Slow {
    /// The call's span; disabled unless INFO was enabled when the call began.
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
    /// The class of the latest failure, for `fallback_on`.
    last_class: Option<ErrorClass>,
}

impl Slow {
    /// Before a sync attempt: notes when it began, and enters the span if it shows.
    #[inline]
    fn begin_attempt(&mut self, ctx: &AttemptCtx) -> Option<tracing::span::Entered<'_>> {
        self.note_attempt_start(ctx);
        if self.span.is_disabled() {
            None
        } else {
            Some(self.span.enter())
        }
    }

    /// Notes when a retry began, under a deadline (which needs attempt durations). The first
    /// attempt began when the call did. A retry always has this state: its first failure made it.
    #[inline]
    fn note_attempt_start(&mut self, ctx: &AttemptCtx) {
        if ctx.deadline().is_some() && ctx.number() > 1 {
            self.attempt_started = Some(clock::now());
        }
    }

    fn new() -> Box<Self> {
        // Written straight into the allocation: `Box::new` builds the value on the stack first
        // and copies its few hundred bytes over, which showed as a tenth of a retry's cost.
        let mut slow = Box::<Slow>::new_uninit();
        slow.write(Slow {
            span: tracing::Span::none(),
            backoff: None,
            durations: RecentDurations::default(),
            cut: None,
            attempt_started: None,
            refused: false,
            last_class: None,
        });
        // SAFETY: written just above.
        unsafe { slow.assume_init() }
    }
}

/// One logical call of a retried function.
pub struct Call<'p, R> {
    policy: &'p RetryPolicy,
    ctx: AttemptCtx,
    slow: LazySlow,
    _result: PhantomData<fn() -> R>,
}

/// The boxed state of a call, if it was made. Its drop is one inlined test: the drop glue of a
/// plain `Option<Box<Slow>>` is a call out of line, which every first try would pay for.
struct LazySlow(ManuallyDrop<Option<Box<Slow>>>);

impl Drop for LazySlow {
    #[inline]
    fn drop(&mut self) {
        if self.0.is_some() {
            self.drop_slow();
        }
    }
}

impl LazySlow {
    #[cold]
    #[inline(never)]
    fn drop_slow(&mut self) {
        // SAFETY: called once, from `drop`; the field is never used again.
        unsafe { ManuallyDrop::drop(&mut self.0) }
    }

    #[inline]
    fn get(&self) -> Option<&Slow> {
        self.0.as_deref()
    }

    #[inline]
    fn none() -> Self {
        LazySlow(ManuallyDrop::new(None))
    }

    #[inline]
    fn get_mut(&mut self) -> Option<&mut Slow> {
        self.0.as_deref_mut()
    }

    fn get_or_make(&mut self) -> &mut Slow {
        self.0.get_or_insert_with(Slow::new)
    }
}

impl<R: RetryResult> Call<'static, R>
where
    R::Err: Classify,
{
    /// Starts a call of a `static` policy, which appears in [`crate::statistics()`].
    #[inline(always)]
    pub fn new(policy: &'static RetryPolicy) -> Self {
        Self::begin(policy, static_starts_plain(policy), start_registered)
    }

    /// Runs a sync body until the policy returns: what `#[retry]` makes of a sync fn without a
    /// circuit breaker, budget or fallback.
    ///
    /// The first attempt runs here, inline, with nothing but its context; all that follows a
    /// failure, and every call that starts with more (a deadline, a span, an outer call), runs
    /// out of line. A first try then costs mostly the stores it makes: the context's one word,
    /// its publication and restoration, and one count.
    #[inline(always)]
    pub fn run_static<F: FnMut() -> R>(policy: &'static RetryPolicy, attempt: F) -> R {
        Self::run_to_end(
            policy,
            static_starts_plain(policy),
            start_registered,
            attempt,
        )
    }
}

/// How a call starts when it cannot start plain: out of line, and different for a `static`
/// policy (which registers itself) and a borrowed one.
type Start<'p> = fn(&'p RetryPolicy) -> (AttemptCtx, LazySlow);

impl<'p, R: RetryResult> Call<'p, R>
where
    R::Err: Classify,
{
    /// Starts a call of any policy.
    #[inline(always)]
    pub fn borrowed(policy: &'p RetryPolicy) -> Self {
        Self::begin(policy, borrowed_starts_plain(policy), start)
    }

    /// Runs a sync body until the policy returns, as [`run_static`](Call::run_static) does for
    /// a policy that is not `static`: the loop of [`RetryPolicy::call`].
    #[inline(always)]
    pub fn run_borrowed<F: FnMut() -> R>(policy: &'p RetryPolicy, attempt: F) -> R {
        Self::run_to_end(policy, borrowed_starts_plain(policy), start, attempt)
    }

    #[inline(always)]
    fn begin(policy: &'p RetryPolicy, starts_plain: bool, start: Start<'p>) -> Self {
        if starts_plain {
            return Self::plain(policy);
        }
        Self::from_parts(policy, start(policy))
    }

    #[inline(always)]
    fn run_to_end<F: FnMut() -> R>(
        policy: &'p RetryPolicy,
        starts_plain: bool,
        start: Start<'p>,
        attempt: F,
    ) -> R {
        if starts_plain {
            return Self::run_first(policy, attempt);
        }
        Self::run_started(policy, start, attempt)
    }

    #[inline(never)]
    fn run_started<F: FnMut() -> R>(policy: &'p RetryPolicy, start: Start<'p>, attempt: F) -> R {
        Self::from_parts(policy, start(policy)).run_rest(None, attempt)
    }

    /// A plain call's first attempt, and the rest out of line if it fails. The context is a
    /// local of its own, not yet part of a `Call`: the call's other fields are written only if
    /// the attempt fails.
    #[inline(always)]
    fn run_first<F: FnMut() -> R>(policy: &'p RetryPolicy, mut attempt: F) -> R {
        let ctx = AttemptCtx::new(policy.max_attempts_narrow());
        let outcome = {
            let _context = context::enter(&ctx);
            attempt()
        };
        if outcome.error().is_none() {
            policy.counters().first_try_success();
            #[cfg(feature = "metrics")]
            crate::metrics::first_try_success(policy);
            return outcome;
        }
        Self::from_parts(policy, (ctx, LazySlow::none())).run_rest(Some(outcome), attempt)
    }

    /// The loop after a plain first attempt failed (`first`), or of a call that did not start
    /// plain (`None`: its first attempt runs here too).
    #[inline(never)]
    fn run_rest<F: FnMut() -> R>(mut self, first: Option<R>, mut attempt: F) -> R {
        let mut outcome = match first {
            Some(outcome) => outcome,
            None => self.run(&mut attempt),
        };
        loop {
            match self.decide(outcome) {
                Step::Return(result) => return result,
                Step::Wait(wait) => self.sleep(wait),
            }
            outcome = self.run(&mut attempt);
        }
    }

    /// The common start: the context of a first attempt, and nothing else.
    #[inline(always)]
    fn plain(policy: &'p RetryPolicy) -> Self {
        Self::from_parts(
            policy,
            (
                AttemptCtx::new(policy.max_attempts_narrow()),
                LazySlow::none(),
            ),
        )
    }

    #[inline(always)]
    fn from_parts(policy: &'p RetryPolicy, (ctx, slow): (AttemptCtx, LazySlow)) -> Self {
        Call {
            policy,
            ctx,
            slow,
            _result: PhantomData,
        }
    }

    /// Runs one attempt of a sync body in the call's context.
    #[inline]
    pub fn run<F: FnOnce() -> R>(&mut self, attempt: F) -> R {
        if self.slow.get().is_some() {
            return self.run_with_state(attempt);
        }
        let _context = context::enter(&self.ctx);
        attempt()
    }

    /// A sync attempt of a call that has its boxed state: a retry, or a traced call. Out of line
    /// (and generic, so called directly, not through an import): the calls it makes would
    /// otherwise have their addresses loaded ahead of every call's loop.
    #[inline(never)]
    fn run_with_state<F: FnOnce() -> R>(&mut self, attempt: F) -> R {
        let _span = self
            .slow
            .get_mut()
            .and_then(|slow| slow.begin_attempt(&self.ctx));
        let _context = context::enter(&self.ctx);
        attempt()
    }

    /// Runs one attempt of an async body in the call's context, published at every poll.
    #[inline]
    pub fn run_async<F: Future<Output = R>>(&mut self, attempt: F) -> Attempting<'_, 'p, R, F> {
        if let Some(slow) = self.slow.get_mut() {
            slow.note_attempt_start(&self.ctx);
        }
        Attempting {
            call: self,
            attempt,
        }
    }

    /// Runs one attempt of an async body, cut at the smaller of `attempt_timeout` and the time
    /// left before the deadline.
    #[cfg(feature = "tokio")]
    pub fn run_async_timed<F: Future<Output = R>>(
        &mut self,
        attempt: F,
    ) -> TimedAttempting<'_, 'p, R, F>
    where
        R::Err: TimeoutInto,
    {
        let limit = self
            .attempt_limit()
            .map(|(limit, elapsed)| (tokio::time::sleep(limit), elapsed));
        TimedAttempting {
            attempting: self.run_async(attempt),
            limit,
        }
    }

    /// Without the `tokio` feature there is no timer for async retries.
    #[cfg(not(feature = "tokio"))]
    pub fn run_async_timed<F: Future<Output = R>>(&mut self, attempt: F) -> Attempting<'_, 'p, R, F>
    where
        R::Err: TimeoutInto,
        R: crate::__private::TokioFeatureRequired,
    {
        self.run_async(attempt)
    }

    /// The decision after an attempt: return its outcome, or wait and try again.
    #[inline]
    pub fn decide(&mut self, outcome: R) -> Step<R> {
        self.decide_drawing_on(outcome, None)
    }

    /// The one decision path, with or without a retry budget: a first attempt adds to the
    /// budget, and a first-try success returns at once, counted.
    #[inline(always)]
    fn decide_drawing_on(&mut self, outcome: R, budget: Option<&RetryBudget>) -> Step<R> {
        if self.ctx.number() == 1 {
            if let Some(budget) = budget {
                budget.deposit();
            }
            if outcome.error().is_none() {
                self.policy.counters().first_try_success();
                #[cfg(feature = "metrics")]
                crate::metrics::first_try_success(self.policy);
                return Step::Return(outcome);
            }
        }
        self.decide_after_failure(outcome, budget)
    }

    /// Sleeps (blocking) before the next attempt.
    #[inline(never)]
    pub fn sleep(&mut self, wait: Duration) {
        clock::sleep_blocking(wait);
        self.policy.counters().slept(wait);
        #[cfg(feature = "metrics")]
        crate::metrics::slept(self.policy, wait);
    }

    /// Waits on tokio's timer before the next attempt; a zero wait does not touch the timer.
    #[cfg(feature = "tokio")]
    pub fn sleep_async(&mut self, wait: Duration) -> Sleeping {
        self.policy.counters().slept(wait);
        #[cfg(feature = "metrics")]
        crate::metrics::slept(self.policy, wait);
        let timer = clock::sleep_async(wait);
        Sleeping {
            timer: timer.map(|timer| -> Timer { Box::pin(timer) }),
        }
    }

    /// Without the `tokio` feature there is no timer for async retries.
    #[cfg(not(feature = "tokio"))]
    pub fn sleep_async(&mut self, wait: Duration) -> Sleeping
    where
        R: crate::__private::TokioFeatureRequired,
    {
        let _ = wait;
        Sleeping {}
    }

    #[cfg(feature = "tokio")]
    fn attempt_limit(&self) -> Option<(Duration, Elapsed)> {
        let timeout = self.policy.attempt_timeout_value();
        let remaining = self
            .ctx
            .deadline()
            .map(|deadline| deadline.saturating_duration_since(clock::now()));
        let by_timeout = timeout.map(|timeout| (timeout, Elapsed::attempt_timeout(timeout)));
        let by_deadline = remaining.map(|left| {
            let whole = self.policy.deadline_value().unwrap_or(left);
            (left, Elapsed::deadline(whole))
        });
        match (by_timeout, by_deadline) {
            (Some(timeout), Some(deadline)) => Some(if timeout.0 < deadline.0 {
                timeout
            } else {
                deadline
            }),
            (timeout, deadline) => timeout.or(deadline),
        }
    }

    #[cold]
    #[inline(never)]
    fn decide_after_failure(&mut self, outcome: R, budget: Option<&RetryBudget>) -> Step<R> {
        let counters = self.policy.counters();
        let started = if self.ctx.number() == 1 {
            self.ctx.started()
        } else {
            self.slow().attempt_started.take()
        };
        let took = self
            .ctx
            .deadline()
            .and(started)
            .map(|started| clock::now().saturating_duration_since(started));
        let first_failure = self.slow.get().is_none_or(|slow| slow.backoff.is_none());
        let sequence = counters.attempt_after_first_failure(first_failure);
        #[cfg(feature = "metrics")]
        crate::metrics::attempt_after_first_failure(self.policy, first_failure);
        let Some(error) = outcome.error() else {
            counters.success_after_retry();
            #[cfg(feature = "metrics")]
            crate::metrics::success_after_retry(self.policy);
            if let Some(slow) = self.slow.get() {
                tracing::info!(
                    parent: &slow.span,
                    attempts = self.ctx.number(),
                    "succeeded after retry"
                );
            }
            return Step::Return(outcome);
        };
        if first_failure {
            self.start_retrying(sequence);
        }
        let number = self.ctx.number();
        let max_attempts = self.ctx.max_attempts();
        let deadline = self.ctx.deadline();
        let inner_gave_up = self.ctx.take_inner_gave_up();
        let policy = self.policy;
        let slow = self.slow();
        if let Some(took) = took {
            slow.durations.push(took);
        }
        let cut = slow.cut.take();
        let refused = slow.refused;
        let class = if cut.is_some() {
            ErrorClass::Timeout
        } else {
            error.class()
        };
        slow.last_class = Some(class);
        // A refused attempt never reached the provider: it says nothing of its health.
        if !refused {
            counters.failure(class);
            #[cfg(feature = "metrics")]
            crate::metrics::failure(policy, class);
        }
        let failure = Failure {
            class,
            hint: if cut.is_some() {
                None
            } else {
                error.retry_after()
            },
            inner_gave_up,
        };
        let verdict = if refused {
            Verdict::GiveUp {
                reason: GiveUpReason::CircuitOpen,
                cap: max_attempts,
            }
        } else if cut.is_some_and(|elapsed| elapsed.is_deadline()) {
            Verdict::GiveUp {
                reason: GiveUpReason::Deadline,
                cap: max_attempts,
            }
        } else {
            let time = deadline.map(|deadline| TimeLeft {
                remaining: deadline.saturating_duration_since(clock::now()),
                typical_attempt: slow.durations.median(),
            });
            let Some(backoff) = slow.backoff.as_mut() else {
                unreachable!("made above on the first failure")
            };
            match strategy::judge(policy, number, failure, time, backoff) {
                Verdict::Retry { cap, .. } if budget.is_some_and(|b| !b.try_withdraw()) => {
                    Verdict::GiveUp {
                        reason: GiveUpReason::BudgetSpent,
                        cap,
                    }
                }
                verdict => verdict,
            }
        };
        // The whole error, headers and bodies included, only for those who ask; the WARN or
        // ERROR line below has its one-line summary.
        tracing::debug!(parent: &slow.span, attempt = number, error = ?error, "attempt failed");
        match verdict {
            Verdict::Retry { wait, reason, cap } => {
                tracing::warn!(
                    parent: &slow.span,
                    function = policy.name(),
                    attempt = number,
                    max_attempts = cap,
                    class = class.name(),
                    status = error.status(),
                    request_id = error.request_id(),
                    delay = ?wait,
                    why = reason.as_str(),
                    error = %ErrorSummary(error),
                    "attempt failed; retrying"
                );
                self.ctx.next_attempt(cap);
                Step::Wait(wait)
            }
            Verdict::GiveUp { reason, cap } => {
                counters.gave_up(reason);
                #[cfg(feature = "metrics")]
                crate::metrics::gave_up(policy, reason);
                tracing::error!(
                    parent: &slow.span,
                    function = policy.name(),
                    attempt = number,
                    max_attempts = cap,
                    class = class.name(),
                    status = error.status(),
                    request_id = error.request_id(),
                    hint = ?failure.hint,
                    reason = reason.as_str(),
                    error = %ErrorSummary(error),
                    "giving up"
                );
                self.tell_outer_call(reason);
                Step::Return(outcome)
            }
        }
    }

    #[cold]
    fn start_retrying(&mut self, sequence: u64) {
        let seed = self
            .policy
            .jitter_seed_value()
            .map(|seed| testing::mix(seed, sequence))
            .or_else(testing::next_seed);
        let rng = seed.map_or_else(crate::wait::fresh_rng, SmallRng::seed_from_u64);
        let backoff = Backoff::new(self.policy.wait_value(), self.policy.jitter_value(), rng);
        self.ctx.started_or(clock::now());
        let slow = self.slow.get_or_make();
        slow.backoff = Some(backoff);
        if !slow.span.is_disabled() {
            // Made here only for a span that shows it: a key costs a system random number.
            slow.span
                .record("idempotency_key", field::display(self.ctx.key()));
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
}

impl<R> Call<'_, R> {
    /// The boxed state, made the first time it is needed.
    fn slow(&mut self) -> &mut Slow {
        self.slow.get_or_make()
    }
}

/// Whether a call may start with nothing but its context: it is not nested in another (whose
/// deadline it would inherit), and INFO is off (no span to make).
#[inline(always)]
fn plain_start_possible() -> bool {
    !context::is_nested() && !tracing::level_enabled!(tracing::Level::INFO)
}

/// Whether a call of a `static` policy may start plain: one flag says both "registered" and "no
/// deadline of its own".
#[inline(always)]
fn static_starts_plain(policy: &RetryPolicy) -> bool {
    policy.counters().may_start_fast() && plain_start_possible()
}

/// Whether a call of a policy that is not registered may start plain.
#[inline(always)]
fn borrowed_starts_plain(policy: &RetryPolicy) -> bool {
    policy.deadline_value().is_none() && plain_start_possible()
}

/// The start of a call of a `static` policy that is not yet registered, has a deadline, is
/// nested or is traced.
#[cold]
#[inline(never)]
fn start_registered(policy: &'static RetryPolicy) -> (AttemptCtx, LazySlow) {
    let counters = policy.counters();
    if !counters.is_registered() {
        stats::register(policy.name(), counters);
    }
    if policy.deadline_value().is_none() {
        counters.allow_fast_start();
    }
    start(policy)
}

/// The start of a call that has a deadline (its own or inherited), or a span.
#[cold]
#[inline(never)]
fn start(policy: &RetryPolicy) -> (AttemptCtx, LazySlow) {
    let mut ctx = AttemptCtx::new(policy.max_attempts_narrow());
    let inherited = context::with_current(AttemptCtx::deadline).flatten();
    if policy.deadline_value().is_some() || inherited.is_some() {
        let (deadline, started) = deadline_from(policy.deadline_value(), inherited);
        ctx.set_deadline(deadline, started);
    }
    let slow = if tracing::level_enabled!(tracing::Level::INFO) {
        start_span(policy.name())
    } else {
        None
    };
    (ctx, LazySlow(ManuallyDrop::new(slow)))
}

/// The deadline of a call that has its own or inherits one (at least one of the two), and when
/// the call began.
fn deadline_from(own: Option<Duration>, inherited: Option<Instant>) -> (Instant, Instant) {
    let now = clock::now();
    // A deadline past what `Instant` holds is no deadline worth the name: cap it at ~35,000
    // years.
    let own = own.map(|d| {
        now.checked_add(d)
            .unwrap_or(now + Duration::from_secs(1 << 40))
    });
    let deadline = match (own, inherited) {
        (Some(own), Some(inherited)) => own.min(inherited),
        (own, inherited) => own.or(inherited).unwrap_or(now),
    };
    (deadline, now)
}

/// The call's span, when INFO is enabled somewhere.
fn start_span(function: &'static str) -> Option<Box<Slow>> {
    let span = tracing::info_span!("retry", function, idempotency_key = field::Empty);
    if span.is_disabled() {
        return None;
    }
    let mut slow = Slow::new();
    slow.span = span;
    Some(slow)
}

/// Enters the call's span if it has an enabled one: entering a disabled span does nothing,
/// through calls that every first try would pay for.
#[inline]
fn entered(slow: Option<&Slow>) -> Option<tracing::span::Entered<'_>> {
    match slow {
        Some(slow) if !slow.span.is_disabled() => Some(slow.span.enter()),
        _ => None,
    }
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

/// The future of one async attempt: polls the body with the call's context published (and its
/// span entered), so `attempt()` and nested calls see it on whatever thread polls.
///
/// Written by hand rather than as an `async fn`: it adds one pointer to the body's future,
/// where an `async fn` state machine would add its own bookkeeping to every call's future.
#[must_use = "futures do nothing unless polled"]
pub struct Attempting<'c, 'p, R, F> {
    call: &'c mut Call<'p, R>,
    attempt: F,
}

impl<R, F: Future<Output = R>> Future for Attempting<'_, '_, R, F> {
    type Output = R;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        // SAFETY: `attempt` is pinned structurally: it is never moved out of `self`, only
        // polled in place, and `Attempting` has no `Drop` impl or `Unpin` impl of its own (it is
        // `Unpin` only when `F` is). `call` is a plain reference and is not pinned.
        let this = unsafe { self.get_unchecked_mut() };
        if this.call.slow.get().is_some() {
            // SAFETY: `this` is the pinned `Attempting`, as `poll_with_state` requires.
            return unsafe { this.poll_with_state(cx) };
        }
        let _context = context::enter(&this.call.ctx);
        // SAFETY: see above.
        unsafe { Pin::new_unchecked(&mut this.attempt) }.poll(cx)
    }
}

impl<R, F: Future<Output = R>> Attempting<'_, '_, R, F> {
    /// A poll of a call that has its boxed state (a retry, or a traced call), which enters the
    /// span if it shows. Out of line for the reason `Call::run_with_state` is.
    ///
    /// # Safety
    /// `self` must be pinned (it is the `Attempting` that `poll` was given).
    #[inline(never)]
    unsafe fn poll_with_state(&mut self, cx: &mut Context<'_>) -> Poll<R> {
        let _span = entered(self.call.slow.get());
        let _context = context::enter(&self.call.ctx);
        // SAFETY: `self` is pinned (the caller's promise) and `attempt` is pinned structurally
        // (see `poll`); it is polled in place.
        unsafe { Pin::new_unchecked(&mut self.attempt) }.poll(cx)
    }
}

impl<R, F> fmt::Debug for Attempting<'_, '_, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempting")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

/// A tokio timer, boxed: it is large, and only retries and timed attempts need one, so it would
/// otherwise widen the future of every call for states that first tries never reach.
#[cfg(feature = "tokio")]
type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

/// The timer that cuts a timed attempt, and the error it stands for. Not boxed, unlike a
/// retry's wait: every timed attempt has one, successful first tries included, and those
/// allocate nothing.
#[cfg(feature = "tokio")]
type Limit = (tokio::time::Sleep, Elapsed);

/// The wait before the next attempt of an async call.
#[must_use = "futures do nothing unless polled"]
pub struct Sleeping {
    /// `None` for a wait that needs no timer: zero, or recorded on a test clock.
    #[cfg(feature = "tokio")]
    timer: Option<Timer>,
}

impl Future for Sleeping {
    type Output = ();

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        #[cfg(feature = "tokio")]
        if let Some(timer) = &mut self.get_mut().timer {
            return timer.as_mut().poll(cx);
        }
        let _ = cx;
        Poll::Ready(())
    }
}

impl fmt::Debug for Sleeping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sleeping").finish_non_exhaustive()
    }
}

/// The future of one async attempt cut at `attempt_timeout` or the deadline.
#[cfg(feature = "tokio")]
#[must_use = "futures do nothing unless polled"]
pub struct TimedAttempting<'c, 'p, R, F> {
    attempting: Attempting<'c, 'p, R, F>,
    limit: Option<Limit>,
}

#[cfg(feature = "tokio")]
impl<R, F> Future for TimedAttempting<'_, '_, R, F>
where
    R: RetryResult,
    R::Err: TimeoutInto,
    F: Future<Output = R>,
{
    type Output = R;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        // SAFETY: `attempting` and the timer in `limit` are pinned structurally, as in
        // `Attempting::poll`: polled in place, never moved out, no `Drop` or `Unpin` impl here.
        // `limit` is never reassigned while it holds a timer.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: see above.
        let attempting = unsafe { Pin::new_unchecked(&mut this.attempting) };
        if let Poll::Ready(outcome) = attempting.poll(cx) {
            return Poll::Ready(outcome);
        }
        let Some((timer, elapsed)) = &mut this.limit else {
            return Poll::Pending;
        };
        // SAFETY: see above.
        if unsafe { Pin::new_unchecked(timer) }.poll(cx).is_pending() {
            return Poll::Pending;
        }
        let elapsed = *elapsed;
        let call = &mut *this.attempting.call;
        call.slow().cut = Some(elapsed);
        Poll::Ready(R::from_err(R::Err::from_elapsed(elapsed)))
    }
}

#[cfg(feature = "tokio")]
impl<R, F> fmt::Debug for TimedAttempting<'_, '_, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedAttempting")
            .field("attempting", &self.attempting)
            .field("limit", &self.limit.as_ref().map(|(_, elapsed)| elapsed))
            .finish()
    }
}

/// The durations of a call's latest attempts, for the median that predicts the next one.
#[derive(Default)]
struct RecentDurations {
    latest: [Duration; 8],
    len: usize,
    next: usize,
}

impl RecentDurations {
    fn push(&mut self, took: Duration) {
        self.latest[self.next] = took;
        self.next = (self.next + 1) % self.latest.len();
        self.len = (self.len + 1).min(self.latest.len());
    }

    fn median(&self) -> Duration {
        let mut sorted = self.latest;
        let sorted = &mut sorted[..self.len];
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
}

// ===== the loop without the macro =====

impl RetryPolicy {
    /// Calls `op` until it succeeds or the policy gives up, sleeping (blocking the thread)
    /// between attempts. The same loop `#[retry]` generates for a sync fn.
    ///
    /// ```
    /// use retry_runtime::{testing, RetryPolicy};
    ///
    /// let policy = RetryPolicy::new().max_attempts(4);
    /// let _clock = testing::record_sleeps(); // no real sleeping in this example
    /// let mut calls = 0;
    /// let result = policy.call(|| {
    ///     calls += 1;
    ///     if calls < 3 { Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)) } else { Ok(calls) }
    /// });
    /// assert_eq!(result.unwrap(), 3);
    /// ```
    pub fn call<T, E: Classify>(&self, op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
        Call::run_borrowed(self, op)
    }

    /// Calls `op` and awaits its future until it succeeds or the policy gives up, waiting on
    /// tokio's timer between attempts. Attempts are not cut short here (the deadline bounds the
    /// waits and decides whether another attempt starts); use
    /// [`call_async_timed`](Self::call_async_timed) to have `attempt_timeout` and the deadline
    /// cut a running attempt.
    ///
    /// ```
    /// use retry_runtime::RetryPolicy;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::new();
    /// let reply = policy.call_async(|| async { Ok::<_, std::io::Error>("pong") }).await;
    /// assert_eq!(reply.unwrap(), "pong");
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn call_async<T, E, F, Fut>(&self, mut op: F) -> Result<T, E>
    where
        E: Classify,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut call = Call::borrowed(self);
        loop {
            let outcome = call.run_async(op()).await;
            match call.decide(outcome) {
                Step::Return(result) => return result,
                Step::Wait(wait) => call.sleep_async(wait).await,
            }
        }
    }

    /// Like [`call_async`](Self::call_async), and each attempt is cut at the smaller of
    /// `attempt_timeout` and the time left before the deadline; the cut attempt's error is built
    /// from [`Elapsed`](crate::Elapsed).
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::RetryPolicy;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let policy = RetryPolicy::new().attempt_timeout(Duration::from_secs(1));
    /// let slow = policy
    ///     .call_async_timed(|| async {
    ///         tokio::time::sleep(Duration::from_secs(5)).await;
    ///         Ok::<_, std::io::Error>(())
    ///     })
    ///     .await;
    /// assert_eq!(slow.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    /// # }
    /// ```
    #[cfg(feature = "tokio")]
    pub async fn call_async_timed<T, E, F, Fut>(&self, mut op: F) -> Result<T, E>
    where
        E: Classify + From<crate::Elapsed>,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut call = Call::borrowed(self);
        loop {
            let outcome = call.run_async_timed(op()).await;
            match call.decide(outcome) {
                Step::Return(result) => return result,
                Step::Wait(wait) => call.sleep_async(wait).await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_recent_durations() {
        let mut recent = RecentDurations::default();
        assert_eq!(recent.median(), Duration::ZERO);
        for ms in [30, 10, 20] {
            recent.push(Duration::from_millis(ms));
        }
        assert_eq!(recent.median(), Duration::from_millis(20));
        for _ in 0..8 {
            recent.push(Duration::from_millis(5));
        }
        assert_eq!(
            recent.median(),
            Duration::from_millis(5),
            "only the latest eight count"
        );
    }
}
