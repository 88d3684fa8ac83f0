//! The gate: its two paths under threads, and the end of each attempt.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Barrier;
use std::time::Duration;

use crate::admission::{AdmissionGate, AdmissionWait, KeyedGates, RateLimits};
use crate::testing::TestClock;

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
    let probe = gate.try_admit(0).unwrap();
    assert!(
        probe.is_probe(),
        "the provider not heard from yet: one goes first"
    );
    assert_eq!(
        gate.try_admit(0).unwrap_err().reason(),
        AdmissionWait::Probe
    );
    probe.succeeded(None); // published nothing: the others go
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
fn eight_threads_on_the_lock_free_path_never_take_more_than_published() {
    static CLOCK: TestClock = TestClock::new();
    static GATE: AdmissionGate = AdmissionGate::new().clock(&CLOCK);
    // The first attempt's response publishes the limits.
    let first = GATE.try_admit(0).unwrap();
    GATE.published(
        &RateLimits::new()
            .with_requests(1_000, Duration::from_secs(60))
            .with_tokens(50_000, Duration::from_secs(60)),
    );
    first.succeeded(None);
    let (admitted, tokens) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let start = Barrier::new(8);
    std::thread::scope(|scope| {
        for thread in 0..8_u64 {
            let (admitted, tokens, start) = (&admitted, &tokens, &start);
            scope.spawn(move || {
                start.wait();
                for i in 0..400_u64 {
                    // Some attempts state tokens, which the room lent may not cover; some
                    // ends settle their usage, which takes the lock and lends anew.
                    let cost = (thread + i) % 3 * 50;
                    if let Ok(permit) = GATE.try_admit(cost) {
                        admitted.fetch_add(1, SeqCst);
                        tokens.fetch_add(usize::try_from(cost).unwrap(), SeqCst);
                        if i % 7 == 0 {
                            permit.succeeded(Some(cost));
                        } else {
                            permit.succeeded(None);
                        }
                    }
                }
            });
        }
    });
    assert_eq!(admitted.load(SeqCst), 1_000, "exactly what was published");
    assert!(tokens.load(SeqCst) <= 50_000);
    assert_eq!(
        GATE.try_admit(0).unwrap_err().reason(),
        AdmissionWait::Requests
    );
    CLOCK.advance(Duration::from_secs(60));
    assert!(GATE.try_admit(0).is_ok(), "the limit reset");
}
