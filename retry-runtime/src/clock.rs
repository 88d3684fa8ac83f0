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

/// The timer for `wait` on tokio's clock, or none when the wait is zero (tokio rounds every
/// timer up to the next millisecond) or was recorded on the polling thread's test clock.
#[cfg(feature = "tokio")]
pub(crate) fn sleep_async(wait: Duration) -> Option<tokio::time::Sleep> {
    if wait.is_zero() || testing::record_sleep(wait) {
        return None;
    }
    Some(tokio::time::sleep(wait))
}
