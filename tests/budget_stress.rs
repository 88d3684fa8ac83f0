//! A retry budget shared by threads, through its public API and on the real clock.
//!
//! The window (two minutes) is far longer than the test, so nothing leaves it, and the
//! budget's invariant says: retries granted in all ≤ ⌊ratio × first attempts⌋ + reserve. Once
//! the threads are done and the main thread has drained what is left, the retries granted must
//! be *exactly* that: no deposit lost, no retry granted twice, whatever the interleaving.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use retry_runtime::{KeyedBudgets, RetryBudget};

const THREADS: u64 = 4;
const OPS: u64 = 25_000;

#[test]
fn threads_never_get_more_retries_than_the_budget_holds() {
    static BUDGET: RetryBudget = RetryBudget::new()
        .ratio(0.1)
        .min_per_second(0.5)
        .window(Duration::from_secs(120));
    let reserve = 60; // ⌊0.5/s × 120 s⌋
    let deposits = AtomicU64::new(0);
    let granted = AtomicU64::new(0);
    let barrier = Barrier::new(usize::try_from(THREADS).unwrap());
    thread::scope(|s| {
        for t in 0..THREADS {
            let (deposits, granted, barrier) = (&deposits, &granted, &barrier);
            s.spawn(move || {
                barrier.wait();
                for i in 0..OPS {
                    // One retry attempt for every eight first attempts: more than the budget
                    // allows, so it runs dry again and again.
                    if (i + t) % 9 == 0 {
                        if BUDGET.try_withdraw() {
                            granted.fetch_add(1, Relaxed);
                        }
                    } else {
                        BUDGET.deposit();
                        deposits.fetch_add(1, Relaxed);
                    }
                    // The invariant at every moment, as far as a reader can tell.
                    if i % 1_000 == 0 {
                        let snap = BUDGET.snapshot();
                        assert!(snap.withdrawals <= snap.deposits / 10 + reserve, "{snap:?}");
                    }
                }
            });
        }
    });
    let deposits = deposits.load(Relaxed);
    let during = granted.load(Relaxed);
    let mut after = 0;
    while BUDGET.try_withdraw() {
        after += 1;
    }
    let allowed = deposits / 10 + reserve;
    assert!(during <= allowed, "{during} granted, {allowed} allowed");
    assert_eq!(
        during + after,
        allowed,
        "every retry the deposits earned, once"
    );
    let snap = BUDGET.snapshot();
    assert_eq!(
        (snap.deposits, snap.withdrawals, snap.available),
        (deposits, allowed, 0)
    );
}

#[test]
fn keyed_budgets_keep_keys_apart_and_memory_bounded() {
    static PER_USER: KeyedBudgets = KeyedBudgets::new(
        RetryBudget::new()
            .ratio(0.5)
            .min_per_second(0.0)
            .window(Duration::from_secs(120)),
    )
    .max_keys(256);
    thread::scope(|s| {
        for t in 0..THREADS {
            s.spawn(move || {
                for i in 0..5_000u64 {
                    // Each thread has its own user, and shares a stream of one-off users.
                    let own = PER_USER.for_key(format!("user-{t}").as_str());
                    own.deposit();
                    own.deposit();
                    assert!(own.try_withdraw(), "two first attempts earn one retry");
                    let passer_by = PER_USER.for_key(format!("once-{t}-{i}").as_str());
                    assert!(!passer_by.try_withdraw(), "no first attempt, no retry");
                    assert!(PER_USER.len() <= 256);
                }
            });
        }
    });
    assert!(PER_USER.len() <= 256);
}
