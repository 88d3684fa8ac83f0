//! What the benches share: short measurement settings, and timing a loop on several threads
//! at once.

use std::future::Future;
use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use retry_runtime::{Classify, ErrorClass};

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
    let barrier = Barrier::new(threads);
    thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    let start = Instant::now();
                    for i in 0..iters {
                        iteration(i);
                    }
                    start.elapsed()
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
