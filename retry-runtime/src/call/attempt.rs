//! The futures of an async call: one attempt polled in the call's context, one attempt cut at
//! its limit, and the wait before the next attempt.

use core::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::{Call, RetryResult, TimeoutInto};
#[cfg(feature = "tokio")]
use crate::{clock, deadline, Elapsed};
use crate::{context, Classify};

pin_project! {
    /// The future of one async attempt: polls the body with the call's context published (and
    /// its span entered, once it has one), so `attempt()` and nested calls see it on whatever
    /// thread polls.
    #[must_use = "futures do nothing unless polled"]
    pub struct Attempting<'c, 'p, R, F> {
        pub(super) call: &'c mut Call<'p, R>,
        #[pin]
        pub(super) attempt: F,
    }
}

impl<R, F: Future<Output = R>> Future for Attempting<'_, '_, R, F> {
    type Output = R;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<R> {
        let this = self.project();
        let call: &Call<'_, R> = this.call;
        let _span = call.state.as_ref().map(|state| state.span.enter());
        let _context = context::enter(&call.ctx);
        this.attempt.poll(cx)
    }
}

impl<R, F> fmt::Debug for Attempting<'_, '_, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attempting")
            .field("call", &self.call)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "tokio")]
pin_project! {
    /// The future of one async attempt cut at `attempt_timeout` or the deadline.
    #[must_use = "futures do nothing unless polled"]
    pub struct TimedAttempting<'c, 'p, R, F> {
        #[pin]
        attempting: Attempting<'c, 'p, R, F>,
        // Not boxed, unlike a retry's wait: every timed attempt has one, successful first
        // tries included, and those allocate nothing.
        #[pin]
        timer: Option<tokio::time::Sleep>,
        elapsed: Option<Elapsed>,
    }
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
        let mut this = self.project();
        if let Poll::Ready(outcome) = this.attempting.as_mut().poll(cx) {
            return Poll::Ready(outcome);
        }
        let (Some(timer), Some(elapsed)) = (this.timer.as_pin_mut(), *this.elapsed) else {
            return Poll::Pending;
        };
        if timer.poll(cx).is_pending() {
            return Poll::Pending;
        }
        this.attempting.project().call.state_mut().cut = Some(elapsed);
        Poll::Ready(R::from_err(R::Err::from_elapsed(elapsed)))
    }
}

#[cfg(feature = "tokio")]
impl<R, F> fmt::Debug for TimedAttempting<'_, '_, R, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimedAttempting")
            .field("attempting", &self.attempting)
            .field("limit", &self.elapsed)
            .finish_non_exhaustive()
    }
}

/// A tokio timer, boxed: it is large, and only retries need one, so it would otherwise widen
/// the future of every call for states that first tries never reach.
#[cfg(feature = "tokio")]
type Timer = Pin<Box<dyn Future<Output = ()> + Send>>;

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

impl<'p, R: RetryResult> Call<'p, R>
where
    R::Err: Classify,
{
    /// Runs one attempt of an async body in the call's context, published at every poll.
    #[inline]
    pub fn run_async<F: Future<Output = R>>(&mut self, attempt: F) -> Attempting<'_, 'p, R, F> {
        self.note_attempt_start();
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
        let limit = deadline::attempt_limit(
            self.policy.attempt_timeout_value(),
            self.ctx.deadline(),
            self.policy.deadline_value(),
            clock::now(),
        );
        self.ctx.set_limit(limit.map(|(limit, _)| limit));
        let (timer, elapsed) = match limit {
            Some((limit, elapsed)) => (Some(tokio::time::sleep(limit)), Some(elapsed)),
            None => (None, None),
        };
        TimedAttempting {
            attempting: self.run_async(attempt),
            timer,
            elapsed,
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

    /// Waits on tokio's timer before the next attempt; a zero wait does not touch the timer.
    #[cfg(feature = "tokio")]
    pub fn sleep_async(&mut self, wait: std::time::Duration) -> Sleeping {
        self.emit(crate::observe::Event::Slept(wait));
        let timer = clock::sleep_async(wait);
        Sleeping {
            timer: timer.map(|timer| -> Timer { Box::pin(timer) }),
        }
    }

    /// Without the `tokio` feature there is no timer for async retries.
    #[cfg(not(feature = "tokio"))]
    pub fn sleep_async(&mut self, wait: std::time::Duration) -> Sleeping
    where
        R: crate::__private::TokioFeatureRequired,
    {
        let _ = wait;
        Sleeping {}
    }
}
