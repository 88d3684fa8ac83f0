//! The admission gate's decisions, as pure functions of (settings, state, event, now): whether
//! an attempt may go now or must wait, and what a response tells the scope. Where the state
//! lives (a `Mutex` here, a shared store later) is not their concern.
//!
//! Time is milliseconds on the gate's timeline ([`crate::window::Timeline`]).

use super::quota::fill;
pub(crate) use super::quota::Quota;

/// The one attempt that goes first after a cooldown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) enum Probe {
    /// No cooldown ended without its probe's outcome.
    #[default]
    None,
    /// A cooldown ended: the next attempt admitted is its probe.
    Wanted,
    /// The probe went at `since`; the others wait for its outcome (or its timeout).
    InFlight { since: u64 },
}

impl Probe {
    /// Whether a probe is wanted or out: each attempt is then decided on its own.
    pub(crate) const fn is_pending(self) -> bool {
        !matches!(self, Probe::None)
    }
}

/// The sending rate learnt from throttling, when the provider publishes no limits: a token
/// bucket whose rate falls at each throttle and grows back with successes (AIMD).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Rate {
    /// Attempts a second, in thousandths; 0 until the first throttle (no pacing).
    pub(crate) per_sec_milli: u64,
    /// The bucket, in thousandths of an attempt.
    pub(crate) level_milli: u64,
    pub(crate) refilled_at: u64,
    /// When the rate last fell: throttles of attempts sent before the fall took effect do not
    /// lower it again.
    pub(crate) lowered_at: u64,
    /// When the rate last changed, up or down.
    pub(crate) changed_at: u64,
}

/// Attempts admitted in the current second, to start the learnt rate from what was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Sent {
    pub(crate) since: u64,
    pub(crate) count: u64,
    /// Attempts a second over the latest whole second, in thousandths.
    pub(crate) last_rate_milli: u64,
}

/// Room the state lent to the gate's lock-free path (see [`super::lend`]): attempts, and
/// tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Lent {
    pub(crate) requests: u64,
    pub(crate) tokens: u64,
}

impl Lent {
    pub(crate) const NONE: Lent = Lent {
        requests: 0,
        tokens: 0,
    };
}

/// Everything the gate knows of one scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct ScopeState {
    /// No attempt is admitted before this: a throttle's hint, shared by the scope.
    pub(crate) cooldown_until: u64,
    pub(crate) probe: Probe,
    pub(crate) requests: Quota,
    pub(crate) tokens: Quota,
    pub(crate) rate: Rate,
    pub(crate) sent: Sent,
    /// Room lent to the gate's lock-free path (see [`super::lend`]), out of the quotas.
    pub(crate) lent: Lent,
}

impl ScopeState {
    /// A scope the provider has not been heard from: one attempt goes first, and the others
    /// follow its outcome (the limits its response publishes), rather than a whole burst
    /// going out before anything is known.
    pub(crate) const UNHEARD: ScopeState = ScopeState {
        probe: Probe::Wanted,
        ..ScopeState::EMPTY
    };

    /// A scope nothing is known of, and nothing waited for: it admits every attempt.
    pub(crate) const EMPTY: ScopeState = ScopeState {
        cooldown_until: 0,
        probe: Probe::None,
        requests: Quota::NONE,
        tokens: Quota::NONE,
        rate: Rate {
            per_sec_milli: 0,
            level_milli: 0,
            refilled_at: 0,
            lowered_at: 0,
            changed_at: 0,
        },
        sent: Sent {
            since: 0,
            count: 0,
            last_rate_milli: 0,
        },
        lent: Lent::NONE,
    };
}

/// The gate's settings (see `AdmissionGate`'s builder for their meaning and ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) probe_timeout_ms: u64,
    pub(crate) probe_poll_ms: u64,
    pub(crate) default_cooldown_ms: u64,
    pub(crate) max_cooldown_ms: u64,
    pub(crate) min_rate_milli: u64,
    pub(crate) decrease_ppm: u64,
    pub(crate) increase_milli: u64,
    /// Each success raises the learnt rate by this share of it (or `increase_milli`, if more).
    pub(crate) growth_ppm: u64,
    /// The bucket's size, in thousandths of an attempt (a burst the learnt rate allows).
    pub(crate) burst_milli: u64,
}

impl Settings {
    pub(crate) const DEFAULT: Settings = Settings {
        probe_timeout_ms: 30_000,
        probe_poll_ms: 50,
        default_cooldown_ms: 1_000,
        max_cooldown_ms: 120_000,
        min_rate_milli: 100,
        decrease_ppm: 700_000,
        increase_milli: 100,
        growth_ppm: 20_000,
        burst_milli: 1_000,
    };
}

/// Why an attempt waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AdmissionWait {
    /// The scope was throttled and told to wait (a 429's `Retry-After`, or a reset).
    Cooldown,
    /// A cooldown ended and its probe is out: the others follow its outcome.
    Probe,
    /// The published request limit is spent until its reset.
    Requests,
    /// The published token limit cannot pay for this attempt until its reset.
    Tokens,
    /// The rate learnt from throttling has no room yet.
    Rate,
}

impl AdmissionWait {
    /// The reason in logs: `cooldown`, `probe`, `requests`, `tokens`, `rate`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            AdmissionWait::Cooldown => "cooldown",
            AdmissionWait::Probe => "probe",
            AdmissionWait::Requests => "requests",
            AdmissionWait::Tokens => "tokens",
            AdmissionWait::Rate => "rate",
        }
    }
}

/// The decision on an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// It goes now; `probe` when it is the probe after a cooldown.
    Go { probe: bool },
    /// It may not go for `ms` at least (the gate cannot know it will go then: others may).
    Wait { ms: u64, why: AdmissionWait },
}

/// Whether an attempt costing `tokens` may go at `now`; `state` becomes the state after it.
/// An attempt that must wait changes nothing but the learnt rate's bucket (refilled to now).
pub(crate) fn admit(
    settings: &Settings,
    state: &mut ScopeState,
    now: u64,
    tokens: u64,
) -> Admission {
    let wait = |ms: u64, why| Admission::Wait { ms: ms.max(1), why };
    if now < state.cooldown_until {
        return wait(state.cooldown_until - now, AdmissionWait::Cooldown);
    }
    let probe = match state.probe {
        Probe::None => false,
        Probe::Wanted => true,
        Probe::InFlight { since } => {
            let until = since.saturating_add(settings.probe_timeout_ms);
            if now < until {
                return wait(
                    (until - now).min(settings.probe_poll_ms),
                    AdmissionWait::Probe,
                );
            }
            // The probe never told: this attempt probes instead.
            true
        }
    };
    state.requests = state.requests.at(now);
    state.tokens = state.tokens.at(now);
    let (requests, tokens_quota) = (state.requests, state.tokens);
    if requests.limits_at(now) && requests.remaining == 0 {
        return wait(requests.wait_for(1, now), AdmissionWait::Requests);
    }
    if tokens_quota.limits_at(now) && tokens_quota.remaining < tokens_quota.cost(tokens) {
        return wait(tokens_quota.wait_for(tokens, now), AdmissionWait::Tokens);
    }
    let published = requests.limits_at(now) || tokens_quota.limits_at(now);
    if state.rate.per_sec_milli > 0 && !published {
        state.rate = refill(settings, state.rate, now);
        let level = state.rate.level_milli;
        if level < 1_000 {
            let ms = ((1_000 - level) * 1_000).div_ceil(state.rate.per_sec_milli);
            return wait(ms, AdmissionWait::Rate);
        }
        state.rate.level_milli = level - 1_000;
    }
    state.sent = count_sent(state.sent, now, 1);
    if probe {
        state.probe = Probe::InFlight { since: now };
    }
    if requests.limits_at(now) {
        state.requests.remaining -= 1;
    }
    if tokens_quota.limits_at(now) {
        state.tokens.remaining -= tokens_quota.cost(tokens);
    }
    Admission::Go { probe }
}

fn refill(settings: &Settings, rate: Rate, now: u64) -> Rate {
    let (level_milli, refilled_at) = fill(
        rate.level_milli,
        rate.refilled_at,
        now,
        rate.per_sec_milli,
        1_000,
        settings.burst_milli,
    );
    Rate {
        level_milli,
        refilled_at,
        ..rate
    }
}

/// `sent` after `admitted` more attempts at `now`.
pub(crate) fn count_sent(sent: Sent, now: u64, admitted: u64) -> Sent {
    let elapsed = now.saturating_sub(sent.since);
    if elapsed < 1_000 {
        return Sent {
            count: sent.count.saturating_add(admitted),
            ..sent
        };
    }
    Sent {
        since: now,
        count: admitted,
        last_rate_milli: sent.count.saturating_mul(1_000_000) / elapsed,
    }
}

/// What a limit's headers said: left, the most there can be (if they said), and how long
/// until it is all there again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Published {
    pub(crate) remaining: u64,
    pub(crate) limit: Option<u64>,
    pub(crate) reset_in_ms: u64,
}

/// What a response (or its absence) tells the scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    /// The rate-limit headers of a response, with the other attempts of the scope in flight
    /// when it came (the provider may not have counted them yet).
    Published {
        requests: Option<Published>,
        tokens: Option<Published>,
        others_in_flight: u64,
    },
    /// The scope was throttled (a 429 about the rate, not about the request): wait
    /// `retry_after_ms` (or the default cooldown), then probe.
    Throttled { retry_after_ms: Option<u64> },
    /// The provider is overloaded (503 and the like) but named no wait: slow down.
    Overloaded,
    /// An admitted attempt ended: `succeeded`, whether it was the probe, and its tokens:
    /// charged when admitted, used as the response said (if it did). Only the end of a probe,
    /// a token count or a success under a learnt rate changes the state.
    Ended {
        succeeded: bool,
        probe: bool,
        charged_tokens: u64,
        used_tokens: Option<u64>,
    },
}

/// What `signal` at `now` makes of `state`.
pub(crate) fn observe(settings: &Settings, state: &mut ScopeState, now: u64, signal: Signal) {
    match signal {
        Signal::Published {
            requests,
            tokens,
            others_in_flight: others,
        } => {
            let apply = |quota: &mut Quota, published: Option<Published>| {
                if let Some(p) = published {
                    *quota = quota.published(p.remaining, p.limit, p.reset_in_ms, others, now);
                }
            };
            apply(&mut state.requests, requests);
            apply(&mut state.tokens, tokens);
        }
        Signal::Throttled { retry_after_ms } => {
            let cooldown = retry_after_ms
                .unwrap_or(settings.default_cooldown_ms)
                .min(settings.max_cooldown_ms);
            state.cooldown_until = state.cooldown_until.max(now.saturating_add(cooldown));
            // The learnt rate starts again when the cooldown ends, with room for the probe.
            state.rate = Rate {
                level_milli: 1_000,
                refilled_at: state.cooldown_until,
                ..slower(settings, state, now)
            };
            state.probe = Probe::Wanted;
        }
        Signal::Overloaded => state.rate = slower(settings, state, now),
        Signal::Ended {
            succeeded,
            probe,
            charged_tokens,
            used_tokens,
        } => {
            if probe && matches!(state.probe, Probe::InFlight { .. }) {
                // Its outcome is known: the others go (a throttled probe's own signal has
                // already asked for another cooldown and probe).
                state.probe = Probe::None;
            }
            if let Some(used) = used_tokens {
                let tokens = &mut state.tokens;
                *tokens = tokens.at(now);
                if tokens.limits_at(now) {
                    let charged = tokens.cost(charged_tokens);
                    let unused = charged.saturating_sub(used);
                    tokens.remaining = tokens.remaining.saturating_sub(used - (charged - unused));
                    tokens.give_back(unused);
                }
            }
            if succeeded && state.rate.per_sec_milli > 0 {
                // At least a step and a share of the rate per success, and as much as the rate
                // itself per second without a throttle: it doubles each quiet second.
                let rate = state.rate.per_sec_milli;
                let quiet = now.saturating_sub(state.rate.changed_at);
                let growth = (rate.saturating_mul(settings.growth_ppm) / 1_000_000)
                    .max(rate.saturating_mul(quiet) / 1_000)
                    .max(settings.increase_milli);
                state.rate.per_sec_milli = rate.saturating_add(growth);
                state.rate.changed_at = now.max(state.rate.changed_at);
            }
        }
    }
}

/// The learnt rate after a throttle: a share of what it was, or of what was being sent when
/// there was none yet; never under the floor. A throttle within one attempt's interval (at the
/// rate as it was) of the last fall is of an attempt sent before that fall: it changes nothing.
fn slower(settings: &Settings, state: &ScopeState, now: u64) -> Rate {
    let old = state.rate;
    if old.per_sec_milli > 0 {
        let interval = 1_000_000u64.div_ceil(old.per_sec_milli);
        if now < old.lowered_at.saturating_add(interval) {
            return old;
        }
    }
    let current = if old.per_sec_milli > 0 {
        old.per_sec_milli
    } else {
        let sent = count_sent(state.sent, now, 1);
        sent.last_rate_milli.max(sent.count.saturating_mul(1_000))
    };
    let per_sec_milli =
        (current.saturating_mul(settings.decrease_ppm) / 1_000_000).max(settings.min_rate_milli);
    let filled = refill(settings, old, now);
    Rate {
        per_sec_milli,
        // What the old rate filled stays; none is added for the time before the throttle.
        level_milli: if old.per_sec_milli > 0 {
            filled.level_milli
        } else {
            0
        },
        refilled_at: now,
        lowered_at: now,
        changed_at: now,
    }
}
