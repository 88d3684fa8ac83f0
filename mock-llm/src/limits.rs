//! The server's rate limits, per API key as OpenAI keeps them: requests and tokens, each a GCRA
//! bucket, published on every response as `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::format;
use crate::state::Gcra;

/// The most API keys tracked at once: past it, the oldest-made key's buckets are dropped (it
/// starts full again), so that a client minting keys cannot grow the server without bound.
const MAX_KEYS: usize = 10_000;

/// The buckets every key starts with, and each key's own.
#[derive(Debug, Default)]
pub(crate) struct Limits {
    requests: Option<Gcra>,
    tokens: Option<Gcra>,
    per_key: HashMap<String, KeyLimits>,
    /// Keys in the order they were made, to drop the oldest.
    made: std::collections::VecDeque<String>,
}

#[derive(Debug, Clone)]
struct KeyLimits {
    requests: Option<Gcra>,
    tokens: Option<Gcra>,
}

impl Limits {
    pub(crate) fn new(requests: Option<Gcra>, tokens: Option<Gcra>) -> Self {
        Limits {
            requests,
            tokens,
            per_key: HashMap::new(),
            made: std::collections::VecDeque::new(),
        }
    }

    /// Whether any limit is set.
    pub(crate) fn is_set(&self) -> bool {
        self.requests.is_some() || self.tokens.is_some()
    }

    fn key_mut(&mut self, key: &str) -> &mut KeyLimits {
        if !self.per_key.contains_key(key) {
            if self.per_key.len() >= MAX_KEYS {
                if let Some(oldest) = self.made.pop_front() {
                    self.per_key.remove(&oldest);
                }
            }
            self.made.push_back(key.to_owned());
            let fresh = KeyLimits {
                requests: self.requests.clone(),
                tokens: self.tokens.clone(),
            };
            self.per_key.insert(key.to_owned(), fresh);
        }
        self.per_key.get_mut(key).expect("inserted above")
    }

    /// Admits a request of `key` costing `tokens` at `now`, taking from both buckets, or says
    /// exactly how long until both would have room (taking nothing).
    pub(crate) fn admit(&mut self, key: &str, now: Instant, tokens: u64) -> Result<(), Duration> {
        if !self.is_set() {
            return Ok(());
        }
        let limits = self.key_mut(key);
        let wait_requests = limits.requests.as_ref().map(|g| g.wait(now, 1));
        let wait_tokens = limits.tokens.as_ref().map(|g| g.wait(now, tokens));
        let wait = wait_requests.max(wait_tokens).unwrap_or_default();
        if !wait.is_zero() {
            return Err(wait);
        }
        if let Some(requests) = &mut limits.requests {
            requests.take(now, 1);
        }
        if let Some(bucket) = &mut limits.tokens {
            bucket.take(now, tokens);
        }
        Ok(())
    }

    /// The headers of `key`'s limits at `now`, as OpenAI sends them.
    pub(crate) fn headers(&self, key: &str, now: Instant) -> Vec<(String, String)> {
        let own = self.per_key.get(key);
        let mut headers = Vec::new();
        let kinds = [
            ("requests", own.map_or(&self.requests, |k| &k.requests)),
            ("tokens", own.map_or(&self.tokens, |k| &k.tokens)),
        ];
        for (kind, bucket) in kinds {
            let Some(bucket) = bucket else { continue };
            let (limit, remaining, reset) = bucket.published(now);
            headers.extend([
                (format!("x-ratelimit-limit-{kind}"), limit.to_string()),
                (
                    format!("x-ratelimit-remaining-{kind}"),
                    remaining.to_string(),
                ),
                (
                    format!("x-ratelimit-reset-{kind}"),
                    format::go_duration(reset),
                ),
            ]);
        }
        headers
    }
}
