//! Behaviour 2: Wait schedules and jitter, observed through the recorded sleeps.

use std::time::Duration;

use retry_runtime::{retry, testing};

use crate::support::{ApiError, MS, S};

#[retry(max_attempts = 6, wait = exponential(100ms, 1s), jitter = none)]
fn exponential_no_jitter() -> Result<(), ApiError> {
    Err(ApiError::status(503))
}

#[retry(max_attempts = 5, wait = linear(250ms, 600ms), jitter = none)]
fn linear_no_jitter() -> Result<(), ApiError> {
    Err(ApiError::status(500))
}

#[retry(max_attempts = 4, wait = fixed(2s), jitter = none)]
fn fixed_no_jitter() -> Result<(), ApiError> {
    Err(ApiError::status(502))
}

#[retry(max_attempts = 30, wait = exponential(100ms, 1s), jitter = full)]
fn exponential_full() -> Result<(), ApiError> {
    Err(ApiError::status(503))
}

#[retry(max_attempts = 30, wait = exponential(100ms, 1s), jitter = equal)]
fn exponential_equal() -> Result<(), ApiError> {
    Err(ApiError::status(503))
}

#[retry(max_attempts = 30, wait = decorrelated(100ms, 2s))]
fn decorrelated() -> Result<(), ApiError> {
    Err(ApiError::status(503))
}

#[retry(max_attempts = 3)]
fn defaults() -> Result<(), ApiError> {
    Err(ApiError::status(503))
}

#[test]
fn exponential_doubles_from_min_and_caps_at_max() {
    let clock = testing::record_sleeps();
    assert!(exponential_no_jitter().is_err());
    assert_eq!(
        clock.sleeps(),
        [100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS]
    );
}

#[test]
fn linear_steps_and_caps() {
    let clock = testing::record_sleeps();
    assert!(linear_no_jitter().is_err());
    assert_eq!(clock.sleeps(), [250 * MS, 500 * MS, 600 * MS, 600 * MS]);
}

#[test]
fn fixed_waits_the_same() {
    let clock = testing::record_sleeps();
    assert!(fixed_no_jitter().is_err());
    assert_eq!(clock.sleeps(), [2 * S, 2 * S, 2 * S]);
}

#[test]
fn full_jitter_stays_within_zero_and_the_base() {
    let clock = testing::record_sleeps();
    assert!(exponential_full().is_err());
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 29);
    for (i, sleep) in sleeps.iter().enumerate() {
        let base = (100 * MS * 2u32.pow(i.min(10) as u32)).min(S);
        assert!(*sleep <= base, "retry {}: {sleep:?} over {base:?}", i + 1);
    }
    assert!(
        sleeps.iter().any(|s| *s < 500 * MS),
        "full jitter spreads below half: {sleeps:?}"
    );
}

#[test]
fn equal_jitter_keeps_at_least_half_the_base() {
    let clock = testing::record_sleeps();
    assert!(exponential_equal().is_err());
    for (i, sleep) in clock.sleeps().iter().enumerate() {
        let base = (100 * MS * 2u32.pow(i.min(10) as u32)).min(S);
        assert!(
            *sleep >= base / 2 && *sleep <= base,
            "retry {}: {sleep:?} vs {base:?}",
            i + 1
        );
    }
}

#[test]
fn decorrelated_grows_from_min_within_three_times_the_previous() {
    let clock = testing::record_sleeps();
    assert!(decorrelated().is_err());
    let mut previous = 100 * MS;
    for sleep in clock.sleeps() {
        assert!(
            sleep >= 100 * MS && sleep <= (previous * 3).min(2 * S),
            "{sleep:?} after {previous:?}"
        );
        previous = sleep;
    }
}

#[test]
fn default_wait_is_exponential_from_half_a_second_with_full_jitter() {
    let clock = testing::record_sleeps();
    assert!(defaults().is_err());
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 2);
    assert!(sleeps[0] <= 500 * MS && sleeps[1] <= S, "{sleeps:?}");
}

#[test]
fn a_seed_makes_the_jitter_reproducible() {
    let run = |seed| {
        let clock = testing::record_sleeps();
        let _seed = testing::seed_jitter(seed);
        assert!(exponential_full().is_err());
        assert!(exponential_full().is_err());
        clock.sleeps()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
    let two_calls = run(7);
    assert_ne!(
        two_calls[..29],
        two_calls[29..],
        "consecutive calls draw different waits"
    );
}

#[test]
fn zero_waits_do_not_sleep() {
    #[retry(max_attempts = 3, wait = fixed(0))]
    fn instant() -> Result<(), ApiError> {
        Err(ApiError::status(503))
    }
    let clock = testing::record_sleeps();
    assert!(instant().is_err());
    assert!(
        clock.sleeps().is_empty(),
        "a zero wait is not even recorded: {:?}",
        clock.sleeps()
    );
    let _unused: Duration = clock.total();
}

#[tokio::test(start_paused = true)]
async fn zero_async_waits_do_not_touch_the_timer() {
    #[retry(max_attempts = 5, wait = fixed(0))]
    async fn instant(counter: &crate::support::Counter) -> Result<(), ApiError> {
        counter.next();
        Err(ApiError::status(503))
    }
    let start = tokio::time::Instant::now();
    let counter = crate::support::Counter::new();
    assert!(instant(&counter).await.is_err());
    assert_eq!(counter.get(), 5);
    // tokio rounds every timer up to the next millisecond: four retries through the timer would
    // have moved the paused clock by at least 4 ms.
    assert_eq!(start.elapsed(), Duration::ZERO);
}
