//! The client under test, written the way a user of the library writes one, and helpers that
//! read what the fake provider saw.

use std::time::Duration;

use mock_llm::{Fault, MockLlm, RequestRecord};
use retry_runtime::http::{check, reqwest, HttpError, RequestBuilderExt};
use retry_runtime::retry;

/// `n` milliseconds.
pub(crate) const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A reqwest client for loopback: no proxy from the environment.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client")
}

/// One chat completion, once: the body of every retried function of these tests.
///
/// POSTs `/v1/chat/completions` with the call's idempotency key and retry count, turns an error
/// status into an [`ApiError`](retry_runtime::http::ApiError) (hints, quota, `x-should-retry`
/// included), and returns the assistant's reply.
pub(crate) async fn send_chat(
    client: &reqwest::Client,
    base_url: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    let body = serde_json::json!({
        "model": "gpt-test",
        "messages": [{ "role": "user", "content": prompt }],
    });
    let response = client
        .post(format!("{base_url}/chat/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .idempotency_key()
        .retry_count_header()
        .send()
        .await?;
    let bytes = check(response).await?.bytes().await?;
    let reply: serde_json::Value =
        serde_json::from_slice(&bytes).expect("a 200 carries a chat.completion body");
    let content = reply["choices"][0]["message"]["content"]
        .as_str()
        .expect("the reply has a message content");
    Ok(content.to_owned())
}

/// The everyday client: a few attempts, millisecond backoff, every transient class retried.
#[retry(max_attempts = 4, wait = exponential(5ms, 50ms))]
pub(crate) async fn chat(
    client: &reqwest::Client,
    base_url: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    send_chat(client, base_url, prompt).await
}

/// A server that plays `faults` in order, then answers 200.
pub(crate) async fn server(faults: impl IntoIterator<Item = Fault>) -> MockLlm {
    MockLlm::builder()
        .script(faults)
        .start()
        .await
        .expect("mock-llm starts on loopback")
}

/// The one idempotency key every request of the run carried (one call, one key).
pub(crate) fn single_key(server: &MockLlm) -> String {
    let requests = server.requests();
    let first = requests
        .first()
        .and_then(|r| r.idempotency_key.clone())
        .expect("the first request carried an Idempotency-Key");
    for record in &requests {
        assert_eq!(
            record.idempotency_key.as_deref(),
            Some(first.as_str()),
            "every attempt of one call sends the same idempotency key: {record:?}"
        );
    }
    first
}

/// The time between consecutive arrivals of `key` at the server.
pub(crate) fn spacings(server: &MockLlm, key: &str) -> Vec<Duration> {
    server
        .arrivals(key)
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .collect()
}

/// The `x-stainless-retry-count` of every request, in arrival order.
pub(crate) fn retry_counts(server: &MockLlm) -> Vec<Option<u32>> {
    server
        .requests()
        .iter()
        .map(|r: &RequestRecord| r.stainless_retry_count)
        .collect()
}

/// The status of the error response, if the call ended with one.
pub(crate) fn status_of(error: &HttpError) -> Option<u16> {
    error.api().map(|api| api.status().as_u16())
}
