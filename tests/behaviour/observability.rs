//! Behaviour 8: Every attempt is visible (a span per call, an event per failed attempt) and counted.

use retry_runtime::{retry, statistics, statistics_for, testing, ErrorClass, GiveUpReason};
use retry_test_capture::Event;
use tracing::Level;

use crate::support::{ApiError, Counter};

/// The events `f` emitted on this thread.
fn capture(f: impl FnOnce()) -> Vec<Event> {
    retry_test_capture::logs(f).1
}

#[retry(max_attempts = 3, wait = fixed(250ms), jitter = none)]
fn flaky_completion(counter: &Counter) -> Result<&'static str, ApiError> {
    match counter.next() {
        1 => Err(ApiError::with_request_id(503, "req_abc123")),
        2 => Err(ApiError::hinted(429, std::time::Duration::from_secs(2))),
        _ => Ok("hello"),
    }
}

#[test]
fn each_failed_attempt_is_a_warning_and_success_after_retry_is_info() {
    let _clock = testing::record_sleeps();
    let counter = Counter::new();
    let all = capture(|| assert_eq!(flaky_completion(&counter).unwrap(), "hello"));
    let seen: Vec<_> = all.iter().filter(|s| s.level <= Level::INFO).collect();
    let levels: Vec<_> = seen.iter().map(|s| s.level).collect();
    assert_eq!(levels, [Level::WARN, Level::WARN, Level::INFO], "{seen:#?}");

    let first = &seen[0].fields;
    assert!(
        first["function"].ends_with("::flaky_completion"),
        "the line names the function, with or without a span: {first:?}"
    );
    assert_eq!(first["attempt"], "1");
    assert_eq!(first["max_attempts"], "3");
    assert_eq!(first["class"], "Overloaded");
    assert_eq!(first["request_id"], "req_abc123");
    assert_eq!(first["delay"], "250ms");
    assert_eq!(first["why"], "backoff");
    assert_eq!(first["status"], "503");
    assert!(first["error"].contains("503"), "{first:?}");

    let second = &seen[1].fields;
    assert_eq!(second["class"], "RateLimit");
    assert_eq!(second["why"], "retry-after");

    assert_eq!(seen[2].fields["attempts"], "3");
    // The whole error of each failed attempt at DEBUG, before its line.
    let debug: Vec<_> = all.iter().filter(|s| s.level == Level::DEBUG).collect();
    assert_eq!(debug.len(), 2, "{all:#?}");
    assert!(debug[0].fields["error"].contains("req_abc123"), "{debug:?}");
    // All inside one span that names the function and carries the call's idempotency key.
    for event in &all {
        assert!(event.span["function"].ends_with("::flaky_completion"));
        assert_eq!(event.span["idempotency_key"].len(), 36, "{:?}", event.span);
        assert_eq!(
            event.span["idempotency_key"],
            seen[0].span["idempotency_key"]
        );
    }
}

#[test]
fn giving_up_is_an_error_with_its_reason() {
    #[retry(max_attempts = 2, wait = fixed(0))]
    fn always(status: u16) -> Result<(), ApiError> {
        Err(ApiError::status(status))
    }
    let seen = capture(|| {
        let _ = always(500);
        let _ = always(401);
    });
    let errors: Vec<_> = seen.iter().filter(|s| s.level == Level::ERROR).collect();
    assert_eq!(errors.len(), 2, "{seen:#?}");
    assert_eq!(errors[0].fields["reason"], "exhausted");
    assert_eq!(errors[0].fields["attempt"], "2");
    assert_eq!(errors[1].fields["reason"], "not_retryable");
    assert_eq!(errors[1].fields["class"], "Auth");
}

/// What an operator reads on the WARN line of an HTTP failure: status, request id and the
/// provider's message, never a header or the body; those are in the DEBUG event.
#[test]
fn a_failed_attempt_line_has_the_providers_message_not_its_headers_or_body() {
    use retry_runtime::http::reqwest::header::{HeaderMap, HeaderValue};
    use retry_runtime::http::reqwest::StatusCode;
    use retry_runtime::http::ApiError as HttpApiError;

    #[retry(max_attempts = 2, wait = fixed(0))]
    fn overloaded() -> Result<(), HttpApiError> {
        let mut headers = HeaderMap::new();
        headers.insert("request-id", HeaderValue::from_static("req_011"));
        headers.insert("x-secret-header", HeaderValue::from_static("do-not-log"));
        let body = br#"{"type": "error", "error": {"type": "overloaded_error",
            "message": "Overloaded,\n   try again later"}, "padding": "a whole body"}"#;
        Err(HttpApiError::new(
            StatusCode::from_u16(529).unwrap(),
            &headers,
            body,
        ))
    }
    let all = capture(|| assert!(overloaded().is_err()));
    let warn = all
        .iter()
        .find(|e| e.level == Level::WARN)
        .expect("a WARN line");
    assert_eq!(warn.fields["status"], "529");
    assert_eq!(warn.fields["request_id"], "req_011");
    assert_eq!(warn.fields["error"], "Overloaded, try again later");
    for event in all.iter().filter(|e| e.level <= Level::INFO) {
        let line = format!("{:?}", event.fields);
        assert!(!line.contains("do-not-log"), "{line}");
        assert!(!line.contains("a whole body"), "{line}");
    }
    let debug = all.iter().find(|e| e.level == Level::DEBUG).expect("DEBUG");
    assert!(debug.fields["error"].contains("a whole body"), "{debug:?}");
}

#[test]
fn a_first_try_success_logs_nothing() {
    #[retry]
    fn fine() -> Result<u8, ApiError> {
        Ok(1)
    }
    let seen = capture(|| assert_eq!(fine().unwrap(), 1));
    assert!(seen.is_empty(), "{seen:#?}");
}

#[test]
fn statistics_per_function_are_readable_from_code() {
    #[retry(max_attempts = 3, wait = fixed(1s), jitter = none)]
    fn counted(counter: &Counter, fail_first: u32, status: u16) -> Result<(), ApiError> {
        if counter.next() <= fail_first {
            return Err(ApiError::status(status));
        }
        Ok(())
    }
    let _clock = testing::record_sleeps();
    counted(&Counter::new(), 0, 503).unwrap(); // first try
    counted(&Counter::new(), 0, 503).unwrap(); // first try
    counted(&Counter::new(), 2, 503).unwrap(); // after two retries
    assert!(counted(&Counter::new(), 5, 503).is_err()); // exhausted after 3
    assert!(counted(&Counter::new(), 5, 401).is_err()); // not retryable, 1 attempt

    let stats =
        statistics_for("observability::statistics_per_function_are_readable_from_code::counted")
            .or_else(|| statistics_for("counted"))
            .expect("registered on first call");
    assert_eq!(stats.calls, 5);
    assert_eq!(stats.attempts, 2 + 3 + 3 + 1);
    assert_eq!(stats.first_try_successes, 2);
    assert_eq!(stats.successes_after_retry, 1);
    assert_eq!(stats.gave_up(GiveUpReason::Exhausted), 1);
    assert_eq!(stats.gave_up(GiveUpReason::NotRetryable), 1);
    assert_eq!(stats.failures_of(ErrorClass::Overloaded), 5);
    assert_eq!(stats.failures_of(ErrorClass::Auth), 1);
    assert_eq!(stats.slept, std::time::Duration::from_secs(4));
    assert!((stats.retry_rate() - 4.0 / 5.0).abs() < 1e-9);
    assert!(statistics().iter().any(|s| s.name == stats.name));
}
