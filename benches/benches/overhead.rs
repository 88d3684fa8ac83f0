//! What `#[retry]` costs when it is not needed, and what one retry decision costs.
//!
//! ```text
//! cargo bench -p retry-benches --bench overhead
//! ```
//!
//! - `first_try_sync`: a first-try success through `#[retry]` vs the same function without it;
//!   and the same pair around a body that calls a function the compiler cannot see into (with
//!   a body that reads nothing, the compiler may drop the publication of the attempt context).
//! - `first_try_async`: the same for async functions, awaited on a current-thread tokio runtime
//!   (the loop of calls runs inside one `block_on`, so only the awaited call is measured); and
//!   `direct_in_block`, the direct body inside an async block of its own: no retry, only the
//!   nesting that any wrapper letting `?` end an attempt adds, which is the floor under `retry`.
//! - `first_try_threads`: the sync call from one thread and from two threads at once (each thread
//!   makes `iters` calls; the time is the slower thread's). The first-try path writes only a
//!   per-thread counter shard, so two threads should cost what one does.
//! - `retry_decision`: a body that fails once and then succeeds, with a zero wait: the cost of
//!   one failure being classified, judged and counted (no sleep), against a first-try success of
//!   the same policy.
//!
//! The entries above run with no `tracing` subscriber: the runtime's span and its per-failure
//! event cost a disabled-level check. Each group then measures its entries again in the
//! production setting, named `info_subscriber/<entry>` (`info_subscriber/retry`,
//! `info_subscriber/retry/2`, `info_subscriber/retry_fn/fail_once`, ...): an INFO
//! `tracing_subscriber::fmt` subscriber formatting to `io::sink`, set as the default of the
//! measured thread(s) for those entries only (`support::with_info_subscriber`). There the
//! call's span is made whenever the runtime makes it, and a failure's WARN event and the INFO
//! "succeeded after retry" are formatted (into the sink). `first_try_async` leaves out
//! `direct_in_block` there (nothing in it logs).
//! `cargo bench -p retry-benches --bench overhead -- info_subscriber` runs only those.
//!
//! The first-try policies have no `deadline`: a deadline reads the clock at every call.

use std::cell::Cell;
use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use retry_runtime::{retry, Jitter, RetryPolicy, Wait};
use support::{
    bench_async, on_threads_with, runtime, short, with_info_subscriber, Unavailable, INFO,
};
use tracing::Dispatch;

mod support;

use support::measured::{
    direct_async, direct_sync, flaky_body, retried_async, retried_flaky, retried_sync,
};

// ===== the functions measured: the same body with and without `#[retry]` =====

/// No retry at all, only the shape any wrapper of an async fn needs to let a `?` or `return` in
/// the body end an attempt rather than the call: the body in an async block of its own, awaited.
/// The floor under `retry`, measured beside it.
#[inline(never)]
#[allow(clippy::unused_async)] // the same signature as the retried one
async fn direct_async_in_block(x: u64) -> Result<u64, Unavailable> {
    async move { Ok(x.wrapping_mul(31).wrapping_add(7)) }.await
}

/// Work the compiler cannot see into, as a real body's request would be: the attempt context
/// must then really be published, where a body that reads nothing lets the compiler drop it.
#[inline(never)]
fn opaque_work(x: u64) -> u64 {
    black_box(x).wrapping_mul(31).wrapping_add(7)
}

#[inline(never)]
#[allow(clippy::unnecessary_wraps)] // the same signature as the retried one
fn direct_opaque(x: u64) -> Result<u64, Unavailable> {
    Ok(opaque_work(x))
}

#[retry(max_attempts = 3, wait = exponential(100ms, 2s))]
#[inline(never)]
fn retried_opaque(x: u64) -> Result<u64, Unavailable> {
    Ok(opaque_work(x))
}

/// The policy of the retry-decision benches: no sleep, no jitter, no deadline.
static ZERO_WAIT: RetryPolicy = RetryPolicy::new()
    .named("overhead::zero_wait")
    .max_attempts(3)
    .wait(Wait::fixed(Duration::ZERO))
    .jitter(Jitter::None);

// ===== the benches =====

// Each group adds its entries twice: with no subscriber (`prefix` ""), then with the INFO one
// (`prefix` `INFO`, `dispatch` the subscriber for threads of their own).

fn first_try_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("first_try_sync");
    short(&mut group);
    first_try_sync_entries(&mut group, "");
    with_info_subscriber(|_| first_try_sync_entries(&mut group, INFO));
    group.finish();
}

fn first_try_sync_entries(group: &mut BenchmarkGroup<'_, WallTime>, prefix: &str) {
    group.bench_function(format!("{prefix}direct"), |b| {
        b.iter(|| direct_sync(black_box(42)));
    });
    group.bench_function(format!("{prefix}retry"), |b| {
        b.iter(|| retried_sync(black_box(42)));
    });
    group.bench_function(format!("{prefix}direct_opaque_body"), |b| {
        b.iter(|| direct_opaque(black_box(42)));
    });
    group.bench_function(format!("{prefix}retry_opaque_body"), |b| {
        b.iter(|| retried_opaque(black_box(42)));
    });
}

fn first_try_async(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("first_try_async");
    short(&mut group);
    bench_async(&mut group, &rt, "direct", || direct_async(black_box(42)));
    bench_async(&mut group, &rt, "direct_in_block", || {
        direct_async_in_block(black_box(42))
    });
    bench_async(&mut group, &rt, "retry", || retried_async(black_box(42)));
    // The runtime polls on this thread, which has the subscriber as its default.
    with_info_subscriber(|_| {
        bench_async(&mut group, &rt, &format!("{INFO}direct"), || {
            direct_async(black_box(42))
        });
        bench_async(&mut group, &rt, &format!("{INFO}retry"), || {
            retried_async(black_box(42))
        });
    });
    group.finish();
}

fn first_try_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("first_try_threads");
    short(&mut group);
    first_try_threads_entries(&mut group, "", None);
    with_info_subscriber(|dispatch| {
        first_try_threads_entries(&mut group, INFO, Some(dispatch));
    });
    group.finish();
}

/// Each thread the entries start sets `dispatch` (if any) as its default.
fn first_try_threads_entries(
    group: &mut BenchmarkGroup<'_, WallTime>,
    prefix: &str,
    dispatch: Option<&Dispatch>,
) {
    for threads in [1, 2] {
        group.bench_function(format!("{prefix}direct/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads_with(set_default(dispatch), threads, iters, |i| {
                    drop(black_box(direct_sync(black_box(i))));
                })
            });
        });
        group.bench_function(format!("{prefix}retry/{threads}"), |b| {
            b.iter_custom(|iters| {
                on_threads_with(set_default(dispatch), threads, iters, |i| {
                    drop(black_box(retried_sync(black_box(i))));
                })
            });
        });
    }
}

/// What each thread of an entry calls first: sets `dispatch` (if any) as its default.
fn set_default(
    dispatch: Option<&Dispatch>,
) -> impl Fn() -> Option<tracing::dispatcher::DefaultGuard> + Sync + '_ {
    move || dispatch.map(tracing::dispatcher::set_default)
}

fn retry_decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("retry_decision");
    short(&mut group);
    retry_decision_entries(&mut group, "");
    with_info_subscriber(|_| retry_decision_entries(&mut group, INFO));
    group.finish();
}

fn retry_decision_entries(group: &mut BenchmarkGroup<'_, WallTime>, prefix: &str) {
    let failures = Cell::new(0);
    group.bench_function(format!("{prefix}policy_call/first_try"), |b| {
        b.iter(|| {
            failures.set(0);
            ZERO_WAIT.call(|| flaky_body(&failures, black_box(42)))
        });
    });
    group.bench_function(format!("{prefix}policy_call/fail_once"), |b| {
        b.iter(|| {
            failures.set(1);
            ZERO_WAIT.call(|| flaky_body(&failures, black_box(42)))
        });
    });
    group.bench_function(format!("{prefix}retry_fn/first_try"), |b| {
        b.iter(|| {
            failures.set(0);
            retried_flaky(&failures, black_box(42))
        });
    });
    group.bench_function(format!("{prefix}retry_fn/fail_once"), |b| {
        b.iter(|| {
            failures.set(1);
            retried_flaky(&failures, black_box(42))
        });
    });
}

criterion_group!(
    benches,
    first_try_sync,
    first_try_async,
    first_try_threads,
    retry_decision
);
criterion_main!(benches);
