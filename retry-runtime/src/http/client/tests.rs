use std::io;
use std::time::Duration;

use ::http::StatusCode;

use super::*;
use crate::hint::HintSource;
use crate::http::test_server::{response, serve, Reply};
use crate::{testing, RetryPolicy, Wait};

fn client() -> ::reqwest::Client {
    ::reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap()
}

#[tokio::test]
async fn refused_connection_is_network() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert!(error.is_connect(), "{error:?}");
    assert_eq!(error.class(), ErrorClass::Network);
    assert_eq!(HttpError::from(error).class(), ErrorClass::Network);
}

#[tokio::test]
async fn client_timeout_is_timeout() {
    let (addr, requests) = serve(vec![Reply::Hang]).await;
    let error = ::reqwest::Client::builder()
        .timeout(Duration::from_millis(20))
        .build()
        .unwrap()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Timeout, "{error:?}");
    assert_eq!(requests.len(), 1);
}

#[tokio::test]
async fn connection_closed_without_an_answer_is_network() {
    let (addr, _) = serve(vec![Reply::Close]).await;
    let error = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(error.class(), ErrorClass::Network, "{error:?}");
}

#[tokio::test]
async fn body_cut_short_is_network() {
    let (addr, _) = serve(vec![Reply::Send(
        "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b".into(),
    )])
    .await;
    let response = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    let error = response.text().await.unwrap_err();
    assert_eq!(error.class(), ErrorClass::Network, "{error:?}");
}

#[tokio::test]
async fn a_429_becomes_an_api_error_with_its_hint() {
    let body = r#"{"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}"#;
    let (addr, _) = serve(vec![response(
        "429 Too Many Requests",
        &[
            ("retry-after", "3"),
            ("retry-after-ms", "2500"),
            ("x-request-id", "req_429"),
            ("content-type", "application/json"),
        ],
        body,
    )])
    .await;
    let sent = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    let error = check(sent).await.unwrap_err();
    assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(error.class(), ErrorClass::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_millis(2500)));
    assert_eq!(error.hint().unwrap().source(), HintSource::RetryAfterMs);
    assert_eq!(error.request_id(), Some("req_429"));
    assert_eq!(error.error_code(), Some("rate_limit_exceeded"));
    assert_eq!(error.body(), body);
    let error = HttpError::from(error);
    assert_eq!(error.class(), ErrorClass::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_millis(2500)));
    assert_eq!(error.request_id(), Some("req_429"));
    assert!(std::error::Error::source(&error).is_some());
}

#[tokio::test]
async fn from_response_reads_a_bounded_prefix() {
    let huge = "y".repeat(200_000);
    let (addr, _) = serve(vec![response("502 Bad Gateway", &[], &huge)]).await;
    let sent = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    let error = ApiError::from_response(sent).await;
    assert_eq!(error.class(), ErrorClass::Server);
    assert_eq!(error.body().len(), super::super::BODY_PREFIX_LIMIT);
    assert!(error.body_truncated());
}

#[tokio::test]
async fn successes_pass_through_check() {
    let (addr, _) = serve(vec![response("200 OK", &[], "fine")]).await;
    let sent = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    let passed = check(sent).await.unwrap();
    assert_eq!(passed.text().await.unwrap(), "fine");
}

#[tokio::test]
async fn status_errors_classify_by_status() {
    let (addr, _) = serve(vec![response("503 Service Unavailable", &[], "")]).await;
    let sent = client()
        .get(format!("http://{addr}/"))
        .send()
        .await
        .unwrap();
    let error = sent.error_for_status().unwrap_err();
    assert_eq!(error.class(), ErrorClass::Overloaded);
    assert_eq!(error.retry_after(), None);
}

#[test]
fn builder_errors_are_client_errors() {
    let error = client().get("not a url").build().unwrap_err();
    assert!(error.is_builder());
    assert_eq!(error.class(), ErrorClass::Client);
}

#[test]
fn circuit_open_converts_and_classifies() {
    let breaker = crate::CircuitBreaker::new()
        .named("test")
        .break_duration(Duration::from_secs(30));
    breaker.trip();
    let error = HttpError::from(breaker.try_acquire().unwrap_err());
    assert_eq!(error.class(), ErrorClass::Overloaded);
    assert!(error
        .retry_after()
        .is_some_and(|wait| wait <= Duration::from_secs(30)));
    assert!(error.to_string().contains("`test`"));
}

#[test]
fn elapsed_converts_and_classifies() {
    let error = HttpError::from(Elapsed::attempt_timeout(Duration::from_secs(1)));
    assert_eq!(error.class(), ErrorClass::Timeout);
    assert_eq!(error.to_string(), "attempt timed out after 1s");
    assert!(error.api().is_none());
}

/// The headers a request built by `build` would send.
fn sent_headers(
    build: impl FnOnce(::reqwest::RequestBuilder) -> ::reqwest::RequestBuilder,
) -> (String, String) {
    let request = build(client().post("http://127.0.0.1:9/v1/chat"))
        .build()
        .unwrap();
    let header = |name: &str| request.headers()[name].to_str().unwrap().to_owned();
    (header(IDEMPOTENCY_KEY), header(RETRY_COUNT))
}

#[tokio::test]
async fn one_key_per_call_and_the_retry_count_upstream() {
    static POLICY: RetryPolicy = RetryPolicy::new()
        .max_attempts(3)
        .wait(Wait::fixed(Duration::from_millis(1)));
    let _clock = testing::record_sleeps();
    let mut calls = Vec::new();
    for _ in 0..2 {
        let seen = std::cell::RefCell::new(Vec::new());
        let outcome: Result<(), io::Error> = POLICY
            .call_async(|| async {
                // Inside the attempt: the async block is what the runtime polls in context.
                seen.borrow_mut().push(sent_headers(|request| {
                    request.idempotency_key().retry_count_header()
                }));
                Err(io::Error::from(io::ErrorKind::ConnectionReset))
            })
            .await;
        assert!(outcome.is_err());
        calls.push(seen.into_inner());
    }
    for seen in &calls {
        let counts: Vec<&str> = seen.iter().map(|(_, count)| count.as_str()).collect();
        assert_eq!(counts, ["0", "1", "2"]);
        assert!(seen.iter().all(|(key, _)| *key == seen[0].0), "{seen:?}");
        assert_eq!(seen[0].0.len(), 36);
    }
    assert_ne!(calls[0][0].0, calls[1][0].0);
}

#[tokio::test]
async fn keys_over_the_wire_match_across_attempts() {
    static POLICY: RetryPolicy = RetryPolicy::new()
        .max_attempts(3)
        .wait(Wait::fixed(Duration::from_millis(1)));
    let _clock = testing::record_sleeps();
    let (addr, requests) = serve(vec![
        response("503 Service Unavailable", &[("retry-after-ms", "1")], ""),
        response("503 Service Unavailable", &[], ""),
        response("200 OK", &[], "done"),
    ])
    .await;
    let http = client();
    let url = format!("http://{addr}/v1/things");
    let reply = POLICY
        .call_async(|| async {
            let sent = http
                .post(&url)
                .body("{}")
                .idempotency_key()
                .retry_count_header()
                .send()
                .await?;
            Ok::<_, HttpError>(check(sent).await?.text().await?)
        })
        .await
        .unwrap();
    assert_eq!(reply, "done");
    let keys = requests.header(IDEMPOTENCY_KEY);
    assert_eq!(keys.len(), 3);
    assert!(keys[0].is_some() && keys.iter().all(|key| *key == keys[0]));
    let counts = requests.header(RETRY_COUNT);
    assert_eq!(
        counts,
        [Some("0".into()), Some("1".into()), Some("2".into())]
    );
}

#[test]
fn outside_a_retried_call_each_request_gets_its_own_key() {
    let (first, count) = sent_headers(|r| r.idempotency_key().retry_count_header());
    let (second, _) = sent_headers(|r| r.idempotency_key().retry_count_header());
    assert_ne!(first, second);
    assert_eq!(count, "0");
}

#[tokio::test]
async fn a_responses_rate_limit_headers_reach_the_calls_gate() {
    static GATE: crate::AdmissionGate = crate::AdmissionGate::new().named("http");
    let (addr, requests) = serve(vec![response(
        "200 OK",
        &[
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "20s"),
        ],
        "{}",
    )])
    .await;
    let url = format!("http://{addr}/v1/models");
    let policy = RetryPolicy::new().max_attempts(2);
    let body = policy
        .call_async_gated(&GATE, || async {
            let response = client().get(&url).send().await?;
            Ok::<_, HttpError>(check(response).await?.text().await?)
        })
        .await
        .unwrap();
    assert_eq!(body, "{}");
    assert_eq!(requests.len(), 1);
    // The response said no request is left for 20 s: the gate knows it, with no user code.
    let not_yet = GATE.try_admit(0).unwrap_err();
    assert_eq!(not_yet.reason(), crate::AdmissionWait::Requests);
    assert!(not_yet.wait() > Duration::from_secs(19));
    // A call that cannot wait that long is not made, and says why.
    let hurried = RetryPolicy::new().deadline(Duration::from_secs(1));
    let refused = hurried
        .call_async_gated(&GATE, || async {
            let response = client().get(&url).send().await?;
            Ok::<_, HttpError>(check(response).await?.text().await?)
        })
        .await;
    assert!(
        matches!(refused, Err(HttpError::NotAdmitted(_))),
        "{refused:?}"
    );
    assert_eq!(requests.len(), 1, "never sent");
}
