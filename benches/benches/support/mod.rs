//! What the benches share: short measurement settings, timing a loop on several threads at once,
//! and the production setting (an INFO `tracing` subscriber as the measured threads' default).

use std::future::Future;
use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use retry_runtime::{Classify, ErrorClass};

pub(crate) mod contenders;
pub(crate) mod measured;
use tracing::level_filters::LevelFilter;
use tracing::Dispatch;

/// A transient error (`Overloaded`): retried by default, by us and by peers.
#[derive(Debug)]
#[allow(dead_code)] // `shared_state` retries nothing
pub(crate) struct Unavailable;

impl Classify for Unavailable {
    fn class(&self) -> ErrorClass {
        ErrorClass::Overloaded
    }
}

/// Settings that keep a group to a few seconds on a small machine.
pub(crate) fn short(group: &mut BenchmarkGroup<'_, WallTime>) {
    group
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(50);
}

/// Runs `iteration(i)` for `i` in `0..iters` on each of `threads` threads, started together;
/// the time is the slowest thread's.
#[allow(dead_code)] // `peers` runs on one thread
pub(crate) fn on_threads(threads: usize, iters: u64, iteration: impl Fn(u64) + Sync) -> Duration {
    on_threads_with(|| (), threads, iters, iteration)
}

/// [`on_threads`], each thread first calling `setting()` and keeping what it returns (a guard
/// setting a thread's default subscriber or local recorder) until its loop ends.
#[allow(dead_code)] // `peers` runs on one thread
pub(crate) fn on_threads_with<G>(
    setting: impl Fn() -> G + Sync,
    threads: usize,
    iters: u64,
    iteration: impl Fn(u64) + Sync,
) -> Duration {
    slowest_thread(setting, threads, |start_together| {
        start_together.wait();
        let start = Instant::now();
        for i in 0..iters {
            iteration(i);
        }
        start.elapsed()
    })
}

/// The async [`on_threads_with`]: each thread builds a current-thread tokio runtime of its own
/// (before the clock starts) and awaits `call()` `iters` times inside one `block_on`.
#[allow(dead_code)] // only `peers_threads` awaits on threads of its own
pub(crate) fn on_threads_async<G, F, Fut>(
    setting: impl Fn() -> G + Sync,
    threads: usize,
    iters: u64,
    call: F,
) -> Duration
where
    F: Fn() -> Fut + Sync,
    Fut: Future,
{
    slowest_thread(setting, threads, |start_together| {
        let rt = runtime();
        start_together.wait();
        rt.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                black_box(call().await);
            }
            start.elapsed()
        })
    })
}

/// Runs `timed` on each of `threads` threads, after `setting()` (kept until it returns); the
/// longest time any of them returns. `timed` waits on the barrier before it starts its clock.
fn slowest_thread<G>(
    setting: impl Fn() -> G + Sync,
    threads: usize,
    timed: impl Fn(&Barrier) -> Duration + Sync,
) -> Duration {
    let barrier = Barrier::new(threads);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let _setting = setting();
                    timed(&barrier)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .max()
            .unwrap_or_default()
    })
}

/// The name before an entry measured in the production setting: `info_subscriber/retry` is the
/// entry `retry` with [`with_info_subscriber`]'s subscriber installed.
#[allow(dead_code)] // `shared_state` logs nothing
pub(crate) const INFO: &str = "info_subscriber/";

/// Runs `f` (which adds a group's `info_subscriber/*` entries) in the production setting: an INFO
/// `tracing_subscriber::fmt` subscriber that formats what it enables (timestamp, level, target,
/// span and fields, as users' log lines) to `io::sink`, set as this thread's default. `f` is
/// given it to set on threads of its own ([`on_threads_with`]); a current-thread tokio runtime
/// polls on this thread, so it has it.
///
/// A default per group, not a global one set once: a global default would put every group of
/// the process under it, and the other entries measure the runtime with no subscriber.
///
/// tracing caches, per callsite, whether any subscriber may want it (its "interest"), and keeps
/// one global maximum level, which the runtime reads to decide whether to make a call's span.
/// Both are computed when a subscriber is registered or a callsite first hit, and otherwise
/// only by `tracing::callsite::rebuild_interest_cache()`: setting or dropping a scoped default
/// recomputes nothing. So the cache is rebuilt after installing: `Dispatch::new` has already
/// done it, but while one subscriber lives a callsite's interest comes from the default of the
/// thread that asks, and a callsite first hit between the two would keep "never".
///
/// And after removing, the maximum level must go back to OFF, which matters more: left at INFO,
/// every entry measured after these would take the runtime's traced start with no subscriber to
/// see it. `rebuild_interest_cache()` alone does not do it: with no subscriber left it asks the
/// thread's default, tracing's `NoSubscriber`, which gives no level hint, and that counts as
/// TRACE. Registering a subscriber whose hint is OFF, alone, does ([`level_off_again`]).
#[allow(dead_code)] // `shared_state` logs nothing
pub(crate) fn with_info_subscriber<R>(f: impl FnOnce(&Dispatch) -> R) -> R {
    let dispatch = Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::INFO)
            .with_writer(std::io::sink)
            .finish(),
    );
    let result = {
        let _default = tracing::dispatcher::set_default(&dispatch);
        tracing::callsite::rebuild_interest_cache();
        assert!(
            tracing::enabled!(tracing::Level::INFO) && !tracing::enabled!(tracing::Level::DEBUG),
            "the INFO subscriber is this thread's default"
        );
        f(&dispatch)
    };
    drop(dispatch);
    level_off_again();
    result
}

/// Puts tracing's maximum level back to OFF, as before any subscriber, once none is left: a
/// subscriber registered alone recomputes it from its own hint (here OFF), and is dropped.
#[allow(dead_code)] // `shared_state` logs nothing
fn level_off_again() {
    drop(Dispatch::new(
        tracing_subscriber::fmt()
            .with_max_level(LevelFilter::OFF)
            .finish(),
    ));
    assert!(
        !tracing::level_enabled!(tracing::Level::ERROR),
        "no level enabled once the subscriber is gone (is a copy of it still alive?)"
    );
}

/// A current-thread tokio runtime with a timer, as an async caller would have.
#[allow(dead_code)] // `shared_state` awaits nothing
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Times `iters` awaited calls inside one `block_on`, so that only the awaited call is measured.
#[allow(dead_code)] // `shared_state` awaits nothing
pub(crate) fn bench_async<F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    call: F,
) where
    F: Fn() -> Fut,
    Fut: Future,
{
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    black_box(call().await);
                }
                start.elapsed()
            })
        });
    });
}
