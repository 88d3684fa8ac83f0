//! The one source of time and sleep for every decision: a thread's test clock
//! ([`crate::testing::record_sleeps`]) when one is installed, else tokio's clock (which a
//! `start_paused` test pauses and advances), else the system's monotonic clock.

use std::time::{Duration, Instant};

use crate::testing;

/// Now, as the runtime sees it.
pub(crate) fn now() -> Instant {
    if let Some(now) = testing::manual_now() {
        return now;
    }
    #[cfg(feature = "tokio")]
    {
        tokio::time::Instant::now().into_std()
    }
    #[cfg(not(feature = "tokio"))]
    {
        Instant::now()
    }
}

/// Blocks the thread for `wait`, or records it on the thread's test clock.
pub(crate) fn sleep_blocking(wait: Duration) {
    if wait.is_zero() || testing::record_sleep(wait) {
        return;
    }
    std::thread::sleep(wait);
}

/// Waits for `wait` on tokio's timer, or records it on the polling thread's test clock. A zero
/// wait returns at once: tokio rounds every timer up to the next millisecond.
#[cfg(feature = "tokio")]
pub(crate) async fn sleep_async(wait: Duration) {
    if wait.is_zero() || testing::record_sleep(wait) {
        return;
    }
    tokio::time::sleep(wait).await;
}
