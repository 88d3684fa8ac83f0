//! The limits read from each provider's headers, and their trip through the attempt context.

use std::time::Duration;

use crate::admission::RateLimits;

#[test]
fn headers_of_each_provider_read_as_limits() {
    let anthropic = RateLimits::from_headers([
        ("Anthropic-RateLimit-Requests-Remaining", "49"),
        ("anthropic-ratelimit-requests-reset", "2999-01-01T00:00:00Z"),
        ("anthropic-ratelimit-input-tokens-remaining", "20000"),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "2999-01-01T00:00:00Z",
        ),
    ]);
    assert_eq!(anthropic.requests().map(|(n, _)| n), Some(49));
    assert_eq!(anthropic.tokens().map(|(n, _)| n), Some(20_000));
    let ietf = RateLimits::from_headers([("RateLimit", "\"default\";r=7;t=30")]);
    assert_eq!(ietf.requests(), Some((7, Duration::from_secs(30))));
    let older = RateLimits::from_headers([("ratelimit-remaining", "3"), ("ratelimit-reset", "2")]);
    assert_eq!(older.requests(), Some((3, Duration::from_secs(2))));
    let half = RateLimits::from_headers([("x-ratelimit-remaining-requests", "3")]);
    assert!(half.is_empty(), "a count without its reset limits nothing");
    let garbage = RateLimits::from_headers([
        ("x-ratelimit-remaining-requests", "-1"),
        ("x-ratelimit-reset-requests", "soon"),
        ("RateLimit", ";;;r=;t"),
    ]);
    assert!(garbage.is_empty());
}

#[test]
fn limits_pack_into_two_words_and_back() {
    let limits = RateLimits::from_headers([
        ("x-ratelimit-remaining-requests", "0"),
        ("x-ratelimit-reset-requests", "1.5s"),
        ("x-ratelimit-remaining-tokens", "150000000"),
        ("x-ratelimit-reset-tokens", "6m0s"),
    ]);
    assert_eq!(RateLimits::unpack(limits.pack()), limits);
    let only_tokens = RateLimits::from_headers([
        ("x-ratelimit-remaining-tokens", "7"),
        ("x-ratelimit-reset-tokens", "1ms"),
    ]);
    assert_eq!(RateLimits::unpack(only_tokens.pack()), only_tokens);
    let huge = RateLimits::from_headers([
        ("ratelimit-remaining", "99999999999"),
        ("ratelimit-reset", "99999999"),
    ]);
    let back = RateLimits::unpack(huge.pack());
    assert_eq!(
        back.requests().unwrap().0,
        u64::from(u32::MAX) - 1,
        "the count saturates"
    );
    assert_eq!(
        back.requests().unwrap().1,
        Duration::from_millis(u64::from(u32::MAX))
    );
}

#[test]
fn the_most_each_limit_holds_is_read_with_it() {
    let openai = RateLimits::from_headers([
        ("x-ratelimit-limit-requests", "60"),
        ("x-ratelimit-remaining-requests", "59"),
        ("x-ratelimit-reset-requests", "1s"),
        ("x-ratelimit-limit-tokens", "150000"),
        ("x-ratelimit-remaining-tokens", "149000"),
        ("x-ratelimit-reset-tokens", "400ms"),
    ]);
    assert_eq!(openai.request_limit(), Some(60));
    assert_eq!(openai.token_limit(), Some(150_000));
    let anthropic = RateLimits::from_headers([
        ("anthropic-ratelimit-requests-limit", "50"),
        ("anthropic-ratelimit-requests-remaining", "49"),
        ("anthropic-ratelimit-requests-reset", "2999-01-01T00:00:00Z"),
        ("anthropic-ratelimit-input-tokens-limit", "30000"),
        ("anthropic-ratelimit-input-tokens-remaining", "20000"),
        (
            "anthropic-ratelimit-input-tokens-reset",
            "2999-01-01T00:00:00Z",
        ),
    ]);
    assert_eq!(anthropic.request_limit(), Some(50));
    assert_eq!(anthropic.token_limit(), Some(30_000));
    let ietf = RateLimits::from_headers([
        ("RateLimit", "\"default\";r=7;t=30"),
        ("RateLimit-Policy", "\"default\";q=100;w=60"),
    ]);
    assert_eq!(ietf.request_limit(), Some(100));
    let older = RateLimits::from_headers([
        ("ratelimit-limit", "10"),
        ("ratelimit-remaining", "3"),
        ("ratelimit-reset", "2"),
    ]);
    assert_eq!(older.request_limit(), Some(10));
    let without_remaining = RateLimits::from_headers([("x-ratelimit-limit-requests", "60")]);
    assert!(
        without_remaining.is_empty(),
        "the most a limit holds says nothing of what is left"
    );
    let bad = RateLimits::from_headers([
        ("x-ratelimit-limit-requests", "lots"),
        ("x-ratelimit-remaining-requests", "5"),
        ("x-ratelimit-reset-requests", "1s"),
    ]);
    assert_eq!(bad.requests(), Some((5, Duration::from_secs(1))));
    assert_eq!(bad.request_limit(), None);
}

#[test]
fn limits_with_the_most_they_hold_pack_and_back() {
    let limits = RateLimits::new()
        .with_requests(0, Duration::from_millis(1_500))
        .with_request_limit(60)
        .with_tokens(7, Duration::from_secs(360))
        .with_token_limit(2_000_000);
    assert_eq!(RateLimits::unpack(limits.pack()), limits);
    let limit_alone = RateLimits::new().with_request_limit(5);
    assert_eq!(RateLimits::unpack(limit_alone.pack()), limit_alone);
}
