//! The function's statistics tell the same story as the server's log.

use std::collections::BTreeMap;
use std::time::Duration;

use mock_llm::Fault;
use retry_runtime::http::{reqwest, HttpError};
use retry_runtime::{retry, statistics, statistics_for, ErrorClass, GiveUpReason};

use crate::support::{client, ms, send_chat, server, status_of};

/// Called by [`counters_agree_with_what_the_server_saw`] only, so its counters are that
/// test's alone.
#[retry(max_attempts = 3, wait = exponential(5ms, 50ms))]
async fn counted_chat(
    client: &reqwest::Client,
    base_url: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    send_chat(client, base_url, prompt).await
}

#[tokio::test]
async fn counters_agree_with_what_the_server_saw() {
    let server = server([
        // Call 1: a 503, a 429 with a 30 ms hint, then a 200.
        Fault::status(503),
        Fault::retry_after_ms(30),
        Fault::ok(),
        // Call 2: a 401, not retried.
        Fault::status(401),
        // Call 3: a 200 at once.
        Fault::ok(),
        // Call 4: three 503s, exhausted.
        Fault::status(503),
        Fault::status(503),
        Fault::status(503),
    ])
    .await;
    let client = client();
    let url = server.base_url();
    assert!(counted_chat(&client, &url, "1").await.is_ok());
    assert_eq!(
        status_of(&counted_chat(&client, &url, "2").await.unwrap_err()),
        Some(401)
    );
    assert!(counted_chat(&client, &url, "3").await.is_ok());
    assert_eq!(
        status_of(&counted_chat(&client, &url, "4").await.unwrap_err()),
        Some(503)
    );
    assert_eq!(server.script_len(), 0, "the script was played out");

    let stats = statistics_for("statistics::counted_chat").expect("registered on first call");
    assert!(stats.name.ends_with("::counted_chat"), "{}", stats.name);
    assert!(statistics().iter().any(|s| s.name == stats.name));
    let seen = server.stats();

    // Calls: one idempotency key each, in the server's log.
    let requests = server.requests();
    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, record) in requests.iter().enumerate() {
        let key = record.idempotency_key.clone().expect("a key");
        per_key.entry(key).or_default().push(i);
    }
    assert_eq!(stats.calls, per_key.len() as u64);
    assert_eq!(stats.calls, 4);
    let mut sizes: Vec<_> = per_key.values().map(Vec::len).collect();
    sizes.sort_unstable();
    assert_eq!(sizes, [1, 1, 3, 3]);

    // Attempts and outcomes.
    assert_eq!(stats.attempts, seen.received, "{seen}");
    assert_eq!(
        stats.first_try_successes + stats.successes_after_retry,
        seen.status(200),
        "{seen}"
    );
    assert_eq!(
        (stats.first_try_successes, stats.successes_after_retry),
        (1, 1)
    );
    assert_eq!(stats.gave_up(GiveUpReason::NotRetryable), 1);
    assert_eq!(stats.gave_up(GiveUpReason::Exhausted), 1);
    assert_eq!(stats.gave_up_total(), 2);

    // Failures by class against responses by status.
    assert_eq!(stats.failures_of(ErrorClass::Overloaded), seen.status(503));
    assert_eq!(stats.failures_of(ErrorClass::RateLimit), seen.status(429));
    assert_eq!(stats.failures_of(ErrorClass::Auth), seen.status(401));
    let failures: u64 = stats.failures.iter().sum();
    assert_eq!(failures, seen.received - seen.status(200));
    assert!((stats.retry_rate() - 4.0 / 4.0).abs() < 1e-9, "{stats:?}");

    // Time slept: at least the hint, and no more than the gaps the server saw between
    // attempts of one call.
    let gaps: Duration = per_key
        .values()
        .flat_map(|indices| indices.windows(2))
        .map(|pair| requests[pair[1]].arrived - requests[pair[0]].arrived)
        .sum();
    assert!(stats.slept >= ms(30), "{stats:?}");
    assert!(
        stats.slept <= gaps,
        "slept {:?}, but attempts were only {gaps:?} apart at the server",
        stats.slept
    );
}
