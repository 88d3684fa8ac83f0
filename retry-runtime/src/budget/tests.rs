//! The budget's arithmetic, its window, its invariant under threads (on a shared test clock
//! stepped between batches of concurrent operations), and the bounded memory of keyed budgets.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Barrier;

use super::*;

/// 0.1 retry per first attempt, a floor of 2/s over a 1 s window (reserve 2), 100 ms buckets.
const fn small() -> RetryBudget {
    RetryBudget::new()
        .ratio(0.1)
        .min_per_second(2.0)
        .window(Duration::from_secs(1))
}

fn deposit_at(budget: &RetryBudget, now_ms: u64, n: u64) {
    for _ in 0..n {
        budget.deposit_with(|| now_ms);
    }
}

fn drain_at(budget: &RetryBudget, now_ms: u64) -> u64 {
    let mut granted = 0;
    while budget.try_withdraw_at(now_ms) {
        granted += 1;
    }
    granted
}

#[test]
fn retries_are_a_share_of_first_attempts_plus_the_floor() {
    let budget = small();
    assert_eq!(drain_at(&budget, 0), 2, "the floor alone");
    deposit_at(&budget, 0, 55);
    assert_eq!(drain_at(&budget, 0), 5, "⌊0.1 × 55⌋ + 2, less the 2 taken");
    deposit_at(&budget, 0, 5);
    assert_eq!(drain_at(&budget, 0), 1, "⌊0.1 × 60⌋ + 2, less the 7 taken");
    let snap = budget.snapshot_at(0);
    assert_eq!(
        (
            snap.deposits,
            snap.withdrawals,
            snap.reserve,
            snap.available
        ),
        (60, 8, 2, 0)
    );
    assert_eq!(snap.window, Duration::from_secs(1));
}

#[test]
fn counts_leave_the_window_bucket_by_bucket() {
    let budget = small();
    deposit_at(&budget, 0, 100); // bucket 0: 10 retries earned
    assert_eq!(drain_at(&budget, 0), 12);
    // Withdrawals stay counted for 9 buckets at least: nothing more until bucket 0 leaves.
    assert_eq!(drain_at(&budget, 999), 0);
    assert_eq!(budget.snapshot_at(999).withdrawals, 12);
    // At 1 s, bucket 0 (its deposits and withdrawals) has left: the floor is back.
    assert_eq!(drain_at(&budget, 1_000), 2);
    let snap = budget.snapshot_at(1_000);
    assert_eq!((snap.deposits, snap.withdrawals), (0, 2));
    // A long idle forgets everything.
    assert_eq!(budget.snapshot_at(60_000).withdrawals, 0);
    assert_eq!(drain_at(&budget, 60_000), 2);
}

#[test]
fn deposits_read_the_clock_every_16th() {
    let budget = small();
    let reads = std::cell::Cell::new(0);
    let clock = |now: u64| {
        reads.set(reads.get() + 1);
        now
    };
    budget.deposit_with(|| clock(0));
    assert_eq!(reads.get(), 1, "a new budget starts its window");
    for _ in 1..32 {
        budget.deposit_with(|| clock(5_000));
    }
    assert_eq!(reads.get(), 3, "at the 16th and the 32nd");
    // The 15 deposits before the look at 5 s counted in the bucket of 0 s, and left the window
    // with it: stricter, never looser.
    assert_eq!(budget.snapshot_at(5_000).deposits, 16);
    assert_eq!(budget.snapshot_at(5_000).withdrawals, 0);
}

#[test]
fn bad_input_is_clamped() {
    let s = |b: RetryBudget| b.settings;
    assert_eq!(s(RetryBudget::new().ratio(f64::NAN)).ratio_ppm, 0);
    assert_eq!(s(RetryBudget::new().ratio(-1.0)).ratio_ppm, 0);
    assert_eq!(s(RetryBudget::new().ratio(1e300)).ratio_ppm, 10_000_000);
    assert_eq!(s(RetryBudget::new().ratio(0.2)).ratio_ppm, 200_000);
    assert_eq!(s(RetryBudget::new().min_per_second(f64::NAN)).reserve, 0);
    assert_eq!(s(RetryBudget::new().min_per_second(-5.0)).reserve, 0);
    assert_eq!(
        s(RetryBudget::new().min_per_second(f64::INFINITY)).reserve,
        10_000_000
    );
    assert_eq!(s(RetryBudget::new().min_per_second(0.3)).reserve, 3);
    assert_eq!(
        RetryBudget::new().window(Duration::ZERO).window_value(),
        Duration::from_millis(10)
    );
    assert_eq!(
        RetryBudget::new().window(Duration::MAX).window_value(),
        Duration::from_secs(86_400)
    );
    assert_eq!(
        RetryBudget::new()
            .window(Duration::from_millis(1_234))
            .window_value(),
        Duration::from_millis(1_230)
    );
    let never = RetryBudget::new().ratio(f64::NAN).min_per_second(f64::NAN);
    deposit_at(&never, 0, 1_000);
    assert!(!never.try_withdraw_at(0));
    assert!(format!("{never:?}").contains("ratio: 0.0"));
}

#[test]
fn a_budget_lives_in_a_static_and_is_sync() {
    static SHARED: RetryBudget = RetryBudget::new();
    fn assert_sync<T: Sync + Send>(_: &T) {}
    assert_sync(&SHARED);
    let _clock = crate::testing::record_sleeps();
    SHARED.deposit();
    assert!(SHARED.try_withdraw());
}

/// The documented invariant in time, under threads: four threads deposit and withdraw at once
/// in batches; between batches the shared clock steps (by up to two buckets, and now and then
/// past the whole window). For every batch that was granted a retry at time `t`: retries in
/// (t − 0.9 × window, t] ≤ ⌊ratio × deposits in (t − window, t]⌋ + reserve.
#[test]
fn the_invariant_holds_under_threads() {
    const THREADS: usize = 4;
    const BATCHES: usize = 300;
    const WINDOW_MS: u64 = 1_000;
    let budget = RetryBudget::new()
        .ratio(0.25)
        .min_per_second(3.0)
        .window(Duration::from_millis(WINDOW_MS));
    let reserve = budget.settings.reserve;
    assert_eq!(reserve, 3);
    let now = AtomicU64::new(1_000_000);
    let times: Vec<AtomicU64> = (0..BATCHES).map(|_| AtomicU64::new(0)).collect();
    let deposits: Vec<AtomicU64> = (0..BATCHES).map(|_| AtomicU64::new(0)).collect();
    let granted: Vec<AtomicU64> = (0..BATCHES).map(|_| AtomicU64::new(0)).collect();
    let refused = AtomicU64::new(0);
    let barrier = Barrier::new(THREADS);
    std::thread::scope(|s| {
        for thread in 0..THREADS as u64 {
            let (budget, now, times, deposits, granted, refused, barrier) = (
                &budget, &now, &times, &deposits, &granted, &refused, &barrier,
            );
            s.spawn(move || {
                let mut rng = (thread + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut next = move || {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng
                };
                for batch in 0..BATCHES {
                    let t = now.load(SeqCst);
                    times[batch].store(t, SeqCst);
                    // Deposit-heavy in some batches, retry-heavy in others.
                    let mix = next() % 4;
                    for _ in 0..40 {
                        if next() % 4 < mix {
                            if budget.try_withdraw_at(t) {
                                granted[batch].fetch_add(1, SeqCst);
                            } else {
                                refused.fetch_add(1, SeqCst);
                            }
                        } else {
                            budget.deposit_with(|| now.load(SeqCst));
                            deposits[batch].fetch_add(1, SeqCst);
                        }
                    }
                    if barrier.wait().is_leader() {
                        let step = match next() % 20 {
                            0 => 2 * WINDOW_MS + next() % WINDOW_MS,
                            n => (n % 5) * 50 + next() % 10,
                        };
                        now.fetch_add(step, SeqCst);
                    }
                    barrier.wait();
                }
            });
        }
    });
    let load = |v: &[AtomicU64]| v.iter().map(|a| a.load(SeqCst)).collect::<Vec<_>>();
    let (times, deposits, granted) = (load(&times), load(&deposits), load(&granted));
    let mut checked = 0;
    let mut tight = 0;
    for p in 0..BATCHES {
        if granted[p] == 0 {
            continue;
        }
        let t = times[p];
        let times = &times;
        let in_span = |span: u64| (0..=p).filter(move |&q| times[q] + span > t);
        let retries: u64 = in_span(WINDOW_MS * 9 / 10).map(|q| granted[q]).sum();
        let firsts: u64 = in_span(WINDOW_MS).map(|q| deposits[q]).sum();
        let bound = firsts / 4 + reserve;
        assert!(
            retries <= bound,
            "batch {p} at {t}: {retries} retries > ⌊0.25 × {firsts}⌋ + {reserve}"
        );
        checked += 1;
        if retries + 3 >= bound {
            tight += 1;
        }
    }
    assert!(checked > 100, "only {checked} batches granted a retry");
    assert!(refused.load(SeqCst) > 1_000, "the budget was never spent");
    assert!(tight > 20, "the bound was approached only {tight} times");
}

// ===== keyed budgets =====

#[test]
fn a_key_keeps_its_budget() {
    let keyed: KeyedBudgets = KeyedBudgets::new(small());
    let a = keyed.for_key_at("a", 0);
    assert!(Arc::ptr_eq(&a, &keyed.for_key_at("a", 10)));
    assert!(!Arc::ptr_eq(&a, &keyed.for_key_at("b", 10)));
    assert_eq!(keyed.len(), 2);
    assert!(keyed.remove("a"));
    assert!(!keyed.remove("a"));
    assert_eq!(keyed.len(), 1);
    assert_eq!(
        keyed.for_key_at("c", 0).window_value(),
        Duration::from_secs(1)
    );
}

#[test]
fn the_number_of_keys_is_capped() {
    let keyed: KeyedBudgets<u64> = KeyedBudgets::new(small()).max_keys(100);
    for key in 0..10_000u64 {
        keyed.for_key_at(&key, 0);
        // Key 0 is used all the time: the least recently used go first, never it.
        keyed.for_key_at(&0, 0);
        assert!(keyed.len() <= 100);
    }
    assert!(keyed.keys.contains(&0));
    assert!(keyed.keys.contains(&9_999));
    let capacity = keyed.keys.capacity();
    assert!(capacity <= 4 * 100 + 64, "capacity {capacity}");
}

#[test]
fn idle_keys_are_dropped() {
    let keyed: KeyedBudgets<u64> = KeyedBudgets::new(small()).idle_after(Duration::from_secs(60));
    for key in 0..1_000 {
        keyed.for_key_at(&key, 0);
    }
    keyed.for_key_at(&0, 59_000);
    assert_eq!(keyed.len(), 1_000);
    keyed.for_key_at(&5_000, 60_000);
    assert_eq!(keyed.len(), 2, "key 0 (used at 59 s) and the new one");
    assert!(keyed.keys.capacity() < 200, "memory given back");
}

#[test]
fn keys_are_kept_at_least_a_window() {
    let keyed: KeyedBudgets = KeyedBudgets::new(RetryBudget::new().window(Duration::from_secs(30)))
        .idle_after(Duration::ZERO);
    keyed.for_key_at("a", 0);
    keyed.for_key_at("b", 29_999);
    assert_eq!(keyed.len(), 2);
    keyed.for_key_at("b", 30_000);
    assert_eq!(keyed.len(), 1);
    assert!(format!("{keyed:?}").contains("idle_after: 30s"));
}

#[test]
fn keyed_budgets_stay_bounded_under_threads() {
    static KEYED: KeyedBudgets<u64> = KeyedBudgets::new(RetryBudget::new()).max_keys(64);
    std::thread::scope(|s| {
        for thread in 0..4u64 {
            s.spawn(move || {
                for i in 0..5_000u64 {
                    let budget = KEYED.for_key(&((i * 7 + thread * 13) % 1_000));
                    budget.deposit();
                    let _ = budget.try_withdraw();
                    assert!(KEYED.len() <= 64);
                }
            });
        }
    });
    assert!(KEYED.len() <= 64 && !KEYED.is_empty());
}

#[test]
fn a_budget_on_its_own_clock_and_its_keyed_budgets_read_it() {
    static CLOCK: crate::testing::TestClock = crate::testing::TestClock::new();
    static PER_KEY: KeyedBudgets<u32> =
        KeyedBudgets::new(small().clock(&CLOCK)).idle_after(Duration::from_secs(60));
    let budget = PER_KEY.for_key(&1);
    std::thread::spawn({
        let budget = Arc::clone(&budget);
        move || {
            // A thread's own test clock, far ahead: the budget does not read it.
            let own = crate::testing::record_sleeps();
            own.advance(Duration::from_secs(3_600));
            for _ in 0..50 {
                budget.deposit();
            }
        }
    })
    .join()
    .unwrap();
    assert_eq!(budget.snapshot().available, 7, "⌊0.1 × 50⌋ + 2");
    CLOCK.advance(Duration::from_millis(1_100));
    assert_eq!(
        budget.snapshot().available,
        2,
        "the deposits left the 1 s window"
    );
    CLOCK.advance(Duration::from_secs(60));
    let again = PER_KEY.for_key(&2);
    assert!(!Arc::ptr_eq(&again, &budget));
    assert_eq!(PER_KEY.len(), 1, "key 1 went idle on the shared clock");
}
