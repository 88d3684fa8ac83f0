//! A gate per scope key: per model or deployment, per API key, per tenant.

use core::fmt;
use std::borrow::Borrow;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use super::decide::Settings;
use super::store::SharedScopes;
use super::AdmissionGate;
use crate::keyed::{scope_of_key, Bounds, KeyedMap};
use crate::window::Timeline;

/// An [`AdmissionGate`] per scope key, made on first use like a template, with bounded memory
/// (as [`KeyedBudgets`](crate::KeyedBudgets)): keys unused for
/// [`idle_after`](Self::idle_after) are dropped, and the number of keys is capped.
///
/// Pick the key as the provider scopes its limits: the API key (and the model, for providers
/// that limit per model), or the deployment. A throttle of one scope never pauses another.
///
/// ```
/// use std::time::Duration;
/// use retry_runtime::{AdmissionGate, KeyedGates};
///
/// static PER_MODEL: KeyedGates = KeyedGates::new(AdmissionGate::new().named("openai"));
///
/// PER_MODEL.for_key("gpt-4o").rate_limited(Some(Duration::from_secs(20)));
/// assert!(PER_MODEL.for_key("gpt-4o").try_admit(0).is_err(), "cooling down");
/// assert!(PER_MODEL.for_key("gpt-4o-mini").try_admit(0).is_ok(), "another scope");
/// ```
pub struct KeyedGates<K = String> {
    name: &'static str,
    template: Settings,
    /// On the template's clock: the keys' idle times, and each key's gate anew.
    time: Timeline,
    max_keys: usize,
    idle_ms: u64,
    keys: KeyedMap<K, AdmissionGate>,
    /// The template's shared store: each key's gate shares its own scope there.
    shared: Option<&'static dyn SharedScopes>,
}

impl<K> KeyedGates<K> {
    /// Gates made like `gate` (its name and settings, and its shared store if it has one,
    /// where each key is a scope of its own; its state is not used), at most 10 000 keys,
    /// dropped after 10 minutes unused.
    #[must_use]
    pub const fn new(gate: AdmissionGate) -> Self {
        let name = gate.name;
        let template = gate.settings;
        let time = gate.time.fresh();
        let shared = gate.shared;
        // `const` cannot run a destructor; the template owns no memory to free.
        std::mem::forget(gate);
        KeyedGates {
            name,
            template,
            time,
            max_keys: 10_000,
            idle_ms: 600_000,
            keys: KeyedMap::new(),
            shared,
        }
    }

    /// The most keys kept (at least 1).
    #[must_use]
    pub const fn max_keys(mut self, keys: usize) -> Self {
        self.max_keys = if keys == 0 { 1 } else { keys };
        self
    }

    /// How long a key is kept unused; never less than the gates' longest cooldown (a scope is
    /// not forgotten while it may still be cooling down).
    #[must_use]
    pub const fn idle_after(mut self, idle: Duration) -> Self {
        self.idle_ms = crate::window::ceil_millis(idle);
        self
    }

    const fn bounds(&self) -> Bounds {
        let floor = self.template.max_cooldown_ms;
        Bounds {
            max_keys: self.max_keys,
            idle_ms: if self.idle_ms < floor {
                floor
            } else {
                self.idle_ms
            },
        }
    }

    /// The number of keys held now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Hash + Eq> KeyedGates<K> {
    /// The gate of `key`, made if it has none. Keys are looked up by borrowed form: a
    /// `KeyedGates<String>` takes a `&str`. Hold on to the `Arc` for the duration of a call.
    pub fn for_key<Q>(&self, key: &Q) -> Arc<AdmissionGate>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = self.time.now_ms();
        self.keys.get_or_make(key, now, self.bounds(), || {
            let mut gate = AdmissionGate::made(self.name, self.template, self.time.fresh());
            if let Some(store) = self.shared {
                gate.shared = Some(store);
                gate.scope = Some(scope_of_key(self.name, key));
            }
            gate
        })
    }

    /// Drops `key`'s gate; whether it had one.
    pub fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.keys.remove(key)
    }
}

impl<K> fmt::Debug for KeyedGates<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedGates")
            .field("name", &self.name)
            .field("max_keys", &self.max_keys)
            .field("idle_after", &Duration::from_millis(self.bounds().idle_ms))
            .field("keys", &self.len())
            .finish()
    }
}
