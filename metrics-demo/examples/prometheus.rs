//! The runtime's metrics as Prometheus scrapes them (retry-runtime's `metrics` feature).
//!
//! ```text
//! cargo run -p metrics-demo --example prometheus
//! ```
//!
//! No network, no API key: a small workload of `#[retry]` functions against an in-process
//! provider that answers from a fault script (a 429 with a hint, a 503/529 blip, an attempt
//! slower than its timeout, a 401, an outage that trips the circuit breaker and falls back to a
//! backup, a retry budget running dry), under `metrics-exporter-prometheus` installed as the
//! recorder (no HTTP listener: `handle.render()` is what a scrape would read). It prints the
//! scrape, then the two rates as the runtime's own `Statistics` compute them, for comparison with
//! the PromQL in the README.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
use retry_runtime::{
    retry, statistics_for, CircuitBreaker, CircuitOpen, Classify, Elapsed, ErrorClass, RetryBudget,
};

// ===== the provider: answers from a script of faults =====

#[derive(Debug)]
enum ProviderError {
    Status {
        status: u16,
        retry_after: Option<Duration>,
    },
    Open(CircuitOpen),
    TimedOut(Elapsed),
}

impl Classify for ProviderError {
    fn class(&self) -> ErrorClass {
        match self {
            ProviderError::Status { status, .. } => ErrorClass::from_status(*status),
            ProviderError::Open(open) => open.class(),
            ProviderError::TimedOut(elapsed) => elapsed.class(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Status { retry_after, .. } => *retry_after,
            ProviderError::Open(open) => open.retry_after(),
            ProviderError::TimedOut(_) => None,
        }
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProviderError::Status { status, .. } => write!(f, "the provider answered {status}"),
            ProviderError::Open(open) => open.fmt(f),
            ProviderError::TimedOut(elapsed) => elapsed.fmt(f),
        }
    }
}

impl std::error::Error for ProviderError {}

impl From<CircuitOpen> for ProviderError {
    fn from(open: CircuitOpen) -> Self {
        ProviderError::Open(open)
    }
}

impl From<Elapsed> for ProviderError {
    fn from(elapsed: Elapsed) -> Self {
        ProviderError::TimedOut(elapsed)
    }
}

/// What the provider does with the next request.
#[derive(Clone, Copy)]
enum Fault {
    Status(u16),
    Hinted(u16, Duration),
    Slow(Duration),
}

/// A provider that answers each request with the next scripted fault, else with a completion.
struct Provider {
    script: Mutex<VecDeque<Fault>>,
    outage: Mutex<Option<u16>>,
}

impl Provider {
    const fn new() -> Self {
        Provider {
            script: Mutex::new(VecDeque::new()),
            outage: Mutex::new(None),
        }
    }

    fn push(&self, faults: &[Fault]) {
        self.script.lock().unwrap().extend(faults);
    }

    fn set_outage(&self, status: Option<u16>) {
        *self.outage.lock().unwrap() = status;
    }

    async fn complete(&self, prompt: &str) -> Result<String, ProviderError> {
        let outage = *self.outage.lock().unwrap();
        let fault = outage
            .map(Fault::Status)
            .or_else(|| self.script.lock().unwrap().pop_front());
        match fault {
            None => Ok(format!("completion of {prompt:?}")),
            Some(Fault::Status(status)) => Err(ProviderError::Status {
                status,
                retry_after: None,
            }),
            Some(Fault::Hinted(status, hint)) => Err(ProviderError::Status {
                status,
                retry_after: Some(hint),
            }),
            Some(Fault::Slow(took)) => {
                tokio::time::sleep(took).await;
                Ok(format!("slow completion of {prompt:?}"))
            }
        }
    }
}

static OPENAI: Provider = Provider::new();
static ANTHROPIC: Provider = Provider::new();

/// Opens after 3 failures in a row, for 200 ms.
static OPENAI_BREAKER: CircuitBreaker = CircuitBreaker::new()
    .named("openai")
    .consecutive_failures(3)
    .break_duration(Duration::from_millis(200));

/// No retry earned by first attempts; one retry per second from the floor (2 in the window).
static SUMMARY_BUDGET: RetryBudget = RetryBudget::new()
    .ratio(0.0)
    .min_per_second(1.0)
    .window(Duration::from_secs(2));

// ===== the retried functions =====

#[retry(
    max_attempts = 4,
    wait = exponential(20ms, 200ms),
    attempt_timeout = 150ms,
    circuit_breaker = OPENAI_BREAKER,
    fallback = complete_on_anthropic
)]
async fn complete(prompt: &str) -> Result<String, ProviderError> {
    OPENAI.complete(prompt).await
}

#[retry(max_attempts = 2, wait = fixed(20ms))]
async fn complete_on_anthropic(prompt: &str) -> Result<String, ProviderError> {
    ANTHROPIC.complete(prompt).await
}

#[retry(max_attempts = 3, wait = fixed(10ms), budget = SUMMARY_BUDGET)]
async fn summarize(text: &str) -> Result<String, ProviderError> {
    OPENAI.complete(text).await
}

// ===== the workload =====

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Histogram buckets for the waits (without them, the exporter renders a summary).
    let prometheus = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(retry_runtime::metrics::SLEEP.to_owned()),
            &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
        )?
        .install_recorder()?;
    retry_runtime::metrics::describe();
    retry_runtime::metrics::record_breaker(&OPENAI_BREAKER);

    for i in 0..5 {
        complete(&format!("question {i}")).await?;
    }
    OPENAI.push(&[Fault::Hinted(429, Duration::from_millis(50))]);
    complete("rate limited").await?;
    OPENAI.push(&[Fault::Status(503), Fault::Status(529)]);
    complete("a blip").await?;
    OPENAI.push(&[Fault::Slow(Duration::from_secs(1))]);
    complete("slower than attempt_timeout").await?;
    OPENAI.push(&[Fault::Status(401)]);
    complete("unauthorized").await.unwrap_err();

    // An outage: three 503s trip the breaker; calls fall back to the backup until it closes.
    OPENAI.set_outage(Some(503));
    for i in 0..3 {
        complete(&format!("during the outage {i}")).await?;
    }
    OPENAI.set_outage(None);
    tokio::time::sleep(Duration::from_millis(250)).await;
    complete("after the outage").await?;

    // A retry budget running dry: 2 retries in the window, then none.
    OPENAI.set_outage(Some(500));
    for i in 0..3 {
        summarize(&format!("text {i}")).await.unwrap_err();
    }
    OPENAI.set_outage(None);

    println!("{}", prometheus.render());

    println!("# The same calls as the runtime's Statistics count them:");
    for function in ["complete", "complete_on_anthropic", "summarize"] {
        if let Some(stats) = statistics_for(&format!("prometheus::{function}")) {
            println!(
                "#   {:<34} calls {:>2}  attempts {:>2}  retry rate {:.3}  success-after-retry rate {:.3}",
                stats.name,
                stats.calls,
                stats.attempts,
                stats.retry_rate(),
                stats.success_after_retry_rate()
            );
        }
    }
    Ok(())
}
