//! Many callers against a provider with a capacity limit: everyone gets through by waiting
//! what the server said, and nobody comes back sooner than it allowed.

use std::time::Instant;

use mock_llm::MockLlm;
use retry_runtime::http::{reqwest, HttpError};
use retry_runtime::retry;

use crate::support::{client, send_chat};

const CALLS: usize = 200;

/// Rate limits get as many attempts as it takes (the hints decide the waits).
#[retry(
    max_attempts = 3,
    wait = exponential(5ms, 50ms),
    on = [RateLimit(max_attempts = 100), Overloaded, Server, Network]
)]
async fn crowded_chat(
    client: &reqwest::Client,
    base_url: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    send_chat(client, base_url, prompt).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_calls_all_succeed_without_an_early_retry() {
    let server = MockLlm::builder()
        .capacity(400.0)
        .burst(10)
        .start()
        .await
        .expect("starts");
    let base_url = server.base_url();
    let client = client();
    let started = Instant::now();
    let calls: Vec<_> = (0..CALLS)
        .map(|i| {
            let client = client.clone();
            let base_url = base_url.clone();
            tokio::spawn(
                async move { crowded_chat(&client, &base_url, &format!("call {i}")).await },
            )
        })
        .collect();
    let mut failures = Vec::new();
    for (i, call) in calls.into_iter().enumerate() {
        if let Err(error) = call.await.expect("the call does not panic") {
            failures.push(format!("call {i}: {error}"));
        }
    }
    let took = started.elapsed();

    let stats = server.stats();
    #[allow(clippy::cast_precision_loss)]
    let amplification = stats.received as f64 / CALLS as f64;
    eprintln!(
        "{CALLS} calls against 400 rps (burst 10) in {took:?}: the server saw {} requests \
         (amplification {amplification:.2}), {} capacity 429s, {} early retries",
        stats.received, stats.capacity_rejections, stats.early_retries
    );
    assert!(
        failures.is_empty(),
        "{} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(stats.billed, CALLS as u64, "{stats}");
    assert_eq!(stats.status(200), CALLS as u64, "{stats}");
    assert_eq!(
        stats.received,
        CALLS as u64 + stats.capacity_rejections,
        "every other request was a capacity 429: {stats}"
    );
    let early: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.early_by.is_some())
        .collect();
    assert_eq!(
        stats.early_retries, 0,
        "none sooner than the server allowed: {early:?}"
    );
}
