//! What a run means: amplification, time to drain the herd, latency and failures, as numbers
//! and as a table.

use std::fmt::Write as _;
use std::time::Duration;

use crate::scenario::Scenario;
use crate::sim::Run;

/// The figures of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Requests the provider saw.
    pub requests: u64,
    /// Requests the provider saw per client. Each client needs one, so 1.0 is the physical
    /// limit; everything above it is retries.
    pub amplification: f64,
    /// When the last client was done (served or given up), since the start.
    pub last_done: Duration,
    /// `last_done ÷ (clients ÷ capacity)`: 1.0 is the physical limit of a healthy provider.
    pub drain_ratio: f64,
    /// The median time from a client's start to its call's return, success or not.
    pub p50: Duration,
    /// The 99th percentile of the same.
    pub p99: Duration,
    /// Clients whose call gave up.
    pub failures: usize,
    /// Requests made before the time the provider had told their client.
    pub early: u64,
}

impl Metrics {
    /// The figures of `run`.
    #[must_use]
    pub fn of(run: &Run) -> Self {
        let clients = run.outcomes.len().max(1);
        let requests = run.arrivals.len() as u64;
        let mut latencies: Vec<Duration> = run.outcomes.iter().map(|o| o.finished).collect();
        latencies.sort_unstable();
        let last_done = latencies.last().copied().unwrap_or_default();
        let drain = clients as f64 / f64::from(run.setup.capacity.max(1));
        Metrics {
            requests,
            amplification: requests as f64 / clients as f64,
            last_done,
            drain_ratio: last_done.as_secs_f64() / drain,
            p50: percentile(&latencies, 50),
            p99: percentile(&latencies, 99),
            failures: run.outcomes.iter().filter(|o| !o.succeeded).count(),
            early: run.early,
        }
    }
}

/// The nearest-rank percentile of sorted values: the smallest value that at least `pct` % of
/// them do not exceed.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Requests per second the provider saw, in buckets of `bucket` from the start: the load over
/// time that the charts draw. Covers `0..until`, at least one bucket.
#[must_use]
pub fn load_over_time(run: &Run, bucket: Duration, until: Duration) -> Vec<f64> {
    rate_per_bucket(&run.arrivals, bucket, until)
}

/// Requests per second in each `bucket` of `0..until`, from the requests' arrival times
/// (what a chart of any provider's load draws: the herd's, the fleet example's).
#[must_use]
pub fn rate_per_bucket(arrivals: &[Duration], bucket: Duration, until: Duration) -> Vec<f64> {
    let bucket_secs = bucket.as_secs_f64();
    let buckets = (until.as_secs_f64() / bucket_secs).ceil().max(1.0) as usize;
    let mut counts = vec![0u64; buckets];
    for arrival in arrivals {
        let index = (arrival.as_secs_f64() / bucket_secs) as usize;
        if let Some(count) = counts.get_mut(index) {
            *count += 1;
        }
    }
    counts
        .into_iter()
        .map(|count| count as f64 / bucket_secs)
        .collect()
}

/// The runs as a markdown table, one row per run, with the setup above it.
#[must_use]
pub fn table(runs: &[Run]) -> String {
    let mut out = String::new();
    if let Some(first) = runs.first() {
        let setup = first.setup;
        let drain = setup.clients as f64 / f64::from(setup.capacity.max(1));
        let _ = writeln!(
            out,
            "{} clients, capacity {} req/s (clients ÷ capacity = {}), seed {}\n",
            setup.clients,
            setup.capacity,
            seconds(Duration::from_secs_f64(drain)),
            setup.seed
        );
    }
    out.push_str(
        "| scenario | strategy | requests | amplification | all done | ÷ (clients ÷ capacity) | p50 | p99 | failed | early |\n",
    );
    out.push_str("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for run in runs {
        let m = Metrics::of(run);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.2} | {} | {:.2} | {} | {} | {} | {} |",
            run.scenario,
            run.strategy,
            m.requests,
            m.amplification,
            seconds(m.last_done),
            m.drain_ratio,
            seconds(m.p50),
            seconds(m.p99),
            m.failures,
            m.early,
        );
    }
    if let Some(first) = runs.first() {
        let setup = first.setup;
        let _ = writeln!(
            out,
            "\nPhysical limits: amplification 1.00; all done ÷ (clients ÷ capacity) {:.2} \
             (burst, rate limit), {:.2} (outage: 30 s down first). Latency runs from the herd's \
             start to the call's return, success or not; early = requests before the time the \
             provider had told that client.",
            Scenario::Burst.physical_limit(setup.clients, setup.capacity),
            Scenario::Outage.physical_limit(setup.clients, setup.capacity),
        );
    }
    out
}

/// A duration as seconds with one decimal (`12.3 s`), or milliseconds below a second.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<_> = (1..=100).map(|n| n * MS).collect();
        assert_eq!(percentile(&values, 50), 50 * MS);
        assert_eq!(percentile(&values, 99), 99 * MS);
        assert_eq!(percentile(&[7 * MS], 99), 7 * MS);
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn short_durations_in_milliseconds_long_ones_in_seconds() {
        assert_eq!(seconds(250 * MS), "250 ms");
        assert_eq!(seconds(12_345 * MS), "12.3 s");
    }
}
