//! The admission gate through the attribute: a throttle told to one call pauses the others of
//! its scope, a published limit paces a burst, and a call that cannot be admitted before its
//! deadline gives up at once.

use std::time::Duration;

use retry_runtime::{
    retry, statistics_for, AdmissionGate, AdmissionWait, Classify, ErrorClass, GiveUpReason,
    NotYet, RateLimits,
};

use crate::support::Counter;

#[derive(Debug, Clone, PartialEq)]
enum LlmError {
    Status(u16, Option<Duration>),
    NotAdmitted(AdmissionWait),
}

impl Classify for LlmError {
    fn class(&self) -> ErrorClass {
        match self {
            LlmError::Status(status, _) => ErrorClass::from_status(*status),
            LlmError::NotAdmitted(_) => ErrorClass::RateLimit,
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            LlmError::Status(_, hint) => *hint,
            LlmError::NotAdmitted(_) => None,
        }
    }
}

impl From<NotYet> for LlmError {
    fn from(not_yet: NotYet) -> Self {
        LlmError::NotAdmitted(not_yet.reason())
    }
}

// ===== a throttle shared by the scope =====

// No clock of its own: the gate reads the runtime's, the thread's test clock here.
static SHARED: AdmissionGate = AdmissionGate::new().named("shared");
static THROTTLED_CALLS: Counter = Counter::new();
static OTHER_CALLS: Counter = Counter::new();

#[retry(max_attempts = 2, wait = fixed(0), admission = SHARED)]
fn throttled_once() -> Result<u32, LlmError> {
    if THROTTLED_CALLS.next() == 1 {
        return Err(LlmError::Status(429, Some(Duration::from_secs(20))));
    }
    Ok(1)
}

#[retry(max_attempts = 2, admission = SHARED, deadline = 5s)]
fn another_call_of_the_scope() -> Result<u32, LlmError> {
    OTHER_CALLS.next();
    Ok(2)
}

#[test]
fn a_throttle_pauses_every_call_of_the_scope_and_one_without_time_gives_up_at_once() {
    let clock = retry_runtime::testing::record_sleeps();
    // The first call's 429 asks 20 s of the whole scope; the call waits them, then probes.
    assert_eq!(throttled_once(), Ok(1));
    assert_eq!(THROTTLED_CALLS.get(), 2);
    // One wait, the call's own (the hint, and up to 10 % more): by then the scope's cooldown
    // is over, and the gate adds none.
    let sleeps = clock.sleeps();
    assert_eq!(sleeps.len(), 1, "{sleeps:?}");
    assert!(sleeps[0] >= Duration::from_secs(20) && sleeps[0] <= Duration::from_secs(22));
    // Another 429 reaches the scope (told by another call): a call whose deadline (5 s)
    // cannot outlast the 20 s cooldown is not made, and gives up now.
    SHARED.rate_limited(Some(Duration::from_secs(20)));
    clock.clear();
    let other = another_call_of_the_scope();
    assert_eq!(other, Err(LlmError::NotAdmitted(AdmissionWait::Cooldown)));
    assert_eq!(OTHER_CALLS.get(), 0, "never sent");
    assert!(clock.sleeps().is_empty(), "no sleeping to the deadline");
    let stats = statistics_for("another_call_of_the_scope").unwrap();
    assert_eq!(stats.gave_up(GiveUpReason::NotAdmitted), 1);
    assert_eq!(
        stats.failures_of(ErrorClass::RateLimit),
        0,
        "not a failure of the provider"
    );
}

// ===== a published limit paces a burst =====

static PACED: AdmissionGate = AdmissionGate::new().named("paced");
static PACED_CALLS: Counter = Counter::new();

#[retry(max_attempts = 3, admission = PACED)]
async fn paced_call() -> Result<u32, LlmError> {
    PACED_CALLS.next();
    Ok(3)
}

#[tokio::test(start_paused = true)]
async fn a_published_limit_paces_the_calls_on_the_paused_clock() {
    // 2 requests left for 1 s, as a response said.
    let first = PACED.try_admit(0).unwrap();
    PACED.published(&RateLimits::from_headers([
        ("x-ratelimit-remaining-requests", "2"),
        ("x-ratelimit-reset-requests", "1s"),
    ]));
    first.succeeded(None);
    let start = tokio::time::Instant::now();
    for _ in 0..3 {
        assert_eq!(paced_call().await, Ok(3));
    }
    assert_eq!(PACED_CALLS.get(), 3);
    // The third waited for the reset, and no longer.
    assert_eq!(start.elapsed(), Duration::from_secs(1));
}

// ===== a cooldown waited out, then one probe =====

static COOLING: AdmissionGate = AdmissionGate::new().named("cooling");
static COOLING_CALLS: Counter = Counter::new();

#[retry(max_attempts = 1, admission = COOLING)]
async fn first_in_scope() -> Result<u32, LlmError> {
    COOLING_CALLS.next();
    Err(LlmError::Status(429, Some(Duration::from_secs(10))))
}

#[retry(max_attempts = 1, admission = COOLING)]
async fn next_in_scope() -> Result<u32, LlmError> {
    COOLING_CALLS.next();
    Ok(4)
}

#[tokio::test(start_paused = true)]
async fn the_next_call_waits_out_the_scopes_cooldown_and_goes_as_its_probe() {
    let start = tokio::time::Instant::now();
    assert!(first_in_scope().await.is_err());
    // Not retried (one attempt), but the scope heard the 429: the next call waits 10 s.
    assert_eq!(next_in_scope().await, Ok(4));
    assert_eq!(start.elapsed(), Duration::from_secs(10));
    assert_eq!(COOLING_CALLS.get(), 2);
    // Its success ended the probe: what holds the next one now is at most the rate learnt
    // from the throttle, not the cooldown or the probe.
    if let Err(not_yet) = COOLING.try_admit(0) {
        assert_eq!(not_yet.reason(), AdmissionWait::Rate);
    }
}

// ===== tokens charged up front, settled by the usage =====

static TOKENS: AdmissionGate = AdmissionGate::new().named("tokens");
static TOKEN_CALLS: Counter = Counter::new();

/// A completion of a prompt of `prompt_tokens` that may write `max_tokens`: the gate charges
/// both up front; the response says it used `used`.
#[retry(
    max_attempts = 1,
    admission = TOKENS,
    expected_tokens = prompt_tokens + max_tokens,
    deadline = 5s
)]
fn complete(prompt_tokens: u32, max_tokens: u32, used: u64) -> Result<u64, LlmError> {
    TOKEN_CALLS.next();
    assert!(used <= u64::from(prompt_tokens + max_tokens));
    retry_runtime::report_token_usage(used);
    Ok(used)
}

#[test]
fn a_call_states_its_tokens_and_the_gate_settles_them_by_the_usage() {
    let clock = retry_runtime::testing::record_sleeps();
    // 1,000 tokens left for a minute, as a response said.
    let first = TOKENS.try_admit(0).unwrap();
    TOKENS.published(&RateLimits::new().with_tokens(1_000, Duration::from_secs(60)));
    first.succeeded(None);
    // 600 charged, 100 used: 900 left.
    assert_eq!(complete(100, 500, 100), Ok(100));
    // 600 charged again, and all used: 300 left.
    assert_eq!(complete(100, 500, 600), Ok(600));
    // 600 more cannot go before the minute is out, past the call's deadline: not made.
    let refused = complete(100, 500, 1);
    assert_eq!(refused, Err(LlmError::NotAdmitted(AdmissionWait::Tokens)));
    assert_eq!(TOKEN_CALLS.get(), 2, "the third was never sent");
    assert!(clock.sleeps().is_empty(), "no sleeping to the deadline");
    // A small one still fits.
    assert_eq!(complete(100, 100, 150), Ok(150));
}
