//! Quickstart: an LLM client over real HTTP, its calls retried by `#[retry]`.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! No network and no API key: the example starts the embedded OpenAI-compatible server
//! (`mock-llm`) on 127.0.0.1 and runs a small workload against it through `#[retry]`-annotated
//! reqwest functions: a 429 with a retry hint, a blip of 503/529s, a response slower than the
//! attempt timeout, an auth error, a burst into a capacity limit, an outage that trips the
//! circuit breaker and falls back to a backup provider, and a retry budget that runs dry. Each
//! call prints what the server saw of it, attempt by attempt; the totals close the report.
//!
//! With `OPENAI_API_KEY` set (and optionally `OPENAI_BASE_URL`, `OPENAI_MODEL`), the same
//! functions call that endpoint instead.
//!
//! The runtime's own log (one line per failed attempt, per give-up, per fallback) goes to stderr
//! through `tracing` (`2>/dev/null` hides it).

use std::sync::Arc;
use std::time::{Duration, Instant};

use mock_llm::{Fault, MockLlm, RequestRecord};
use retry_runtime::http::reqwest;
use retry_runtime::http::{check, HttpError, RequestBuilderExt};
use retry_runtime::{
    retry, statistics_for, CircuitBreaker, Classify, GiveUpReason, RetryBudget, Statistics,
};

// ===== Shared state: one breaker for the primary provider, one retry budget =====

/// Opens after 3 failures in a row; stays open 400 ms, then lets one probe through.
static PRIMARY_BREAKER: CircuitBreaker = CircuitBreaker::new()
    .named("primary")
    .consecutive_failures(3)
    .break_duration(Duration::from_millis(400));

/// Retries may add 10 % to the load, plus one retry per 2 s window.
static SUMMARY_BUDGET: RetryBudget = RetryBudget::new()
    .ratio(0.1)
    .min_per_second(0.5)
    .window(Duration::from_secs(2));

// ===== The client =====

struct Llm {
    http: reqwest::Client,
    primary: String,
    backup: String,
    api_key: Option<String>,
    model: String,
}

impl Llm {
    /// A chat completion from the primary provider; the backup serves it when the primary gives
    /// up (retries spent, breaker open, deadline).
    #[retry(
        max_attempts = 4,
        wait = exponential(50ms, 400ms),
        on = [RateLimit(max_attempts = 6), Overloaded, Server, Timeout, Network],
        attempt_timeout = 300ms,
        deadline = 4s,
        max_retry_after = 2s,
        circuit_breaker = PRIMARY_BREAKER,
        fallback = Self::complete_on_backup
    )]
    async fn complete(&self, prompt: &str) -> Result<String, HttpError> {
        self.post(&self.primary, prompt).await
    }

    /// The same request to the backup provider, with its own policy.
    #[retry(max_attempts = 2, wait = fixed(50ms), attempt_timeout = 1s)]
    async fn complete_on_backup(&self, prompt: &str) -> Result<String, HttpError> {
        self.post(&self.backup, prompt).await
    }

    /// A cheaper call whose retries draw on a shared budget.
    #[retry(max_attempts = 4, wait = fixed(20ms), budget = SUMMARY_BUDGET)]
    async fn summarize(&self, text: &str) -> Result<String, HttpError> {
        self.post(&self.primary, text).await
    }

    async fn post(&self, base_url: &str, prompt: &str) -> Result<String, HttpError> {
        let body = serde_json::json!({
            "model": self.model,
            "messages": [{"role": "user", "content": prompt}],
        });
        let mut request = self
            .http
            .post(format!("{base_url}/chat/completions"))
            .header("content-type", "application/json")
            // One key per logical call, the same on every attempt: the provider bills once.
            .idempotency_key()
            .retry_count_header()
            .body(body.to_string());
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = check(request.send().await?).await?;
        let reply: serde_json::Value =
            serde_json::from_slice(&response.bytes().await?).unwrap_or_default();
        Ok(reply["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("(no content)")
            .to_owned())
    }
}

// ===== The report =====

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

/// What the server saw of each call made since `mark`, grouped by idempotency key.
fn print_requests(server: &MockLlm, mark: usize, started: mock_llm::Instant) {
    let records = server.requests();
    let records = records.get(mark..).unwrap_or_default();
    let mut keys: Vec<&str> = Vec::new();
    for record in records {
        let key = record.idempotency_key.as_deref().unwrap_or("-");
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in keys {
        let call: Vec<&RequestRecord> = records
            .iter()
            .filter(|r| r.idempotency_key.as_deref().unwrap_or("-") == key)
            .collect();
        println!(
            "    call with idempotency key {}…",
            &key[..key.len().min(8)]
        );
        for (i, record) in call.iter().enumerate() {
            let at = record.arrived.saturating_duration_since(started);
            let answer = match (record.status, record.replayed, record.disconnected) {
                (_, true, _) => {
                    "200 replayed from the first attempt's work (not billed again)".to_owned()
                }
                (_, _, true) => "connection dropped".to_owned(),
                (Some(status), _, _) => format!("{status}"),
                (None, _, _) => "no answer in time".to_owned(),
            };
            let fault = record
                .fault
                .as_deref()
                .map(|f| format!(" [{f}]"))
                .unwrap_or_default();
            println!(
                "      attempt {} at +{:<6} -> {answer}{fault}",
                record.stainless_retry_count.map_or(1, |n| n + 1),
                ms(at)
            );
            if let Some(next) = call.get(i + 1) {
                let gap = next.arrived.saturating_duration_since(record.arrived);
                let why = match record.hint {
                    Some(hint) => format!("the server asked for {}: never sooner", ms(hint)),
                    None => "backoff with jitter".to_owned(),
                };
                println!("          next attempt {} later ({why})", ms(gap));
            }
        }
    }
}

fn outcome(result: &Result<String, HttpError>) -> String {
    match result {
        Ok(text) => format!("Ok: {text}"),
        Err(error) => format!("Err [{}]: {error}", error.class()),
    }
}

async fn scene(
    title: &str,
    server: &MockLlm,
    faults: &[Fault],
    call: impl std::future::Future<Output = Result<String, HttpError>>,
) -> Result<String, HttpError> {
    println!("{title}");
    let mark = server.requests().len();
    server.push_all(faults.iter().cloned());
    let started = mock_llm::Instant::now();
    let result = call.await;
    print_requests(server, mark, started);
    println!("    => {} in {}\n", outcome(&result), ms(started.elapsed()));
    result
}

fn print_statistics(stats: &Statistics) {
    let succeeded = stats.first_try_successes + stats.successes_after_retry;
    #[allow(clippy::cast_precision_loss)]
    let success_rate = if stats.calls == 0 {
        0.0
    } else {
        100.0 * succeeded as f64 / stats.calls as f64
    };
    println!(
        "  {:<44} calls {:>2}  succeeded {:>2} ({success_rate:>3.0}%)  retries {:>2}  after retry {:>2}  fallbacks {:>2}",
        stats.name,
        stats.calls,
        succeeded,
        stats.attempts.saturating_sub(stats.calls),
        stats.successes_after_retry,
        stats.fallbacks,
    );
    let give_ups: Vec<String> = GiveUpReason::ALL
        .iter()
        .filter(|&&reason| stats.gave_up(reason) > 0)
        .map(|&reason| format!("{reason}: {}", stats.gave_up(reason)))
        .collect();
    if !give_ups.is_empty() {
        println!("  {:<44} gave up: {}", "", give_ups.join(", "));
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;

    if let Ok(api_key) = std::env::var("OPENAI_API_KEY") {
        return real_endpoint(http, api_key).await;
    }

    let primary = MockLlm::builder().start().await?;
    let backup = MockLlm::builder().start().await?;
    let limited = MockLlm::builder().capacity(20.0).burst(2).start().await?;
    let llm = Arc::new(Llm {
        http,
        primary: primary.base_url(),
        backup: backup.base_url(),
        api_key: None,
        model: "mock-model".to_owned(),
    });
    println!(
        "Embedded provider at {}, backup at {}\n",
        primary.base_url(),
        backup.base_url()
    );

    let hint = Fault::retry_after_ms(250);
    scene(
        "1. Rate limited: a 429 with `retry-after-ms: 250`",
        &primary,
        &[hint],
        llm.complete("hello"),
    )
    .await?;
    scene(
        "2. A provider blip: 503, then Anthropic's 529",
        &primary,
        &[Fault::status(503), Fault::overloaded()],
        llm.complete("blip"),
    )
    .await?;
    scene(
        "3. A response slower than attempt_timeout (300ms): the server did the work; the retry, with the same key, gets it without a second bill",
        &primary,
        &[Fault::slow(Duration::from_secs(2))],
        llm.complete("slow"),
    )
    .await?;
    let auth = scene(
        "4. An auth error: 401 is never retried (and Auth does not fall back)",
        &primary,
        &[Fault::status(401)],
        llm.complete("auth"),
    )
    .await;
    assert!(auth.is_err());

    println!("5. A burst of 8 calls into a provider that takes 20 requests/s (burst 2)");
    let burst_llm = Arc::new(Llm {
        http: llm.http.clone(),
        primary: limited.base_url(),
        backup: backup.base_url(),
        api_key: None,
        model: "mock-model".to_owned(),
    });
    let started = Instant::now();
    let backup_before = backup.stats().billed;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..8 {
        let llm = Arc::clone(&burst_llm);
        burst.spawn(async move { llm.complete(&format!("burst {i}")).await });
    }
    let mut ok = 0;
    while let Some(result) = burst.join_next().await {
        ok += usize::from(matches!(result, Ok(Ok(_))));
    }
    let seen = limited.stats();
    println!(
        "    => {ok}/8 succeeded in {} ({} served by the backup after 6 rate-limited attempts); the provider saw {} requests ({} answered 429 with an honest hint); retries sooner than it allowed: {}\n",
        ms(started.elapsed()),
        backup.stats().billed - backup_before,
        seen.received,
        seen.capacity_rejections,
        seen.early_retries
    );

    println!("6. An outage: every request to the primary answers 503");
    primary.set_outage(Some(Fault::status(503)));
    for i in 1..=3 {
        let mark = primary.requests().len();
        let started = Instant::now();
        let result = llm.complete(&format!("during the outage {i}")).await;
        let reached = primary.requests().len() - mark;
        println!(
            "    call {i}: {reached} request(s) reached the primary; breaker {}; => {} in {}",
            PRIMARY_BREAKER.state().as_str(),
            outcome(&result),
            ms(started.elapsed())
        );
    }
    primary.set_outage(None);
    tokio::time::sleep(Duration::from_millis(450)).await;
    let result = llm.complete("after the outage").await;
    println!(
        "    the provider recovers; after the break a probe goes through: breaker {} => {}\n",
        PRIMARY_BREAKER.state().as_str(),
        outcome(&result)
    );

    println!("7. A retry budget running dry: summaries during another outage");
    primary.set_outage(Some(Fault::status(503)));
    for i in 1..=4 {
        let mark = primary.requests().len();
        let result = llm.summarize(&format!("text {i}")).await;
        println!(
            "    summary {i}: {} attempt(s) => {}",
            primary.requests().len() - mark,
            outcome(&result)
        );
    }
    primary.set_outage(None);

    println!("\nTotals");
    for function in ["complete", "complete_on_backup", "summarize"] {
        if let Some(stats) = statistics_for(&format!("quickstart::{function}")) {
            print_statistics(&stats);
        }
    }
    for (name, server) in [
        ("primary", &primary),
        ("backup", &backup),
        ("rate-limited", &limited),
    ] {
        let stats = server.stats();
        println!(
            "  provider {name:<13} requests {:>3}  billed {:>3}  replayed {:>2}  early retries {}",
            stats.received, stats.billed, stats.replayed, stats.early_retries
        );
    }
    Ok(())
}

/// The same functions against a real endpoint.
async fn real_endpoint(
    http: reqwest::Client,
    api_key: String,
) -> Result<(), Box<dyn std::error::Error>> {
    let base =
        std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| "https://api.openai.com/v1".to_owned());
    let llm = Llm {
        http,
        primary: base.clone(),
        backup: base.clone(),
        api_key: Some(api_key),
        model: std::env::var("OPENAI_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned()),
    };
    println!("Calling {base} with model {}\n", llm.model);
    for prompt in ["Say hello in five words.", "Name one prime number."] {
        let started = Instant::now();
        let result = llm.complete(prompt).await;
        println!(
            "{prompt}\n    => {} in {}\n",
            outcome(&result),
            ms(started.elapsed())
        );
    }
    if let Some(stats) = statistics_for("quickstart::complete") {
        print_statistics(&stats);
    }
    Ok(())
}
