//! `cargo run --release --example fleet`: a fleet of worker processes calling one provider,
//! with each process's admission gate, retry budget and breaker on its own (`per process`),
//! and then sharing them through Redis (`shared (redis)`).
//!
//! It starts a redis-server (Debian's package) on loopback and mock-llm with a fixed capacity
//! that publishes its limit on every response; then, for each mode, N worker processes (8 by
//! default: `--workers N`, `--calls K` each) fire their burst at the same instant. One table
//! row per mode: what the provider received and refused, and how the calls ended.

#[path = "fleet/worker.rs"]
mod worker;

use std::error::Error;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use herd::plot::LoadChart;
use herd::report::rate_per_bucket;
use mock_llm::MockLlm;
use plotters::style::RGBColor;
use retry_redis_server::RedisServer;
use retry_runtime::{AdmissionGate, RateLimits, RedisStore};

/// The provider: requests per second, and how many at once.
const CAPACITY: u32 = 50;
const BURST: u32 = 5;

struct Options {
    workers: usize,
    calls: usize,
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--worker") {
        return worker::run(worker_job(&args[1..])?);
    }
    let options = options(&args)?;
    let Some(redis) = RedisServer::start("the fleet example") else {
        std::process::exit(2);
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let total = options.workers * options.calls;
    println!(
        "{} worker processes x {} calls = {total} calls; the provider serves {CAPACITY} requests/s, {BURST} at once, \
         and publishes its limit (clients / capacity = {:.1} s)\n",
        options.workers,
        options.calls,
        total as f64 / f64::from(CAPACITY)
    );
    println!(
        "| mode | requests | 429s | requests per call | all done | failed | early | store round trips per call |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut loads = Vec::new();
    for (mode, shared) in [("per process", false), ("shared (redis)", true)] {
        let provider = runtime.block_on(
            MockLlm::builder()
                .capacity(f64::from(CAPACITY))
                .burst(BURST)
                .publish_limits()
                .start(),
        )?;
        let started = Instant::now();
        let start_at = worker::unix_ms() + 500;
        let children = (0..options.workers)
            .map(|_| {
                Command::new(std::env::current_exe()?)
                    .args(["--worker", if shared { "shared" } else { "alone" }])
                    .arg(provider.base_url())
                    .arg(redis.url())
                    .arg(options.calls.to_string())
                    .arg(start_at.to_string())
                    .stdout(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (mut ok, mut failed, mut trips) = (0, 0, 0);
        for child in children {
            let output = child.wait_with_output()?;
            let text = String::from_utf8_lossy(&output.stdout);
            let counts: Vec<usize> = text
                .split_whitespace()
                .filter_map(|word| word.parse().ok())
                .collect();
            match counts[..] {
                [o, f, t, _] if output.status.success() => {
                    (ok, failed, trips) = (ok + o, failed + f, trips + t);
                }
                _ => failed += options.calls,
            }
        }
        let all_done = started.elapsed().saturating_sub(Duration::from_millis(500));
        let stats = provider.stats();
        println!(
            "| {mode} | {} | {} | {:.2} | {:.1} s | {failed} | {} | {:.1} |",
            stats.received,
            stats.capacity_rejections,
            stats.received as f64 / total as f64,
            all_done.as_secs_f64(),
            stats.early_retries,
            trips as f64 / total as f64
        );
        debug_assert_eq!(ok + failed, total);
        // Arrivals from the burst's first request.
        let arrived: Vec<Duration> = provider.requests().iter().map(|r| r.since_start).collect();
        let first = arrived.iter().min().copied().unwrap_or_default();
        loads.push((
            mode,
            arrived.iter().map(|at| *at - first).collect::<Vec<_>>(),
        ));
        runtime.block_on(provider.shutdown());
    }
    let written = chart(&loads, &options)?;
    println!("\nThe provider's load over time: {}", written.display());
    decision_latency(&redis);
    Ok(())
}

/// The provider's load over time in each mode, as `target/fleet/fleet-load.{svg,png}`.
fn chart(
    loads: &[(&str, Vec<Duration>)],
    options: &Options,
) -> Result<std::path::PathBuf, Box<dyn Error>> {
    const BUCKET: Duration = Duration::from_millis(100);
    let last = loads
        .iter()
        .flat_map(|(_, arrivals)| arrivals.iter().copied())
        .max()
        .unwrap_or_default()
        + BUCKET;
    let until = last + last / 3;
    let colours = [RGBColor(214, 39, 40), RGBColor(31, 119, 180)];
    let chart = LoadChart {
        title: format!(
            "{} worker processes x {} calls, one provider of {CAPACITY} req/s",
            options.workers, options.calls
        ),
        since: "the burst".to_owned(),
        capacity: f64::from(CAPACITY),
        until,
        bucket: BUCKET,
        lines: loads
            .iter()
            .zip(colours)
            .map(|((mode, arrivals), colour)| {
                let load = rate_per_bucket(arrivals, BUCKET, until);
                ((*mode).to_owned(), colour, load)
            })
            .collect(),
        shaded: None,
    };
    let stem = std::path::Path::new("target/fleet/fleet-load");
    chart.write(stem)?;
    Ok(stem.with_extension("svg"))
}

/// What a decision through the store adds: a shared gate under a published limit decides
/// every attempt with one round trip; a gate of this process decides it with none.
fn decision_latency(redis: &RedisServer) {
    const DECISIONS: usize = 2_000;
    let url: &'static str = Box::leak(redis.url().into_boxed_str());
    let store: &'static RedisStore = Box::leak(Box::new(RedisStore::new(url)));
    let shared = AdmissionGate::new().named("latency").shared(store);
    let local = AdmissionGate::new().named("latency");
    println!(
        "\nOne admission decision under a published limit ({DECISIONS} in a row, one thread):"
    );
    for (what, gate) in [("shared (redis)", &shared), ("per process", &local)] {
        // Its first attempt's response publishes a limit far from spent.
        let first = gate.try_admit(0).expect("the first attempt");
        let far = RateLimits::new().with_requests(1_000_000_000, Duration::from_secs(3_600));
        gate.published(&far);
        first.succeeded(None);
        let mut took: Vec<Duration> = (0..DECISIONS)
            .map(|_| {
                let start = Instant::now();
                let admitted = gate.try_admit(0);
                let took = start.elapsed();
                drop(admitted);
                took
            })
            .collect();
        took.sort_unstable();
        let at = |share: f64| took[((DECISIONS as f64 * share) as usize).min(DECISIONS - 1)];
        println!(
            "   {what}: p50 {:.1} µs, p99 {:.1} µs",
            at(0.5).as_secs_f64() * 1e6,
            at(0.99).as_secs_f64() * 1e6
        );
    }
    println!(
        "   round trips to the store: {}, decisions made without it: {}",
        store.round_trips(),
        store.fallbacks()
    );
}

fn options(args: &[String]) -> Result<Options, Box<dyn Error>> {
    let mut options = Options {
        workers: 8,
        calls: 25,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let n: usize = value
            .parse()
            .map_err(|_| format!("{flag} takes a count, got {value:?}"))?;
        match flag.as_str() {
            "--workers" if (1..=64).contains(&n) => options.workers = n,
            "--calls" if (1..=10_000).contains(&n) => options.calls = n,
            "--workers" | "--calls" => return Err(format!("{flag} {n} is out of range").into()),
            _ => return Err(format!("unknown option {flag} (--workers N, --calls K)").into()),
        }
    }
    Ok(options)
}

fn worker_job(args: &[String]) -> Result<worker::Job, Box<dyn Error>> {
    let [mode, base_url, redis_url, calls, start_at] = args else {
        return Err("a worker takes: mode base_url redis_url calls start_at_ms".into());
    };
    Ok(worker::Job {
        shared: mode == "shared",
        base_url: base_url.clone(),
        redis_url: redis_url.clone(),
        calls: calls.parse()?,
        start_at_ms: start_at.parse()?,
    })
}
