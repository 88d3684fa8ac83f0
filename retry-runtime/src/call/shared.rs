//! A call's shared state and fallback: a circuit breaker that each attempt passes, a retry
//! budget that each retry draws on, and the fallback a call is handed to when it gives up.
//! `#[retry]` generates calls to these only for the keys it was given, so a function without
//! them pays nothing for them.

use std::future::Future;
use std::ops::Deref;

use super::{Attempting, Call, RetryResult, Step};
use crate::observe::Event;
use crate::{context, BreakerPermit, CircuitBreaker, CircuitOpen, Classify, RetryBudget};

/// An error type that an open circuit breaker can be reported as.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot report an open circuit: `circuit_breaker` needs `impl From<retry_runtime::CircuitOpen> for {Self}`",
    label = "needs `From<retry_runtime::CircuitOpen>`"
)]
pub trait CircuitOpenInto {
    /// The error of an attempt the breaker refused.
    fn from_open(open: CircuitOpen) -> Self;
}

impl<E: From<CircuitOpen>> CircuitOpenInto for E {
    fn from_open(open: CircuitOpen) -> Self {
        E::from(open)
    }
}

/// What `circuit_breaker = EXPR` may name: a [`CircuitBreaker`], or anything that derefs to
/// one (a reference, an `Arc`, a guard).
pub trait AsBreaker {
    /// The breaker.
    fn as_breaker(&self) -> &CircuitBreaker;
}

impl AsBreaker for CircuitBreaker {
    fn as_breaker(&self) -> &CircuitBreaker {
        self
    }
}

impl<D: Deref<Target = CircuitBreaker>> AsBreaker for D {
    fn as_breaker(&self) -> &CircuitBreaker {
        self
    }
}

/// What `budget = EXPR` may name: a [`RetryBudget`], or anything that derefs to one.
pub trait AsBudget {
    /// The budget.
    fn as_budget(&self) -> &RetryBudget;
}

impl AsBudget for RetryBudget {
    fn as_budget(&self) -> &RetryBudget {
        self
    }
}

impl<D: Deref<Target = RetryBudget>> AsBudget for D {
    fn as_budget(&self) -> &RetryBudget {
        self
    }
}

/// The breaker behind `circuit_breaker = EXPR`.
#[inline]
pub fn as_breaker<B: AsBreaker + ?Sized>(breaker: &B) -> &CircuitBreaker {
    breaker.as_breaker()
}

/// The budget behind `budget = EXPR`.
#[inline]
pub fn as_budget<B: AsBudget + ?Sized>(budget: &B) -> &RetryBudget {
    budget.as_budget()
}

impl<'p, R: RetryResult> Call<'p, R>
where
    R::Err: Classify,
{
    /// Asks the breaker to let the next attempt through. When it is open the attempt is not
    /// made: the call gets the error built from [`CircuitOpen`], and gives up on it.
    #[inline]
    pub fn admit<'b>(&mut self, breaker: &'b CircuitBreaker) -> Result<BreakerPermit<'b>, R>
    where
        R::Err: CircuitOpenInto,
    {
        match breaker.try_acquire() {
            Ok(permit) => Ok(permit),
            Err(open) => Err(self.refused(open)),
        }
    }

    #[cold]
    #[inline(never)]
    fn refused(&mut self, open: CircuitOpen) -> R
    where
        R::Err: CircuitOpenInto,
    {
        self.state_mut().refused = true;
        R::from_err(R::Err::from_open(open))
    }

    /// Tells the breaker how the attempt it let through went.
    #[inline]
    pub fn settle(&mut self, permit: BreakerPermit<'_>, outcome: &R) {
        match outcome.error() {
            None => permit.success(),
            Some(error) => permit.failure(self.class_of_ended(error)),
        }
    }

    /// The class of the attempt that just ended with `error`: `Timeout` if the runtime cut it,
    /// else the error's own. What the breaker counts and what the gate hears.
    pub(super) fn class_of_ended(&self, error: &R::Err) -> crate::ErrorClass {
        if self.state.as_ref().is_some_and(|state| state.cut.is_some()) {
            crate::ErrorClass::Timeout
        } else {
            error.class()
        }
    }

    /// [`decide`](Self::decide), with a retry budget: every call's first attempt adds to it, and
    /// every retry must draw from it; a spent budget gives up at once with the last error.
    #[inline]
    pub fn decide_budgeted(&mut self, outcome: R, budget: &RetryBudget) -> Step<R> {
        self.decide_drawing_on(outcome, Some(budget))
    }

    /// Whether the outcome the call gave up with goes to its fallback: an open breaker or a
    /// closed admission gate always does, another error when its class is in the policy's
    /// `fallback_on`.
    pub fn falls_back(&mut self, outcome: &R) -> bool {
        if outcome.error().is_none() {
            return false;
        }
        let policy = self.policy;
        self.state.as_ref().is_some_and(|state| {
            state.refused
                || state.not_admitted
                || state.last_class.is_some_and(|c| policy.falls_back_on(c))
        })
    }

    /// Hands the call to its fallback, run in this call's context so that a retried fallback
    /// inherits its deadline.
    pub fn fall_back<F: FnOnce() -> R>(&mut self, fallback: F) -> R {
        self.falling_back();
        let _context = context::enter(&self.ctx);
        fallback()
    }

    /// Hands an async call to its fallback, polled in this call's context so that a retried
    /// fallback inherits its deadline.
    pub fn fall_back_async<F: Future<Output = R>>(
        &mut self,
        fallback: F,
    ) -> Attempting<'_, 'p, R, F> {
        self.falling_back();
        Attempting {
            call: self,
            attempt: fallback,
        }
    }

    #[cold]
    fn falling_back(&mut self) {
        let state = self.state_mut();
        let (refused, class) = (state.refused, state.last_class);
        self.emit(Event::FellBack { refused, class });
    }
}
