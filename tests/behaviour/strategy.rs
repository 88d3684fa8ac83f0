//! Behaviour 4: A strategy per kind of error, with per-class caps.

use retry_runtime::{retry, testing};

use crate::support::{ApiError, Counter, MS};

#[retry(max_attempts = 3, wait = fixed(100ms), jitter = none)]
fn fails_with(counter: &Counter, status: u16) -> Result<(), ApiError> {
    counter.next();
    Err(ApiError::status(status))
}

#[test]
fn client_and_auth_errors_are_never_retried() {
    let _clock = testing::record_sleeps();
    for status in [400, 401, 403, 404, 422] {
        let counter = Counter::new();
        assert_eq!(
            fails_with(&counter, status).unwrap_err(),
            ApiError::status(status)
        );
        assert_eq!(counter.get(), 1, "status {status} was retried");
    }
}

#[test]
fn transient_errors_back_off_until_max_attempts() {
    for status in [429, 500, 502, 503, 504, 529, 409] {
        let clock = testing::record_sleeps();
        let counter = Counter::new();
        assert!(fails_with(&counter, status).is_err());
        assert_eq!(counter.get(), 3, "status {status}");
        assert_eq!(
            clock.sleeps(),
            [100 * MS, 100 * MS],
            "status {status} backs off"
        );
    }
}

#[test]
fn timeouts_are_retried_but_bounded_by_their_own_cap() {
    let _clock = testing::record_sleeps();
    let counter = Counter::new();
    assert!(fails_with(&counter, 408).is_err());
    assert_eq!(counter.get(), 2);
}

#[retry(max_attempts = 3, on = [RateLimit(max_attempts = 8), Server, Timeout(max_attempts = 4)])]
fn capped(counter: &Counter, status: u16) -> Result<(), ApiError> {
    counter.next();
    Err(ApiError::status(status))
}

#[test]
fn a_class_cap_replaces_max_attempts_for_that_class() {
    let _clock = testing::record_sleeps();
    let cases = [(429, 8), (500, 3), (408, 4), (503, 1)];
    for (status, attempts) in cases {
        let counter = Counter::new();
        assert!(capped(&counter, status).is_err());
        assert_eq!(counter.get(), attempts, "status {status}");
    }
}

#[test]
fn the_cap_follows_the_latest_failure() {
    #[retry(max_attempts = 3, on = [RateLimit(max_attempts = 6), Server])]
    fn mixed(counter: &Counter) -> Result<(), ApiError> {
        // 429, 429, 429, 500: after the 500 the cap is 3 again, and 4 attempts are already made.
        let n = counter.next();
        Err(ApiError::status(if n <= 3 { 429 } else { 500 }))
    }
    let _clock = testing::record_sleeps();
    let counter = Counter::new();
    assert_eq!(mixed(&counter).unwrap_err(), ApiError::status(500));
    assert_eq!(counter.get(), 4);
}

#[test]
fn success_after_failures_returns_the_value() {
    #[retry(max_attempts = 5)]
    fn flaky(counter: &Counter) -> Result<&'static str, ApiError> {
        match counter.next() {
            1 => Err(ApiError::status(503)),
            2 => Err(ApiError::status(502)),
            _ => Ok("done"),
        }
    }
    let _clock = testing::record_sleeps();
    let counter = Counter::new();
    assert_eq!(flaky(&counter).unwrap(), "done");
    assert_eq!(counter.get(), 3);
}
