//! Rate limits per API key, requests and tokens, published as OpenAI publishes them.

mod support;

use mock_llm::MockLlm;
use support::{send, Reply};

/// A chat of "hello" (2 prompt tokens) that may write `max_tokens`, sent with `api_key`.
async fn chat_as(addr: std::net::SocketAddr, api_key: &str, max_tokens: u64) -> Reply {
    let body = format!(
        r#"{{"model":"gpt-test","max_tokens":{max_tokens},"messages":[{{"role":"user","content":"hello"}}]}}"#
    );
    let bearer = format!("Bearer {api_key}");
    send(
        addr,
        "POST",
        "/v1/chat/completions",
        body,
        &[("authorization", &bearer)],
    )
    .await
    .expect("a response")
}

#[tokio::test]
async fn each_key_has_its_own_request_and_token_limits_and_hears_of_them() {
    // 1 request and 100 tokens a second per key; up to 5 requests and 100 tokens at once.
    let server = MockLlm::builder()
        .capacity(1.0)
        .burst(5)
        .token_capacity(100.0)
        .publish_limits()
        .start()
        .await
        .expect("starts");
    let addr = server.addr();
    let first = chat_as(addr, "sk-a", 48).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit-requests"), Some("5"));
    assert_eq!(first.header("x-ratelimit-remaining-requests"), Some("4"));
    assert_eq!(first.header("x-ratelimit-limit-tokens"), Some("100"));
    // 2 prompt tokens and 48 that it may write: 50 charged.
    assert_eq!(first.header("x-ratelimit-remaining-tokens"), Some("50"));
    assert!(first.header("x-ratelimit-reset-tokens").is_some());
    assert_eq!(chat_as(addr, "sk-a", 48).await.status, 200);
    // The tokens are spent before the requests are.
    let refused = chat_as(addr, "sk-a", 48).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header("x-ratelimit-remaining-tokens"), Some("0"));
    assert_eq!(refused.header("x-ratelimit-remaining-requests"), Some("3"));
    // Another key is untouched.
    let other = chat_as(addr, "sk-b", 8).await;
    assert_eq!(other.status, 200);
    assert_eq!(other.header("x-ratelimit-remaining-requests"), Some("4"));
    assert_eq!(other.header("x-ratelimit-remaining-tokens"), Some("90"));
    assert_eq!(server.stats().capacity_rejections, 1);
}

#[tokio::test]
async fn a_token_capacity_out_of_range_is_refused_at_start() {
    let error = MockLlm::builder()
        .token_capacity(0.0)
        .start()
        .await
        .expect_err("no tokens at all is not a limit");
    assert!(error.to_string().contains("token capacity"), "{error}");
    let error = MockLlm::builder()
        .token_capacity(10.0)
        .token_burst(0)
        .start()
        .await
        .expect_err("a bucket of nothing");
    assert!(error.to_string().contains("token burst"), "{error}");
}
