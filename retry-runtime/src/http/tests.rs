use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use proptest::prelude::*;

use super::*;
use crate::hint::HintSource;

/// 2025-01-01T12:00:00Z: when the fixtures' responses arrive.
fn received() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_735_732_800)
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn error(status: u16, pairs: &[(&str, &str)], body: &str) -> ApiError {
    ApiError::new_at(
        StatusCode::from_u16(status).unwrap(),
        &headers(pairs),
        body.as_bytes(),
        received(),
    )
}

fn hint_of(error: &ApiError) -> Option<(Duration, HintSource)> {
    error.hint().map(|hint| (hint.wait(), hint.source()))
}

const OPENAI_RATE_LIMIT: &str = r#"{
    "error": {
        "message": "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.",
        "type": "tokens",
        "param": null,
        "code": "rate_limit_exceeded"
    }
}"#;

#[test]
fn openai_429_waits_for_the_exhausted_limit() {
    let e = error(
        429,
        &[
            ("x-request-id", "req_abc123"),
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "2.5s"),
        ],
        OPENAI_RATE_LIMIT,
    );
    assert_eq!(e.class(), ErrorClass::RateLimit);
    assert_eq!(
        hint_of(&e),
        Some((Duration::from_millis(2500), HintSource::OpenAiResetTokens))
    );
    assert_eq!(e.request_id(), Some("req_abc123"));
    assert_eq!(e.error_code(), Some("rate_limit_exceeded"));
    assert_eq!(e.error_type(), Some("tokens"));
    assert!(e.message().unwrap().starts_with("Rate limit reached"));
    assert!(!e.is_quota_exhausted());
}

#[test]
fn openai_resets_without_remaining_headers_take_the_soonest() {
    let e = error(
        429,
        &[
            ("x-ratelimit-reset-requests", "1s"),
            ("x-ratelimit-reset-tokens", "6m0s"),
        ],
        "",
    );
    assert_eq!(
        hint_of(&e),
        Some((Duration::from_secs(1), HintSource::OpenAiResetRequests))
    );
}

#[test]
fn openai_resets_count_only_on_a_429() {
    let pairs = [
        ("x-ratelimit-remaining-tokens", "0"),
        ("x-ratelimit-reset-tokens", "3s"),
    ];
    assert_eq!(error(503, &pairs, "").hint(), None);
    assert_eq!(error(500, &pairs, "").retry_after(), None);
    assert_eq!(
        error(429, &pairs, "").retry_after(),
        Some(Duration::from_secs(3))
    );
}

#[test]
fn openai_insufficient_quota_is_not_retried() {
    let body = r#"{"error": {"message": "You exceeded your current quota, please check your plan and billing details.", "type": "insufficient_quota", "param": null, "code": "insufficient_quota"}}"#;
    let e = error(429, &[("retry-after", "20")], body);
    assert!(e.is_quota_exhausted());
    assert_eq!(e.class(), ErrorClass::Client);
    // By `type` alone (some gateways drop `code`) too.
    let body = r#"{"error": {"message": "quota", "type": "insufficient_quota"}}"#;
    assert_eq!(error(429, &[], body).class(), ErrorClass::Client);
    // Only a 429 means "out of quota".
    let e = error(500, &[], body);
    assert!(!e.is_quota_exhausted());
    assert_eq!(e.class(), ErrorClass::Server);
}

#[test]
fn openai_server_error() {
    let body = r#"{"error": {"message": "The server had an error while processing your request.", "type": "server_error", "param": null, "code": "server_error"}}"#;
    let e = error(500, &[("x-request-id", "req_500")], body);
    assert_eq!(e.class(), ErrorClass::Server);
    assert_eq!(e.error_code(), Some("server_error"));
    assert_eq!(
        e.to_string(),
        "500 Internal Server Error: server_error: The server had an error while processing your request. [request id req_500]"
    );
}

#[test]
fn azure_millisecond_headers_win_over_rounded_seconds() {
    let e = error(
        429,
        &[
            ("retry-after", "2"),
            ("retry-after-ms", "1500"),
            ("x-ms-retry-after-ms", "1600"),
            ("x-ratelimit-remaining-requests", "0"),
            ("x-ratelimit-reset-requests", "1s"),
        ],
        "",
    );
    assert_eq!(
        hint_of(&e),
        Some((Duration::from_millis(1500), HintSource::RetryAfterMs))
    );
    let e = error(503, &[("x-ms-retry-after-ms", "750")], "");
    assert_eq!(
        hint_of(&e),
        Some((Duration::from_millis(750), HintSource::XMsRetryAfterMs))
    );
}

const ANTHROPIC_RATE_LIMIT: &str = r#"{"type": "error", "error": {"type": "rate_limit_error", "message": "This request would exceed the rate limit for your organization of 50,000 input tokens per minute."}, "request_id": "req_body"}"#;

#[test]
fn anthropic_429_honours_retry_after_over_resets() {
    let e = error(
        429,
        &[
            ("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy"),
            ("retry-after", "7"),
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2025-01-01T12:00:01Z"),
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2025-01-01T12:00:09Z",
            ),
        ],
        ANTHROPIC_RATE_LIMIT,
    );
    assert_eq!(e.class(), ErrorClass::RateLimit);
    // A direct hint is what the server asked for: never retry sooner, even for a sooner reset.
    assert_eq!(
        hint_of(&e),
        Some((Duration::from_secs(7), HintSource::RetryAfter))
    );
    assert_eq!(e.request_id(), Some("req_011CSHoEeqs5C35K2UUqR7Fy"));
    assert_eq!(e.error_type(), Some("rate_limit_error"));
}

#[test]
fn anthropic_resets_pick_the_exhausted_limit() {
    let e = error(
        429,
        &[
            ("anthropic-ratelimit-requests-remaining", "49"),
            ("anthropic-ratelimit-requests-reset", "2025-01-01T12:00:01Z"),
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2025-01-01T12:00:12.5Z"),
            ("anthropic-ratelimit-input-tokens-remaining", "0"),
            (
                "anthropic-ratelimit-input-tokens-reset",
                "2025-01-01T13:00:09+01:00",
            ),
            ("anthropic-ratelimit-output-tokens-remaining", "8000"),
            (
                "anthropic-ratelimit-output-tokens-reset",
                "2025-01-01T12:00:02Z",
            ),
        ],
        ANTHROPIC_RATE_LIMIT,
    );
    assert_eq!(
        hint_of(&e),
        Some((
            Duration::from_secs(9),
            HintSource::AnthropicInputTokensReset
        ))
    );
    // Without a header, the body's request id.
    assert_eq!(e.request_id(), Some("req_body"));
}

#[test]
fn resets_in_the_past_or_zero_are_ignored() {
    let e = error(
        429,
        &[
            ("anthropic-ratelimit-tokens-remaining", "0"),
            ("anthropic-ratelimit-tokens-reset", "2025-01-01T11:59:00Z"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("x-ratelimit-reset-tokens", "0s"),
        ],
        "",
    );
    assert_eq!(e.hint(), None);
    // A past HTTP-date in Retry-After is "now", as RFC 9110 reads it.
    let e = error(503, &[("retry-after", "Wed, 01 Jan 2025 11:00:00 GMT")], "");
    assert_eq!(e.retry_after(), Some(Duration::ZERO));
    // A future one counts from the time of receipt.
    let e = error(503, &[("retry-after", "Wed, 01 Jan 2025 12:00:30 GMT")], "");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
}

#[test]
fn anthropic_529_is_overloaded() {
    let body = r#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_529"}"#;
    let e = error(529, &[], body);
    assert_eq!(e.class(), ErrorClass::Overloaded);
    assert_eq!(e.error_type(), Some("overloaded_error"));
    assert_eq!(e.request_id(), Some("req_529"));
    assert_eq!(
        e.to_string(),
        "529: overloaded_error: Overloaded [request id req_529]"
    );
}

const GEMINI_PER_MINUTE: &str = r#"{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"},
            "quotaValue": "15"
          }
        ]
      },
      {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "31s"}
    ]
  }
}"#;

#[test]
fn gemini_per_minute_quota_waits_for_retry_info() {
    let e = error(429, &[], GEMINI_PER_MINUTE);
    assert_eq!(e.class(), ErrorClass::RateLimit);
    assert!(!e.is_quota_exhausted());
    assert_eq!(
        hint_of(&e),
        Some((Duration::from_secs(31), HintSource::GoogleRetryInfo))
    );
    assert_eq!(e.error_type(), Some("RESOURCE_EXHAUSTED"));
    assert_eq!(e.error_code(), None);
    // RetryInfo with a fraction, and on a 503 too.
    let body = r#"{"error": {"code": 503, "status": "UNAVAILABLE", "message": "The model is overloaded.", "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.5s"}]}}"#;
    let e = error(503, &[], body);
    assert_eq!(e.class(), ErrorClass::Overloaded);
    assert_eq!(e.retry_after(), Some(Duration::from_millis(500)));
    // A Retry-After header and RetryInfo: the sooner.
    let e = error(429, &[("retry-after", "40")], GEMINI_PER_MINUTE);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(31)));
}

#[test]
fn gemini_per_day_quota_is_not_retried() {
    let body = GEMINI_PER_MINUTE.replace("PerMinute", "PerDay");
    let e = error(429, &[], &body);
    assert!(e.is_quota_exhausted());
    assert_eq!(e.class(), ErrorClass::Client);
    // The hint is still read (for logs), but the class decides.
    assert_eq!(e.retry_after(), Some(Duration::from_secs(31)));
    // By metric name alone.
    let body = r#"{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "q", "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_requests_per_model_per_day"}]}]}}"#;
    assert!(error(429, &[], body).is_quota_exhausted());
}

#[test]
fn gemini_error_info_per_day_quota_is_not_retried() {
    let body = r#"[{"error": {"code": 429, "message": "Quota exceeded for quota metric 'Gemini 2.5 Pro Requests' and limit 'Gemini 2.5 Pro Requests per day per user per tier'", "status": "RESOURCE_EXHAUSTED", "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED", "domain": "googleapis.com", "metadata": {"quota_metric": "cloudcode-pa.googleapis.com/gemini_2_5_pro_requests", "quota_limit": "Gemini25ProRequestsPerDay"}}]}}]"#;
    let e = error(429, &[], body);
    assert!(e.is_quota_exhausted());
    assert_eq!(e.class(), ErrorClass::Client);
    assert_eq!(e.error_type(), Some("RESOURCE_EXHAUSTED"));
}

#[test]
fn vertex_429_without_details_is_a_rate_limit() {
    let body = r#"{"error": {"code": 429, "message": "Resource exhausted. Please try again later.", "status": "RESOURCE_EXHAUSTED"}}"#;
    let e = error(429, &[], body);
    assert_eq!(e.class(), ErrorClass::RateLimit);
    assert_eq!(e.hint(), None);
}

#[test]
fn x_should_retry_overrides_the_status() {
    let yes = [("x-should-retry", "true")];
    let no = [("x-should-retry", "false")];
    assert_eq!(error(400, &yes, "").class(), ErrorClass::Server);
    assert_eq!(error(401, &yes, "").class(), ErrorClass::Server);
    assert_eq!(error(404, &yes, "").class(), ErrorClass::Server);
    assert_eq!(error(200, &yes, "").class(), ErrorClass::Server);
    assert_eq!(error(429, &yes, "").class(), ErrorClass::RateLimit);
    assert_eq!(error(503, &yes, "").class(), ErrorClass::Overloaded);
    assert_eq!(error(408, &yes, "").class(), ErrorClass::Timeout);
    assert_eq!(error(409, &yes, "").class(), ErrorClass::Conflict);
    assert_eq!(error(503, &no, "").class(), ErrorClass::Client);
    assert_eq!(error(429, &no, "").class(), ErrorClass::Client);
    assert_eq!(error(500, &no, "").class(), ErrorClass::Client);
    assert_eq!(error(403, &no, "").class(), ErrorClass::Auth);
    assert_eq!(
        error(503, &[("x-should-retry", "TRUE")], "").should_retry(),
        Some(true)
    );
    // Anything else is no opinion.
    let e = error(400, &[("x-should-retry", "maybe")], "");
    assert_eq!((e.should_retry(), e.class()), (None, ErrorClass::Client));
    // The server's word beats the quota check.
    let quota = r#"{"error": {"type": "insufficient_quota", "code": "insufficient_quota", "message": "q"}}"#;
    let e = error(429, &yes, quota);
    assert!(e.is_quota_exhausted());
    assert_eq!(e.class(), ErrorClass::RateLimit);
}

#[test]
fn untrustworthy_hints_are_ignored() {
    for bad in ["-1", "NaN", "inf", "1e3", "soon", ""] {
        let e = error(503, &[("retry-after", bad)], "");
        assert_eq!(e.hint(), None, "retry-after {bad:?}");
        let e = error(503, &[("retry-after-ms", bad)], "");
        assert_eq!(e.hint(), None, "retry-after-ms {bad:?}");
    }
    // Readable but absurdly long: the longest hint, so the call gives up rather than retry soon.
    for (name, long) in [
        ("retry-after", "99999999999999"),
        ("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT"),
        ("retry-after-ms", "99999999999999"),
    ] {
        let e = error(503, &[(name, long)], "");
        assert_eq!(
            e.hint().map(|h| h.wait()),
            Some(crate::hint::MAX_HINT),
            "{name} {long:?}"
        );
    }
    // A garbage direct hint leaves the resets to decide.
    let e = error(
        429,
        &[("retry-after", "-3"), ("x-ratelimit-reset-requests", "4s")],
        "",
    );
    assert_eq!(
        hint_of(&e),
        Some((Duration::from_secs(4), HintSource::OpenAiResetRequests))
    );
    // A garbage header next to a good one: the good one.
    let e = error(429, &[("retry-after-ms", "NaN"), ("retry-after", "3")], "");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
    let body = r#"{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "-5s"}]}}"#;
    assert_eq!(error(429, &[], body).hint(), None);
    // An absurd reset is "not soon": the longest hint, which gives up.
    let e = error(429, &[("x-ratelimit-reset-tokens", "1000000h")], "");
    assert_eq!(e.hint().map(|h| h.wait()), Some(crate::hint::MAX_HINT));
}

#[test]
fn only_headers_of_interest_are_kept() {
    let e = error(
        429,
        &[
            ("retry-after", "1"),
            ("x-ratelimit-remaining-tokens", "0"),
            ("anthropic-ratelimit-tokens-limit", "1000"),
            ("x-should-retry", "true"),
            ("content-type", "application/json"),
            ("set-cookie", "session=secret"),
            ("authorization", "Bearer sk-secret"),
            ("openai-organization", "org-1"),
        ],
        "",
    );
    let kept: Vec<&str> = e.headers().keys().map(HeaderName::as_str).collect();
    assert_eq!(kept.len(), 5, "{kept:?}");
    assert!(e.headers().get("set-cookie").is_none());
    assert!(e.headers().get("authorization").is_none());
}

#[test]
fn the_body_is_bounded_and_cut_between_characters() {
    // 'é' is two bytes: put one across the limit.
    let mut body = "a".repeat(BODY_PREFIX_LIMIT - 1).into_bytes();
    body.extend_from_slice("é and more".as_bytes());
    let e = ApiError::new(StatusCode::BAD_GATEWAY, &HeaderMap::new(), &body);
    assert!(e.body_truncated());
    assert_eq!(e.body().len(), BODY_PREFIX_LIMIT - 1);
    assert!(!e.body().contains('\u{fffd}'));
    // Invalid UTF-8 inside is replaced, not refused.
    let e = ApiError::new(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"bad \xff byte");
    assert_eq!(e.body(), "bad \u{fffd} byte");
    assert!(!e.body_truncated());
}

#[test]
fn non_json_bodies_show_in_display() {
    let e = error(502, &[], "<html><body>Bad gateway</body></html>");
    assert_eq!(e.message(), None);
    assert_eq!(e.class(), ErrorClass::Server);
    assert_eq!(
        e.to_string(),
        "502 Bad Gateway: <html><body>Bad gateway</body></html>"
    );
    let long = "x".repeat(500);
    let shown = error(502, &[], &long).to_string();
    assert!(shown.ends_with('…') && shown.len() < 250, "{shown}");
    assert_eq!(error(503, &[], "").to_string(), "503 Service Unavailable");
}

#[test]
fn odd_json_shapes_do_not_confuse_it() {
    for body in [
        "{",
        "[]",
        "[1]",
        "null",
        r#"{"error": null}"#,
        r#"{"error": 5}"#,
        r#"{"error": {"details": "nope"}}"#,
        r#"{"error": {"details": [5, {"@type": 7}, {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": "x"}]}}"#,
        r#"{"error": {"code": {"nested": true}, "type": ["a"]}}"#,
    ] {
        let e = error(429, &[], body);
        assert_eq!(e.class(), ErrorClass::RateLimit, "{body}");
        assert!(!e.is_quota_exhausted(), "{body}");
    }
    // Deep nesting hits serde_json's recursion limit, not the stack.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(error(429, &[], &deep).class(), ErrorClass::RateLimit);
}

#[test]
fn new_uses_the_system_clock() {
    let soon = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
    let e = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        &headers(&[("retry-after", &soon)]),
        b"",
    );
    let wait = e.retry_after().unwrap();
    assert!(
        wait > Duration::from_secs(55) && wait <= Duration::from_secs(60),
        "{wait:?}"
    );
}

proptest! {
    #[test]
    fn arbitrary_responses_never_panic(
        status in 100_u16..1000,
        values in proptest::collection::vec("[ -~]{0,40}", 12),
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let names = [
            "retry-after", "retry-after-ms", "x-ms-retry-after-ms", "x-should-retry",
            "x-ratelimit-reset-requests", "x-ratelimit-reset-tokens",
            "x-ratelimit-remaining-tokens", "anthropic-ratelimit-tokens-reset",
            "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-requests-reset",
            "x-request-id", "request-id",
        ];
        let mut map = HeaderMap::new();
        for (name, value) in names.iter().zip(&values) {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(*name, value);
            }
        }
        let e = ApiError::new(StatusCode::from_u16(status).unwrap(), &map, &body);
        if let Some(wait) = e.retry_after() {
            prop_assert!(wait <= crate::hint::MAX_HINT);
        }
        let _ = (e.to_string(), format!("{e:?}"), e.class());
    }

    #[test]
    fn arbitrary_json_error_bodies_never_panic(
        message in "[ -~]{0,30}",
        delay in "[ -~]{0,12}",
        quota in "[ -~]{0,30}",
    ) {
        let body = serde_json::json!({"error": {"code": 429, "message": message, "details": [
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": delay},
            {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaId": quota}]},
        ]}});
        let e = ApiError::new(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body.to_string().as_bytes());
        prop_assert_eq!(e.message(), Some(message.as_str()));
        prop_assert_eq!(e.retry_after(), crate::hint::parse_proto_duration(&delay));
    }
}
