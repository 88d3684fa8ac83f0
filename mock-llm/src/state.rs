//! The server's shared state: script, outage, limiter, random faults, idempotency store,
//! counters and the request log.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::fault::Fault;
use crate::limits::Limits;
use crate::stats::{RequestRecord, Stats};

/// A small, seeded pseudo-random generator (SplitMix64): reproducible and dependency-free.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// What the server knows of one idempotency key.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    /// The instant the latest hint sent to this key allowed a retry from.
    pub(crate) not_before: Option<Instant>,
    /// The billed response, replayed to later requests with the key.
    pub(crate) stored: Option<Bytes>,
    /// A request with this key is being worked on.
    pub(crate) in_progress: bool,
}

/// Everything mutable, under one lock.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) script: VecDeque<Fault>,
    pub(crate) outage: Option<Fault>,
    pub(crate) latency: Duration,
    pub(crate) random: Vec<(Fault, f64)>,
    pub(crate) rng: SplitMix64,
    pub(crate) limits: Limits,
    /// Whether every response carries its key's limits (`x-ratelimit-*`).
    pub(crate) publish_limits: bool,
    pub(crate) keys: HashMap<String, KeyState>,
    pub(crate) stats: Stats,
    pub(crate) log: VecDeque<RequestRecord>,
    pub(crate) log_limit: usize,
    pub(crate) next_seq: u64,
}

impl State {
    /// The log record of request `seq`, if it is still in the log.
    pub(crate) fn record_mut(&mut self, seq: u64) -> Option<&mut RequestRecord> {
        let first = self.log.front()?.seq;
        let index = usize::try_from(seq.checked_sub(first)?).ok()?;
        self.log.get_mut(index)
    }

    /// Draws the random fault for one request, if any (one draw per call).
    pub(crate) fn draw_random(&mut self) -> Option<Fault> {
        if self.random.is_empty() {
            return None;
        }
        let u = self.rng.next_f64();
        let mut acc = 0.0;
        for (fault, rate) in &self.random {
            acc += rate;
            if u < acc {
                return Some(fault.clone());
            }
        }
        None
    }
}

/// The state shared by the handle and every connection.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
    /// When the server started (tokio's clock).
    pub(crate) started: Instant,
    /// Makes request ids unique across servers.
    pub(crate) nonce: u32,
}

impl Shared {
    pub(crate) fn new(state: State, nonce: u32) -> Self {
        Shared {
            state: Mutex::new(state),
            started: Instant::now(),
            nonce,
        }
    }

    /// Locks the state; a panic elsewhere never makes the server panic here.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks a key as being worked on, and unmarks it when dropped (also when the client leaves
/// and the request's future is dropped mid-work).
#[derive(Debug)]
pub(crate) struct InProgress {
    shared: Arc<Shared>,
    key: Option<String>,
}

impl InProgress {
    /// The caller has already set `in_progress` for `key` under the lock.
    pub(crate) fn new(shared: Arc<Shared>, key: Option<String>) -> Self {
        InProgress { shared, key }
    }
}

impl Drop for InProgress {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            if let Some(state) = self.shared.lock().keys.get_mut(&key) {
                state.in_progress = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_reproducible_and_in_range() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..1_000 {
            let x = a.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert_eq!(x.to_bits(), b.next_f64().to_bits());
        }
    }
}
