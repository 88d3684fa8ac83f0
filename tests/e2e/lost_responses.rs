//! A response lost after the server did the work: the retry carries the same idempotency key,
//! so the provider answers it from its store and bills the work once.

use std::time::Duration;

use mock_llm::{Fault, MockLlm};
use retry_runtime::http::{reqwest, HttpError};
use retry_runtime::retry;

use crate::support::{client, ms, retry_counts, send_chat, server, single_key};

#[retry(max_attempts = 3, wait = exponential(5ms, 50ms), attempt_timeout = 100ms)]
async fn billed_chat(
    client: &reqwest::Client,
    base_url: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    send_chat(client, base_url, prompt).await
}

/// Asserts that the server did the work once, replayed it once, and that the caller got the
/// reply of that one piece of work.
fn assert_billed_once(server: &MockLlm, reply: &str) {
    let stats = server.stats();
    assert_eq!(stats.received, 2, "{stats}");
    assert_eq!((stats.billed, stats.replayed), (1, 1), "{stats}");
    single_key(server);
    assert_eq!(retry_counts(server), [Some(0), Some(1)]);
    let requests = server.requests();
    assert!(requests[0].billed && !requests[0].replayed);
    assert!(!requests[1].billed && requests[1].replayed);
    assert_eq!(
        reply, "mock-llm reply #1 to: write a haiku",
        "the caller gets the first (and only) completion"
    );
}

#[tokio::test]
async fn a_response_too_slow_for_the_attempt_is_replayed_not_billed_twice() {
    const SLOW: Duration = ms(2_000);
    let server = server([Fault::slow(SLOW)]).await;
    let reply = billed_chat(&client(), &server.base_url(), "write a haiku")
        .await
        .expect("the retry gets the stored answer");
    assert_billed_once(&server, &reply);
}

#[tokio::test]
async fn a_connection_dropped_after_billing_is_replayed_not_billed_twice() {
    let server = server([Fault::disconnect()]).await;
    let reply = billed_chat(&client(), &server.base_url(), "write a haiku")
        .await
        .expect("the retry gets the stored answer");
    assert_billed_once(&server, &reply);
    assert_eq!(server.stats().disconnected, 1);
}

#[tokio::test]
async fn separate_calls_have_separate_keys_and_are_billed_separately() {
    let server = server([]).await;
    let client = client();
    let first = billed_chat(&client, &server.base_url(), "one")
        .await
        .expect("a 200");
    let second = billed_chat(&client, &server.base_url(), "two")
        .await
        .expect("a 200");
    assert_ne!(first, second);
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_ne!(
        requests[0].idempotency_key, requests[1].idempotency_key,
        "each call has its own key"
    );
    assert_eq!(server.stats().billed, 2);
}
