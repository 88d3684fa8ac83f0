//! One process of the fleet: a burst of calls through `#[retry]`, with the admission gate, the
//! retry budget and the circuit breaker, in this process or shared through Redis.

use std::error::Error;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use retry_runtime::http::reqwest;
use retry_runtime::http::{check, HttpError, RequestBuilderExt};
use retry_runtime::{retry, AdmissionGate, CircuitBreaker, RedisStore, RetryBudget};

/// What the parent tells a worker.
pub(crate) struct Job {
    pub(crate) shared: bool,
    pub(crate) base_url: String,
    pub(crate) redis_url: String,
    pub(crate) calls: usize,
    /// When the burst starts (Unix ms), the same for every worker.
    pub(crate) start_at_ms: u64,
}

static GATE: OnceLock<&'static AdmissionGate> = OnceLock::new();
static BUDGET: OnceLock<&'static RetryBudget> = OnceLock::new();
static BREAKER: OnceLock<&'static CircuitBreaker> = OnceLock::new();

fn gate() -> &'static AdmissionGate {
    GATE.get().expect("set before the first call")
}

fn budget() -> &'static RetryBudget {
    BUDGET.get().expect("set before the first call")
}

fn breaker() -> &'static CircuitBreaker {
    BREAKER.get().expect("set before the first call")
}

/// Runs the job and prints `ok <n> failed <n> trips <n> fallbacks <n>` for the parent: the
/// calls that succeeded and failed, and the round trips to the store (and decisions made
/// without it).
pub(crate) fn run(job: Job) -> Result<(), Box<dyn Error>> {
    let gate = AdmissionGate::new().named("fleet-provider");
    let url: &'static str = Box::leak(job.redis_url.into_boxed_str());
    let store: &'static RedisStore = Box::leak(Box::new(
        RedisStore::new(url).timeout(Duration::from_millis(50)),
    ));
    let budget = RetryBudget::new();
    let breaker = CircuitBreaker::new().named("fleet-provider");
    let (gate, budget, breaker) = if job.shared {
        (
            gate.shared(store),
            budget.shared("fleet-provider", store),
            breaker.shared(store),
        )
    } else {
        (gate, budget, breaker)
    };
    let _ = BUDGET.set(Box::leak(Box::new(budget)));
    let _ = BREAKER.set(Box::leak(Box::new(breaker)));
    let _ = GATE.set(Box::leak(Box::new(gate)));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (ok, failed) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let now_ms = unix_ms();
        if job.start_at_ms > now_ms {
            tokio::time::sleep(Duration::from_millis(job.start_at_ms - now_ms)).await;
        }
        let url = format!("{}/chat/completions", job.base_url);
        let calls: Vec<_> = (0..job.calls)
            .map(|_| {
                let (client, url) = (client.clone(), url.clone());
                tokio::spawn(async move { complete(&client, &url).await })
            })
            .collect();
        let (mut ok, mut failed) = (0, 0);
        for call in calls {
            match call.await {
                Ok(Ok(())) => ok += 1,
                _ => failed += 1,
            }
        }
        (ok, failed)
    });
    println!(
        "ok {ok} failed {failed} trips {} fallbacks {}",
        store.round_trips(),
        store.fallbacks()
    );
    Ok(())
}

pub(crate) fn unix_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// A chat completion, retried: every attempt waits at the gate first.
#[retry(
    max_attempts = 10,
    wait = exponential(100ms, 2s),
    on = [RateLimit(max_attempts = 20), Overloaded, Server, Timeout, Network],
    deadline = 60s,
    max_retry_after = 30s,
    admission = gate(),
    budget = budget(),
    circuit_breaker = breaker()
)]
async fn complete(client: &reqwest::Client, url: &str) -> Result<(), HttpError> {
    let body = r#"{"model":"mock-model","messages":[{"role":"user","content":"hello"}]}"#;
    let request = client
        .post(url)
        .header("content-type", "application/json")
        .idempotency_key()
        .body(body);
    let response = check(request.send().await?).await?;
    response.bytes().await?;
    Ok(())
}
