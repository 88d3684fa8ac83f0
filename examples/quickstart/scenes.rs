//! The scenes played against the embedded providers, each told in a few lines.

use std::error::Error;
use std::time::Duration;

use mock_llm::{Fault, MockLlm};
use retry_runtime::http::reqwest;
use retry_runtime::GiveUpReason;

use crate::client::{
    Llm, Provider, BREAKER_BREAK, BREAKER_FAILURES_IN_A_ROW, COMPLETE_ON_BACKUP,
    COMPLETE_ON_PRIMARY, COMPLETE_PACED, PRIMARY_BREAKER, SUMMARIZE,
};
use crate::journal::{by_call, Journal};
use crate::report::{self, count, ms, Seen, WaitCause};

/// The retry hint of the rate-limited call, in milliseconds.
const HINT_MS: u64 = 250;
/// How long the slow response takes: far more than the primary's attempt timeout.
const SLOW_RESPONSE: Duration = Duration::from_secs(2);
/// What the rate-limited provider admits: requests per second, and how many at once.
const CAPACITY_PER_SECOND: u32 = 20;
const CAPACITY_BURST: u32 = 2;
/// Calls sent to it at once.
const BURST_CALLS: usize = 8;
/// Calls made during the outage, and summaries asked for during the next one.
const OUTAGE_CALLS: usize = 3;
const SUMMARIES: usize = 4;

/// What the report calls the providers.
const PRIMARY: &str = "primary";
const BACKUP: &str = "backup";
const RATE_LIMITED: &str = "rate-limited";
const PUBLISHING: &str = "publishing";

/// `complete`'s retried function and its fallback, as the statistics name them.
const COMPLETE: (&str, Option<&str>) = (COMPLETE_ON_PRIMARY, Some(COMPLETE_ON_BACKUP));

/// The providers, the client, and the scene count.
struct Stage {
    llm: Llm,
    primary: MockLlm,
    backup: MockLlm,
    limited: MockLlm,
    /// The rate-limited provider again, publishing its limit on every response.
    publishing: MockLlm,
    /// What the burst into `limited` had refused, for the paced burst to compare with.
    refused_unpaced: u64,
    scenes: u32,
}

fn mock_provider(name: &'static str, server: &MockLlm) -> Provider {
    Provider {
        name,
        base_url: server.base_url(),
        api_key: None,
        model: "mock-model".to_owned(),
    }
}

/// Starts the providers and plays every scene.
pub(crate) async fn play(http: reqwest::Client) -> Result<(), Box<dyn Error>> {
    let primary = MockLlm::builder().start().await?;
    let backup = MockLlm::builder().start().await?;
    let limited = MockLlm::builder()
        .capacity(f64::from(CAPACITY_PER_SECOND))
        .burst(CAPACITY_BURST)
        .start()
        .await?;
    let publishing = MockLlm::builder()
        .capacity(f64::from(CAPACITY_PER_SECOND))
        .burst(CAPACITY_BURST)
        .publish_limits()
        .start()
        .await?;
    let llm = Llm {
        http,
        primary: mock_provider(PRIMARY, &primary),
        backup: Some(mock_provider(BACKUP, &backup)),
        journal: Journal::default(),
    };
    println!(
        "Embedded providers: primary {}, backup {}, rate-limited {}",
        primary.base_url(),
        backup.base_url(),
        limited.base_url()
    );
    let mut stage = Stage {
        llm,
        primary,
        backup,
        limited,
        publishing,
        refused_unpaced: 0,
        scenes: 0,
    };
    stage.rate_limited().await;
    stage.blip().await;
    stage.slow().await;
    stage.auth().await;
    stage.burst().await;
    stage.paced().await;
    stage.outage().await;
    stage.budget().await;
    stage.totals();
    Ok(())
}

impl Stage {
    fn title(&mut self, title: &str) {
        self.scenes += 1;
        println!("\n{}. {title}", self.scenes);
    }

    /// Scripts `faults` on the primary and makes one `complete` call, its attempts printed.
    async fn complete_once(&self, faults: &[Fault], prompt: &str) -> Seen {
        self.primary.push_all(faults.iter().cloned());
        let seen = Seen::watch(&self.llm.journal, COMPLETE, self.llm.complete(prompt)).await;
        for line in report::attempt_lines(&seen.attempts) {
            println!("{line}");
        }
        seen
    }

    async fn rate_limited(&mut self) {
        self.title(
            "Rate limited: the provider says when to come back, and the client waits no less",
        );
        let early_before = self.primary.stats().early_retries;
        let seen = self
            .complete_once(&[Fault::retry_after_ms(HINT_MS)], "hello")
            .await;
        println!(
            "   => {}; retries sooner than the server allowed: {}",
            seen.verdict(PRIMARY),
            self.primary.stats().early_retries - early_before
        );
    }

    async fn blip(&mut self) {
        let faults = [Fault::status(503), Fault::overloaded()];
        let names: Vec<String> = faults.iter().map(ToString::to_string).collect();
        self.title(&format!(
            "A provider blip: {}, then fine; the client backs off with jitter",
            names.join(", then ")
        ));
        let seen = self.complete_once(&faults, "blip").await;
        println!("   => {}", seen.verdict(PRIMARY));
    }

    async fn slow(&mut self) {
        self.title(&format!(
            "An answer slower than the attempt timeout: the server takes {} to send it",
            ms(SLOW_RESPONSE)
        ));
        let billed_before = self.primary.stats().billed;
        let seen = self
            .complete_once(&[Fault::slow(SLOW_RESPONSE)], "slow")
            .await;
        println!(
            "   => {}; billed {} for {} (one idempotency key for all)",
            seen.verdict(PRIMARY),
            count(self.primary.stats().billed - billed_before, "time"),
            count(seen.attempts.len() as u64, "attempt")
        );
    }

    async fn auth(&mut self) {
        self.title("An auth error: never retried, never handed to the backup");
        let seen = self.complete_once(&[Fault::status(401)], "auth").await;
        println!(
            "   => {}; requests to the backup: {}",
            seen.verdict(PRIMARY),
            seen.attempts_on(BACKUP).len()
        );
    }

    async fn burst(&mut self) {
        self.title(&format!(
            "A burst of {BURST_CALLS} calls at once into a provider that admits \
             {CAPACITY_PER_SECOND} requests/s, {CAPACITY_BURST} at a time"
        ));
        let llm = Llm {
            primary: mock_provider(RATE_LIMITED, &self.limited),
            ..self.llm.clone()
        };
        let server_before = self.limited.stats();
        let mut burst = tokio::task::JoinSet::new();
        for i in 0..BURST_CALLS {
            let llm = llm.clone();
            burst.spawn(async move { llm.complete(&format!("burst {i}")).await });
        }
        let seen = Seen::watch(&llm.journal, COMPLETE, burst.join_all()).await;
        let server = self.limited.stats();
        println!(
            "   {} in {}: {}",
            count(seen.tally.calls, "call"),
            ms(seen.took),
            seen.tally.outcomes()
        );
        let on_limited = seen.attempts_on(RATE_LIMITED);
        self.refused_unpaced = server.capacity_rejections - server_before.capacity_rejections;
        println!(
            "   the provider got {} and refused {} over capacity, with a hint; answers: {}",
            count(server.received - server_before.received, "request"),
            self.refused_unpaced,
            report::status_counts(&on_limited)
        );
        let calls = by_call(&on_limited);
        let (mut on_hint, mut on_backoff) = (0, 0);
        for call in &calls {
            for attempt in &call[..call.len() - 1] {
                match WaitCause::after(attempt) {
                    WaitCause::ServerHint => on_hint += 1,
                    WaitCause::Backoff => on_backoff += 1,
                }
            }
        }
        println!(
            "   waits: {on_hint} on the server's hint, {on_backoff} backoff; retries sooner than \
             a hint: {}; most attempts in one call: {}",
            server.early_retries - server_before.early_retries,
            calls.iter().map(Vec::len).max().unwrap_or(0)
        );
    }

    async fn paced(&mut self) {
        self.title(
            "The same burst through an admission gate, after one call: the provider publishes \
             its limit on every response, and the gate paces every call to it",
        );
        let llm = Llm {
            primary: mock_provider(PUBLISHING, &self.publishing),
            backup: None,
            ..self.llm.clone()
        };
        let server_before = self.publishing.stats();
        // The first response tells the gate what is left and when it refills.
        let _ = llm.complete_paced("first").await;
        let mut burst = tokio::task::JoinSet::new();
        for i in 0..BURST_CALLS {
            let llm = llm.clone();
            burst.spawn(async move { llm.complete_paced(&format!("paced {i}")).await });
        }
        let seen = Seen::watch(&llm.journal, (COMPLETE_PACED, None), burst.join_all()).await;
        let server = self.publishing.stats();
        let refused = server.capacity_rejections - server_before.capacity_rejections;
        println!(
            "   {} in {}: {}",
            count(seen.tally.calls, "call"),
            ms(seen.took),
            seen.tally.outcomes()
        );
        println!(
            "   the provider got {} and refused {refused} (the burst without the gate: {}): \
             {} avoided",
            count(server.received - server_before.received - 1, "request"),
            self.refused_unpaced,
            count(self.refused_unpaced.saturating_sub(refused), "429")
        );
    }

    async fn outage(&mut self) {
        let outage = Fault::status(503);
        self.title(&format!(
            "An outage: the primary answers {outage} to everything; {BREAKER_FAILURES_IN_A_ROW} \
             failures in a row open its breaker"
        ));
        self.primary.set_outage(Some(outage));
        for call in 1..=OUTAGE_CALLS {
            let prompt = format!("during the outage {call}");
            let seen = Seen::watch(&self.llm.journal, COMPLETE, self.llm.complete(&prompt)).await;
            let sent = seen.attempts_on(PRIMARY);
            let refused = seen.tally.gave_up(GiveUpReason::CircuitOpen) > 0;
            let what_happened = match (sent.is_empty(), refused) {
                (true, true) => "refused by the open breaker, nothing sent".to_owned(),
                (true, false) => "nothing sent".to_owned(),
                (false, true) => format!(
                    "the primary answered {}, then its breaker opened and refused attempt {}",
                    report::statuses(&sent),
                    sent.len() + 1
                ),
                (false, false) => format!("the primary answered {}", report::statuses(&sent)),
            };
            let ended = if seen.tally.rescued > 0 {
                "rescued by the backup"
            } else if seen.result.is_ok() {
                "succeeded"
            } else {
                "failed"
            };
            println!(
                "   call {call}: {what_happened} => {ended}, in {}",
                ms(seen.took)
            );
        }
        self.primary.set_outage(None);
        // Past the break, the breaker lets a probe through.
        tokio::time::sleep(BREAKER_BREAK + Duration::from_millis(20)).await;
        let before = PRIMARY_BREAKER.state();
        let seen = Seen::watch(&self.llm.journal, COMPLETE, self.llm.complete("recovered")).await;
        println!(
            "   after its {} break the breaker is {before}: a probe gets {} from the primary, the breaker is {}",
            ms(BREAKER_BREAK),
            report::statuses(&seen.attempts_on(PRIMARY)),
            PRIMARY_BREAKER.state()
        );
    }

    async fn budget(&mut self) {
        self.title("A retry budget running dry: summaries during another outage");
        self.primary.set_outage(Some(Fault::status(503)));
        let function = (SUMMARIZE, None);
        for summary in 1..=SUMMARIES {
            let text = format!("text {summary}");
            let seen = Seen::watch(&self.llm.journal, function, self.llm.summarize(&text)).await;
            println!(
                "   summary {summary}: {} => {}",
                report::statuses(&seen.attempts),
                seen.verdict(PRIMARY)
            );
        }
        self.primary.set_outage(None);
    }

    fn totals(&self) {
        println!("\nCalls, as the runtime counted them (retry_runtime::statistics_for)");
        let functions = [COMPLETE, (COMPLETE_ON_BACKUP, None), (SUMMARIZE, None)];
        for line in report::totals(&functions) {
            println!("{line}");
        }
        println!("Requests, as the providers counted them");
        for (name, server) in [
            (PRIMARY, &self.primary),
            (BACKUP, &self.backup),
            (RATE_LIMITED, &self.limited),
        ] {
            let stats = server.stats();
            println!(
                "   {name:<13} {:>3} received, {:>2} billed, {:>2} replayed, {} sooner than a hint",
                stats.received, stats.billed, stats.replayed, stats.early_retries
            );
        }
    }
}
