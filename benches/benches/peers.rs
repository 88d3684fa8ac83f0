//! The same workloads through a direct call, our `#[retry]`, our `RetryPolicy` without the
//! macro, [backon](https://docs.rs/backon) 1.x, and for async calls
//! [tower](https://docs.rs/tower)'s retry middleware 0.5 and
//! [tokio-retry](https://docs.rs/tokio-retry) 0.3, measured in one run.
//!
//! ```text
//! cargo bench -p retry-benches --bench peers
//! cargo bench -p retry-benches --bench peers -- fail_twice   # a filter: only the groups that match
//! ```
//!
//! The settings are in the code (`support::short`, and fewer samples for the timer group): in
//! criterion 0.8 a group's own settings win over `--warm-up-time` / `--measurement-time`.
//!
//! Each group has up to six entries:
//!
//! - `direct`: the body called by hand, no retry library (a plain call for a first try; a
//!   hand-written loop of up to three calls for the failing workloads): the floor.
//! - `retry_attr`: a function under our `#[retry]`.
//! - `policy_call`: our `RetryPolicy::call` / `call_async` on a closure (no macro).
//! - `backon`: backon's `BlockingRetryable::retry(..).call()` / `Retryable::retry(..).await`.
//! - `tower` (async only): `tower::retry::Retry` over a `tower::service_fn` of the body, with a
//!   `Policy` of ours (below) that retries every error up to 3 attempts in all, with no wait
//!   (its retry future is `std::future::Ready`). Called as a shared service is called: a clone
//!   of the service, `ServiceExt::oneshot(request)` (which polls it ready, then calls it).
//! - `tokio_retry` (async only): `tokio_retry::Retry::start(strategy, action)`, where the
//!   strategy is an iterator of delays and the action a closure making the body's future.
//!
//! Every entry calls the same non-inlined operation; every async one awaits it.
//!
//! Groups:
//!
//! - `peers_first_try_sync`, `peers_first_try_async`: the body succeeds at once. Ours, backon
//!   and tokio-retry have an exponential backoff from 100 ms to 2 s (tokio-retry's
//!   `ExponentialBackoff::from_millis(2).factor(50)`: 100 ms, 200 ms, ...), 3 attempts; tower's
//!   policy has no backoff (tower's own `ExponentialBackoff` is a `tokio::time::sleep` per
//!   retry, zero delays included: a first try never reaches it, and the failing workloads want
//!   zero waits without a timer). The first-try groups also measure `direct` and `retry_attr`
//!   in the production setting, as `info_subscriber/direct` and `info_subscriber/retry_attr`: an
//!   INFO `tracing_subscriber::fmt` subscriber formatting to `io::sink` is this thread's default
//!   for those two entries (`support::with_info_subscriber`; the other entries run with none).
//! - `peers_fail_twice_sync`, `peers_fail_twice_async`: the body fails twice, then succeeds on
//!   the third and last attempt. Every library has the same policy shape: exponential
//!   backoff, no jitter, 3 attempts in all (ours `max_attempts = 3`; backon counts retries, so
//!   `with_max_times(2)`), and a minimum delay of zero, so every wait is zero and nothing
//!   sleeps. A zero wait costs neither side a timer: ours skips the sleep for a zero wait (sync
//!   and async); backon's default blocking sleeper is `std::thread::sleep`, which makes no
//!   system call for a zero duration, and its async entry is given a sleeper that returns at
//!   once for zero (and else awaits `tokio::time::sleep`, as ours does). tower's policy returns
//!   a ready future: no wait at all (the async group). tokio-retry is not in these groups: it
//!   sleeps every delay its strategy yields with `tokio::time::sleep_until(now + delay)`, zero
//!   included, and has no way to skip the timer, so it is in the next group.
//! - `peers_tokio_timer` (few samples, milliseconds each): a zero delay slept on tokio's timer.
//!   backon with its *default* async sleeper (`tokio::time::sleep`) and tokio-retry (which has
//!   no other) with the same zero delays (tokio-retry: `FixedInterval::new(ZERO)`, 2 retries),
//!   next to ours, and one bare `tokio::time::sleep(Duration::ZERO).await` for
//!   reference. Tokio rounds every timer up to the next millisecond tick, so a zero sleep parks
//!   the runtime until that tick: each zero-delay retry costs about a millisecond of wall time
//!   (not of CPU). (This group was `peers_backon_tokio_timer` before tokio-retry joined it.)
//!
//! What each side does per failed attempt (no `tracing` subscriber is installed in any but the
//! `info_subscriber/*` entries, which have no failed attempt):
//!
//! - ours: at the first failure, boxes the call's failure-only state, seeds a small RNG (from a
//!   per-thread sequence) for the backoff even without jitter, and reads the clock once; then at
//!   every failure: classifies the error (`Classify::class`, `retry_after`), counts it in the
//!   function's counters, judges it (class allowed? per-class cap? hint? no
//!   deadline here), computes the wait, checks that the WARN event is disabled, and skips the
//!   zero sleep. At the end it counts the success after retry and checks the INFO event.
//! - backon: once per call, `ExponentialBuilder::build()` makes a `fastrand::Rng` (seeded from
//!   fastrand's thread-local generator, even without jitter and even when the first try
//!   succeeds); then at every failure: calls the `when` predicate (the default retries every
//!   error; it never looks at the error), steps the backoff (a multiply in `f32` seconds), calls
//!   the no-op `adjust` and `notify` closures, and the sleeper with the zero duration. No
//!   classification, counters or logging.
//! - tower: once per call, clones the service and the policy (`Retry::call` keeps a copy of
//!   each in its future) and asks the policy for a copy of the request; at every failure: the
//!   policy's `retry` (here: count down, retry any error), its ready future, another copy of
//!   the request, `poll_ready` on the service and a new call.
//! - tokio-retry: at every failure: the condition (`Retry` retries every error), the strategy's
//!   next delay, a read of tokio's clock, and a `Sleep` on tokio's timer, awaited.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use backon::ExponentialBuilder;
use criterion::{criterion_group, criterion_main, Criterion};
use retry_runtime::{retry, Jitter, RetryPolicy, Wait};
use support::contenders::TowerAttempts;
use support::contenders::{
    body, body_async, retried, retried_async, tokio_retry_first_try, ATTEMPTS, BACKON_FIRST_TRY,
    FIRST_TRY, TOWER_POLICY,
};
use support::{bench_async, runtime, short, with_info_subscriber, Unavailable, INFO};
use tokio_retry::strategy::FixedInterval;
use tower::ServiceExt as _;

mod support;

// ===== the bodies, shared by every entry =====

/// Fails while `failures` is above zero, counting it down.
#[inline(never)]
fn flaky(failures: &Cell<u32>, x: u64) -> Result<u64, Unavailable> {
    match failures.get() {
        0 => Ok(x.wrapping_mul(31).wrapping_add(7)),
        n => {
            failures.set(n - 1);
            Err(Unavailable)
        }
    }
}

#[allow(clippy::unused_async)] // an async body that does not await, as the first-try one
async fn flaky_async(failures: &Cell<u32>, x: u64) -> Result<u64, Unavailable> {
    flaky(failures, x)
}

// ===== the policies: the same shape in every library =====

/// Failing workloads: exponential from zero (every wait zero), no jitter, 3 attempts.
static ZERO_WAIT: RetryPolicy = RetryPolicy::new()
    .named("peers::zero_wait")
    .max_attempts(ATTEMPTS)
    .wait(Wait::exponential(Duration::ZERO, Duration::from_secs(2)))
    .jitter(Jitter::None);

const BACKON_ZERO_WAIT: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::ZERO)
    .with_max_delay(Duration::from_secs(2))
    .with_max_times(ATTEMPTS as usize - 1);

/// tokio-retry's zero delays: two of them (3 attempts), each slept on tokio's timer.
fn tokio_retry_zero_wait() -> impl Iterator<Item = Duration> {
    FixedInterval::new(Duration::ZERO).take(ATTEMPTS as usize - 1)
}

// The failing retried functions, written as `support::contenders`' first-try ones.

#[retry(max_attempts = 3, wait = exponential(0, 2s), jitter = none)]
fn retried_flaky(failures: &Cell<u32>, x: u64) -> Result<u64, Unavailable> {
    flaky(failures, x)
}

#[retry(max_attempts = 3, wait = exponential(0, 2s), jitter = none)]
async fn retried_flaky_async(failures: &Cell<u32>, x: u64) -> Result<u64, Unavailable> {
    flaky_async(failures, x).await
}

/// The baseline of the failing workloads: up to three calls by hand, no wait, no judgement.
fn by_hand(failures: &Cell<u32>, x: u64) -> Result<u64, Unavailable> {
    let mut attempt = 1;
    loop {
        match flaky(failures, x) {
            Ok(v) => return Ok(v),
            Err(_) if attempt < ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

async fn by_hand_async(failures: &Cell<u32>, x: u64) -> Result<u64, Unavailable> {
    let mut attempt = 1;
    loop {
        match flaky_async(failures, x).await {
            Ok(v) => return Ok(v),
            Err(_) if attempt < ATTEMPTS => attempt += 1,
            Err(e) => return Err(e),
        }
    }
}

/// backon's async sleeper made as fair as ours: no timer for a zero wait, else tokio's.
async fn skip_zero(wait: Duration) {
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
}

// ===== the harness =====

// ===== the benches =====

fn first_try_sync(c: &mut Criterion) {
    use backon::BlockingRetryable;

    let mut group = c.benchmark_group("peers_first_try_sync");
    short(&mut group);
    group.bench_function("direct", |b| b.iter(|| body(black_box(42))));
    group.bench_function("retry_attr", |b| b.iter(|| retried(black_box(42))));
    group.bench_function("policy_call", |b| {
        b.iter(|| FIRST_TRY.call(|| body(black_box(42))));
    });
    group.bench_function("backon", |b| {
        b.iter(|| (|| body(black_box(42))).retry(BACKON_FIRST_TRY).call());
    });
    with_info_subscriber(|_| {
        group.bench_function(format!("{INFO}direct"), |b| {
            b.iter(|| body(black_box(42)));
        });
        group.bench_function(format!("{INFO}retry_attr"), |b| {
            b.iter(|| retried(black_box(42)));
        });
    });
    group.finish();
}

fn first_try_async(c: &mut Criterion) {
    use backon::Retryable;

    let rt = runtime();
    let mut group = c.benchmark_group("peers_first_try_async");
    short(&mut group);
    bench_async(&mut group, &rt, "direct", || body_async(black_box(42)));
    bench_async(&mut group, &rt, "retry_attr", || {
        retried_async(black_box(42))
    });
    bench_async(&mut group, &rt, "policy_call", || {
        FIRST_TRY.call_async(|| body_async(black_box(42)))
    });
    // backon's default sleeper (tokio's): never reached on a first try.
    bench_async(&mut group, &rt, "backon", || {
        (|| body_async(black_box(42))).retry(BACKON_FIRST_TRY)
    });
    let tower = tower::retry::Retry::new(TOWER_POLICY, tower::service_fn(body_async));
    bench_async(&mut group, &rt, "tower", || {
        tower.clone().oneshot(black_box(42))
    });
    bench_async(&mut group, &rt, "tokio_retry", || {
        tokio_retry::Retry::start(tokio_retry_first_try(), || body_async(black_box(42)))
    });
    // The runtime polls on this thread, which has the subscriber as its default.
    with_info_subscriber(|_| {
        bench_async(&mut group, &rt, &format!("{INFO}direct"), || {
            body_async(black_box(42))
        });
        bench_async(&mut group, &rt, &format!("{INFO}retry_attr"), || {
            retried_async(black_box(42))
        });
    });
    group.finish();
}

fn fail_twice_sync(c: &mut Criterion) {
    use backon::BlockingRetryable;

    let failures = Cell::new(0);
    check_fail_twice_sync(&failures);
    let mut group = c.benchmark_group("peers_fail_twice_sync");
    short(&mut group);
    group.bench_function("direct", |b| {
        b.iter(|| {
            failures.set(2);
            by_hand(&failures, black_box(42))
        });
    });
    group.bench_function("retry_attr", |b| {
        b.iter(|| {
            failures.set(2);
            retried_flaky(&failures, black_box(42))
        });
    });
    group.bench_function("policy_call", |b| {
        b.iter(|| {
            failures.set(2);
            ZERO_WAIT.call(|| flaky(&failures, black_box(42)))
        });
    });
    // The default blocking sleeper: `std::thread::sleep(Duration::ZERO)`, which returns at once.
    group.bench_function("backon", |b| {
        b.iter(|| {
            failures.set(2);
            (|| flaky(&failures, black_box(42)))
                .retry(BACKON_ZERO_WAIT)
                .call()
        });
    });
    group.finish();
}

fn fail_twice_async(c: &mut Criterion) {
    use backon::Retryable;

    let rt = runtime();
    let failures = Cell::new(0);
    check_fail_twice_async(&rt, &failures);
    let mut group = c.benchmark_group("peers_fail_twice_async");
    short(&mut group);
    bench_async(&mut group, &rt, "direct", || {
        failures.set(2);
        by_hand_async(&failures, black_box(42))
    });
    bench_async(&mut group, &rt, "retry_attr", || {
        failures.set(2);
        retried_flaky_async(&failures, black_box(42))
    });
    bench_async(&mut group, &rt, "policy_call", || {
        failures.set(2);
        ZERO_WAIT.call_async(|| flaky_async(&failures, black_box(42)))
    });
    bench_async(&mut group, &rt, "backon", || {
        failures.set(2);
        (|| flaky_async(&failures, black_box(42)))
            .retry(BACKON_ZERO_WAIT)
            .sleep(skip_zero)
    });
    let tower = flaky_tower(&failures);
    bench_async(&mut group, &rt, "tower", || {
        failures.set(2);
        tower.clone().oneshot(black_box(42))
    });
    group.finish();
}

/// tower's retrying service over the flaky body (a clone per call, as a shared one is called).
fn flaky_tower(
    failures: &Cell<u32>,
) -> tower::retry::Retry<
    TowerAttempts,
    impl tower::Service<u64, Response = u64, Error = Unavailable> + Clone + '_,
> {
    tower::retry::Retry::new(
        TOWER_POLICY,
        tower::service_fn(move |x| flaky_async(failures, x)),
    )
}

/// Zero delays slept on tokio's timer (backon's default async sleeper, tokio-retry's only one),
/// against ours: milliseconds per call, so few samples.
fn tokio_timer(c: &mut Criterion) {
    use backon::Retryable;

    let rt = runtime();
    let failures = Cell::new(0);
    let mut group = c.benchmark_group("peers_tokio_timer");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(1));
    bench_async(&mut group, &rt, "tokio_sleep_zero", || {
        tokio::time::sleep(Duration::ZERO)
    });
    bench_async(&mut group, &rt, "retry_attr_fail_twice", || {
        failures.set(2);
        retried_flaky_async(&failures, black_box(42))
    });
    bench_async(&mut group, &rt, "backon_default_sleeper_fail_twice", || {
        failures.set(2);
        (|| flaky_async(&failures, black_box(42))).retry(BACKON_ZERO_WAIT)
    });
    bench_async(&mut group, &rt, "tokio_retry_fail_twice", || {
        failures.set(2);
        tokio_retry::Retry::start(tokio_retry_zero_wait(), || {
            flaky_async(&failures, black_box(42))
        })
    });
    group.finish();
}

/// Each entry of the failing groups makes three attempts, no more: two failures then a success
/// succeed, three failures fail. Run before the group is measured.
fn check_fail_twice_sync(failures: &Cell<u32>) {
    use backon::BlockingRetryable;

    let runs: [&dyn Fn() -> Result<u64, Unavailable>; 4] = [
        &|| by_hand(failures, 42),
        &|| retried_flaky(failures, 42),
        &|| ZERO_WAIT.call(|| flaky(failures, 42)),
        &|| (|| flaky(failures, 42)).retry(BACKON_ZERO_WAIT).call(),
    ];
    for run in runs {
        failures.set(2);
        assert!(run().is_ok() && failures.get() == 0);
        failures.set(3);
        assert!(
            run().is_err() && failures.get() == 0,
            "3 attempts, not more"
        );
    }
}

/// The same for the async entries, and tokio-retry's of the timer group.
fn check_fail_twice_async(rt: &tokio::runtime::Runtime, failures: &Cell<u32>) {
    use backon::Retryable;

    let tower = flaky_tower(failures);
    rt.block_on(async {
        for n in [2, 3] {
            failures.set(n);
            let results = [
                by_hand_async(failures, 42).await.is_ok(),
                {
                    failures.set(n);
                    retried_flaky_async(failures, 42).await.is_ok()
                },
                {
                    failures.set(n);
                    ZERO_WAIT
                        .call_async(|| flaky_async(failures, 42))
                        .await
                        .is_ok()
                },
                {
                    failures.set(n);
                    (|| flaky_async(failures, 42))
                        .retry(BACKON_ZERO_WAIT)
                        .sleep(skip_zero)
                        .await
                        .is_ok()
                },
                {
                    failures.set(n);
                    tower.clone().oneshot(42).await.is_ok()
                },
                {
                    failures.set(n);
                    tokio_retry::Retry::start(tokio_retry_zero_wait(), || flaky_async(failures, 42))
                        .await
                        .is_ok()
                },
            ];
            assert_eq!(results, [n == 2; 6], "{n} failures");
            assert_eq!(failures.get(), 0);
        }
    });
}

criterion_group!(
    benches,
    first_try_sync,
    first_try_async,
    fail_twice_sync,
    fail_twice_async,
    tokio_timer
);
criterion_main!(benches);
