//! The gate's decisions on hand-picked cases and on random sequences; the gate itself under
//! threads (`gate`); the limits read from headers (`limits`).

use proptest::prelude::*;

mod gate;
mod limits;
mod quota;

use super::decide::{self, Admission, Published, ScopeState, Settings, Signal};
use super::*;

const S: &Settings = &Settings::DEFAULT;

/// [`decide::admit`] on a copy: the state after, and the decision.
fn admit(
    settings: &Settings,
    mut state: ScopeState,
    now: u64,
    tokens: u64,
) -> (ScopeState, Admission) {
    let admission = decide::admit(settings, &mut state, now, tokens);
    (state, admission)
}

/// [`decide::observe`] on a copy: the state after.
fn observe(settings: &Settings, mut state: ScopeState, now: u64, signal: Signal) -> ScopeState {
    decide::observe(settings, &mut state, now, signal);
    state
}

fn go(state: ScopeState, now: u64) -> (ScopeState, bool) {
    let (next, admission) = admit(S, state, now, 0);
    (next, matches!(admission, Admission::Go { .. }))
}

fn ended(state: ScopeState, now: u64, probe: bool) -> ScopeState {
    observe(
        S,
        state,
        now,
        Signal::Ended {
            succeeded: true,
            probe,
            charged_tokens: 0,
            used_tokens: None,
        },
    )
}

#[test]
fn a_scope_that_knows_nothing_admits_everything() {
    let mut state = ScopeState::default();
    for now in 0..100 {
        let (next, went) = go(state, now);
        assert!(went);
        state = next;
    }
}

#[test]
fn a_throttle_pauses_the_scope_until_its_hint_then_one_probe_goes_first() {
    let throttled = observe(
        S,
        ScopeState::default(),
        1_000,
        Signal::Throttled {
            retry_after_ms: Some(2_500),
        },
    );
    let (_, before) = admit(S, throttled, 3_499, 0);
    assert_eq!(
        before,
        Admission::Wait {
            ms: 1,
            why: AdmissionWait::Cooldown
        }
    );
    let (probing, first) = admit(S, throttled, 3_500, 0);
    assert_eq!(first, Admission::Go { probe: true });
    let (_, second) = admit(S, probing, 3_500, 0);
    assert_eq!(
        second,
        Admission::Wait {
            ms: S.probe_poll_ms,
            why: AdmissionWait::Probe
        }
    );
    // The probe's success lets the others go, at the rate learnt from the throttle.
    let after_probe = ended(probing, 3_600, true);
    let (_, next) = admit(S, after_probe, 3_600, 0);
    assert!(
        matches!(
            next,
            Admission::Wait {
                why: AdmissionWait::Rate,
                ..
            }
        ),
        "{next:?}"
    );
    let (_, later) = admit(S, after_probe, 3_600 + 10_000, 0);
    assert_eq!(later, Admission::Go { probe: false });
}

#[test]
fn a_probe_that_never_reports_is_replaced_after_its_timeout() {
    let throttled = observe(
        S,
        ScopeState::default(),
        0,
        Signal::Throttled {
            retry_after_ms: None,
        },
    );
    let (probing, _) = admit(S, throttled, S.default_cooldown_ms, 0);
    let lost_at = S.default_cooldown_ms + S.probe_timeout_ms;
    let (_, late) = admit(S, probing, lost_at - 1, 0);
    assert!(matches!(
        late,
        Admission::Wait {
            why: AdmissionWait::Probe,
            ..
        }
    ));
    let (_, replaced) = admit(S, probing, lost_at, 0);
    assert_eq!(replaced, Admission::Go { probe: true });
}

#[test]
fn a_cooldown_is_capped_and_never_shortened_by_a_later_shorter_hint() {
    let long = observe(
        S,
        ScopeState::default(),
        0,
        Signal::Throttled {
            retry_after_ms: Some(10_000_000),
        },
    );
    assert_eq!(long.cooldown_until, S.max_cooldown_ms);
    let shorter = observe(
        S,
        long,
        10,
        Signal::Throttled {
            retry_after_ms: Some(5),
        },
    );
    assert_eq!(shorter.cooldown_until, S.max_cooldown_ms);
}

#[test]
fn published_requests_count_the_others_in_flight() {
    // One of three attempts comes back: 5 left as the provider counted it, 2 others in flight.
    let state = observe(
        S,
        ScopeState::default(),
        10,
        Signal::Published {
            requests: Some(Published {
                limit: None,
                remaining: 5,
                reset_in_ms: 1_000,
            }),
            tokens: None,
            others_in_flight: 2,
        },
    );
    assert_eq!(state.requests.remaining, 3);
    let (state, _) = go(state, 20);
    let (state, _) = go(state, 20);
    let (state, _) = go(state, 20);
    let (_, refused) = admit(S, state, 20, 0);
    assert_eq!(
        refused,
        Admission::Wait {
            ms: 990,
            why: AdmissionWait::Requests
        }
    );
    assert!(go(state, 1_010).1, "the limit reset");
}

#[test]
fn tokens_are_charged_up_front_and_settled_by_the_usage() {
    let state = observe(
        S,
        ScopeState::default(),
        0,
        Signal::Published {
            requests: None,
            tokens: Some(Published {
                limit: None,
                remaining: 1_000,
                reset_in_ms: 60_000,
            }),
            others_in_flight: 0,
        },
    );
    let (state, first) = admit(S, state, 0, 800);
    assert_eq!(first, Admission::Go { probe: false });
    let (_, second) = admit(S, state, 0, 300);
    assert!(matches!(
        second,
        Admission::Wait {
            why: AdmissionWait::Tokens,
            ..
        }
    ));
    // The first used 150 of the 800 it was charged.
    let settled = observe(
        S,
        state,
        5,
        Signal::Ended {
            succeeded: true,
            probe: false,
            charged_tokens: 800,
            used_tokens: Some(150),
        },
    );
    assert_eq!(settled.tokens.remaining, 850);
    assert_eq!(admit(S, settled, 5, 300).1, Admission::Go { probe: false });
}

#[test]
fn without_published_limits_throttles_teach_a_rate_that_successes_raise() {
    let mut state = ScopeState::default();
    // 20 attempts a second for two seconds, then a 503.
    for now in (0..2_000).step_by(50) {
        state = go(state, now).0;
    }
    let slowed = observe(S, state, 2_000, Signal::Overloaded);
    let rate = slowed.rate.per_sec_milli;
    assert!(
        (13_000..=14_100).contains(&rate),
        "{rate}: 0.7 × about 20/s"
    );
    // Paced: about one attempt each 1/rate second.
    let mut admitted = 0;
    let mut state = slowed;
    for now in 2_000..4_000 {
        let (next, went) = go(state, now);
        state = next;
        admitted += usize::from(went);
    }
    assert!((26..=30).contains(&admitted), "{admitted} in 2 s");
    // A success 2 s after the fall: the rate doubles for each quiet second.
    let raised = ended(state, 4_000, false);
    assert_eq!(raised.rate.per_sec_milli, rate * 3);
    // Right after it, a success adds a share of the rate (2 %) or the step, whichever is more.
    let again = ended(raised, 4_000, false);
    assert_eq!(again.rate.per_sec_milli, rate * 3 + rate * 3 / 50);
    // A second throttle of attempts sent before the fall took effect changes nothing.
    let twice = observe(S, slowed, 2_010, Signal::Overloaded);
    assert_eq!(twice.rate, slowed.rate);
}

#[test]
fn published_limits_replace_the_learnt_rate_while_they_hold() {
    let slowed = observe(
        S,
        ScopeState::default(),
        0,
        Signal::Throttled {
            retry_after_ms: Some(0),
        },
    );
    let (state, _) = go(slowed, 0);
    let state = ended(state, 0, true);
    let state = observe(
        S,
        state,
        0,
        Signal::Published {
            requests: Some(Published {
                limit: None,
                remaining: 50,
                reset_in_ms: 1_000,
            }),
            tokens: None,
            others_in_flight: 0,
        },
    );
    let admitted = (0..50).fold((state, 0), |(state, n), _| {
        let (next, went) = go(state, 1);
        (next, n + usize::from(went))
    });
    assert_eq!(admitted.1, 50, "the published 50, not the learnt 0.1/s");
}

// ===== random sequences =====

#[derive(Clone, Debug)]
enum Step {
    Admit { after_ms: u64 },
    End { succeeded: bool },
    Publish { remaining: u64, reset_in_ms: u64 },
    Throttle { retry_after_ms: Option<u64> },
    Overloaded,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0..300u64).prop_map(|after_ms| Step::Admit { after_ms }),
        3 => any::<bool>().prop_map(|succeeded| Step::End { succeeded }),
        2 => (0..20u64, 0..5_000u64)
            .prop_map(|(remaining, reset_in_ms)| Step::Publish { remaining, reset_in_ms }),
        1 => proptest::option::of(0..10_000u64)
            .prop_map(|retry_after_ms| Step::Throttle { retry_after_ms }),
        1 => Just(Step::Overloaded),
    ]
}

proptest! {
    /// Whatever happens, no attempt goes before a throttle's hint (capped) has passed, and
    /// within a published window no more attempts go than were published as remaining.
    #[test]
    fn never_sooner_than_a_hint_nor_more_than_published(steps in prop::collection::vec(step(), 1..200)) {
        let mut state = ScopeState::default();
        let mut now = 0u64;
        let mut probes_out: Vec<bool> = Vec::new();
        let mut no_attempt_before = 0u64;
        // (window end, admitted since, published remaining)
        let mut window: Option<(u64, u64, u64)> = None;
        for step in steps {
            match step {
                Step::Admit { after_ms } => {
                    now += after_ms;
                    let (next, admission) = admit(S, state, now, 0);
                    state = next;
                    if let Admission::Go { probe } = admission {
                        prop_assert!(now >= no_attempt_before, "went at {now}, hint until {no_attempt_before}");
                        probes_out.push(probe);
                        if let Some((end, admitted, remaining)) = window.as_mut() {
                            if now < *end {
                                *admitted += 1;
                                prop_assert!(*admitted <= *remaining);
                            }
                        }
                    }
                }
                Step::End { succeeded } => {
                    if let Some(probe) = probes_out.pop() {
                        state = observe(S, state, now, Signal::Ended {
                            succeeded, probe, charged_tokens: 0, used_tokens: None,
                        });
                    }
                }
                Step::Publish { remaining, reset_in_ms } => {
                    state = observe(S, state, now, Signal::Published {
                        requests: Some(Published { remaining, limit: None, reset_in_ms }),
                        tokens: None,
                        others_in_flight: 0,
                    });
                    window = Some((now + reset_in_ms, 0, remaining));
                }
                Step::Throttle { retry_after_ms } => {
                    state = observe(S, state, now, Signal::Throttled { retry_after_ms });
                    let cooldown = retry_after_ms.unwrap_or(S.default_cooldown_ms).min(S.max_cooldown_ms);
                    no_attempt_before = no_attempt_before.max(now + cooldown);
                }
                Step::Overloaded => state = observe(S, state, now, Signal::Overloaded),
            }
        }
    }
}

#[test]
fn a_slow_rate_asked_every_millisecond_still_fills() {
    let mut state = observe(S, ScopeState::default(), 0, Signal::Overloaded);
    state.rate.per_sec_milli = 100; // 0.1 attempt a second
    let mut went = None;
    for now in 1..=20_000 {
        let (next, admission) = admit(S, state, now, 0);
        state = next;
        if admission == (Admission::Go { probe: false }) {
            went = Some(now);
            break;
        }
    }
    assert_eq!(
        went,
        Some(10_000),
        "one attempt each 10 s, however often it is asked"
    );
}
