//! A thread's own test clock ([`crate::testing::record_sleeps`]): while one is installed, the
//! runtime's clock on that thread stands still but for the sleeps recorded on it and the
//! advances asked of it.

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// One thread's test clock.
#[derive(Debug)]
pub(crate) struct ManualClock {
    now: Instant,
    sleeps: Vec<Duration>,
}

thread_local! {
    static MANUAL: RefCell<Option<ManualClock>> = const { RefCell::new(None) };
}

/// Installs a new test clock on this thread, starting now; the one it replaces.
pub(crate) fn install() -> Option<ManualClock> {
    MANUAL.with(|manual| {
        manual.replace(Some(ManualClock {
            now: Instant::now(),
            sleeps: Vec::new(),
        }))
    })
}

/// Puts back the clock [`install`] replaced (or none).
pub(crate) fn restore(previous: Option<ManualClock>) {
    MANUAL.with(|manual| *manual.borrow_mut() = previous);
}

/// Now on this thread's test clock, if one is installed.
pub(crate) fn now() -> Option<Instant> {
    MANUAL.with(|manual| manual.borrow().as_ref().map(|clock| clock.now))
}

/// Records `wait` if a test clock is installed on this thread; `false` if the caller must sleep.
pub(crate) fn record_sleep(wait: Duration) -> bool {
    MANUAL.with(|manual| match manual.borrow_mut().as_mut() {
        Some(clock) => {
            clock.sleeps.push(wait);
            clock.now += wait;
            true
        }
        None => false,
    })
}

/// Moves this thread's test clock forward, if one is installed.
pub(crate) fn advance(by: Duration) {
    MANUAL.with(|manual| {
        if let Some(clock) = manual.borrow_mut().as_mut() {
            clock.now += by;
        }
    });
}

/// The sleeps recorded on this thread's test clock (none without one).
pub(crate) fn sleeps() -> Vec<Duration> {
    MANUAL.with(|manual| {
        manual
            .borrow()
            .as_ref()
            .map(|clock| clock.sleeps.clone())
            .unwrap_or_default()
    })
}

/// Forgets the sleeps recorded on this thread's test clock.
pub(crate) fn clear() {
    MANUAL.with(|manual| {
        if let Some(clock) = manual.borrow_mut().as_mut() {
            clock.sleeps.clear();
        }
    });
}
