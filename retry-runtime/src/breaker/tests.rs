//! Every transition of the breaker, on the test clock (`testing::record_sleeps`), and a
//! threaded stress test of the half-open probe permits.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Mutex;

use super::*;
use crate::testing;
use crate::Classify;

const SEC: Duration = Duration::from_secs(1);

/// A breaker that trips on the ratio only (no run-of-failures rule).
const fn by_ratio() -> CircuitBreaker {
    CircuitBreaker::new()
        .named("ratio")
        .failure_ratio(0.5)
        .minimum_calls(10)
        .consecutive_failures(0)
        .window(Duration::from_secs(30))
        .break_duration(Duration::from_secs(5))
}

/// A breaker that trips at the third failure in a row.
const fn by_run() -> CircuitBreaker {
    CircuitBreaker::new()
        .named("run")
        .consecutive_failures(3)
        .minimum_calls(1_000)
        .break_duration(Duration::from_secs(1))
        .max_break_duration(Duration::from_secs(3))
}

fn succeed(breaker: &CircuitBreaker) {
    breaker.try_acquire().expect("let through").success();
}

fn fail(breaker: &CircuitBreaker, class: ErrorClass) {
    breaker.try_acquire().expect("let through").failure(class);
}

fn trip_by_run(breaker: &CircuitBreaker) {
    for _ in 0..3 {
        fail(breaker, ErrorClass::Server);
    }
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn the_failure_ratio_trips_once_the_window_has_enough_calls() {
    let _clock = testing::record_sleeps();
    let breaker = by_ratio();
    for _ in 0..4 {
        succeed(&breaker);
        fail(&breaker, ErrorClass::Server);
    }
    succeed(&breaker);
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "4 of 9: below 10 calls"
    );
    fail(&breaker, ErrorClass::Overloaded);
    let snap = breaker.snapshot();
    assert_eq!(snap.state, BreakerState::Open, "5 of 10 failed");
    assert_eq!((snap.calls, snap.failures, snap.trips), (10, 5, 1));
}

#[test]
fn a_ratio_below_the_threshold_does_not_trip() {
    let _clock = testing::record_sleeps();
    let breaker = by_ratio();
    for _ in 0..50 {
        succeed(&breaker);
        succeed(&breaker);
        fail(&breaker, ErrorClass::Timeout);
    }
    let snap = breaker.snapshot();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!((snap.calls, snap.failures), (150, 50));
}

#[test]
fn the_minimum_calls_must_be_reached() {
    let _clock = testing::record_sleeps();
    let breaker = by_ratio();
    for _ in 0..9 {
        fail(&breaker, ErrorClass::Network);
    }
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "9 of 9, but 10 needed"
    );
    fail(&breaker, ErrorClass::Network);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn failures_leave_the_window() {
    let clock = testing::record_sleeps();
    let breaker = by_ratio();
    for _ in 0..9 {
        fail(&breaker, ErrorClass::Server);
    }
    clock.advance(Duration::from_secs(31));
    assert_eq!(breaker.snapshot().calls, 0, "the 9 old failures left");
    for _ in 0..9 {
        fail(&breaker, ErrorClass::Server);
    }
    assert_eq!(
        breaker.state(),
        BreakerState::Closed,
        "9 of 9, but 10 needed"
    );
    assert_eq!(breaker.snapshot().calls, 9);
}

#[test]
fn successes_after_an_idle_spell_may_miss_the_window_by_15_at_most() {
    let clock = testing::record_sleeps();
    let breaker = by_ratio();
    for _ in 0..9 {
        fail(&breaker, ErrorClass::Server);
    }
    clock.advance(Duration::from_secs(31));
    // Successes do not read the clock: they count in the bucket of the breaker's latest look
    // at it (31 s ago) until the 16th of that bucket looks again. So of these 25, the 7 that
    // took the old bucket's count from 9 to 16 left the window with it.
    for _ in 0..25 {
        succeed(&breaker);
    }
    fail(&breaker, ErrorClass::Server);
    let snap = breaker.snapshot();
    assert_eq!((snap.calls, snap.failures), (19, 1));
    assert!(snap.calls + 15 >= 26);
}

#[test]
fn failures_in_a_row_trip_and_a_success_ends_the_run() {
    let _clock = testing::record_sleeps();
    let breaker = by_run();
    fail(&breaker, ErrorClass::Server);
    fail(&breaker, ErrorClass::Server);
    assert_eq!(breaker.snapshot().consecutive_failures, 2);
    succeed(&breaker);
    assert_eq!(breaker.snapshot().consecutive_failures, 0);
    fail(&breaker, ErrorClass::Server);
    fail(&breaker, ErrorClass::Server);
    assert_eq!(breaker.state(), BreakerState::Closed);
    fail(&breaker, ErrorClass::Server);
    assert_eq!(breaker.state(), BreakerState::Open);
}

#[test]
fn an_open_breaker_refuses_and_says_when_it_probes() {
    let clock = testing::record_sleeps();
    let breaker = by_ratio();
    breaker.trip();
    let refused = breaker.try_acquire().unwrap_err();
    assert_eq!(refused.breaker(), "ratio");
    assert_eq!(refused.retry_in(), Some(5 * SEC));
    assert_eq!(refused.class(), ErrorClass::Overloaded);
    assert_eq!(refused.retry_after(), Some(5 * SEC));
    assert_eq!(
        refused.to_string(),
        "circuit breaker `ratio` is open: calls are refused for 5s more"
    );
    clock.advance(2 * SEC);
    assert_eq!(breaker.try_acquire().unwrap_err().retry_in(), Some(3 * SEC));
    assert_eq!(breaker.snapshot().retry_in, Some(3 * SEC));
    clock.advance(3 * SEC);
    assert_eq!(
        breaker.state(),
        BreakerState::HalfOpen,
        "due: the next call probes"
    );
    assert!(breaker.try_acquire().unwrap().is_probe());
}

#[test]
fn half_open_lets_only_its_probes_through() {
    let clock = testing::record_sleeps();
    let breaker = by_ratio().half_open_probes(2);
    breaker.trip();
    clock.advance(5 * SEC);
    let first = breaker.try_acquire().unwrap();
    let second = breaker.try_acquire().unwrap();
    assert!(first.is_probe() && second.is_probe());
    let refused = breaker.try_acquire().unwrap_err();
    assert_eq!(refused.retry_in(), None);
    assert_eq!(
        refused.to_string(),
        "circuit breaker `ratio` is half-open: its probe calls are running"
    );
    assert_eq!(breaker.snapshot().probes_in_flight, 2);
    first.success();
    assert!(
        breaker.try_acquire().is_err(),
        "a probe that succeeded keeps its slot"
    );
    second.success();
    assert_eq!(breaker.state(), BreakerState::Closed);
}

#[test]
fn probes_that_succeed_close_and_forget_the_window() {
    let clock = testing::record_sleeps();
    let breaker = by_run();
    trip_by_run(&breaker);
    clock.advance(SEC);
    breaker.try_acquire().unwrap().success();
    let snap = breaker.snapshot();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!(
        (snap.calls, snap.failures, snap.consecutive_failures),
        (0, 0, 0)
    );
    fail(&breaker, ErrorClass::Server);
    assert_eq!(breaker.state(), BreakerState::Closed, "the run starts over");
}

#[test]
fn a_failed_probe_reopens_for_a_longer_break_up_to_the_cap() {
    let clock = testing::record_sleeps();
    let breaker = by_run(); // 1 s, doubling, capped at 3 s
    trip_by_run(&breaker);
    let mut breaks = Vec::new();
    for _ in 0..4 {
        let wait = breaker.try_acquire().unwrap_err().retry_in().unwrap();
        breaks.push(wait);
        clock.advance(wait);
        breaker
            .try_acquire()
            .expect("probe")
            .failure(ErrorClass::Timeout);
    }
    assert_eq!(breaks, [SEC, 2 * SEC, 3 * SEC, 3 * SEC]);
    assert_eq!(breaker.snapshot().trips, 5);
    // Closing forgets the growth.
    clock.advance(3 * SEC);
    breaker.try_acquire().unwrap().success();
    trip_by_run(&breaker);
    assert_eq!(breaker.try_acquire().unwrap_err().retry_in(), Some(SEC));
}

#[test]
fn classes_that_do_not_count_are_neutral() {
    let clock = testing::record_sleeps();
    let breaker = by_run();
    fail(&breaker, ErrorClass::Server);
    for class in [
        ErrorClass::RateLimit,
        ErrorClass::Conflict,
        ErrorClass::Other,
        ErrorClass::Client,
    ] {
        for _ in 0..10 {
            fail(&breaker, class);
        }
    }
    let snap = breaker.snapshot();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!(
        (snap.calls, snap.failures, snap.consecutive_failures),
        (1, 1, 1),
        "neither counted nor ending the run"
    );
    // A neutral probe gives its slot back.
    breaker.trip();
    clock.advance(SEC);
    breaker
        .try_acquire()
        .unwrap()
        .failure(ErrorClass::RateLimit);
    assert!(breaker.try_acquire().unwrap().is_probe());

    let counting_429 = by_run().counts(ClassSet::EMPTY.with(ErrorClass::RateLimit));
    trip_by_run_of(&counting_429, ErrorClass::RateLimit);
    assert!(!counting_429.is_counted(ErrorClass::Server));
}

fn trip_by_run_of(breaker: &CircuitBreaker, class: ErrorClass) {
    for _ in 0..3 {
        fail(breaker, class);
    }
    assert_eq!(breaker.state(), BreakerState::Open, "{class} counted");
}

#[test]
fn client_and_auth_never_count_even_when_named() {
    let _clock = testing::record_sleeps();
    let breaker = by_run().counts(
        ClassSet::EMPTY
            .with(ErrorClass::Client)
            .with(ErrorClass::Auth)
            .with(ErrorClass::Server),
    );
    assert!(!breaker.is_counted(ErrorClass::Client));
    assert!(!breaker.is_counted(ErrorClass::Auth));
    for _ in 0..20 {
        fail(&breaker, ErrorClass::Auth);
        fail(&breaker, ErrorClass::Client);
    }
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(breaker.snapshot().failures, 0);
    trip_by_run_of(&breaker, ErrorClass::Server);
}

#[test]
fn a_cancelled_probe_gives_its_slot_back() {
    let clock = testing::record_sleeps();
    let breaker = by_run();
    trip_by_run(&breaker);
    clock.advance(SEC);
    let probe = breaker.try_acquire().unwrap();
    assert!(breaker.try_acquire().is_err(), "one probe");
    drop(probe); // the future making the call was dropped
    assert_eq!(breaker.snapshot().probes_in_flight, 0);
    let probe = breaker.try_acquire().expect("the slot came back");
    probe.success();
    assert_eq!(breaker.state(), BreakerState::Closed);
    // A cancelled call through a closed breaker counts nothing.
    drop(breaker.try_acquire().unwrap());
    assert_eq!(breaker.snapshot().calls, 0);
}

#[test]
fn a_cancelled_async_probe_gives_its_slot_back() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Waker};

    let clock = testing::record_sleeps();
    let breaker = by_run();
    trip_by_run(&breaker);
    clock.advance(SEC);
    {
        let call = pin!(async {
            let permit = breaker.try_acquire()?;
            std::future::pending::<()>().await; // a call that never answers
            permit.success();
            Ok::<_, CircuitOpen>(())
        });
        let mut cx = Context::from_waker(Waker::noop());
        assert!(call.poll(&mut cx).is_pending());
        assert!(breaker.try_acquire().is_err(), "the probe is running");
    } // the future is dropped: cancelled
    assert!(breaker.try_acquire().unwrap().is_probe());
}

#[test]
fn a_panicking_call_counts_as_a_failure() {
    let clock = testing::record_sleeps();
    let breaker = by_run().consecutive_failures(1);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _permit = breaker.try_acquire().unwrap();
        panic!("the body panicked");
    }));
    assert!(outcome.is_err());
    assert_eq!(breaker.state(), BreakerState::Open);
    // And a panicking probe reopens.
    clock.advance(SEC);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let _probe = breaker.try_acquire().unwrap();
        panic!("the probe panicked");
    }));
    assert!(outcome.is_err());
    assert_eq!(breaker.try_acquire().unwrap_err().retry_in(), Some(2 * SEC));
}

#[test]
fn trip_and_reset_by_hand() {
    let _clock = testing::record_sleeps();
    let breaker = by_run();
    fail(&breaker, ErrorClass::Server);
    let before_trip = breaker.try_acquire().unwrap();
    breaker.trip();
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(breaker.snapshot().trips, 1);
    breaker.reset();
    let snap = breaker.snapshot();
    assert_eq!(snap.state, BreakerState::Closed);
    assert_eq!(
        (snap.calls, snap.consecutive_failures, snap.trips),
        (0, 0, 1)
    );
    // A call that began before the trip reports to nothing.
    before_trip.failure(ErrorClass::Server);
    assert_eq!(breaker.snapshot().failures, 0);
    // Reset also forgets the growth of the break.
    breaker.trip();
    breaker.trip();
    assert_eq!(breaker.try_acquire().unwrap_err().retry_in(), Some(2 * SEC));
    breaker.reset();
    breaker.trip();
    assert_eq!(breaker.try_acquire().unwrap_err().retry_in(), Some(SEC));
}

#[test]
fn the_builder_clamps_bad_input() {
    let s = |b: CircuitBreaker| b.settings;
    assert_eq!(
        s(CircuitBreaker::new().failure_ratio(f64::NAN)).ratio_ppm,
        1_000_000
    );
    assert_eq!(s(CircuitBreaker::new().failure_ratio(-3.0)).ratio_ppm, 0);
    assert_eq!(
        s(CircuitBreaker::new().failure_ratio(7.0)).ratio_ppm,
        1_000_000
    );
    assert_eq!(
        s(CircuitBreaker::new().failure_ratio(0.25)).ratio_ppm,
        250_000
    );
    assert_eq!(s(CircuitBreaker::new().minimum_calls(0)).minimum_calls, 1);
    assert_eq!(
        s(CircuitBreaker::new().window(Duration::ZERO)).window_ms,
        10
    );
    assert_eq!(
        s(CircuitBreaker::new().window(Duration::MAX)).window_ms,
        86_400_000
    );
    assert_eq!(
        s(CircuitBreaker::new().window(Duration::from_millis(1_234))).window_ms,
        1_230
    );
    assert_eq!(s(CircuitBreaker::new().half_open_probes(0)).probes, 1);
    assert_eq!(
        s(CircuitBreaker::new().half_open_probes(5_000)).probes,
        1_000
    );
    assert_eq!(
        s(CircuitBreaker::new().break_duration(Duration::from_micros(1))).break_ms,
        1
    );
    assert_eq!(
        s(CircuitBreaker::new().break_duration(Duration::MAX)).break_ms,
        u64::MAX
    );
    // A huge break saturates instead of overflowing.
    let _clock = testing::record_sleeps();
    let forever = CircuitBreaker::new().break_duration(Duration::MAX);
    forever.trip();
    assert!(forever.try_acquire().unwrap_err().retry_in().unwrap() > Duration::from_secs(1 << 30));
    let debug = format!("{:?}", by_run());
    assert!(
        debug.contains("name: \"run\"") && debug.contains("consecutive_failures: 3"),
        "{debug}"
    );
}

#[test]
fn a_breaker_lives_in_a_static_and_is_sync() {
    static SHARED: CircuitBreaker = CircuitBreaker::new().named("static");
    fn assert_sync<T: Sync + Send>(_: &T) {}
    assert_sync(&SHARED);
    assert_eq!(SHARED.name(), "static");
    assert_eq!(SHARED.state(), BreakerState::Closed);
}

// ===== logs =====

#[test]
fn transitions_are_logged_with_the_breaker_name() {
    let clock = testing::record_sleeps();
    let scenario = || {
        let breaker = by_run().named("openai");
        trip_by_run(&breaker);
        clock.advance(SEC);
        breaker.try_acquire().unwrap().failure(ErrorClass::Server);
        clock.advance(2 * SEC);
        breaker.try_acquire().unwrap().success();
    };
    let ((), events) = retry_test_capture::logs(scenario);
    let seen: Vec<_> = events
        .iter()
        .map(|e| (e.level, e.message(), e.field("breaker").unwrap_or("")))
        .collect();
    let expected = [
        (tracing::Level::WARN, "circuit breaker opened"),
        (
            tracing::Level::INFO,
            "circuit breaker half-open: letting probe calls through",
        ),
        (tracing::Level::WARN, "circuit breaker opened"),
        (
            tracing::Level::INFO,
            "circuit breaker half-open: letting probe calls through",
        ),
        (tracing::Level::INFO, "circuit breaker closed"),
    ];
    assert_eq!(seen.len(), expected.len(), "{seen:?}");
    for ((level, message, breaker), (want_level, want_message)) in seen.iter().zip(expected) {
        assert_eq!((*level, *message), (want_level, want_message));
        assert_eq!(*breaker, "openai");
    }
}

// ===== threads =====

/// Many threads hammer one breaker that trips and recovers all the time (breaks of 0 ms, one
/// failure trips): in each half-open phase, the probes held at once never exceed the limit,
/// and every probe slot comes back.
#[test]
fn probes_never_exceed_the_limit_under_threads() {
    const PROBES: u32 = 3;
    static BREAKER: CircuitBreaker = CircuitBreaker::new()
        .named("stress")
        .consecutive_failures(1)
        .break_duration(Duration::ZERO)
        .half_open_probes(PROBES);
    // Per phase: (held now, most held at once, granted, given back).
    let phases: Mutex<HashMap<u32, (u32, u32, u32, u32)>> = Mutex::new(HashMap::new());
    // Until 3 000 probes were granted in all (refused calls spin quickly while probes run).
    let probes_granted = AtomicU32::new(0);
    std::thread::scope(|s| {
        for thread in 0..4u64 {
            let (phases, probes_granted) = (&phases, &probes_granted);
            s.spawn(move || {
                let mut rng = thread.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for _ in 0..2_000_000 {
                    if probes_granted.load(Relaxed) >= 3_000 {
                        return;
                    }
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let Ok(permit) = BREAKER.try_acquire() else {
                        continue;
                    };
                    let PermitKind::Probe { gen } = permit.kind else {
                        if rng % 50 == 0 {
                            permit.failure(ErrorClass::Server);
                        } else {
                            permit.success();
                        }
                        continue;
                    };
                    {
                        let mut phases = phases.lock().unwrap();
                        let phase = phases.entry(gen).or_default();
                        phase.0 += 1;
                        phase.1 = phase.1.max(phase.0);
                        phase.2 += 1;
                    }
                    probes_granted.fetch_add(1, Relaxed);
                    std::thread::yield_now();
                    let outcome = rng % 10;
                    {
                        let mut phases = phases.lock().unwrap();
                        let phase = phases.get_mut(&gen).unwrap();
                        phase.0 -= 1;
                        if outcome >= 8 {
                            phase.3 += 1;
                        }
                    }
                    match outcome {
                        0..=5 => permit.success(),
                        6 | 7 => permit.failure(ErrorClass::Timeout),
                        _ => drop(permit),
                    }
                }
            });
        }
    });
    let phases = phases.into_inner().unwrap();
    assert!(
        phases.len() > 100,
        "the breaker went half-open {} times",
        phases.len()
    );
    for (gen, (held, most, granted, given_back)) in phases {
        assert_eq!(held, 0);
        assert!(most <= PROBES, "phase {gen}: {most} probes at once");
        assert!(
            granted <= PROBES + given_back,
            "phase {gen}: {granted} probes granted, {given_back} given back"
        );
    }
    let end = State::decode(BREAKER.state.load(Acquire));
    if let Phase::HalfOpen { in_flight, .. } = end.phase {
        assert_eq!(in_flight, 0, "every probe slot came back");
    }
}

#[test]
fn a_breaker_on_its_own_clock_reads_one_now_on_every_thread() {
    static CLOCK: testing::TestClock = testing::TestClock::new();
    static SHARED: CircuitBreaker = by_run().clock(&CLOCK);
    // Each thread has a test clock of its own as well, at another time: the breaker reads
    // neither of them.
    let on_thread = |f: fn()| {
        std::thread::spawn(move || {
            let own = testing::record_sleeps();
            own.advance(Duration::from_secs(3_600));
            f();
        })
        .join()
        .unwrap();
    };
    on_thread(|| trip_by_run(&SHARED));
    CLOCK.advance(SEC - Duration::from_millis(1));
    on_thread(|| {
        let refused = SHARED.try_acquire().expect_err("still open");
        assert_eq!(refused.retry_in(), Some(Duration::from_millis(1)));
    });
    CLOCK.advance(Duration::from_millis(1));
    on_thread(|| assert!(SHARED.try_acquire().expect("the probe").is_probe()));
}
