//! The admission gate: one per provider scope (a provider, a model or deployment, an API key or
//! a tenant), in front of every attempt, first ones included. It paces attempts to the limits
//! the provider publishes, learns a rate from throttling when it publishes none, and shares a
//! throttle's cooldown with the whole scope, one probe going first when it ends.
//!
//! The decisions are pure functions in [`decide`]; the scope's state sits in the gate, or in
//! a store the fleet shares ([`store`]), one read-modify-write per decision.

use core::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::window::{ceil_millis, Timeline};
use crate::Clock;

#[cfg(feature = "redis")]
pub(crate) mod codec;
mod decide;
mod keyed;
mod lend;
mod limits;
#[cfg(all(test, retry_loom))]
mod loom_tests;
mod quota;
mod store;
#[cfg(all(test, not(retry_loom)))]
mod tests;

pub use self::decide::AdmissionWait;
#[cfg(feature = "redis")]
pub(crate) use self::decide::ScopeState as SharedState;
use self::decide::{Admission, ScopeState, Settings, Signal};
pub use self::keyed::KeyedGates;
use self::lend::{Room, Taken};
pub use self::limits::RateLimits;
pub(crate) use self::store::{Cached, SharedScopes};

/// A provider scope's admission gate.
///
/// - **Published limits.** [`published`](Self::published) with a response's rate-limit headers
///   ([`RateLimits::from_headers`]: OpenAI's `x-ratelimit-*`, Anthropic's
///   `anthropic-ratelimit-*`): until their reset, the gate admits no more requests than the
///   provider said remain (less the others in flight), and no more tokens.
/// - **Cooldown and probe.** [`rate_limited`](Self::rate_limited) (a 429 about the rate, not
///   about the request) pauses the whole scope until its `Retry-After`; then one attempt, the
///   probe, goes first, and the others follow its outcome.
/// - **A learnt rate.** Without published limits, each throttle (429 or 503,
///   [`overloaded`](Self::overloaded)) lowers a sending rate, starting from what was being
///   sent, and each success raises it again.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::testing::TestClock;
/// use retry_runtime::{AdmissionGate, RateLimits, AdmissionWait};
///
/// static CLOCK: TestClock = TestClock::new();
/// static OPENAI: AdmissionGate = AdmissionGate::new().named("openai").clock(&CLOCK);
///
/// let first = OPENAI.try_admit(0).expect("nothing known yet: it goes");
/// // The response says 1 request is left for 2 s.
/// OPENAI.published(&RateLimits::from_headers([
///     ("x-ratelimit-remaining-requests", "1"),
///     ("x-ratelimit-reset-requests", "2s"),
/// ]));
/// first.succeeded(None);
/// let second = OPENAI.try_admit(0).expect("the one left");
/// second.succeeded(None);
/// let refused = OPENAI.try_admit(0).unwrap_err();
/// assert_eq!(refused.reason(), AdmissionWait::Requests);
/// assert_eq!(refused.wait(), Duration::from_secs(2));
/// ```
pub struct AdmissionGate {
    name: &'static str,
    settings: Settings,
    time: Timeline,
    /// The scope's state, or this process's copy of the shared one.
    state: Mutex<Cached>,
    /// The store the fleet shares the scope's state through, if any.
    shared: Option<&'static dyn SharedScopes>,
    /// The scope's name in that store, when it is not the gate's (a key of [`KeyedGates`]).
    scope: Option<Box<str>>,
    /// With a shared store, until when the room lent lasts (on the gate's timeline, ms):
    /// another process may have learnt of a cooldown since it was read.
    lent_until: AtomicU64,
    /// Attempts admitted here whose end is not reported yet: kept apart from the state, so
    /// that most ends take no lock.
    in_flight: AtomicU64,
    /// Whether the state has a learnt rate (which every success raises), as of its latest
    /// update.
    learning: AtomicBool,
    /// The room the state lent at its latest update (see [`lend`]): while some is left, an
    /// attempt goes on an atomic subtraction or two, with no clock and no lock.
    room: Room<AtomicU64>,
}

impl AdmissionGate {
    /// A gate that knows nothing yet, named `admission`: it admits every attempt until a
    /// response or a throttle tells it otherwise.
    #[must_use]
    pub const fn new() -> Self {
        AdmissionGate::made("admission", Settings::DEFAULT, Timeline::new())
    }

    /// A gate with no state yet: `new`'s, and each of a [`KeyedGates`]'.
    pub(super) const fn made(name: &'static str, settings: Settings, time: Timeline) -> Self {
        AdmissionGate {
            name,
            settings,
            time,
            state: Mutex::new(Cached::UNHEARD),
            shared: None,
            scope: None,
            lent_until: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            learning: AtomicBool::new(false),
            room: Room {
                requests: AtomicU64::new(0),
                tokens: AtomicU64::new(0),
            },
        }
    }

    /// The name in logs.
    #[must_use]
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// How long the probe after a cooldown may be out before another attempt probes instead
    /// (default 30 s; whole milliseconds, rounded up).
    #[must_use]
    pub const fn probe_timeout(mut self, timeout: Duration) -> Self {
        self.settings.probe_timeout_ms = ceil_millis(timeout);
        self
    }

    /// The longest cooldown one throttle imposes on the scope, whatever its `Retry-After`
    /// says (default 120 s).
    #[must_use]
    pub const fn max_cooldown(mut self, cooldown: Duration) -> Self {
        self.settings.max_cooldown_ms = ceil_millis(cooldown);
        self
    }

    /// Shares the scope's state with every process whose gate of the same name uses `store`
    /// (see [`RedisStore`](crate::RedisStore)).
    #[cfg(feature = "redis")]
    #[must_use]
    pub const fn shared(mut self, store: &'static crate::RedisStore) -> Self {
        self.shared = Some(store);
        self
    }

    /// Reads `clock` instead of the runtime's clock (see [`Clock`]).
    #[must_use]
    pub const fn clock(mut self, clock: &'static dyn Clock) -> Self {
        self.time.set_clock(clock);
        self
    }

    /// The gate's name.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// Admits an attempt that will cost about `tokens` tokens (0 when unknown or not
    /// counted), or says how long it must wait at least, and why. An admitted attempt must
    /// report its end through the [`Admitted`] it gets (dropping it reports a failure).
    pub fn try_admit(&self, tokens: u64) -> Result<Admitted<'_>, NotYet> {
        // The room lent by the state first; a request's room taken without its tokens goes
        // back to the state, with the lock.
        let returned = match self.room_lasts().then(|| self.room.take(tokens)) {
            Some(Taken::All) => return Ok(self.admitted(false, tokens)),
            Some(Taken::RequestOnly) => 1,
            Some(Taken::Nothing) | None => 0,
        };
        let mut decision = Admission::Wait {
            ms: 0,
            why: AdmissionWait::Cooldown,
        };
        self.update(returned, &mut |state, now| {
            decision = decide::admit(&self.settings, state, now, tokens);
            // An attempt that waits changes nothing the store must keep: the refills it made
            // are the same when made again later.
            matches!(decision, Admission::Go { .. })
        });
        match decision {
            Admission::Go { probe } => Ok(self.admitted(probe, tokens)),
            Admission::Wait { ms, why } => Err(NotYet {
                wait: Duration::from_millis(ms),
                reason: why,
            }),
        }
    }

    /// A response's rate-limit headers: what the provider says is left, and when it resets.
    /// Report them before the attempt's end, so that the gate counts the attempts still in
    /// flight besides it.
    pub fn published(&self, limits: &RateLimits) {
        if limits.is_empty() {
            return;
        }
        let others = self.in_flight.load(Relaxed).saturating_sub(1);
        self.observe(limits.signal(others));
    }

    /// The scope was throttled (a 429 about its rate, not about one request): no attempt goes
    /// before `retry_after` (1 s when the response named none; at most the
    /// [`max_cooldown`](Self::max_cooldown)), then one probe goes first.
    pub fn rate_limited(&self, retry_after: Option<Duration>) {
        self.observe(Signal::Throttled {
            retry_after_ms: retry_after.map(ceil_millis),
        });
    }

    /// The provider is overloaded (a 503 or the like, naming no wait): the learnt rate falls.
    pub fn overloaded(&self) {
        self.observe(Signal::Overloaded);
    }

    fn observe(&self, signal: Signal) {
        self.update(0, &mut |state, now| {
            decide::observe(&self.settings, state, now, signal);
            true
        });
    }

    /// One decision on the scope's state, at the time of the store that keeps it: the room
    /// lent takes part in it (what is left of it, and `returned` requests, go back first),
    /// and it lends room anew once the state is kept. `decide` says whether the store must
    /// keep what it changed.
    fn update(&self, returned: u64, decide: &mut dyn FnMut(&mut ScopeState, u64) -> bool) {
        let mut cached = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let local_now = self.time.now_ms();
        let mut unused = None;
        let of_quotas = self.shared.is_none();
        let mut step = |state: &mut ScopeState, now: u64| {
            let unused = *unused.get_or_insert_with(|| self.room.take_unused(returned));
            lend::reclaim(state, unused, now);
            let keep = decide(state, now);
            lend::lend(state, now, of_quotas);
            keep
        };
        match self.shared {
            Some(store) => {
                let scope = self.scope.as_deref().unwrap_or(self.name);
                store.update(scope, &mut cached, local_now, &mut step);
                self.lent_until
                    .store(local_now.saturating_add(store.staleness_ms()), Relaxed);
            }
            None => {
                step(&mut cached.state, local_now);
            }
        }
        self.room.lend_out(cached.state.lent);
        self.learning
            .store(cached.state.rate.per_sec_milli > 0, Relaxed);
    }

    /// Whether the room lent may be used: always in a gate of this process; with a shared
    /// store, until the state it came from is too old.
    fn room_lasts(&self) -> bool {
        self.shared.is_none() || self.time.now_ms() < self.lent_until.load(Relaxed)
    }

    fn admitted(&self, probe: bool, tokens: u64) -> Admitted<'_> {
        self.in_flight.fetch_add(1, Relaxed);
        Admitted {
            gate: self,
            probe,
            tokens,
            ended: false,
        }
    }

    fn ended(&self, succeeded: bool, probe: bool, charged_tokens: u64, used_tokens: Option<u64>) {
        self.in_flight.fetch_sub(1, Relaxed);
        // Most ends change nothing in the state: no lock, and no clock.
        let raises_rate = succeeded && self.learning.load(Relaxed);
        if !(probe || used_tokens.is_some() || raises_rate) {
            return;
        }
        self.observe(Signal::Ended {
            succeeded,
            probe,
            charged_tokens,
            used_tokens,
        });
    }
}

impl Default for AdmissionGate {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for AdmissionGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmissionGate")
            .field("name", &self.name)
            .field(
                "probe_timeout",
                &Duration::from_millis(self.settings.probe_timeout_ms),
            )
            .field(
                "max_cooldown",
                &Duration::from_millis(self.settings.max_cooldown_ms),
            )
            .finish_non_exhaustive()
    }
}

/// An attempt the gate let through. Report how it ended with [`succeeded`](Self::succeeded)
/// or [`failed`](Self::failed); dropped without either, it counts as failed.
#[must_use = "an admitted attempt reports its end (dropping it reports a failure)"]
#[derive(Debug)]
pub struct Admitted<'g> {
    gate: &'g AdmissionGate,
    probe: bool,
    tokens: u64,
    ended: bool,
}

impl<'g> Admitted<'g> {
    /// The gate that admitted it.
    pub(crate) const fn gate(&self) -> &'g AdmissionGate {
        self.gate
    }

    /// Whether this attempt is the probe after a cooldown: the others wait for its outcome.
    #[must_use]
    pub const fn is_probe(&self) -> bool {
        self.probe
    }

    /// The attempt succeeded; `used_tokens` is what the response says it used, which
    /// replaces the estimate it was admitted with.
    pub fn succeeded(mut self, used_tokens: Option<u64>) {
        self.ended = true;
        self.gate.ended(true, self.probe, self.tokens, used_tokens);
    }

    /// The attempt failed (report a throttle with [`AdmissionGate::rate_limited`] as well).
    pub fn failed(mut self) {
        self.ended = true;
        self.gate.ended(false, self.probe, self.tokens, None);
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if !self.ended {
            self.gate.ended(false, self.probe, self.tokens, None);
        }
    }
}

/// An attempt the gate cannot admit yet: how long it must wait at least, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotYet {
    wait: Duration,
    reason: AdmissionWait,
}

impl NotYet {
    /// Wait at least this long before asking again.
    #[must_use]
    pub const fn wait(&self) -> Duration {
        self.wait
    }

    /// Why.
    #[must_use]
    pub const fn reason(&self) -> AdmissionWait {
        self.reason
    }
}

impl fmt::Display for NotYet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not admitted for {:?} ({})",
            self.wait,
            self.reason.as_str()
        )
    }
}

impl std::error::Error for NotYet {}

impl crate::Classify for NotYet {
    /// `RateLimit`: the scope has no room before the call's deadline.
    fn class(&self) -> crate::ErrorClass {
        crate::ErrorClass::RateLimit
    }

    /// How long the gate asked to wait.
    fn retry_after(&self) -> Option<Duration> {
        Some(self.wait)
    }

    fn message(&self) -> Option<std::borrow::Cow<'_, str>> {
        Some(self.to_string().into())
    }
}
