//! A published limit past its reset: paced at the rate it refills, never a stampede.

use super::{admit, observe, S};
use crate::admission::decide::{Admission, Published, ScopeState, Signal};
use crate::admission::AdmissionWait;

/// None of 10 requests left, full again in a second: it refills at 10 a second.
fn spent(now: u64) -> ScopeState {
    observe(
        S,
        ScopeState::EMPTY,
        now,
        Signal::Published {
            requests: Some(Published {
                remaining: 0,
                limit: Some(10),
                reset_in_ms: 1_000,
            }),
            tokens: None,
            others_in_flight: 0,
        },
    )
}

#[test]
fn past_its_reset_a_published_limit_paces_at_its_refill_rate() {
    let state = spent(0);
    let (state, first) = admit(S, state, 0, 0);
    assert_eq!(
        first,
        Admission::Wait {
            ms: 100,
            why: AdmissionWait::Requests
        }
    );
    let (state, went) = admit(S, state, 100, 0);
    assert_eq!(went, Admission::Go { probe: false });
    let (mut state, next) = admit(S, state, 150, 0);
    assert_eq!(
        next,
        Admission::Wait {
            ms: 50,
            why: AdmissionWait::Requests
        }
    );
    // Long past the reset, the bucket is full: ten go at once, then one each 100 ms.
    let mut went = 0;
    loop {
        let (next, admission) = admit(S, state, 60_000, 0);
        state = next;
        match admission {
            Admission::Go { .. } => went += 1,
            Admission::Wait { ms, why } => {
                assert_eq!((ms, why), (100, AdmissionWait::Requests));
                break;
            }
        }
    }
    assert_eq!(went, 10, "never more than the limit holds at once");
}

#[test]
fn a_full_bucket_keeps_the_refill_rate_learnt_before() {
    let full = Signal::Published {
        requests: Some(Published {
            remaining: 10,
            limit: Some(10),
            reset_in_ms: 0,
        }),
        tokens: None,
        others_in_flight: 0,
    };
    let mut state = observe(S, spent(0), 2_000, full);
    for _ in 0..10 {
        let (next, admission) = admit(S, state, 2_000, 0);
        assert_eq!(admission, Admission::Go { probe: false });
        state = next;
    }
    let (_, eleventh) = admit(S, state, 2_000, 0);
    assert_eq!(
        eleventh,
        Admission::Wait {
            ms: 100,
            why: AdmissionWait::Requests
        }
    );
    // Without a rate ever learnt, a full bucket limits nothing past its (zero) reset.
    let unknown = observe(S, ScopeState::EMPTY, 0, full);
    let (_, admission) = admit(S, unknown, 0, 0);
    assert_eq!(admission, Admission::Go { probe: false });
}

#[test]
fn an_attempt_costing_more_than_the_limit_waits_for_a_full_bucket_not_for_ever() {
    let tokens = Signal::Published {
        requests: None,
        tokens: Some(Published {
            remaining: 0,
            limit: Some(1_000),
            reset_in_ms: 1_000,
        }),
        others_in_flight: 0,
    };
    let state = observe(S, ScopeState::EMPTY, 0, tokens);
    let (state, admission) = admit(S, state, 0, 5_000);
    assert_eq!(
        admission,
        Admission::Wait {
            ms: 1_000,
            why: AdmissionWait::Tokens
        }
    );
    let (_, admission) = admit(S, state, 1_000, 5_000);
    assert_eq!(admission, Admission::Go { probe: false });
}
