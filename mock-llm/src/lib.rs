//! A fake OpenAI-compatible LLM provider with fault injection, embedded in-process.
//!
//! `mock-llm` serves `POST /v1/chat/completions` on loopback, in OpenAI's response shape, and
//! misbehaves on demand the way the real providers do: rate limits with every kind of retry
//! hint, quotas, 5xx, slow responses, connections cut mid-response, a capacity limit that
//! tells the truth about when a slot frees, and idempotent replays. It counts what it received
//! and billed, and every request that came back sooner than it had allowed, so end-to-end tests
//! can prove that a client never retried too early and never paid twice.
//!
//! It does not depend on the library it tests (`retry-runtime`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use std::time::Duration;
//! use mock_llm::{Fault, MockLlm};
//!
//! let server = MockLlm::builder()
//!     .fault(Fault::retry_after_ms(300))          // first request: 429 + retry-after-ms
//!     .fault(Fault::status(503))                   // second: 503
//!     .random_fault(Fault::overloaded(), 0.05)     // then 5 % of 529s, reproducibly
//!     .seed(7)
//!     .latency(Duration::from_millis(10))
//!     .start()
//!     .await?;
//! println!("OPENAI_BASE_URL={}", server.base_url()); // http://127.0.0.1:PORT/v1
//! // ... run the client under test ...
//! server.push(Fault::disconnect());                // change the behaviour while running
//! server.set_outage(Some(Fault::status(503)));     // every request: 503
//! server.set_outage(None);
//! let stats = server.stats();
//! assert_eq!(stats.early_retries, 0);
//! server.shutdown().await;                         // (or just drop it)
//! # Ok(()) }
//! ```
//!
//! # How a request is answered
//!
//! Every response carries a unique `x-request-id`. Errors use OpenAI's error shape
//! `{"error": {"message", "type", "param", "code"}}` unless the fault imitates another provider.
//!
//! 1. A path other than `/v1/chat/completions` gets a 404, another method a 405, a body that
//!    is not a JSON object with a `messages` array a 400 (a body over 4 MiB a 413). None of
//!    these consumes a scripted fault.
//! 2. **Idempotency.** A request whose `Idempotency-Key` already has a billed response gets that
//!    response again (same body, `idempotent-replayed: true`), without new work or billing —
//!    even if the first response never reached the client (slow, cut, disconnected). A request
//!    whose key is being worked on right now gets a 409. Only billed responses are stored.
//! 3. **Outage** ([`MockLlm::set_outage`]): while on, every other request gets the outage fault.
//! 4. **Capacity** ([`MockLlmBuilder::capacity`], [`MockLlmBuilder::token_capacity`]): GCRA
//!    limiters of requests and tokens per API key; a request over either gets a 429 with
//!    `retry-after-ms` (the exact time until a slot frees, rounded up to the millisecond) and
//!    `Retry-After` (rounded up to whole seconds), as OpenAI sends both. With
//!    [`MockLlmBuilder::publish_limits`] every response tells its key's limits in OpenAI's
//!    `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`.
//! 5. **Script**: the next fault of the FIFO queue, one per request.
//! 6. **Random faults**: one seeded draw per request, at the configured rates.
//! 7. Otherwise 200, after the configured latency.
//!
//! Successful work is billed when its latency has passed (a client that leaves earlier is not
//! billed). Errors are answered at once and bill nothing.
//!
//! # Faults, and who sends what
//!
//! | fault | status | what is sent | provider that sends it |
//! | --- | --- | --- | --- |
//! | [`Fault::ok`] | 200 | `chat.completion` body, billed | OpenAI (and compatible gateways) |
//! | [`Fault::rate_limited`] | 429 | no hint; `rate_limit_exceeded` body | any |
//! | [`Fault::retry_after_secs`] | 429 | `Retry-After: 2` / `0.05` (delta-seconds) | HTTP standard; OpenAI, Anthropic, Azure |
//! | [`Fault::retry_after_http_date`] | 429 | `Retry-After: Sun, 06 Nov 1994 08:49:37 GMT` (offset from now, rounded up to the second; may be past or year 9999) | HTTP standard; CDNs, gateways |
//! | [`Fault::retry_after_ms`] | 429 | `retry-after-ms: 300` | OpenAI (read by its SDKs) |
//! | [`Fault::azure_retry_after_ms`] | 429 | `x-ms-retry-after-ms: 300`, Azure error body | Azure OpenAI |
//! | [`Fault::openai_reset_requests`] | 429 | `x-ratelimit-reset-requests: 20ms` / `6m0s` (Go duration) | OpenAI |
//! | [`Fault::openai_reset_tokens`] | 429 | `x-ratelimit-reset-tokens: 1.5s` | OpenAI |
//! | [`Fault::anthropic_requests_reset`] | 429 | `anthropic-ratelimit-requests-reset: 2025-01-01T00:00:00.050Z` (RFC 3339), `rate_limit_error` body | Anthropic |
//! | [`Fault::anthropic_tokens_reset`] | 429 | `anthropic-ratelimit-tokens-reset: <RFC 3339>` | Anthropic |
//! | [`Fault::gemini_retry_delay`] | 429 | body `{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [QuotaFailure (per minute), Help, {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.050s"}]}}` | Gemini API, Vertex AI |
//! | [`Fault::rate_limit_header`] | 429 | any header, verbatim (hostile hints: `-1`, `NaN`, garbage) | — |
//! | [`Fault::insufficient_quota`] | 429 | `{"error": {"type": "insufficient_quota", "code": "insufficient_quota", …}}` | OpenAI (out of credit) |
//! | [`Fault::gemini_daily_quota`] | 429 | `QuotaFailure` with `quotaId` `GenerateRequestsPerDayPerProjectPerModel-FreeTier`, no `RetryInfo` | Gemini API |
//! | [`Fault::status`]`(500 / 502 / 503 / 504)` | that | `server_error` body | OpenAI, gateways |
//! | [`Fault::overloaded`] = `status(529)` | 529 | `{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}` | Anthropic |
//! | [`Fault::status`]`(400 / 401 / 403)` | that | `invalid_request_error` / `invalid_api_key` / `request_forbidden` body | OpenAI |
//! | [`Fault::slow`] | 200 | work done, billed and stored at once; the response waits the delay | any |
//! | [`Fault::cut_body`] | 200 | work billed; head with the full `Content-Length` and half the body, then the connection closes | network |
//! | [`Fault::disconnect`] | — | work billed; the connection closes without any response | network |
//! | [`Fault::disconnect_before_work`] | — | the connection closes without any response; nothing billed | network |
//! | [`Fault::with_should_retry`] on any of them | — | `x-should-retry: true` / `false` | OpenAI, Anthropic (their SDKs obey it first) |
//! | capacity limit | 429 | `retry-after-ms` (exact) + `Retry-After` (whole seconds, rounded up) | OpenAI |
//!
//! # Early retries and attempt spacing
//!
//! For each `Idempotency-Key`, the server remembers the instant its latest hint to that key
//! allowed (the moment the response was decided plus the hint; a newer hint supersedes an older
//! one, an HTTP-date in the past allows a retry at once). A later request with that key
//! arriving sooner counts in [`Stats::early_retries`] and records by how much in
//! [`RequestRecord::early_by`]. Hints the server cannot interpret ([`Fault::rate_limit_header`],
//! negative or non-finite seconds) change nothing.
//! [`MockLlm::requests`] gives every request with its key, its `x-stainless-retry-count` /
//! `x-retry-attempt` headers, its arrival instant and its outcome; [`MockLlm::arrivals`] the
//! arrival instants of one key, to measure the spacing between attempts.
//!
//! Times are tokio's ([`tokio::time::Instant`], [`tokio::time::sleep`]); hints that name a
//! wall-clock instant (HTTP-dates, RFC 3339) are written from the system clock.
//!
//! # The command line
//!
//! `cargo run --example mock_llm -- --port 8080 --rate-429 0.1 --capacity 20 --seed 7` serves
//! until Ctrl-C, then prints the counters; [`cli`] parses its flags.

mod body;
pub mod cli;
mod fault;
mod format;
mod limits;
mod responses;
mod server;
mod state;
mod stats;

pub use fault::{parse_script, Fault, FaultKind, ParseFaultError};
pub use server::{MockLlm, MockLlmBuilder};
pub use stats::{RequestRecord, Stats};
pub use tokio::time::Instant;
