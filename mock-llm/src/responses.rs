//! The responses the server sends, in each provider's shape.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::fault::FaultKind;
use crate::format::{self, Moment};

/// Content type of OpenAI's and Anthropic's JSON answers.
pub(crate) const JSON: &str = "application/json";
/// Content type of Google's JSON answers.
const GOOGLE_JSON: &str = "application/json; charset=UTF-8";

/// A response decided but not yet sent.
#[derive(Debug)]
pub(crate) struct Planned {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    /// Extra headers; a name or value that is not valid in HTTP is left out when sending.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
    /// The wait this response tells the client to respect, when the server can tell.
    pub(crate) hint: Option<Hint>,
}

/// What a response tells the client to wait.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hint {
    /// The wait it means, from when it is sent.
    pub(crate) wait: Duration,
    /// For a date or an instant: when the moment it names comes, on the monotonic clock. A
    /// retry is judged against that moment, not against the send time plus `wait`, since the
    /// client reads the same moment from the header.
    pub(crate) until: Option<Instant>,
}

impl Hint {
    fn after(wait: Duration) -> Option<Self> {
        Some(Hint { wait, until: None })
    }
}

fn to_bytes(value: &Value) -> Bytes {
    // Serialising a `Value` cannot fail.
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
pub(crate) fn openai_error(
    status: u16,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Planned {
    Planned {
        status,
        content_type: JSON,
        headers: Vec::new(),
        body: to_bytes(&json!({
            "error": { "message": message, "type": kind, "param": param, "code": code }
        })),
        hint: None,
    }
}

/// An error in Anthropic's shape: `{"type": "error", "error": {"type", "message"}, "request_id"}`.
fn anthropic_error(status: u16, kind: &str, message: &str, request_id: &str) -> Planned {
    Planned {
        status,
        content_type: JSON,
        headers: Vec::new(),
        body: to_bytes(&json!({
            "type": "error",
            "error": { "type": kind, "message": message },
            "request_id": request_id,
        })),
        hint: None,
    }
}

/// OpenAI's 429 for a rate limit (not a quota).
fn openai_rate_limited(message: &str) -> Planned {
    openai_error(429, message, "requests", None, Some("rate_limit_exceeded"))
}

/// A Google `QuotaFailure` violation.
fn quota_violation(quota_id: &str, metric: &str, model: &str, value: &str) -> Value {
    json!({
        "quotaMetric": metric,
        "quotaId": quota_id,
        "quotaDimensions": { "location": "global", "model": model },
        "quotaValue": value,
    })
}

/// A Google 429 error body (`RESOURCE_EXHAUSTED`) with these `details`.
fn google_exhausted(details: Vec<Value>) -> Planned {
    Planned {
        status: 429,
        content_type: GOOGLE_JSON,
        headers: Vec::new(),
        body: to_bytes(&json!({
            "error": {
                "code": 429,
                "message": "You exceeded your current quota, please check your plan and billing \
                            details. For more information on this error, head to: \
                            https://ai.google.dev/gemini-api/docs/rate-limits.",
                "status": "RESOURCE_EXHAUSTED",
                "details": details,
            }
        })),
        hint: None,
    }
}

fn google_help() -> Value {
    json!({
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{
            "description": "Learn more about Gemini API quotas",
            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
        }],
    })
}

/// Adds one header and the hint it stands for.
fn with_header(mut planned: Planned, name: &str, value: String, hint: Option<Hint>) -> Planned {
    planned.headers.push((name.to_owned(), value));
    planned.hint = hint;
    planned
}

/// The response for every fault that answers with an error status. `now` is when it is planned
/// (HTTP-dates and RFC 3339 instants are written from its wall-clock reading). Returns `None` for the faults that are not an error
/// response (`Ok`, `Slow`, `CutBody`, `Disconnect*`).
pub(crate) fn fault_response(
    kind: &FaultKind,
    model: &str,
    request_id: &str,
    now: Moment,
) -> Option<Planned> {
    let now_ms = now.unix_ms();
    let limited =
        || openai_rate_limited("Rate limit reached for requests. Please try again later.");
    let anthropic_limited = || {
        anthropic_error(
            429,
            "rate_limit_error",
            "This request would exceed your organization's rate limit. Please try again later.",
            request_id,
        )
    };
    Some(match kind {
        FaultKind::Ok
        | FaultKind::Slow(_)
        | FaultKind::CutBody
        | FaultKind::Disconnect
        | FaultKind::DisconnectBeforeWork => return None,
        FaultKind::RateLimitNoHint => limited(),
        FaultKind::RetryAfterSeconds(secs) => with_header(
            limited(),
            "retry-after",
            format::delta_seconds(*secs),
            Duration::try_from_secs_f64(*secs)
                .ok()
                .and_then(Hint::after),
        ),
        FaultKind::RetryAfterHttpDate { offset_ms } => {
            let target_ms = now_ms.saturating_add(*offset_ms);
            // An HTTP-date has whole seconds: round up so the date never asks for less.
            let secs = target_ms.div_euclid(1_000) + i64::from(target_ms.rem_euclid(1_000) > 0);
            let date = format::http_date(secs);
            // What the date means, measured from now (after clamping to year 9999).
            let clamped_ms = secs.clamp(0, 253_402_300_799).saturating_mul(1_000);
            // A date in the past allows a retry at once.
            let wait_ms = clamped_ms.saturating_sub(now_ms).max(0);
            let hint = u64::try_from(wait_ms).ok().map(|ms| Hint {
                wait: Duration::from_millis(ms),
                until: Some(now.instant_at(clamped_ms)),
            });
            with_header(limited(), "retry-after", date, hint)
        }
        FaultKind::RetryAfterMs(ms) => with_header(
            limited(),
            "retry-after-ms",
            ms.to_string(),
            Hint::after(Duration::from_millis(*ms)),
        ),
        FaultKind::AzureRetryAfterMs(ms) => {
            let body = Planned {
                status: 429,
                content_type: JSON,
                headers: Vec::new(),
                body: to_bytes(&json!({
                    "error": {
                        "code": "429",
                        "message": format!(
                            "Requests to the ChatCompletions_Create Operation under Azure OpenAI \
                             API have exceeded call rate limit of your current pricing tier. \
                             Please retry after {ms} milliseconds."
                        ),
                    }
                })),
                hint: None,
            };
            with_header(
                body,
                "x-ms-retry-after-ms",
                ms.to_string(),
                Hint::after(Duration::from_millis(*ms)),
            )
        }
        FaultKind::OpenAiResetRequests(d) => with_header(
            limited(),
            "x-ratelimit-reset-requests",
            format::go_duration(*d),
            Hint::after(*d),
        ),
        FaultKind::OpenAiResetTokens(d) => with_header(
            openai_error(
                429,
                "Rate limit reached for tokens. Please try again later.",
                "tokens",
                None,
                Some("rate_limit_exceeded"),
            ),
            "x-ratelimit-reset-tokens",
            format::go_duration(*d),
            Hint::after(*d),
        ),
        FaultKind::AnthropicRequestsReset(d) | FaultKind::AnthropicTokensReset(d) => {
            let name = if matches!(kind, FaultKind::AnthropicRequestsReset(_)) {
                "anthropic-ratelimit-requests-reset"
            } else {
                "anthropic-ratelimit-tokens-reset"
            };
            // Round up to the millisecond the instant can show.
            let wait_ms = format::ceil_ms(*d);
            let target_ms = now_ms.saturating_add(i64::try_from(wait_ms).unwrap_or(i64::MAX));
            with_header(
                anthropic_limited(),
                name,
                format::rfc3339_ms(target_ms),
                Some(Hint {
                    wait: Duration::from_millis(wait_ms),
                    until: Some(now.instant_at(target_ms)),
                }),
            )
        }
        FaultKind::GeminiRetryDelay(d) => {
            let mut planned = google_exhausted(vec![
                json!({
                    "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                    "violations": [quota_violation(
                        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                        "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                        model,
                        "15",
                    )],
                }),
                google_help(),
                json!({
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": format::proto_duration(*d),
                }),
            ]);
            planned.hint = Hint::after(*d);
            planned
        }
        FaultKind::RateLimitHeader { name, value } => {
            with_header(limited(), name, value.clone(), None)
        }
        FaultKind::InsufficientQuota => openai_error(
            429,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        ),
        FaultKind::GeminiDailyQuota => google_exhausted(vec![
            json!({
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [quota_violation(
                    "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                    "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    model,
                    "250",
                )],
            }),
            google_help(),
        ]),
        FaultKind::Status(code) => status_response(*code, request_id),
    })
}

/// An error status with a provider-shaped body.
pub(crate) fn status_response(code: u16, request_id: &str) -> Planned {
    let code = if (200..=599).contains(&code) {
        code
    } else {
        500
    };
    let (message, kind, param, error_code) = match code {
        429 => {
            return openai_rate_limited("Rate limit reached for requests. Please try again later.")
        }
        529 => return anthropic_error(529, "overloaded_error", "Overloaded", request_id),
        400 => (
            "Invalid request (injected by mock-llm).",
            "invalid_request_error",
            None,
            None,
        ),
        401 => (
            "Incorrect API key provided: sk-mock***. You can find your API key in your \
             account settings.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
        403 => (
            "Country, region, or territory not supported",
            "request_forbidden",
            None,
            Some("unsupported_country_region_territory"),
        ),
        404 => (
            "Unknown request URL. Only POST /v1/chat/completions is served.",
            "invalid_request_error",
            None,
            Some("unknown_url"),
        ),
        500 => (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
        502 => ("Bad gateway.", "server_error", None, None),
        503 => (
            "The server is overloaded or not ready yet.",
            "server_error",
            None,
            None,
        ),
        504 => ("Gateway timeout.", "server_error", None, None),
        _ => {
            let kind = if code >= 500 {
                "server_error"
            } else {
                "invalid_request_error"
            };
            let message = format!("HTTP {code} (injected by mock-llm).");
            return openai_error(code, &message, kind, None, None);
        }
    };
    openai_error(code, message, kind, param, error_code)
}

/// The capacity limiter's 429: `retry-after-ms` with the exact wait until a slot frees (rounded
/// up to the millisecond) and `Retry-After` rounded up to whole seconds, as OpenAI sends both.
pub(crate) fn capacity_response(wait: Duration) -> Planned {
    let ms = format::ceil_ms(wait);
    let message =
        format!("Rate limit reached for requests (mock-llm capacity). Please try again in {ms}ms.");
    let mut planned = openai_rate_limited(&message);
    planned
        .headers
        .push(("retry-after-ms".to_owned(), ms.to_string()));
    planned.headers.push((
        "retry-after".to_owned(),
        format::ceil_secs(wait).max(1).to_string(),
    ));
    planned.hint = Hint::after(Duration::from_millis(ms));
    planned
}

/// Rough token count: a token per four characters, at least one.
fn tokens(chars: usize) -> u64 {
    (chars.div_ceil(4)).max(1) as u64
}

/// What the server needs from a valid request.
#[derive(Debug, Clone)]
pub(crate) struct ChatRequest {
    pub(crate) model: String,
    pub(crate) prompt_chars: usize,
    pub(crate) last_user: Option<String>,
    /// `max_completion_tokens` or `max_tokens`, if the request set one.
    pub(crate) max_tokens: Option<u64>,
}

impl ChatRequest {
    /// What the token limit charges for it, as OpenAI does up front: the prompt's tokens (a
    /// character in four) and the most it may write (16 when it does not say).
    pub(crate) fn token_cost(&self) -> u64 {
        tokens(self.prompt_chars).saturating_add(self.max_tokens.unwrap_or(16))
    }
}

/// Validates a chat completions request body; the error is a 400 in OpenAI's shape.
pub(crate) fn parse_request(body: &[u8]) -> Result<ChatRequest, Planned> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        openai_error(
            400,
            &format!(
                "We could not parse the JSON body of your request. ({e}) The OpenAI API expects \
                 a JSON payload."
            ),
            "invalid_request_error",
            None,
            None,
        )
    })?;
    let Some(object) = value.as_object() else {
        return Err(openai_error(
            400,
            "The request body must be a JSON object.",
            "invalid_request_error",
            None,
            None,
        ));
    };
    let Some(messages) = object.get("messages").and_then(Value::as_array) else {
        return Err(openai_error(
            400,
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            Some("messages"),
            Some("missing_required_parameter"),
        ));
    };
    let model = object
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("mock-llm")
        .to_owned();
    let text = |m: &Value| m.get("content").and_then(Value::as_str).map(str::to_owned);
    let prompt_chars = messages
        .iter()
        .filter_map(text)
        .map(|t| t.chars().count())
        .sum();
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .and_then(text);
    let max_tokens = ["max_completion_tokens", "max_tokens"]
        .iter()
        .find_map(|name| object.get(*name).and_then(Value::as_u64));
    Ok(ChatRequest {
        model,
        prompt_chars,
        last_user,
        max_tokens,
    })
}

/// A `chat.completion` body for the `n`-th billed request.
pub(crate) fn completion(request: &ChatRequest, n: u64, request_id: &str, created: i64) -> Bytes {
    let mut content = format!("mock-llm reply #{n}");
    if let Some(last) = &request.last_user {
        let quoted: String = last.chars().take(200).collect();
        content.push_str(" to: ");
        content.push_str(&quoted);
    }
    let prompt_tokens = tokens(request.prompt_chars);
    let completion_tokens = tokens(content.chars().count());
    let id_suffix = request_id.strip_prefix("req_").unwrap_or(request_id);
    to_bytes(&json!({
        "id": format!("chatcmpl-{id_suffix}"),
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content, "refusal": null },
            "logprobs": null,
            "finish_reason": "stop",
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_mock_llm",
    }))
}
