//! Where a scope's state lives: in the gate (this process), or in a store the fleet shares.
//!
//! Every decision reads the state, decides and writes it back as one atomic step. A shared
//! store may run the decision more than once, each time on a fresh copy (it lost a race to
//! another process and read the state again); the gate takes its lent room back once, before
//! the first run, and lends again once, after the store kept the last run's state.

use super::decide::ScopeState;

/// The gate's copy of its scope's state, behind its lock: the state itself for a gate of
/// this process, the last state read from (or written to) a shared store otherwise.
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // only a shared store syncs a copy
pub(crate) struct Cached {
    pub(crate) state: ScopeState,
    /// The shared state's version this copy is of (0: never read).
    pub(crate) version: u64,
    /// When it was read or written, on the gate's timeline (ms).
    pub(crate) synced_at: u64,
    /// The store's clock less the gate's, as of the last reply (ms): the store's time is
    /// the one every process decides on, so that a skewed host cannot end a cooldown early.
    pub(crate) offset: i64,
}

impl Cached {
    pub(crate) const UNHEARD: Cached = Cached {
        state: ScopeState::UNHEARD,
        version: 0,
        synced_at: 0,
        offset: 0,
    };

    /// The store's time, as this copy estimates it at `local_now`; never later than it is
    /// (the offset was measured when the reply left the store, before it arrived).
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn store_time(&self, local_now: u64) -> u64 {
        local_now.saturating_add_signed(self.offset)
    }
}

/// A store the fleet shares a scope's state through.
pub(crate) trait SharedScopes: Sync {
    /// How long room lent from a state read from the store lasts (ms).
    fn staleness_ms(&self) -> u64;

    /// One decision on `scope`'s shared state: `step` runs on a copy of it at the store's
    /// time (possibly more than once) and says whether the store must keep what it changed;
    /// `cached` becomes what was kept. When the store cannot answer in time, `step` runs once
    /// on `cached` itself, at the store's time as `cached` estimates it, and the gate goes on
    /// with that (`false`).
    fn update(
        &self,
        scope: &str,
        cached: &mut Cached,
        local_now: u64,
        step: &mut dyn FnMut(&mut ScopeState, u64) -> bool,
    ) -> bool;
}
