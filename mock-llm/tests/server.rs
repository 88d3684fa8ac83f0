//! The fake provider over real loopback sockets. Every delay is a few milliseconds.

mod support;

use std::collections::HashSet;
use std::time::Duration;

use mock_llm::{Fault, FaultKind, MockLlm};
use support::{chat, chat_ok, send, Failure, CHAT};

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// Waits (polling, at most two seconds) until `condition` holds.
async fn until(condition: impl Fn() -> bool) {
    for _ in 0..2_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(ms(1)).await;
    }
    panic!("condition not reached in time");
}

async fn server_with(faults: Vec<Fault>) -> MockLlm {
    MockLlm::builder()
        .script(faults)
        .start()
        .await
        .expect("the server starts")
}

#[tokio::test]
async fn ok_response_has_openai_shape_and_unique_request_ids() {
    let server = MockLlm::start().await.expect("starts");
    assert!(server.base_url().starts_with("http://127.0.0.1:"));
    assert!(server.base_url().ends_with("/v1"));
    assert_eq!(
        server.chat_completions_url(),
        format!("{}/chat/completions", server.base_url())
    );

    let mut ids = HashSet::new();
    for _ in 0..3 {
        let reply = chat_ok(server.addr(), &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        ids.insert(
            reply
                .header("x-request-id")
                .expect("x-request-id")
                .to_owned(),
        );
        let body = reply.json();
        assert!(body["id"].as_str().expect("id").starts_with("chatcmpl-"));
        assert_eq!(body["object"], "chat.completion");
        assert!(body["created"].as_i64().expect("created") > 1_600_000_000);
        assert_eq!(body["model"], "gpt-test");
        let choice = &body["choices"][0];
        assert_eq!(choice["index"], 0);
        assert_eq!(choice["message"]["role"], "assistant");
        assert!(choice["message"]["content"]
            .as_str()
            .expect("content")
            .ends_with("to: hello"));
        assert_eq!(choice["finish_reason"], "stop");
        let usage = &body["usage"];
        assert_eq!(
            usage["total_tokens"].as_u64(),
            Some(
                usage["prompt_tokens"].as_u64().unwrap()
                    + usage["completion_tokens"].as_u64().unwrap()
            )
        );
    }
    assert_eq!(ids.len(), 3, "x-request-id is unique");
    let stats = server.stats();
    assert_eq!((stats.received, stats.billed, stats.status(200)), (3, 3, 3));
}

#[tokio::test]
async fn bad_requests_get_openai_errors_and_consume_nothing() {
    let server = server_with(vec![Fault::status(503)]).await;
    let addr = server.addr();
    let path = "/v1/chat/completions";

    // (method, path, body, status, param of the error)
    type Case = (
        &'static str,
        &'static str,
        Vec<u8>,
        u16,
        Option<&'static str>,
    );
    let cases: Vec<Case> = vec![
        ("POST", path, b"{not json".to_vec(), 400, None),
        ("POST", path, vec![0xff, 0xfe, 0x00], 400, None),
        ("POST", path, b"[1, 2]".to_vec(), 400, None),
        (
            "POST",
            path,
            br#"{"model":"m"}"#.to_vec(),
            400,
            Some("messages"),
        ),
        (
            "POST",
            path,
            br#"{"messages":"no"}"#.to_vec(),
            400,
            Some("messages"),
        ),
        (
            "POST",
            "/v1/embeddings",
            CHAT.as_bytes().to_vec(),
            404,
            None,
        ),
        ("GET", path, Vec::new(), 405, None),
    ];
    for (method, path, body, status, param) in cases {
        let reply = send(addr, method, path, body, &[])
            .await
            .expect("a response");
        assert_eq!(reply.status, status, "{method} {path}");
        assert!(reply.header("x-request-id").is_some());
        let error = &reply.json()["error"];
        assert!(error["message"].is_string());
        assert!(error["type"].is_string());
        assert_eq!(error["param"].as_str(), param);
        assert!(error.get("code").is_some());
    }
    // Nothing was consumed or billed: the scripted 503 is still next.
    assert_eq!(server.script_len(), 1);
    assert_eq!(chat_ok(addr, &[]).await.status, 503);
    let stats = server.stats();
    assert_eq!((stats.received, stats.billed), (8, 0));
    assert_eq!(stats.status(400), 5);
}

#[tokio::test]
async fn script_is_consumed_in_order_then_the_default_applies() {
    let server = server_with(vec![
        Fault::retry_after_ms(300),
        Fault::status(503),
        Fault::ok(),
        Fault::overloaded(),
    ])
    .await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(chat_ok(server.addr(), &[]).await.status);
    }
    assert_eq!(statuses, [429, 503, 200, 529, 200, 200]);
    assert_eq!(server.stats().billed, 3);
    let faults: Vec<_> = server
        .requests()
        .into_iter()
        .map(|r| r.fault.expect("decided"))
        .collect();
    assert_eq!(
        faults,
        ["retry-after-ms:300", "503", "ok", "529", "ok", "ok"]
    );
}

#[tokio::test]
async fn every_rate_limit_hint_is_sent_the_way_its_provider_sends_it() {
    let server = server_with(vec![
        Fault::retry_after_secs(0.05),
        Fault::retry_after_secs(2.0),
        Fault::retry_after_http_date(3_000),
        Fault::retry_after_ms(300),
        Fault::azure_retry_after_ms(250),
        Fault::openai_reset_requests(ms(20)),
        Fault::openai_reset_tokens(Duration::from_secs(360)),
        Fault::anthropic_requests_reset(ms(50)),
        Fault::anthropic_tokens_reset(Duration::from_secs(2)),
        Fault::gemini_retry_delay(ms(50)),
        Fault::gemini_retry_delay(Duration::from_secs(30)),
        Fault::rate_limited(),
        Fault::rate_limit_header("retry-after", "NaN"),
    ])
    .await;
    let addr = server.addr();
    let mut replies = Vec::new();
    for _ in 0..13 {
        let reply = chat_ok(addr, &[]).await;
        assert_eq!(reply.status, 429);
        replies.push(reply);
    }
    let hint_headers = [
        "retry-after",
        "retry-after-ms",
        "x-ms-retry-after-ms",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
        "anthropic-ratelimit-requests-reset",
        "anthropic-ratelimit-tokens-reset",
    ];
    // Exactly one hint per fault (Gemini's and the hint-less one: none in headers).
    let count = |i: usize| {
        hint_headers
            .iter()
            .filter(|h| replies[i].header(h).is_some())
            .count()
    };
    for (i, expected) in [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1]
        .into_iter()
        .enumerate()
    {
        assert_eq!(count(i), expected, "reply {i}");
    }

    assert_eq!(replies[0].header("retry-after"), Some("0.05"));
    assert_eq!(replies[1].header("retry-after"), Some("2"));
    let date = replies[2].header("retry-after").expect("an HTTP-date");
    assert!(date.ends_with(" GMT") && date.len() == 29, "{date}");
    assert_eq!(replies[3].header("retry-after-ms"), Some("300"));
    assert_eq!(replies[4].header("x-ms-retry-after-ms"), Some("250"));
    assert_eq!(replies[4].json()["error"]["code"], "429");
    assert_eq!(
        replies[5].header("x-ratelimit-reset-requests"),
        Some("20ms")
    );
    assert_eq!(replies[6].header("x-ratelimit-reset-tokens"), Some("6m0s"));
    assert_eq!(replies[5].json()["error"]["code"], "rate_limit_exceeded");

    let reset = replies[7]
        .header("anthropic-ratelimit-requests-reset")
        .expect("reset");
    assert!(
        reset.len() >= 20 && reset.ends_with('Z') && &reset[10..11] == "T",
        "{reset}"
    );
    assert_eq!(replies[7].json()["type"], "error");
    assert_eq!(replies[7].json()["error"]["type"], "rate_limit_error");
    assert!(replies[8]
        .header("anthropic-ratelimit-tokens-reset")
        .is_some_and(|v| v.ends_with('Z')));

    for (i, delay) in [(9, "0.050s"), (10, "30s")] {
        let body = replies[i].json();
        let error = &body["error"];
        assert_eq!(error["code"], 429);
        assert_eq!(error["status"], "RESOURCE_EXHAUSTED");
        let details = error["details"].as_array().expect("details");
        let retry = details
            .iter()
            .find(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo")
            .expect("RetryInfo");
        assert_eq!(retry["retryDelay"], delay);
        assert!(details
            .iter()
            .any(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure"));
    }

    assert_eq!(replies[11].json()["error"]["code"], "rate_limit_exceeded");
    assert_eq!(replies[12].header("retry-after"), Some("NaN"));

    // The hints the server can interpret are recorded, in the log, as waits.
    let hints: Vec<_> = server.requests().iter().map(|r| r.hint).collect();
    assert_eq!(hints[0], Some(ms(50)));
    assert_eq!(hints[1], Some(Duration::from_secs(2)));
    let date_hint = hints[2].expect("a date hint");
    assert!(
        date_hint >= ms(3_000) && date_hint <= ms(4_000),
        "{date_hint:?}"
    );
    assert_eq!(hints[3], Some(ms(300)));
    assert_eq!(hints[5], Some(ms(20)));
    assert_eq!(hints[7], Some(ms(50)));
    assert_eq!(hints[9], Some(ms(50)));
    assert_eq!((hints[11], hints[12]), (None, None));
    assert_eq!(server.stats().billed, 0);
}

#[tokio::test]
async fn http_date_hints_in_the_past_allow_a_retry_at_once_and_absurd_ones_are_clamped() {
    let server = server_with(vec![
        Fault::retry_after_http_date(-60_000),
        Fault::retry_after_http_date(i64::MAX),
        Fault::retry_after_secs(-1.0),
    ])
    .await;
    let key = [("idempotency-key", "k-dates")];
    let past = chat_ok(server.addr(), &key).await;
    assert!(past.header("retry-after").expect("date").ends_with("GMT"));
    let far = chat_ok(server.addr(), &key).await;
    assert_eq!(
        far.header("retry-after"),
        Some("Fri, 31 Dec 9999 23:59:59 GMT")
    );
    // The far date makes every retry of this key early.
    let negative = chat_ok(server.addr(), &key).await;
    assert_eq!(negative.header("retry-after"), Some("-1"));
    let records = server.requests();
    assert_eq!(records[0].hint, Some(Duration::ZERO));
    assert_eq!(records[1].early_by, None);
    assert!(records[1].hint.expect("far") > Duration::from_secs(3_000 * 365 * 86_400));
    assert!(records[2].early_by.is_some());
    assert_eq!(records[2].hint, None);
    // A hint the server cannot interpret changes nothing: the far promise stands.
    assert_eq!(chat_ok(server.addr(), &key).await.status, 200);
    assert_eq!(server.stats().early_retries, 2);
}

/// A client that waits exactly until the date a 429 names is not early: the server judges the
/// retry against that moment, not against its send time plus the wait it meant.
#[tokio::test]
async fn a_date_hint_is_judged_against_the_moment_it_names() {
    let server = server_with(vec![Fault::retry_after_http_date(1_500)]).await;
    let key = [("idempotency-key", "k-named")];
    let limited = chat_ok(server.addr(), &key).await;
    let date = limited.header("retry-after").expect("a date");
    let named = httpdate::parse_http_date(date).expect("an HTTP-date");
    // The wall clock first: `now` is then no sooner than the moment `wall` was read, so
    // `now + (named - wall)` is no sooner than the named moment on the monotonic clock.
    let wall = std::time::SystemTime::now();
    let now = tokio::time::Instant::now();
    let named_instant = now + named.duration_since(wall).unwrap_or_default();
    let not_before = server.retry_not_before("k-named").expect("a promise");
    assert!(
        not_before <= named_instant,
        "the server asks for {:?} more than the date it wrote",
        not_before - named_instant
    );
    assert!(
        named_instant - not_before < ms(50),
        "the promise follows the date"
    );
}

#[tokio::test]
async fn the_latest_hint_supersedes_the_previous_one() {
    let server = server_with(vec![
        Fault::retry_after_ms(60_000),
        Fault::retry_after_ms(20),
    ])
    .await;
    let key = [("idempotency-key", "k-latest")];
    assert_eq!(chat_ok(server.addr(), &key).await.status, 429);
    // Early against the first hint, answered with a short one.
    assert_eq!(chat_ok(server.addr(), &key).await.status, 429);
    let not_before = server.retry_not_before("k-latest").expect("a promise");
    tokio::time::sleep_until(not_before).await;
    assert_eq!(chat_ok(server.addr(), &key).await.status, 200);
    assert_eq!(server.stats().early_retries, 1);
}

#[tokio::test]
async fn quota_and_status_faults_have_their_providers_bodies() {
    let server = server_with(vec![
        Fault::insufficient_quota(),
        Fault::gemini_daily_quota(),
        Fault::overloaded(),
        Fault::status(500),
        Fault::status(502),
        Fault::status(503),
        Fault::status(401),
        Fault::status(400),
        Fault::status(403),
    ])
    .await;
    let addr = server.addr();

    let quota = chat_ok(addr, &[]).await;
    assert_eq!(quota.status, 429);
    let error = &quota.json()["error"];
    assert_eq!(error["type"], "insufficient_quota");
    assert_eq!(error["code"], "insufficient_quota");
    assert!(error["param"].is_null());

    let daily = chat_ok(addr, &[]).await;
    assert_eq!(daily.status, 429);
    let body = daily.json();
    let details = body["error"]["details"].as_array().expect("details");
    let quota_ids: Vec<_> = details
        .iter()
        .filter(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure")
        .flat_map(|d| d["violations"].as_array().expect("violations").iter())
        .map(|v| v["quotaId"].as_str().expect("quotaId").to_owned())
        .collect();
    assert_eq!(
        quota_ids,
        ["GenerateRequestsPerDayPerProjectPerModel-FreeTier"]
    );
    assert!(!details
        .iter()
        .any(|d| d["@type"] == "type.googleapis.com/google.rpc.RetryInfo"));

    let overloaded = chat_ok(addr, &[]).await;
    assert_eq!(overloaded.status, 529);
    let body = overloaded.json();
    assert_eq!(body["type"], "error");
    assert_eq!(body["error"]["type"], "overloaded_error");
    assert_eq!(body["error"]["message"], "Overloaded");

    for (status, kind, code) in [
        (500, "server_error", None),
        (502, "server_error", None),
        (503, "server_error", None),
        (401, "invalid_request_error", Some("invalid_api_key")),
        (400, "invalid_request_error", None),
        (
            403,
            "request_forbidden",
            Some("unsupported_country_region_territory"),
        ),
    ] {
        let reply = chat_ok(addr, &[]).await;
        assert_eq!(reply.status, status);
        let error = &reply.json()["error"];
        assert_eq!(error["type"], kind, "{status}");
        assert_eq!(error["code"].as_str(), code, "{status}");
    }
    assert_eq!(server.stats().billed, 0);
}

#[tokio::test]
async fn x_should_retry_can_be_set_on_any_fault() {
    let server = server_with(vec![
        Fault::status(503).with_should_retry(false),
        Fault::status(400).with_should_retry(true),
        Fault::ok().with_should_retry(false),
        Fault::status(503),
    ])
    .await;
    let mut values = Vec::new();
    for _ in 0..4 {
        let reply = chat_ok(server.addr(), &[]).await;
        values.push((
            reply.status,
            reply.header("x-should-retry").map(str::to_owned),
        ));
    }
    assert_eq!(
        values,
        [
            (503, Some("false".to_owned())),
            (400, Some("true".to_owned())),
            (200, Some("false".to_owned())),
            (503, None),
        ]
    );
}

#[tokio::test]
async fn an_idempotent_retry_gets_the_stored_response_without_new_billing() {
    let server = server_with(vec![Fault::status(503)]).await;
    let key = [("idempotency-key", "k-1")];
    // The 503 is not stored: the next request with the key does the work.
    assert_eq!(chat_ok(server.addr(), &key).await.status, 503);
    let first = chat_ok(server.addr(), &key).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = chat_ok(server.addr(), &key).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body, first.body);
    assert_ne!(again.header("x-request-id"), first.header("x-request-id"));
    // Another key is new work.
    let other = chat_ok(server.addr(), &[("idempotency-key", "k-2")]).await;
    assert_ne!(other.body, first.body);

    let stats = server.stats();
    assert_eq!((stats.received, stats.billed, stats.replayed), (4, 2, 1));
}

#[tokio::test]
async fn a_slow_response_the_client_gave_up_on_is_replayed() {
    let server = server_with(vec![Fault::slow(Duration::from_secs(5))]).await;
    let key = [("idempotency-key", "k-slow")];
    let addr = server.addr();
    let first = tokio::spawn(async move { chat(addr, &[("idempotency-key", "k-slow")]).await });
    // The work is billed at once, before the delay; then the client gives up.
    until(|| server.stats().billed == 1).await;
    assert!(
        !first.is_finished(),
        "the response is slower than the client"
    );
    first.abort();
    let retry = chat_ok(server.addr(), &key).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let stats = server.stats();
    assert_eq!((stats.billed, stats.replayed), (1, 1));
}

#[tokio::test]
async fn a_slow_response_arrives_after_its_delay() {
    let server = server_with(vec![Fault::slow(ms(40))]).await;
    let started = std::time::Instant::now();
    let reply = chat_ok(server.addr(), &[]).await;
    assert_eq!(reply.status, 200);
    assert!(started.elapsed() >= ms(40));
}

#[tokio::test]
async fn a_cut_body_is_billed_and_replayed() {
    let server = server_with(vec![Fault::cut_body()]).await;
    let key = [("idempotency-key", "k-cut")];
    match chat(server.addr(), &key).await {
        Err(Failure::BodyCut {
            status,
            content_length,
        }) => {
            assert_eq!(status, 200);
            assert!(content_length.is_some_and(|n| n > 0));
        }
        other => panic!("expected a cut body, got {other:?}"),
    }
    let retry = chat_ok(server.addr(), &key).await;
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let stats = server.stats();
    assert_eq!((stats.billed, stats.replayed, stats.cut), (1, 1, 1));
}

#[tokio::test]
async fn a_disconnect_after_the_work_is_billed_and_replayed() {
    let server = server_with(vec![Fault::disconnect()]).await;
    let key = [("idempotency-key", "k-drop")];
    assert!(matches!(
        chat(server.addr(), &key).await,
        Err(Failure::NoResponse(_))
    ));
    let retry = chat_ok(server.addr(), &key).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    let stats = server.stats();
    assert_eq!(
        (stats.billed, stats.replayed, stats.disconnected),
        (1, 1, 1)
    );
    assert!(server.requests()[0].disconnected);
    assert_eq!(server.requests()[0].status, None);
}

#[tokio::test]
async fn a_disconnect_before_the_work_bills_nothing() {
    let server = server_with(vec![Fault::disconnect_before_work()]).await;
    let key = [("idempotency-key", "k-lost")];
    assert!(matches!(
        chat(server.addr(), &key).await,
        Err(Failure::NoResponse(_))
    ));
    let retry = chat_ok(server.addr(), &key).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("idempotent-replayed"), None);
    let stats = server.stats();
    assert_eq!(
        (stats.billed, stats.replayed, stats.disconnected),
        (1, 0, 1)
    );
}

#[tokio::test]
async fn a_request_whose_key_is_in_progress_gets_a_409() {
    let server = MockLlm::builder()
        .latency(ms(150))
        .start()
        .await
        .expect("starts");
    let key = [("idempotency-key", "k-dup")];
    let addr = server.addr();
    let first = tokio::spawn(async move { chat_ok(addr, &[("idempotency-key", "k-dup")]).await });
    until(|| server.requests().first().is_some_and(|r| r.fault.is_some())).await;
    let duplicate = chat_ok(addr, &key).await;
    assert_eq!(duplicate.status, 409);
    assert_eq!(duplicate.json()["error"]["code"], "idempotency_key_in_use");
    let first = first.await.expect("joins");
    assert_eq!(first.status, 200);
    let replay = chat_ok(addr, &key).await;
    assert_eq!(replay.body, first.body);
    assert_eq!(server.stats().billed, 1);
}

#[tokio::test]
async fn a_client_that_leaves_during_the_work_is_not_billed_and_frees_its_key() {
    let server = MockLlm::builder()
        .latency(ms(30))
        .start()
        .await
        .expect("starts");
    let key = [("idempotency-key", "k-left")];
    let addr = server.addr();
    let first = tokio::spawn(async move { chat(addr, &[("idempotency-key", "k-left")]).await });
    until(|| server.stats().received == 1).await;
    first.abort();
    // Past the latency: the work was dropped with the request, nothing billed.
    tokio::time::sleep(ms(50)).await;
    assert_eq!(server.stats().billed, 0);
    // Not stuck "in progress": the retry does the work.
    let retry = chat_ok(server.addr(), &key).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.header("idempotent-replayed"), None);
    assert_eq!(server.stats().billed, 1);
}

#[tokio::test]
async fn retries_sooner_than_the_hint_are_counted_as_early() {
    let server = server_with(vec![
        Fault::retry_after_ms(200),
        Fault::retry_after_secs(0.15),
    ])
    .await;
    let key = [
        ("idempotency-key", "k-early"),
        ("x-stainless-retry-count", "0"),
    ];
    assert_eq!(chat_ok(server.addr(), &key).await.status, 429);
    // Straight back: too early.
    let retry1 = [
        ("idempotency-key", "k-early"),
        ("x-stainless-retry-count", "1"),
    ];
    assert_eq!(chat_ok(server.addr(), &retry1).await.status, 429);
    assert_eq!(server.stats().early_retries, 1);
    let not_before = server.retry_not_before("k-early").expect("a promise");
    tokio::time::sleep_until(not_before + ms(2)).await;
    let retry2 = [("idempotency-key", "k-early"), ("x-retry-attempt", "3")];
    assert_eq!(chat_ok(server.addr(), &retry2).await.status, 200);
    // Requests without a key are never early.
    assert_eq!(chat_ok(server.addr(), &[]).await.status, 200);

    let stats = server.stats();
    assert_eq!(stats.early_retries, 1);
    let log = server.requests();
    assert_eq!(log[0].stainless_retry_count, Some(0));
    assert_eq!(log[1].stainless_retry_count, Some(1));
    assert!(log[1]
        .early_by
        .is_some_and(|d| d > Duration::ZERO && d <= ms(200)));
    assert_eq!(log[2].retry_attempt, Some(3));
    assert_eq!(log[2].early_by, None);
    let arrivals = server.arrivals("k-early");
    assert_eq!(arrivals.len(), 3);
    assert!(arrivals[2] - arrivals[1] >= ms(150));
    assert!(log.windows(2).all(|w| w[0].since_start <= w[1].since_start));
}

#[tokio::test]
async fn the_capacity_limiter_tells_the_truth_about_when_a_slot_frees() {
    // 5 requests per second, burst 1: one every 200 ms.
    let server = MockLlm::builder()
        .capacity(5.0)
        .start()
        .await
        .expect("starts");
    let addr = server.addr();
    let key = [("idempotency-key", "k-cap")];
    assert_eq!(chat_ok(addr, &[]).await.status, 200);
    let limited = chat_ok(addr, &key).await;
    assert_eq!(limited.status, 429);
    let wait_ms: u64 = limited
        .header("retry-after-ms")
        .expect("retry-after-ms")
        .parse()
        .expect("a number");
    assert!((1..=200).contains(&wait_ms), "{wait_ms}");
    assert_eq!(limited.header("retry-after"), Some("1"));
    assert_eq!(limited.json()["error"]["code"], "rate_limit_exceeded");
    // Waiting exactly what it said is enough.
    tokio::time::sleep(ms(wait_ms)).await;
    assert_eq!(chat_ok(addr, &key).await.status, 200);
    let stats = server.stats();
    assert_eq!(
        (stats.capacity_rejections, stats.early_retries, stats.billed),
        (1, 0, 2)
    );
}

#[tokio::test]
async fn a_burst_lets_several_through_then_limits() {
    let server = MockLlm::builder()
        .capacity(2.0)
        .burst(3)
        .start()
        .await
        .expect("starts");
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(chat_ok(server.addr(), &[]).await.status);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
}

async fn random_statuses(seed: u64) -> Vec<u16> {
    let server = MockLlm::builder()
        .random_fault(Fault::status(503), 0.3)
        .random_fault(Fault::rate_limited(), 0.2)
        .seed(seed)
        .start()
        .await
        .expect("starts");
    let mut statuses = Vec::new();
    for _ in 0..60 {
        statuses.push(chat_ok(server.addr(), &[]).await.status);
    }
    statuses
}

#[tokio::test]
async fn random_faults_are_reproducible_from_the_seed() {
    let a = random_statuses(7).await;
    let b = random_statuses(7).await;
    let c = random_statuses(8).await;
    assert_eq!(a, b);
    assert_ne!(a, c);
    let count = |s: &[u16], code| s.iter().filter(|x| **x == code).count();
    assert!((8..=30).contains(&count(&a, 503)), "{a:?}");
    assert!((3..=24).contains(&count(&a, 429)), "{a:?}");
    assert!(count(&a, 200) >= 15, "{a:?}");
}

#[tokio::test]
async fn behaviour_can_change_while_running() {
    let server = MockLlm::start().await.expect("starts");
    let addr = server.addr();
    assert_eq!(chat_ok(addr, &[]).await.status, 200);
    server.push(Fault::status(502));
    server.push_all([Fault::overloaded(), Fault::ok()]);
    assert_eq!(server.script_len(), 3);
    server.set_outage(Some(Fault::status(503)));
    // The outage wins and does not consume the script.
    assert_eq!(chat_ok(addr, &[]).await.status, 503);
    assert_eq!(chat_ok(addr, &[]).await.status, 503);
    assert_eq!(server.script_len(), 3);
    server.set_outage(None);
    assert_eq!(chat_ok(addr, &[]).await.status, 502);
    server.clear_script();
    assert_eq!(chat_ok(addr, &[]).await.status, 200);
    server.set_latency(ms(30));
    let started = std::time::Instant::now();
    assert_eq!(chat_ok(addr, &[]).await.status, 200);
    assert!(started.elapsed() >= ms(30));
}

#[tokio::test]
async fn a_starting_outage_and_replays_during_it() {
    let server = MockLlm::builder()
        .outage(Fault::overloaded())
        .start()
        .await
        .expect("starts");
    let key = [("idempotency-key", "k-outage")];
    assert_eq!(chat_ok(server.addr(), &key).await.status, 529);
    server.set_outage(None);
    assert_eq!(chat_ok(server.addr(), &key).await.status, 200);
    server.set_outage(Some(Fault::status(503)));
    // A stored response is still replayed.
    let replay = chat_ok(server.addr(), &key).await;
    assert_eq!(replay.status, 200);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn shutdown_and_drop_close_the_port() {
    let server = MockLlm::start().await.expect("starts");
    let addr = server.addr();
    assert_eq!(chat_ok(addr, &[]).await.status, 200);
    server.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());

    let server = MockLlm::start().await.expect("starts");
    let addr = server.addr();
    drop(server);
    // The accept loop stops on the next turn of the runtime.
    let mut closed = false;
    for _ in 0..50 {
        tokio::task::yield_now().await;
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(ms(1)).await;
    }
    assert!(closed);
}

#[tokio::test]
async fn invalid_settings_are_refused_at_start() {
    for builder in [
        MockLlm::builder().random_fault(Fault::status(503), 1.5),
        MockLlm::builder().random_fault(Fault::status(503), f64::NAN),
        MockLlm::builder()
            .random_fault(Fault::status(503), 0.6)
            .random_fault(Fault::status(500), 0.6),
        MockLlm::builder().capacity(0.0),
        MockLlm::builder().capacity(f64::INFINITY),
        MockLlm::builder().capacity(5.0).burst(0),
    ] {
        let error = builder.start().await.expect_err("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    }
}

#[tokio::test]
async fn fault_kinds_and_specs_agree() {
    let fault: Fault = "retry-after-ms:300+x-should-retry=true"
        .parse()
        .expect("parses");
    assert_eq!(fault.kind, FaultKind::RetryAfterMs(300));
    assert_eq!(fault.should_retry, Some(true));
    let server = server_with(vec![fault]).await;
    let reply = chat_ok(server.addr(), &[]).await;
    assert_eq!(reply.header("retry-after-ms"), Some("300"));
    assert_eq!(reply.header("x-should-retry"), Some("true"));
}

#[tokio::test(start_paused = true)]
async fn works_under_a_paused_clock() {
    let server = MockLlm::builder()
        .fault(Fault::retry_after_secs(5.0))
        .latency(Duration::from_secs(2))
        .start()
        .await
        .expect("starts");
    let key = [("idempotency-key", "k-paused")];
    let started = tokio::time::Instant::now();
    assert_eq!(chat_ok(server.addr(), &key).await.status, 429);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(chat_ok(server.addr(), &key).await.status, 200);
    // Seven seconds of tokio time (the hint, then the latency), none of them real.
    assert!(started.elapsed() >= Duration::from_secs(7));
    assert_eq!(server.stats().early_retries, 0);
}

#[tokio::test]
async fn the_log_keeps_the_latest_requests_and_stats_print() {
    let server = MockLlm::builder()
        .log_limit(2)
        .fault(Fault::status(503))
        .start()
        .await
        .expect("starts");
    for _ in 0..4 {
        chat_ok(server.addr(), &[]).await;
    }
    let seqs: Vec<_> = server.requests().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [2, 3]);
    let text = server.stats().to_string();
    assert!(text.contains("received 4, billed 3"), "{text}");
    assert!(text.contains("200×3") && text.contains("503×1"), "{text}");
}

#[tokio::test]
async fn published_limits_tell_what_the_limiter_holds_and_when_it_is_full() {
    // 2 requests per second, 3 at once: one back every 500 ms.
    let server = MockLlm::builder()
        .capacity(2.0)
        .burst(3)
        .publish_limits()
        .start()
        .await
        .expect("starts");
    let addr = server.addr();
    let first = chat_ok(addr, &[]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("x-ratelimit-limit-requests"), Some("3"));
    assert_eq!(first.header("x-ratelimit-remaining-requests"), Some("2"));
    let reset = go_millis(first.header("x-ratelimit-reset-requests").expect("a reset"));
    assert!(reset > 400.0 && reset <= 500.0, "{reset}");
    chat_ok(addr, &[]).await;
    chat_ok(addr, &[]).await;
    let limited = chat_ok(addr, &[]).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.header("x-ratelimit-remaining-requests"), Some("0"));
    let reset = go_millis(
        limited
            .header("x-ratelimit-reset-requests")
            .expect("a reset"),
    );
    assert!(reset > 1_000.0 && reset <= 1_500.0, "{reset}");
    // Without the option, nothing is published.
    let quiet = MockLlm::builder()
        .capacity(2.0)
        .start()
        .await
        .expect("starts");
    let plain = chat_ok(quiet.addr(), &[]).await;
    assert_eq!(plain.header("x-ratelimit-remaining-requests"), None);
}

/// Milliseconds in a Go duration of the forms the limiter's reset takes (`499.5ms`, `1.4s`).
fn go_millis(text: &str) -> f64 {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().expect("a number of ms");
    }
    let secs: f64 = text
        .strip_suffix('s')
        .expect("ms or s")
        .parse()
        .expect("a number of s");
    secs * 1_000.0
}
