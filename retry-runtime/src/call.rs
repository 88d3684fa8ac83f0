//! One logical call: runs attempts in their context, hands each outcome to the strategy, and
//! sleeps. `#[retry]` generates a loop over these methods (see `__private`), and
//! [`RetryPolicy::call`](crate::RetryPolicy::call) runs the same loop.

use core::fmt;
use std::future::{poll_fn, Future};
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::pin;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::SeedableRng;
use tracing::field;

use crate::context::{self, AttemptCtx};
use crate::strategy::{self, Failure, TimeLeft, Verdict};
use crate::wait::Backoff;
use crate::{clock, stats, testing, Classify, Elapsed, GiveUpReason, RetryPolicy};

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

/// State made at a call's first failure, so a first try that succeeds never pays for it.
struct Retrying {
    backoff: Backoff,
    durations: RecentDurations,
}

/// One logical call of a retried function.
pub struct Call<'p, R> {
    policy: &'p RetryPolicy,
    ctx: AttemptCtx,
    /// Dropped by hand, and only when enabled: a disabled span holds nothing to release, and its
    /// out-of-line drop would otherwise cost every first try.
    span: ManuallyDrop<tracing::Span>,
    /// Boxed: made only at a first failure, and kept out of the future of every first try.
    retrying: Option<Box<Retrying>>,
    attempt_started: Option<Instant>,
    /// How long the first attempt took, kept until the first failure makes `retrying`.
    first_duration: Option<Duration>,
    cut: Option<Elapsed>,
    _result: PhantomData<fn() -> R>,
}

impl<R: RetryResult> Call<'static, R>
where
    R::Err: Classify,
{
    /// Starts a call of a `static` policy, which appears in [`crate::statistics()`].
    #[inline]
    pub fn new(policy: &'static RetryPolicy) -> Self {
        if !policy.counters().is_registered() {
            stats::register(policy.name(), policy.counters());
        }
        Self::borrowed(policy)
    }
}

impl<'p, R: RetryResult> Call<'p, R>
where
    R::Err: Classify,
{
    /// Starts a call of any policy.
    #[inline(always)]
    pub fn borrowed(policy: &'p RetryPolicy) -> Self {
        let inherited = context::with_current(|outer| outer.deadline).flatten();
        let (deadline, started) = match (policy.deadline_value(), inherited) {
            (None, None) => (None, None),
            (own, inherited) => deadline_from(own, inherited),
        };
        Call {
            policy,
            ctx: AttemptCtx::new(policy.max_attempts_value(), deadline, started),
            span: ManuallyDrop::new(if tracing::level_enabled!(tracing::Level::INFO) {
                call_span(policy.name())
            } else {
                tracing::Span::none()
            }),
            retrying: None,
            attempt_started: None,
            first_duration: None,
            cut: None,
            _result: PhantomData,
        }
    }

    /// Runs one attempt of a sync body in the call's context.
    #[inline]
    pub fn run<F: FnOnce() -> R>(&mut self, attempt: F) -> R {
        self.begin_attempt();
        let outcome = {
            let _context = context::enter(&self.ctx);
            let _span = entered(&self.span);
            attempt()
        };
        self.end_attempt();
        outcome
    }

    /// Runs one attempt of an async body in the call's context (set at every poll).
    pub async fn run_async<F: Future<Output = R>>(&mut self, attempt: F) -> R {
        self.begin_attempt();
        let mut attempt = pin!(attempt);
        // Moved in as `&mut`: a shared borrow held across the await would need the context to be
        // `Sync`, and the future of a retried fn would stop being `Send`.
        let ctx = &mut self.ctx;
        let span = &self.span;
        let outcome = poll_fn(move |cx| {
            let _context = context::enter(ctx);
            let _span = entered(span);
            attempt.as_mut().poll(cx)
        })
        .await;
        self.end_attempt();
        outcome
    }

    /// Runs one attempt of an async body, cut at the smaller of `attempt_timeout` and the time
    /// left before the deadline.
    #[cfg(feature = "tokio")]
    pub async fn run_async_timed<F: Future<Output = R>>(&mut self, attempt: F) -> R
    where
        R::Err: TimeoutInto,
    {
        let Some((limit, elapsed)) = self.attempt_limit() else {
            return self.run_async(attempt).await;
        };
        if let Ok(outcome) = tokio::time::timeout(limit, self.run_async(attempt)).await {
            return outcome;
        }
        self.end_attempt();
        self.cut = Some(elapsed);
        R::from_err(R::Err::from_elapsed(elapsed))
    }

    /// Without the `tokio` feature there is no timer for async retries.
    #[cfg(not(feature = "tokio"))]
    pub async fn run_async_timed<F: Future<Output = R>>(&mut self, attempt: F) -> R
    where
        R::Err: TimeoutInto,
        R: crate::__private::TokioFeatureRequired,
    {
        self.run_async(attempt).await
    }

    /// The decision after an attempt: return its outcome, or wait and try again.
    #[inline]
    pub fn decide(&mut self, outcome: R) -> Step<R> {
        if self.ctx.number == 1 && outcome.error().is_none() {
            self.policy.counters().first_try_success();
            return Step::Return(outcome);
        }
        self.decide_after_failure(outcome)
    }

    /// Sleeps (blocking) before the next attempt.
    pub fn sleep(&mut self, wait: Duration) {
        clock::sleep_blocking(wait);
        self.policy.counters().slept(wait);
    }

    /// Waits on tokio's timer before the next attempt; a zero wait does not touch the timer.
    #[cfg(feature = "tokio")]
    pub async fn sleep_async(&mut self, wait: Duration) {
        clock::sleep_async(wait).await;
        self.policy.counters().slept(wait);
    }

    /// Without the `tokio` feature there is no timer for async retries.
    #[cfg(not(feature = "tokio"))]
    pub async fn sleep_async(&mut self, wait: Duration)
    where
        R: crate::__private::TokioFeatureRequired,
    {
        let _ = wait;
    }

    #[inline]
    fn begin_attempt(&mut self) {
        if self.ctx.deadline.is_some() {
            self.attempt_started = Some(clock::now());
        }
    }

    #[inline]
    fn end_attempt(&mut self) {
        if let Some(started) = self.attempt_started.take() {
            let took = clock::now().saturating_duration_since(started);
            if let Some(retrying) = &mut self.retrying {
                retrying.durations.push(took);
            } else {
                self.first_duration = Some(took);
            }
        }
    }

    #[cfg(feature = "tokio")]
    fn attempt_limit(&self) -> Option<(Duration, Elapsed)> {
        let timeout = self.policy.attempt_timeout_value();
        let remaining = self
            .ctx
            .deadline
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
    fn decide_after_failure(&mut self, outcome: R) -> Step<R> {
        let counters = self.policy.counters();
        let first_failure = self.retrying.is_none();
        let sequence = counters.attempt_after_first_failure(first_failure);
        let Some(error) = outcome.error() else {
            counters.success_after_retry();
            tracing::info!(
                parent: &*self.span,
                attempts = self.ctx.number,
                "succeeded after retry"
            );
            return Step::Return(outcome);
        };
        if first_failure {
            self.start_retrying(sequence);
        }
        let cut = self.cut.take();
        let class = if cut.is_some() {
            crate::ErrorClass::Timeout
        } else {
            error.class()
        };
        counters.failure(class);
        let failure = Failure {
            class,
            hint: if cut.is_some() {
                None
            } else {
                error.retry_after()
            },
            inner_gave_up: self.ctx.inner_gave_up.replace(false),
        };
        let Some(retrying) = self.retrying.as_mut() else {
            unreachable!("made above on the first failure")
        };
        let verdict = if cut.is_some_and(|elapsed| elapsed.is_deadline()) {
            Verdict::GiveUp {
                reason: GiveUpReason::Deadline,
                cap: self.ctx.max_attempts,
            }
        } else {
            let time = self.ctx.deadline.map(|deadline| TimeLeft {
                remaining: deadline.saturating_duration_since(clock::now()),
                typical_attempt: retrying.durations.median(),
            });
            strategy::judge(
                self.policy,
                self.ctx.number,
                failure,
                time,
                &mut retrying.backoff,
            )
        };
        match verdict {
            Verdict::Retry { wait, reason, cap } => {
                tracing::warn!(
                    parent: &*self.span,
                    attempt = self.ctx.number,
                    max_attempts = cap,
                    class = class.name(),
                    request_id = error.request_id(),
                    error = ?error,
                    delay = ?wait,
                    why = reason.as_str(),
                    "attempt failed; retrying"
                );
                self.ctx.number += 1;
                self.ctx.max_attempts = cap;
                Step::Wait(wait)
            }
            Verdict::GiveUp { reason, cap } => {
                counters.gave_up(reason);
                tracing::error!(
                    parent: &*self.span,
                    attempt = self.ctx.number,
                    max_attempts = cap,
                    class = class.name(),
                    request_id = error.request_id(),
                    error = ?error,
                    hint = ?failure.hint,
                    reason = reason.as_str(),
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
        let rng = seed.map_or_else(
            || SmallRng::from_rng(&mut rand::rng()),
            SmallRng::seed_from_u64,
        );
        let mut durations = RecentDurations::default();
        if let Some(first) = self.first_duration.take() {
            durations.push(first);
        }
        self.retrying = Some(Box::new(Retrying {
            backoff: Backoff::new(self.policy.wait_value(), self.policy.jitter_value(), rng),
            durations,
        }));
        self.ctx.started_or(clock::now());
        if !self.span.is_disabled() {
            self.span
                .record("idempotency_key", field::display(self.ctx.key()));
        }
    }

    /// An inner call that gave up on an error it had retried tells the call it runs in, so that
    /// the outer one does not retry it again.
    fn tell_outer_call(&self, reason: GiveUpReason) {
        let retried = self.ctx.number > 1 || !matches!(reason, GiveUpReason::Exhausted);
        if retried && reason != GiveUpReason::NotRetryable {
            context::with_current(|outer| outer.inner_gave_up.set(true));
        }
    }
}

/// The call's span, when INFO is enabled somewhere: out of line, so that the first-try path of a
/// process that does not trace pays one load for it.
#[inline(never)]
fn call_span(function: &'static str) -> tracing::Span {
    tracing::info_span!("retry", function, idempotency_key = field::Empty)
}

/// The deadline of a call that has its own or inherits one, and when it began.
#[cold]
#[inline(never)]
fn deadline_from(
    own: Option<Duration>,
    inherited: Option<Instant>,
) -> (Option<Instant>, Option<Instant>) {
    let now = clock::now();
    // A deadline past what `Instant` holds is no deadline worth the name: cap it at ~35,000 years.
    let own = own.map(|d| {
        now.checked_add(d)
            .unwrap_or(now + Duration::from_secs(1 << 40))
    });
    let deadline = match (own, inherited) {
        (Some(own), Some(inherited)) => Some(own.min(inherited)),
        (own, inherited) => own.or(inherited),
    };
    (deadline, Some(now))
}

impl<R> Drop for Call<'_, R> {
    #[inline]
    fn drop(&mut self) {
        if !self.span.is_disabled() {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.span) };
        }
    }
}

/// Enters `span` if it is enabled: entering a disabled one does nothing, through calls that
/// every first try would pay for.
#[inline]
fn entered(span: &tracing::Span) -> Option<tracing::span::Entered<'_>> {
    if span.is_disabled() {
        None
    } else {
        Some(span.enter())
    }
}

impl<R> fmt::Debug for Call<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("policy", &self.policy.name())
            .field("attempt", &self.ctx.number)
            .field("deadline", &self.ctx.deadline)
            .finish_non_exhaustive()
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
    pub fn call<T, E: Classify>(&self, mut op: impl FnMut() -> Result<T, E>) -> Result<T, E> {
        let mut call = Call::borrowed(self);
        loop {
            let outcome = call.run(&mut op);
            match call.decide(outcome) {
                Step::Return(result) => return result,
                Step::Wait(wait) => call.sleep(wait),
            }
        }
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
