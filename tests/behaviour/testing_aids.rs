//! Behaviour 9: Testing aids: recorded sleeps, a manual clock that drives deadlines, reproducible jitter,
//! and tokio's paused clock for async code.

use retry_runtime::{retry, testing, RetryPolicy};

use crate::support::{ApiError, Counter, S};

#[test]
fn recorded_sleeps_run_instantly_and_can_be_asserted() {
    #[retry(max_attempts = 4, wait = fixed(30s), jitter = none)]
    fn slow_backoff() -> Result<(), ApiError> {
        Err(ApiError::status(503))
    }
    let clock = testing::record_sleeps();
    let wall = std::time::Instant::now();
    assert!(slow_backoff().is_err());
    assert!(
        wall.elapsed() < std::time::Duration::from_secs(1),
        "90 s of backoff ran instantly"
    );
    assert_eq!(clock.sleeps(), [30 * S, 30 * S, 30 * S]);
    assert_eq!(clock.total(), 90 * S);
}

#[test]
fn recorders_nest_and_restore() {
    let _clock = testing::record_sleeps();
    let outer = testing::record_sleeps();
    {
        let inner = testing::record_sleeps();
        let _ = RetryPolicy::new()
            .max_attempts(2)
            .call(|| Err::<(), _>(ApiError::status(503)));
        assert_eq!(inner.sleeps().len(), 1);
    }
    assert!(
        outer.sleeps().is_empty(),
        "the inner recorder took the sleeps"
    );
}

#[tokio::test(start_paused = true)]
async fn async_retries_run_on_the_paused_clock() {
    #[retry(max_attempts = 4, wait = fixed(30s), jitter = none)]
    async fn slow_backoff(counter: &Counter) -> Result<(), ApiError> {
        counter.next();
        Err(ApiError::status(503))
    }
    let start = tokio::time::Instant::now();
    let counter = Counter::new();
    assert!(slow_backoff(&counter).await.is_err());
    assert_eq!(counter.get(), 4);
    assert_eq!(start.elapsed(), 90 * S);
}

#[test]
fn a_policy_seed_reproduces_the_waits_of_its_calls() {
    static SEEDED: RetryPolicy = RetryPolicy::new().max_attempts(6).jitter_seed(99);
    static SAME_SEED: RetryPolicy = RetryPolicy::new().max_attempts(6).jitter_seed(99);
    let run = |policy: &RetryPolicy| {
        let clock = testing::record_sleeps();
        let _ = policy.call(|| Err::<(), _>(ApiError::status(503)));
        clock.sleeps()
    };
    let (first, second) = (run(&SEEDED), run(&SEEDED));
    assert_eq!(first.len(), 5);
    assert_ne!(first, second, "each call of the policy draws its own waits");
    assert_eq!(
        run(&SAME_SEED),
        first,
        "the same seed gives the same waits, call for call"
    );
    assert_eq!(run(&SAME_SEED), second);
}
