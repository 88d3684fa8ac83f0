//! An async-openai chat call retried by `#[retry]`.
//!
//! ```text
//! OPENAI_API_KEY=sk-... cargo run --example openai_client --features retry-runtime/async-openai -- "Say hi"
//! ```
//!
//! Without `OPENAI_API_KEY` it prints how to run it and exits. `OPENAI_BASE_URL` points it at
//! an OpenAI-compatible gateway, `OPENAI_MODEL` picks the model (default `gpt-4o-mini`).
//!
//! The client is built with retry-runtime's `OpenAiTransport` in place of async-openai's default
//! transport: that one retries by itself (so attempts would multiply under `#[retry]`) and drops
//! the response headers (so `Retry-After` and the request id would be lost). With it, a 429 waits
//! what the server asked, an `insufficient_quota` 429 or a 400 fails at once, a 5xx backs off,
//! and every attempt of one call sends the same `Idempotency-Key`.

use std::time::Duration;

use retry_runtime::http::async_openai::config::OpenAIConfig;
use retry_runtime::http::async_openai::error::OpenAIError;
use retry_runtime::http::async_openai::types::chat::{
    ChatCompletionRequestUserMessage, CreateChatCompletionRequestArgs,
};
use retry_runtime::http::async_openai::Client;
use retry_runtime::http::{reqwest, ApiError, OpenAiTransport};
use retry_runtime::{attempt, retry, Classify};

/// Asks the model once per attempt: up to 4 attempts, each cut after 60 s, all within 3 min.
/// Rate limits wait for the server's hint (up to 2 min); timeouts get 2 attempts.
#[retry(
    max_attempts = 4,
    wait = exponential(1, 20),
    attempt_timeout = 60s,
    deadline = 3m,
    on = [RateLimit, Overloaded, Server, Timeout, Network]
)]
async fn ask(
    client: &Client<OpenAIConfig>,
    model: &str,
    prompt: &str,
) -> Result<String, OpenAIError> {
    if let Some(now) = attempt() {
        eprintln!(
            "attempt {}/{} (idempotency key {})",
            now.number(),
            now.max_attempts(),
            now.idempotency_key()
        );
    }
    let request = CreateChatCompletionRequestArgs::default()
        .model(model)
        .messages([ChatCompletionRequestUserMessage::from(prompt).into()])
        .max_completion_tokens(200_u32)
        .build()?;
    let response = client.chat().create(request).await?;
    Ok(response
        .choices
        .into_iter()
        .next()
        .and_then(|choice| choice.message.content)
        .unwrap_or_default())
}

#[tokio::main]
async fn main() {
    let Ok(api_key) = std::env::var("OPENAI_API_KEY") else {
        println!("This example calls the OpenAI API and needs a key:");
        println!();
        println!(
            "  OPENAI_API_KEY=sk-... cargo run --example openai_client --features retry-runtime/async-openai -- \"Say hi\""
        );
        println!();
        println!("Optional: OPENAI_BASE_URL (an OpenAI-compatible gateway), OPENAI_MODEL (default gpt-4o-mini).");
        return;
    };
    let mut config = OpenAIConfig::new().with_api_key(api_key);
    if let Ok(base) = std::env::var("OPENAI_BASE_URL") {
        config = config.with_api_base(base);
    }
    let model = std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "Say hi in five words.".to_owned());

    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client");
    let client = Client::with_config(config).with_http_service(OpenAiTransport::new(http));

    match ask(&client, &model, &prompt).await {
        Ok(reply) => println!("{reply}"),
        Err(error) => {
            eprintln!("gave up: {error}");
            eprintln!("  class: {}", error.class());
            if let Some(id) = error.request_id() {
                eprintln!("  request id: {id}");
            }
            if let OpenAIError::Boxed(boxed) = &error {
                if let Some(api) = boxed.downcast_ref::<ApiError>() {
                    eprintln!(
                        "  status: {}, quota exhausted: {}",
                        api.status(),
                        api.is_quota_exhausted()
                    );
                    if let Some(hint) = api.hint() {
                        eprintln!("  server hint: {hint}");
                    }
                }
            }
            std::process::exit(1);
        }
    }
}
