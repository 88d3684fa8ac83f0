//! Quickstart: an LLM client whose calls are retried by `#[retry]`.
//!
//! ```text
//! cargo run --example quickstart
//! ```
//!
//! No network and no API key: an in-process fake provider answers from a script (a 429 with a
//! retry hint, two 503s, a request that hangs, a 401, an outage), and each call prints what
//! happened to it, attempt by attempt. The runtime's own log (one line per failed attempt, one
//! per give-up) goes to stderr through `tracing`. Waits are kept to tens or hundreds of
//! milliseconds so the whole run takes about a second; they are real sleeps.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use retry_runtime::{attempt, hint, retry, Classify, Elapsed, ErrorClass, GiveUpReason};

// ===== The client's error type: what the runtime needs to know about a failure =====

/// An error of the LLM client.
#[derive(Debug)]
enum LlmError {
    /// The provider answered with an error status.
    Status {
        code: u16,
        retry_after: Option<Duration>,
        request_id: String,
    },
    /// The attempt (or the whole call) ran out of time: `attempt_timeout` and `deadline` on an
    /// async fn cut a running attempt and build the error from `Elapsed`.
    TimedOut(Elapsed),
}

impl Classify for LlmError {
    /// What kind of failure this is: the runtime picks the strategy from it.
    fn class(&self) -> ErrorClass {
        match self {
            LlmError::Status { code, .. } => ErrorClass::from_status(*code),
            LlmError::TimedOut(_) => ErrorClass::Timeout,
        }
    }

    /// How long the server asked us to wait: never retried sooner than this.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Status { retry_after, .. } => *retry_after,
            LlmError::TimedOut(_) => None,
        }
    }

    /// The provider's id of the failed request, for the logs.
    fn request_id(&self) -> Option<&str> {
        match self {
            LlmError::Status { request_id, .. } => Some(request_id),
            LlmError::TimedOut(_) => None,
        }
    }
}

impl From<Elapsed> for LlmError {
    fn from(elapsed: Elapsed) -> Self {
        LlmError::TimedOut(elapsed)
    }
}

impl fmt::Display for LlmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmError::Status {
                code, request_id, ..
            } => {
                write!(
                    f,
                    "HTTP {code} {} (request {request_id})",
                    reason_phrase(*code)
                )
            }
            LlmError::TimedOut(elapsed) => write!(f, "{elapsed}"),
        }
    }
}

impl std::error::Error for LlmError {}

// ===== The client: two retried calls =====

/// A chat completion. Rate limits may take up to 6 attempts, other failures 4; a timeout is
/// retried once (the default cap of `Timeout`); one attempt may take 250 ms, the whole call 3 s.
#[retry(
    max_attempts = 4,
    wait = exponential(50ms, 400ms),
    on = [RateLimit(max_attempts = 6), Overloaded, Server, Timeout],
    deadline = 3s,
    attempt_timeout = 250ms,
    max_retry_after = 2s
)]
async fn chat(provider: &FakeProvider, prompt: &str) -> Result<String, LlmError> {
    // Inside a retried call: which attempt this is, and the call's idempotency key, the same on
    // every attempt, so that the provider does (and bills) the work once.
    let attempt = attempt().expect("inside a #[retry] call");
    let request = Request {
        prompt,
        idempotency_key: attempt.idempotency_key().to_string(),
        attempt: attempt.number(),
        max_attempts: attempt.max_attempts(),
    };
    provider.send(request).await.into_result()
}

/// An embedding: three attempts at a fixed 100 ms apart, server errors only.
#[retry(max_attempts = 3, wait = fixed(100ms), jitter = none, on = [Server, Overloaded])]
async fn embed(provider: &FakeProvider, text: &str) -> Result<String, LlmError> {
    let attempt = attempt().expect("inside a #[retry] call");
    let request = Request {
        prompt: text,
        idempotency_key: attempt.idempotency_key().to_string(),
        attempt: attempt.number(),
        max_attempts: attempt.max_attempts(),
    };
    provider.send(request).await.into_result()
}

// ===== The fake provider: scripted answers, and a record of every request it saw =====

/// What the provider does with the next request.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// Answers 200 with this text.
    Ok(&'static str),
    /// Answers with this error status and, maybe, a `retry-after-ms` header.
    Fail(u16, Option<&'static str>),
    /// Never answers (the client's `attempt_timeout` has to cut it).
    Hang,
}

/// What the client sends.
struct Request<'a> {
    prompt: &'a str,
    idempotency_key: String,
    // Not sent to a real provider: kept for this example's report.
    attempt: u32,
    max_attempts: u32,
}

/// What the provider answers, as a client would see it on the wire.
struct Response {
    status: u16,
    retry_after_ms: Option<&'static str>,
    request_id: String,
    body: String,
}

impl Response {
    fn into_result(self) -> Result<String, LlmError> {
        if self.status == 200 {
            return Ok(self.body);
        }
        Err(LlmError::Status {
            code: self.status,
            // A malformed header is no hint at all: the parser returns `None`, never panics.
            retry_after: self.retry_after_ms.and_then(hint::parse_retry_after_ms),
            request_id: self.request_id,
        })
    }
}

/// One request as the provider saw it.
struct Exchange {
    attempt: u32,
    max_attempts: u32,
    idempotency_key: String,
    script: Script,
    sent: Instant,
    /// When the answer left, or the client gave up waiting for it.
    ended: Option<Instant>,
    answered: bool,
}

struct FakeProvider {
    script: Mutex<VecDeque<Script>>,
    log: Mutex<Vec<Exchange>>,
}

/// How long the provider takes to answer.
const LATENCY: Duration = Duration::from_millis(15);

impl FakeProvider {
    fn new(script: &[Script]) -> Self {
        FakeProvider {
            script: Mutex::new(script.iter().copied().collect()),
            log: Mutex::new(Vec::new()),
        }
    }

    async fn send(&self, request: Request<'_>) -> Response {
        let script = self
            .script
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Script::Ok("(unscripted)"));
        let index = {
            let mut log = self.log.lock().unwrap();
            log.push(Exchange {
                attempt: request.attempt,
                max_attempts: request.max_attempts,
                idempotency_key: request.idempotency_key,
                script,
                sent: Instant::now(),
                ended: None,
                answered: false,
            });
            log.len() - 1
        };
        // Marks the end of the exchange, also when the client drops the request mid-flight.
        let _end = EndOfExchange {
            provider: self,
            index,
        };
        tokio::time::sleep(LATENCY).await;
        let request_id = format!("req_{:03}", index + 1);
        let response = match script {
            Script::Ok(text) => Response {
                status: 200,
                retry_after_ms: None,
                request_id,
                body: format!("{text} (prompt: {:?})", request.prompt),
            },
            Script::Fail(status, retry_after_ms) => Response {
                status,
                retry_after_ms,
                request_id,
                body: String::new(),
            },
            Script::Hang => {
                // The client's attempt_timeout cuts this long before it answers.
                tokio::time::sleep(Duration::from_secs(5)).await;
                Response {
                    status: 504,
                    retry_after_ms: None,
                    request_id,
                    body: String::new(),
                }
            }
        };
        self.log.lock().unwrap()[index].answered = true;
        response
    }
}

struct EndOfExchange<'a> {
    provider: &'a FakeProvider,
    index: usize,
}

impl Drop for EndOfExchange<'_> {
    fn drop(&mut self) {
        if let Ok(mut log) = self.provider.log.lock() {
            log[self.index].ended = Some(Instant::now());
        }
    }
}

// ===== The report =====

fn ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn reason_phrase(code: u16) -> &'static str {
    match code {
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Prints what happened to one call, from the provider's record of it; `backoff` says how the
/// function waits when the server gives no hint.
fn report(
    provider: &FakeProvider,
    started: Instant,
    backoff: &str,
    result: &Result<String, LlmError>,
) {
    let took = started.elapsed();
    let log = provider.log.lock().unwrap();
    for (i, exchange) in log.iter().enumerate() {
        let at = exchange.sent.saturating_duration_since(started);
        let key = &exchange.idempotency_key[..8];
        let answer = match exchange.script {
            Script::Ok(_) => "200 OK".to_owned(),
            Script::Fail(code, None) => format!("{code} {}", reason_phrase(code)),
            Script::Fail(code, Some(hint)) => {
                format!("{code} {}, retry-after-ms: {hint}", reason_phrase(code))
            }
            Script::Hang => "no answer".to_owned(),
        };
        let answer = if exchange.answered {
            answer
        } else {
            let waited = exchange
                .ended
                .unwrap_or_else(Instant::now)
                .saturating_duration_since(exchange.sent);
            format!("{answer}: cut by attempt_timeout after {}", ms(waited))
        };
        println!(
            "    attempt {}/{}  at +{:<6} key {key}…  -> {answer}",
            exchange.attempt,
            exchange.max_attempts,
            ms(at)
        );
        if let (Some(ended), Some(next)) = (exchange.ended, log.get(i + 1)) {
            let wait = next.sent.saturating_duration_since(ended);
            let why = match exchange.script {
                Script::Fail(_, Some(hint)) => {
                    format!("the server asked for {hint}ms; never sooner, at most 10% later")
                }
                Script::Fail(code, None) => format!(
                    "{backoff} after a {code} ({})",
                    ErrorClass::from_status(code)
                ),
                Script::Hang => {
                    format!("{backoff} after a Timeout (which has its own cap: 2 attempts)")
                }
                Script::Ok(_) => String::new(),
            };
            println!("        waited {:>5}: {why}", ms(wait));
        }
    }
    let keys_agree = log
        .windows(2)
        .all(|w| w[0].idempotency_key == w[1].idempotency_key);
    let attempts = log.len();
    match result {
        Ok(text) => println!(
            "    => Ok after {attempts} attempt(s) in {}: {text}",
            ms(took)
        ),
        Err(error) => println!(
            "    => Err after {attempts} attempt(s) in {}: {error} [class {}]",
            ms(took),
            error.class()
        ),
    }
    if attempts > 1 {
        println!(
            "    idempotency key {} {}",
            log[0].idempotency_key,
            if keys_agree {
                "sent on every attempt"
            } else {
                "CHANGED between attempts"
            }
        );
    }
    println!();
}

/// Runs one scripted call of `chat` and prints its report.
async fn scenario_chat(
    title: &str,
    script: &[Script],
    prompt: &str,
    expected_attempts: usize,
    ok: bool,
) {
    println!("{title}");
    let provider = FakeProvider::new(script);
    let started = Instant::now();
    let result = chat(&provider, prompt).await;
    report(
        &provider,
        started,
        "exponential backoff (50ms, doubling, full jitter)",
        &result,
    );
    check(&provider, &result, expected_attempts, ok);
}

fn check(
    provider: &FakeProvider,
    result: &Result<String, LlmError>,
    expected_attempts: usize,
    ok: bool,
) {
    let attempts = provider.log.lock().unwrap().len();
    assert_eq!(
        (attempts, result.is_ok()),
        (expected_attempts, ok),
        "unexpected outcome: {result:?}"
    );
}

// ===== The run =====

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // The runtime reports every failed attempt and every give-up through `tracing`.
    tracing_subscriber::fmt()
        .compact()
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .init();

    let run = Instant::now();

    scenario_chat(
        "1. Rate limited: a 429 asking for 150ms, then success",
        &[Script::Fail(429, Some("150")), Script::Ok("Bonjour !")],
        "Say hello in French",
        2,
        true,
    )
    .await;

    scenario_chat(
        "2. Overloaded: 503 twice, then success",
        &[
            Script::Fail(503, None),
            Script::Fail(503, None),
            Script::Ok("Paris"),
        ],
        "Capital of France?",
        3,
        true,
    )
    .await;

    scenario_chat(
        "3. A request that hangs: cut after 250ms (attempt_timeout), retried, then success",
        &[Script::Hang, Script::Ok("42")],
        "The answer?",
        2,
        true,
    )
    .await;

    scenario_chat(
        "4. Bad API key: a 401 is never retried (the same request would fail the same way)",
        &[Script::Fail(401, None), Script::Ok("never sent")],
        "Anything",
        1,
        false,
    )
    .await;

    println!("5. An outage: 500, 502, 500: embed() gives up after its 3 attempts");
    let provider = FakeProvider::new(&[
        Script::Fail(500, None),
        Script::Fail(502, None),
        Script::Fail(500, None),
    ]);
    let started = Instant::now();
    let result = embed(&provider, "some text").await;
    report(&provider, started, "fixed 100ms wait (no jitter)", &result);
    check(&provider, &result, 3, false);

    print_statistics();
    println!();
    println!("Done in {}.", ms(run.elapsed()));
}

/// Counters per retried function, tenacity-style.
fn print_statistics() {
    println!("Statistics (retry_runtime::statistics()):");
    println!(
        "    {:<20} {:>5} {:>8} {:>9} {:>11} {:>7} {:>7} {:>10}",
        "function",
        "calls",
        "attempts",
        "first-try",
        "after-retry",
        "gave-up",
        "slept",
        "retry-rate"
    );
    for stats in retry_runtime::statistics() {
        println!(
            "    {:<20} {:>5} {:>8} {:>9} {:>11} {:>7} {:>7} {:>10.2}",
            stats.name,
            stats.calls,
            stats.attempts,
            stats.first_try_successes,
            stats.successes_after_retry,
            stats.gave_up_total(),
            ms(stats.slept),
            stats.retry_rate()
        );
    }
    if let Some(chat) = retry_runtime::statistics_for("chat") {
        let failures: Vec<String> = ErrorClass::ALL
            .into_iter()
            .filter(|class| chat.failures_of(*class) > 0)
            .map(|class| format!("{class} {}", chat.failures_of(class)))
            .collect();
        let give_ups: Vec<String> = GiveUpReason::ALL
            .into_iter()
            .filter(|reason| chat.gave_up(*reason) > 0)
            .map(|reason| format!("{reason} {}", chat.gave_up(reason)))
            .collect();
        println!();
        println!(
            "statistics_for(\"chat\"): failed attempts by class: {}",
            failures.join(", ")
        );
        println!(
            "                        give-ups by reason: {}",
            give_ups.join(", ")
        );
    }
}
