//! A retry budget shared by the fleet through a real `redis-server` (started by the test):
//! first attempts of every process earn retries for every process.
#![cfg(feature = "redis")]

use std::time::Duration;

use retry_redis_server::RedisServer;
use retry_runtime::{KeyedBudgets, RedisStore, RetryBudget};

/// A process's budget: half a retry per first attempt, no floor, sharing `scope`; its first
/// attempts added to the fleet's window at once (a staleness bound of 0).
fn budget(
    server: &RedisServer,
    scope: &'static str,
) -> (&'static RedisStore, &'static RetryBudget) {
    let url: &'static str = Box::leak(server.url().into_boxed_str());
    let store: &'static RedisStore = Box::leak(Box::new(
        RedisStore::new(url)
            .timeout(Duration::from_millis(500))
            .staleness(Duration::ZERO),
    ));
    let budget = RetryBudget::new()
        .ratio(0.5)
        .min_per_second(0.0)
        .shared(scope, store);
    (store, Box::leak(Box::new(budget)))
}

#[test]
fn first_attempts_of_one_process_earn_retries_for_another_and_no_more() {
    let Some(mut server) =
        RedisServer::start("first_attempts_of_one_process_earn_retries_for_another_and_no_more")
    else {
        return;
    };
    let (_, a) = budget(&server, "openai");
    let (store_b, b) = budget(&server, "openai");
    for _ in 0..4 {
        a.deposit();
    }
    // Four first attempts of the fleet earn two retries, whoever takes them.
    assert!(
        b.try_withdraw(),
        "b has made no first attempt, the fleet has"
    );
    assert!(a.try_withdraw());
    assert!(!b.try_withdraw(), "the fleet's two are taken");
    assert!(!a.try_withdraw());
    let (_, other) = budget(&server, "anthropic");
    assert!(!other.try_withdraw(), "another budget earned nothing");
    assert_eq!(store_b.fallbacks(), 0);
    // The store gone, each process decides on its own counts: a's four earn it two.
    server.kill();
    assert!(a.try_withdraw());
    assert!(!b.try_withdraw(), "b's own counts earn nothing");
    assert!(store_b.fallbacks() >= 1);
}

#[test]
fn keyed_budgets_share_each_key_as_a_scope_of_its_own() {
    let Some(server) = RedisServer::start("keyed_budgets_share_each_key_as_a_scope_of_its_own")
    else {
        return;
    };
    let keyed = |server: &RedisServer| -> &'static KeyedBudgets {
        let (store, _) = budget(server, "unused");
        Box::leak(Box::new(KeyedBudgets::new(
            RetryBudget::new()
                .ratio(0.5)
                .min_per_second(0.0)
                .shared("per-user", store),
        )))
    };
    let (a, b) = (keyed(&server), keyed(&server));
    for _ in 0..2 {
        a.for_key("alice").deposit();
    }
    assert!(
        b.for_key("alice").try_withdraw(),
        "alice's fleet-wide window"
    );
    assert!(!b.for_key("alice").try_withdraw());
    assert!(!b.for_key("bob").try_withdraw(), "bob's is his own");
}
