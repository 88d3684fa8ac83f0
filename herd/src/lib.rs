//! A thundering-herd simulator: many clients call one provider of fixed capacity at once, and
//! retry through the real `retry-runtime` (the same `#[retry]` functions, jitter,
//! `Retry-After` handling, [`RetryBudget`](retry_runtime::RetryBudget) and
//! [`CircuitBreaker`](retry_runtime::CircuitBreaker) that users get), in virtual time.
//!
//! - [`provider`]: the provider, a token bucket that drops or books the overflow.
//! - [`strategy`]: the ways of retrying, each a `#[retry]` function.
//! - [`scenario`]: burst, outage, rate limit.
//! - [`sim`]: runs a herd on a current-thread tokio runtime with a paused clock, so minutes
//!   of traffic take milliseconds, with the jitter seeded so a seed gives one result.
//! - [`report`]: amplification, drain time, latency, failures; the table.
//! - [`plot`]: the provider's load over time, as SVG and PNG.
//! - [`cli`]: the command line of `cargo run -p herd`.
//!
//! ```
//! use herd::{report, sim, Scenario, Strategy};
//!
//! let setup = sim::Setup { clients: 50, capacity: 10, seed: 7 };
//! let run = sim::run(Scenario::Burst, Strategy::FullJitter, &setup).unwrap();
//! let metrics = report::Metrics::of(&run);
//! assert!(metrics.amplification >= 1.0);
//! ```
//!
//! # Reproducibility
//! A run is a pure function of its setup: one thread polls every client in a fixed order, and
//! the runtime's jitter is seeded per run with `retry_runtime::testing::seed_jitter`. One
//! caveat: the runtime counts the budget's and breaker's sliding windows in buckets aligned on
//! a process-wide epoch of real time, not on the run's start, so if a window's counts expired
//! while the herd was still drawing on it, two runs of one seed could differ. With the
//! scenarios here the budget and breaker are done with the herd within the first second, long
//! before their windows (10 s, 30 s) expire anything; the tests check that a seed gives one
//! result.

pub mod cli;
pub mod plot;
pub mod provider;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod strategy;

pub use scenario::Scenario;
pub use strategy::Strategy;
