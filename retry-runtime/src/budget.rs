//! Retry budgets: retries capped at a share of recent first attempts, so that retries cannot
//! multiply the load on a provider that is failing (the idea of Finagle's `RetryBudget`, gRPC's
//! retry throttling and tower's `TpsBudget`).

use core::fmt;
use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use crate::keyed::{Bounds, KeyedMap};
use crate::window::ring::{self, Lazy, Ring, Sums, BUCKETS};
use crate::window::{bucket_ms, ratio_ppm, Timeline, Turn};
use crate::Clock;

/// The largest `ratio` a budget takes: ten retries for every first attempt.
const MAX_RATIO: f64 = 10.0;
/// The largest `min_per_second` a budget takes.
const MAX_PER_SECOND: f64 = 1_000_000.0;

/// A budget's settings, brought into range by the builder.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Settings {
    /// Retries per first attempt, in parts per million (0..=10 000 000).
    ratio_ppm: u32,
    /// The floor, in retries per second (0.0..=1e6).
    min_per_second: f64,
    /// The width of one of the window's 10 buckets, in milliseconds (≥ 1).
    bucket_ms: u64,
    /// Retries a window allows whatever its first attempts: `⌊min_per_second × window⌋`,
    /// kept up to date by the builder.
    reserve: u64,
}

impl Settings {
    const fn window_ms(&self) -> u64 {
        self.bucket_ms * BUCKETS
    }

    /// These settings with `reserve` worked out again.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    const fn with_reserve(mut self) -> Self {
        // The small addend keeps products such as 0.3 × 10 from rounding down to 2.
        self.reserve = (self.min_per_second * self.window_ms() as f64 / 1000.0 + 1e-9) as u64;
        self
    }

    /// Retries a window with `deposits` first attempts allows:
    /// `⌊ratio × deposits⌋ + reserve`.
    const fn allowance(&self, deposits: u64) -> u64 {
        // Below 2^48: a window counts fewer than 2^24 deposits, and ratio_ppm < 2^24.
        let earned = self.ratio_ppm as u64 * deposits / 1_000_000;
        earned.saturating_add(self.reserve)
    }

    /// The one decision of a budget: whether a window whose counts are `sums` (deposits in
    /// `a`, withdrawals in `b`) allows one more withdrawal.
    const fn allows(&self, sums: Sums) -> bool {
        sums.b < self.allowance(sums.a)
    }
}

/// A retry budget: retries allowed as a share (`ratio`) of the first attempts of a sliding
/// window, plus a floor (`min_per_second`) so that a quiet client may still retry.
///
/// Call [`deposit`](Self::deposit) at every first attempt, and
/// [`try_withdraw`](Self::try_withdraw) before every retry: `false` means the budget is spent,
/// and the call should return its error instead of retrying. Both are lock-free.
///
/// # Invariant
/// The window is kept as 10 buckets of `window / 10`; the newest is the bucket of the latest
/// clock reading of any operation on the budget. A withdrawal reads the clock, and succeeds only
/// if, counting it,
///
/// > withdrawals in the newest 10 buckets ≤ ⌊`ratio` × deposits in those buckets⌋ +
/// > ⌊`min_per_second` × `window`⌋
///
/// and the check and the count are one atomic step, so this holds exactly under any
/// concurrency. In time: when each operation takes effect at its clock reading, every retry
/// granted at a time `t` satisfies
///
/// > retries granted in (`t` − 0.9 × `window`, `t`] ≤
/// > ⌊`ratio` × first attempts in (`t` − `window`, `t`]⌋ + ⌊`min_per_second` × `window`⌋.
///
/// (A withdrawal stays counted for 9 to 10 buckets after it, a deposit for at most 10: that
/// tenth of the window is the bucketing's slack.) Deposits read the clock only at every 16th
/// deposit of a bucket, so up to 15 may be counted in an earlier bucket than theirs (the one of
/// the budget's latest look at the clock) and leave the window early, and a withdrawal may
/// miss such a late deposit once its bucket is no longer the newest: both only make the
/// budget stricter. A bucket counts at most 2^20 − 1 deposits and as many withdrawals; past
/// that, deposits are not counted and withdrawals are refused.
///
/// # Defaults and ranges
/// The builder methods are `const` and never fail: out-of-range values are clamped.
///
/// | setting | default | range |
/// | --- | --- | --- |
/// | [`ratio`](Self::ratio) | 0.1 | 0.0..=10.0 (NaN: 0.0) |
/// | [`min_per_second`](Self::min_per_second) | 1.0 | 0.0..=1e6 (NaN: 0.0) |
/// | [`window`](Self::window) | 10 s | 10 ms..=1 day, in whole ms per tenth |
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::RetryBudget;
///
/// static BUDGET: RetryBudget = RetryBudget::new()
///     .ratio(0.1)
///     .min_per_second(0.5)
///     .window(Duration::from_secs(10));
///
/// # let _clock = retry_runtime::testing::record_sleeps();
/// // 100 first attempts earn 10 retries, plus 5 from the floor (0.5/s over 10 s).
/// for _ in 0..100 {
///     BUDGET.deposit();
/// }
/// let granted = (0..50).filter(|_| BUDGET.try_withdraw()).count();
/// assert_eq!(granted, 15);
/// ```
pub struct RetryBudget {
    settings: Settings,
    ring: Ring,
    time: Timeline,
    /// The store the fleet shares this budget through, and the budget's name there.
    shared: Option<(&'static dyn SharedBudgets, &'static str)>,
    /// A key's scope there, for a budget of [`KeyedBudgets`] (the name's otherwise).
    key_scope: Option<Box<str>>,
    /// First attempts not yet added to the fleet's window.
    pending: AtomicU64,
    /// Adding them to the fleet's window: at most once per staleness bound.
    flush: Turn,
}

/// A store the fleet shares retry budgets through.
pub(crate) trait SharedBudgets: Sync {
    /// Adds `deposits` first attempts to `scope`'s window and, if `withdraw`, takes a retry
    /// if the fleet's window allows one: `Some(taken)`; `None` when the store did not answer.
    fn exchange(
        &self,
        scope: &str,
        deposits: u64,
        withdraw: bool,
        terms: BudgetTerms,
    ) -> Option<bool>;

    /// How long first attempts may wait before they are added to the fleet's window (ms).
    fn staleness_ms(&self) -> u64;
}

/// A budget's terms, as a shared store applies them.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(not(feature = "redis"), allow(dead_code))] // only a shared store reads them
pub(crate) struct BudgetTerms {
    pub(crate) ratio_ppm: u32,
    pub(crate) reserve: u64,
    pub(crate) window_ms: u64,
}

impl RetryBudget {
    /// A budget with the defaults: `ratio` 0.1, `min_per_second` 1.0, `window` 10 s.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::RetryBudget;
    ///
    /// static BUDGET: RetryBudget = RetryBudget::new();
    /// assert_eq!(BUDGET.window_value(), Duration::from_secs(10));
    /// assert_eq!(BUDGET.snapshot().reserve, 10); // 1 retry a second over 10 s
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        RetryBudget::with_settings(Settings {
            ratio_ppm: 100_000,
            min_per_second: 1.0,
            bucket_ms: 1_000,
            reserve: 10,
        })
    }

    const fn with_settings(settings: Settings) -> Self {
        RetryBudget {
            settings,
            ring: Ring::new(),
            time: Timeline::new(),
            shared: None,
            key_scope: None,
            pending: AtomicU64::new(0),
            flush: Turn::new(),
        }
    }

    /// Retries allowed per first attempt in the window: 0.1 lets retries add at most 10 % to
    /// the load. Clamped into 0.0..=10.0; NaN counts as 0.0.
    ///
    /// ```
    /// use retry_runtime::RetryBudget;
    /// let budget = RetryBudget::new().ratio(0.5).min_per_second(0.0);
    /// (0..10).for_each(|_| budget.deposit());
    /// assert_eq!((0..10).filter(|_| budget.try_withdraw()).count(), 5);
    /// let never = RetryBudget::new().ratio(f64::NAN).min_per_second(0.0);
    /// never.deposit();
    /// assert!(!never.try_withdraw());
    /// ```
    #[must_use]
    pub const fn ratio(mut self, ratio: f64) -> Self {
        self.settings.ratio_ppm = ratio_ppm(ratio, MAX_RATIO, 0.0);
        self
    }

    /// Retries allowed per second of the window whatever the first attempts: the window allows
    /// `⌊min_per_second × window⌋` more. Clamped into 0.0..=1e6; NaN counts as 0.0.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::RetryBudget;
    ///
    /// let budget = RetryBudget::new().min_per_second(0.5).window(Duration::from_secs(20));
    /// assert_eq!(budget.snapshot().reserve, 10);
    /// assert_eq!(RetryBudget::new().min_per_second(-1.0).snapshot().reserve, 0);
    /// ```
    #[must_use]
    pub const fn min_per_second(mut self, retries: f64) -> Self {
        self.settings.min_per_second = if retries.is_nan() || retries < 0.0 {
            0.0
        } else if retries > MAX_PER_SECOND {
            MAX_PER_SECOND
        } else {
            retries
        };
        self.settings = self.settings.with_reserve();
        self
    }

    /// The sliding window, kept as 10 buckets: clamped into 10 ms..=1 day and rounded down to
    /// whole milliseconds per bucket.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::RetryBudget;
    ///
    /// let budget = RetryBudget::new().window(Duration::from_secs(30));
    /// assert_eq!(budget.window_value(), Duration::from_secs(30));
    /// let shortest = RetryBudget::new().window(Duration::ZERO);
    /// assert_eq!(shortest.window_value(), Duration::from_millis(10));
    /// ```
    #[must_use]
    pub const fn window(mut self, window: Duration) -> Self {
        self.settings.bucket_ms = bucket_ms(window);
        self.settings = self.settings.with_reserve();
        self
    }

    /// Reads `clock` instead of the runtime's clock (see [`Clock`]): a test moves this budget's
    /// window by hand, the same for every thread. [`KeyedBudgets`] made from it read it too.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing::TestClock, RetryBudget};
    ///
    /// static CLOCK: TestClock = TestClock::new();
    /// static BUDGET: RetryBudget = RetryBudget::new()
    ///     .ratio(0.5)
    ///     .min_per_second(0.0)
    ///     .window(Duration::from_secs(10))
    ///     .clock(&CLOCK);
    ///
    /// std::thread::spawn(|| (0..10).for_each(|_| BUDGET.deposit())).join().unwrap();
    /// assert_eq!(BUDGET.snapshot().available, 5);
    /// CLOCK.advance(Duration::from_secs(11)); // the deposits leave the window
    /// assert_eq!(BUDGET.snapshot().available, 0);
    /// ```
    #[must_use]
    pub const fn clock(mut self, clock: &'static dyn Clock) -> Self {
        self.time.set_clock(clock);
        self
    }

    /// Counts a first attempt. Reads the clock once every 16 deposits.
    ///
    /// ```
    /// use retry_runtime::RetryBudget;
    /// let budget = RetryBudget::new().ratio(0.1).min_per_second(0.0);
    /// for _ in 0..20 {
    ///     budget.deposit();
    /// }
    /// assert_eq!(budget.snapshot().available, 2);
    /// ```
    #[inline]
    pub fn deposit(&self) {
        self.deposit_with(|| self.time.now_ms());
        if let Some((store, scope)) = self.shared {
            self.deposit_shared(store, self.key_scope.as_deref().unwrap_or(scope));
        }
    }

    /// Shares this budget with every process whose budget of the same `scope` uses `store`:
    /// first attempts count in one window for the fleet (each process adds its own at most
    /// the store's staleness bound late), and each retry is taken from it, one round trip. A
    /// store that does not answer leaves the process deciding on its own counts.
    ///
    /// ```no_run
    /// use retry_runtime::{RedisStore, RetryBudget};
    ///
    /// static FLEET: RedisStore = RedisStore::new("redis://127.0.0.1:6379/");
    /// static BUDGET: RetryBudget = RetryBudget::new().ratio(0.1).shared("openai", &FLEET);
    /// ```
    #[cfg(feature = "redis")]
    #[must_use]
    pub const fn shared(mut self, scope: &'static str, store: &'static crate::RedisStore) -> Self {
        self.shared = Some((store, scope));
        self
    }

    /// Counts a first attempt for the fleet: added with the others of this process once the
    /// last ones were added a staleness bound ago.
    #[cold]
    fn deposit_shared(&self, store: &dyn SharedBudgets, scope: &str) {
        self.pending.fetch_add(1, Relaxed);
        if self.flush.take(self.time.now_ms(), store.staleness_ms()) {
            let deposits = self.pending.swap(0, Relaxed);
            if store
                .exchange(scope, deposits, false, self.terms())
                .is_none()
            {
                // Kept for the next time the store answers.
                self.pending.fetch_add(deposits, Relaxed);
            }
        }
    }

    fn terms(&self) -> BudgetTerms {
        BudgetTerms {
            ratio_ppm: self.settings.ratio_ppm,
            reserve: self.settings.reserve,
            window_ms: self.settings.window_ms(),
        }
    }

    /// Takes one retry from the budget if it has one: `false` when it is spent.
    ///
    /// ```
    /// use retry_runtime::RetryBudget;
    ///
    /// // No floor and no first attempts: nothing to spend.
    /// let budget = RetryBudget::new().min_per_second(0.0);
    /// assert!(!budget.try_withdraw());
    /// (0..10).for_each(|_| budget.deposit());
    /// assert!(budget.try_withdraw()); // 10 × 0.1
    /// assert!(!budget.try_withdraw());
    /// ```
    pub fn try_withdraw(&self) -> bool {
        if let Some((store, scope)) = self.shared {
            let scope = self.key_scope.as_deref().unwrap_or(scope);
            let deposits = self.pending.swap(0, Relaxed);
            match store.exchange(scope, deposits, true, self.terms()) {
                Some(taken) => return taken,
                None => {
                    self.pending.fetch_add(deposits, Relaxed);
                }
            }
        }
        self.try_withdraw_at(self.time.now_ms())
    }

    /// The counts of the window now.
    ///
    /// ```
    /// use retry_runtime::RetryBudget;
    ///
    /// let budget = RetryBudget::new(); // floor: 1/s over 10 s
    /// (0..20).for_each(|_| budget.deposit());
    /// assert!(budget.try_withdraw());
    /// let snap = budget.snapshot();
    /// assert_eq!((snap.deposits, snap.withdrawals, snap.reserve), (20, 1, 10));
    /// assert_eq!(snap.available, 2 + 10 - 1);
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> BudgetSnapshot {
        self.snapshot_at(self.time.now_ms())
    }

    /// The budget's window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::RetryBudget;
    ///
    /// assert_eq!(RetryBudget::new().window_value(), Duration::from_secs(10));
    /// ```
    #[must_use]
    pub const fn window_value(&self) -> Duration {
        Duration::from_millis(self.settings.window_ms())
    }

    const fn tick(&self, now_ms: u64) -> u64 {
        now_ms / self.settings.bucket_ms
    }

    /// [`deposit`](Self::deposit), with the clock given (and read only when needed).
    #[inline]
    pub(crate) fn deposit_with(&self, now_ms: impl FnOnce() -> u64) {
        match self.ring.add_lazy(1, 0) {
            Lazy::Added { a } if !ring::time_to_look(a) => {}
            Lazy::Added { .. } => {
                self.ring.advance_to(self.tick(now_ms()));
            }
            Lazy::NeedsTick => {
                self.ring.add_at(self.tick(now_ms()), 1, 0);
            }
        }
    }

    /// [`try_withdraw`](Self::try_withdraw) at `now_ms`.
    pub(crate) fn try_withdraw_at(&self, now_ms: u64) -> bool {
        let settings = self.settings;
        self.ring
            .take_hot_if(self.tick(now_ms), |sums| settings.allows(sums))
    }

    /// [`snapshot`](Self::snapshot) at `now_ms`.
    pub(crate) fn snapshot_at(&self, now_ms: u64) -> BudgetSnapshot {
        let sums = self
            .ring
            .sums(self.ring.head_word(), Some(self.tick(now_ms)));
        BudgetSnapshot {
            deposits: sums.a,
            withdrawals: sums.b,
            reserve: self.settings.reserve,
            available: self.settings.allowance(sums.a).saturating_sub(sums.b),
            window: self.window_value(),
        }
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RetryBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryBudget")
            .field("ratio", &(f64::from(self.settings.ratio_ppm) / 1e6))
            .field("min_per_second", &self.settings.min_per_second)
            .field("window", &self.window_value())
            .finish_non_exhaustive()
    }
}

/// The counts of a [`RetryBudget`]'s window, from [`RetryBudget::snapshot`].
///
/// ```
/// use retry_runtime::RetryBudget;
///
/// let budget = RetryBudget::new().ratio(0.5).min_per_second(0.0);
/// budget.deposit();
/// budget.deposit();
/// assert!(budget.try_withdraw());
/// let snap = budget.snapshot();
/// assert_eq!((snap.deposits, snap.withdrawals, snap.available), (2, 1, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BudgetSnapshot {
    /// First attempts counted in the window.
    pub deposits: u64,
    /// Retries granted in the window.
    pub withdrawals: u64,
    /// Retries the window allows whatever its first attempts (`⌊min_per_second × window⌋`).
    pub reserve: u64,
    /// Retries the budget would grant now: `⌊ratio × deposits⌋ + reserve − withdrawals`.
    pub available: u64,
    /// The window.
    pub window: Duration,
}

// ===== keyed budgets =====

/// A [`RetryBudget`] per key (per user, per tenant, per feature), made on first use from one
/// template, with bounded memory: keys unused for [`idle_after`](Self::idle_after) are
/// dropped, and the number of keys is capped ([`max_keys`](Self::max_keys)); when a new key
/// finds the map full, the least recently used eighth of the keys is dropped.
///
/// [`for_key`](Self::for_key) takes a lock for a hash-map look-up: a few tens of nanoseconds.
/// Hold on to the `Arc` it returns for the duration of a call. A key dropped and used again
/// starts a fresh budget: after an idle period as long as the window that is the same thing (its
/// window was empty); a key dropped by the cap loses its counts.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{KeyedBudgets, RetryBudget};
///
/// static PER_USER: KeyedBudgets = KeyedBudgets::new(RetryBudget::new().ratio(0.2))
///     .max_keys(50_000)
///     .idle_after(Duration::from_secs(300));
///
/// let alice = PER_USER.for_key("alice");
/// alice.deposit();
/// assert!(alice.try_withdraw()); // the floor
/// assert_eq!(PER_USER.for_key("alice").snapshot().withdrawals, 1);
/// assert_eq!(PER_USER.for_key("bob").snapshot().withdrawals, 0);
/// assert_eq!(PER_USER.len(), 2);
/// ```
pub struct KeyedBudgets<K = String> {
    template: Settings,
    /// The template's shared store: each key's budget shares its own scope there.
    shared: Option<(&'static dyn SharedBudgets, &'static str)>,
    /// On the template's clock: the keys' idle times, and each key's budget anew.
    time: Timeline,
    max_keys: usize,
    idle_ms: u64,
    keys: KeyedMap<K, RetryBudget>,
}

impl<K> KeyedBudgets<K> {
    /// Budgets made like `budget` (its settings, and its shared store if it has one, where
    /// each key is a scope of its own; its counts are not used), at most 10 000 keys, dropped
    /// after 10 minutes unused.
    ///
    /// ```
    /// use retry_runtime::{KeyedBudgets, RetryBudget};
    /// static PER_FEATURE: KeyedBudgets = KeyedBudgets::new(RetryBudget::new().ratio(0.2));
    /// assert!(PER_FEATURE.is_empty());
    /// PER_FEATURE.for_key("summarise").deposit();
    /// assert_eq!(PER_FEATURE.len(), 1);
    /// ```
    #[must_use]
    pub const fn new(budget: RetryBudget) -> Self {
        let settings = budget.settings;
        let time = budget.time.fresh();
        let shared = budget.shared;
        // `const` cannot run a destructor; the template owns no memory to free (its counts are
        // atomics, its timeline at most one instant).
        std::mem::forget(budget);
        KeyedBudgets {
            template: settings,
            shared,
            time,
            max_keys: 10_000,
            idle_ms: 600_000,
            keys: KeyedMap::new(),
        }
    }

    /// The most keys kept (at least 1).
    ///
    /// ```
    /// use retry_runtime::{KeyedBudgets, RetryBudget};
    /// let per_user: KeyedBudgets<u32> = KeyedBudgets::new(RetryBudget::new()).max_keys(8);
    /// for user in 0..100 {
    ///     per_user.for_key(&user).deposit();
    /// }
    /// assert!(per_user.len() <= 8);
    /// ```
    #[must_use]
    pub const fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = if keys == 0 { 1 } else { keys };
        self
    }

    /// How long a key is kept unused; never less than the budgets' window (a key is not dropped
    /// while its window still counts something).
    ///
    /// ```
    /// use std::time::Duration;
    /// use retry_runtime::{testing, KeyedBudgets, RetryBudget};
    ///
    /// let clock = testing::record_sleeps();
    /// let per_user: KeyedBudgets =
    ///     KeyedBudgets::new(RetryBudget::new()).idle_after(Duration::from_secs(60));
    /// per_user.for_key("alice");
    /// clock.advance(Duration::from_secs(60));
    /// per_user.for_key("bob"); // alice was idle for a minute: dropped
    /// assert_eq!(per_user.len(), 1);
    /// ```
    #[must_use]
    pub const fn idle_after(mut self, idle: Duration) -> Self {
        let ms = idle.as_millis();
        self.idle_ms = if ms > u64::MAX as u128 {
            u64::MAX
        } else {
            ms as u64
        };
        self
    }

    const fn idle_ms(&self) -> u64 {
        let window = self.template.window_ms();
        if self.idle_ms < window {
            window
        } else {
            self.idle_ms
        }
    }

    /// The number of keys held now.
    ///
    /// ```
    /// use retry_runtime::{KeyedBudgets, RetryBudget};
    /// let per_user: KeyedBudgets = KeyedBudgets::new(RetryBudget::new());
    /// per_user.for_key("alice");
    /// per_user.for_key("alice");
    /// assert_eq!(per_user.len(), 1);
    /// ```
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    ///
    /// ```
    /// use retry_runtime::{KeyedBudgets, RetryBudget};
    /// let per_user: KeyedBudgets = KeyedBudgets::new(RetryBudget::new());
    /// assert!(per_user.is_empty());
    /// ```
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq> KeyedBudgets<K> {
    /// The budget of `key`, made if it has none. Keys are looked up by borrowed form: a
    /// `KeyedBudgets<String>` takes a `&str`.
    ///
    /// ```
    /// use retry_runtime::{KeyedBudgets, RetryBudget};
    ///
    /// let per_tenant: KeyedBudgets<u64> = KeyedBudgets::new(RetryBudget::new());
    /// let tenant = 42;
    /// per_tenant.for_key(&tenant).deposit();
    /// assert_eq!(per_tenant.for_key(&tenant).snapshot().deposits, 1);
    /// assert_eq!(per_tenant.for_key(&7).snapshot().deposits, 0);
    /// ```
    pub fn for_key<Q>(&self, key: &Q) -> Arc<RetryBudget>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        self.for_key_at(key, self.time.now_ms())
    }

    /// Drops `key`'s budget; whether it had one.
    ///
    /// ```
    /// use retry_runtime::{KeyedBudgets, RetryBudget};
    /// let per_user: KeyedBudgets = KeyedBudgets::new(RetryBudget::new());
    /// per_user.for_key("alice");
    /// assert!(per_user.remove("alice"));
    /// assert!(!per_user.remove("alice"));
    /// assert!(per_user.is_empty());
    /// ```
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.keys.remove(key)
    }

    pub(crate) fn for_key_at<Q>(&self, key: &Q, now_ms: u64) -> Arc<RetryBudget>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let bounds = Bounds {
            max_keys: self.max_keys,
            idle_ms: self.idle_ms(),
        };
        self.keys.get_or_make(key, now_ms, bounds, || RetryBudget {
            time: self.time.fresh(),
            shared: self.shared,
            key_scope: self
                .shared
                .map(|(_, scope)| crate::keyed::scope_of_key(scope, key)),
            ..RetryBudget::with_settings(self.template)
        })
    }
}

impl<K> fmt::Debug for KeyedBudgets<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBudgets")
            .field("budget", &RetryBudget::with_settings(self.template))
            .field("max_keys", &self.max_keys)
            .field("idle_after", &Duration::from_millis(self.idle_ms()))
            .field("keys", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests;
