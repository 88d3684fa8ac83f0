//! A provider outage against a circuit breaker and a fallback, over real sockets: the breaker
//! trips after its threshold, the provider then receives nothing while it is open, the fallback
//! serves the calls, and a half-open probe closes it once the provider recovers.

use std::time::Duration;

use mock_llm::Fault;
use retry_runtime::http::{reqwest, HttpError};
use retry_runtime::{retry, BreakerState, CircuitBreaker};

use crate::support::{client, send_chat, server};

static PRIMARY: CircuitBreaker = CircuitBreaker::new()
    .named("e2e-primary")
    .consecutive_failures(3)
    .break_duration(Duration::from_millis(150));

#[retry(
    max_attempts = 5,
    wait = fixed(5ms),
    jitter = none,
    circuit_breaker = PRIMARY,
    fallback = on_backup
)]
async fn on_primary(
    client: &reqwest::Client,
    primary: &str,
    backup: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    let _ = backup;
    send_chat(client, primary, prompt).await
}

#[retry(max_attempts = 2, wait = fixed(5ms))]
async fn on_backup(
    client: &reqwest::Client,
    primary: &str,
    backup: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    let _ = primary;
    send_chat(client, backup, prompt).await
}

#[tokio::test]
async fn an_outage_trips_the_breaker_the_fallback_serves_and_a_probe_closes_it() {
    let primary = server([]).await;
    let backup = server([]).await;
    let client = client();
    let (p, b) = (primary.base_url(), backup.base_url());

    primary.set_outage(Some(Fault::status(503)));
    let first = on_primary(&client, &p, &b, "one").await.unwrap();
    assert!(first.contains("one"), "{first}");
    assert_eq!(primary.stats().received, 3, "3 failures in a row trip it");
    assert_eq!(PRIMARY.state(), BreakerState::Open);
    assert_eq!(backup.stats().billed, 1, "the fallback served the call");

    for i in 0..5 {
        on_primary(&client, &p, &b, &format!("open {i}"))
            .await
            .unwrap();
    }
    assert_eq!(
        primary.stats().received,
        3,
        "nothing reaches the provider while open"
    );
    assert_eq!(backup.stats().billed, 6);

    primary.set_outage(None);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let probe = on_primary(&client, &p, &b, "probe").await.unwrap();
    assert!(probe.contains("probe"), "{probe}");
    assert_eq!(
        primary.stats().received,
        4,
        "one probe reached the recovered provider"
    );
    assert_eq!(primary.stats().billed, 1);
    assert_eq!(PRIMARY.state(), BreakerState::Closed, "the probe closed it");
    assert_eq!(backup.stats().billed, 6, "no fallback once closed");
}
