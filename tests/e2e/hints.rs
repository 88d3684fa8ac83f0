//! A 429 is retried no sooner than the server asked, whatever provider's format the hint is in.
//!
//! The policy's own backoff is 1 ms, so a retry that ignored the hint would arrive ~1 ms after
//! the first request: only the hint can space the two arrivals by tens of milliseconds.

use std::time::{Duration, Instant};

use mock_llm::Fault;
use retry_runtime::http::{reqwest, HttpError};
use retry_runtime::{retry, Classify, ErrorClass};

use crate::support::{
    client, ms, retry_counts, send_chat, server, single_key, spacings, status_of,
};

/// Hints decide the wait; backoff alone would retry after a millisecond.
#[retry(max_attempts = 3, wait = fixed(1ms), jitter = none)]
async fn hinted_chat(
    client: &reqwest::Client,
    base_url: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    send_chat(client, base_url, prompt).await
}

/// The longest a retry may take beyond the hint here: the hint's own 10 % jitter, plus
/// generous room for a loaded 2-core machine running the suite in parallel.
const SLACK: Duration = ms(500);

/// Scripts `fault` then a 200, calls once, and checks at the server that the two attempts of
/// the call were spaced by at least `hint` and that the server counted no early retry.
async fn assert_waits_for(fault: Fault, hint: Duration) {
    let server = server([fault.clone()]).await;
    let reply = hinted_chat(&client(), &server.base_url(), "hello")
        .await
        .unwrap_or_else(|e| panic!("{fault}: the retry succeeds, got {e}"));
    assert!(reply.ends_with("to: hello"), "{reply}");

    let key = single_key(&server);
    let stats = server.stats();
    assert_eq!(
        (stats.received, stats.status(429), stats.status(200)),
        (2, 1, 1),
        "{fault}: one 429, one retry: {stats}"
    );
    let first = &server.requests()[0];
    assert_eq!(
        first.hint,
        Some(hint),
        "{fault}: the server sent the hint it means"
    );
    assert_eq!(retry_counts(&server), [Some(0), Some(1)]);
    let spacing = spacings(&server, &key)[0];
    assert!(
        spacing >= hint,
        "{fault}: retried {spacing:?} after the first arrival, sooner than the hint {hint:?}"
    );
    assert!(
        spacing <= hint + SLACK,
        "{fault}: retried {spacing:?} after the first arrival, far later than the hint {hint:?}"
    );
    assert_eq!(
        stats.early_retries,
        0,
        "{fault}: the server counted an early retry: {:?}",
        server.requests()
    );
}

#[tokio::test]
async fn retry_after_ms_is_waited_for() {
    assert_waits_for(Fault::retry_after_ms(60), ms(60)).await;
}

#[tokio::test]
async fn azure_x_ms_retry_after_ms_is_waited_for() {
    assert_waits_for(Fault::azure_retry_after_ms(60), ms(60)).await;
}

#[tokio::test]
async fn fractional_retry_after_seconds_are_waited_for() {
    assert_waits_for(Fault::retry_after_secs(0.06), ms(60)).await;
}

#[tokio::test]
async fn openai_reset_requests_is_waited_for() {
    assert_waits_for(Fault::openai_reset_requests(ms(60)), ms(60)).await;
}

#[tokio::test]
async fn anthropic_requests_reset_is_waited_for() {
    assert_waits_for(Fault::anthropic_requests_reset(ms(60)), ms(60)).await;
}

#[tokio::test]
async fn gemini_retry_info_is_waited_for() {
    assert_waits_for(Fault::gemini_retry_delay(ms(60)), ms(60)).await;
}

#[tokio::test]
async fn an_http_date_in_the_past_is_retried_promptly() {
    let server = server([Fault::retry_after_http_date(-5_000)]).await;
    let (client, url) = (client(), server.base_url());
    let started = Instant::now();
    let reply = hinted_chat(&client, &url, "past").await;
    let took = started.elapsed();
    assert!(reply.is_ok(), "{reply:?}");

    let key = single_key(&server);
    let stats = server.stats();
    assert_eq!(
        (stats.received, stats.status(429), stats.status(200)),
        (2, 1, 1)
    );
    assert_eq!(stats.early_retries, 0);
    let spacing = spacings(&server, &key)[0];
    assert!(spacing < SLACK, "a past date means now: waited {spacing:?}");
    assert!(took < SLACK, "the call took {took:?}");
}

#[tokio::test]
async fn an_http_date_days_ahead_gives_up_at_once() {
    // Ten days: a real, parsable hint, far over `max_retry_after` (120 s by default).
    let server = server([Fault::retry_after_http_date(10 * 86_400 * 1_000)]).await;
    let (client, url) = (client(), server.base_url());
    let started = Instant::now();
    let error = hinted_chat(&client, &url, "later")
        .await
        .expect_err("a ten-day hint is not waited for");
    let took = started.elapsed();

    assert_eq!(
        status_of(&error),
        Some(429),
        "the caller gets the 429: {error}"
    );
    assert_eq!(error.class(), ErrorClass::RateLimit);
    assert!(error
        .retry_after()
        .is_some_and(|hint| hint > ms(86_400_000)));
    assert_eq!(server.stats().received, 1, "{}", server.stats());
    assert!(took < SLACK, "gave up at once, not after {took:?}");
}

#[tokio::test]
async fn an_http_date_years_ahead_gives_up_at_once() {
    // Three years: an absurd date, but a clear "not now".
    let server = server([Fault::retry_after_http_date(3 * 365 * 86_400 * 1_000)]).await;
    let (client, url) = (client(), server.base_url());
    let started = Instant::now();
    let result = hinted_chat(&client, &url, "never").await;
    let took = started.elapsed();

    let stats = server.stats();
    assert_eq!(
        stats.received,
        1,
        "a retry years before the server allows it: {stats}, {:?}",
        server.requests()
    );
    assert_eq!(stats.early_retries, 0);
    let error = result.expect_err("not retried, so the 429 is returned");
    assert_eq!(status_of(&error), Some(429), "{error}");
    assert!(took < SLACK, "gave up at once, not after {took:?}");
}
