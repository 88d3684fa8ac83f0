//! Behaviour 7: Nested retried calls: the inner one inherits the outer deadline, and what it retried to
//! exhaustion is not retried again by the outer one.

use std::time::Duration;

use retry_runtime::{attempt, retry, testing};

use crate::support::{ApiError, Counter, S};

#[retry(max_attempts = 3, wait = fixed(1s), jitter = none)]
fn inner(counter: &Counter) -> Result<(), ApiError> {
    counter.next();
    Err(ApiError::status(503))
}

#[retry(max_attempts = 3, wait = fixed(1s), jitter = none)]
fn outer(counter: &Counter) -> Result<(), ApiError> {
    inner(counter)?;
    Ok(())
}

#[test]
fn retries_do_not_multiply() {
    let clock = testing::record_sleeps();
    let counter = Counter::new();
    assert_eq!(outer(&counter).unwrap_err(), ApiError::status(503));
    assert_eq!(
        counter.get(),
        3,
        "3 outer × 3 inner attempts make 3 calls, not 9"
    );
    assert_eq!(clock.sleeps(), [S, S], "only the inner call waited");
}

#[test]
fn an_error_the_inner_call_did_not_retry_is_retried_by_the_outer_one() {
    #[retry(max_attempts = 1)]
    fn single(counter: &Counter) -> Result<(), ApiError> {
        counter.next();
        Err(ApiError::status(503))
    }
    #[retry(max_attempts = 3, wait = fixed(0))]
    fn wrapper(counter: &Counter) -> Result<(), ApiError> {
        single(counter)
    }
    let counter = Counter::new();
    assert!(wrapper(&counter).is_err());
    assert_eq!(
        counter.get(),
        3,
        "the inner call made one attempt: nothing was multiplied"
    );
}

#[test]
fn the_inner_call_inherits_the_outer_deadline() {
    #[retry(max_attempts = 10, wait = fixed(3s), jitter = none)]
    fn patient(
        counter: &Counter,
        remaining: &std::sync::Mutex<Vec<Option<Duration>>>,
    ) -> Result<(), ApiError> {
        counter.next();
        remaining
            .lock()
            .unwrap()
            .push(attempt().unwrap().remaining());
        Err(ApiError::status(503))
    }
    #[retry(max_attempts = 2, deadline = 10s)]
    fn hurried(
        counter: &Counter,
        remaining: &std::sync::Mutex<Vec<Option<Duration>>>,
    ) -> Result<(), ApiError> {
        patient(counter, remaining)
    }
    let clock = testing::record_sleeps();
    let counter = Counter::new();
    let remaining = std::sync::Mutex::new(Vec::new());
    assert!(hurried(&counter, &remaining).is_err());
    assert_eq!(
        counter.get(),
        4,
        "the inner call stops at the outer deadline: attempts at 0, 3, 6, 9 s"
    );
    assert_eq!(clock.total(), 9 * S);
    assert_eq!(
        remaining.lock().unwrap()[0],
        Some(10 * S),
        "the inner call sees the outer deadline"
    );
}

#[tokio::test(start_paused = true)]
async fn async_retries_do_not_multiply() {
    #[retry(max_attempts = 3, wait = fixed(1s), jitter = none)]
    async fn inner_async(counter: &Counter) -> Result<(), ApiError> {
        counter.next();
        tokio::task::yield_now().await;
        Err(ApiError::status(500))
    }
    #[retry(max_attempts = 3, wait = fixed(1s), jitter = none)]
    async fn outer_async(counter: &Counter) -> Result<(), ApiError> {
        inner_async(counter).await
    }
    let start = tokio::time::Instant::now();
    let counter = Counter::new();
    assert!(outer_async(&counter).await.is_err());
    assert_eq!(counter.get(), 3);
    assert_eq!(start.elapsed(), 2 * S);
}
