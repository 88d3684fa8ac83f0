//! The rate limits a response publishes, read from its headers.

use std::time::Duration;

use super::decide::{Published, Signal};
use crate::hint::{parse_go_duration, parse_rfc3339};
use crate::window::ceil_millis;

/// What a response said of its scope's limits: requests and tokens left, when each is full
/// again, and the most each holds.
///
/// Read from OpenAI's (and Azure OpenAI's) `x-ratelimit-remaining-{requests,tokens}` with
/// `x-ratelimit-reset-{requests,tokens}` (Go durations) and `x-ratelimit-limit-*`,
/// Anthropic's `anthropic-ratelimit-{requests,tokens}-{remaining,reset,limit}` (RFC 3339
/// instants; the input-token limit when no `tokens` one is sent), and the IETF fields,
/// `RateLimit: "name";r=50;t=30` (with `RateLimit-Policy: "name";q=100`) or
/// `RateLimit-Remaining` with `RateLimit-Reset` (seconds) and `RateLimit-Limit`, as requests.
/// A limit is used only when both its remaining count and its reset parse; the most it holds
/// is optional, and lets the gate pace at the rate it refills once it resets.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::RateLimits;
///
/// let limits = RateLimits::from_headers([
///     ("x-ratelimit-remaining-requests", "59"),
///     ("x-ratelimit-reset-requests", "1s"),
///     ("x-ratelimit-remaining-tokens", "149000"),
///     ("x-ratelimit-reset-tokens", "6m0s"),
/// ]);
/// assert_eq!(limits.requests(), Some((59, Duration::from_secs(1))));
/// assert_eq!(limits.tokens(), Some((149_000, Duration::from_secs(360))));
/// assert_eq!(limits.request_limit(), None);
/// assert!(RateLimits::from_headers([("content-type", "text/plain")]).is_empty());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    requests: Option<(u64, Duration)>,
    tokens: Option<(u64, Duration)>,
    request_limit: Option<u64>,
    token_limit: Option<u64>,
}

/// One limit's two halves, as the headers give them.
#[derive(Default)]
struct Halves {
    remaining: Option<u64>,
    reset: Option<Duration>,
    limit: Option<u64>,
}

impl Halves {
    fn both(&self) -> Option<(u64, Duration)> {
        Some((self.remaining?, self.reset?))
    }
}

impl RateLimits {
    /// The limits in `headers` (names in any case); empty when none is there whole.
    pub fn from_headers<'h>(headers: impl IntoIterator<Item = (&'h str, &'h str)>) -> Self {
        let mut requests = Halves::default();
        let mut tokens = Halves::default();
        let mut input_tokens = Halves::default();
        let mut ietf = Halves::default();
        for (name, value) in headers {
            let value = value.trim();
            let Some(&(_, field, half)) = FIELDS
                .iter()
                .find(|(known, _, _)| known.eq_ignore_ascii_case(name))
            else {
                continue;
            };
            let limit = match field {
                Field::Requests => &mut requests,
                Field::Tokens => &mut tokens,
                Field::InputTokens => &mut input_tokens,
                Field::Ietf => &mut ietf,
                Field::IetfStructured => {
                    if let Some((remaining, reset)) = parse_ietf_field(value) {
                        ietf.remaining = Some(remaining);
                        ietf.reset = Some(reset);
                    }
                    continue;
                }
                Field::IetfPolicy => {
                    ietf.limit = ietf.limit.or_else(|| parse_ietf_quota(value));
                    continue;
                }
            };
            match half {
                Half::Count => limit.remaining = value.parse().ok(),
                Half::GoDuration => limit.reset = parse_go_duration(value),
                Half::Instant => limit.reset = parse_rfc3339(value),
                Half::Seconds => limit.reset = value.parse().ok().map(Duration::from_secs),
                Half::Limit => limit.limit = value.parse().ok(),
            }
        }
        // Each limit, with the most it holds when the same headers said it.
        let pick = |first: &Halves, second: &Halves| match (first.both(), second.both()) {
            (Some(both), _) => (Some(both), first.limit),
            (None, Some(both)) => (Some(both), second.limit),
            (None, None) => (None, None),
        };
        let (requests, request_limit) = pick(&requests, &ietf);
        let (tokens, token_limit) = pick(&tokens, &input_tokens);
        RateLimits {
            requests,
            tokens,
            request_limit,
            token_limit,
        }
    }

    /// No limit: add them with [`with_requests`](Self::with_requests) and
    /// [`with_tokens`](Self::with_tokens) when a client hands them over already parsed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::RateLimits;
    ///
    /// let limits = RateLimits::new().with_requests(59, Duration::from_secs(1));
    /// assert_eq!(limits.requests(), Some((59, Duration::from_secs(1))));
    /// assert_eq!(limits.tokens(), None);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        RateLimits {
            requests: None,
            tokens: None,
            request_limit: None,
            token_limit: None,
        }
    }

    /// These limits, with `remaining` requests left until `reset`.
    #[must_use]
    pub const fn with_requests(mut self, remaining: u64, reset: Duration) -> Self {
        self.requests = Some((remaining, reset));
        self
    }

    /// These limits, with `remaining` tokens left until `reset`.
    #[must_use]
    pub const fn with_tokens(mut self, remaining: u64, reset: Duration) -> Self {
        self.tokens = Some((remaining, reset));
        self
    }

    /// These limits, where the request limit holds at most `limit` (OpenAI's
    /// `x-ratelimit-limit-requests`): past its reset, the gate paces requests at the rate
    /// the limit refills.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::RateLimits;
    ///
    /// let limits = RateLimits::new()
    ///     .with_requests(0, Duration::from_secs(1))
    ///     .with_request_limit(60);
    /// assert_eq!(limits.request_limit(), Some(60));
    /// ```
    #[must_use]
    pub const fn with_request_limit(mut self, limit: u64) -> Self {
        self.request_limit = Some(limit);
        self
    }

    /// These limits, where the token limit holds at most `limit`.
    #[must_use]
    pub const fn with_token_limit(mut self, limit: u64) -> Self {
        self.token_limit = Some(limit);
        self
    }

    /// The most the request limit holds, if published.
    #[must_use]
    pub const fn request_limit(&self) -> Option<u64> {
        self.request_limit
    }

    /// The most the token limit holds, if published.
    #[must_use]
    pub const fn token_limit(&self) -> Option<u64> {
        self.token_limit
    }

    /// Requests left, and the time until their limit resets.
    #[must_use]
    pub const fn requests(&self) -> Option<(u64, Duration)> {
        self.requests
    }

    /// Tokens left, and the time until their limit resets.
    #[must_use]
    pub const fn tokens(&self) -> Option<(u64, Duration)> {
        self.tokens
    }

    /// Whether no limit was read.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.requests.is_none() && self.tokens.is_none()
    }

    /// The limits in three words, for the attempt context (which every retried future holds):
    /// per limit, the count left and the most it holds (each up to 2³² − 2; 0 for none), and
    /// the milliseconds to each reset (up to 49 days).
    pub(crate) fn pack(&self) -> [u64; 3] {
        let count = |n: Option<u64>| n.map_or(0, |n| n.min(u64::from(u32::MAX) - 1) + 1);
        let reset = |limit: Option<(u64, Duration)>| {
            limit.map_or(0, |(_, reset)| ceil_millis(reset).min(u64::from(u32::MAX)))
        };
        let left = |limit: Option<(u64, Duration)>| count(limit.map(|(remaining, _)| remaining));
        [
            left(self.requests) << 32 | count(self.request_limit),
            left(self.tokens) << 32 | count(self.token_limit),
            reset(self.requests) << 32 | reset(self.tokens),
        ]
    }

    /// The limits [`pack`](Self::pack) put in three words.
    pub(crate) fn unpack(words: [u64; 3]) -> Self {
        let count = |half: u64| half.checked_sub(1);
        let limit = |word: u64, reset: u64| {
            count(word >> 32).map(|remaining| (remaining, Duration::from_millis(reset)))
        };
        RateLimits {
            requests: limit(words[0], words[2] >> 32),
            tokens: limit(words[1], words[2] & 0xFFFF_FFFF),
            request_limit: count(words[0] & 0xFFFF_FFFF),
            token_limit: count(words[1] & 0xFFFF_FFFF),
        }
    }

    pub(super) fn signal(&self, others_in_flight: u64) -> Signal {
        let published = |limit: Option<(u64, Duration)>, most: Option<u64>| {
            limit.map(|(remaining, reset)| Published {
                remaining,
                limit: most,
                reset_in_ms: ceil_millis(reset),
            })
        };
        Signal::Published {
            requests: published(self.requests, self.request_limit),
            tokens: published(self.tokens, self.token_limit),
            others_in_flight,
        }
    }
}

#[derive(Clone, Copy)]
enum Field {
    Requests,
    Tokens,
    InputTokens,
    Ietf,
    IetfStructured,
    IetfPolicy,
}

#[derive(Clone, Copy)]
enum Half {
    Count,
    GoDuration,
    Instant,
    Seconds,
    Limit,
}

/// The headers read, with the limit and the half each gives.
const FIELDS: [(&str, Field, Half); 20] = [
    ("x-ratelimit-limit-requests", Field::Requests, Half::Limit),
    ("x-ratelimit-limit-tokens", Field::Tokens, Half::Limit),
    (
        "anthropic-ratelimit-requests-limit",
        Field::Requests,
        Half::Limit,
    ),
    (
        "anthropic-ratelimit-tokens-limit",
        Field::Tokens,
        Half::Limit,
    ),
    (
        "anthropic-ratelimit-input-tokens-limit",
        Field::InputTokens,
        Half::Limit,
    ),
    ("ratelimit-limit", Field::Ietf, Half::Limit),
    // `RateLimit-Policy: "name";q=100;w=60`: the quota; the half here is not used.
    ("ratelimit-policy", Field::IetfPolicy, Half::Limit),
    (
        "x-ratelimit-remaining-requests",
        Field::Requests,
        Half::Count,
    ),
    (
        "x-ratelimit-reset-requests",
        Field::Requests,
        Half::GoDuration,
    ),
    ("x-ratelimit-remaining-tokens", Field::Tokens, Half::Count),
    ("x-ratelimit-reset-tokens", Field::Tokens, Half::GoDuration),
    (
        "anthropic-ratelimit-requests-remaining",
        Field::Requests,
        Half::Count,
    ),
    (
        "anthropic-ratelimit-requests-reset",
        Field::Requests,
        Half::Instant,
    ),
    (
        "anthropic-ratelimit-tokens-remaining",
        Field::Tokens,
        Half::Count,
    ),
    (
        "anthropic-ratelimit-tokens-reset",
        Field::Tokens,
        Half::Instant,
    ),
    (
        "anthropic-ratelimit-input-tokens-remaining",
        Field::InputTokens,
        Half::Count,
    ),
    (
        "anthropic-ratelimit-input-tokens-reset",
        Field::InputTokens,
        Half::Instant,
    ),
    ("ratelimit-remaining", Field::Ietf, Half::Count),
    ("ratelimit-reset", Field::Ietf, Half::Seconds),
    // `RateLimit: "name";r=50;t=30` carries both halves; the half here is not used.
    ("ratelimit", Field::IetfStructured, Half::Count),
];

/// The quota `q` of the first policy item of an IETF `RateLimit-Policy` field
/// (`"default";q=100;w=60`).
fn parse_ietf_quota(value: &str) -> Option<u64> {
    let item = value.split(',').next()?;
    item.split(';').skip(1).find_map(|param| {
        let (name, quota) = param.trim().split_once('=')?;
        (name == "q").then(|| quota.trim().parse().ok())?
    })
}

/// The first policy item of an IETF `RateLimit` field (`"default";r=50;t=30`): its remaining
/// quota `r` and seconds to reset `t`.
fn parse_ietf_field(value: &str) -> Option<(u64, Duration)> {
    let item = value.split(',').next()?;
    let (mut remaining, mut reset) = (None, None);
    for param in item.split(';').skip(1) {
        match param.trim().split_once('=') {
            Some(("r", r)) => remaining = r.trim().parse().ok(),
            Some(("t", t)) => reset = t.trim().parse().ok().map(Duration::from_secs),
            _ => {}
        }
    }
    Some((remaining?, reset?))
}
