//! Room the scope's state lends to the gate's lock-free path: attempts (and tokens) that may
//! go with no look at the clock and no lock, because nothing but a signal can take that room
//! away. A cooldown only ends, a quota only refills and a probe only resolves as time passes;
//! so what may go now may go later, until the next signal, and every signal takes the unused
//! room back first. [`lend`] and [`reclaim`] are pure functions of (state, room, now), like
//! [`super::decide`]'s; [`Room`] is where the gate keeps what was lent.

use std::sync::atomic::{AtomicU64, Ordering};

use super::decide::{count_sent, Lent, Quota, ScopeState};

/// As good as no limit: room lent while the scope knows no limit. Far from overflowing when
/// added to.
pub(crate) const UNLIMITED: u64 = 1 << 62;

/// The room `state` may lend at `now`, taken out of its quotas (and recorded in `state.lent`).
/// Nothing while a cooldown, a probe or the learnt rate decides each attempt; nothing of a
/// quota unless `of_quotas` (a state the fleet shares lends none of them: the process that
/// took them would hold them from the others until its room expired).
pub(crate) fn lend(state: &mut ScopeState, now: u64, of_quotas: bool) {
    let published = state.requests.limits_at(now) || state.tokens.limits_at(now);
    let paced = state.rate.per_sec_milli > 0 && !published;
    let lent = if now < state.cooldown_until || state.probe.is_pending() || paced {
        Lent::NONE
    } else {
        let take = |quota: &mut Quota| {
            *quota = quota.at(now);
            if !quota.limits_at(now) {
                UNLIMITED
            } else if of_quotas {
                core::mem::take(&mut quota.remaining).min(UNLIMITED - 1)
            } else {
                0
            }
        };
        Lent {
            requests: take(&mut state.requests),
            tokens: take(&mut state.tokens),
        }
    };
    state.lent = lent;
}

/// Takes back the room `state` lent, of which `unused` is left: what came out of a quota goes
/// back into it, and what was used counts as sent at `now`.
pub(crate) fn reclaim(state: &mut ScopeState, unused: Lent, now: u64) {
    let lent = core::mem::take(&mut state.lent);
    let used = lent.requests.saturating_sub(unused.requests);
    if used > 0 {
        state.sent = count_sent(state.sent, now, used);
    }
    if lent.requests != UNLIMITED {
        state.requests.give_back(unused.requests);
    }
    if lent.tokens != UNLIMITED {
        state.tokens.give_back(unused.tokens);
    }
}

/// Where the gate keeps the room lent: an atomic (a `loom` one in the model checks).
pub(crate) trait RoomCell {
    /// Takes `n` if that much is left.
    fn take(&self, n: u64) -> bool;
    /// Takes all that is left.
    fn take_all(&self) -> u64;
    fn put(&self, n: u64);
}

/// Release and acquire: an attempt that gets room happens after the decision that lent it.
impl RoomCell for AtomicU64 {
    fn take(&self, n: u64) -> bool {
        self.fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
            left.checked_sub(n)
        })
        .is_ok()
    }

    fn take_all(&self) -> u64 {
        self.swap(0, Ordering::AcqRel)
    }

    fn put(&self, n: u64) {
        self.store(n, Ordering::Release);
    }
}

/// The room lent to the lock-free path: requests, and tokens.
#[derive(Debug, Default)]
pub(crate) struct Room<C> {
    pub(crate) requests: C,
    pub(crate) tokens: C,
}

/// What an attempt took of the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// A request's room and its tokens: it goes.
    All,
    /// A request's room but not its tokens: the request goes back to the state.
    RequestOnly,
    Nothing,
}

impl<C: RoomCell> Room<C> {
    /// The room for one attempt costing `tokens`.
    pub(crate) fn take(&self, tokens: u64) -> Taken {
        if !self.requests.take(1) {
            Taken::Nothing
        } else if tokens == 0 || self.tokens.take(tokens) {
            Taken::All
        } else {
            Taken::RequestOnly
        }
    }

    /// What is left of the room lent, taken back (with the request an attempt `returned`),
    /// for the next decision to reclaim.
    pub(crate) fn take_unused(&self, returned: u64) -> Lent {
        Lent {
            requests: self.requests.take_all() + returned,
            tokens: self.tokens.take_all(),
        }
    }

    /// Lends `lent` anew, once the state that lent it is kept.
    pub(crate) fn lend_out(&self, lent: Lent) {
        // Tokens first: an attempt that finds a request's room finds its tokens' too.
        self.tokens.put(lent.tokens);
        self.requests.put(lent.requests);
    }
}
