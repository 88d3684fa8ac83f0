//! The three situations the strategies are put through. In each, every client makes one call
//! and all of them start at once, at time 0: the herd.

use std::time::Duration;

use crate::provider::{Overflow, ProviderModel};
use crate::strategy::Strategy;

/// A situation: what the provider does with the herd.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// The provider is healthy but the herd is larger than its capacity; it drops the
    /// overflow with 503 and no hint.
    ///
    /// 503 rather than a 429 without a hint: the capacity is the provider's own and shared by
    /// every client (overload, which 503/529 say), not one client's quota (which 429 says).
    /// The runtime backs off the same way for both, with jitter; the difference shows in the
    /// breaker, which counts 503s as provider failures and ignores 429s.
    Burst,
    /// The provider answers 503 to everything for [`OUTAGE`], then recovers with the
    /// capacity and 503s of [`Scenario::Burst`].
    Outage,
    /// The overflow is answered 429 with an honest `Retry-After`: the provider books the
    /// earliest free slot for the client and tells it when (see [`Overflow::RateLimited`]).
    RateLimit,
}

/// How long the provider of [`Scenario::Outage`] is down.
pub const OUTAGE: Duration = Duration::from_secs(30);

impl Scenario {
    /// Every scenario, in the order of the table.
    pub const ALL: [Scenario; 3] = [Scenario::Burst, Scenario::Outage, Scenario::RateLimit];

    /// A short name for the table and the charts' file names.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Scenario::Burst => "burst",
            Scenario::Outage => "outage",
            Scenario::RateLimit => "rate-limit",
        }
    }

    /// A one-line description for a chart's title.
    #[must_use]
    pub const fn title(self) -> &'static str {
        match self {
            Scenario::Burst => "burst: every client at once, overflow answered 503",
            Scenario::Outage => "outage: 503 to everything for 30 s, then recovered",
            Scenario::RateLimit => "rate limit: overflow answered 429 with Retry-After",
        }
    }

    /// The provider of this scenario at `capacity` requests per second.
    #[must_use]
    pub fn provider(self, capacity: u32) -> ProviderModel {
        match self {
            Scenario::Burst => ProviderModel::new(capacity, Overflow::Unavailable),
            Scenario::Outage => {
                ProviderModel::new(capacity, Overflow::Unavailable).with_outage(OUTAGE)
            }
            Scenario::RateLimit => ProviderModel::new(capacity, Overflow::RateLimited),
        }
    }

    /// The strategies worth comparing here. [`Strategy::IgnoringRetryAfter`] only where the
    /// provider sends a hint: elsewhere it is [`Strategy::FullJitter`] to the last request.
    #[must_use]
    pub fn strategies(self) -> Vec<Strategy> {
        Strategy::ALL
            .into_iter()
            .filter(|s| s.honours_retry_after() || self.sends_retry_after())
            .collect()
    }

    /// Whether the provider sends `Retry-After` hints.
    #[must_use]
    pub const fn sends_retry_after(self) -> bool {
        matches!(self, Scenario::RateLimit)
    }

    /// The earliest time every client can be done, divided by `clients ÷ capacity`: 1.0, but
    /// for the outage, which the clients must first wait out.
    #[must_use]
    pub fn physical_limit(self, clients: usize, capacity: u32) -> f64 {
        let drain = clients as f64 / f64::from(capacity.max(1));
        match self {
            Scenario::Outage => (OUTAGE.as_secs_f64() + drain) / drain,
            Scenario::Burst | Scenario::RateLimit => 1.0,
        }
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
