//! One value per key (per user, tenant, provider scope), made on first use, with bounded
//! memory: keys unused for an idle time are dropped, and the number of keys is capped; when a
//! new key finds the map full, the least recently used eighth of the keys is dropped. The
//! keyed retry budgets and the keyed admission gates hold their values here.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

pub(crate) struct KeyedMap<K, V> {
    map: Mutex<Option<KeyMap<K, V>>>,
}

struct KeyMap<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Look-ups so far: orders the entries by last use.
    uses: u64,
    last_sweep_ms: u64,
}

struct Entry<V> {
    value: Arc<V>,
    last_used_ms: u64,
    last_use: u64,
}

/// How many keys at most, and how long one is kept unused.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    pub(crate) max_keys: usize,
    pub(crate) idle_ms: u64,
}

impl<K, V> KeyedMap<K, V> {
    pub(crate) const fn new() -> Self {
        KeyedMap {
            map: Mutex::new(None),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().as_ref().map_or(0, |map| map.entries.len())
    }

    /// The map's capacity, for tests of the memory it gives back.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.lock().as_ref().map_or(0, |map| map.entries.capacity())
    }

    fn lock(&self) -> MutexGuard<'_, Option<KeyMap<K, V>>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K: Hash + Eq, V> KeyedMap<K, V> {
    /// The value of `key` at `now_ms`, made by `make` if it has none.
    pub(crate) fn get_or_make<Q>(
        &self,
        key: &Q,
        now_ms: u64,
        bounds: Bounds,
        make: impl FnOnce() -> V,
    ) -> Arc<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let mut guard = self.lock();
        let map = guard.get_or_insert_with(|| KeyMap {
            entries: HashMap::new(),
            uses: 0,
            last_sweep_ms: now_ms,
        });
        map.uses += 1;
        let uses = map.uses;
        if now_ms.saturating_sub(map.last_sweep_ms) >= bounds.idle_ms {
            map.sweep_idle(now_ms, bounds.idle_ms);
        }
        if let Some(entry) = map.entries.get_mut(key) {
            entry.last_used_ms = now_ms;
            entry.last_use = uses;
            return Arc::clone(&entry.value);
        }
        if map.entries.len() >= bounds.max_keys {
            map.sweep_idle(now_ms, bounds.idle_ms);
            if map.entries.len() >= bounds.max_keys {
                let excess = map.entries.len() + 1 - bounds.max_keys;
                map.drop_least_recent(excess.max(bounds.max_keys / 8));
            }
        }
        let value = Arc::new(make());
        map.entries.insert(
            key.to_owned(),
            Entry {
                value: Arc::clone(&value),
                last_used_ms: now_ms,
                last_use: uses,
            },
        );
        value
    }

    /// Whether `key` has a value, for tests.
    #[cfg(test)]
    pub(crate) fn contains(&self, key: &K) -> bool {
        self.lock()
            .as_ref()
            .is_some_and(|map| map.entries.contains_key(key))
    }

    /// Drops `key`'s value; whether it had one.
    pub(crate) fn remove<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock()
            .as_mut()
            .is_some_and(|map| map.entries.remove(key).is_some())
    }
}

impl<K: Hash + Eq, V> KeyMap<K, V> {
    fn sweep_idle(&mut self, now_ms: u64, idle_ms: u64) {
        self.last_sweep_ms = now_ms;
        self.entries
            .retain(|_, entry| now_ms.saturating_sub(entry.last_used_ms) < idle_ms);
        self.shrink();
    }

    /// Drops the `count` least recently used entries.
    fn drop_least_recent(&mut self, count: usize) {
        let count = count.min(self.entries.len());
        if count == 0 {
            return;
        }
        let mut uses: Vec<u64> = self.entries.values().map(|e| e.last_use).collect();
        let (_, &mut cutoff, _) = uses.select_nth_unstable(count - 1);
        // Use numbers are unique: exactly `count` entries are at or below the cutoff.
        self.entries.retain(|_, entry| entry.last_use > cutoff);
        self.shrink();
    }

    /// Gives memory back once most of it is unused.
    fn shrink(&mut self) {
        let len = self.entries.len();
        if self.entries.capacity() > 4 * len + 64 {
            self.entries.shrink_to(2 * len);
        }
    }
}

/// A key's scope in a shared store: `name` and the key's hash, the same in every process built
/// by the same compiler (the standard hasher with its fixed keys), so that a fleet of one build
/// shares each key's scope.
pub(crate) fn scope_of_key<Q: Hash + ?Sized>(name: &str, key: &Q) -> Box<str> {
    use std::hash::Hasher;
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    format!("{name}/{:016x}", hasher.finish()).into_boxed_str()
}
