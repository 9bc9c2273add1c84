//! A backend that keeps everything in memory: for tests, benches and services that do not
//! need the queue to survive a restart.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::config::StoreConfig;
use crate::error::Error;
use crate::queue::{Changes, Clock, Queue};
use crate::queue_store::QueueBackend;

/// A [`JobStore`](crate::JobStore) that lives in memory only. Same semantics as
/// [`SledJobStore`](crate::SledJobStore), minus durability.
#[derive(Debug)]
pub struct MemoryJobStore {
    queue: Mutex<Queue>,
    notify: Notify,
}

impl MemoryJobStore {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        MemoryJobStore {
            queue: Mutex::new(Queue::new(config)),
            notify: Notify::new(),
        }
    }
}

impl QueueBackend for MemoryJobStore {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // A panic while holding the lock cannot leave the queue half-updated in a way that
        // matters more than refusing all further work would.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn notify(&self) -> &Notify {
        &self.notify
    }

    /// Runs the mutation at once (there is nothing to flush) and wakes a waiting worker if
    /// it made work claimable.
    async fn run<R, F>(&self, _durable: fn(&R) -> bool, op: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Queue, Clock, &mut Changes) -> Result<R, Error> + Send + 'static,
    {
        let mut changes = Changes::default();
        let result = op(&mut self.queue(), Clock::now(), &mut changes);
        if changes.deadline_moved {
            self.notify.notify_waiters();
        } else if changes.wake {
            self.notify.notify_one();
        }
        result
    }
}
