//! Running attempts: a sync attempt in the call's context, and the loops of [`RetryPolicy`]'s
//! own `call` methods, the same loop `#[retry]` generates.

#[cfg(feature = "tokio")]
use std::future::Future;

use super::{Call, RetryResult, Step};
use crate::{clock, context, AdmissionGate, Classify, NotYet, RetryPolicy};

impl<R: RetryResult> Call<'_, R>
where
    R::Err: Classify,
{
    /// Runs one attempt of a sync body in the call's context (and its span, once it has one).
    #[inline]
    pub fn run<F: FnOnce() -> R>(&mut self, attempt: F) -> R {
        self.note_attempt_start();
        let _span = self.state.as_ref().map(|state| state.span.enter());
        let _context = context::enter(&self.ctx);
        attempt()
    }

    /// Notes when a retry began, under a deadline (which needs attempt durations). The first
    /// attempt began when the call did.
    #[inline]
    pub(super) fn note_attempt_start(&mut self) {
        if self.ctx.number() > 1 && self.ctx.deadline().is_some() {
            self.state_mut().attempt_started = Some(clock::now());
        }
    }
}

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
        Fut: Future<Output = Result<T, E>>,
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
        Fut: Future<Output = Result<T, E>>,
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

    /// [`call`](Self::call) through an admission gate: every attempt, the first included,
    /// waits at `gate` for room (as long as the deadline allows) and tells it how it went, as
    /// `#[retry(admission = ...)]` does. A call the gate cannot admit in time gets the error
    /// built from [`NotYet`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing, AdmissionGate, Classify, ErrorClass, NotYet, RetryPolicy};
    ///
    /// #[derive(Debug)]
    /// enum Error { Busy, NotAdmitted }
    /// impl Classify for Error {
    ///     fn class(&self) -> ErrorClass { ErrorClass::RateLimit }
    ///     fn retry_after(&self) -> Option<Duration> { Some(Duration::from_secs(30)) }
    /// }
    /// impl From<NotYet> for Error {
    ///     fn from(_: NotYet) -> Self { Error::NotAdmitted }
    /// }
    ///
    /// static GATE: AdmissionGate = AdmissionGate::new();
    /// let _clock = testing::record_sleeps();
    /// let once = RetryPolicy::new().max_attempts(1);
    /// assert!(matches!(once.call_gated(&GATE, || Err::<(), _>(Error::Busy)), Err(Error::Busy)));
    /// // The 429 paused the scope for 30 s: a call with 5 s to live is not made.
    /// let hurried = once.deadline(Duration::from_secs(5));
    /// let refused = hurried.call_gated(&GATE, || Ok::<_, Error>(()));
    /// assert!(matches!(refused, Err(Error::NotAdmitted)));
    /// ```
    pub fn call_gated<T, E>(
        &self,
        gate: &AdmissionGate,
        mut op: impl FnMut() -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: Classify + From<NotYet>,
    {
        let mut call = Call::borrowed(self);
        loop {
            let outcome = match call.pass_gate(gate, 0) {
                Ok(admitted) => {
                    let outcome = call.run(&mut op);
                    call.leave_gate(admitted, &outcome);
                    outcome
                }
                Err(not_admitted) => not_admitted,
            };
            match call.decide(outcome) {
                Step::Return(result) => return result,
                Step::Wait(wait) => call.sleep(wait),
            }
        }
    }

    /// [`call_async`](Self::call_async) through an admission gate (see
    /// [`call_gated`](Self::call_gated)), waiting on tokio's timer.
    #[cfg(feature = "tokio")]
    pub async fn call_async_gated<T, E, F, Fut>(
        &self,
        gate: &AdmissionGate,
        mut op: F,
    ) -> Result<T, E>
    where
        E: Classify + From<NotYet>,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut call = Call::borrowed(self);
        loop {
            let outcome = match call.pass_gate_async(gate, 0).await {
                Ok(admitted) => {
                    let outcome = call.run_async(op()).await;
                    call.leave_gate(admitted, &outcome);
                    outcome
                }
                Err(not_admitted) => not_admitted,
            };
            match call.decide(outcome) {
                Step::Return(result) => return result,
                Step::Wait(wait) => call.sleep_async(wait).await,
            }
        }
    }
}
