//! What the simulator shows, as assertions: run on a small herd (200 clients against 20
//! requests per second, 10 s of work), in virtual time, so the suite takes well under a second
//! of real time even in a debug build.

use std::time::Duration;

use herd::report::Metrics;
use herd::sim::{self, Run, Setup};
use herd::strategy::{BUDGET_FLOOR_PER_SECOND, BUDGET_RATIO, BUDGET_WINDOW};
use herd::{Scenario, Strategy};

const SETUP: Setup = Setup {
    clients: 200,
    capacity: 20,
    seed: 11,
};

fn run(scenario: Scenario, strategy: Strategy) -> Run {
    sim::run(scenario, strategy, &SETUP).expect("a current-thread runtime")
}

#[test]
fn full_jitter_makes_fewer_provider_calls_than_no_jitter_in_a_burst() {
    for seed in [1, 2, 3] {
        let setup = Setup { seed, ..SETUP };
        let requests = |strategy| {
            let run = sim::run(Scenario::Burst, strategy, &setup).unwrap();
            Metrics::of(&run).requests
        };
        let (none, full) = (requests(Strategy::NoJitter), requests(Strategy::FullJitter));
        assert!(
            full < none,
            "seed {seed}: full jitter {full} ≥ no jitter {none}"
        );
    }
}

#[test]
fn without_jitter_the_herd_comes_back_in_lockstep() {
    // Every client that failed together retries at the same instant: the provider sees the
    // whole remaining herd in one millisecond, wave after wave.
    let run = run(Scenario::Burst, Strategy::NoJitter);
    let first_wave = Duration::from_millis(250);
    let in_first_wave = run.arrivals.iter().filter(|t| **t == first_wave).count();
    let bucket = (SETUP.capacity / 10).max(1) as usize;
    assert_eq!(in_first_wave, SETUP.clients - bucket);
}

#[test]
fn a_ten_percent_budget_keeps_an_outage_to_its_ratio_plus_floor() {
    let run = run(Scenario::Outage, Strategy::Budgeted);
    let m = Metrics::of(&run);
    // The budget's bound is per window: the herd must be done while its first attempts are
    // still counted (at least 9 of the window's 10 buckets).
    assert!(m.last_done < BUDGET_WINDOW * 9 / 10, "{:?}", m.last_done);
    let clients = SETUP.clients as f64;
    let floor = (BUDGET_FLOOR_PER_SECOND * BUDGET_WINDOW.as_secs_f64()).floor();
    let bound = 1.0 + BUDGET_RATIO + floor / clients;
    assert!(
        m.amplification <= bound + 1e-9,
        "amplification {} over {bound}",
        m.amplification
    );
    // Without the budget the same herd hammers the dead provider for the whole outage.
    let unbudgeted = Metrics::of(&self::run(Scenario::Outage, Strategy::FullJitter));
    assert!(
        unbudgeted.amplification > 5.0,
        "{}",
        unbudgeted.amplification
    );
}

#[test]
fn honouring_retry_after_never_calls_before_the_provider_allowed() {
    for strategy in Scenario::RateLimit.strategies() {
        if !strategy.honours_retry_after() {
            continue;
        }
        let run = run(Scenario::RateLimit, strategy);
        assert_eq!(run.early, 0, "{strategy}");
        let m = Metrics::of(&run);
        // The budget refuses most of the retries that the provider's booked slots need (and the
        // adaptive gate, with the budget, gets a 429 for nearly every client: each probe it
        // sends is booked a slot behind the others).
        if !matches!(strategy, Strategy::Budgeted | Strategy::Adaptive) {
            // Each client is told its own slot, so two requests at most, and the herd drains
            // at capacity (plus the runtime's ≤ 10 % spread over the hint).
            assert_eq!(m.failures, 0, "{strategy}");
            assert!(m.amplification <= 2.0, "{strategy}: {}", m.amplification);
            assert!(m.drain_ratio <= 1.1, "{strategy}: {}", m.drain_ratio);
        }
    }
}

#[test]
fn ignoring_retry_after_calls_early_and_more_often() {
    let ignoring = run(Scenario::RateLimit, Strategy::IgnoringRetryAfter);
    let honouring = run(Scenario::RateLimit, Strategy::FullJitter);
    assert!(ignoring.early > 0);
    assert!(Metrics::of(&ignoring).requests > Metrics::of(&honouring).requests);
}

#[test]
fn an_open_breaker_keeps_the_herd_off_a_dead_provider() {
    let m = Metrics::of(&run(Scenario::Outage, Strategy::Breaker));
    // Five failures in a row open it; the calls it refuses never reach the provider, and give
    // up (the runtime does not wait for a breaker to close).
    assert!(m.requests <= 10, "{}", m.requests);
    assert_eq!(m.failures, SETUP.clients);
}

#[test]
fn the_same_seed_gives_the_same_results() {
    let first = sim::run_all(&SETUP).unwrap();
    let second = sim::run_all(&SETUP).unwrap();
    assert_eq!(first.len(), 8 + 8 + 9);
    assert!(first == second, "two runs of one seed differ");
    assert_eq!(herd::report::table(&first), herd::report::table(&second));
    let other = sim::run(
        Scenario::Burst,
        Strategy::FullJitter,
        &Setup { seed: 12, ..SETUP },
    )
    .unwrap();
    assert_ne!(
        other.arrivals, first[1].arrivals,
        "another seed, other jitter"
    );
}

#[test]
fn charts_are_written_as_svg_and_png() {
    let runs: Vec<Run> = Scenario::Burst
        .strategies()
        .into_iter()
        .map(|strategy| run(Scenario::Burst, strategy))
        .collect();
    let dir = std::env::temp_dir().join(format!("herd-charts-{}", std::process::id()));
    let written = herd::plot::write_charts(&runs, &dir).unwrap();
    let names: Vec<_> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["herd-burst.svg", "herd-burst.png"]);
    let svg = std::fs::read_to_string(&written[0]).unwrap();
    assert!(svg.contains("<svg") && svg.contains("full jitter") && svg.contains("time since"));
    let png = std::fs::read(&written[1]).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG file");
    std::fs::remove_dir_all(&dir).unwrap();
}
