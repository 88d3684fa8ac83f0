//! State the fleet shares through Redis (feature `redis`): an admission gate's scope, so that
//! a cooldown one process was told, the limits a provider published and the one probe after a
//! cooldown hold for every process of the fleet.
//!
//! Each decision is one round trip running one script, a compare-and-set on the scope's
//! version, with the server's clock (`fleet/scope.lua`); the decisions themselves are the
//! gate's, unchanged. A store that does not answer within its timeout (20 ms by default) is
//! left for a second: the gate decides on its own copy meanwhile, as a gate of one process.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use redis::{Client, Connection, RedisResult, Script};

mod breaker;
mod budget;

use crate::admission::{codec, Cached, SharedScopes, SharedState as ScopeState};
use crate::window::ceil_millis;

/// How many times a decision is made again on a state another process changed meanwhile,
/// before this one decides alone.
const RACES: usize = 8;

/// How old a copy may be for a decision that changes nothing (an attempt told to wait) to be
/// made on it without reading the store (ms): a waiting attempt learns within this that the
/// probe it waits for has ended.
const REREAD_MS: u64 = 50;

/// How long a store that failed is left alone before it is tried again (ms).
const RETRY_AFTER_MS: u64 = 1_000;

/// A Redis (or Valkey) server the fleet's gates share their scopes through.
///
/// ```no_run
/// use retry_runtime::{AdmissionGate, RedisStore};
///
/// static FLEET: RedisStore = RedisStore::new("redis://127.0.0.1:6379/");
/// static OPENAI: AdmissionGate = AdmissionGate::new().named("openai").shared(&FLEET);
///
/// let admitted = OPENAI.try_admit(0);
/// ```
pub struct RedisStore {
    url: &'static str,
    prefix: &'static str,
    timeout_ms: u64,
    staleness_ms: u64,
    ttl_ms: u64,
    client: OnceLock<Option<Client>>,
    /// One connection, taken by one decision at a time.
    connection: Mutex<Option<Connection>>,
    /// The store's own instants: every gate that uses it keeps time on a timeline of its own.
    epoch: OnceLock<Instant>,
    /// Until when (ms since `epoch`) the store is left alone after a failure.
    down_until: AtomicU64,
    reachable: AtomicBool,
    round_trips: AtomicU64,
    fallbacks: AtomicU64,
}

impl RedisStore {
    /// A store at `url` (`redis://host:port/db`), connected on first use.
    #[must_use]
    pub const fn new(url: &'static str) -> Self {
        RedisStore {
            url,
            prefix: "retry",
            timeout_ms: 20,
            staleness_ms: 1_000,
            ttl_ms: 600_000,
            client: OnceLock::new(),
            connection: Mutex::new(None),
            epoch: OnceLock::new(),
            down_until: AtomicU64::new(0),
            reachable: AtomicBool::new(true),
            round_trips: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }
    }

    /// The keys' prefix (default `retry`): a scope named `openai` is the hash
    /// `retry:{openai}:gate`, its braces a Redis Cluster hash tag.
    #[must_use]
    pub const fn prefix(mut self, prefix: &'static str) -> Self {
        self.prefix = prefix;
        self
    }

    /// The longest a decision waits for the store (default 20 ms; connecting included); past
    /// it, the gate decides on its own copy.
    #[must_use]
    pub const fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout_ms = ceil_millis(timeout);
        self
    }

    /// How old a gate's copy of its scope may be before a decision reads the store again
    /// (default 1 s): room the gate lent itself lasts no longer, so that a cooldown another
    /// process learnt stops this one within it.
    #[must_use]
    pub const fn staleness(mut self, staleness: Duration) -> Self {
        self.staleness_ms = ceil_millis(staleness);
        self
    }

    /// How long a scope nobody decides on lives in the store (default 10 minutes).
    #[must_use]
    pub const fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl_ms = ceil_millis(ttl);
        self
    }

    /// Round trips made to the store.
    #[must_use]
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Relaxed)
    }

    /// Decisions made without the store, which did not answer in time.
    #[must_use]
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Relaxed)
    }

    /// Milliseconds since the store's first use.
    fn now_ms(&self) -> u64 {
        let epoch = *self.epoch.get_or_init(Instant::now);
        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Whether the store failed less than a second ago.
    fn is_down(&self) -> bool {
        self.now_ms() < self.down_until.load(Relaxed)
    }

    /// The key of `scope`'s `kind` of state (`gate`, `budget`), its scope a hash tag.
    fn key(&self, scope: &str, kind: &str) -> String {
        format!("{}:{{{scope}}}:{kind}", self.prefix)
    }

    /// One run of the scope's script: `Some(version)` to write `state` if the scope is still
    /// at that version, `None` to read.
    fn exchange(&self, key: &str, write: Option<(u64, &str)>) -> RedisResult<Reply> {
        let (version, state) = write.map_or((String::new(), ""), |(v, s)| (v.to_string(), s));
        let (written, version, state, server_ms) = self.round_trip(|connection| {
            scope_script()
                .key(key)
                .arg(&version)
                .arg(state)
                .arg(self.ttl_ms)
                .invoke::<(u8, u64, String, u64)>(connection)
        })?;
        Ok(Reply {
            written: written == 1,
            version,
            state,
            server_ms,
        })
    }

    /// One round trip on the store's connection (made if there is none), within the timeout.
    fn round_trip<T>(
        &self,
        invoke: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> RedisResult<T> {
        let mut guard = self
            .connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Decisions that queued for the connection while it failed do not try it again.
        if self.is_down() {
            return Err(redis::RedisError::from((
                redis::ErrorKind::Io,
                "the store failed less than a second ago",
            )));
        }
        if guard.is_none() {
            let timeout = Duration::from_millis(self.timeout_ms);
            let client = self
                .client
                .get_or_init(|| Client::open(self.url).ok())
                .as_ref()
                .ok_or_else(|| {
                    redis::RedisError::from((
                        redis::ErrorKind::InvalidClientConfig,
                        "not a Redis URL",
                    ))
                })?;
            let connection = client.get_connection_with_timeout(timeout)?;
            connection.set_read_timeout(Some(timeout))?;
            connection.set_write_timeout(Some(timeout))?;
            *guard = Some(connection);
        }
        let connection = guard.as_mut().expect("connected above");
        self.round_trips.fetch_add(1, Relaxed);
        let result = invoke(connection);
        if result.is_err() {
            // A connection that failed may be in any state: a new one next time.
            *guard = None;
        }
        result
    }

    /// One round trip of a budget's or a breaker's script: its answer, or `None` when the store
    /// is left alone or does not answer in time (counted and logged as any decision without it).
    pub(crate) fn ask<T>(
        &self,
        invoke: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Option<T> {
        if self.is_down() {
            self.reached(false, None);
            return None;
        }
        match self.round_trip(invoke) {
            Ok(answer) => {
                self.reached(true, None);
                Some(answer)
            }
            Err(error) => {
                self.reached(false, Some(&error));
                None
            }
        }
    }

    /// Marks the store reachable or not, saying so once per change.
    pub(crate) fn reached(&self, reachable: bool, error: Option<&redis::RedisError>) {
        if !reachable {
            self.fallbacks.fetch_add(1, Relaxed);
            // A decision turned away because the store is already left alone does not push
            // back the moment it is tried again.
            if !self.is_down() {
                self.down_until
                    .store(self.now_ms().saturating_add(RETRY_AFTER_MS), Relaxed);
            }
        }
        if self.reachable.swap(reachable, Relaxed) != reachable {
            if reachable {
                tracing::info!(
                    store = self.url,
                    "the shared store answers again: gates share their scopes"
                );
            } else {
                tracing::warn!(
                    store = self.url,
                    error = error.map(ToString::to_string),
                    "the shared store does not answer: gates decide alone until it does"
                );
            }
        }
    }
}

impl core::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url)
            .field("prefix", &self.prefix)
            .field("timeout_ms", &self.timeout_ms)
            .field("staleness_ms", &self.staleness_ms)
            .finish_non_exhaustive()
    }
}

/// The scope's script, hashed once; sent whole only when the server does not know it
/// (`NOSCRIPT`).
fn scope_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(include_str!("scope.lua")))
}

/// What the script answered.
struct Reply {
    written: bool,
    version: u64,
    state: String,
    server_ms: u64,
}

impl Cached {
    /// Takes the store's state (keeping what this process lent itself) and its clock.
    fn adopt(&mut self, reply: &Reply, local_now: u64) {
        let lent = self.state.lent;
        self.state = codec::decode(&reply.state).unwrap_or(ScopeState::UNHEARD);
        self.state.lent = lent;
        self.version = reply.version;
        self.synced(reply.server_ms, local_now);
    }

    fn synced(&mut self, server_ms: u64, local_now: u64) {
        self.synced_at = local_now;
        self.offset = i64::try_from(server_ms).unwrap_or(i64::MAX)
            - i64::try_from(local_now).unwrap_or(i64::MAX);
    }
}

/// The decision on this process's copy, at the store's time as the copy estimates it.
fn decide_alone(
    cached: &mut Cached,
    local_now: u64,
    step: &mut dyn FnMut(&mut ScopeState, u64) -> bool,
) {
    let now = cached.store_time(local_now);
    step(&mut cached.state, now);
}

impl SharedScopes for RedisStore {
    fn staleness_ms(&self) -> u64 {
        self.staleness_ms
    }

    fn update(
        &self,
        scope: &str,
        cached: &mut Cached,
        local_now: u64,
        step: &mut dyn FnMut(&mut ScopeState, u64) -> bool,
    ) -> bool {
        if self.is_down() {
            self.reached(false, None);
            decide_alone(cached, local_now, step);
            return false;
        }
        let key = self.key(scope, "gate");
        let outcome = (|| -> RedisResult<bool> {
            let mut age = local_now.saturating_sub(cached.synced_at);
            if cached.version == 0 || age >= self.staleness_ms {
                let reply = self.exchange(&key, None)?;
                cached.adopt(&reply, local_now);
                age = 0;
            }
            for _ in 0..RACES {
                let mut decided = cached.state;
                if !step(&mut decided, cached.store_time(local_now)) {
                    if age < REREAD_MS {
                        // Nothing to keep, decided on a recent enough copy: no round trip.
                        cached.state = decided;
                        return Ok(true);
                    }
                    let reply = self.exchange(&key, None)?;
                    cached.adopt(&reply, local_now);
                    age = 0;
                    continue;
                }
                let text = codec::encode(&decided);
                let reply = self.exchange(&key, Some((cached.version, &text)))?;
                if reply.written {
                    cached.state = decided;
                    cached.version = reply.version;
                    cached.synced(reply.server_ms, local_now);
                    return Ok(true);
                }
                cached.adopt(&reply, local_now);
                age = 0;
            }
            Ok(false)
        })();
        match outcome {
            Ok(true) => {
                self.reached(true, None);
                true
            }
            Ok(false) => {
                // Lost every race: decide alone this once, on the latest state read.
                self.fallbacks.fetch_add(1, Relaxed);
                decide_alone(cached, local_now, step);
                false
            }
            Err(error) => {
                self.reached(false, Some(&error));
                decide_alone(cached, local_now, step);
                false
            }
        }
    }
}
