//! retry-runtime's `metrics` feature: scripted runs of `#[retry]` functions under a debugging
//! recorder installed on the test's thread, asserting every metric each run recorded (exact
//! names, labels and values), and that the counters agree with the function's `Statistics`,
//! the two rates included.
//!
//! Each test has functions of its own (their path is the `function` label and the statistics'
//! name), sleeps on the test clock of `record_sleeps()` (or tokio's paused clock), and reads only
//! what was recorded on its own thread.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::time::Duration;

use retry_runtime::metrics::{
    BREAKER_STATE, BREAKER_TRANSITIONS, CALLS, FAILURES, FALLBACKS, RETRIES, SLEEP,
};
use retry_runtime::{
    retry, statistics_for, testing, BreakerState, CircuitBreaker, CircuitOpen, Classify, Elapsed,
    ErrorClass, GiveUpReason, RetryBudget, Statistics,
};
use retry_test_capture::{labels, Metric, Value};

// ===== a scripted provider =====

/// The error of a scripted call.
#[derive(Debug, Clone, PartialEq)]
enum Fault {
    Status(u16),
    Open(CircuitOpen),
    TimedOut(Elapsed),
}

impl Classify for Fault {
    fn class(&self) -> ErrorClass {
        match self {
            Fault::Status(status) => ErrorClass::from_status(*status),
            Fault::Open(open) => open.class(),
            Fault::TimedOut(elapsed) => elapsed.class(),
        }
    }
}

impl From<CircuitOpen> for Fault {
    fn from(open: CircuitOpen) -> Self {
        Fault::Open(open)
    }
}

impl From<Elapsed> for Fault {
    fn from(elapsed: Elapsed) -> Self {
        Fault::TimedOut(elapsed)
    }
}

/// The answers of successive attempts: 200 succeeds, anything else fails with that status.
struct Script(RefCell<VecDeque<u16>>);

impl Script {
    fn new(statuses: &[u16]) -> Self {
        Script(RefCell::new(statuses.iter().copied().collect()))
    }

    fn next(&self) -> Result<u16, Fault> {
        match self.0.borrow_mut().pop_front().expect("the script ran out") {
            200 => Ok(200),
            status => Err(Fault::Status(status)),
        }
    }

    fn is_done(&self) -> bool {
        self.0.borrow().is_empty()
    }
}

// ===== what a run recorded =====

/// Everything recorded on this thread while `run` ran.
fn recorded<T>(run: impl FnOnce() -> T) -> (T, Recorded) {
    let (out, all) = retry_test_capture::metrics(run);
    (out, Recorded(all))
}

fn metric(name: &str, pairs: &[(&str, &str)], value: Value) -> Metric {
    (name.to_owned(), labels(pairs), value)
}

struct Recorded(Vec<Metric>);

impl Recorded {
    /// The metrics whose `label` is `value`, sorted.
    fn with(&self, label: &str, value: &str) -> Vec<Metric> {
        self.0
            .iter()
            .filter(|(_, labels, _)| labels.iter().any(|(k, v)| k == label && v == value))
            .cloned()
            .collect()
    }

    /// The value of the counter `name` with exactly these labels; 0 if it was never recorded.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        let (_, wanted, _) = metric(name, labels, Value::Counter(0));
        self.0
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or(0, |(_, _, value)| match value {
                Value::Counter(n) => *n,
                other => panic!("{name} is not a counter: {other:?}"),
            })
    }

    fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        let (_, wanted, _) = metric(name, labels, Value::Counter(0));
        self.0
            .iter()
            .find(|(n, l, _)| n == name && *l == wanted)
            .map_or_else(Vec::new, |(_, _, value)| match value {
                Value::Histogram(values) => values.clone(),
                other => panic!("{name} is not a histogram: {other:?}"),
            })
    }

    /// Checks the counters of `function` against its statistics, and derives the two rates
    /// from the counters as the README's PromQL does.
    fn agrees_with(&self, stats: &Statistics) -> (f64, f64) {
        let f = stats.name;
        let outcome = |o: &str| self.counter(CALLS, &[("function", f), ("outcome", o)]);
        let gave_up = |reason: GiveUpReason| {
            self.counter(
                CALLS,
                &[
                    ("function", f),
                    ("outcome", "gave_up"),
                    ("reason", reason.as_str()),
                ],
            )
        };
        let first = outcome("first_try_success");
        let after_retry = outcome("success_after_retry");
        let gave_up_total: u64 = GiveUpReason::ALL.into_iter().map(gave_up).sum();
        let calls = first + after_retry + gave_up_total;
        let retries = self.counter(RETRIES, &[("function", f)]);

        assert_eq!(calls, stats.calls, "calls of {f}");
        assert_eq!(first, stats.first_try_successes, "first tries of {f}");
        assert_eq!(after_retry, stats.successes_after_retry);
        for reason in GiveUpReason::ALL {
            assert_eq!(gave_up(reason), stats.gave_up(reason), "{reason} of {f}");
        }
        assert_eq!(calls + retries, stats.attempts, "attempts of {f}");
        for class in ErrorClass::ALL {
            let failures = self.counter(FAILURES, &[("function", f), ("class", class.name())]);
            assert_eq!(
                failures,
                stats.failures_of(class),
                "{class} failures of {f}"
            );
        }
        assert_eq!(self.counter(FALLBACKS, &[("function", f)]), stats.fallbacks);
        let slept: f64 = self.histogram(SLEEP, &[("function", f)]).iter().sum();
        assert!(
            (slept - stats.slept.as_secs_f64()).abs() < 1e-9,
            "slept {slept} s, statistics say {:?}",
            stats.slept
        );

        // retry rate = retries / calls;
        // success-after-retry rate = calls{success_after_retry} / calls{outcome != first_try_success}
        #[allow(clippy::cast_precision_loss)]
        let rates = (
            if calls == 0 {
                0.0
            } else {
                retries as f64 / calls as f64
            },
            if calls == first {
                0.0
            } else {
                after_retry as f64 / (calls - first) as f64
            },
        );
        assert_eq!(rates.0, stats.retry_rate(), "retry rate of {f}");
        assert_eq!(
            rates.1,
            stats.success_after_retry_rate(),
            "success-after-retry rate of {f}"
        );
        rates
    }
}

fn statistics(function: &str) -> Statistics {
    statistics_for(&format!("{}::{function}", module_path!())).expect("called")
}

const WAIT: f64 = 0.1;

fn calls(function: &str, outcome: &str, n: u64) -> Metric {
    metric(
        CALLS,
        &[("function", function), ("outcome", outcome)],
        Value::Counter(n),
    )
}

fn gave_up(function: &str, reason: GiveUpReason, n: u64) -> Metric {
    metric(
        CALLS,
        &[
            ("function", function),
            ("outcome", "gave_up"),
            ("reason", reason.as_str()),
        ],
        Value::Counter(n),
    )
}

fn failures(function: &str, class: ErrorClass, n: u64) -> Metric {
    metric(
        FAILURES,
        &[("function", function), ("class", class.name())],
        Value::Counter(n),
    )
}

fn retries(function: &str, n: u64) -> Metric {
    metric(RETRIES, &[("function", function)], Value::Counter(n))
}

fn sleeps(function: &str, waits: &[f64]) -> Metric {
    metric(
        SLEEP,
        &[("function", function)],
        Value::Histogram(waits.to_vec()),
    )
}

fn sorted(mut metrics: Vec<Metric>) -> Vec<Metric> {
    metrics.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    metrics
}

// ===== the scenarios =====

#[retry(max_attempts = 3, wait = fixed(100ms), jitter = none)]
fn first_try(script: &Script) -> Result<u16, Fault> {
    script.next()
}

#[test]
fn a_first_try_success_is_one_increment() {
    let _clock = testing::record_sleeps();
    let script = Script::new(&[200, 200, 200]);
    let (_, seen) = recorded(|| {
        for _ in 0..3 {
            first_try(&script).unwrap();
        }
    });
    let f = "metrics::first_try";
    assert_eq!(seen.with("function", f), [calls(f, "first_try_success", 3)]);
    assert_eq!(seen.agrees_with(&statistics("first_try")), (0.0, 0.0));
}

#[retry(max_attempts = 4, wait = fixed(100ms), jitter = none)]
fn after_retry(script: &Script) -> Result<u16, Fault> {
    script.next()
}

#[test]
fn a_success_after_retry_counts_its_failures_retries_and_waits() {
    let clock = testing::record_sleeps();
    // 503 (Overloaded), 429 without a hint (RateLimit), then 200; then a 500 and a 200.
    let script = Script::new(&[503, 429, 200, 500, 200]);
    let (_, seen) = recorded(|| {
        assert_eq!(after_retry(&script), Ok(200));
        assert_eq!(after_retry(&script), Ok(200));
    });
    assert!(script.is_done());
    assert_eq!(clock.sleeps().len(), 3);
    let f = "metrics::after_retry";
    assert_eq!(
        seen.with("function", f),
        sorted(vec![
            calls(f, "success_after_retry", 2),
            failures(f, ErrorClass::Overloaded, 1),
            failures(f, ErrorClass::RateLimit, 1),
            failures(f, ErrorClass::Server, 1),
            retries(f, 3),
            sleeps(f, &[WAIT, WAIT, WAIT]),
        ])
    );
    // 2 calls, 5 attempts: 1.5 retries a call; both calls that needed a retry succeeded.
    assert_eq!(seen.agrees_with(&statistics("after_retry")), (1.5, 1.0));
}

#[retry(max_attempts = 3, wait = fixed(100ms), jitter = none)]
fn exhausted(script: &Script) -> Result<u16, Fault> {
    script.next()
}

#[test]
fn giving_up_exhausted_has_its_reason() {
    let _clock = testing::record_sleeps();
    let script = Script::new(&[500, 502, 504]);
    let (_, seen) = recorded(|| assert_eq!(exhausted(&script), Err(Fault::Status(504))));
    let f = "metrics::exhausted";
    assert_eq!(
        seen.with("function", f),
        sorted(vec![
            gave_up(f, GiveUpReason::Exhausted, 1),
            failures(f, ErrorClass::Server, 3),
            retries(f, 2),
            sleeps(f, &[WAIT, WAIT]),
        ])
    );
    assert_eq!(seen.agrees_with(&statistics("exhausted")), (2.0, 0.0));
}

#[retry(max_attempts = 3, wait = fixed(100ms), jitter = none)]
fn not_retryable(script: &Script) -> Result<u16, Fault> {
    script.next()
}

#[test]
fn giving_up_on_an_error_not_retried_has_its_reason() {
    let _clock = testing::record_sleeps();
    let script = Script::new(&[401, 400]);
    let (_, seen) = recorded(|| {
        assert_eq!(not_retryable(&script), Err(Fault::Status(401)));
        assert_eq!(not_retryable(&script), Err(Fault::Status(400)));
    });
    let f = "metrics::not_retryable";
    assert_eq!(
        seen.with("function", f),
        sorted(vec![
            gave_up(f, GiveUpReason::NotRetryable, 2),
            failures(f, ErrorClass::Auth, 1),
            failures(f, ErrorClass::Client, 1),
        ])
    );
    assert_eq!(seen.agrees_with(&statistics("not_retryable")), (0.0, 0.0));
}

/// A budget without a single retry in it.
static DRY: RetryBudget = RetryBudget::new().ratio(0.0).min_per_second(0.0);

#[retry(max_attempts = 5, wait = fixed(100ms), jitter = none, budget = DRY)]
fn budgeted(script: &Script) -> Result<u16, Fault> {
    script.next()
}

#[test]
fn a_spent_budget_is_a_give_up_reason() {
    let _clock = testing::record_sleeps();
    let script = Script::new(&[200, 503, 429]);
    let (_, seen) = recorded(|| {
        assert_eq!(budgeted(&script), Ok(200));
        assert_eq!(budgeted(&script), Err(Fault::Status(503)));
        assert_eq!(budgeted(&script), Err(Fault::Status(429)));
    });
    let f = "metrics::budgeted";
    assert_eq!(
        seen.with("function", f),
        sorted(vec![
            calls(f, "first_try_success", 1),
            gave_up(f, GiveUpReason::BudgetSpent, 2),
            failures(f, ErrorClass::Overloaded, 1),
            failures(f, ErrorClass::RateLimit, 1),
        ])
    );
    assert_eq!(seen.agrees_with(&statistics("budgeted")), (0.0, 0.0));
}

/// Opens after 2 failures in a row, for 30 s.
static PRIMARY: CircuitBreaker = CircuitBreaker::new()
    .named("metrics-primary")
    .consecutive_failures(2)
    .break_duration(Duration::from_secs(30));

#[retry(
    max_attempts = 3,
    wait = fixed(100ms),
    jitter = none,
    circuit_breaker = PRIMARY,
    fallback = backup
)]
fn primary(script: &Script) -> Result<u16, Fault> {
    script.next()
}

#[retry(max_attempts = 2, wait = fixed(100ms), jitter = none)]
fn backup(script: &Script) -> Result<u16, Fault> {
    let _ = script;
    Ok(299)
}

#[test]
fn a_breaker_trip_and_the_fallbacks_it_causes() {
    let clock = testing::record_sleeps();
    let script = Script::new(&[503, 503, 200]);
    let (_, seen) = recorded(|| {
        // Two 503s trip the breaker; the third attempt is refused: circuit_open, fallback.
        assert_eq!(primary(&script), Ok(299));
        assert_eq!(PRIMARY.state(), BreakerState::Open);
        // Refused at once: circuit_open, fallback.
        assert_eq!(primary(&script), Ok(299));
    });
    let p = "metrics::primary";
    assert_eq!(
        seen.with("function", p),
        sorted(vec![
            gave_up(p, GiveUpReason::CircuitOpen, 2),
            // The two 503s; the two refusals never reached the provider.
            failures(p, ErrorClass::Overloaded, 2),
            retries(p, 2),
            sleeps(p, &[WAIT, WAIT]),
            metric(FALLBACKS, &[("function", p)], Value::Counter(2)),
        ])
    );
    let b = "metrics::backup";
    assert_eq!(seen.with("function", b), [calls(b, "first_try_success", 2)]);
    let breaker = "metrics-primary";
    assert_eq!(
        seen.with("breaker", breaker),
        sorted(vec![
            metric(BREAKER_STATE, &[("breaker", breaker)], Value::Gauge(1.0)),
            metric(
                BREAKER_TRANSITIONS,
                &[("breaker", breaker), ("from", "closed"), ("to", "open")],
                Value::Counter(1),
            ),
        ])
    );
    assert_eq!(seen.agrees_with(&statistics("primary")), (1.0, 0.0));
    assert_eq!(seen.agrees_with(&statistics("backup")), (0.0, 0.0));

    // After the break a probe goes through and succeeds: half-open, then closed.
    clock.advance(Duration::from_secs(30));
    let (_, seen) = recorded(|| {
        assert_eq!(primary(&script), Ok(200));
        assert_eq!(PRIMARY.state(), BreakerState::Closed);
    });
    assert_eq!(
        seen.with("breaker", breaker),
        sorted(vec![
            metric(BREAKER_STATE, &[("breaker", breaker)], Value::Gauge(0.0)),
            metric(
                BREAKER_TRANSITIONS,
                &[("breaker", breaker), ("from", "open"), ("to", "half-open")],
                Value::Counter(1),
            ),
            metric(
                BREAKER_TRANSITIONS,
                &[
                    ("breaker", breaker),
                    ("from", "half-open"),
                    ("to", "closed")
                ],
                Value::Counter(1),
            ),
        ])
    );
    assert_eq!(seen.with("function", p), [calls(p, "first_try_success", 1)]);
}

#[retry(max_attempts = 3, wait = fixed(100ms), jitter = none, attempt_timeout = 1s)]
async fn slow_then_fast(script: &Script) -> Result<u16, Fault> {
    if script.0.borrow().front() == Some(&0) {
        script.0.borrow_mut().pop_front();
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
    script.next()
}

#[test]
fn an_async_attempt_cut_by_its_timeout_is_a_timeout_failure() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    // 0: an attempt slower than the timeout.
    let script = Script::new(&[0, 200, 200]);
    let (_, seen) = recorded(|| {
        runtime.block_on(async {
            assert_eq!(slow_then_fast(&script).await, Ok(200));
            assert_eq!(slow_then_fast(&script).await, Ok(200));
        });
    });
    let f = "metrics::slow_then_fast";
    assert_eq!(
        seen.with("function", f),
        sorted(vec![
            calls(f, "first_try_success", 1),
            calls(f, "success_after_retry", 1),
            failures(f, ErrorClass::Timeout, 1),
            retries(f, 1),
            sleeps(f, &[WAIT]),
        ])
    );
    assert_eq!(seen.agrees_with(&statistics("slow_then_fast")), (0.5, 1.0));
}

#[retry(max_attempts = 3, wait = exponential(50ms, 1s))]
fn mixed(script: &Script) -> Result<u16, Fault> {
    script.next()
}

#[test]
fn the_rates_from_the_counters_are_the_statistics_rates() {
    let _clock = testing::record_sleeps();
    let _seed = testing::seed_jitter(11);
    #[rustfmt::skip]
    let runs: &[&[u16]] = &[
        &[200],
        &[503, 200],
        &[500, 500, 500],
        &[429, 503, 200],
        &[200],
        &[401],
        &[200],
        &[502, 200],
        &[408, 408],
    ];
    let flat: Vec<u16> = runs.iter().flat_map(|run| run.iter().copied()).collect();
    let script = Script::new(&flat);
    let (_, seen) = recorded(|| {
        for _ in runs {
            let _ = mixed(&script);
        }
    });
    assert!(script.is_done());
    let f = "metrics::mixed";
    let stats = statistics("mixed");
    // 9 calls, 16 attempts: 3 first tries, 3 after retry, 3 gave up (exhausted, not
    // retryable, and the Timeout class's own cap of 2 attempts).
    assert_eq!((stats.calls, stats.attempts), (9, 16));
    assert_eq!(seen.counter(RETRIES, &[("function", f)]), 7);
    assert_eq!(
        seen.counter(
            CALLS,
            &[
                ("function", f),
                ("outcome", "gave_up"),
                ("reason", "exhausted")
            ]
        ),
        2
    );
    let (retry_rate, after_retry_rate) = seen.agrees_with(&stats);
    assert!((retry_rate - 7.0 / 9.0).abs() < 1e-12);
    assert!((after_retry_rate - 3.0 / 6.0).abs() < 1e-12);
    // Jittered waits: as many as retries, each within the schedule's bounds.
    let waits = seen.histogram(SLEEP, &[("function", f)]);
    assert_eq!(waits.len(), 7);
    assert!(waits.iter().all(|w| (0.0..=0.1).contains(w)), "{waits:?}");
}
