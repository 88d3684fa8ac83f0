//! What is retried and what is not, decided from real responses and real broken connections:
//! the server's count of requests is the proof.

use std::time::{Duration, Instant};

use mock_llm::{Fault, MockLlm};
use retry_runtime::http::{reqwest, HttpError};
use retry_runtime::{retry, Classify, ErrorClass};

use crate::support::{chat, client, ms, retry_counts, send_chat, server, single_key, status_of};

/// Scripts `faults` then an explicit 200, calls [`chat`] once, and returns its result with
/// the server.
async fn run(mut faults: Vec<Fault>) -> (Result<String, HttpError>, MockLlm) {
    faults.push(Fault::ok());
    let server = server(faults).await;
    let result = chat(&client(), &server.base_url(), "hello").await;
    (result, server)
}

/// Asserts that the call failed at once with `status`, after exactly one request.
fn assert_not_retried(result: &Result<String, HttpError>, server: &MockLlm, status: u16) {
    let error = result
        .as_ref()
        .expect_err("not retried: the error is returned");
    assert_eq!(status_of(error), Some(status), "{error}");
    let stats = server.stats();
    assert_eq!(stats.received, 1, "the server saw one request: {stats}");
    assert_eq!(
        server.script_len(),
        1,
        "the 200 after it was never asked for"
    );
}

/// Asserts that the call succeeded after `attempts` requests, all with one key and counted
/// retries.
fn assert_retried(result: &Result<String, HttpError>, server: &MockLlm, attempts: u64) -> String {
    let reply = result.as_ref().expect("retried until the 200");
    let stats = server.stats();
    assert_eq!(stats.received, attempts, "{stats}");
    // The final 200 was played, unless the retry was answered from the idempotency store.
    assert_eq!(
        server.script_len() as u64,
        stats.replayed,
        "the script was played out"
    );
    assert_eq!(stats.early_retries, 0);
    let key = single_key(server);
    let expected: Vec<_> = (0..u32::try_from(attempts).unwrap()).map(Some).collect();
    assert_eq!(retry_counts(server), expected);
    assert!(!key.is_empty());
    reply.clone()
}

#[tokio::test]
async fn a_401_is_not_retried() {
    let (result, server) = run(vec![Fault::status(401)]).await;
    assert_not_retried(&result, &server, 401);
    assert_eq!(result.unwrap_err().class(), ErrorClass::Auth);
}

#[tokio::test]
async fn a_400_is_not_retried() {
    let (result, server) = run(vec![Fault::status(400)]).await;
    assert_not_retried(&result, &server, 400);
    assert_eq!(result.unwrap_err().class(), ErrorClass::Client);
}

#[tokio::test]
async fn a_503_is_retried_with_backoff() {
    let (result, server) = run(vec![Fault::status(503), Fault::status(503)]).await;
    assert_retried(&result, &server, 3);
    let stats = server.stats();
    assert_eq!((stats.status(503), stats.status(200)), (2, 1));
    assert_eq!(stats.billed, 1, "errors bill nothing");
}

#[tokio::test]
async fn an_anthropic_529_is_retried_with_backoff() {
    let (result, server) = run(vec![Fault::overloaded()]).await;
    assert_retried(&result, &server, 2);
    let stats = server.stats();
    assert_eq!((stats.status(529), stats.status(200)), (1, 1));
}

/// Retries `Network` failures only: a dropped connection classed anything else is returned.
#[retry(max_attempts = 3, wait = exponential(5ms, 50ms), on = [Network])]
async fn network_chat(
    client: &reqwest::Client,
    base_url: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    send_chat(client, base_url, prompt).await
}

/// Scripts `fault` then a 200, and calls [`network_chat`] once.
async fn run_network(fault: Fault) -> (Result<String, HttpError>, MockLlm) {
    let server = server([fault, Fault::ok()]).await;
    let result = network_chat(&client(), &server.base_url(), "hello").await;
    (result, server)
}

#[tokio::test]
async fn a_connection_closed_before_any_work_is_retried_as_network() {
    let (result, server) = run_network(Fault::disconnect_before_work()).await;
    assert_retried(&result, &server, 2);
    let stats = server.stats();
    assert_eq!(
        (stats.disconnected, stats.billed, stats.replayed),
        (1, 1, 0)
    );
}

#[tokio::test]
async fn a_body_cut_mid_response_is_retried_as_network() {
    let (result, server) = run_network(Fault::cut_body()).await;
    let reply = assert_retried(&result, &server, 2);
    let stats = server.stats();
    assert_eq!(stats.cut, 1);
    assert_eq!(
        (stats.billed, stats.replayed),
        (1, 1),
        "the cut response was billed; the retry is its replay"
    );
    assert!(reply.starts_with("mock-llm reply #1 "), "{reply}");
}

#[tokio::test]
async fn a_too_slow_response_is_cut_by_attempt_timeout_and_retried() {
    #[retry(max_attempts = 3, wait = exponential(5ms, 50ms), attempt_timeout = 100ms)]
    async fn impatient_chat(
        client: &reqwest::Client,
        base_url: &str,
        prompt: &str,
    ) -> Result<String, HttpError> {
        send_chat(client, base_url, prompt).await
    }

    const SLOW: Duration = ms(2_000);
    let server = server([Fault::slow(SLOW)]).await;
    let (client, url) = (client(), server.base_url());
    let started = Instant::now();
    let reply = impatient_chat(&client, &url, "hello").await;
    let took = started.elapsed();
    assert!(reply.is_ok(), "{reply:?}");
    assert!(
        took < ms(1_500),
        "the slow attempt was cut after 100 ms, not waited out (2 s): {took:?}"
    );
    let stats = server.stats();
    assert_eq!(stats.received, 2, "{stats}");
    let retried = server.requests()[1].arrived.into_std() - started;
    assert!(
        retried >= ms(100),
        "the retry came after the 100 ms attempt timeout, not {retried:?} into the call"
    );
}

#[tokio::test]
async fn an_insufficient_quota_429_is_not_retried() {
    let (result, server) = run(vec![Fault::insufficient_quota()]).await;
    assert_not_retried(&result, &server, 429);
    let error = result.unwrap_err();
    assert!(error.api().is_some_and(|api| api.is_quota_exhausted()));
    assert_eq!(error.class(), ErrorClass::Client);
}

#[tokio::test]
async fn a_gemini_daily_quota_429_is_not_retried() {
    let (result, server) = run(vec![Fault::gemini_daily_quota()]).await;
    assert_not_retried(&result, &server, 429);
    let error = result.unwrap_err();
    assert!(error.api().is_some_and(|api| api.is_quota_exhausted()));
}

#[tokio::test]
async fn a_503_with_x_should_retry_false_is_not_retried() {
    let (result, server) = run(vec![Fault::status(503).with_should_retry(false)]).await;
    assert_not_retried(&result, &server, 503);
    assert_eq!(result.unwrap_err().class(), ErrorClass::Client);
}

#[tokio::test]
async fn a_400_with_x_should_retry_true_is_retried() {
    let (result, server) = run(vec![Fault::status(400).with_should_retry(true)]).await;
    assert_retried(&result, &server, 2);
    let stats = server.stats();
    assert_eq!((stats.status(400), stats.status(200)), (1, 1));
}
