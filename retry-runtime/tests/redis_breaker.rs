//! A circuit breaker shared by the fleet through a real `redis-server` (started by the test):
//! it opens on the fleet's failure ratio, and one process's failures in a row open only its
//! own.
#![cfg(feature = "redis")]

use std::time::Duration;

use retry_redis_server::RedisServer;
use retry_runtime::{BreakerState, CircuitBreaker, ErrorClass, RedisStore};

/// A process's breaker `name`: opens at half of at least 4 calls failing, or 3 failures in a
/// row; its outcomes added to the fleet's window at once (a staleness bound of 0).
fn breaker(server: &RedisServer, name: &'static str) -> &'static CircuitBreaker {
    let url: &'static str = Box::leak(server.url().into_boxed_str());
    let store: &'static RedisStore = Box::leak(Box::new(
        RedisStore::new(url)
            .timeout(Duration::from_millis(500))
            .staleness(Duration::ZERO),
    ));
    Box::leak(Box::new(
        CircuitBreaker::new()
            .named(name)
            .failure_ratio(0.5)
            .minimum_calls(4)
            .consecutive_failures(3)
            .break_duration(Duration::from_secs(30))
            .shared(store),
    ))
}

fn call(breaker: &CircuitBreaker, fails: bool) {
    let permit = breaker.try_acquire().expect("closed");
    if fails {
        permit.failure(ErrorClass::Server);
    } else {
        permit.success();
    }
}

#[test]
fn the_fleet_opens_on_its_ratio_and_every_process_hears_of_it() {
    let Some(server) =
        RedisServer::start("the_fleet_opens_on_its_ratio_and_every_process_hears_of_it")
    else {
        return;
    };
    let (a, b) = (breaker(&server, "openai"), breaker(&server, "openai"));
    // Each process alone: 2 calls, under its minimum of 4. The fleet: 4 calls, 2 failures.
    call(a, true);
    call(b, false);
    call(b, false);
    assert_eq!(a.state(), BreakerState::Closed);
    call(a, true);
    assert_eq!(a.state(), BreakerState::Open, "the fleet's ratio opened it");
    assert_eq!(b.state(), BreakerState::Closed, "b has not heard yet");
    b.try_acquire().expect("still closed here").success();
    assert_eq!(b.state(), BreakerState::Open, "b heard at its next outcome");
}

#[test]
fn one_process_failing_in_a_row_opens_only_its_own() {
    let Some(server) = RedisServer::start("one_process_failing_in_a_row_opens_only_its_own") else {
        return;
    };
    let (a, b) = (breaker(&server, "anthropic"), breaker(&server, "anthropic"));
    for _ in 0..10 {
        call(b, false);
    }
    for _ in 0..3 {
        call(a, true);
    }
    assert_eq!(a.state(), BreakerState::Open, "its own failures in a row");
    for _ in 0..5 {
        call(b, false);
    }
    assert_eq!(
        b.state(),
        BreakerState::Closed,
        "the fleet: 3 failures in 18 calls, under half"
    );
}
