//! The delivery log in memory: for tests and for services whose job store lives in memory.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::deliveries::{
    DeliveryEntry, DeliveryFilter, DeliveryLog, DeliveryPage, DeliveryRecord, DeliveryRetention,
    KeptBody, LogId, LogPageQuery, NewDelivery, Pruned,
};
use crate::error::Error;

/// A [`DeliveryLog`] that lives in memory only.
#[derive(Debug)]
pub struct MemoryDeliveryLog {
    retention: DeliveryRetention,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    next: u64,
    entries: BTreeMap<LogId, (DeliveryRecord, Option<KeptBody>)>,
}

impl MemoryDeliveryLog {
    /// An empty log.
    pub fn new(retention: DeliveryRetention) -> Self {
        MemoryDeliveryLog {
            retention,
            state: Mutex::new(State {
                next: 1,
                ..State::default()
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry with `body_kept` as of `now`.
    fn shown(
        &self,
        id: LogId,
        stored: &(DeliveryRecord, Option<KeptBody>),
        now: SystemTime,
    ) -> DeliveryEntry {
        let (record, body) = stored;
        DeliveryEntry {
            id,
            record: record.clone(),
            body_kept: body.is_some() && self.retention.body_fresh(record.received_at, now),
        }
    }
}

impl State {
    fn keep_newest(&mut self, keep: usize) -> u64 {
        let mut dropped = 0;
        while self.entries.len() > keep.max(1) {
            self.entries.pop_first();
            dropped += 1;
        }
        dropped
    }
}

#[async_trait::async_trait]
impl DeliveryLog for MemoryDeliveryLog {
    async fn record(&self, delivery: NewDelivery) -> Result<DeliveryEntry, Error> {
        let mut state = self.state();
        let id = LogId(state.next);
        state.next += 1;
        let stored = (delivery.record, delivery.kept);
        let entry = self.shown(id, &stored, SystemTime::now());
        state.entries.insert(id, stored);
        state.keep_newest(self.retention.keep);
        Ok(entry)
    }

    async fn list(
        &self,
        filter: &DeliveryFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<DeliveryPage, Error> {
        let query = LogPageQuery::new(limit, cursor)?;
        let now = SystemTime::now();
        let state = self.state();
        let older = state
            .entries
            .range(..query.before.unwrap_or(LogId(u64::MAX)))
            .rev()
            .filter(|(_, (record, _))| filter.matches(record))
            .map(|(id, stored)| self.shown(*id, stored, now));
        Ok(query.page(older))
    }

    async fn get(&self, id: LogId) -> Result<Option<DeliveryEntry>, Error> {
        let now = SystemTime::now();
        Ok(self
            .state()
            .entries
            .get(&id)
            .map(|stored| self.shown(id, stored, now)))
    }

    async fn body(&self, id: LogId) -> Result<Option<KeptBody>, Error> {
        let now = SystemTime::now();
        let state = self.state();
        Ok(state.entries.get(&id).and_then(|(record, body)| {
            body.clone()
                .filter(|_| self.retention.body_fresh(record.received_at, now))
        }))
    }

    async fn prune(&self) -> Result<Pruned, Error> {
        let cutoff = self.retention.body_cutoff(SystemTime::now());
        let mut state = self.state();
        let entries = state.keep_newest(self.retention.keep);
        let mut bodies = 0;
        for (record, body) in state.entries.values_mut() {
            if body.is_some() && record.received_at <= cutoff {
                *body = None;
                bodies += 1;
            }
        }
        Ok(Pruned { entries, bodies })
    }
}
