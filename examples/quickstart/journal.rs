//! The client's own record of its attempts: when each one started and ended, and what it got.
//!
//! The report is built from it rather than from the server's log alone: the server cannot tell
//! an attempt the client cut at its `attempt_timeout` from one it answered late, and the gap
//! between two arrivals at the server includes the first attempt's own time, not only the wait.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use retry_runtime::hint::Hint;
use retry_runtime::ErrorClass;
use tokio::time::Instant;

/// What one attempt got.
#[derive(Clone, Debug)]
pub(crate) enum Outcome {
    /// A success status; `replayed` when the server answered from the stored work of an
    /// earlier attempt with the same idempotency key.
    Answered { status: u16, replayed: bool },
    /// An error status, with the provider's error code and retry hint when it sent them.
    Rejected {
        status: u16,
        class: ErrorClass,
        code: Option<String>,
        hint: Option<Hint>,
    },
    /// No response: the connection failed or was lost.
    Unanswered { class: ErrorClass },
    /// The runtime dropped the attempt before it finished, when its `attempt_timeout` (or the
    /// call's deadline) ran out.
    Cut {
        /// The limit the runtime gave the attempt (`Attempt::limit`).
        limit: Option<Duration>,
        by_deadline: bool,
    },
}

/// One attempt, as the client saw it.
#[derive(Clone, Debug)]
pub(crate) struct AttemptRecord {
    /// Which provider it was sent to.
    pub(crate) provider: &'static str,
    /// The call's idempotency key: the same on every attempt of one call.
    pub(crate) call_key: String,
    /// 1 for the first attempt of a call.
    pub(crate) number: u32,
    pub(crate) started: Instant,
    pub(crate) ended: Instant,
    pub(crate) outcome: Outcome,
}

impl AttemptRecord {
    pub(crate) fn took(&self) -> Duration {
        self.ended.saturating_duration_since(self.started)
    }
}

/// Every attempt made so far, shared by all clones (and all tasks of a burst).
#[derive(Clone, Debug, Default)]
pub(crate) struct Journal(Arc<Mutex<Vec<AttemptRecord>>>);

impl Journal {
    /// Starts recording an attempt to `provider`; call it from inside the retried function's
    /// body, where the runtime tells which attempt of which call this is.
    pub(crate) fn begin(&self, provider: &'static str) -> AttemptInProgress {
        let attempt = retry_runtime::attempt();
        AttemptInProgress {
            journal: self.clone(),
            provider,
            call_key: attempt
                .as_ref()
                .map_or_else(String::new, |a| a.idempotency_key().to_string()),
            number: attempt.as_ref().map_or(1, |a| a.number()),
            deadline_in: attempt.as_ref().and_then(|a| a.remaining()),
            limit: attempt.as_ref().and_then(|a| a.limit()),
            started: Instant::now(),
            outcome: None,
        }
    }

    /// How many attempts are recorded: a mark for [`Journal::since`].
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// The attempts recorded after `mark`, in the order they ended.
    pub(crate) fn since(&self, mark: usize) -> Vec<AttemptRecord> {
        self.lock().get(mark..).unwrap_or_default().to_vec()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AttemptRecord>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// An attempt being made. It is written to the journal when dropped: with the outcome given to
/// [`AttemptInProgress::settle`], or as cut when the runtime dropped the attempt before that.
#[derive(Debug)]
pub(crate) struct AttemptInProgress {
    journal: Journal,
    provider: &'static str,
    call_key: String,
    number: u32,
    /// Time left until the call's deadline when the attempt began, if it has one.
    deadline_in: Option<Duration>,
    /// How long the runtime lets the attempt run before cutting it, if it cuts it at all.
    limit: Option<Duration>,
    started: Instant,
    outcome: Option<Outcome>,
}

impl AttemptInProgress {
    pub(crate) fn settle(&mut self, outcome: Outcome) {
        self.outcome = Some(outcome);
    }
}

impl Drop for AttemptInProgress {
    fn drop(&mut self) {
        let ended = Instant::now();
        let outcome = self.outcome.take().unwrap_or_else(|| {
            // The runtime cuts at the deadline or at the attempt timeout, whichever comes first.
            let took = ended.saturating_duration_since(self.started);
            Outcome::Cut {
                limit: self.limit,
                by_deadline: self.deadline_in.is_some_and(|left| took >= left),
            }
        });
        self.journal.lock().push(AttemptRecord {
            provider: self.provider,
            call_key: std::mem::take(&mut self.call_key),
            number: self.number,
            started: self.started,
            ended,
            outcome,
        });
    }
}

/// The attempts grouped by call (one idempotency key), each call's in order, the calls in the
/// order they began.
pub(crate) fn by_call(records: &[AttemptRecord]) -> Vec<Vec<&AttemptRecord>> {
    let mut calls: Vec<Vec<&AttemptRecord>> = Vec::new();
    for record in records {
        match calls.iter_mut().find(|c| c[0].call_key == record.call_key) {
            Some(call) => call.push(record),
            None => calls.push(vec![record]),
        }
    }
    for call in &mut calls {
        call.sort_by_key(|r| r.number);
    }
    calls.sort_by_key(|c| c[0].started);
    calls
}
