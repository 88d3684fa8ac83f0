//! The first-try contenders of the peers benches: one operation, and the same policy shape in
//! every library (3 attempts, exponential 100 ms .. 2 s), so that only the retrying differs.

// Each bench binary compiles the support module; only the peers benches use these.
#![allow(dead_code)]

use std::time::Duration;

use backon::ExponentialBuilder;
use retry_runtime::{retry, RetryPolicy, Wait};
use tokio_retry::strategy::ExponentialBackoff;

use super::Unavailable;

#[inline(never)]
#[allow(clippy::unnecessary_wraps)] // the same signature as the retried one
pub(crate) fn body(x: u64) -> Result<u64, Unavailable> {
    Ok(x.wrapping_mul(31).wrapping_add(7))
}

#[inline(never)]
#[allow(clippy::unused_async)] // the same signature as the retried one
pub(crate) async fn body_async(x: u64) -> Result<u64, Unavailable> {
    Ok(x.wrapping_mul(31).wrapping_add(7))
}

pub(crate) const ATTEMPTS: u32 = 3;

/// First try: ours as the attribute below; backon the same exponential 100 ms .. 2 s, 3 attempts
/// (jitter is never drawn on a first try by ours; backon's default has none).
pub(crate) static FIRST_TRY: RetryPolicy = RetryPolicy::new()
    .named("peers::first_try")
    .max_attempts(ATTEMPTS)
    .wait(Wait::exponential(
        Duration::from_millis(100),
        Duration::from_secs(2),
    ));

pub(crate) const BACKON_FIRST_TRY: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_secs(2))
    .with_max_times(ATTEMPTS as usize - 1);

/// tokio-retry's first-try strategy: 100 ms, 200 ms (`2^n` ms times 50), capped at 2 s, two
/// delays (so 3 attempts). Made per call, as its `Retry` takes the iterator by value.
pub(crate) fn tokio_retry_first_try() -> impl Iterator<Item = Duration> {
    ExponentialBackoff::from_millis(2)
        .factor(50)
        .max_delay(Duration::from_secs(2))
        .take(ATTEMPTS as usize - 1)
}

/// tower's retry policy: any error is retried while retries are left, up to `ATTEMPTS` attempts
/// in all, with no wait (the future it returns is ready at once). `Retry` clones the policy for
/// every call, so each call starts with all its retries.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TowerAttempts {
    retries_left: u32,
}

pub(crate) const TOWER_POLICY: TowerAttempts = TowerAttempts {
    retries_left: ATTEMPTS - 1,
};

impl<E> tower::retry::Policy<u64, u64, E> for TowerAttempts {
    type Future = std::future::Ready<()>;

    fn retry(&mut self, _request: &mut u64, result: &mut Result<u64, E>) -> Option<Self::Future> {
        if result.is_err() && self.retries_left > 0 {
            self.retries_left -= 1;
            Some(std::future::ready(()))
        } else {
            None
        }
    }

    fn clone_request(&mut self, request: &u64) -> Option<u64> {
        Some(*request)
    }
}

// The retried functions are written as a user would: the body calls the same operation that
// every other entry calls, and no `#[inline(never)]` (on a `#[retry] async fn` whose body awaits
// another future, `#[inline(never)]` alone roughly doubled the first-try time in a trial run).

#[retry(max_attempts = 3, wait = exponential(100ms, 2s))]
pub(crate) fn retried(x: u64) -> Result<u64, Unavailable> {
    body(x)
}

#[retry(max_attempts = 3, wait = exponential(100ms, 2s))]
pub(crate) async fn retried_async(x: u64) -> Result<u64, Unavailable> {
    body_async(x).await
}
