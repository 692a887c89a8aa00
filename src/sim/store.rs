//! A versioned table of one kind of Kubernetes object: a persistent ordered map (so a
//! paged list reads one consistent snapshot) and a change log with resourceVersions
//! (so a watch from any retained version sees every change exactly once).

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use imbl::OrdMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

/// What every stored object is: a k8s-openapi resource type with standard metadata.
pub trait Object:
    k8s_openapi::Resource
    + k8s_openapi::Metadata<Ty = ObjectMeta>
    + Serialize
    + DeserializeOwned
    + Clone
    + Send
    + Sync
    + 'static
{
}
impl<T> Object for T where
    T: k8s_openapi::Resource
        + k8s_openapi::Metadata<Ty = ObjectMeta>
        + Serialize
        + DeserializeOwned
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// The key of an object in its table: `namespace/name`, or `name` when cluster-scoped.
pub fn key_of(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => name.to_string(),
    }
}

/// The key of an object from its own metadata.
pub fn object_key<T: Object>(obj: &T) -> String {
    let meta = obj.metadata();
    key_of(meta.namespace.as_deref(), meta.name.as_deref().unwrap_or_default())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

/// One change in a table's history.
pub struct Change<T> {
    pub rv: u64,
    pub kind: ChangeKind,
    pub obj: Arc<T>,
    /// The object before a modification (watchers with selectors need it).
    pub prev: Option<Arc<T>>,
    json: OnceLock<Bytes>,
}

impl<T: Object> Change<T> {
    /// The object serialized once, shared by every watcher.
    pub fn json(&self) -> &Bytes {
        self.json
            .get_or_init(|| Bytes::from(serde_json::to_vec(&*self.obj).unwrap_or_default()))
    }
}

/// Why a change log could not answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expired {
    /// Oldest resourceVersion still answerable.
    pub oldest: u64,
}

pub type Items<T> = OrdMap<String, Arc<T>>;

/// A list taken at one resourceVersion, kept for a while so `continue` reads the same data.
struct Snapshot<T> {
    rv: u64,
    taken: Instant,
    items: Items<T>,
}

const SNAPSHOT_TTL: Duration = Duration::from_secs(300);
const SNAPSHOTS_KEPT: usize = 32;

pub struct Table<T> {
    items: Items<T>,
    log: VecDeque<Arc<Change<T>>>,
    log_cap: usize,
    /// Changes at or below this version may be gone from the log.
    floor: u64,
    notify: watch::Sender<u64>,
    snapshots: VecDeque<Snapshot<T>>,
}

impl<T: Object> Table<T> {
    pub fn new(log_cap: usize) -> Self {
        let (notify, _) = watch::channel(0);
        Table {
            items: OrdMap::new(),
            log: VecDeque::new(),
            log_cap,
            floor: 0,
            notify,
            snapshots: VecDeque::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn get(&self, key: &str) -> Option<&Arc<T>> {
        self.items.get(key)
    }

    /// A consistent view of every object, cheap to take (structure is shared).
    pub fn items(&self) -> &Items<T> {
        &self.items
    }

    /// Objects whose key starts with `namespace/`.
    pub fn in_namespace<'a>(&'a self, ns: &str) -> impl Iterator<Item = (&'a String, &'a Arc<T>)> {
        let prefix = format!("{ns}/");
        self.items
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
    }

    /// Stores `obj` under its key at version `rv` (its metadata.resourceVersion is set).
    pub fn put(&mut self, mut obj: T, rv: u64) -> (Arc<T>, Option<Arc<T>>) {
        obj.metadata_mut().resource_version = Some(rv.to_string());
        let key = object_key(&obj);
        let obj = Arc::new(obj);
        let prev = self.items.insert(key, obj.clone());
        let kind = if prev.is_some() {
            ChangeKind::Modified
        } else {
            ChangeKind::Added
        };
        self.record(rv, kind, obj.clone(), prev.clone());
        (obj, prev)
    }

    /// Removes the object at `key`; the DELETED change carries version `rv`.
    pub fn remove(&mut self, key: &str, rv: u64) -> Option<Arc<T>> {
        let old = self.items.remove(key)?;
        let mut gone = (*old).clone();
        gone.metadata_mut().resource_version = Some(rv.to_string());
        let gone = Arc::new(gone);
        self.record(rv, ChangeKind::Deleted, gone, Some(old.clone()));
        Some(old)
    }

    fn record(&mut self, rv: u64, kind: ChangeKind, obj: Arc<T>, prev: Option<Arc<T>>) {
        if self.log_cap == 0 {
            self.floor = rv;
        } else {
            if self.log.len() >= self.log_cap
                && let Some(dropped) = self.log.pop_front()
            {
                self.floor = dropped.rv;
            }
            self.log.push_back(Arc::new(Change {
                rv,
                kind,
                obj,
                prev,
                json: OnceLock::new(),
            }));
        }
        self.notify.send_replace(rv);
    }

    /// Forgets all history up to `rv`: watches from older versions get `410 Gone`.
    pub fn compact(&mut self, rv: u64) {
        while self.log.front().is_some_and(|c| c.rv <= rv) {
            self.log.pop_front();
        }
        self.floor = self.floor.max(rv);
        self.snapshots.clear();
    }

    /// Every change after `rv`, oldest first, or `Expired` if some may be gone.
    pub fn changes_since(&self, rv: u64) -> Result<Vec<Arc<Change<T>>>, Expired> {
        if rv < self.floor {
            return Err(Expired { oldest: self.floor });
        }
        let start = self.log.partition_point(|c| c.rv <= rv);
        Ok(self.log.range(start..).cloned().collect())
    }

    /// A receiver that changes whenever this table does.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.notify.subscribe()
    }

    /// Keeps the current items as the snapshot of version `rv`, for paged lists.
    pub fn keep_snapshot(&mut self, rv: u64) -> Items<T> {
        let now = Instant::now();
        self.snapshots.retain(|s| now.duration_since(s.taken) < SNAPSHOT_TTL);
        if let Some(s) = self.snapshots.iter().find(|s| s.rv == rv) {
            return s.items.clone();
        }
        while self.snapshots.len() >= SNAPSHOTS_KEPT {
            self.snapshots.pop_front();
        }
        self.snapshots.push_back(Snapshot {
            rv,
            taken: now,
            items: self.items.clone(),
        });
        self.items.clone()
    }

    /// The snapshot of version `rv`, if still kept.
    pub fn snapshot(&self, rv: u64) -> Option<Items<T>> {
        self.snapshots
            .iter()
            .find(|s| s.rv == rv && s.taken.elapsed() < SNAPSHOT_TTL)
            .map(|s| s.items.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::ConfigMap;

    fn cm(ns: &str, name: &str) -> ConfigMap {
        ConfigMap {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some(ns.into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn history_is_exact_and_expires() {
        let mut t = Table::new(3);
        t.put(cm("a", "x"), 1);
        t.put(cm("a", "x"), 2);
        t.put(cm("b", "y"), 3);
        let all = t.changes_since(0).unwrap();
        let kinds: Vec<_> = all.iter().map(|c| (c.rv, c.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (1, ChangeKind::Added),
                (2, ChangeKind::Modified),
                (3, ChangeKind::Added)
            ]
        );
        assert_eq!(t.changes_since(2).unwrap().len(), 1);
        t.remove("a/x", 4);
        // the log holds 3: version 1 is gone, so a watch from 0 must be refused
        assert_eq!(t.changes_since(0).err(), Some(Expired { oldest: 1 }));
        let since1 = t.changes_since(1).unwrap();
        assert_eq!(since1.last().unwrap().kind, ChangeKind::Deleted);
        assert_eq!(
            since1.last().unwrap().obj.metadata.resource_version.as_deref(),
            Some("4")
        );
        t.compact(4);
        assert!(t.changes_since(3).is_err());
        assert!(t.changes_since(4).unwrap().is_empty());
    }

    #[test]
    fn snapshots_do_not_see_later_writes_and_namespaces_are_ranges() {
        let mut t = Table::new(10);
        t.put(cm("a", "1"), 1);
        t.put(cm("ab", "2"), 2);
        t.put(cm("b", "3"), 3);
        let snap = t.keep_snapshot(3);
        t.put(cm("a", "4"), 4);
        assert_eq!(snap.len(), 3);
        assert_eq!(t.snapshot(3).unwrap().len(), 3);
        let in_a: Vec<_> = t.in_namespace("a").map(|(k, _)| k.clone()).collect();
        assert_eq!(in_a, vec!["a/1", "a/4"]);
    }
}
