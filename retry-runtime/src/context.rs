//! The attempt context: what a retried body can ask about the attempt it runs in, and how an
//! inner retried call finds the outer one (to inherit its deadline and not multiply retries).
//!
//! The runtime publishes a pointer to the running call's context in a thread-local for exactly
//! as long as the body runs (sync) or is being polled (async, at every poll, so it follows the
//! task across threads and `.await`s).

use core::fmt;
use std::cell::Cell;
use std::marker::PhantomData;
use std::ptr;
use std::time::{Duration, Instant};

use crate::{clock, RateLimits};

/// What the runtime knows about the attempt in progress; one per logical call, updated between
/// attempts. Cells, since a nested call and the body read it through the published pointer.
pub(crate) struct AttemptCtx {
    number: Cell<u32>,
    max_attempts: Cell<u32>,
    /// Set when the call starts with a deadline, never after.
    deadline: Option<Instant>,
    /// When the call began: at the start when there is a deadline, else the first time
    /// anything needs it, so a first try that never asks never reads the clock.
    started: Cell<Option<Instant>>,
    /// Made when first read.
    key: Cell<Option<IdempotencyKey>>,
    /// Set by a retried call nested in this attempt when it gave up on an error it had already
    /// retried: the outer call must not retry it again.
    inner_gave_up: Cell<bool>,
    /// How long the running attempt may take before the runtime cuts it, when something does,
    /// in nanoseconds (0: no limit). Eight bytes rather than sixteen: the context is in every
    /// retried future, whose size the first try pays for in moves.
    limit_nanos: Cell<u64>,
    /// The rate limits a response of the running attempt published, for the call's gate
    /// (packed: three words rather than eleven in every retried future).
    published: Cell<[u64; 3]>,
    /// The tokens the running attempt's response says it used, plus one (0: not said).
    used_tokens: Cell<u64>,
}

impl AttemptCtx {
    /// The context of a call's first attempt, without a deadline (see [`Self::set_deadline`]).
    #[inline]
    pub(crate) fn new(max_attempts: u32) -> Self {
        AttemptCtx {
            number: Cell::new(1),
            max_attempts: Cell::new(max_attempts),
            deadline: None,
            started: Cell::new(None),
            key: Cell::new(None),
            inner_gave_up: Cell::new(false),
            limit_nanos: Cell::new(0),
            published: Cell::new([0; 3]),
            used_tokens: Cell::new(0),
        }
    }

    /// Notes how long the attempt about to run may take before it is cut.
    pub(crate) fn set_limit(&self, limit: Option<Duration>) {
        let nanos = limit.map_or(0, |limit| {
            u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX).max(1)
        });
        self.limit_nanos.set(nanos);
    }

    /// Gives the call a deadline, and the time it began; only before it is published.
    pub(crate) fn set_deadline(&mut self, deadline: Instant, started: Instant) {
        self.deadline = Some(deadline);
        self.started.set(Some(started));
    }

    /// This attempt's number, 1 for the first.
    #[inline]
    pub(crate) fn number(&self) -> u32 {
        self.number.get()
    }

    #[inline]
    pub(crate) fn max_attempts(&self) -> u32 {
        self.max_attempts.get()
    }

    #[inline]
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Moves on to the next attempt, capped at `max_attempts` in all.
    pub(crate) fn next_attempt(&mut self, max_attempts: u32) {
        self.number.set(self.number.get().saturating_add(1));
        self.max_attempts.set(max_attempts);
    }

    pub(crate) fn key(&self) -> IdempotencyKey {
        if let Some(key) = self.key.get() {
            return key;
        }
        let key = IdempotencyKey::new();
        self.key.set(Some(key));
        key
    }

    #[cfg(test)]
    pub(crate) fn key_if_made(&self) -> Option<IdempotencyKey> {
        self.key.get()
    }

    /// When the call began, if anything has asked yet.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.started.get()
    }

    pub(crate) fn started_or(&self, now: Instant) -> Instant {
        if let Some(started) = self.started.get() {
            return started;
        }
        self.started.set(Some(now));
        now
    }

    /// Notes that a retried call inside this attempt gave up on an error it had retried.
    pub(crate) fn note_inner_gave_up(&self) {
        self.inner_gave_up.set(true);
    }

    /// Whether a nested call gave up since the last time this was asked.
    pub(crate) fn take_inner_gave_up(&self) -> bool {
        self.inner_gave_up.replace(false)
    }

    /// The rate limits reported during the attempt that just ended, if any.
    pub(crate) fn take_published(&self) -> Option<RateLimits> {
        let words = self.published.replace([0; 3]);
        (words != [0; 3]).then(|| RateLimits::unpack(words))
    }

    /// The tokens the attempt that just ended reported it used, if it did.
    pub(crate) fn take_used_tokens(&self) -> Option<u64> {
        self.used_tokens.replace(0).checked_sub(1)
    }

    fn snapshot(&self) -> Attempt {
        let now = clock::now();
        Attempt {
            number: self.number(),
            max_attempts: self.max_attempts(),
            key: self.key(),
            remaining: self
                .deadline()
                .map(|deadline| deadline.saturating_duration_since(now)),
            elapsed: now.saturating_duration_since(self.started_or(now)),
            limit: match self.limit_nanos.get() {
                0 => None,
                nanos => Some(Duration::from_nanos(nanos)),
            },
        }
    }
}

impl fmt::Debug for AttemptCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttemptCtx")
            .field("number", &self.number())
            .field("max_attempts", &self.max_attempts())
            .field("deadline", &self.deadline())
            .field("started", &self.started())
            .finish_non_exhaustive()
    }
}

thread_local! {
    static CURRENT: Cell<*const AttemptCtx> = const { Cell::new(ptr::null()) };
}

/// Publishes `ctx` as the current attempt until the guard drops (also on unwind).
#[inline]
pub(crate) fn enter(ctx: &AttemptCtx) -> Entered<'_> {
    let previous = CURRENT.with(|current| current.replace(ctx));
    Entered {
        previous,
        _ctx: PhantomData,
    }
}

pub(crate) struct Entered<'a> {
    previous: *const AttemptCtx,
    _ctx: PhantomData<&'a AttemptCtx>,
}

impl Drop for Entered<'_> {
    #[inline]
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

/// Runs `f` on the context of the attempt this thread is running, if any.
#[inline]
pub(crate) fn with_current<T>(f: impl FnOnce(&AttemptCtx) -> T) -> Option<T> {
    let current = CURRENT.with(Cell::get);
    // SAFETY: `CURRENT` is non-null only between `enter` and the drop of its guard, which
    // borrows the context for that whole time, so the pointer is valid and the context is
    // not mutably borrowed while it is set.
    unsafe { current.as_ref() }.map(f)
}

/// Hands the rate limits a response published (its `x-ratelimit-*` or `anthropic-ratelimit-*`
/// headers, read with [`RateLimits::from_headers`]) to the retried call this runs in, whose
/// admission gate (`admission = ...`) paces its scope with them when the attempt ends. Outside
/// a retried call, or in one without a gate, it does nothing. The HTTP helpers (`http::check`,
/// feature `reqwest`) call it for every response; call it yourself with a client that hands you
/// the headers some other way.
///
/// ```
/// use retry_runtime::{report_rate_limits, RateLimits};
///
/// report_rate_limits(RateLimits::from_headers([
///     ("x-ratelimit-remaining-requests", "59"),
///     ("x-ratelimit-reset-requests", "1s"),
/// ]));
/// ```
pub fn report_rate_limits(limits: RateLimits) {
    if limits.is_empty() {
        return;
    }
    with_current(|ctx| ctx.published.set(limits.pack()));
}

/// Hands the tokens a response says it used (its `usage.total_tokens`) to the retried call
/// this runs in: its admission gate charged the call's `expected_tokens` when it admitted the
/// attempt, and settles the charge by this count when the attempt succeeds. Outside a retried
/// call, or in one without a gate, it does nothing.
///
/// ```
/// use retry_runtime::report_token_usage;
///
/// // In a retried function, once the response is parsed:
/// report_token_usage(1_234);
/// ```
pub fn report_token_usage(tokens: u64) {
    with_current(|ctx| ctx.used_tokens.set(tokens.saturating_add(1)));
}

/// The attempt the calling code runs in, if it runs inside a `#[retry]` function (or a
/// [`RetryPolicy`](crate::RetryPolicy) call); `None` elsewhere.
///
/// Within nested retried calls it is the innermost one's.
///
/// ```
/// use retry_runtime::{attempt, retry};
///
/// #[retry]
/// fn create_completion(prompt: &str) -> Result<String, std::io::Error> {
///     let attempt = attempt().expect("inside a retried call");
///     // Send the same key on every attempt, so the provider does the work (and bills it) once.
///     let key = attempt.idempotency_key().to_string();
///     Ok(format!("{prompt} (attempt {}/{}, key {key})", attempt.number(), attempt.max_attempts()))
/// }
///
/// assert!(create_completion("hi").unwrap().starts_with("hi (attempt 1/3, key "));
/// assert!(attempt().is_none());
/// ```
#[must_use]
pub fn attempt() -> Option<Attempt> {
    with_current(AttemptCtx::snapshot)
}

/// A snapshot of the attempt in progress: see [`attempt()`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    number: u32,
    max_attempts: u32,
    key: IdempotencyKey,
    remaining: Option<Duration>,
    elapsed: Duration,
    limit: Option<Duration>,
}

impl Attempt {
    /// This attempt's number, 1 for the first.
    #[must_use]
    pub fn number(&self) -> u32 {
        self.number
    }

    /// How many attempts the call may make in all, as things stand: after a failure whose class
    /// has its own cap (`on = [RateLimit(max_attempts = 8)]`), that cap.
    #[must_use]
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The call's idempotency key: made when first asked for, the same for all of its attempts.
    #[must_use]
    pub fn idempotency_key(&self) -> IdempotencyKey {
        self.key
    }

    /// Time left until the call's deadline (or an outer call's, when that is sooner); `None`
    /// without a deadline.
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.remaining
    }

    /// How long this attempt may run before the runtime cuts it, as it began: the smaller of
    /// `attempt_timeout` and the time then left before the deadline, on an async fn whose
    /// attempts are cut; `None` when nothing cuts it (a sync fn, or neither is set). A body can
    /// hand it to its HTTP client as a timeout, or show it.
    ///
    /// ```
    /// use retry_runtime::{attempt, retry};
    ///
    /// #[retry(attempt_timeout = 250ms)]
    /// async fn fetch() -> Result<Option<std::time::Duration>, std::io::Error> {
    ///     Ok(attempt().and_then(|a| a.limit()))
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// assert_eq!(fetch().await.unwrap(), Some(std::time::Duration::from_millis(250)));
    /// # }
    /// ```
    #[must_use]
    pub fn limit(&self) -> Option<Duration> {
        self.limit
    }

    /// Time since the call began. Without a deadline the clock is first read when something
    /// needs it (this context, or the first failure), so during a first attempt this counts from
    /// the first time the body asked.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// One logical call's idempotency key: a random UUID (version 4), displayed in its hyphenated
/// form (`67e55044-10b1-426f-9247-bb680e5fe0c8`), as the `Idempotency-Key` header expects.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(uuid::Uuid);

impl IdempotencyKey {
    /// A fresh key from the operating system's random source (never from a test seed, so keys
    /// stay unique across processes).
    #[must_use]
    pub fn new() -> Self {
        IdempotencyKey(uuid::Uuid::new_v4())
    }

    /// The key's 16 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }
}

impl Default for IdempotencyKey {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdempotencyKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_context_outside_a_call() {
        assert!(attempt().is_none());
    }

    #[test]
    fn context_is_published_while_entered_and_restored_after() {
        let outer = AttemptCtx::new(3);
        let inner = AttemptCtx::new(5);
        {
            let _outer = enter(&outer);
            assert_eq!(attempt().unwrap().max_attempts(), 3);
            {
                let _inner = enter(&inner);
                assert_eq!(attempt().unwrap().max_attempts(), 5);
            }
            assert_eq!(attempt().unwrap().max_attempts(), 3);
        }
        assert!(attempt().is_none());
    }

    #[test]
    fn key_is_made_once_and_kept() {
        let ctx = AttemptCtx::new(3);
        assert!(ctx.key_if_made().is_none());
        let _entered = enter(&ctx);
        let first = attempt().unwrap().idempotency_key();
        assert_eq!(attempt().unwrap().idempotency_key(), first);
        assert_eq!(ctx.key_if_made(), Some(first));
        let text = first.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.as_bytes()[14], b'4', "version 4 UUID: {text}");
    }

    #[test]
    fn numbers_and_flags_survive_every_step() {
        let mut ctx = AttemptCtx::new(5);
        assert_eq!((ctx.number(), ctx.max_attempts()), (1, 5));
        assert_eq!((ctx.deadline(), ctx.started()), (None, None));
        let now = Instant::now();
        let deadline = now + Duration::from_secs(3);
        ctx.set_deadline(deadline, now);
        let key = ctx.key();
        ctx.note_inner_gave_up();
        ctx.next_attempt(8);
        assert_eq!((ctx.number(), ctx.max_attempts()), (2, 8));
        assert_eq!((ctx.deadline(), ctx.started()), (Some(deadline), Some(now)));
        assert_eq!(ctx.key(), key);
        assert!(ctx.take_inner_gave_up());
        assert!(!ctx.take_inner_gave_up());
        ctx.next_attempt(u32::MAX);
        assert_eq!((ctx.number(), ctx.max_attempts()), (3, u32::MAX));
        assert_eq!(ctx.key(), key, "flags survive every step");
    }

    #[test]
    fn context_is_restored_on_panic() {
        let ctx = AttemptCtx::new(3);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _entered = enter(&ctx);
            panic!("body panicked");
        }));
        assert!(result.is_err());
        assert!(attempt().is_none());
    }
}
