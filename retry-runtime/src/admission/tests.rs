//! The gate's decisions on hand-picked cases and on random sequences, and the probe hand-off
//! under threads.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Barrier;
use std::time::Duration;

use proptest::prelude::*;

use super::decide::{self, Admission, Published, ScopeState, Settings, Signal};
use super::*;
use crate::testing::TestClock;

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
                        requests: Some(Published { remaining, reset_in_ms }),
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

// ===== the gate =====

#[test]
fn one_probe_at_a_time_under_eight_threads() {
    static CLOCK: TestClock = TestClock::new();
    static GATE: AdmissionGate = AdmissionGate::new().clock(&CLOCK);
    GATE.rate_limited(Some(Duration::from_secs(1)));
    CLOCK.advance(Duration::from_secs(1));
    let (probes, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let start = Barrier::new(8);
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                start.wait();
                for _ in 0..1_000 {
                    match GATE.try_admit(0) {
                        Ok(admitted) => {
                            assert!(admitted.is_probe(), "only the probe goes");
                            assert_eq!(probes.fetch_add(1, SeqCst), 0, "a second probe");
                            // Holds it: the clock stands still, so no timeout frees another.
                            std::mem::forget(admitted);
                        }
                        Err(not_yet) => {
                            assert_eq!(not_yet.reason(), AdmissionWait::Probe);
                            refused.fetch_add(1, SeqCst);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(probes.load(SeqCst), 1);
    assert_eq!(refused.load(SeqCst), 7_999);
}

#[test]
fn a_gate_counts_the_others_in_flight_when_limits_are_published() {
    let gate = AdmissionGate::new();
    let (first, second, third) = (
        gate.try_admit(0).unwrap(),
        gate.try_admit(0).unwrap(),
        gate.try_admit(0).unwrap(),
    );
    // The first's response: 3 left as the provider counted it; two others still out.
    gate.published(&RateLimits::from_headers([
        ("x-ratelimit-remaining-requests", "3"),
        ("x-ratelimit-reset-requests", "1m"),
    ]));
    first.succeeded(None);
    let fourth = gate.try_admit(0).expect("the one left");
    assert_eq!(
        gate.try_admit(0).unwrap_err().reason(),
        AdmissionWait::Requests
    );
    for admitted in [second, third, fourth] {
        admitted.succeeded(None);
    }
}

#[test]
fn a_request_scoped_failure_leaves_the_scope_open() {
    let gate = AdmissionGate::new();
    // A 429 about the request (context too long): the caller reports a failure, no throttle.
    gate.try_admit(0).unwrap().failed();
    for _ in 0..10 {
        gate.try_admit(0)
            .expect("the scope is open")
            .succeeded(None);
    }
}

#[test]
fn a_dropped_admission_counts_as_ended() {
    static CLOCK: TestClock = TestClock::new();
    let gate = AdmissionGate::new().clock(&CLOCK);
    gate.rate_limited(Some(Duration::ZERO));
    drop(gate.try_admit(0).expect("the probe"));
    CLOCK.advance(Duration::from_secs(10)); // room at the learnt rate
    assert!(!gate.try_admit(0).unwrap().is_probe(), "the probe ended");
}

#[test]
fn headers_of_each_provider_read_as_limits() {
    let anthropic = RateLimits::from_headers([
        ("Anthropic-RateLimit-Requests-Remaining", "49"),
        ("anthropic-ratelimit-requests-reset", "2999-01-01T00:00:00Z"),
        ("anthropic-ratelimit-input-tokens-remaining", "20000"),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "2999-01-01T00:00:00Z",
        ),
    ]);
    assert_eq!(anthropic.requests().map(|(n, _)| n), Some(49));
    assert_eq!(anthropic.tokens().map(|(n, _)| n), Some(20_000));
    let ietf = RateLimits::from_headers([("RateLimit", "\"default\";r=7;t=30")]);
    assert_eq!(ietf.requests(), Some((7, Duration::from_secs(30))));
    let older = RateLimits::from_headers([("ratelimit-remaining", "3"), ("ratelimit-reset", "2")]);
    assert_eq!(older.requests(), Some((3, Duration::from_secs(2))));
    let half = RateLimits::from_headers([("x-ratelimit-remaining-requests", "3")]);
    assert!(half.is_empty(), "a count without its reset limits nothing");
    let garbage = RateLimits::from_headers([
        ("x-ratelimit-remaining-requests", "-1"),
        ("x-ratelimit-reset-requests", "soon"),
        ("RateLimit", ";;;r=;t"),
    ]);
    assert!(garbage.is_empty());
}

#[test]
fn keyed_gates_keep_scopes_apart_and_bounded() {
    static CLOCK: TestClock = TestClock::new();
    static PER_KEY: KeyedGates<u32> =
        KeyedGates::new(AdmissionGate::new().named("per key").clock(&CLOCK))
            .max_keys(16)
            .idle_after(Duration::ZERO);
    PER_KEY
        .for_key(&1)
        .rate_limited(Some(Duration::from_secs(5)));
    assert_eq!(
        PER_KEY.for_key(&1).try_admit(0).unwrap_err().reason(),
        AdmissionWait::Cooldown
    );
    assert!(PER_KEY.for_key(&2).try_admit(0).is_ok(), "another scope");
    assert_eq!(PER_KEY.for_key(&2).name(), "per key");
    for key in 0..100 {
        drop(PER_KEY.for_key(&key));
        assert!(PER_KEY.len() <= 16);
    }
    // Idle keys are kept at least the longest cooldown: a cooling scope is not forgotten.
    assert!(format!("{PER_KEY:?}").contains("idle_after: 120s"));
}

#[test]
fn limits_pack_into_two_words_and_back() {
    let limits = RateLimits::from_headers([
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "1.5s"),
        ("x-ratelimit-remaining-tokens", "150000000"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ]);
    assert_eq!(RateLimits::unpack(limits.pack()), limits);
    let only_tokens = RateLimits::from_headers([
        ("x-ratelimit-remaining-tokens", "7"),
        ("x-ratelimit-reset-tokens", "1ms"),
    ]);
    assert_eq!(RateLimits::unpack(only_tokens.pack()), only_tokens);
    let huge = RateLimits::from_headers([
        ("ratelimit-remaining", "99999999999"),
        ("ratelimit-reset", "99999999"),
    ]);
    let back = RateLimits::unpack(huge.pack());
    assert_eq!(
        back.requests().unwrap().0,
        u64::from(u32::MAX) - 1,
        "the count saturates"
    );
    assert_eq!(
        back.requests().unwrap().1,
        Duration::from_millis(u64::from(u32::MAX))
    );
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
