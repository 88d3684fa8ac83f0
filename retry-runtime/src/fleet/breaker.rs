//! A circuit breaker the fleet shares: its window of calls and failures, and its open state,
//! kept in Redis on the server's clock (`breaker.lua`).

use std::sync::OnceLock;

use redis::Script;

use super::RedisStore;
use crate::breaker::{BreakerTerms, SharedBreakers};

fn breaker_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        Script::new(concat!(
            include_str!("window.lua"),
            include_str!("breaker.lua")
        ))
    })
}

impl SharedBreakers for RedisStore {
    fn exchange(&self, scope: &str, calls: u64, failures: u64, terms: BreakerTerms) -> Option<u64> {
        let key = self.key(scope, "breaker");
        self.ask(|connection| {
            breaker_script()
                .key(&key)
                .arg(calls)
                .arg(failures)
                .arg(terms.ratio_ppm)
                .arg(terms.minimum_calls)
                .arg(terms.window_ms)
                .arg(terms.break_ms)
                .arg(self.ttl_ms.max(terms.window_ms))
                .invoke::<u64>(connection)
        })
    }

    fn staleness_ms(&self) -> u64 {
        self.staleness_ms
    }
}
