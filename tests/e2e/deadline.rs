//! `deadline` holds end to end, with real sockets and real time: the caller has its answer
//! (an error) before the deadline, give or take scheduling.

use std::time::{Duration, Instant};

use mock_llm::{Fault, MockLlm};
use retry_runtime::http::{reqwest, HttpError};
use retry_runtime::{retry, ErrorClass};

use crate::support::{client, ms, send_chat, status_of};

const DEADLINE: Duration = ms(300);
/// Room for scheduling on a busy machine (a 2-core CI box running the suite in parallel); the
/// failures these tests catch are seconds away (the 5 s answer, the 500 ms hint).
const MARGIN: Duration = ms(200);

/// Many attempts allowed: only the deadline can end a run of failures.
#[retry(max_attempts = 100, wait = exponential(5ms, 50ms), deadline = 300ms)]
async fn bounded_chat(
    client: &reqwest::Client,
    base_url: &str,
    prompt: &str,
) -> Result<String, HttpError> {
    send_chat(client, base_url, prompt).await
}

#[tokio::test]
async fn a_server_that_always_answers_503_gets_an_error_back_before_the_deadline() {
    let server = MockLlm::builder()
        .outage(Fault::status(503))
        .start()
        .await
        .expect("starts");
    let (client, url) = (client(), server.base_url());
    let started = Instant::now();
    let error = bounded_chat(&client, &url, "hello")
        .await
        .expect_err("never succeeds");
    let took = started.elapsed();

    assert!(
        took <= DEADLINE + MARGIN,
        "the call took {took:?} with a {DEADLINE:?} deadline"
    );
    let stats = server.stats();
    assert!(stats.received >= 3, "it kept retrying meanwhile: {stats}");
    assert_eq!(stats.status(503), stats.received);
    let requests = server.requests();
    let last = requests[requests.len() - 1].arrived.into_std() - started;
    assert!(
        last <= DEADLINE + MARGIN,
        "the server saw an attempt {last:?} into a call with a {DEADLINE:?} deadline"
    );
    // The last failure, or the deadline cutting the last attempt.
    assert!(
        status_of(&error) == Some(503) || matches!(error, HttpError::Elapsed(_)),
        "{error}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_in_time_is_cut_at_the_deadline() {
    let server = MockLlm::builder()
        .latency(ms(5_000))
        .start()
        .await
        .expect("starts");
    let (client, url) = (client(), server.base_url());
    let started = Instant::now();
    let error = bounded_chat(&client, &url, "hello")
        .await
        .expect_err("the deadline cuts the attempt");
    let took = started.elapsed();

    assert!(matches!(error, HttpError::Elapsed(_)), "{error}");
    assert!(
        took >= DEADLINE - ms(5) && took <= DEADLINE + MARGIN,
        "the call took {took:?} with a {DEADLINE:?} deadline"
    );
    let stats = server.stats();
    assert_eq!(stats.received, 1, "{stats}");
    assert_eq!(stats.billed, 0, "the client left before the work was done");
}

#[tokio::test]
async fn a_hint_that_would_end_past_the_deadline_gives_up_at_once() {
    let server = MockLlm::builder()
        .fault(Fault::retry_after_ms(500))
        .start()
        .await
        .expect("starts");
    let (client, url) = (client(), server.base_url());
    let started = Instant::now();
    let error = bounded_chat(&client, &url, "hello")
        .await
        .expect_err("the hint cannot be honoured in time");
    let took = started.elapsed();

    assert_eq!(status_of(&error), Some(429), "{error}");
    assert_eq!(
        retry_runtime::Classify::class(&error),
        ErrorClass::RateLimit
    );
    // Waiting out the 500 ms hint is the failure; anything well under it is "at once".
    assert!(
        took < DEADLINE + MARGIN,
        "gave up at once, not after {took:?}"
    );
    assert_eq!(server.stats().received, 1);
}
