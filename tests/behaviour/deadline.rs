//! Behaviour 5: The deadline bounds the whole call; `attempt_timeout` cuts one attempt.

use std::time::Duration;

use retry_runtime::{attempt, retry, testing, Elapsed};
use tokio::time::Instant;

use crate::support::{ApiError, Counter, MS, S};

#[test]
fn no_sleep_ends_past_the_deadline() {
    #[retry(max_attempts = 50, wait = fixed(3s), jitter = none, deadline = 10s)]
    fn slowly_failing() -> Result<(), ApiError> {
        Err(ApiError::status(503))
    }
    let clock = testing::record_sleeps();
    assert!(slowly_failing().is_err());
    // Attempts take no time on the test clock: sleeps at 3, 6, 9 s; a fourth would end at 12 s.
    assert_eq!(clock.sleeps(), [3 * S, 3 * S, 3 * S]);
}

#[test]
fn gives_up_early_when_wait_plus_a_typical_attempt_would_overrun() {
    #[retry(max_attempts = 50, wait = fixed(1s), jitter = none, deadline = 10s)]
    fn slow_attempts(clock: &testing::SleepRecorder, counter: &Counter) -> Result<(), ApiError> {
        counter.next();
        clock.advance(3 * S); // every attempt takes 3 s
        Err(ApiError::status(503))
    }
    let clock = testing::record_sleeps();
    let counter = Counter::new();
    assert!(slow_attempts(&clock, &counter).is_err());
    // 0–3 attempt, 3–4 sleep, 4–7 attempt, then 7 + 1 + 3 = 11 > 10: give up after 2 attempts,
    // instead of starting a third that the deadline would cut.
    assert_eq!(counter.get(), 2);
    assert_eq!(clock.sleeps(), [S]);
}

#[tokio::test(start_paused = true)]
async fn attempt_timeout_cuts_a_slow_attempt_and_it_is_retried_as_a_timeout() {
    #[retry(max_attempts = 3, wait = fixed(100ms), jitter = none, attempt_timeout = 1s)]
    async fn slow_then_fast(counter: &Counter) -> Result<u32, ApiError> {
        let n = counter.next();
        if n == 1 {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(n)
    }
    let start = Instant::now();
    let counter = Counter::new();
    assert_eq!(slow_then_fast(&counter).await.unwrap(), 2);
    assert_eq!(start.elapsed(), 1100 * MS, "cut at 1 s, then a 100 ms wait");
}

#[tokio::test(start_paused = true)]
async fn cut_attempts_count_as_timeouts_and_obey_the_timeout_cap() {
    #[retry(max_attempts = 5, wait = fixed(100ms), jitter = none, attempt_timeout = 1s)]
    async fn always_slow(counter: &Counter) -> Result<(), ApiError> {
        counter.next();
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
    let counter = Counter::new();
    let err = always_slow(&counter).await.unwrap_err();
    assert_eq!(err, ApiError::TimedOut(Elapsed::attempt_timeout(S)));
    assert_eq!(
        counter.get(),
        2,
        "Timeout keeps its default cap of 2 attempts"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_cuts_a_running_async_attempt() {
    #[retry(max_attempts = 5, wait = fixed(1s), jitter = none, deadline = 2500ms)]
    async fn hangs_after_first(counter: &Counter) -> Result<(), ApiError> {
        if counter.next() == 1 {
            return Err(ApiError::status(503));
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
    let start = Instant::now();
    let counter = Counter::new();
    let err = hangs_after_first(&counter).await.unwrap_err();
    assert_eq!(
        start.elapsed(),
        2500 * MS,
        "answered exactly at the deadline, not later"
    );
    assert!(
        matches!(err, ApiError::TimedOut(e) if e.is_deadline()),
        "{err:?}"
    );
    assert_eq!(counter.get(), 2);
}

#[tokio::test(start_paused = true)]
async fn async_sleeps_never_end_past_the_deadline() {
    #[retry(max_attempts = 50, wait = exponential(1s, 60s), deadline = 20s)]
    async fn failing() -> Result<(), ApiError> {
        tokio::time::sleep(Duration::from_millis(200)).await;
        Err(ApiError::status(500))
    }
    let start = Instant::now();
    assert!(failing().await.is_err());
    assert!(start.elapsed() <= 20 * S, "{:?}", start.elapsed());
}

#[test]
fn remaining_time_is_visible_to_the_body() {
    #[retry(max_attempts = 3, wait = fixed(2s), jitter = none, deadline = 10s)]
    fn observe(seen: &std::sync::Mutex<Vec<Duration>>) -> Result<(), ApiError> {
        seen.lock()
            .unwrap()
            .push(attempt().unwrap().remaining().unwrap());
        Err(ApiError::status(503))
    }
    let _clock = testing::record_sleeps();
    let seen = std::sync::Mutex::new(Vec::new());
    assert!(observe(&seen).is_err());
    assert_eq!(*seen.lock().unwrap(), [10 * S, 8 * S, 6 * S]);
}
