//! The first try against the peers from one thread and from two threads at once: each thread
//! makes `iters` calls (sync) or awaits them on a current-thread tokio runtime of its own
//! (async); the time is the slower thread's. Two threads on two cores should cost what one
//! does: a first try of ours writes only its thread's counter shard.
//!
//! ```text
//! cargo bench -p retry-benches --bench peers_threads
//! ```
//!
//! Entries: `{sync,async}/{contender}/{threads}`. The contenders are those of the peers bench
//! (`support::contenders`: the same body, 3 attempts, exponential 100 ms .. 2 s): `direct`,
//! `retry_attr` (ours), `backon`, and for async also `tower` and `tokio_retry`. The
//! `info_subscriber/*` entries are `direct` and ours in the production setting: an INFO
//! `tracing_subscriber::fmt` subscriber, formatting to a sink, as each measured thread's
//! default.
//!
//! `sync/contract_floor` is the direct call with, written by hand and nothing else, what a
//! first try must do to keep our contract, which the peers do not: read the context of an
//! enclosing retried call (a nested call inherits its deadline and does not multiply retries),
//! publish its own for the body (`retry_runtime::attempt()`, nested calls) and take it back
//! after, check whether DEBUG wants a span from the start, and count the first-try success
//! in the function's statistics (a counter per thread, readable from any thread). It is the
//! floor under `retry_attr` for any design that keeps the contract.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use support::contenders::{
    body, body_async, retried, retried_async, tokio_retry_first_try, BACKON_FIRST_TRY, TOWER_POLICY,
};
use support::{on_threads_async, on_threads_with, short, with_info_subscriber, INFO};
use tower::ServiceExt as _;
use tracing::Dispatch;

mod support;

const THREADS: [usize; 2] = [1, 2];

// ===== the contract floor =====

/// The context a first try publishes: its attempt number and its deadline, if any.
#[derive(Clone, Copy)]
struct Context {
    #[allow(dead_code)] // what a body asking `attempt()` would read
    attempt: u32,
    deadline: Option<std::time::Instant>,
}

/// A first-try counter per thread on a cache line of its own, summed by whoever reads it.
#[repr(align(64))]
struct Shard(AtomicU64);

static FIRST_TRIES: [Shard; 2] = [const { Shard(AtomicU64::new(0)) }; 2];

thread_local! {
    static CURRENT: Cell<Option<Context>> = const { Cell::new(None) };
    static SHARD: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn shard() -> &'static AtomicU64 {
    let mut index = SHARD.with(Cell::get);
    if index == usize::MAX {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        index = usize::try_from(NEXT.fetch_add(1, Relaxed) % 2).unwrap_or(0);
        SHARD.with(|s| s.set(index));
    }
    &FIRST_TRIES[index].0
}

/// The direct call and the least a first try must do to keep the contract (module docs).
#[inline(never)]
fn contract_floor(x: u64) -> Result<u64, support::Unavailable> {
    let inherited = CURRENT.with(Cell::get).and_then(|outer| outer.deadline);
    let traced = tracing::level_enabled!(tracing::Level::DEBUG);
    let own = Context {
        attempt: 1,
        deadline: inherited,
    };
    let previous = CURRENT.with(|current| current.replace(Some(own)));
    let outcome = body(x);
    CURRENT.with(|current| current.set(previous));
    if outcome.is_ok() && !traced {
        let counter = shard();
        counter.store(counter.load(Relaxed).wrapping_add(1), Relaxed);
    }
    outcome
}

/// What each measured thread sets first: `dispatch` (if any) as its default subscriber.
fn set_default(
    dispatch: Option<&Dispatch>,
) -> impl Fn() -> Option<tracing::dispatcher::DefaultGuard> + Sync + '_ {
    move || dispatch.map(tracing::dispatcher::set_default)
}

/// A sync entry: `call(i)` on each of 1 and 2 threads.
fn sync_entry(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    dispatch: Option<&Dispatch>,
    call: impl Fn(u64) + Sync,
) {
    for threads in THREADS {
        group.bench_function(format!("sync/{name}/{threads}"), |b| {
            b.iter_custom(|iters| on_threads_with(set_default(dispatch), threads, iters, &call));
        });
    }
}

/// An async entry: `call()` awaited on each of 1 and 2 threads.
fn async_entry<Fut: std::future::Future>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    dispatch: Option<&Dispatch>,
    call: impl Fn() -> Fut + Sync,
) {
    for threads in THREADS {
        group.bench_function(format!("async/{name}/{threads}"), |b| {
            b.iter_custom(|iters| on_threads_async(set_default(dispatch), threads, iters, &call));
        });
    }
}

fn first_try_threads(c: &mut Criterion) {
    use backon::{BlockingRetryable, Retryable};

    let mut group = c.benchmark_group("peers_first_try_threads");
    short(&mut group);
    sync_entry(&mut group, "direct", None, |i| {
        drop(black_box(body(black_box(i))));
    });
    sync_entry(&mut group, "retry_attr", None, |i| {
        drop(black_box(retried(black_box(i))));
    });
    sync_entry(&mut group, "contract_floor", None, |i| {
        drop(black_box(contract_floor(black_box(i))));
    });
    sync_entry(&mut group, "backon", None, |i| {
        drop(black_box(
            (|| body(black_box(i))).retry(BACKON_FIRST_TRY).call(),
        ));
    });
    async_entry(&mut group, "direct", None, || body_async(black_box(42)));
    async_entry(&mut group, "retry_attr", None, || {
        retried_async(black_box(42))
    });
    async_entry(&mut group, "backon", None, || {
        (|| body_async(black_box(42))).retry(BACKON_FIRST_TRY)
    });
    let tower = tower::retry::Retry::new(TOWER_POLICY, tower::service_fn(body_async));
    async_entry(&mut group, "tower", None, || {
        tower.clone().oneshot(black_box(42))
    });
    async_entry(&mut group, "tokio_retry", None, || {
        tokio_retry::Retry::start(tokio_retry_first_try(), || body_async(black_box(42)))
    });
    with_info_subscriber(|dispatch| {
        let dispatch = Some(dispatch);
        sync_entry(&mut group, &format!("{INFO}direct"), dispatch, |i| {
            drop(black_box(body(black_box(i))));
        });
        sync_entry(&mut group, &format!("{INFO}retry_attr"), dispatch, |i| {
            drop(black_box(retried(black_box(i))));
        });
        async_entry(&mut group, &format!("{INFO}direct"), dispatch, || {
            body_async(black_box(42))
        });
        async_entry(&mut group, &format!("{INFO}retry_attr"), dispatch, || {
            retried_async(black_box(42))
        });
    });
    group.finish();
}

criterion_group!(benches, first_try_threads);
criterion_main!(benches);
