//! The object store: one ordered map keyed by (storage key, namespace, name), one global
//! resourceVersion, a bounded event history and a broadcast channel for watches. Every write
//! goes through here: first to the persistence log (a failed append changes nothing), then to
//! memory; the caller acknowledges it only after [`Store::sync`]. It knows nothing about HTTP
//! or kinds.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use serde_json::Value;
use tokio::sync::broadcast;

use crate::persist::{Durability, Persist};
use crate::util::ensure_obj;

/// (storage key `group/plural`, namespace or "", name).
pub type Key = (String, String, String);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

/// One change of one object, shared by every watcher.
#[derive(Debug)]
pub struct Change {
    pub rv: u64,
    pub key: Key,
    pub kind: EventType,
    pub object: Arc<Value>,
    pub prev: Option<Arc<Value>>,
    /// The object serialised once for all watchers that need it unchanged.
    pub json: OnceLock<Vec<u8>>,
    /// The object's serialized size, what the history's byte bound counts.
    pub size: usize,
}

#[derive(Debug)]
pub enum StoreError {
    NotFound,
    Exists,
    Conflict,
    /// The data dir could not take the change; memory is unchanged.
    Storage(String),
}

pub struct Inner {
    pub objects: BTreeMap<Key, Arc<Value>>,
    pub uids: HashMap<String, Key>,
    pub rv: u64,
    history: VecDeque<Arc<Change>>,
    /// Serialized bytes of the objects in `history`.
    history_bytes: usize,
    /// Changes at or below this RV are no longer in the history.
    pub compacted_rv: u64,
    persist: Option<Persist>,
}

pub struct Store {
    inner: Mutex<Inner>,
    durable: Option<Arc<Durability>>,
    tx: broadcast::Sender<Arc<Change>>,
    history_cap: HistoryCap,
}

/// How much change history a store keeps for watches that resume from a resourceVersion: at
/// most `changes` changes whose objects serialize to at most `bytes` together (the newest
/// change is always kept). Older resourceVersions get 410 Gone and the client relists.
#[derive(Debug, Clone, Copy)]
pub struct HistoryCap {
    pub changes: usize,
    pub bytes: usize,
}

/// Where a watch starts.
pub enum WatchStart {
    /// Synthetic ADDED events for every current object, then live changes.
    Current(Vec<Arc<Value>>),
    /// Replayed changes newer than the requested RV, then live changes.
    Replay(Vec<Arc<Change>>),
}

impl Store {
    pub fn new(
        history_cap: HistoryCap,
        loaded: Option<(Persist, BTreeMap<Key, Value>, u64)>,
    ) -> Self {
        let (tx, _) = broadcast::channel(history_cap.changes.clamp(1024, 1 << 16));
        let mut inner = Inner {
            objects: BTreeMap::new(),
            uids: HashMap::new(),
            rv: 1,
            history: VecDeque::new(),
            history_bytes: 0,
            compacted_rv: 1,
            persist: None,
        };
        let mut durable = None;
        if let Some((p, objects, rv)) = loaded {
            durable = Some(p.durability());
            for (k, v) in objects {
                if let Some(uid) = v.pointer("/metadata/uid").and_then(Value::as_str) {
                    inner.uids.insert(uid.to_string(), k.clone());
                }
                inner.objects.insert(k, Arc::new(v));
            }
            inner.rv = rv.max(1);
            inner.compacted_rv = inner.rv;
            inner.persist = Some(p);
        }
        Self {
            inner: Mutex::new(inner),
            durable,
            tx,
            history_cap,
        }
    }

    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    pub fn get(&self, key: &Key) -> Option<Arc<Value>> {
        self.lock().objects.get(key).cloned()
    }

    /// One object and the resourceVersion it was read at, under one lock: a list built from it
    /// covers exactly the writes up to that version, so a watch from there misses none and
    /// repeats none.
    pub fn get_with_rv(&self, key: &Key) -> (Option<Arc<Value>>, u64) {
        let g = self.lock();
        (g.objects.get(key).cloned(), g.rv)
    }

    /// Objects of one storage key (optionally one namespace), in key order, with the list RV.
    pub fn list(&self, storage_key: &str, ns: Option<&str>) -> (Vec<Arc<Value>>, u64) {
        let g = self.lock();
        (
            g.scan(storage_key, ns).map(|(_, v)| v.clone()).collect(),
            g.rv,
        )
    }

    pub fn create(&self, key: Key, mut obj: Value) -> Result<Arc<Value>, StoreError> {
        let mut g = self.lock();
        if g.objects.contains_key(&key) {
            return Err(StoreError::Exists);
        }
        let rv = g.rv + 1;
        set_rv(&mut obj, rv);
        g.append(&key, Some(&obj), rv)?;
        g.rv = rv;
        let obj = Arc::new(obj);
        if let Some(uid) = obj.pointer("/metadata/uid").and_then(Value::as_str) {
            g.uids.insert(uid.to_string(), key.clone());
        }
        g.objects.insert(key.clone(), obj.clone());
        self.commit(&mut g, key, EventType::Added, obj.clone(), None);
        Ok(obj)
    }

    /// Replaces an object if its stored RV equals `expected_rv` (when given).
    pub fn update(
        &self,
        key: &Key,
        expected_rv: Option<u64>,
        mut obj: Value,
    ) -> Result<Arc<Value>, StoreError> {
        let mut g = self.lock();
        let prev = g.objects.get(key).cloned().ok_or(StoreError::NotFound)?;
        if let Some(exp) = expected_rv
            && rv_of(&prev) != exp
        {
            return Err(StoreError::Conflict);
        }
        let rv = g.rv + 1;
        set_rv(&mut obj, rv);
        g.append(key, Some(&obj), rv)?;
        g.rv = rv;
        let obj = Arc::new(obj);
        g.objects.insert(key.clone(), obj.clone());
        self.commit(
            &mut g,
            key.clone(),
            EventType::Modified,
            obj.clone(),
            Some(prev),
        );
        Ok(obj)
    }

    /// Removes an object; the DELETED event carries the deletion RV.
    pub fn delete(&self, key: &Key, expected_rv: Option<u64>) -> Result<Arc<Value>, StoreError> {
        let mut g = self.lock();
        let prev = g.objects.get(key).cloned().ok_or(StoreError::NotFound)?;
        if let Some(exp) = expected_rv
            && rv_of(&prev) != exp
        {
            return Err(StoreError::Conflict);
        }
        let rv = g.rv + 1;
        g.append(key, None, rv)?;
        g.rv = rv;
        g.objects.remove(key);
        if let Some(uid) = prev.pointer("/metadata/uid").and_then(Value::as_str) {
            g.uids.remove(uid);
        }
        let mut last = (*prev).clone();
        set_rv(&mut last, rv);
        let last = Arc::new(last);
        self.commit(
            &mut g,
            key.clone(),
            EventType::Deleted,
            last.clone(),
            Some(prev),
        );
        Ok(last)
    }

    fn commit(
        &self,
        g: &mut Inner,
        key: Key,
        kind: EventType,
        object: Arc<Value>,
        prev: Option<Arc<Value>>,
    ) {
        let rv = g.rv;
        let size = serialized_size(&object);
        let change = Arc::new(Change {
            rv,
            key,
            kind,
            object,
            prev,
            json: OnceLock::new(),
            size,
        });
        g.history.push_back(change.clone());
        g.history_bytes += size;
        while g.history.len() > self.history_cap.changes
            || (g.history_bytes > self.history_cap.bytes && g.history.len() > 1)
        {
            let Some(old) = g.history.pop_front() else {
                break;
            };
            g.history_bytes -= old.size;
            g.compacted_rv = old.rv;
        }
        // No receivers is fine: nobody watches yet.
        let _ = self.tx.send(change);
        if g.persist
            .as_ref()
            .is_some_and(|p| p.needs_compaction(g.objects.len()))
        {
            let Inner {
                persist,
                objects,
                rv,
                ..
            } = g;
            if let Some(p) = persist.as_mut()
                && let Err(e) = p.compact(objects, *rv)
            {
                tracing::error!(error = %e, "cannot compact the data dir log");
            }
        }
    }

    /// Waits until every change made so far is on disk (a no-op without a data dir). A write
    /// is acknowledged only after this; an error means its change may be lost.
    pub async fn sync(&self) -> Result<(), StoreError> {
        match &self.durable {
            Some(d) => d.sync().await.map_err(StoreError::Storage),
            None => Ok(()),
        }
    }

    /// Starts a watch of one storage key: the initial events and a receiver for later ones,
    /// taken under one lock so that nothing is missed. `Err(oldest)` when `since` is too old.
    pub fn watch(
        &self,
        storage_key: &str,
        ns: Option<&str>,
        since: Option<u64>,
    ) -> Result<(WatchStart, broadcast::Receiver<Arc<Change>>, u64), u64> {
        let g = self.lock();
        let rx = self.tx.subscribe();
        let start = match since {
            None => WatchStart::Current(g.scan(storage_key, ns).map(|(_, v)| v.clone()).collect()),
            Some(rv) if rv < g.compacted_rv => return Err(g.compacted_rv),
            Some(rv) => WatchStart::Replay(
                g.history
                    .iter()
                    .filter(|c| c.rv > rv && c.key.0 == storage_key)
                    .cloned()
                    .collect(),
            ),
        };
        Ok((start, rx, g.rv))
    }
}

/// The length of `v` serialized as JSON, without keeping the bytes.
fn serialized_size(v: &Value) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter cannot fail; a Value always serializes.
    let _ = serde_json::to_writer(&mut count, v);
    count.0
}

impl Inner {
    /// Appends a change to the data dir log before memory changes.
    fn append(&mut self, key: &Key, obj: Option<&Value>, rv: u64) -> Result<(), StoreError> {
        let Some(p) = self.persist.as_mut() else {
            return Ok(());
        };
        match obj {
            Some(o) => p.put(key, o, rv),
            None => p.delete(key, rv),
        }
        .map_err(StoreError::Storage)
    }

    pub fn scan<'a>(
        &'a self,
        storage_key: &'a str,
        ns: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a Key, &'a Arc<Value>)> + 'a {
        let start = (
            storage_key.to_string(),
            ns.unwrap_or("").to_string(),
            String::new(),
        );
        self.objects
            .range(start..)
            .take_while(move |(k, _)| k.0 == storage_key && ns.is_none_or(|n| k.1 == n))
    }
}

pub fn rv_of(v: &Value) -> u64 {
    v.pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn set_rv(obj: &mut Value, rv: u64) {
    ensure_obj(obj, &["metadata"]).insert("resourceVersion".into(), Value::String(rv.to_string()));
}
