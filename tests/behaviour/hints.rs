//! Behaviour 3: Server hints win over backoff, are never shortened, and a hint too long gives up at once.

use std::time::Duration;

use retry_runtime::{retry, testing};

use crate::support::{ApiError, Counter, MS, S};

#[retry(max_attempts = 4, wait = exponential(10ms, 20ms))]
fn rate_limited(counter: &Counter, hint: Duration) -> Result<u32, ApiError> {
    let n = counter.next();
    if n < 4 {
        return Err(ApiError::hinted(429, hint));
    }
    Ok(n)
}

#[test]
fn a_hint_wins_over_backoff_and_is_never_shortened() {
    let clock = testing::record_sleeps();
    let counter = Counter::new();
    assert_eq!(rate_limited(&counter, 3 * S).unwrap(), 4);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 3);
    for sleep in sleeps {
        assert!(
            sleep >= 3 * S,
            "never sooner than the server asked: {sleep:?}"
        );
        assert!(sleep <= 3300 * MS, "at most a tenth later: {sleep:?}");
    }
}

#[test]
fn a_hint_on_a_server_error_is_honoured_too() {
    #[retry(max_attempts = 2, wait = fixed(10ms))]
    fn unavailable() -> Result<(), ApiError> {
        Err(ApiError::hinted(503, 2 * S))
    }
    let clock = testing::record_sleeps();
    assert!(unavailable().is_err());
    assert!(clock.sleeps()[0] >= 2 * S);
}

#[test]
fn a_hint_over_max_retry_after_gives_up_at_once() {
    let clock = testing::record_sleeps();
    let counter = Counter::new();
    let err = rate_limited(&counter, 121 * S).unwrap_err();
    assert_eq!(
        err,
        ApiError::hinted(429, 121 * S),
        "the caller gets the error itself"
    );
    assert_eq!(counter.get(), 1);
    assert!(clock.sleeps().is_empty());
}

#[test]
fn max_retry_after_is_configurable() {
    #[retry(max_attempts = 2, max_retry_after = 10m)]
    fn quota(counter: &Counter) -> Result<(), ApiError> {
        counter.next();
        Err(ApiError::hinted(429, 300 * S))
    }
    let clock = testing::record_sleeps();
    let counter = Counter::new();
    assert!(quota(&counter).is_err());
    assert_eq!(counter.get(), 2);
    assert!(clock.sleeps()[0] >= 300 * S);
}

#[test]
fn a_hint_that_cannot_be_honoured_before_the_deadline_gives_up_at_once() {
    #[retry(max_attempts = 5, deadline = 5s)]
    fn limited(counter: &Counter) -> Result<(), ApiError> {
        counter.next();
        Err(ApiError::hinted(429, 10 * S))
    }
    let clock = testing::record_sleeps();
    let counter = Counter::new();
    assert!(limited(&counter).is_err());
    assert_eq!(counter.get(), 1);
    assert!(clock.sleeps().is_empty());
}

#[test]
fn header_values_feed_the_hint() {
    use retry_runtime::hint;
    #[retry(max_attempts = 2)]
    fn from_header(header: &str) -> Result<(), ApiError> {
        let retry_after = hint::parse_retry_after(header);
        Err(ApiError::Status {
            status: 429,
            retry_after,
            request_id: None,
        })
    }
    let clock = testing::record_sleeps();
    assert!(from_header("7").is_err());
    assert!(clock.sleeps()[0] >= 7 * S);
    clock.clear();
    // Garbage is no hint: the runtime backs off instead (default exponential from 500ms).
    assert!(from_header("-1").is_err());
    assert!(clock.sleeps()[0] <= 500 * MS);
}
