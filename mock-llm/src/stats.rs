//! What the server saw and did: counters and a per-request log.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

/// A snapshot of the server's counters (see [`MockLlm::stats`](crate::MockLlm::stats)).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests received (every request that reached the handler, malformed ones included).
    pub received: u64,
    /// Requests whose work was done and billed (200s, slow, cut and disconnected-after-work
    /// ones). Replays and every error bill nothing.
    pub billed: u64,
    /// Requests answered from the idempotency store (`idempotent-replayed: true`).
    pub replayed: u64,
    /// Responses per status code, counted when the response is handed to the connection (a
    /// slow response before its delay, so one whose client left is still counted; a cut body
    /// counts as its status).
    pub responses: BTreeMap<u16, u64>,
    /// Responses whose body was cut after the headers ([`FaultKind::CutBody`](crate::FaultKind::CutBody)).
    pub cut: u64,
    /// Connections closed without any response ([`FaultKind::Disconnect`](crate::FaultKind::Disconnect)
    /// and [`FaultKind::DisconnectBeforeWork`](crate::FaultKind::DisconnectBeforeWork)).
    pub disconnected: u64,
    /// Requests carrying an `Idempotency-Key` that arrived before the earliest instant this
    /// server had told that key it may retry (the one named by the latest hint it sent that
    /// key: the response's decision instant plus the hint).
    pub early_retries: u64,
    /// 429s sent by the capacity limiter.
    pub capacity_rejections: u64,
}

impl Stats {
    /// How many responses had this status.
    pub fn status(&self, code: u16) -> u64 {
        self.responses.get(&code).copied().unwrap_or(0)
    }

    pub(crate) fn count_status(&mut self, code: u16) {
        *self.responses.entry(code).or_insert(0) += 1;
    }
}

impl fmt::Display for Stats {
    /// A two-line human summary.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received {}, billed {}, replayed {}, early retries {}, capacity 429s {}, cut {}, \
             disconnected {}\nresponses:",
            self.received,
            self.billed,
            self.replayed,
            self.early_retries,
            self.capacity_rejections,
            self.cut,
            self.disconnected
        )?;
        if self.responses.is_empty() {
            f.write_str(" none")?;
        }
        for (code, n) in &self.responses {
            write!(f, " {code}×{n}")?;
        }
        Ok(())
    }
}

/// One request as the server saw it (see [`MockLlm::requests`](crate::MockLlm::requests)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// Arrival order, from 0.
    pub seq: u64,
    /// The `x-request-id` of the response (also set when no response was sent).
    pub request_id: String,
    /// When the request's head arrived (tokio's clock).
    pub arrived: Instant,
    /// Time from the server's start to the arrival.
    pub since_start: Duration,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// The `x-stainless-retry-count` header (OpenAI/Anthropic SDKs: 0 on the first attempt),
    /// if present and a number.
    pub stainless_retry_count: Option<u32>,
    /// The `x-retry-attempt` header, if present and a number.
    pub retry_attempt: Option<u32>,
    /// The spec text of the fault applied (`"ok"`, `"retry-after-ms:300"`, `"capacity"`,
    /// `"replay"`, `"bad-request"`, …); `None` while undecided.
    pub fault: Option<String>,
    /// The status sent (or about to be sent after a slow delay); `None` when the connection was
    /// closed without a response or the request is still being worked on.
    pub status: Option<u16>,
    /// The work was done and billed.
    pub billed: bool,
    /// Answered from the idempotency store.
    pub replayed: bool,
    /// The body was cut or the connection closed without a response.
    pub disconnected: bool,
    /// The wait the response told the client to respect, if it carried a hint the server can
    /// interpret (all the 429 hint faults and the capacity limiter).
    pub hint: Option<Duration>,
    /// When the request was an early retry: how much too early it was.
    pub early_by: Option<Duration>,
}
