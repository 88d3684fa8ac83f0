//! Admission gates sharing their scope through a real `redis-server`, started on loopback by
//! the test (`retry-redis-server`). Each "process" is a gate and a store of its own, as two
//! processes of a fleet would have; they share nothing but the server.
//!
//! Without `redis-server` installed, each test says loudly that it did not run.
#![cfg(feature = "redis")]

use std::time::Duration;

use retry_redis_server::RedisServer;
use retry_runtime::{AdmissionGate, AdmissionWait, KeyedGates, RateLimits, RedisStore};

/// A process of the fleet: its own store (connection) and its own gate named `scope`.
fn process(
    server: &RedisServer,
    scope: &'static str,
) -> (&'static RedisStore, &'static AdmissionGate) {
    let url: &'static str = Box::leak(server.url().into_boxed_str());
    let store: &'static RedisStore = Box::leak(Box::new(
        RedisStore::new(url).timeout(Duration::from_millis(500)),
    ));
    let gate = Box::leak(Box::new(AdmissionGate::new().named(scope).shared(store)));
    (store, gate)
}

#[test]
fn a_cooldown_one_process_was_told_holds_for_the_others() {
    let Some(server) = RedisServer::start("a_cooldown_one_process_was_told_holds_for_the_others")
    else {
        return;
    };
    let (_, a) = process(&server, "openai");
    let (store_b, b) = process(&server, "openai");
    let (_, elsewhere) = process(&server, "anthropic");
    a.try_admit(0).expect("nothing known yet").failed();
    a.rate_limited(Some(Duration::from_secs(20)));
    let refused = b.try_admit(0).expect_err("the scope cools down fleet-wide");
    assert_eq!(refused.reason(), AdmissionWait::Cooldown);
    // On the server's clock, as b estimates it: never later than it is, so a wait never
    // shorter than what is left (a millisecond or so longer, for the reply's way back).
    let wait = refused.wait();
    assert!(
        wait > Duration::from_secs(19) && wait <= Duration::from_millis(20_100),
        "{wait:?}"
    );
    assert!(elsewhere.try_admit(0).is_ok(), "another scope is untouched");
    assert_eq!(store_b.fallbacks(), 0);
    assert!(store_b.round_trips() >= 1);
}

#[test]
fn after_a_cooldown_one_probe_goes_for_the_whole_fleet() {
    let Some(server) = RedisServer::start("after_a_cooldown_one_probe_goes_for_the_whole_fleet")
    else {
        return;
    };
    let (_, a) = process(&server, "probe");
    let (_, b) = process(&server, "probe");
    a.rate_limited(Some(Duration::from_millis(5)));
    std::thread::sleep(Duration::from_millis(20));
    let probe = b.try_admit(0).expect("the probe");
    assert!(probe.is_probe());
    assert_eq!(
        a.try_admit(0).unwrap_err().reason(),
        AdmissionWait::Probe,
        "the other process follows the probe's outcome"
    );
    probe.succeeded(None);
    // Its outcome known (a waiting process reads the store again after 50 ms at most), the
    // others are paced by the rate the throttle taught, no longer held for the probe.
    std::thread::sleep(Duration::from_millis(60));
    let paced = a.try_admit(0).unwrap_err();
    assert_eq!(paced.reason(), AdmissionWait::Rate);
}

#[test]
fn published_limits_are_shared_and_never_overspent() {
    let Some(server) = RedisServer::start("published_limits_are_shared_and_never_overspent") else {
        return;
    };
    let (_, a) = process(&server, "limits");
    let (_, b) = process(&server, "limits");
    let first = a.try_admit(0).unwrap();
    a.published(&RateLimits::new().with_requests(5, Duration::from_secs(60)));
    first.succeeded(None);
    let mut admitted = Vec::new();
    for gate in [a, b, a, b, a, b, a, b] {
        if let Ok(permit) = gate.try_admit(0) {
            admitted.push(permit);
        }
    }
    assert_eq!(
        admitted.len(),
        5,
        "the five published, between both processes"
    );
    let refused = b.try_admit(0).unwrap_err();
    assert_eq!(refused.reason(), AdmissionWait::Requests);
}

#[test]
fn a_store_that_dies_leaves_each_process_deciding_alone_and_sharing_again_when_back() {
    let Some(mut server) = RedisServer::start(
        "a_store_that_dies_leaves_each_process_deciding_alone_and_sharing_again_when_back",
    ) else {
        return;
    };
    let (store_a, a) = process(&server, "outage");
    let (_, b) = process(&server, "outage");
    a.rate_limited(Some(Duration::from_secs(30)));
    assert_eq!(
        b.try_admit(0).unwrap_err().reason(),
        AdmissionWait::Cooldown
    );
    server.kill();
    // No panic, no hang: each decides on what it last knew (a cooldown it had read).
    assert_eq!(
        a.try_admit(0).unwrap_err().reason(),
        AdmissionWait::Cooldown
    );
    assert_eq!(
        b.try_admit(0).unwrap_err().reason(),
        AdmissionWait::Cooldown
    );
    // A fact learnt meanwhile is kept by the process that learnt it.
    a.rate_limited(Some(Duration::from_secs(60)));
    assert!(store_a.fallbacks() >= 1);
    let longer = a.try_admit(0).unwrap_err();
    assert!(longer.wait() > Duration::from_secs(50), "{longer:?}");
    server.restart();
    // The restarted server is empty; once the store is tried again (after a second), what a
    // process learns is shared again.
    std::thread::sleep(Duration::from_millis(1_100));
    let (_, c) = process(&server, "fresh");
    let (_, d) = process(&server, "fresh");
    c.try_admit(0).unwrap().succeeded(None);
    c.rate_limited(Some(Duration::from_secs(10)));
    assert_eq!(
        d.try_admit(0).unwrap_err().reason(),
        AdmissionWait::Cooldown
    );
    let trips = store_a.round_trips();
    a.rate_limited(Some(Duration::from_secs(40)));
    assert!(
        store_a.round_trips() > trips,
        "the old process shares again"
    );
}

#[test]
fn every_scope_key_expires_when_unused() {
    let Some(server) = RedisServer::start("every_scope_key_expires_when_unused") else {
        return;
    };
    let url: &'static str = Box::leak(server.url().into_boxed_str());
    let store: &'static RedisStore = Box::leak(Box::new(
        RedisStore::new(url)
            .timeout(Duration::from_millis(500))
            .ttl(Duration::from_millis(300)),
    ));
    let gate = AdmissionGate::new().named("ttl").shared(store);
    gate.rate_limited(Some(Duration::from_secs(60)));
    std::thread::sleep(Duration::from_millis(400));
    let fresh = AdmissionGate::new().named("ttl").shared(store);
    assert!(
        fresh.try_admit(0).is_ok(),
        "the scope's key expired with its state"
    );
}

#[test]
fn round_trips_on_the_happy_path_and_under_a_published_limit() {
    let Some(server) =
        RedisServer::start("round_trips_on_the_happy_path_and_under_a_published_limit")
    else {
        return;
    };
    let (store, gate) = process(&server, "trips");
    // The provider not heard from yet: the first attempt reads the scope and goes first as
    // its probe (2 round trips), and its end opens the scope (1 more). That decision lends
    // room the process then uses with none, until the room is a second old.
    let first = gate.try_admit(0).unwrap();
    assert!(first.is_probe());
    first.succeeded(None);
    assert_eq!(store.round_trips(), 3);
    for _ in 0..100 {
        gate.try_admit(0).unwrap().succeeded(None);
    }
    assert_eq!(store.round_trips(), 3, "no round trip while the room lasts");
    // Under a published limit each attempt is decided by the fleet: one round trip.
    let last = gate.try_admit(0).unwrap();
    gate.published(&RateLimits::new().with_requests(1_000, Duration::from_secs(60)));
    last.succeeded(None);
    let before = store.round_trips();
    for _ in 0..10 {
        gate.try_admit(0).unwrap().succeeded(None);
    }
    assert_eq!(store.round_trips() - before, 10);
}

#[test]
fn a_store_that_never_answers_costs_a_decision_its_timeout_then_nothing_for_a_second() {
    // A listener that accepts connections and never answers: a store slower than any bound.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url: &'static str =
        Box::leak(format!("redis://{}/", silent.local_addr().unwrap()).into_boxed_str());
    let store: &'static RedisStore = Box::leak(Box::new(RedisStore::new(url)));
    let gate = AdmissionGate::new().named("silent").shared(store);
    let started = std::time::Instant::now();
    // The first decision waits for the store (20 ms), then decides alone: the probe.
    let first = gate.try_admit(0).expect("decided alone");
    assert!(first.is_probe());
    first.succeeded(None);
    for _ in 0..100 {
        gate.try_admit(0).expect("decided alone").succeeded(None);
    }
    // Generous: a hang would be seconds per decision; the bound is 20 ms for the first one.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(store.fallbacks() >= 2);
    // Tried once (the connection's own handshake may be what timed out), then left alone.
    assert!(store.round_trips() <= 1, "{}", store.round_trips());
}

#[test]
fn keyed_gates_share_each_key_as_a_scope_of_its_own() {
    let Some(server) = RedisServer::start("keyed_gates_share_each_key_as_a_scope_of_its_own")
    else {
        return;
    };
    let keyed = |server: &RedisServer| -> &'static KeyedGates {
        let (store, _) = process(server, "unused");
        Box::leak(Box::new(KeyedGates::new(
            AdmissionGate::new().named("per-model").shared(store),
        )))
    };
    let (a, b) = (keyed(&server), keyed(&server));
    a.for_key("gpt-4o")
        .rate_limited(Some(Duration::from_secs(20)));
    let refused = b.for_key("gpt-4o").try_admit(0).unwrap_err();
    assert_eq!(
        refused.reason(),
        AdmissionWait::Cooldown,
        "the key's scope, fleet-wide"
    );
    assert!(
        b.for_key("gpt-4o-mini").try_admit(0).is_ok(),
        "another key's scope"
    );
}
