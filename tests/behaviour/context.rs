//! Behaviour 6: The attempt context inside the body: number, cap, one idempotency key per call,
//! remaining and elapsed time, sync and async, across `.await` and threads.

use std::sync::Mutex;
use std::time::Duration;

use retry_runtime::{attempt, retry, testing, Attempt};

use crate::support::{ApiError, Counter, S};

#[retry(max_attempts = 3, wait = fixed(1s), jitter = none)]
fn record(seen: &Mutex<Vec<Attempt>>) -> Result<(), ApiError> {
    let now = attempt().expect("inside a retried call");
    seen.lock().unwrap().push(now);
    Err(ApiError::status(503))
}

#[test]
fn sync_body_sees_its_attempt() {
    let _clock = testing::record_sleeps();
    let seen = Mutex::new(Vec::new());
    assert!(record(&seen).is_err());
    let seen = seen.into_inner().unwrap();
    let numbers: Vec<_> = seen.iter().map(Attempt::number).collect();
    assert_eq!(numbers, [1, 2, 3]);
    assert!(seen.iter().all(|a| a.max_attempts() == 3));
    assert!(
        seen.iter()
            .all(|a| a.idempotency_key() == seen[0].idempotency_key()),
        "one key per call"
    );
    assert!(
        seen.iter().all(|a| a.remaining().is_none()),
        "no deadline, no remaining time"
    );
    let elapsed: Vec<_> = seen.iter().map(Attempt::elapsed).collect();
    assert_eq!(elapsed, [Duration::ZERO, S, 2 * S]);
}

#[test]
fn each_call_has_its_own_key() {
    let _clock = testing::record_sleeps();
    let first = Mutex::new(Vec::new());
    let second = Mutex::new(Vec::new());
    let _ = record(&first);
    let _ = record(&second);
    let key = |seen: &Mutex<Vec<Attempt>>| seen.lock().unwrap()[0].idempotency_key();
    assert_ne!(key(&first), key(&second));
}

#[test]
fn max_attempts_follows_the_class_cap() {
    #[retry(max_attempts = 2, on = [RateLimit(max_attempts = 4)], wait = fixed(0))]
    fn limited(seen: &Mutex<Vec<u32>>) -> Result<(), ApiError> {
        seen.lock().unwrap().push(attempt().unwrap().max_attempts());
        Err(ApiError::status(429))
    }
    let seen = Mutex::new(Vec::new());
    assert!(limited(&seen).is_err());
    assert_eq!(*seen.lock().unwrap(), [2, 4, 4, 4]);
}

#[test]
fn there_is_no_attempt_outside_a_retried_call() {
    let _clock = testing::record_sleeps();
    assert!(attempt().is_none());
    let _ = record(&Mutex::new(Vec::new()));
    assert!(
        attempt().is_none(),
        "the context is removed when the call returns"
    );
}

#[retry(max_attempts = 3, wait = fixed(1ms), jitter = none)]
async fn across_awaits(
    counter: &Counter,
    seen: &Mutex<Vec<(u32, String, std::thread::ThreadId)>>,
) -> Result<(), ApiError> {
    let n = counter.next();
    for _ in 0..20 {
        tokio::task::yield_now().await;
        let now = attempt().expect("context survives .await");
        seen.lock().unwrap().push((
            now.number(),
            now.idempotency_key().to_string(),
            std::thread::current().id(),
        ));
        assert_eq!(now.number(), n);
    }
    if n < 3 {
        return Err(ApiError::status(502));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_body_sees_its_attempt_across_awaits_on_a_multi_thread_runtime() {
    let counter = Counter::new();
    let seen = Mutex::new(Vec::new());
    // Run it as a spawned task so that the scheduler is free to move it between workers.
    let (counter, seen) = (std::sync::Arc::new(counter), std::sync::Arc::new(seen));
    let task = {
        let (counter, seen) = (counter.clone(), seen.clone());
        tokio::spawn(async move { across_awaits(&counter, &seen).await })
    };
    task.await.unwrap().unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 60);
    assert!(
        seen.iter().all(|(_, key, _)| *key == seen[0].1),
        "one key across all attempts and awaits"
    );
    assert_eq!(seen.last().unwrap().0, 3);
    assert!(attempt().is_none());
}

/// An attempt's limit, as the body sees it: the attempt timeout, or the time left before the
/// deadline when that is sooner; none where nothing cuts an attempt.
#[tokio::test(start_paused = true)]
async fn the_body_sees_the_limit_its_attempt_is_cut_at() {
    #[retry(max_attempts = 3, wait = fixed(1s), jitter = none, deadline = 11500ms, attempt_timeout = 4s)]
    async fn limited(
        counter: &Counter,
        limits: &Mutex<Vec<Option<Duration>>>,
    ) -> Result<(), ApiError> {
        limits
            .lock()
            .unwrap()
            .push(attempt().and_then(|a| a.limit()));
        tokio::time::sleep(3 * S).await;
        if counter.next() < 3 {
            return Err(ApiError::status(503));
        }
        Ok(())
    }
    let limits = Mutex::new(Vec::new());
    limited(&Counter::new(), &limits).await.unwrap();
    // 4 s, 4 s, then 11.5 − (3 + 1 + 3 + 1) = 3.5 s left before the deadline.
    let left = Duration::from_millis(3_500);
    assert_eq!(
        *limits.lock().unwrap(),
        [Some(4 * S), Some(4 * S), Some(left)]
    );

    #[retry]
    fn unlimited() -> Result<Option<Duration>, ApiError> {
        Ok(attempt().and_then(|a| a.limit()))
    }
    assert_eq!(unlimited().unwrap(), None, "a sync attempt is never cut");
}
