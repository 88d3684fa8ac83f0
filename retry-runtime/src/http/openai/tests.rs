use std::time::Duration;

use ::async_openai::config::OpenAIConfig;
use ::async_openai::error::ApiError as OpenAiApiError;
use ::async_openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use ::async_openai::Client;
use ::reqwest::StatusCode;

use super::*;
use crate::hint::HintSource;
use crate::http::test_server::{response, serve, Requests};
use crate::{testing, RetryPolicy, Wait};

fn api_error(status: StatusCode, kind: Option<&str>, code: Option<&str>) -> OpenAIError {
    OpenAIError::ApiError(ApiErrorResponse {
        status_code: status,
        api_error: OpenAiApiError {
            message: "m".into(),
            r#type: kind.map(Into::into),
            code: code.map(Into::into),
            ..OpenAiApiError::default()
        },
    })
}

#[test]
fn api_errors_classify_by_status_and_quota() {
    let rate = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        Some("requests"),
        Some("rate_limit_exceeded"),
    );
    assert_eq!(rate.class(), ErrorClass::RateLimit);
    assert_eq!(rate.retry_after(), None);
    assert_eq!(rate.request_id(), None);
    let quota = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        Some("insufficient_quota"),
        None,
    );
    assert_eq!(quota.class(), ErrorClass::Client);
    let quota = api_error(
        StatusCode::TOO_MANY_REQUESTS,
        None,
        Some("insufficient_quota"),
    );
    assert_eq!(quota.class(), ErrorClass::Client);
    let server = api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        Some("server_error"),
        Some("server_error"),
    );
    assert_eq!(server.class(), ErrorClass::Server);
    assert_eq!(
        api_error(StatusCode::SERVICE_UNAVAILABLE, None, None).class(),
        ErrorClass::Overloaded
    );
    assert_eq!(
        api_error(StatusCode::UNAUTHORIZED, None, None).class(),
        ErrorClass::Auth
    );
    assert_eq!(
        api_error(StatusCode::BAD_REQUEST, None, None).class(),
        ErrorClass::Client
    );
}

#[test]
fn client_side_errors_are_other() {
    let bad_json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
    assert_eq!(
        OpenAIError::JSONDeserialize(bad_json, "{".into()).class(),
        ErrorClass::Other
    );
    assert_eq!(
        OpenAIError::InvalidArgument("x".into()).class(),
        ErrorClass::Other
    );
    assert_eq!(
        OpenAIError::FileReadError("x".into()).class(),
        ErrorClass::Other
    );
    let unknown = OpenAIError::Boxed(Box::new(std::fmt::Error));
    assert_eq!(unknown.class(), ErrorClass::Other);
}

#[test]
fn boxed_errors_of_this_crate_keep_their_class_and_hint() {
    let mut headers = ::http::HeaderMap::new();
    headers.insert("retry-after", ::http::HeaderValue::from_static("4"));
    headers.insert(
        "x-request-id",
        ::http::HeaderValue::from_static("req_boxed"),
    );
    let api = ApiError::new(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
    let error = OpenAIError::Boxed(Box::new(api));
    assert_eq!(error.class(), ErrorClass::RateLimit);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(4)));
    assert_eq!(error.request_id(), Some("req_boxed"));
    let elapsed = OpenAIError::from(Elapsed::deadline(Duration::from_secs(9)));
    assert_eq!(elapsed.class(), ErrorClass::Timeout);
    let io = OpenAIError::Boxed(Box::new(std::io::Error::from(
        std::io::ErrorKind::ConnectionReset,
    )));
    assert_eq!(io.class(), ErrorClass::Network);
}

#[tokio::test]
async fn transport_errors_classify_through_reqwest() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = ::reqwest::get(format!("http://{addr}/")).await.unwrap_err();
    assert_eq!(OpenAIError::Reqwest(error).class(), ErrorClass::Network);
}

const COMPLETION: &str = r#"{"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
  "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}]}"#;

fn openai_client(addr: std::net::SocketAddr) -> Client<OpenAIConfig> {
    let config = OpenAIConfig::new()
        .with_api_base(format!("http://{addr}/v1"))
        .with_api_key("sk-test");
    Client::with_config(config).with_http_service(OpenAiTransport::new(::reqwest::Client::new()))
}

async fn ask(client: &Client<OpenAIConfig>) -> Result<String, OpenAIError> {
    let request = CreateChatCompletionRequestArgs::default()
        .model("gpt-test")
        .messages([ChatCompletionRequestUserMessage::from("hi").into()])
        .build()?;
    let reply = client.chat().create(request).await?;
    Ok(reply.choices[0].message.content.clone().unwrap_or_default())
}

#[tokio::test]
async fn the_transport_keeps_hints_and_sends_one_key_per_call() {
    static POLICY: RetryPolicy = RetryPolicy::new()
        .max_attempts(3)
        .wait(Wait::fixed(Duration::from_millis(1)));
    let clock = testing::record_sleeps();
    let (addr, requests) = serve(vec![
        response(
            "429 Too Many Requests",
            &[("retry-after-ms", "40"), ("x-request-id", "req_1")],
            r#"{"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}}"#,
        ),
        response("200 OK", &[("content-type", "application/json")], COMPLETION),
    ])
    .await;
    let client = openai_client(addr);
    let reply = POLICY.call_async(|| ask(&client)).await.unwrap();
    assert_eq!(reply, "hello");
    // One request per attempt: the transport itself does not retry.
    assert_eq!(requests.len(), 2);
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 1);
    assert!(sleeps[0] >= Duration::from_millis(40), "{sleeps:?}");
    assert_same_key(&requests);
    assert_eq!(
        requests.header(RETRY_COUNT),
        [Some("0".into()), Some("1".into())]
    );
}

fn assert_same_key(requests: &Requests) {
    let keys = requests.header(IDEMPOTENCY_KEY);
    assert!(
        keys[0].is_some() && keys.iter().all(|key| *key == keys[0]),
        "{keys:?}"
    );
}

#[tokio::test]
async fn the_transport_reports_the_whole_error() {
    let body = r#"{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}"#;
    let (addr, requests) = serve(vec![response(
        "429 Too Many Requests",
        &[("retry-after", "1"), ("x-request-id", "req_quota")],
        body,
    )])
    .await;
    let _clock = testing::record_sleeps();
    let client = openai_client(addr);
    let error = RetryPolicy::new()
        .call_async(|| ask(&client))
        .await
        .unwrap_err();
    // Out of quota: not retried, and everything is there.
    assert_eq!(requests.len(), 1);
    assert_eq!(error.class(), ErrorClass::Client);
    assert_eq!(error.request_id(), Some("req_quota"));
    let OpenAIError::Boxed(boxed) = &error else {
        panic!("{error:?}")
    };
    let api = boxed.downcast_ref::<ApiError>().unwrap();
    assert!(api.is_quota_exhausted());
    assert_eq!(api.hint().map(|h| h.source()), Some(HintSource::RetryAfter));
    // Outside a retried call, no idempotency headers are added.
    let (addr, requests) = serve(vec![response("200 OK", &[], COMPLETION)]).await;
    assert_eq!(ask(&openai_client(addr)).await.unwrap(), "hello");
    assert_eq!(requests.header(IDEMPOTENCY_KEY), [None]);
}
