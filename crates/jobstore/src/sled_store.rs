//! The durable backend on sled 0.34.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use crate::config::StoreConfig;
use crate::disk_sync::DiskSync;
use crate::error::Error;
use crate::group_commit::{self, Command, Pending, Shared};
use crate::job::{
    Claimed, Completion, EnqueueOutcome, Job, JobFilter, JobId, JobPage, Lease, NewJob, PendingRef,
    Progress, StateCounts,
};
use crate::queue::{Changes, Clock, Queue};
use crate::records;
use crate::store::{JobStore, claim_when_ready};

/// The sled tree holding the queue's records.
const TREE: &str = "jobstore.v1";

/// A [`JobStore`] in a sled directory. Every acknowledged enqueue, claim, completion and
/// cancellation is on stable storage (flushed by sled, then `fdatasync`ed) before the call
/// returns; concurrent calls share one flush and one sync (see the crate docs).
///
/// Reads are served from an in-memory index rebuilt on open, so `get`, `list`, `counts` and
/// scheduling never touch the disk. All sled calls run on two dedicated threads, never on the
/// caller's (tokio) thread. Dropping the store finishes pending writes and closes the
/// database, releasing its lock.
#[derive(Debug)]
pub struct SledJobStore {
    shared: Arc<Shared>,
    commands: Option<Sender<Command>>,
    writer: Option<JoinHandle<()>>,
}

impl SledJobStore {
    /// Opens (or creates) the queue in the sled directory `path`. Jobs a previous process
    /// left running are requeued. Blocks while it reads the database: call it before
    /// starting work, or from `spawn_blocking`.
    ///
    /// A store written in another on-disk format is refused with
    /// [`Error::UnsupportedFormat`]; nothing in it is changed.
    pub fn open(path: &Path, config: StoreConfig) -> Result<Self, Error> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(config.cache_bytes)
            .open()
            .map_err(|e| open_error(path, e))?;
        let tree = db.open_tree(TREE).map_err(|e| open_error(path, e))?;
        let loaded = records::load(&tree, path)?;
        let storage = |action, source| Error::Storage {
            path: path.to_owned(),
            action,
            source,
        };
        if loaded.new {
            tree.insert(records::FORMAT_KEY, &records::FORMAT.to_le_bytes())
                .map_err(|e| storage("writing the format version", e))?;
        }
        tree.flush().map_err(|e| storage("flushing to disk", e))?;
        let disk = DiskSync::open(path)
            .map_err(|e| storage("syncing to stable storage", sled::Error::Io(e)))?;
        let loaded_jobs = loaded.jobs.len();
        let mut log = loaded.log;

        let mut changes = Changes::default();
        let mut queue = Queue::restore(
            config,
            loaded.jobs,
            loaded.dedupe_batches,
            loaded.next_id,
            Clock::now(),
            &mut changes,
        );
        if !changes.is_empty() || log.has_stale() {
            let mut batch = sled::Batch::default();
            records::batch_for(&mut queue, &changes, &mut log).add_to(&mut batch);
            tree.apply_batch(batch)
                .map_err(|e| storage("requeueing interrupted jobs", e))?;
            group_commit::flush_and_sync(&tree, &disk, path)?;
        }
        tracing::info!(
            path = %path.display(),
            jobs = loaded_jobs,
            delivery_keys = queue.delivery_keys(),
            "job store open"
        );

        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            notify: Notify::new(),
            path: path.to_owned(),
            disk,
        });
        let (commands, inbox) = channel();
        let writer = group_commit::spawn_writer(Arc::clone(&shared), db, tree, log, inbox)
            .map_err(|e| Error::Open {
                path: path.to_owned(),
                source: sled::Error::Io(e),
            })?;
        Ok(SledJobStore {
            shared,
            commands: Some(commands),
            writer: Some(writer),
        })
    }

    /// The sled directory.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// How many times the store has synced its writes to stable storage since it was
    /// opened (`fdatasync` after sled's flush; one per group commit, and one at open).
    /// Every durable operation that returned `Ok` was covered by one of them.
    pub fn disk_syncs(&self) -> u64 {
        self.shared.disk.count()
    }

    /// Runs `op` on the writer thread and answers once its writes are written, and flushed
    /// too if the operation succeeded and `durable` says its result needs it.
    async fn run<R, F>(&self, durable: fn(&R) -> bool, op: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Queue, Clock, &mut Changes) -> Result<R, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let command: Command = Box::new(move |queue, clock, changes| {
            let result = op(queue, clock, changes);
            Pending {
                durable: result.as_ref().is_ok_and(durable),
                deliver: Box::new(move |written| {
                    // The caller may have given up waiting; nothing to do then.
                    let _ = reply.send(written.and(result));
                }),
            }
        });
        let closed = || Error::Closed {
            path: self.shared.path.clone(),
        };
        let sender = self.commands.as_ref().ok_or_else(closed)?;
        group_commit::submit(sender, command, &self.shared.path)?;
        answer.await.map_err(|_| closed())?
    }
}

/// For [`SledJobStore::run`]: the answer waits for a flush.
fn always<R>(_: &R) -> bool {
    true
}

/// For [`SledJobStore::run`]: written with the next group commit, not waited for.
fn never<R>(_: &R) -> bool {
    false
}

impl Drop for SledJobStore {
    fn drop(&mut self) {
        // Closing the channel stops the writer after it has answered everything queued; the
        // join makes sure sled's lock is released before a reopen in this process.
        self.commands.take();
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!("the jobstore writer thread panicked");
            }
        }
    }
}

fn open_error(path: &Path, source: sled::Error) -> Error {
    let path: PathBuf = path.to_owned();
    match source {
        sled::Error::Io(ref e) if e.to_string().contains("could not acquire lock") => {
            Error::Locked { path }
        }
        sled::Error::Corruption { .. } => Error::Corrupt {
            path,
            detail: source.to_string(),
        },
        source => Error::Open { path, source },
    }
}

#[async_trait::async_trait]
impl JobStore for SledJobStore {
    async fn enqueue(&self, job: NewJob) -> Result<EnqueueOutcome, Error> {
        // Durable even when it is a duplicate: the original may still be in flight in this
        // very batch, and "duplicate" must not be said about something that could be lost.
        self.run(always, move |q, clock, ch| q.enqueue(job, clock, ch))
            .await
    }

    async fn claim(&self, worker: &str) -> Result<Option<Claimed>, Error> {
        // Flushed before the worker sees the job: the attempt count must survive a crash, or
        // a job that kills the process on every attempt would be retried forever. Finding
        // nothing to claim waits for nothing (it wrote nothing the caller depends on).
        let worker = worker.to_owned();
        self.run(Option::is_some, move |q, clock, ch| {
            Ok(q.claim(&worker, clock, ch))
        })
        .await
    }

    async fn next(&self, worker: &str) -> Result<Claimed, Error> {
        claim_when_ready(
            &self.shared.notify,
            || self.claim(worker),
            || self.shared.queue().next_wakeup(Clock::now()),
            || self.shared.queue().has_ready(),
        )
        .await
    }

    async fn heartbeat(&self, lease: &Lease, progress: Progress) -> Result<(), Error> {
        // Not waited for: after a crash the job is requeued anyway, and its progress restarts.
        let lease = lease.clone();
        self.run(never, move |q, clock, ch| {
            q.heartbeat(&lease, progress, clock, ch)
        })
        .await
    }

    async fn complete(&self, lease: &Lease, completion: Completion) -> Result<Job, Error> {
        // Flushed: once a worker is told its job succeeded it may act on that (report it,
        // claim the key's follow-up), and a crash must not bring the job back.
        let lease = lease.clone();
        self.run(always, move |q, clock, ch| {
            q.complete(&lease, completion, clock, ch)
        })
        .await
    }

    async fn complete_and_claim(
        &self,
        lease: &Lease,
        completion: Completion,
        worker: &str,
    ) -> Result<(Job, Option<Claimed>), Error> {
        // One command: both records go into one sled batch and one flush, and the worker
        // pays one hand-off per job instead of two.
        let (lease, worker) = (lease.clone(), worker.to_owned());
        self.run(always, move |q, clock, ch| {
            q.complete_and_claim(&lease, completion, &worker, clock, ch)
        })
        .await
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<Job>, Error> {
        let id = id.clone();
        self.run(always, move |q, clock, ch| Ok(q.cancel(&id, clock, ch)))
            .await
    }

    async fn get(&self, id: &JobId) -> Result<Option<Job>, Error> {
        Ok(self.shared.queue().get(id))
    }

    async fn list(
        &self,
        filter: &JobFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<JobPage, Error> {
        self.shared.queue().list(filter, limit, cursor)
    }

    async fn pending(&self) -> Result<Vec<PendingRef>, Error> {
        Ok(self.shared.queue().pending())
    }

    async fn counts(&self) -> Result<StateCounts, Error> {
        Ok(self.shared.queue().counts())
    }

    async fn cleanup(&self, older_than: Duration) -> Result<u64, Error> {
        self.run(always, move |q, clock, ch| {
            Ok(q.cleanup(older_than, clock, ch))
        })
        .await
    }

    async fn flush(&self) -> Result<(), Error> {
        self.run(always, |_, _, _| Ok(())).await
    }
}
