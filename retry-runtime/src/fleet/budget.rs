//! A retry budget the fleet shares: its window of first attempts and retries kept in Redis,
//! on the server's clock (`budget.lua`), one round trip per retry taken.

use std::sync::OnceLock;

use redis::Script;

use super::RedisStore;
use crate::budget::{BudgetTerms, SharedBudgets};

fn budget_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        Script::new(concat!(
            include_str!("window.lua"),
            include_str!("budget.lua")
        ))
    })
}

impl SharedBudgets for RedisStore {
    fn exchange(
        &self,
        scope: &str,
        deposits: u64,
        withdraw: bool,
        terms: BudgetTerms,
    ) -> Option<bool> {
        let key = self.key(scope, "budget");
        self.ask(|connection| {
            budget_script()
                .key(&key)
                .arg(deposits)
                .arg(if withdraw { "1" } else { "0" })
                .arg(terms.ratio_ppm)
                .arg(terms.reserve)
                .arg(terms.window_ms)
                .arg(self.ttl_ms.max(terms.window_ms))
                .invoke::<u8>(connection)
        })
        .map(|taken| taken == 1)
    }

    fn staleness_ms(&self) -> u64 {
        self.staleness_ms
    }
}
