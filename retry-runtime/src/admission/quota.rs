//! A limit the provider publishes (requests or tokens), as the gate tracks it between two
//! responses: what is left, which the provider's bucket refills as time passes.
//!
//! Providers publish three numbers per limit: the most the bucket holds (`limit`), what is
//! left now (`remaining`), and the time until it is full again (`reset`; OpenAI's
//! `x-ratelimit-reset-*` and Anthropic's `*-reset` say so). So it refills at
//! `(limit - remaining) / reset`, and keeps doing so past the reset: when it resets the
//! others waiting do not all go at once, but at the rate it refills. When no limit was
//! published (or the bucket was full, which tells no rate), the quota holds what was left
//! until the reset, and nothing after it.

/// A bucket filling at `per_sec` (per second, `scale` of it making one unit of `level`) from
/// `level` at `since`: its level at `now`, at most `cap`, and the instant its filling counts
/// from after (only the time the whole units took is used up; the rest still counts, or a
/// bucket asked often at a slow rate would never fill).
pub(crate) fn fill(
    level: u64,
    since: u64,
    now: u64,
    per_sec: u64,
    scale: u64,
    cap: u64,
) -> (u64, u64) {
    let elapsed = now.saturating_sub(since);
    let added = elapsed.saturating_mul(per_sec) / scale;
    let filled = level.saturating_add(added);
    if filled >= cap || per_sec == 0 {
        return (filled.min(cap), now.max(since));
    }
    let used = added.saturating_mul(scale).div_ceil(per_sec).min(elapsed);
    (filled, since + used)
}

/// Thousandths of a unit a second, over milliseconds: a million make one unit a millisecond.
const MILLI_PER_SEC: u64 = 1_000_000;

/// One published limit of a scope, less what was admitted since.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct Quota {
    /// Left, as of `refilled_at`.
    pub(crate) remaining: u64,
    /// When the provider said the bucket is full again.
    pub(crate) reset_at: u64,
    /// The most the bucket holds; 0 when not published.
    pub(crate) limit: u64,
    /// How fast the bucket refills, in thousandths of a unit a second; 0 when unknown.
    pub(crate) per_sec_milli: u64,
    pub(crate) refilled_at: u64,
}

impl Quota {
    pub(crate) const NONE: Quota = Quota {
        remaining: 0,
        reset_at: 0,
        limit: 0,
        per_sec_milli: 0,
        refilled_at: 0,
    };

    /// Whether the bucket's refill is known: then it limits for good (until the next
    /// response says otherwise).
    const fn refills(self) -> bool {
        self.limit > 0 && self.per_sec_milli > 0
    }

    /// Whether it limits anything at `now`.
    pub(crate) const fn limits_at(self, now: u64) -> bool {
        self.refills() || now < self.reset_at
    }

    /// The quota at `now`, refilled.
    pub(crate) fn at(self, now: u64) -> Quota {
        if !self.refills() {
            return self;
        }
        let (remaining, refilled_at) = fill(
            self.remaining,
            self.refilled_at,
            now,
            self.per_sec_milli,
            MILLI_PER_SEC,
            self.limit,
        );
        Quota {
            remaining,
            refilled_at,
            ..self
        }
    }

    /// What an attempt needing `units` takes: never more than the bucket holds, or it would
    /// wait for ever.
    pub(crate) fn cost(self, units: u64) -> u64 {
        if self.limit > 0 {
            units.min(self.limit)
        } else {
            units
        }
    }

    /// How long until `units` are left (at least 1 ms), when fewer are now (refilled first).
    pub(crate) fn wait_for(self, units: u64, now: u64) -> u64 {
        let short = self.cost(units).saturating_sub(self.remaining);
        let ms = if self.refills() {
            let needed = short
                .saturating_mul(MILLI_PER_SEC)
                .div_ceil(self.per_sec_milli);
            needed.saturating_sub(now.saturating_sub(self.refilled_at))
        } else {
            self.reset_at.saturating_sub(now)
        };
        ms.max(1)
    }

    /// `units` taken and not used, back (never over the limit).
    pub(crate) fn give_back(&mut self, units: u64) {
        let remaining = self.remaining.saturating_add(units);
        self.remaining = if self.limit > 0 {
            remaining.min(self.limit)
        } else {
            remaining
        };
    }

    /// The quota after a response published `remaining` of `limit` (if it said), full again in
    /// `reset_in_ms`, with `others` attempts in flight it may not have counted yet.
    pub(crate) fn published(
        self,
        remaining: u64,
        limit: Option<u64>,
        reset_in_ms: u64,
        others: u64,
        now: u64,
    ) -> Quota {
        let limit = limit.unwrap_or(0);
        let per_sec_milli = if limit > remaining && reset_in_ms > 0 {
            // Rounded down: never faster than the provider refills.
            (limit - remaining).saturating_mul(MILLI_PER_SEC) / reset_in_ms
        } else if limit == self.limit {
            // A full bucket tells no rate: the one learnt before still holds.
            self.per_sec_milli
        } else {
            0
        };
        Quota {
            remaining: remaining.saturating_sub(others),
            reset_at: now.saturating_add(reset_in_ms),
            limit,
            per_sec_milli,
            refilled_at: now,
        }
    }
}
