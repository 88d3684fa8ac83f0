//! The provider every client calls: one API with a fixed capacity, in virtual time.
//!
//! Capacity is a token bucket, written as GCRA (the "generic cell rate algorithm" that rate
//! limiters use): requests are served at `capacity` per second sustained, and up to `burst` of
//! them at once after a quiet spell. What happens to a request over capacity is the
//! scenario's choice ([`Overflow`]): dropped with a 503, or answered 429 with a `Retry-After`
//! hint that is a promise (the provider books the earliest free slot for that client, so a
//! client that comes back when told is served). The model is pure: it is given the time of each
//! request and keeps no clock of its own, so it is tested without a runtime.

use std::time::Duration;

/// A client's number, from 0: the provider keeps its promises per client.
pub type ClientId = usize;

/// What the provider answers to a request over capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// `503 Service Unavailable` without a hint: the request is dropped and nothing is
    /// promised, so the client can only guess when to come back.
    Unavailable,
    /// `429 Too Many Requests` with `Retry-After`: the provider books the earliest slot that
    /// no one else holds and tells the client when it is. The booked slot is the client's: it is
    /// served whenever it comes back at or after that time; before it, the request is counted
    /// as early and told the same slot again.
    RateLimited,
}

/// A provider's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProviderModel {
    /// Requests served per second, sustained (at least 1).
    pub capacity: u32,
    /// Requests served at once after a quiet spell: the token bucket's size (at least 1).
    pub burst: u32,
    /// From the start of the run until then, every request is answered 503: an outage.
    pub outage: Duration,
    /// What a request over capacity gets.
    pub overflow: Overflow,
    /// Whether every answer carries the limit's state, as OpenAI's `x-ratelimit-*` headers
    /// do (see [`Published`]).
    pub publishes_limits: bool,
}

impl ProviderModel {
    /// A provider of `capacity` requests per second whose bucket holds a tenth of a second of
    /// it (at least one request), without an outage.
    #[must_use]
    pub fn new(capacity: u32, overflow: Overflow) -> Self {
        let capacity = capacity.max(1);
        ProviderModel {
            capacity,
            burst: (capacity / 10).max(1),
            outage: Duration::ZERO,
            overflow,
            publishes_limits: false,
        }
    }

    /// The same provider, answering with the state of its limit, as OpenAI does.
    #[must_use]
    pub fn publishing_limits(mut self) -> Self {
        self.publishes_limits = true;
        self
    }

    /// The same provider, answering 503 to everything for the first `outage` of the run.
    #[must_use]
    pub fn with_outage(mut self, outage: Duration) -> Self {
        self.outage = outage;
        self
    }
}

/// The state of the provider's limit after a request, as OpenAI publishes it:
/// `x-ratelimit-limit-requests` (the most its bucket holds), `x-ratelimit-remaining-requests`
/// (requests it would serve at once now) and
/// `x-ratelimit-reset-requests` (the time until its bucket is full again).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Published {
    /// The most the bucket holds (`x-ratelimit-limit-requests`); not said during an outage,
    /// when nothing comes back before its end, however long it lasts.
    pub limit: Option<u64>,
    /// Requests it would serve right now.
    pub remaining: u64,
    /// The time until the bucket is full again.
    pub reset: Duration,
}

/// The provider's answer to one request, with the state of its limit when it publishes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Served or refused.
    pub answer: Answer,
    /// The limit's state after this request, if the provider publishes it.
    pub published: Option<Published>,
}

/// The provider's answer to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The request was served.
    Served,
    /// The request was refused with an HTTP status and, for a 429, the time until the client's
    /// booked slot.
    Rejected {
        /// 503 or 429.
        status: u16,
        /// The `Retry-After` hint, if the provider gives one.
        retry_after: Option<Duration>,
    },
}

/// The provider's state during one run.
#[derive(Debug)]
pub struct Provider {
    model: ProviderModel,
    /// The time one request's worth of capacity takes to come back: `1 / capacity`.
    interval: Duration,
    /// How far ahead of now the bucket may be committed and still serve: `(burst - 1) ×
    /// interval` (GCRA's tolerance).
    tolerance: Duration,
    /// GCRA's "theoretical arrival time": when the capacity handed out so far, served and
    /// booked, is used up at the sustained rate. Before the first request: 0.
    committed_until: Duration,
    /// Per client, the slot the provider booked for it and told it about, until it is used.
    promises: Vec<Option<Duration>>,
    /// When each request arrived, in arrival order.
    arrivals: Vec<Duration>,
    served: u64,
    early: u64,
}

impl Provider {
    /// A provider with nothing served yet, for clients numbered `0..clients`.
    #[must_use]
    pub fn new(model: ProviderModel, clients: usize) -> Self {
        let capacity = model.capacity.max(1);
        // Rounded to the nanosecond: exact for any capacity that divides 10^9.
        let interval = Duration::from_nanos((1e9 / f64::from(capacity)).round() as u64);
        Provider {
            model,
            interval,
            tolerance: interval * (model.burst.max(1) - 1),
            committed_until: Duration::ZERO,
            promises: vec![None; clients],
            arrivals: Vec::new(),
            served: 0,
            early: 0,
        }
    }

    /// The provider's configuration.
    #[must_use]
    pub fn model(&self) -> ProviderModel {
        self.model
    }

    /// Answers a request from `client` that arrives `now` after the start of the run, with the
    /// state of its limit when it publishes it. Requests must come in time order.
    ///
    /// # Panics
    /// If `client` is not below the number of clients the provider was made for.
    pub fn reply(&mut self, client: ClientId, now: Duration) -> Reply {
        let answer = self.request(client, now);
        let published = self.model.publishes_limits.then(|| self.published(now));
        Reply { answer, published }
    }

    /// The limit's state at `now`: what the bucket holds, and when it is full again. During
    /// an outage nothing is served: nothing remains, until the end of it.
    fn published(&self, now: Duration) -> Published {
        let burst = u64::from(self.model.burst.max(1));
        if now < self.model.outage {
            return Published {
                limit: None,
                remaining: 0,
                reset: self.model.outage - now,
            };
        }
        let behind = self.committed_until.saturating_sub(now);
        // Each interval the commitment is ahead of now is one request the bucket lacks.
        let lacking = behind.as_nanos().div_ceil(self.interval.as_nanos().max(1));
        Published {
            limit: Some(burst),
            remaining: burst.saturating_sub(u64::try_from(lacking).unwrap_or(u64::MAX)),
            reset: behind,
        }
    }

    /// Answers a request from `client` that arrives `now` after the start of the run. Requests
    /// must come in time order.
    ///
    /// # Panics
    /// If `client` is not below the number of clients the provider was made for.
    pub fn request(&mut self, client: ClientId, now: Duration) -> Answer {
        debug_assert!(
            self.arrivals.last().is_none_or(|last| *last <= now),
            "requests come in time order"
        );
        self.arrivals.push(now);
        if now < self.model.outage {
            return Self::unavailable();
        }
        if let Some(slot) = self.promises[client] {
            if now >= slot {
                // The capacity was set aside when the slot was booked.
                self.promises[client] = None;
                self.served += 1;
                return Answer::Served;
            }
            self.early += 1;
            return Self::rate_limited(slot - now);
        }
        let next = self.committed_until.max(now);
        if next <= now + self.tolerance {
            self.committed_until = next + self.interval;
            self.served += 1;
            return Answer::Served;
        }
        match self.model.overflow {
            Overflow::Unavailable => Self::unavailable(),
            Overflow::RateLimited => {
                // The earliest time at which this request would fit in the bucket, counting
                // every slot already booked: booking it moves the commitment on by one interval,
                // so the next client over capacity is told a later slot than this one.
                let slot = next - self.tolerance;
                self.committed_until = next + self.interval;
                self.promises[client] = Some(slot);
                Self::rate_limited(slot - now)
            }
        }
    }

    fn unavailable() -> Answer {
        Answer::Rejected {
            status: 503,
            retry_after: None,
        }
    }

    fn rate_limited(retry_after: Duration) -> Answer {
        Answer::Rejected {
            status: 429,
            retry_after: Some(retry_after),
        }
    }

    /// When each request arrived, since the start of the run, in arrival order.
    #[must_use]
    pub fn arrivals(&self) -> &[Duration] {
        &self.arrivals
    }

    /// Requests received, served or not.
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.arrivals.len() as u64
    }

    /// Requests served.
    #[must_use]
    pub fn served(&self) -> u64 {
        self.served
    }

    /// Requests that came before the time the provider had told their client: each one is a
    /// client that did not honour a `Retry-After`.
    #[must_use]
    pub fn early(&self) -> u64 {
        self.early
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);
    const S: Duration = Duration::from_secs(1);

    fn served(answer: Answer) -> bool {
        answer == Answer::Served
    }

    #[test]
    fn a_quiet_provider_serves_its_burst_at_once_then_one_per_interval() {
        let model = ProviderModel::new(100, Overflow::Unavailable);
        assert_eq!(model.burst, 10);
        let mut provider = Provider::new(model, 100);
        let at_once = (0..100)
            .filter(|&c| served(provider.request(c, Duration::ZERO)))
            .count();
        assert_eq!(at_once, 10, "the bucket holds a tenth of a second");
        // The bucket refills one request's worth every 10 ms, and holds ten at the most.
        assert!(!served(provider.request(0, 9 * MS)));
        assert!(served(provider.request(1, 10 * MS)));
        assert!(!served(provider.request(2, 10 * MS)));
        let after_a_pause = (0..100)
            .filter(|&c| served(provider.request(c, 100 * MS)))
            .count();
        assert_eq!(after_a_pause, 9, "90 ms since the last request served");
        let after_a_long_pause = (0..100)
            .filter(|&c| served(provider.request(c, 10 * S)))
            .count();
        assert_eq!(after_a_long_pause, 10, "never more than the bucket");
    }

    #[test]
    fn a_publishing_provider_tells_what_its_bucket_holds_and_when_it_is_full() {
        let model = ProviderModel::new(100, Overflow::Unavailable).publishing_limits();
        let mut provider = Provider::new(model, 20);
        let first = provider.reply(0, Duration::ZERO);
        assert_eq!(first.answer, Answer::Served);
        assert_eq!(
            first.published,
            Some(Published {
                limit: Some(10),
                remaining: 9,
                reset: 10 * MS
            })
        );
        for c in 1..10 {
            provider.reply(c, Duration::ZERO);
        }
        let refused = provider.reply(10, Duration::ZERO);
        assert!(!served(refused.answer));
        assert_eq!(
            refused.published,
            Some(Published {
                limit: Some(10),
                remaining: 0,
                reset: 100 * MS
            })
        );
        let later = provider.reply(11, 15 * MS);
        assert_eq!(later.answer, Answer::Served, "one came back at 10 ms");
        assert_eq!(later.published.unwrap().remaining, 0);
        let quiet = Provider::new(ProviderModel::new(100, Overflow::Unavailable), 1).reply(0, MS);
        assert_eq!(quiet.published, None, "not publishing: no headers");
    }

    #[test]
    fn sustained_load_is_served_at_capacity() {
        let mut provider = Provider::new(ProviderModel::new(50, Overflow::Unavailable), 1);
        // A request every millisecond for 10 s (both ends included): 50 a second get through,
        // plus the first burst.
        for ms in 0..=10_000 {
            provider.request(0, ms * MS);
        }
        assert_eq!(provider.requests(), 10_001);
        assert_eq!(provider.served(), 50 * 10 + 5);
    }

    #[test]
    fn overflow_503_gives_no_hint_and_books_nothing() {
        let mut provider = Provider::new(ProviderModel::new(1, Overflow::Unavailable), 2);
        assert!(served(provider.request(0, Duration::ZERO)));
        let refused = provider.request(1, Duration::ZERO);
        assert_eq!(
            refused,
            Answer::Rejected {
                status: 503,
                retry_after: None
            }
        );
        // Nothing was booked: the next second's capacity goes to whoever asks first.
        assert!(served(provider.request(0, S)));
        assert!(!served(provider.request(1, S)));
        assert_eq!(provider.early(), 0);
    }

    #[test]
    fn an_outage_refuses_everything_until_it_ends() {
        let model = ProviderModel::new(10, Overflow::Unavailable).with_outage(30 * S);
        let mut provider = Provider::new(model, 1);
        for second in 0..30 {
            assert_eq!(
                provider.request(0, second * S),
                Answer::Rejected {
                    status: 503,
                    retry_after: None
                }
            );
        }
        assert!(served(provider.request(0, 30 * S)));
        assert_eq!((provider.requests(), provider.served()), (31, 1));
    }

    #[test]
    fn rate_limited_clients_are_told_consecutive_slots() {
        let mut provider = Provider::new(ProviderModel::new(10, Overflow::RateLimited), 4);
        assert!(served(provider.request(0, Duration::ZERO)), "burst of one");
        let hints: Vec<_> = (1..4)
            .map(|c| match provider.request(c, Duration::ZERO) {
                Answer::Rejected {
                    status: 429,
                    retry_after: Some(hint),
                } => hint,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(hints, [100 * MS, 200 * MS, 300 * MS]);
    }

    #[test]
    fn a_client_that_comes_back_when_told_is_served_even_against_newcomers() {
        let mut provider = Provider::new(ProviderModel::new(10, Overflow::RateLimited), 3);
        assert!(served(provider.request(0, Duration::ZERO)));
        assert!(!served(provider.request(1, Duration::ZERO)), "told 100 ms");
        // A newcomer at the booked time does not take client 1's slot: it is told a later one.
        assert_eq!(
            provider.request(2, 100 * MS),
            Answer::Rejected {
                status: 429,
                retry_after: Some(100 * MS)
            }
        );
        assert!(served(provider.request(1, 100 * MS)));
        assert!(
            served(provider.request(2, 250 * MS)),
            "late is fine: the slot waits"
        );
        assert_eq!(provider.early(), 0);
    }

    #[test]
    fn coming_back_early_is_counted_and_told_the_same_slot() {
        let mut provider = Provider::new(ProviderModel::new(10, Overflow::RateLimited), 2);
        assert!(served(provider.request(0, Duration::ZERO)));
        assert!(!served(provider.request(1, Duration::ZERO)));
        assert_eq!(
            provider.request(1, 40 * MS),
            Answer::Rejected {
                status: 429,
                retry_after: Some(60 * MS)
            }
        );
        assert_eq!(provider.early(), 1);
        assert!(served(provider.request(1, 100 * MS)));
        assert_eq!(provider.early(), 1);
    }

    #[test]
    fn booked_slots_never_exceed_capacity() {
        // 1000 clients at once against 100/s: every one is served in its own slot, 10 ms
        // apart, and the last slot is where the capacity says it must be.
        let model = ProviderModel::new(100, Overflow::RateLimited);
        let mut provider = Provider::new(model, 1000);
        let mut slots: Vec<Duration> = (0..1000)
            .filter_map(|c| match provider.request(c, Duration::ZERO) {
                Answer::Served => None,
                Answer::Rejected { retry_after, .. } => retry_after,
            })
            .collect();
        assert_eq!(slots.len(), 990);
        slots.dedup();
        assert_eq!(slots.len(), 990, "no slot is promised twice");
        assert!(slots.windows(2).all(|w| w[1] - w[0] == 10 * MS));
        assert_eq!(slots.last(), Some(&(9900 * MS)));
    }
}
