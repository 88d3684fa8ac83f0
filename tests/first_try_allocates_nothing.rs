//! A call that succeeds on its first attempt allocates nothing: not in a `#[retry]` sync fn, not
//! in a `#[retry]` async fn (polled by hand, or awaited on a tokio current-thread runtime).
//!
//! And the same first tries in the production setting, where an INFO `tracing` subscriber is
//! installed (`*_with_info_subscriber`): an INFO `tracing_subscriber::fmt` subscriber writing to
//! `io::sink` as the thread's default. They hold only if the runtime makes a call's span when it
//! needs it (at a failure), not at every call while INFO is enabled: a runtime that did the
//! latter allocated 6 times per first try here (the span in the subscriber, and the boxed state
//! holding it). Ignored until that change is in.
//!
//! A counting global allocator counts the allocations made by the current thread while counting
//! is switched on; each test warms the function up first (its first call registers its
//! statistics and the thread's counter shard, which may allocate once; with a subscriber, its
//! callsites and the subscriber's per-thread state too).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::{Barrier, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll, Waker};

use retry_runtime::{retry, Classify, ErrorClass};
use tracing::dispatcher::DefaultGuard;
use tracing::level_filters::LevelFilter;
use tracing::{Dispatch, Level};

// ===== the counting allocator =====

struct Counting;

thread_local! {
    /// Whether this thread's allocations are being counted.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations (and reallocations) made by this thread while counting.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn note_allocation() {
    // `try_with`: the allocator may be called while the thread's locals are being torn down.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

// SAFETY: every call is passed to `System` unchanged; the counting touches only `const`
// thread-locals without destructors, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn start_counting() {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
}

fn stop_counting() -> u64 {
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.with(Cell::get)
}

/// The allocations this thread makes while running `f`.
fn allocations_in(f: impl FnOnce()) -> u64 {
    start_counting();
    f();
    stop_counting()
}

// ===== the functions under test =====

#[derive(Debug)]
struct Unavailable;

impl Classify for Unavailable {
    fn class(&self) -> ErrorClass {
        ErrorClass::Overloaded
    }
}

const CALLS: u64 = 100;

#[retry]
fn sync_default(x: u64) -> Result<u64, Unavailable> {
    Ok(x + 1)
}

#[retry(max_attempts = 5, wait = exponential(100ms, 2s), on = [RateLimit(max_attempts = 8), Overloaded, Server])]
fn sync_configured(x: u64) -> Result<u64, Unavailable> {
    Ok(x + 1)
}

#[retry]
async fn async_default(x: u64) -> Result<u64, Unavailable> {
    Ok(x + 1)
}

#[retry(max_attempts = 5, wait = exponential(100ms, 2s), on = [RateLimit(max_attempts = 8), Overloaded, Server])]
async fn async_configured(x: u64) -> Result<u64, Unavailable> {
    Ok(x + 1)
}

/// A deadline reads the clock at each call; still no allocation.
#[retry(deadline = 10s)]
fn sync_with_deadline(x: u64) -> Result<u64, Unavailable> {
    Ok(x + 1)
}

/// A deadline and an attempt timeout run each attempt under tokio's timer; still no allocation.
#[retry(deadline = 10s, attempt_timeout = 5s)]
async fn async_with_timeouts(x: u64) -> Result<u64, std::io::Error> {
    Ok(x + 1)
}

/// Polls `future` to completion with a waker that does nothing (the futures here are ready at
/// once; a bound keeps a pending one from spinning forever).
fn poll_to_end<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
    panic!("the future did not complete")
}

// ===== the first tries, counted =====

/// Warms up, then counts the allocations of `3 * CALLS` sync first tries.
fn sync_first_tries() -> u64 {
    assert_eq!(sync_default(1).unwrap(), 2, "warm-up");
    assert_eq!(sync_configured(1).unwrap(), 2, "warm-up");
    assert_eq!(sync_with_deadline(1).unwrap(), 2, "warm-up");
    allocations_in(|| {
        for i in 0..CALLS {
            black_box(sync_default(black_box(i)).unwrap());
            black_box(sync_configured(black_box(i)).unwrap());
            black_box(sync_with_deadline(black_box(i)).unwrap());
        }
    })
}

/// Warms up, then counts the allocations of `2 * CALLS` async first tries polled by hand.
fn async_first_tries_polled_by_hand() -> u64 {
    assert_eq!(poll_to_end(async_default(1)).unwrap(), 2, "warm-up");
    assert_eq!(poll_to_end(async_configured(1)).unwrap(), 2, "warm-up");
    allocations_in(|| {
        for i in 0..CALLS {
            black_box(poll_to_end(async_default(black_box(i))).unwrap());
            black_box(poll_to_end(async_configured(black_box(i))).unwrap());
        }
    })
}

/// Warms up, then counts the allocations of `3 * CALLS` async first tries awaited on tokio.
fn async_first_tries_on_tokio() -> u64 {
    // The runtime is built before counting starts; only the awaited calls are counted (a
    // current-thread runtime polls them on this thread).
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(async_default(1).await.unwrap(), 2, "warm-up");
        assert_eq!(async_configured(1).await.unwrap(), 2, "warm-up");
        assert_eq!(async_with_timeouts(1).await.unwrap(), 2, "warm-up");
        start_counting();
        for i in 0..CALLS {
            black_box(async_default(black_box(i)).await.unwrap());
            black_box(async_configured(black_box(i)).await.unwrap());
            black_box(async_with_timeouts(black_box(i)).await.unwrap());
        }
        stop_counting()
    })
}

// ===== the settings: no subscriber, or the production one =====

/// Held by every first-try test: shared by those with no subscriber, alone by one that installs
/// a subscriber. Whether the runtime makes a call's span depends on tracing's global maximum
/// level, which a subscriber on one thread raises for every thread; and the interest cache the
/// production setting rebuilds is global too.
static SETTING: RwLock<()> = RwLock::new(());

/// No subscriber anywhere while it is held.
fn no_subscriber() -> RwLockReadGuard<'static, ()> {
    // A test that failed holding it poisons it; the others can still run.
    SETTING.read().unwrap_or_else(PoisonError::into_inner)
}

/// The production setting, while it lives: an INFO `tracing_subscriber::fmt` subscriber that
/// formats what it enables to `io::sink`, this thread's default, and no other first-try test
/// running.
struct InfoSubscriber {
    default: Option<DefaultGuard>,
    dispatch: Option<Dispatch>,
    _alone: RwLockWriteGuard<'static, ()>,
}

impl InfoSubscriber {
    fn install() -> Self {
        let alone = SETTING.write().unwrap_or_else(PoisonError::into_inner);
        let dispatch = Dispatch::new(
            tracing_subscriber::fmt()
                .with_max_level(Level::INFO)
                .with_writer(std::io::sink)
                .finish(),
        );
        let default = tracing::dispatcher::set_default(&dispatch);
        // tracing caches per callsite whether a subscriber may want it, and one global maximum
        // level, computed when a subscriber is registered or a callsite first hit, and after
        // that only by a rebuild: setting or dropping a scoped default recomputes nothing.
        // `Dispatch::new` has rebuilt them, but while one subscriber lives a callsite's interest
        // comes from the default of the thread that hits it first; rebuilding here, with this
        // thread's default set, makes the setting independent of that.
        tracing::callsite::rebuild_interest_cache();
        assert!(
            tracing::enabled!(Level::INFO) && !tracing::enabled!(Level::DEBUG),
            "the INFO subscriber is this thread's default"
        );
        Self {
            default: Some(default),
            dispatch: Some(dispatch),
            _alone: alone,
        }
    }
}

impl Drop for InfoSubscriber {
    fn drop(&mut self) {
        drop(self.default.take());
        drop(self.dispatch.take());
        // The maximum level back to OFF, as before any subscriber: else the next tests' calls
        // take the runtime's traced start. `rebuild_interest_cache()` alone would make it TRACE:
        // with no subscriber left it asks tracing's `NoSubscriber`, which gives no level hint. A
        // subscriber registered alone recomputes it from its own hint, here OFF.
        drop(Dispatch::new(
            tracing_subscriber::fmt()
                .with_max_level(LevelFilter::OFF)
                .finish(),
        ));
        if !std::thread::panicking() {
            assert!(
                !tracing::level_enabled!(Level::ERROR),
                "no level enabled once the subscriber is gone"
            );
        }
    }
}

// ===== the tests: no subscriber =====

#[test]
fn sync_first_try_allocates_nothing() {
    let _setting = no_subscriber();
    let n = sync_first_tries();
    assert_eq!(n, 0, "{n} allocations in {} first-try successes", 3 * CALLS);
}

#[test]
fn async_first_try_allocates_nothing_polled_by_hand() {
    let _setting = no_subscriber();
    let n = async_first_tries_polled_by_hand();
    assert_eq!(n, 0, "{n} allocations in {} first-try successes", 2 * CALLS);
}

#[test]
fn async_first_try_allocates_nothing_on_tokio() {
    let _setting = no_subscriber();
    let n = async_first_tries_on_tokio();
    assert_eq!(n, 0, "{n} allocations in {} first-try successes", 3 * CALLS);
}

// ===== the tests: the production setting =====

#[test]
fn sync_first_try_allocates_nothing_with_info_subscriber() {
    let _setting = InfoSubscriber::install();
    let n = sync_first_tries();
    assert_eq!(
        n,
        0,
        "{n} allocations in {} first-try successes with an INFO subscriber",
        3 * CALLS
    );
}

#[test]
fn async_first_try_allocates_nothing_polled_by_hand_with_info_subscriber() {
    let _setting = InfoSubscriber::install();
    let n = async_first_tries_polled_by_hand();
    assert_eq!(
        n,
        0,
        "{n} allocations in {} first-try successes with an INFO subscriber",
        2 * CALLS
    );
}

#[test]
fn async_first_try_allocates_nothing_on_tokio_with_info_subscriber() {
    let _setting = InfoSubscriber::install();
    let n = async_first_tries_on_tokio();
    assert_eq!(
        n,
        0,
        "{n} allocations in {} first-try successes with an INFO subscriber",
        3 * CALLS
    );
}

// ===== the tests: the counter =====

#[test]
fn the_counter_sees_allocations() {
    let n = allocations_in(|| {
        black_box(Vec::<u8>::with_capacity(black_box(1)));
    });
    assert!(
        n >= 1,
        "the counting allocator saw no allocation: the other tests would pass vacuously"
    );
    let boxed = allocations_in(|| {
        black_box(Box::new(black_box(7_u64)));
    });
    assert_eq!(boxed, 1);
}

#[test]
fn the_counter_is_per_thread() {
    // Tests run in parallel: another thread's allocations must not show in this thread's count.
    let barrier = Barrier::new(2);
    let n = std::thread::scope(|s| {
        s.spawn(|| {
            barrier.wait();
            for _ in 0..1_000 {
                black_box(Vec::<u8>::with_capacity(black_box(8)));
            }
            barrier.wait();
        });
        start_counting();
        barrier.wait();
        barrier.wait();
        stop_counting()
    });
    assert_eq!(n, 0);
}
