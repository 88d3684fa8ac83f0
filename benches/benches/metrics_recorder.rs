//! The production setting with a metrics recorder: what `#[retry]` costs with retry-runtime's
//! `metrics` feature on and a Prometheus recorder installed, beside the same calls with the
//! feature on and no recorder.
//!
//! ```text
//! cargo bench -p retry-benches --features metrics --bench metrics_recorder
//! ```
//!
//! This package's `metrics` feature turns on retry-runtime's, and this bench requires it; it is
//! off by default so that the other benches measure the runtime as most users build it
//! (metrics-demo/Cargo.toml). Features are per package, not per bench: run the other benches in
//! a command without `--features metrics`.
//!
//! Every entry is measured in three settings, named by what comes before it:
//!
//! - `<entry>`: the feature on, no recorder (the facade's calls go to its no-op recorder).
//! - `prometheus/<entry>`: a `metrics-exporter-prometheus` recorder, as users install it but
//!   without its HTTP listener, set as the measured threads' local recorder
//!   (`metrics::set_default_local_recorder`), not a global one, so that the first setting has
//!   none.
//! - `prometheus_info_subscriber/<entry>`: that recorder and the INFO `fmt` subscriber of the
//!   other benches' `info_subscriber/*` entries (`support::with_info_subscriber`): the whole
//!   production setting.
//!
//! Groups:
//!
//! - `metrics_first_try_sync`: `direct` (no retry), `retry`, a first-try success through
//!   `#[retry]`, as in the `overhead` bench, and `direct_counted`: the direct call and one
//!   count of it on the recorder, by a key made once, as the runtime counts a first try. No
//!   design that reports each call to the recorder the program installed can go below
//!   `direct_counted`: that is the floor under `retry` here (peers report nothing).
//! - `metrics_first_try_async`: the same three, async, awaited on a current-thread tokio runtime.
//! - `metrics_first_try_threads`: `retry/1` and `retry/2`, the sync call from one and from two
//!   threads at once (each thread has the setting; the time is the slower thread's), and the
//!   floor beside them, `direct_counted/{1,2}`. The recorder keeps one counter of first-try
//!   successes per function, which both threads update.
//! - `metrics_retry_decision`: `retry_fn/first_try` and `retry_fn/fail_once` (fails once, then
//!   succeeds, zero wait), as in the `overhead` bench. A retry records into a histogram (the
//!   wait), whose samples the recorder keeps until its upkeep drains them (the exporter's upkeep
//!   task does it every 5 s); each sample runs the upkeep before its timed loop, untimed.

use std::cell::Cell;
use std::hint::black_box;
use std::sync::LazyLock;
use std::time::Instant;

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use metrics::{Key, Label, Level, Metadata};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use support::{bench_async, on_threads_with, runtime, short, with_info_subscriber};
use tracing::Dispatch;

mod support;

use support::measured::{direct_async, direct_sync, retried_async, retried_flaky, retried_sync};

// ===== the settings =====

/// What comes before an entry's name in each setting.
const NO_RECORDER: &str = "";
const PROMETHEUS: &str = "prometheus/";
const PROMETHEUS_INFO: &str = "prometheus_info_subscriber/";

/// The recorder: Prometheus's, with its default configuration, no HTTP listener and no upkeep
/// task (the entries that need upkeep run it).
fn prometheus() -> PrometheusRecorder {
    PrometheusBuilder::new().build_recorder()
}

/// What a setting installs, for the entries to set on threads of their own (this thread, and so
/// a current-thread tokio runtime, has it already).
#[derive(Clone, Copy)]
struct Setting<'a> {
    recorder: Option<&'a PrometheusRecorder>,
    subscriber: Option<&'a Dispatch>,
}

impl Setting<'_> {
    /// Installs the setting on the calling thread, until what it returns is dropped.
    fn install(&self) -> impl Sized + '_ {
        (
            self.recorder
                .map(|r| metrics::set_default_local_recorder(r)),
            self.subscriber.map(tracing::dispatcher::set_default),
        )
    }
}

/// Adds `entries` to `group` in each setting: `entries(group, prefix, setting)`.
fn in_each_setting(
    group: &mut BenchmarkGroup<'_, WallTime>,
    entries: impl Fn(&mut BenchmarkGroup<'_, WallTime>, &str, Setting<'_>),
) {
    let none = Setting {
        recorder: None,
        subscriber: None,
    };
    entries(group, NO_RECORDER, none);
    // A recorder of its own for each setting, so that one's counters and histogram samples do
    // not carry over into the next.
    let recorder = prometheus();
    let prometheus_only = Setting {
        recorder: Some(&recorder),
        subscriber: None,
    };
    {
        let _installed = prometheus_only.install();
        entries(group, PROMETHEUS, prometheus_only);
    }
    saw_calls(&recorder);
    let recorder = prometheus();
    let _local = metrics::set_default_local_recorder(&recorder);
    with_info_subscriber(|subscriber| {
        let both = Setting {
            recorder: Some(&recorder),
            subscriber: Some(subscriber),
        };
        entries(group, PROMETHEUS_INFO, both);
    });
    saw_calls(&recorder);
}

/// Checks that the calls measured reached `recorder` (the runtime's metrics are compiled in,
/// and the local recorder was the threads' default).
fn saw_calls(recorder: &PrometheusRecorder) {
    assert!(
        !recorder.handle().render().trim().is_empty(),
        "the recorder saw none of the calls"
    );
}

// ===== the floor =====

/// The key of the floor's count: made once, as the runtime makes a function's.
static FLOOR_KEY: LazyLock<Key> = LazyLock::new(|| {
    Key::from_parts(
        "floor_calls_total",
        vec![
            Label::from_static_parts("function", "floor"),
            Label::from_static_parts("outcome", "first_try_success"),
        ],
    )
});

static FLOOR_METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// One count on the current recorder (the thread's local one, else the global one), looked
/// up by its key: what reporting one call costs at the least.
fn count_once() {
    metrics::with_recorder(|recorder| {
        recorder
            .register_counter(&FLOOR_KEY, &FLOOR_METADATA)
            .increment(1);
    });
}

// ===== the benches =====

fn first_try_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics_first_try_sync");
    short(&mut group);
    in_each_setting(&mut group, |group, prefix, _| {
        group.bench_function(format!("{prefix}direct"), |b| {
            b.iter(|| direct_sync(black_box(42)));
        });
        group.bench_function(format!("{prefix}retry"), |b| {
            b.iter(|| retried_sync(black_box(42)));
        });
        group.bench_function(format!("{prefix}direct_counted"), |b| {
            b.iter(|| {
                count_once();
                direct_sync(black_box(42))
            });
        });
    });
    group.finish();
}

fn first_try_async(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("metrics_first_try_async");
    short(&mut group);
    in_each_setting(&mut group, |group, prefix, _| {
        bench_async(group, &rt, &format!("{prefix}direct"), || {
            direct_async(black_box(42))
        });
        bench_async(group, &rt, &format!("{prefix}retry"), || {
            retried_async(black_box(42))
        });
        bench_async(group, &rt, &format!("{prefix}direct_counted"), || {
            count_once();
            direct_async(black_box(42))
        });
    });
    group.finish();
}

/// An entry's name and what each of its iterations calls.
type Entry = (&'static str, fn(u64));

fn first_try_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics_first_try_threads");
    short(&mut group);
    in_each_setting(&mut group, |group, prefix, setting| {
        let entries: [Entry; 2] = [
            ("retry", |i| drop(black_box(retried_sync(black_box(i))))),
            ("direct_counted", |i| {
                count_once();
                drop(black_box(direct_sync(black_box(i))));
            }),
        ];
        for (name, call) in entries {
            for threads in [1, 2] {
                group.bench_function(format!("{prefix}{name}/{threads}"), |b| {
                    b.iter_custom(|iters| {
                        on_threads_with(|| setting.install(), threads, iters, call)
                    });
                });
            }
        }
    });
    group.finish();
}

fn retry_decision(c: &mut Criterion) {
    let mut group = c.benchmark_group("metrics_retry_decision");
    short(&mut group);
    in_each_setting(&mut group, |group, prefix, setting| {
        let failures = Cell::new(0);
        for (name, fail) in [("first_try", 0), ("fail_once", 1)] {
            group.bench_function(format!("{prefix}retry_fn/{name}"), |b| {
                b.iter_custom(|iters| {
                    if let Some(recorder) = setting.recorder {
                        recorder.handle().run_upkeep();
                    }
                    let start = Instant::now();
                    for _ in 0..iters {
                        failures.set(fail);
                        drop(black_box(retried_flaky(&failures, black_box(42))));
                    }
                    start.elapsed()
                });
            });
        }
    });
    group.finish();
}

criterion_group!(
    benches,
    first_try_sync,
    first_try_async,
    first_try_threads,
    retry_decision
);
criterion_main!(benches);
