//! A call's admission gate (`admission = EXPR`): each attempt, the first included, waits at it
//! for room, as long as the deadline allows, and tells it how it went.

use std::ops::Deref;
use std::time::Duration;

use super::{Call, RetryResult};
use crate::{clock, deadline, AdmissionGate, Admitted, Classify, ErrorClass, NotYet};

/// An error type that a refused admission can be reported as.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot report a refused admission: `admission` needs `impl From<retry_runtime::NotYet> for {Self}`",
    label = "needs `From<retry_runtime::NotYet>`"
)]
pub trait NotAdmittedInto {
    /// The error of an attempt the gate could not admit before the deadline.
    fn from_not_admitted(not_yet: NotYet) -> Self;
}

impl<E: From<NotYet>> NotAdmittedInto for E {
    fn from_not_admitted(not_yet: NotYet) -> Self {
        E::from(not_yet)
    }
}

/// What `admission = EXPR` may name: an [`AdmissionGate`], or anything that derefs to one (a
/// reference, the `Arc` of [`KeyedGates::for_key`](crate::KeyedGates::for_key)).
#[diagnostic::on_unimplemented(
    message = "`admission` takes a `retry_runtime::AdmissionGate` (or what derefs to one), not `{Self}`",
    label = "not an `AdmissionGate`",
    note = "for a gate per key, name `KEYED_GATES.for_key(key)`"
)]
pub trait AsGate {
    /// The gate.
    fn as_gate(&self) -> &AdmissionGate;
}

impl AsGate for AdmissionGate {
    fn as_gate(&self) -> &AdmissionGate {
        self
    }
}

impl<D: Deref<Target = AdmissionGate>> AsGate for D {
    fn as_gate(&self) -> &AdmissionGate {
        self
    }
}

/// The gate behind `admission = EXPR`.
#[inline]
pub fn as_gate<G: AsGate + ?Sized>(gate: &G) -> &AdmissionGate {
    gate.as_gate()
}

/// What `expected_tokens = EXPR` may be: an unsigned integer.
#[diagnostic::on_unimplemented(
    message = "`expected_tokens` takes an unsigned integer (`u64`, `u32`, `usize`), not `{Self}`",
    label = "not an unsigned integer"
)]
pub trait TokenCost {
    /// The count, as the gate takes it (saturated to `u64::MAX`).
    fn token_cost(self) -> u64;
}

macro_rules! token_cost_of_unsigned {
    ($($t:ty),*) => {$(
        impl TokenCost for $t {
            fn token_cost(self) -> u64 {
                u64::try_from(self).unwrap_or(u64::MAX)
            }
        }
    )*};
}

token_cost_of_unsigned!(u8, u16, u32, u64, usize, u128);

/// The count behind `expected_tokens = EXPR`.
#[inline]
pub fn token_cost<T: TokenCost>(tokens: T) -> u64 {
    tokens.token_cost()
}

/// The gate's answer, as the call takes it.
enum Asked<'g, R> {
    Admitted(Admitted<'g>),
    Wait(Duration),
    Refused(R),
}

impl<R: RetryResult> Call<'_, R>
where
    R::Err: Classify + NotAdmittedInto,
{
    /// Waits (blocking) at the gate until it admits the next attempt, expected to cost
    /// `tokens` (0 when not counted). When the deadline would come first, or the gate asks a
    /// longer wait than the policy's `max_retry_after`, the attempt is not made: the call gets
    /// the error built from [`NotYet`] at once, and gives up on it.
    pub fn pass_gate<'g>(
        &mut self,
        gate: &'g AdmissionGate,
        tokens: u64,
    ) -> Result<Admitted<'g>, R> {
        loop {
            match self.ask(gate, tokens) {
                Asked::Admitted(admitted) => return Ok(admitted),
                Asked::Wait(wait) => self.sleep(wait),
                Asked::Refused(refused) => return Err(refused),
            }
        }
    }

    /// [`pass_gate`](Self::pass_gate), waiting on tokio's timer.
    #[cfg(feature = "tokio")]
    pub async fn pass_gate_async<'g>(
        &mut self,
        gate: &'g AdmissionGate,
        tokens: u64,
    ) -> Result<Admitted<'g>, R> {
        loop {
            match self.ask(gate, tokens) {
                Asked::Admitted(admitted) => return Ok(admitted),
                Asked::Wait(wait) => self.sleep_async(wait).await,
                Asked::Refused(refused) => return Err(refused),
            }
        }
    }

    /// Without the `tokio` feature there is no timer for async waits.
    #[cfg(not(feature = "tokio"))]
    pub async fn pass_gate_async<'g>(
        &mut self,
        gate: &'g AdmissionGate,
        tokens: u64,
    ) -> Result<Admitted<'g>, R>
    where
        R: crate::__private::TokioFeatureRequired,
    {
        self.pass_gate(gate, tokens)
    }

    fn ask<'g>(&mut self, gate: &'g AdmissionGate, tokens: u64) -> Asked<'g, R> {
        match gate.try_admit(tokens) {
            Ok(admitted) => Asked::Admitted(admitted),
            Err(not_yet) => {
                let wait = not_yet.wait();
                // A wait longer than the policy takes from a server is refused as a hint is.
                let allowed = wait <= self.policy.max_retry_after_value()
                    && deadline::allows_wait(self.ctx.deadline(), clock::now(), wait);
                if allowed {
                    Asked::Wait(wait)
                } else {
                    self.state_mut().not_admitted = true;
                    Asked::Refused(R::from_err(R::Err::from_not_admitted(not_yet)))
                }
            }
        }
    }
}

impl<R: RetryResult> Call<'_, R>
where
    R::Err: Classify,
{
    /// Tells the gate how the attempt it admitted went: first the rate limits its response
    /// published ([`crate::report_rate_limits`]), then its outcome. A rate limit (a 429 the
    /// error classes as `RateLimit`), or an overload with a wait named, pauses the whole scope
    /// for that wait; an overload without one slows its learnt rate. Other failures, and an
    /// attempt the runtime cut (a `Timeout`), concern this call alone.
    pub fn leave_gate(&mut self, admitted: Admitted<'_>, outcome: &R) {
        if let Some(limits) = self.ctx.take_published() {
            admitted.gate().published(&limits);
        }
        let used_tokens = self.ctx.take_used_tokens();
        let Some(error) = outcome.error() else {
            admitted.succeeded(used_tokens);
            return;
        };
        let gate = admitted.gate();
        match (self.class_of_ended(error), error.retry_after()) {
            (ErrorClass::RateLimit, hint) => gate.rate_limited(hint),
            (ErrorClass::Overloaded, Some(hint)) => gate.rate_limited(Some(hint)),
            (ErrorClass::Overloaded, None) => gate.overloaded(),
            _ => {}
        }
        admitted.failed();
    }
}
