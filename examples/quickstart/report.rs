//! The screen: short lines, every number in them counted or measured.

use std::cmp::Reverse;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::time::Duration;

use retry_runtime::http::HttpError;
use retry_runtime::{statistics_for, GiveUpReason, Statistics};
use tokio::time::Instant;

use crate::journal::{by_call, AttemptRecord, Journal, Outcome};

pub(crate) fn ms(duration: Duration) -> String {
    format!("{}ms", duration.as_millis())
}

/// `1 attempt`, `3 attempts`.
pub(crate) fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("{n} {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// What an attempt got, in a few words.
pub(crate) fn describe(record: &AttemptRecord) -> String {
    match &record.outcome {
        Outcome::Answered {
            status,
            replayed: false,
        } => format!("{status}"),
        Outcome::Answered {
            status,
            replayed: true,
        } => format!("{status}, replayed: the server's stored answer (same idempotency key)"),
        Outcome::Rejected {
            status,
            class,
            code,
            hint,
        } => {
            let code = code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default();
            let hint = hint
                .map(|h| format!(", asked to wait {} ({})", ms(h.wait()), h.source()))
                .unwrap_or_default();
            format!("{status} {class}{code}{hint}")
        }
        Outcome::Unanswered { class } => format!("no response ({class})"),
        Outcome::Cut { limit, by_deadline } => {
            let by = if *by_deadline {
                "deadline"
            } else {
                "attempt_timeout"
            };
            match limit {
                Some(limit) => format!(
                    "cut at its {} limit ({by}), after {}",
                    ms(*limit),
                    ms(record.took())
                ),
                None => format!("cut after {} ({by})", ms(record.took())),
            }
        }
    }
}

/// Why the client waited after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitCause {
    /// The server said how long (`Retry-After` and its relatives); the runtime never waits
    /// less.
    ServerHint,
    /// The policy's backoff, with jitter.
    Backoff,
}

impl WaitCause {
    pub(crate) fn after(record: &AttemptRecord) -> WaitCause {
        match record.outcome {
            Outcome::Rejected { hint: Some(_), .. } => WaitCause::ServerHint,
            _ => WaitCause::Backoff,
        }
    }
}

impl fmt::Display for WaitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WaitCause::ServerHint => "server hint",
            WaitCause::Backoff => "backoff",
        })
    }
}

/// The wait between an attempt's end and the next one's start.
pub(crate) fn wait_after(record: &AttemptRecord, next: &AttemptRecord) -> Duration {
    next.started.saturating_duration_since(record.ended)
}

/// One line per attempt, each call's attempts together, with the wait that followed each one.
pub(crate) fn attempt_lines(records: &[AttemptRecord]) -> Vec<String> {
    let mut lines = Vec::new();
    for call in by_call(records) {
        for (i, record) in call.iter().enumerate() {
            let wait = call.get(i + 1).map_or_else(String::new, |next| {
                let waited = wait_after(record, next);
                format!("; waited {} ({})", ms(waited), WaitCause::after(record))
            });
            lines.push(format!(
                "   {} attempt {}: {}{wait}",
                record.provider,
                record.number,
                describe(record)
            ));
        }
    }
    lines
}

/// What an attempt got, in one token: its status, `cut` or `no-response`.
fn status_of(record: &AttemptRecord) -> String {
    match &record.outcome {
        Outcome::Answered { status, .. } | Outcome::Rejected { status, .. } => status.to_string(),
        Outcome::Unanswered { .. } => "no-response".to_owned(),
        Outcome::Cut { .. } => "cut".to_owned(),
    }
}

/// The statuses of these attempts in order: `503 503 200`.
pub(crate) fn statuses(records: &[AttemptRecord]) -> String {
    let each = records.iter().map(status_of);
    each.collect::<Vec<_>>().join(" ")
}

/// How many attempts got each status: `21×429, 7×200`, the most frequent first.
pub(crate) fn status_counts(records: &[AttemptRecord]) -> String {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for record in records {
        *counts.entry(status_of(record)).or_default() += 1;
    }
    let mut counts: Vec<(String, u64)> = counts.into_iter().collect();
    counts.sort_by_key(|&(_, n)| Reverse(n));
    let each = counts.iter().map(|(status, n)| format!("{n}×{status}"));
    each.collect::<Vec<_>>().join(", ")
}

/// What became of the calls of one retried function, from the runtime's counters, its
/// fallback's successes counted as rescues.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) calls: u64,
    pub(crate) first_try: u64,
    pub(crate) after_retry: u64,
    pub(crate) rescued: u64,
    give_ups: [u64; GiveUpReason::ALL.len()],
}

impl Tally {
    /// The counters so far of `function`, and of `fallback` (which only ever runs as its
    /// fallback, so each of its successes is a call rescued).
    pub(crate) fn now(function: &str, fallback: Option<&str>) -> Tally {
        let stats = statistics_for(function);
        let rescued = fallback
            .and_then(statistics_for)
            .map_or(0, |s| s.first_try_successes + s.successes_after_retry);
        stats.map_or_else(Tally::default, |s: Statistics| Tally {
            calls: s.calls,
            first_try: s.first_try_successes,
            after_retry: s.successes_after_retry,
            rescued,
            give_ups: s.give_ups,
        })
    }

    /// What happened between `before` and `self`.
    pub(crate) fn since(self, before: Tally) -> Tally {
        let mut give_ups = self.give_ups;
        for (now, then) in give_ups.iter_mut().zip(before.give_ups) {
            *now -= then;
        }
        Tally {
            calls: self.calls - before.calls,
            first_try: self.first_try - before.first_try,
            after_retry: self.after_retry - before.after_retry,
            rescued: self.rescued - before.rescued,
            give_ups,
        }
    }

    pub(crate) fn failed(&self) -> u64 {
        self.calls
            .saturating_sub(self.first_try + self.after_retry + self.rescued)
    }

    pub(crate) fn gave_up(&self, reason: GiveUpReason) -> u64 {
        self.give_ups[reason as usize]
    }

    /// `exhausted 1, circuit open 3`; empty when no call gave up.
    pub(crate) fn give_ups(&self) -> String {
        let each = self.gave_up_for().map(|(name, n)| format!("{name} {n}"));
        each.collect::<Vec<_>>().join(", ")
    }

    /// `exhausted, circuit open`: why calls gave up, without the counts (for one call).
    pub(crate) fn reasons(&self) -> String {
        let each = self.gave_up_for().map(|(name, _)| name);
        each.collect::<Vec<_>>().join(", ")
    }

    /// The reasons calls gave up for, by name, each with its count.
    fn gave_up_for(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let reasons = GiveUpReason::ALL.iter();
        let counted = reasons.filter(|&&reason| self.gave_up(reason) > 0);
        counted.map(|&reason| (reason.as_str().replace('_', " "), self.gave_up(reason)))
    }

    /// `2 first try, 5 after retry, 1 rescued by the backup, 0 failed`.
    pub(crate) fn outcomes(&self) -> String {
        format!(
            "{} first try, {} after retry, {} rescued by the backup, {} failed",
            self.first_try,
            self.after_retry,
            self.rescued,
            self.failed()
        )
    }
}

/// A call (or a burst of them), watched: its result and time, the attempts it made, and what
/// the runtime counted of it.
#[derive(Debug)]
pub(crate) struct Seen<T = Result<String, HttpError>> {
    pub(crate) result: T,
    pub(crate) took: Duration,
    pub(crate) attempts: Vec<AttemptRecord>,
    pub(crate) tally: Tally,
}

impl<T> Seen<T> {
    /// Runs `calls` of `function` (whose fallback is `fallback`), and watches them.
    pub(crate) async fn watch(
        journal: &Journal,
        (function, fallback): (&str, Option<&str>),
        calls: impl Future<Output = T>,
    ) -> Seen<T> {
        let mark = journal.len();
        let before = Tally::now(function, fallback);
        let started = Instant::now();
        let result = calls.await;
        let took = started.elapsed();
        Seen {
            result,
            took,
            attempts: journal.since(mark),
            tally: Tally::now(function, fallback).since(before),
        }
    }

    /// The attempts made on the provider named `provider`.
    pub(crate) fn attempts_on(&self, provider: &str) -> Vec<AttemptRecord> {
        let on = self.attempts.iter().filter(|r| r.provider == provider);
        on.cloned().collect()
    }

    /// How the call ended, `succeeded after 2 attempts, in 259ms`, counting the attempts made
    /// on `provider`.
    pub(crate) fn verdict(&self, provider: &str) -> String {
        let tally = &self.tally;
        let attempts = match self.attempts_on(provider).len() {
            0 => "before any attempt".to_owned(),
            n => format!("after {}", count(n as u64, "attempt")),
        };
        let how = if tally.first_try > 0 {
            "succeeded on the first try".to_owned()
        } else if tally.after_retry > 0 {
            format!("succeeded {attempts}")
        } else if tally.rescued > 0 {
            format!(
                "rescued by the backup: the {provider} gave up ({}) {attempts}",
                tally.reasons()
            )
        } else {
            format!("failed: gave up ({}) {attempts}", tally.reasons())
        };
        format!("{how}, in {}", ms(self.took))
    }
}

/// The totals table: one row per retried function.
pub(crate) fn totals(functions: &[(&str, Option<&str>)]) -> Vec<String> {
    let mut lines = vec![format!(
        "   {:<20} {:>5} {:>10} {:>12} {:>12} {:>7}  gave up",
        "function", "calls", "first try", "after retry", "by fallback", "failed"
    )];
    for &(function, fallback) in functions {
        let tally = Tally::now(function, fallback);
        let short_name = function.rsplit("::").next().unwrap_or(function);
        let row = format!(
            "   {short_name:<20} {:>5} {:>10} {:>12} {:>12} {:>7}  {}",
            tally.calls,
            tally.first_try,
            tally.after_retry,
            tally.rescued,
            tally.failed(),
            tally.give_ups()
        );
        lines.push(row.trim_end().to_owned());
    }
    lines
}
