//! Circuit breaker, retry budget and fallback through the attribute (issue: protecting the
//! provider and the wallet).

use std::sync::Arc;
use std::time::Duration;

use retry_runtime::{
    attempt, retry, statistics_for, testing, BreakerState, CircuitBreaker, CircuitOpen, Classify,
    ErrorClass, GiveUpReason, KeyedBudgets, RetryBudget,
};

use crate::support::Counter;

/// An error type that can also report an open breaker.
#[derive(Debug, Clone, PartialEq)]
enum LlmError {
    Status(u16),
    Open(CircuitOpen),
}

impl Classify for LlmError {
    fn class(&self) -> ErrorClass {
        match self {
            LlmError::Status(status) => ErrorClass::from_status(*status),
            LlmError::Open(open) => open.class(),
        }
    }
}

impl From<CircuitOpen> for LlmError {
    fn from(open: CircuitOpen) -> Self {
        LlmError::Open(open)
    }
}

// ===== circuit breaker =====

static TRIPPING: CircuitBreaker = CircuitBreaker::new()
    .named("tripping")
    .consecutive_failures(3)
    .break_duration(Duration::from_secs(30));
static TRIPPING_CALLS: Counter = Counter::new();

#[retry(max_attempts = 2, wait = fixed(10ms), circuit_breaker = TRIPPING)]
fn through_tripping() -> Result<u32, LlmError> {
    TRIPPING_CALLS.next();
    Err(LlmError::Status(503))
}

#[test]
fn an_outage_opens_the_breaker_and_later_calls_are_not_made() {
    let _clock = testing::record_sleeps();
    // 3 consecutive failures open it: the first call makes 2, the second 1, then it is open.
    assert_eq!(through_tripping(), Err(LlmError::Status(503)));
    assert_eq!(TRIPPING.state(), BreakerState::Closed);
    let second = through_tripping();
    assert_eq!(
        TRIPPING_CALLS.get(),
        3,
        "the breaker opening mid-retry stops the retries"
    );
    assert!(matches!(second, Err(LlmError::Open(_))), "{second:?}");
    assert_eq!(TRIPPING.state(), BreakerState::Open);
    for _ in 0..5 {
        let Err(LlmError::Open(open)) = through_tripping() else {
            panic!("an open breaker refuses the call")
        };
        assert_eq!(open.breaker(), "tripping");
        assert!(open
            .retry_in()
            .is_some_and(|d| d <= Duration::from_secs(30)));
    }
    assert_eq!(
        TRIPPING_CALLS.get(),
        3,
        "no request reaches the provider while open"
    );
    let stats = statistics_for(concat!(module_path!(), "::through_tripping")).unwrap();
    assert_eq!(stats.gave_up(GiveUpReason::CircuitOpen), 6);
}

static CLIENT_ERRORS: CircuitBreaker = CircuitBreaker::new().consecutive_failures(2);

#[retry(circuit_breaker = CLIENT_ERRORS)]
fn bad_request() -> Result<(), LlmError> {
    Err(LlmError::Status(400))
}

#[test]
fn client_errors_never_trip_it() {
    for _ in 0..10 {
        assert_eq!(bad_request(), Err(LlmError::Status(400)));
    }
    assert_eq!(CLIENT_ERRORS.state(), BreakerState::Closed);
}

struct Provider {
    breaker: Arc<CircuitBreaker>,
    calls: u32,
}

impl Provider {
    #[retry(max_attempts = 3, wait = fixed(1ms), circuit_breaker = self.breaker.clone())]
    async fn complete(&mut self) -> Result<u32, LlmError> {
        self.calls += 1;
        Err(LlmError::Status(500))
    }
}

#[tokio::test(start_paused = true)]
async fn a_breaker_in_a_field_on_an_async_mut_self_method() {
    let mut provider = Provider {
        breaker: Arc::new(CircuitBreaker::new().consecutive_failures(2)),
        calls: 0,
    };
    assert!(matches!(provider.complete().await, Err(LlmError::Open(_))));
    assert_eq!(provider.calls, 2);
    provider.breaker.reset();
    assert_eq!(provider.breaker.state(), BreakerState::Closed);
    assert!(provider.complete().await.is_err());
    assert_eq!(provider.calls, 4);
}

// ===== retry budget =====

static NO_RETRIES: RetryBudget = RetryBudget::new().ratio(0.0).min_per_second(0.0);
static BUDGETED_CALLS: Counter = Counter::new();

#[retry(max_attempts = 5, wait = fixed(0), budget = NO_RETRIES)]
fn budgeted() -> Result<(), LlmError> {
    BUDGETED_CALLS.next();
    Err(LlmError::Status(503))
}

#[test]
fn a_spent_budget_gives_up_with_the_last_error() {
    assert_eq!(budgeted(), Err(LlmError::Status(503)));
    assert_eq!(BUDGETED_CALLS.get(), 1, "no retry without budget");
    let stats = statistics_for(concat!(module_path!(), "::budgeted")).unwrap();
    assert_eq!(stats.gave_up(GiveUpReason::BudgetSpent), 1);
}

static PER_USER: KeyedBudgets =
    KeyedBudgets::new(RetryBudget::new().ratio(0.0).min_per_second(0.2));

#[retry(max_attempts = 5, wait = fixed(0), budget = PER_USER.for_key(user))]
fn for_user(user: &str, calls: &Counter) -> Result<(), LlmError> {
    calls.next();
    Err(LlmError::Status(503))
}

#[test]
fn keyed_budgets_are_per_key() {
    // 0.2 retries a second over a 10 s window: two retries per user.
    let (alice, bob) = (Counter::new(), Counter::new());
    assert!(for_user("alice", &alice).is_err());
    assert!(for_user("alice", &alice).is_err());
    assert_eq!(alice.get(), 4, "alice: 2 first attempts + her 2 retries");
    assert!(for_user("bob", &bob).is_err());
    assert_eq!(bob.get(), 3, "bob has his own budget");
}

// ===== fallback =====

#[retry(max_attempts = 2, wait = fixed(0), fallback = claude)]
fn gpt(prompt: &str, calls: &Counter) -> Result<String, LlmError> {
    calls.next();
    let _ = prompt;
    Err(LlmError::Status(503))
}

#[retry(max_attempts = 2, wait = fixed(0), fallback = haiku)]
fn claude(prompt: &str, calls: &Counter) -> Result<String, LlmError> {
    calls.next();
    let _ = prompt;
    Err(LlmError::Status(529))
}

#[retry(max_attempts = 2, wait = fixed(0))]
fn haiku(prompt: &str, calls: &Counter) -> Result<String, LlmError> {
    calls.next();
    Ok(format!("haiku: {prompt}"))
}

#[test]
fn a_chain_of_fallbacks_serves_the_call() {
    let calls = Counter::new();
    assert_eq!(gpt("hi", &calls).unwrap(), "haiku: hi");
    assert_eq!(calls.get(), 5, "2 + 2 + 1 attempts");
    let stats = statistics_for(concat!(module_path!(), "::gpt")).unwrap();
    assert_eq!(stats.fallbacks, 1);
}

#[retry(fallback = backup)]
fn unauthorized(prompt: String) -> Result<String, LlmError> {
    let _ = prompt;
    Err(LlmError::Status(401))
}

#[retry(fallback = backup, fallback_on = [Client])]
fn too_long(prompt: String) -> Result<String, LlmError> {
    let _ = prompt;
    Err(LlmError::Status(400))
}

#[retry]
fn backup(prompt: String) -> Result<String, LlmError> {
    Ok(format!("backup: {prompt}"))
}

#[test]
fn fallback_on_picks_the_classes() {
    assert_eq!(
        unauthorized("a".into()),
        Err(LlmError::Status(401)),
        "Auth does not fall back by default"
    );
    assert_eq!(
        too_long("b".into()).unwrap(),
        "backup: b",
        "Client falls back when named"
    );
}

static OPEN: CircuitBreaker = CircuitBreaker::new();

#[retry(circuit_breaker = OPEN, fallback = backup, fallback_on = [Auth])]
fn behind_open_breaker(prompt: String) -> Result<String, LlmError> {
    let _ = prompt;
    Ok("primary".into())
}

#[test]
fn an_open_breaker_falls_back() {
    OPEN.trip();
    assert_eq!(behind_open_breaker("c".into()).unwrap(), "backup: c");
    OPEN.reset();
    assert_eq!(behind_open_breaker("c".into()).unwrap(), "primary");
}

#[retry(max_attempts = 3, wait = fixed(2s), jitter = none, deadline = 10s, fallback = slow_backup)]
fn slow_primary() -> Result<Duration, LlmError> {
    Err(LlmError::Status(503))
}

#[retry(max_attempts = 2)]
fn slow_backup() -> Result<Duration, LlmError> {
    Ok(attempt()
        .and_then(|a| a.remaining())
        .expect("the fallback inherits the deadline"))
}

#[test]
fn the_first_deadline_bounds_the_chain() {
    let _clock = testing::record_sleeps();
    let remaining = slow_primary().unwrap();
    // The primary slept 2 × 2 s of its 10 s.
    assert_eq!(remaining, Duration::from_secs(6));
}

struct Client {
    name: &'static str,
}

impl Client {
    #[retry(max_attempts = 2, wait = fixed(1ms), fallback = Self::secondary)]
    async fn primary(&mut self, prompt: String) -> Result<String, LlmError> {
        let _ = prompt;
        Err(LlmError::Status(502))
    }

    async fn secondary(&mut self, prompt: String) -> Result<String, LlmError> {
        Ok(format!("{}: {prompt}", self.name))
    }
}

#[tokio::test(start_paused = true)]
async fn an_async_method_falls_back_to_another_method() {
    let mut client = Client { name: "secondary" };
    assert_eq!(client.primary("d".into()).await.unwrap(), "secondary: d");
}
