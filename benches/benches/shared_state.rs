//! What the shared state of a call costs: a circuit breaker's closed path and a retry budget's
//! deposits and withdrawals, lock-free, against a `Mutex` doing the same bookkeeping.
//!
//! ```text
//! cargo bench -p retry-benches --bench shared_state
//! ```
//!
//! - `breaker_closed`: `try_acquire()` then `success()` on a closed breaker (the path of every
//!   call that succeeds), vs a breaker behind a `Mutex` that takes its lock twice as well (to
//!   check the state, then to count the success).
//! - `budget_deposit`: `deposit()` (every first attempt).
//! - `budget_retry`: `deposit()` then `try_withdraw()` (a first attempt and its retry; the
//!   budget allows one retry per first attempt, so the withdrawal is granted).
//! - `admission_admit`: an admission gate's `try_admit(0)` then `succeeded(None)` when the
//!   scope has room (a published request limit far from spent, in force for an hour): the
//!   path in front of every attempt. The baseline takes a `Mutex` twice as well: to read the
//!   clock, check the cooldown and the limit and count the attempt in flight, then to count
//!   it out.
//!
//! Each runs from one thread and from two threads at once on the same value (each thread makes
//! `iters` calls; the time is the slower thread's). The baselines do what the lock-free ones
//! do, behind the lock: ten buckets of counts, a look at the clock every 16th count (and at
//! every withdrawal), the window summed at every withdrawal. The windows are short (10 ms:
//! 1 ms buckets), so that a bucket never fills up at these rates: a real breaker or budget
//! sees far fewer calls per bucket.

use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use retry_runtime::{AdmissionGate, CircuitBreaker, RateLimits, RetryBudget};
use support::{on_threads, short};

mod support;

const WINDOW: Duration = Duration::from_millis(10);
const BUCKET_NANOS: u128 = 1_000_000;

static BREAKER: CircuitBreaker = CircuitBreaker::new().named("bench").window(WINDOW);
static DEPOSITS: RetryBudget = RetryBudget::new().window(WINDOW);
static RETRIES: RetryBudget = RetryBudget::new()
    .ratio(1.0)
    .min_per_second(0.0)
    .window(WINDOW);

static MUTEX_BREAKER: Mutex<Window> = Mutex::new(Window::new());
static MUTEX_DEPOSITS: Mutex<Window> = Mutex::new(Window::new());
static MUTEX_RETRIES: Mutex<Window> = Mutex::new(Window::new());

/// The baseline's state: what a breaker or budget keeps, behind one lock.
struct Window {
    open: bool,
    consecutive: u32,
    head: u128,
    a: [u64; 10],
    b: [u64; 10],
    since_look: u32,
}

impl Window {
    const fn new() -> Self {
        Window {
            open: false,
            consecutive: 0,
            head: 0,
            a: [0; 10],
            b: [0; 10],
            since_look: 0,
        }
    }

    fn epoch() -> Instant {
        static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    fn advance(&mut self, now: Instant) {
        let tick = now.duration_since(Self::epoch()).as_nanos() / BUCKET_NANOS;
        while self.head < tick {
            self.head += 1;
            #[allow(clippy::cast_possible_truncation)]
            let i = (self.head % 10) as usize;
            self.a[i] = 0;
            self.b[i] = 0;
        }
    }

    /// Counts in the head's bucket, and looks at the clock every 16th count.
    fn count(&mut self) {
        #[allow(clippy::cast_possible_truncation)]
        let i = (self.head % 10) as usize;
        self.a[i] += 1;
        self.since_look += 1;
        if self.since_look == 16 {
            self.since_look = 0;
            self.advance(Instant::now());
        }
    }
}

fn lock<T>(state: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ===== one operation of each kind =====

#[inline(never)]
fn breaker_atomic() {
    if let Ok(permit) = BREAKER.try_acquire() {
        permit.success();
    }
}

#[inline(never)]
fn breaker_mutex() {
    let admitted = !lock(&MUTEX_BREAKER).open;
    if admitted {
        let mut state = lock(&MUTEX_BREAKER);
        state.count();
        if state.consecutive != 0 {
            state.consecutive = 0;
        }
    }
}

#[inline(never)]
fn deposit_atomic() {
    DEPOSITS.deposit();
}

#[inline(never)]
fn deposit_mutex() {
    lock(&MUTEX_DEPOSITS).count();
}

#[inline(never)]
fn retry_atomic() {
    RETRIES.deposit();
    black_box(RETRIES.try_withdraw());
}

#[inline(never)]
fn retry_mutex() {
    lock(&MUTEX_RETRIES).count();
    let now = Instant::now();
    let mut state = lock(&MUTEX_RETRIES);
    state.advance(now);
    let deposits: u64 = state.a.iter().sum();
    let withdrawals: u64 = state.b.iter().sum();
    let granted = withdrawals < deposits;
    if granted {
        #[allow(clippy::cast_possible_truncation)]
        let i = (state.head % 10) as usize;
        state.b[i] += 1;
    }
    black_box(granted);
}

// ===== harness =====

static GATE: AdmissionGate = AdmissionGate::new().named("bench");
static MUTEX_GATE: Mutex<Scope> = Mutex::new(Scope {
    cooldown_until: None,
    remaining: u64::MAX,
    in_flight: 0,
});

/// The baseline's scope: a cooldown, a published limit, the attempts in flight.
struct Scope {
    cooldown_until: Option<Instant>,
    remaining: u64,
    in_flight: u64,
}

fn admit_gate() {
    match GATE.try_admit(0) {
        Ok(admitted) => admitted.succeeded(None),
        Err(not_yet) => panic!("the scope has room: {not_yet}"),
    }
}

fn admit_mutex() {
    {
        let now = Instant::now();
        let mut scope = lock(&MUTEX_GATE);
        assert!(scope.cooldown_until.is_none_or(|until| now >= until));
        assert!(scope.remaining > 0);
        scope.remaining -= 1;
        scope.in_flight += 1;
    }
    lock(&MUTEX_GATE).in_flight -= 1;
}

fn admission_admit(c: &mut Criterion) {
    GATE.published(&RateLimits::from_headers([
        ("x-ratelimit-remaining-requests", "1000000000000"),
        ("x-ratelimit-reset-requests", "1h"),
    ]));
    compare(c, "admission_admit", ("gate", admit_gate), admit_mutex);
}

/// Ours (`(entry name, what it runs)`) against the `Mutex` baseline, from 1 and 2 threads.
fn compare(c: &mut Criterion, name: &str, ours: (&str, fn()), mutex: fn()) {
    let (label, ours) = ours;
    let mut group = c.benchmark_group(name);
    short(&mut group);
    for threads in [1, 2] {
        group.bench_function(format!("{label}/{threads}"), |b| {
            b.iter_custom(|iters| on_threads(threads, iters, |_| ours()));
        });
        group.bench_function(format!("mutex/{threads}"), |b| {
            b.iter_custom(|iters| on_threads(threads, iters, |_| mutex()));
        });
    }
    group.finish();
}

fn breaker_closed(c: &mut Criterion) {
    compare(
        c,
        "breaker_closed",
        ("atomic", breaker_atomic),
        breaker_mutex,
    );
}

fn budget_deposit(c: &mut Criterion) {
    compare(
        c,
        "budget_deposit",
        ("atomic", deposit_atomic),
        deposit_mutex,
    );
}

fn budget_retry(c: &mut Criterion) {
    compare(c, "budget_retry", ("atomic", retry_atomic), retry_mutex);
}

criterion_group!(
    benches,
    breaker_closed,
    budget_deposit,
    budget_retry,
    admission_admit
);
criterion_main!(benches);
