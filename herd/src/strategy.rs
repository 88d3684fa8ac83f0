//! The retry strategies compared. Each one is a function with `#[retry(...)]`, written exactly
//! as a user of the library writes it: the simulation runs the real runtime (its backoff,
//! jitter, `Retry-After` handling, budget and breaker), not a model of it.
//!
//! Every strategy makes up to 10 attempts in all and, when it backs off, waits from 250 ms,
//! doubling up to 20 s (`decorrelated` grows from 250 ms to 20 s its own way): 72 s of waiting
//! in all without jitter, enough to outlast the 30 s outage. They differ in one thing each.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use retry_runtime::{
    retry, AdmissionGate, CircuitBreaker, CircuitOpen, Classify, ErrorClass, NotYet, RateLimits,
    RetryBudget,
};
use tokio::time::Instant;

use crate::provider::{Answer, ClientId, Provider};

/// A way of retrying, as one `#[retry]` function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Exponential backoff without jitter: every client that failed together comes back
    /// together.
    NoJitter,
    /// Exponential backoff with full jitter (uniform in `[0, wait]`): the runtime's default.
    FullJitter,
    /// Exponential backoff with equal jitter (`wait/2` plus uniform in `[0, wait/2]`).
    EqualJitter,
    /// Decorrelated jitter: each wait uniform between the minimum and three times the last.
    Decorrelated,
    /// Full jitter with an error type that hides the provider's `Retry-After`, as a client
    /// that does not read the header would.
    IgnoringRetryAfter,
    /// Full jitter drawing each retry from a [`RetryBudget`] shared by every client (see
    /// [`retry_budget`]).
    Budgeted,
    /// Full jitter with every attempt passing a [`CircuitBreaker`] shared by every client (see
    /// [`circuit_breaker`]).
    Breaker,
    /// Full jitter and the budget, with every attempt passing an [`AdmissionGate`] shared by
    /// every client, against a provider that publishes its limit on every answer (as OpenAI's
    /// `x-ratelimit-*` headers do): the gate paces the herd to it.
    Paced,
    /// The same, against a provider that publishes nothing: the gate learns a rate from the
    /// provider's 429s and 503s.
    Adaptive,
}

impl Strategy {
    /// Every strategy, in the order of the table.
    pub const ALL: [Strategy; 9] = [
        Strategy::NoJitter,
        Strategy::FullJitter,
        Strategy::EqualJitter,
        Strategy::Decorrelated,
        Strategy::IgnoringRetryAfter,
        Strategy::Budgeted,
        Strategy::Breaker,
        Strategy::Paced,
        Strategy::Adaptive,
    ];

    /// A short name for the table and the chart's legend.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Strategy::NoJitter => "no jitter",
            Strategy::FullJitter => "full jitter",
            Strategy::EqualJitter => "equal jitter",
            Strategy::Decorrelated => "decorrelated",
            Strategy::IgnoringRetryAfter => "full, ignores Retry-After",
            Strategy::Budgeted => "full + budget",
            Strategy::Breaker => "full + breaker",
            Strategy::Paced => "paced",
            Strategy::Adaptive => "adaptive",
        }
    }

    /// Whether the strategy's error type passes the provider's `Retry-After` on to the runtime.
    #[must_use]
    pub const fn honours_retry_after(self) -> bool {
        !matches!(self, Strategy::IgnoringRetryAfter)
    }

    /// Whether the provider publishes its limit to this strategy's clients.
    #[must_use]
    pub const fn reads_published_limits(self) -> bool {
        matches!(self, Strategy::Paced)
    }

    /// Runs one client's call through this strategy; `true` if it succeeded.
    pub(crate) async fn call(self, link: &Link, client: ClientId, shared: &SharedState) -> bool {
        match self {
            Strategy::NoJitter => no_jitter(link, client).await.is_ok(),
            Strategy::FullJitter => full_jitter(link, client).await.is_ok(),
            Strategy::EqualJitter => equal_jitter(link, client).await.is_ok(),
            Strategy::Decorrelated => decorrelated(link, client).await.is_ok(),
            Strategy::IgnoringRetryAfter => ignoring_retry_after(link, client).await.is_ok(),
            Strategy::Budgeted => budgeted(link, client, &shared.budget).await.is_ok(),
            Strategy::Breaker => with_breaker(link, client, &shared.breaker).await.is_ok(),
            Strategy::Paced | Strategy::Adaptive => {
                admitted(link, client, &shared.budget, &shared.gate)
                    .await
                    .is_ok()
            }
        }
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// Retries a budget allows per first attempt: retries add at most 10 % to the load.
pub const BUDGET_RATIO: f64 = 0.1;
/// Retries a budget allows per second whatever the first attempts: its floor.
pub const BUDGET_FLOOR_PER_SECOND: f64 = 1.0;
/// The budget's sliding window: it allows `⌊ratio × first attempts⌋ + ⌊floor × window⌋`
/// retries in any window.
pub const BUDGET_WINDOW: Duration = Duration::from_secs(10);

/// The budget of [`Strategy::Budgeted`]: the runtime's defaults, spelled out. Each run makes a
/// fresh one, so runs do not share it.
#[must_use]
pub fn retry_budget() -> RetryBudget {
    RetryBudget::new()
        .ratio(BUDGET_RATIO)
        .min_per_second(BUDGET_FLOOR_PER_SECOND)
        .window(BUDGET_WINDOW)
}

/// The breaker of [`Strategy::Breaker`]: the runtime's defaults (open after 5 failures in a
/// row, or when half of at least 20 calls in 30 s fail; probe after 5 s). Each run makes a
/// fresh one.
#[must_use]
pub fn circuit_breaker() -> CircuitBreaker {
    CircuitBreaker::new().named("provider")
}

/// The admission gate of [`Strategy::Paced`] and [`Strategy::Adaptive`]: the runtime's
/// defaults. Each run makes a fresh one.
#[must_use]
pub fn admission_gate() -> AdmissionGate {
    AdmissionGate::new().named("provider")
}

/// The budget, breaker and gate that every client of one run shares.
#[derive(Debug)]
pub(crate) struct SharedState {
    pub(crate) budget: RetryBudget,
    pub(crate) breaker: CircuitBreaker,
    pub(crate) gate: AdmissionGate,
}

impl SharedState {
    pub(crate) fn new() -> Self {
        SharedState {
            budget: retry_budget(),
            breaker: circuit_breaker(),
            gate: admission_gate(),
        }
    }
}

/// The provider as the clients of one run reach it: shared by the tasks of the run's one
/// thread, with the run's start for the clock.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    provider: Rc<RefCell<Provider>>,
    start: Instant,
}

impl Link {
    /// A link to `provider`; the run starts now, on tokio's (paused) clock.
    pub(crate) fn new(provider: Provider) -> Self {
        Link {
            provider: Rc::new(RefCell::new(provider)),
            start: Instant::now(),
        }
    }

    /// Time since the start of the run.
    pub(crate) fn now(&self) -> Duration {
        self.start.elapsed()
    }

    /// One request: the attempt every strategy makes. A limit the provider publishes is
    /// reported to the retried call, as `retry_runtime::http::check` does with the headers.
    fn request(&self, client: ClientId) -> Result<(), ProviderError> {
        let reply = self.provider.borrow_mut().reply(client, self.now());
        if let Some(published) = reply.published {
            let mut limits = RateLimits::new().with_requests(published.remaining, published.reset);
            if let Some(limit) = published.limit {
                limits = limits.with_request_limit(limit);
            }
            retry_runtime::report_rate_limits(limits);
        }
        match reply.answer {
            Answer::Served => Ok(()),
            Answer::Rejected {
                status,
                retry_after,
            } => Err(ProviderError::Rejected {
                status,
                retry_after,
            }),
        }
    }

    /// The provider, once the run is over.
    pub(crate) fn into_provider(self) -> Option<Provider> {
        Rc::into_inner(self.provider).map(RefCell::into_inner)
    }
}

/// What a failed attempt returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProviderError {
    /// The provider refused the request.
    Rejected {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// The breaker refused the attempt: it never reached the provider.
    Open(CircuitOpen),
    /// The gate could not admit the attempt in time: it never reached the provider.
    NotAdmitted(NotYet),
}

impl Classify for ProviderError {
    fn class(&self) -> ErrorClass {
        match self {
            ProviderError::Rejected { status, .. } => ErrorClass::from_status(*status),
            ProviderError::Open(open) => open.class(),
            ProviderError::NotAdmitted(not_yet) => not_yet.class(),
        }
    }

    fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Rejected { retry_after, .. } => *retry_after,
            ProviderError::Open(open) => open.retry_after(),
            ProviderError::NotAdmitted(not_yet) => not_yet.retry_after(),
        }
    }
}

impl From<NotYet> for ProviderError {
    fn from(not_yet: NotYet) -> Self {
        ProviderError::NotAdmitted(not_yet)
    }
}

impl From<CircuitOpen> for ProviderError {
    fn from(open: CircuitOpen) -> Self {
        ProviderError::Open(open)
    }
}

/// The same failure, with the `Retry-After` hint dropped: a client that never reads the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HintDropped(ProviderError);

impl Classify for HintDropped {
    fn class(&self) -> ErrorClass {
        self.0.class()
    }
    // `retry_after` keeps its default: no hint.
}

// The strategies. The attribute takes literals only, so the shared settings are repeated; the
// module docs say what they are.

#[retry(max_attempts = 10, wait = exponential(250ms, 20s), jitter = none)]
async fn no_jitter(link: &Link, client: ClientId) -> Result<(), ProviderError> {
    link.request(client)
}

#[retry(max_attempts = 10, wait = exponential(250ms, 20s), jitter = full)]
async fn full_jitter(link: &Link, client: ClientId) -> Result<(), ProviderError> {
    link.request(client)
}

#[retry(max_attempts = 10, wait = exponential(250ms, 20s), jitter = equal)]
async fn equal_jitter(link: &Link, client: ClientId) -> Result<(), ProviderError> {
    link.request(client)
}

#[retry(max_attempts = 10, wait = decorrelated(250ms, 20s))]
async fn decorrelated(link: &Link, client: ClientId) -> Result<(), ProviderError> {
    link.request(client)
}

#[retry(max_attempts = 10, wait = exponential(250ms, 20s), jitter = full)]
async fn ignoring_retry_after(link: &Link, client: ClientId) -> Result<(), HintDropped> {
    link.request(client).map_err(HintDropped)
}

#[retry(max_attempts = 10, wait = exponential(250ms, 20s), jitter = full, budget = budget)]
async fn budgeted(
    link: &Link,
    client: ClientId,
    budget: &RetryBudget,
) -> Result<(), ProviderError> {
    link.request(client)
}

#[retry(max_attempts = 10, wait = exponential(250ms, 20s), jitter = full, circuit_breaker = breaker)]
async fn with_breaker(
    link: &Link,
    client: ClientId,
    breaker: &CircuitBreaker,
) -> Result<(), ProviderError> {
    link.request(client)
}

#[retry(
    max_attempts = 10,
    wait = exponential(250ms, 20s),
    jitter = full,
    budget = budget,
    admission = gate
)]
async fn admitted(
    link: &Link,
    client: ClientId,
    budget: &RetryBudget,
    gate: &AdmissionGate,
) -> Result<(), ProviderError> {
    link.request(client)
}
