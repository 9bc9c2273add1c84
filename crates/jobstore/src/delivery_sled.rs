//! The delivery log in a sled database of its own, beside the job store's.
//!
//! Its own database rather than a tree in the job store's: a kept body can be as large as a
//! delivery may be (25 MiB by default), and in the job store's database it would be written by
//! the same flush and `fdatasync` that every acknowledged enqueue waits for. Here the log is
//! flushed by sled's background flusher (within half a second), so logging never delays a
//! job's durability; a crash can lose the last moment of log entries, never a job.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::deliveries::{
    DeliveryEntry, DeliveryFilter, DeliveryLog, DeliveryPage, DeliveryRetention, KeptBody, LogId,
    LogPageQuery, NewDelivery, Pruned,
};
use crate::delivery_record::{decode_body, decode_entry, encode_body, encode_entry};
use crate::error::Error;
use crate::sled_store::open_error;

const ENTRIES: &str = "deliveries.v1";
const BODIES: &str = "delivery-bodies.v1";
/// The log reads little and writes small records: sled's cache stays small.
const CACHE_BYTES: u64 = 4 * 1024 * 1024;

/// A [`DeliveryLog`] in a sled directory. Every sled call runs on tokio's blocking pool,
/// never on the caller's thread.
#[derive(Debug, Clone)]
pub struct SledDeliveryLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    db: sled::Db,
    entries: sled::Tree,
    bodies: sled::Tree,
    retention: DeliveryRetention,
    /// The next id and the number of entries; writes take it, so they apply in id order.
    counters: Mutex<Counters>,
}

#[derive(Debug)]
struct Counters {
    next: u64,
    count: usize,
}

impl SledDeliveryLog {
    /// Opens (or creates) the log in the sled directory `path`. Blocks while it opens the
    /// database: call it before starting work, or from `spawn_blocking`.
    pub fn open(path: &Path, retention: DeliveryRetention) -> Result<Self, Error> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|e| open_error(path, e))?;
        let entries = db.open_tree(ENTRIES).map_err(|e| open_error(path, e))?;
        let bodies = db.open_tree(BODIES).map_err(|e| open_error(path, e))?;
        let last = entries
            .last()
            .map_err(|e| open_error(path, e))?
            .map_or(0, |(key, _)| key_id(&key).0);
        let count = entries.len();
        tracing::info!(path = %path.display(), entries = count, "delivery log open");
        Ok(SledDeliveryLog {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                db,
                entries,
                bodies,
                retention,
                counters: Mutex::new(Counters {
                    next: last + 1,
                    count,
                }),
            }),
        })
    }

    /// The sled directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `op` on the blocking pool.
    async fn blocking<T, F>(&self, op: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T, Error> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let path = inner.path.clone();
        tokio::task::spawn_blocking(move || op(&inner))
            .await
            .map_err(|_| Error::Closed { path })?
    }
}

fn key(id: LogId) -> [u8; 8] {
    id.0.to_be_bytes()
}

fn key_id(key: &[u8]) -> LogId {
    LogId(key.try_into().map(u64::from_be_bytes).unwrap_or_default())
}

impl Inner {
    fn counters(&self) -> MutexGuard<'_, Counters> {
        self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn storage(&self, action: &'static str) -> impl Fn(sled::Error) -> Error + '_ {
        move |source| Error::Storage {
            path: self.path.clone(),
            action,
            source,
        }
    }

    fn corrupt(&self, id: LogId) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            detail: format!("delivery log record {id} does not decode"),
        }
    }

    fn decode(&self, key: &[u8], value: &[u8], now: SystemTime) -> Result<DeliveryEntry, Error> {
        let id = key_id(key);
        let (record, stored) = decode_entry(value).ok_or_else(|| self.corrupt(id))?;
        Ok(DeliveryEntry {
            id,
            body_kept: stored && self.retention.body_fresh(record.received_at, now),
            record,
        })
    }

    /// Drops the oldest entries (and their bodies) beyond `keep`; returns how many.
    fn keep_newest(&self, counters: &mut Counters) -> Result<u64, Error> {
        let mut dropped = 0;
        while counters.count > self.retention.keep.max(1) {
            let removed = self
                .entries
                .pop_min()
                .map_err(self.storage("dropping old deliveries"))?;
            let Some((key, _)) = removed else {
                counters.count = 0;
                break;
            };
            self.bodies
                .remove(&key)
                .map_err(self.storage("dropping old delivery bodies"))?;
            counters.count -= 1;
            dropped += 1;
        }
        Ok(dropped)
    }
}

#[async_trait::async_trait]
impl DeliveryLog for SledDeliveryLog {
    async fn record(&self, delivery: NewDelivery) -> Result<DeliveryEntry, Error> {
        let NewDelivery { record, kept } = delivery;
        self.blocking(move |inner| {
            let mut counters = inner.counters();
            let id = LogId(counters.next);
            counters.next += 1;
            if let Some(kept) = &kept {
                inner
                    .bodies
                    .insert(key(id), encode_body(kept))
                    .map_err(inner.storage("recording a delivery body"))?;
            }
            inner
                .entries
                .insert(key(id), encode_entry(&record, kept.is_some()))
                .map_err(inner.storage("recording a delivery"))?;
            counters.count += 1;
            inner.keep_newest(&mut counters)?;
            let body_kept = kept.is_some()
                && inner
                    .retention
                    .body_fresh(record.received_at, SystemTime::now());
            Ok(DeliveryEntry {
                id,
                record,
                body_kept,
            })
        })
        .await
    }

    async fn list(
        &self,
        filter: &DeliveryFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<DeliveryPage, Error> {
        let query = LogPageQuery::new(limit, cursor)?;
        let filter = filter.clone();
        self.blocking(move |inner| {
            let now = SystemTime::now();
            let end = key(query.before.unwrap_or(LogId(u64::MAX)));
            let mut matching = Vec::new();
            for item in inner.entries.range(..end).rev() {
                let (k, v) = item.map_err(inner.storage("listing deliveries"))?;
                let entry = inner.decode(&k, &v, now)?;
                if filter.matches(&entry.record) {
                    matching.push(entry);
                    if matching.len() > query.limit {
                        break;
                    }
                }
            }
            Ok(query.page(matching))
        })
        .await
    }

    async fn get(&self, id: LogId) -> Result<Option<DeliveryEntry>, Error> {
        self.blocking(move |inner| {
            let found = inner
                .entries
                .get(key(id))
                .map_err(inner.storage("reading a delivery"))?;
            found
                .map(|v| inner.decode(&key(id), &v, SystemTime::now()))
                .transpose()
        })
        .await
    }

    async fn body(&self, id: LogId) -> Result<Option<KeptBody>, Error> {
        let Some(entry) = self.get(id).await? else {
            return Ok(None);
        };
        if !entry.body_kept {
            return Ok(None);
        }
        self.blocking(move |inner| {
            let found = inner
                .bodies
                .get(key(id))
                .map_err(inner.storage("reading a delivery body"))?;
            found
                .map(|v| decode_body(&v).ok_or_else(|| inner.corrupt(id)))
                .transpose()
        })
        .await
    }

    async fn prune(&self) -> Result<Pruned, Error> {
        self.blocking(|inner| {
            let entries = inner.keep_newest(&mut inner.counters())?;
            let cutoff = inner.retention.body_cutoff(SystemTime::now());
            let mut expired = Vec::new();
            for item in inner.bodies.iter() {
                let (k, _) = item.map_err(inner.storage("pruning delivery bodies"))?;
                let received = inner
                    .entries
                    .get(&k)
                    .map_err(inner.storage("pruning delivery bodies"))?
                    .and_then(|v| decode_entry(&v))
                    .map(|(record, _)| record.received_at);
                // A body whose entry is gone (dropped between two writes) goes too.
                if received.is_none_or(|at| at <= cutoff) {
                    expired.push(k);
                }
            }
            let bodies = expired.len() as u64;
            for k in expired {
                inner
                    .bodies
                    .remove(k)
                    .map_err(inner.storage("pruning delivery bodies"))?;
            }
            Ok(Pruned { entries, bodies })
        })
        .await
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(error) = self.db.flush() {
            tracing::warn!(%error, path = %self.path.display(), "could not flush the delivery log");
        }
    }
}
