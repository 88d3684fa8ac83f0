//! The breaker's decisions, as pure functions of (settings, state, event, now) — apart from
//! where the state lives — plus the one compare-and-swap loop that applies them to a state
//! word. A store elsewhere (a shared cache, a test model) applies the same decisions to its own
//! copy of the word.
//!
//! Time is milliseconds since the breaker first read its clock
//! ([`crate::window::Timeline`]).

use core::fmt;
use std::sync::atomic::Ordering;

use super::state::BreakerState;
use crate::ClassSet;

/// The most probe calls a half-open breaker lets through.
pub(crate) const PROBES_MAX: u32 = 1000;

/// What the breaker is configured to do, brought into range by the builder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// The failure ratio that trips, in parts per million (0..=1 000 000).
    pub(crate) ratio_ppm: u32,
    /// Calls the window must hold before the ratio can trip (≥ 1).
    pub(crate) minimum_calls: u32,
    /// Failures in a row that trip; 0: never.
    pub(crate) consecutive: u32,
    /// The sliding window, in milliseconds (a multiple of 10, ≥ 10).
    pub(crate) window_ms: u64,
    /// The first break, in milliseconds.
    pub(crate) break_ms: u64,
    /// The longest break, in milliseconds (≥ `break_ms` when used).
    pub(crate) max_break_ms: u64,
    /// Probe calls in a half-open phase (1..=[`PROBES_MAX`]).
    pub(crate) probes: u32,
    /// The classes that count as failures (never `Client` or `Auth`).
    pub(crate) counts: ClassSet,
}

// ===== the state word =====

/// Where the breaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are refused until `until_ms`; then the next call is a probe.
    Open { until_ms: u64 },
    /// Probe calls decide: `in_flight` running, `succeeded` done.
    HalfOpen { in_flight: u32, succeeded: u32 },
}

impl Phase {
    /// The state users see (an open breaker whose break is over still shows as open here).
    pub(crate) const fn visible(self) -> BreakerState {
        match self {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

/// The whole shared state of a breaker but its counts: one `u64`.
///
/// Layout: bits 0..2 phase, 2..8 `streak` (trips since the breaker last closed, saturating at
/// 63), 8..24 `gen` (bumped at every transition, wrapping), 24..64 the phase's payload (`Open`:
/// `until_ms`, saturating at 2^40 − 1, some 34 years; `HalfOpen`: `in_flight` in 24..40,
/// `succeeded` in 40..56).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) phase: Phase,
    /// The transition count, modulo 2^16: a permit remembers it, so that the outcome of a call
    /// that began before a transition does not count after it.
    pub(crate) gen: u32,
    /// Trips since the breaker last closed: the break grows with it.
    pub(crate) streak: u32,
}

const CLOSED: u64 = 0;
const OPEN: u64 = 1;
const HALF_OPEN: u64 = 2;
const PHASE_MASK: u64 = 0b11;
const STREAK_SHIFT: u32 = 2;
const STREAK_MAX: u32 = 63;
const GEN_SHIFT: u32 = 8;
const GEN_MASK: u64 = 0xFFFF;
const PAYLOAD_SHIFT: u32 = 24;
const UNTIL_MAX: u64 = (1 << 40) - 1;
const PROBE_MASK: u64 = 0xFFFF;

impl State {
    /// A new breaker: closed.
    pub(crate) const INITIAL: State = State {
        phase: Phase::Closed,
        gen: 0,
        streak: 0,
    };

    pub(crate) const fn encode(self) -> u64 {
        let (phase, payload) = match self.phase {
            Phase::Closed => (CLOSED, 0),
            Phase::Open { until_ms } => (
                OPEN,
                if until_ms > UNTIL_MAX {
                    UNTIL_MAX
                } else {
                    until_ms
                },
            ),
            Phase::HalfOpen {
                in_flight,
                succeeded,
            } => (
                HALF_OPEN,
                (in_flight as u64 & PROBE_MASK) | ((succeeded as u64 & PROBE_MASK) << 16),
            ),
        };
        let streak = if self.streak > STREAK_MAX {
            STREAK_MAX
        } else {
            self.streak
        };
        phase
            | ((streak as u64) << STREAK_SHIFT)
            | ((self.gen as u64 & GEN_MASK) << GEN_SHIFT)
            | (payload << PAYLOAD_SHIFT)
    }

    #[allow(clippy::cast_possible_truncation)] // every field is masked to its width first
    pub(crate) const fn decode(word: u64) -> State {
        let payload = word >> PAYLOAD_SHIFT;
        let phase = match word & PHASE_MASK {
            OPEN => Phase::Open { until_ms: payload },
            HALF_OPEN => Phase::HalfOpen {
                in_flight: (payload & PROBE_MASK) as u32,
                succeeded: ((payload >> 16) & PROBE_MASK) as u32,
            },
            _ => Phase::Closed,
        };
        State {
            phase,
            gen: ((word >> GEN_SHIFT) & GEN_MASK) as u32,
            streak: ((word >> STREAK_SHIFT) & STREAK_MAX as u64) as u32,
        }
    }

    /// Whether a state word is closed, and its generation: the one check of the closed path.
    #[inline(always)]
    #[allow(clippy::cast_possible_truncation)] // masked to 16 bits
    pub(crate) const fn closed_gen(word: u64) -> Option<u32> {
        if word & PHASE_MASK == CLOSED {
            Some(((word >> GEN_SHIFT) & GEN_MASK) as u32)
        } else {
            None
        }
    }

    const fn next_gen(self) -> u32 {
        (self.gen + 1) & GEN_MASK as u32
    }
}

// ===== decisions =====

/// Which kind of call a permit lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PermitKind {
    /// A call through a closed breaker, granted in generation `gen`.
    Closed { gen: u32 },
    /// A probe of the half-open phase `gen`.
    Probe { gen: u32 },
}

/// The answer to a call that wants to go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// Let it through; `next` is the new state, if it changed.
    Granted {
        permit: PermitKind,
        next: Option<State>,
    },
    /// Refuse it: the breaker lets a probe through in `retry_in_ms` (open), or its probes are
    /// all taken (`None`, half-open).
    Refused { retry_in_ms: Option<u64> },
}

/// Whether a call may go through at `now_ms`. A closed breaker's answer does not depend on
/// `now_ms`, so the closed path need not read the clock.
pub(crate) const fn acquire(settings: &Settings, state: State, now_ms: u64) -> Admission {
    match state.phase {
        Phase::Closed => Admission::Granted {
            permit: PermitKind::Closed { gen: state.gen },
            next: None,
        },
        Phase::Open { until_ms } if now_ms < until_ms => Admission::Refused {
            retry_in_ms: Some(until_ms - now_ms),
        },
        Phase::Open { .. } => {
            let gen = state.next_gen();
            Admission::Granted {
                permit: PermitKind::Probe { gen },
                next: Some(State {
                    phase: Phase::HalfOpen {
                        in_flight: 1,
                        succeeded: 0,
                    },
                    gen,
                    streak: state.streak,
                }),
            }
        }
        Phase::HalfOpen {
            in_flight,
            succeeded,
        } if in_flight + succeeded < settings.probes => Admission::Granted {
            permit: PermitKind::Probe { gen: state.gen },
            next: Some(State {
                phase: Phase::HalfOpen {
                    in_flight: in_flight + 1,
                    succeeded,
                },
                ..state
            }),
        },
        Phase::HalfOpen { .. } => Admission::Refused { retry_in_ms: None },
    }
}

/// How a probe call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ProbeOutcome {
    /// It succeeded.
    Success,
    /// It failed with a counted class (or panicked).
    Failure,
    /// It was cancelled, or failed with a class that does not count: its slot goes back.
    Abandoned,
}

/// The state after a probe of phase `gen` ended at `now_ms`; `None` if nothing changes (the
/// probe belongs to an earlier phase, or the breaker was tripped or reset since).
pub(crate) const fn resolve_probe(
    settings: &Settings,
    state: State,
    gen: u32,
    outcome: ProbeOutcome,
    now_ms: u64,
) -> Option<State> {
    let Phase::HalfOpen {
        in_flight,
        succeeded,
    } = state.phase
    else {
        return None;
    };
    if state.gen != gen || in_flight == 0 {
        return None;
    }
    Some(match outcome {
        ProbeOutcome::Success if succeeded + 1 >= settings.probes => State {
            phase: Phase::Closed,
            gen: state.next_gen(),
            streak: 0,
        },
        ProbeOutcome::Success => State {
            phase: Phase::HalfOpen {
                in_flight: in_flight - 1,
                succeeded: succeeded + 1,
            },
            ..state
        },
        ProbeOutcome::Failure => trip(settings, state, now_ms),
        ProbeOutcome::Abandoned => State {
            phase: Phase::HalfOpen {
                in_flight: in_flight - 1,
                succeeded,
            },
            ..state
        },
    })
}

/// Why a closed breaker trips.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TripCause {
    /// This many counted failures in a row.
    Consecutive(u32),
    /// `failures` of the `calls` in the window failed.
    Ratio { failures: u64, calls: u64 },
}

impl fmt::Display for TripCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TripCause::Consecutive(n) => write!(f, "{n} failures in a row"),
            TripCause::Ratio { failures, calls } => {
                write!(f, "{failures} of the last {calls} calls failed")
            }
        }
    }
}

/// Whether a closed breaker trips, given its window's counts (`calls` include the failures)
/// and its run of failures.
pub(crate) const fn should_trip(
    settings: &Settings,
    calls: u64,
    failures: u64,
    consecutive: u32,
) -> Option<TripCause> {
    if settings.consecutive != 0 && consecutive >= settings.consecutive {
        return Some(TripCause::Consecutive(consecutive));
    }
    // failures / calls ≥ ratio, in integers; a window without a failure never trips.
    if failures > 0
        && calls >= settings.minimum_calls as u64
        && failures as u128 * 1_000_000 >= settings.ratio_ppm as u128 * calls as u128
    {
        return Some(TripCause::Ratio { failures, calls });
    }
    None
}

/// The break after the `streak`-th trip in a row: `break_ms`, doubled at each further trip,
/// capped at `max_break_ms`.
pub(crate) const fn break_ms(settings: &Settings, streak: u32) -> u64 {
    let max = if settings.max_break_ms > settings.break_ms {
        settings.max_break_ms
    } else {
        settings.break_ms
    };
    let doublings = if streak == 0 { 0 } else { streak - 1 };
    let grown = if doublings >= 63 {
        u64::MAX
    } else {
        settings.break_ms.saturating_mul(1 << doublings)
    };
    if grown > max {
        max
    } else {
        grown
    }
}

/// The state after a trip at `now_ms`, from any state: open for the break of one more trip in
/// a row.
pub(crate) const fn trip(settings: &Settings, state: State, now_ms: u64) -> State {
    let streak = if state.streak < STREAK_MAX {
        state.streak + 1
    } else {
        STREAK_MAX
    };
    State {
        phase: Phase::Open {
            until_ms: now_ms.saturating_add(break_ms(settings, streak)),
        },
        gen: state.next_gen(),
        streak,
    }
}

/// The state after a reset: closed, with the streak forgotten.
pub(crate) const fn reset(state: State) -> State {
    State {
        phase: Phase::Closed,
        gen: state.next_gen(),
        streak: 0,
    }
}

// ===== applying decisions to a state word =====

/// A cell holding a state word: the breaker's atomic, or a model checker's.
pub(crate) trait StateCell {
    fn load(&self) -> u64;
    /// Replaces `current` with `new`; the word found if it was not `current`.
    fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64>;
}

impl StateCell for std::sync::atomic::AtomicU64 {
    #[inline(always)]
    fn load(&self) -> u64 {
        self.load(Ordering::Acquire)
    }

    #[inline]
    fn compare_exchange(&self, current: u64, new: u64) -> Result<u64, u64> {
        self.compare_exchange_weak(current, new, Ordering::AcqRel, Ordering::Acquire)
    }
}

/// Applies `decide` to the cell's state until the swap lands; the state before and after, or
/// `None` once `decide` says nothing changes.
pub(crate) fn transition<C: StateCell + ?Sized>(
    cell: &C,
    mut decide: impl FnMut(State) -> Option<State>,
) -> Option<(State, State)> {
    let mut word = cell.load();
    loop {
        let old = State::decode(word);
        let new = decide(old)?;
        match cell.compare_exchange(word, new.encode()) {
            Ok(_) => return Some((old, new)),
            Err(found) => word = found,
        }
    }
}

/// The outcome of [`acquire_in`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// Let through; `changed` holds the transition when this call made one.
    Granted {
        permit: PermitKind,
        changed: Option<(State, State)>,
    },
    /// Refused (see [`Admission::Refused`]).
    Refused { retry_in_ms: Option<u64> },
}

/// Asks the cell's breaker for a permit at `now_ms`.
pub(crate) fn acquire_in<C: StateCell + ?Sized>(
    cell: &C,
    settings: &Settings,
    now_ms: u64,
) -> Acquired {
    let mut word = cell.load();
    loop {
        let state = State::decode(word);
        match acquire(settings, state, now_ms) {
            Admission::Refused { retry_in_ms } => return Acquired::Refused { retry_in_ms },
            Admission::Granted { permit, next: None } => {
                return Acquired::Granted {
                    permit,
                    changed: None,
                }
            }
            Admission::Granted {
                permit,
                next: Some(next),
            } => match cell.compare_exchange(word, next.encode()) {
                Ok(_) => {
                    return Acquired::Granted {
                        permit,
                        changed: matches!(state.phase, Phase::Open { .. }).then_some((state, next)),
                    }
                }
                Err(found) => word = found,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorClass;

    const SETTINGS: Settings = Settings {
        ratio_ppm: 500_000,
        minimum_calls: 10,
        consecutive: 5,
        window_ms: 30_000,
        break_ms: 1_000,
        max_break_ms: 5_000,
        probes: 2,
        counts: ClassSet::EMPTY.with(ErrorClass::Server),
    };

    #[test]
    fn state_words_round_trip() {
        let states = [
            State::INITIAL,
            State {
                phase: Phase::Open {
                    until_ms: 123_456_789,
                },
                gen: 65_535,
                streak: 63,
            },
            State {
                phase: Phase::HalfOpen {
                    in_flight: 1000,
                    succeeded: 999,
                },
                gen: 7,
                streak: 2,
            },
        ];
        for state in states {
            assert_eq!(State::decode(state.encode()), state);
        }
        assert_eq!(State::closed_gen(State::INITIAL.encode()), Some(0));
        // Out-of-range fields saturate instead of spilling into their neighbours.
        let far = State {
            phase: Phase::Open { until_ms: u64::MAX },
            gen: 3,
            streak: 500,
        };
        let back = State::decode(far.encode());
        assert_eq!(
            back.phase,
            Phase::Open {
                until_ms: UNTIL_MAX
            }
        );
        assert_eq!((back.gen, back.streak), (3, 63));
    }

    #[test]
    fn generations_wrap() {
        let state = State {
            gen: 65_535,
            ..State::INITIAL
        };
        assert_eq!(trip(&SETTINGS, state, 0).gen, 0);
    }

    #[test]
    fn trip_rules() {
        assert_eq!(should_trip(&SETTINGS, 9, 9, 4), None, "minimum calls");
        assert_eq!(
            should_trip(&SETTINGS, 10, 5, 0),
            Some(TripCause::Ratio {
                failures: 5,
                calls: 10
            })
        );
        assert_eq!(should_trip(&SETTINGS, 10, 4, 0), None);
        assert_eq!(
            should_trip(&SETTINGS, 1, 1, 5),
            Some(TripCause::Consecutive(5))
        );
        let never_in_a_row = Settings {
            consecutive: 0,
            ..SETTINGS
        };
        assert_eq!(should_trip(&never_in_a_row, 1, 1, 1_000), None);
        let any_failure = Settings {
            ratio_ppm: 0,
            ..SETTINGS
        };
        assert_eq!(should_trip(&any_failure, 100, 0, 0), None);
        assert!(should_trip(&any_failure, 100, 1, 0).is_some());
    }

    #[test]
    fn breaks_double_up_to_the_cap() {
        let breaks: Vec<u64> = (1..=6).map(|n| break_ms(&SETTINGS, n)).collect();
        assert_eq!(breaks, [1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
        assert_eq!(break_ms(&SETTINGS, 63), 5_000);
        let cap_below_base = Settings {
            max_break_ms: 10,
            ..SETTINGS
        };
        assert_eq!(break_ms(&cap_below_base, 3), 1_000);
    }

    #[test]
    fn open_refuses_then_lets_one_probe_in() {
        let open = trip(&SETTINGS, State::INITIAL, 10_000);
        assert_eq!(open.phase, Phase::Open { until_ms: 11_000 });
        assert_eq!(
            acquire(&SETTINGS, open, 10_400),
            Admission::Refused {
                retry_in_ms: Some(600)
            }
        );
        let Admission::Granted {
            permit: PermitKind::Probe { gen },
            next: Some(half),
        } = acquire(&SETTINGS, open, 11_000)
        else {
            panic!("the break is over")
        };
        assert_eq!(gen, half.gen);
        assert_eq!(
            half.phase,
            Phase::HalfOpen {
                in_flight: 1,
                succeeded: 0
            }
        );
    }

    #[test]
    fn probes_decide() {
        let half = State {
            phase: Phase::HalfOpen {
                in_flight: 2,
                succeeded: 0,
            },
            gen: 4,
            streak: 1,
        };
        assert_eq!(
            acquire(&SETTINGS, half, 0),
            Admission::Refused { retry_in_ms: None }
        );
        let one = resolve_probe(&SETTINGS, half, 4, ProbeOutcome::Success, 0).unwrap();
        assert_eq!(
            one.phase,
            Phase::HalfOpen {
                in_flight: 1,
                succeeded: 1
            }
        );
        let closed = resolve_probe(&SETTINGS, one, 4, ProbeOutcome::Success, 0).unwrap();
        assert_eq!((closed.phase, closed.streak), (Phase::Closed, 0));
        let reopened = resolve_probe(&SETTINGS, one, 4, ProbeOutcome::Failure, 50).unwrap();
        assert_eq!(reopened.phase, Phase::Open { until_ms: 2_050 });
        assert_eq!(reopened.streak, 2);
        let back = resolve_probe(&SETTINGS, half, 4, ProbeOutcome::Abandoned, 0).unwrap();
        assert_eq!(
            back.phase,
            Phase::HalfOpen {
                in_flight: 1,
                succeeded: 0
            }
        );
        assert_eq!(
            resolve_probe(&SETTINGS, half, 3, ProbeOutcome::Failure, 0),
            None,
            "a probe of an earlier phase changes nothing"
        );
        assert_eq!(
            resolve_probe(&SETTINGS, State::INITIAL, 0, ProbeOutcome::Failure, 0),
            None
        );
    }
}
