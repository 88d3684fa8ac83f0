//! Runs one (scenario, strategy) pair: a herd of client tasks on a current-thread tokio runtime
//! whose clock is paused, so that the runtime's sleeps advance virtual time at once and minutes
//! of traffic take milliseconds. The runtime reads tokio's clock for its breaker and budget too,
//! so their windows follow the virtual time.

use std::io;
use std::rc::Rc;
use std::time::Duration;

use retry_runtime::testing;
use tokio::task::LocalSet;

use crate::provider::Provider;
use crate::scenario::Scenario;
use crate::strategy::{Link, SharedState, Strategy};

/// The size of the herd and of the provider, and the seed of the jitter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Setup {
    /// Clients, each making one call (at least 1).
    pub clients: usize,
    /// The provider's capacity in requests per second (at least 1).
    pub capacity: u32,
    /// The seed of every client's jitter: the same seed gives the same results.
    pub seed: u64,
}

impl Default for Setup {
    /// 1,000 clients, 100 requests per second (so 10 s of work at best), seed 1.
    fn default() -> Self {
        Setup {
            clients: 1_000,
            capacity: 100,
            seed: 1,
        }
    }
}

/// How one client's call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOutcome {
    /// When the call returned, since the start of the run (every client starts at 0).
    pub finished: Duration,
    /// Whether it returned success; otherwise it gave up.
    pub succeeded: bool,
}

/// Everything one run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    /// The situation.
    pub scenario: Scenario,
    /// The way of retrying.
    pub strategy: Strategy,
    /// The herd and provider sizes and the seed.
    pub setup: Setup,
    /// When each request reached the provider, since the start, in order.
    pub arrivals: Vec<Duration>,
    /// Requests the provider served.
    pub served: u64,
    /// Requests made before the time the provider had told their client (see
    /// [`Provider::early`]).
    pub early: u64,
    /// Per client, in client order.
    pub outcomes: Vec<ClientOutcome>,
}

/// Runs `strategy` in `scenario`. The jitter is seeded from `setup.seed` for this run alone, so
/// the result does not depend on what ran before it.
///
/// # Errors
/// If the tokio runtime cannot be built.
pub fn run(scenario: Scenario, strategy: Strategy, setup: &Setup) -> io::Result<Run> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    // The n-th call to fail on this thread draws its jitter from (seed, n); the one thread runs
    // every client in a fixed order, so the whole run is reproducible.
    let _seed = testing::seed_jitter(setup.seed);
    let clients = setup.clients.max(1);
    let (outcomes, provider) = runtime.block_on(async {
        let mut model = scenario.provider(setup.capacity);
        if strategy.reads_published_limits() {
            model = model.publishing_limits();
        }
        let link = Link::new(Provider::new(model, clients));
        let shared = Rc::new(SharedState::new());
        let herd = LocalSet::new();
        let outcomes = herd
            .run_until(async {
                let calls: Vec<_> = (0..clients)
                    .map(|client| {
                        let link = link.clone();
                        let shared = Rc::clone(&shared);
                        tokio::task::spawn_local(async move {
                            let succeeded = strategy.call(&link, client, &shared).await;
                            ClientOutcome {
                                finished: link.now(),
                                succeeded,
                            }
                        })
                    })
                    .collect();
                let mut outcomes = Vec::with_capacity(clients);
                for call in calls {
                    match call.await {
                        Ok(outcome) => outcomes.push(outcome),
                        // A client's panic is a bug in the simulator: surface it as it was.
                        Err(error) => std::panic::resume_unwind(error.into_panic()),
                    }
                }
                outcomes
            })
            .await;
        drop(herd);
        let provider = link
            .into_provider()
            .expect("every client task has ended and dropped its link");
        (outcomes, provider)
    });
    Ok(Run {
        scenario,
        strategy,
        setup: Setup { clients, ..*setup },
        arrivals: provider.arrivals().to_vec(),
        served: provider.served(),
        early: provider.early(),
        outcomes,
    })
}

/// Runs every scenario with each of its strategies, in table order.
///
/// # Errors
/// If a tokio runtime cannot be built.
pub fn run_all(setup: &Setup) -> io::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for scenario in Scenario::ALL {
        for strategy in scenario.strategies() {
            runs.push(run(scenario, strategy, setup)?);
        }
    }
    Ok(runs)
}
