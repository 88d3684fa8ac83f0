//! The LLM client: chat completions over HTTP from an OpenAI-compatible endpoint, each call
//! retried by `#[retry]`, every attempt written to the [`Journal`].

use std::time::Duration;

use retry_runtime::http::reqwest;
use retry_runtime::http::{check, HttpError, RequestBuilderExt};
use retry_runtime::{retry, AdmissionGate, CircuitBreaker, Classify, RetryBudget};

use crate::journal::{Journal, Outcome};

/// Failures in a row that open the primary's breaker.
pub(crate) const BREAKER_FAILURES_IN_A_ROW: u32 = 3;
/// How long the open breaker refuses calls before it lets a probe through.
pub(crate) const BREAKER_BREAK: Duration = Duration::from_millis(400);

/// Guards the primary provider: shared by every call to it.
pub(crate) static PRIMARY_BREAKER: CircuitBreaker = CircuitBreaker::new()
    .named("primary")
    .consecutive_failures(BREAKER_FAILURES_IN_A_ROW)
    .break_duration(BREAKER_BREAK);

/// Retries of summaries may add 10 % to their load, plus one retry per 2 s window.
static SUMMARY_BUDGET: RetryBudget = RetryBudget::new()
    .ratio(0.1)
    .min_per_second(0.5)
    .window(Duration::from_secs(2));

/// Paces every call to the rate-limited provider to the limit it publishes on each response.
pub(crate) static PACED_GATE: AdmissionGate = AdmissionGate::new().named("paced");

/// The retried functions, by the names `retry_runtime::statistics_for` knows them by.
pub(crate) const COMPLETE_ON_PRIMARY: &str = concat!(module_path!(), "::complete_on_primary");
pub(crate) const COMPLETE_ON_BACKUP: &str = concat!(module_path!(), "::complete_on_backup");
pub(crate) const SUMMARIZE: &str = concat!(module_path!(), "::summarize");
pub(crate) const COMPLETE_PACED: &str = concat!(module_path!(), "::complete_paced");

/// An OpenAI-compatible endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Provider {
    /// What the report calls it.
    pub(crate) name: &'static str,
    /// Up to and including `/v1`.
    pub(crate) base_url: String,
    pub(crate) api_key: Option<String>,
    pub(crate) model: String,
}

#[derive(Clone, Debug)]
pub(crate) struct Llm {
    pub(crate) http: reqwest::Client,
    pub(crate) primary: Provider,
    /// Serves a call the primary gave up on; none, nothing falls back.
    pub(crate) backup: Option<Provider>,
    pub(crate) journal: Journal,
}

/// A successful response.
struct Reply {
    text: String,
    status: u16,
    replayed: bool,
}

impl Llm {
    /// A chat completion from the primary provider, retried; when the primary gives up, the
    /// backup serves the call, if there is one.
    pub(crate) async fn complete(&self, prompt: &str) -> Result<String, HttpError> {
        match &self.backup {
            Some(backup) => self.complete_or_fall_back(backup, prompt).await,
            None => self.complete_on_primary(prompt).await,
        }
    }

    /// The primary's policy: 429s wait what the server asked (up to 6 attempts), 5xx and
    /// timeouts back off, an attempt gets 300 ms, the call 4 s; the breaker sheds the load
    /// of an outage.
    #[retry(
        max_attempts = 4,
        wait = exponential(50ms, 400ms),
        on = [RateLimit(max_attempts = 6), Overloaded, Server, Timeout, Network],
        attempt_timeout = 300ms,
        deadline = 4s,
        max_retry_after = 2s,
        circuit_breaker = PRIMARY_BREAKER
    )]
    async fn complete_on_primary(&self, prompt: &str) -> Result<String, HttpError> {
        self.post(&self.primary, prompt).await
    }

    /// [`Llm::complete_on_primary`], handed to the backup when it gives up (retries spent,
    /// breaker open, deadline). A single attempt: the retrying is the primary's own. It takes
    /// the backup only to pass it on: a fallback gets the same arguments.
    #[retry(max_attempts = 1, fallback = Self::complete_on_backup)]
    async fn complete_or_fall_back(
        &self,
        _backup: &Provider,
        prompt: &str,
    ) -> Result<String, HttpError> {
        self.complete_on_primary(prompt).await
    }

    /// The same request to the backup provider, with its own policy.
    #[retry(max_attempts = 2, wait = fixed(50ms), attempt_timeout = 1s)]
    async fn complete_on_backup(
        &self,
        backup: &Provider,
        prompt: &str,
    ) -> Result<String, HttpError> {
        self.post(backup, prompt).await
    }

    /// The primary's policy, every attempt first passing the admission gate of the provider's
    /// scope: the limits its responses publish pace the next attempts, of every call.
    #[retry(
        max_attempts = 4,
        wait = exponential(50ms, 400ms),
        on = [RateLimit(max_attempts = 6), Overloaded, Server, Timeout, Network],
        attempt_timeout = 300ms,
        deadline = 4s,
        max_retry_after = 2s,
        admission = PACED_GATE
    )]
    pub(crate) async fn complete_paced(&self, prompt: &str) -> Result<String, HttpError> {
        self.post(&self.primary, prompt).await
    }

    /// A cheaper call whose retries draw on a budget shared by all summaries.
    #[retry(max_attempts = 4, wait = fixed(20ms), budget = SUMMARY_BUDGET)]
    pub(crate) async fn summarize(&self, text: &str) -> Result<String, HttpError> {
        self.post(&self.primary, text).await
    }

    /// One attempt, recorded in the journal (as cut if the runtime drops it unfinished).
    async fn post(&self, provider: &Provider, prompt: &str) -> Result<String, HttpError> {
        let mut attempt = self.journal.begin(provider.name);
        let result = self.send(provider, prompt).await;
        attempt.settle(outcome_of(&result));
        result.map(|reply| reply.text)
    }

    async fn send(&self, provider: &Provider, prompt: &str) -> Result<Reply, HttpError> {
        let body = serde_json::json!({
            "model": provider.model,
            "messages": [{"role": "user", "content": prompt}],
        });
        let mut request = self
            .http
            .post(format!("{}/chat/completions", provider.base_url))
            .header("content-type", "application/json")
            // One key per logical call, the same on every attempt: the provider bills once.
            .idempotency_key()
            .retry_count_header()
            .body(body.to_string());
        if let Some(key) = &provider.api_key {
            request = request.bearer_auth(key);
        }
        let response = check(request.send().await?).await?;
        let status = response.status().as_u16();
        let replayed = response
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|value| value == "true");
        let reply: serde_json::Value =
            serde_json::from_slice(&response.bytes().await?).unwrap_or_default();
        let text = reply["choices"][0]["message"]["content"]
            .as_str()
            .unwrap_or("(no content)")
            .to_owned();
        Ok(Reply {
            text,
            status,
            replayed,
        })
    }
}

fn outcome_of(result: &Result<Reply, HttpError>) -> Outcome {
    match result {
        Ok(reply) => Outcome::Answered {
            status: reply.status,
            replayed: reply.replayed,
        },
        Err(HttpError::Api(error)) => Outcome::Rejected {
            status: error.status().as_u16(),
            class: error.class(),
            code: error.error_code().map(str::to_owned),
            hint: error.hint(),
        },
        Err(error) => Outcome::Unanswered {
            class: error.class(),
        },
    }
}
