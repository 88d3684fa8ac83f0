//! The rate limits a response publishes, read from its headers.

use std::time::Duration;

use super::decide::{Published, Signal};
use crate::hint::{parse_go_duration, parse_rfc3339};
use crate::window::ceil_millis;

/// What a response said of its scope's limits: requests and tokens left, and when each resets.
///
/// Read from OpenAI's (and Azure OpenAI's) `x-ratelimit-remaining-{requests,tokens}` with
/// `x-ratelimit-reset-{requests,tokens}` (Go durations), Anthropic's
/// `anthropic-ratelimit-{requests,tokens}-{remaining,reset}` (RFC 3339 instants; the
/// input-token limit when no `tokens` one is sent), and the IETF fields, `RateLimit:
/// "name";r=50;t=30` or `RateLimit-Remaining` with `RateLimit-Reset` (seconds), as requests.
/// A limit is used only when both its remaining count and its reset parse.
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
/// assert!(RateLimits::from_headers([("content-type", "text/plain")]).is_empty());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimits {
    requests: Option<(u64, Duration)>,
    tokens: Option<(u64, Duration)>,
}

/// One limit's two halves, as the headers give them.
#[derive(Default)]
struct Halves {
    remaining: Option<u64>,
    reset: Option<Duration>,
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
                        ietf = Halves {
                            remaining: Some(remaining),
                            reset: Some(reset),
                        };
                    }
                    continue;
                }
            };
            match half {
                Half::Count => limit.remaining = value.parse().ok(),
                Half::GoDuration => limit.reset = parse_go_duration(value),
                Half::Instant => limit.reset = parse_rfc3339(value),
                Half::Seconds => limit.reset = value.parse().ok().map(Duration::from_secs),
            }
        }
        RateLimits {
            requests: requests.both().or_else(|| ietf.both()),
            tokens: tokens.both().or_else(|| input_tokens.both()),
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

    /// The limits in two words, for the attempt context (which every retried future holds):
    /// per limit, the count left (up to 2³² − 2) and the milliseconds to its reset (up to
    /// 49 days), 0 for none.
    pub(crate) fn pack(&self) -> [u64; 2] {
        let pack = |limit: Option<(u64, Duration)>| {
            limit.map_or(0, |(remaining, reset)| {
                let remaining = remaining.min(u64::from(u32::MAX) - 1) + 1;
                let reset = ceil_millis(reset).min(u64::from(u32::MAX));
                remaining << 32 | reset
            })
        };
        [pack(self.requests), pack(self.tokens)]
    }

    /// The limits [`pack`](Self::pack) put in two words.
    pub(crate) fn unpack(words: [u64; 2]) -> Self {
        let unpack = |word: u64| {
            (word != 0).then(|| ((word >> 32) - 1, Duration::from_millis(word & 0xFFFF_FFFF)))
        };
        RateLimits {
            requests: unpack(words[0]),
            tokens: unpack(words[1]),
        }
    }

    pub(super) fn signal(&self, others_in_flight: u64) -> Signal {
        let published = |limit: Option<(u64, Duration)>| {
            limit.map(|(remaining, reset)| Published {
                remaining,
                reset_in_ms: ceil_millis(reset),
            })
        };
        Signal::Published {
            requests: published(self.requests),
            tokens: published(self.tokens),
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
}

#[derive(Clone, Copy)]
enum Half {
    Count,
    GoDuration,
    Instant,
    Seconds,
}

/// The headers read, with the limit and the half each gives.
const FIELDS: [(&str, Field, Half); 13] = [
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
