//! The server's rate limits, per API key as OpenAI keeps them: requests and tokens, each a GCRA
//! bucket, published on every response as `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::format;

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

/// A GCRA limiter (the token bucket's virtual-scheduling form): `interval` between requests on
/// average, with `tolerance` = interval × (burst − 1) of slack.
#[derive(Debug, Clone)]
pub(crate) struct Gcra {
    interval: Duration,
    tolerance: Duration,
    /// Theoretical arrival time of the next request.
    tat: Option<Instant>,
}

impl Gcra {
    pub(crate) fn new(interval: Duration, burst: u32) -> Self {
        Gcra {
            interval,
            tolerance: interval.saturating_mul(burst.saturating_sub(1)),
            tat: None,
        }
    }

    /// How long until `units` could be taken at `now` (zero: now). More than the bucket holds
    /// is taken as a full bucket, or it would never be.
    pub(crate) fn wait(&self, now: Instant, units: u64) -> Duration {
        let tat = self.tat.map_or(now, |t| t.max(now));
        let units = units.clamp(1, self.burst());
        let extra = self
            .interval
            .saturating_mul(u32::try_from(units - 1).unwrap_or(u32::MAX));
        tat.checked_add(extra)
            .and_then(|t| t.checked_sub(self.tolerance))
            .map_or(Duration::ZERO, |allow_at| {
                allow_at.saturating_duration_since(now)
            })
    }

    /// Takes `units` at `now` (after [`wait`](Self::wait) said zero).
    pub(crate) fn take(&mut self, now: Instant, units: u64) {
        let tat = self.tat.map_or(now, |t| t.max(now));
        let units = u32::try_from(units.clamp(1, self.burst())).unwrap_or(u32::MAX);
        self.tat = Some(
            tat.checked_add(self.interval.saturating_mul(units))
                .unwrap_or(tat),
        );
    }

    /// Admits a request at `now`, or says exactly how long until one would be admitted.
    #[cfg(test)]
    pub(crate) fn admit(&mut self, now: Instant) -> Result<(), Duration> {
        let wait = self.wait(now, 1);
        if wait.is_zero() {
            self.take(now, 1);
            Ok(())
        } else {
            Err(wait)
        }
    }

    /// The most the bucket holds.
    fn burst(&self) -> u64 {
        u64::try_from(self.tolerance.as_nanos() / self.interval.as_nanos().max(1) + 1)
            .unwrap_or(u64::MAX)
    }

    /// The limiter's state at `now` as OpenAI publishes its own: the requests it lets through
    /// at once when full (`x-ratelimit-limit-requests`), those it would let through now
    /// (`-remaining-`), and the time until it is full again (`-reset-`).
    pub(crate) fn published(&self, now: Instant) -> (u64, u64, Duration) {
        let burst = self.tolerance.as_nanos() / self.interval.as_nanos().max(1) + 1;
        let behind = self
            .tat
            .map_or(Duration::ZERO, |tat| tat.saturating_duration_since(now));
        let lacking = behind.as_nanos().div_ceil(self.interval.as_nanos().max(1));
        let limit = u64::try_from(burst).unwrap_or(u64::MAX);
        let remaining = u64::try_from(burst.saturating_sub(lacking)).unwrap_or(0);
        (limit, remaining, behind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_spaces_requests_and_tells_the_exact_wait() {
        let start = Instant::now();
        let mut limiter = Gcra::new(Duration::from_millis(100), 2);
        assert_eq!(limiter.admit(start), Ok(()));
        assert_eq!(limiter.admit(start), Ok(()));
        assert_eq!(limiter.admit(start), Err(Duration::from_millis(100)));
        let later = start + Duration::from_millis(40);
        assert_eq!(limiter.admit(later), Err(Duration::from_millis(60)));
        let at = start + Duration::from_millis(100);
        assert_eq!(limiter.admit(at), Ok(()));
        assert_eq!(limiter.admit(at), Err(Duration::from_millis(100)));
    }
}
