//! One test clock for the whole process (`TestClock::install`): deadlines, breakers and budgets
//! without a clock of their own, and the sleeps of retried calls on every thread, sync or
//! async, all read and move the same clock. A binary of its own, since the clock is
//! process-wide; its tests take turns.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use retry_runtime::testing::{InstalledClock, TestClock};
use retry_runtime::{retry, BreakerState, CircuitBreaker, RetryBudget};

const S: Duration = Duration::from_secs(1);

static CLOCK: TestClock = TestClock::new();

/// The process clock, installed and emptied of earlier sleeps, for one test at a time. The
/// clock is uninstalled before the turn passes (a tuple drops its fields in order).
fn installed() -> (InstalledClock, MutexGuard<'static, ()>) {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(PoisonError::into_inner);
    let guard = CLOCK.install();
    CLOCK.clear();
    (guard, turn)
}

fn reset() -> std::io::Error {
    std::io::ErrorKind::ConnectionReset.into()
}

#[test]
fn sleeps_on_every_thread_are_recorded_and_move_the_clock() {
    #[retry(max_attempts = 3, wait = fixed(2s), jitter = none)]
    fn flaky() -> Result<(), std::io::Error> {
        Err(reset())
    }
    let _clock = installed();
    let start = CLOCK.now();
    let threads: Vec<_> = (0..2)
        .map(|_| std::thread::spawn(|| assert!(flaky().is_err())))
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(CLOCK.sleeps(), [2 * S; 4]);
    assert_eq!(CLOCK.now() - start, 8 * S);
}

#[test]
fn async_calls_on_a_real_runtime_record_their_sleeps_too() {
    #[retry(max_attempts = 4, wait = fixed(30s), jitter = none)]
    async fn flaky() -> Result<(), std::io::Error> {
        Err(reset())
    }
    let _clock = installed();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    // Without the clock this would take 90 real seconds.
    assert!(runtime.block_on(flaky()).is_err());
    assert_eq!(CLOCK.sleeps(), [30 * S; 3]);
}

#[test]
fn a_deadline_is_kept_on_the_process_clock() {
    #[retry(max_attempts = 10, wait = fixed(2s), jitter = none, deadline = 5s)]
    fn flaky(attempts: &Mutex<u32>) -> Result<(), std::io::Error> {
        *attempts.lock().unwrap() += 1;
        Err(reset())
    }
    let _clock = installed();
    let start = CLOCK.now();
    let attempts = Mutex::new(0);
    std::thread::scope(|scope| {
        scope.spawn(|| assert!(flaky(&attempts).is_err()));
    });
    assert_eq!(*attempts.lock().unwrap(), 3, "at 0 s, 2 s and 4 s");
    assert_eq!(
        CLOCK.sleeps(),
        [2 * S; 2],
        "a third wait would end past 5 s"
    );
    assert!(CLOCK.now() - start <= 5 * S);
}

#[test]
fn breakers_and_budgets_without_a_clock_read_it_on_every_thread() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new().break_duration(Duration::from_secs(5));
    static BUDGET: RetryBudget = RetryBudget::new()
        .ratio(0.5)
        .min_per_second(0.0)
        .window(Duration::from_secs(10));
    let _clock = installed();
    std::thread::spawn(|| {
        BREAKER.trip();
        (0..10).for_each(|_| BUDGET.deposit());
    })
    .join()
    .unwrap();
    assert_eq!(BUDGET.snapshot().available, 5);
    CLOCK.advance(5 * S);
    let seen = std::thread::spawn(|| BREAKER.state()).join().unwrap();
    assert_eq!(seen, BreakerState::HalfOpen);
    CLOCK.advance(6 * S);
    assert_eq!(
        BUDGET.snapshot().available,
        0,
        "the deposits left the window"
    );
}

#[test]
fn a_threads_own_test_clock_comes_first_and_uninstalling_restores_real_time() {
    #[retry(max_attempts = 2, wait = fixed(1s), jitter = none)]
    fn flaky() -> Result<(), std::io::Error> {
        Err(reset())
    }
    let (installed, turn) = installed();
    let own = retry_runtime::testing::record_sleeps();
    assert!(flaky().is_err());
    assert_eq!(own.sleeps(), [S]);
    assert!(CLOCK.sleeps().is_empty());
    drop(own);

    drop(installed);
    let before = CLOCK.now();
    #[retry(max_attempts = 2, wait = fixed(1ms), jitter = none)]
    fn quick() -> Result<(), std::io::Error> {
        Err(reset())
    }
    assert!(quick().is_err());
    assert!(
        CLOCK.sleeps().is_empty(),
        "slept for real, not on the clock"
    );
    assert_eq!(CLOCK.now(), before);
    drop(turn);
}
