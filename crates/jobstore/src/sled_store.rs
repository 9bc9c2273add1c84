//! The durable backend on sled 0.34.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{Notify, oneshot};

use crate::config::StoreConfig;
use crate::error::Error;
use crate::group_commit::{self, Command, Pending, Shared};
use crate::job::{
    Claimed, Completion, EnqueueOutcome, Job, JobFilter, JobId, JobPage, NewJob, Progress,
    StateCounts,
};
use crate::queue::{Changes, Clock, Queue};
use crate::records;
use crate::store::{JobStore, claim_when_ready};

/// The sled tree holding the queue's records.
const TREE: &str = "jobstore.v1";

/// A [`JobStore`] in a sled directory. Every acknowledged enqueue and cancellation is on disk
/// (flushed) before the call returns; concurrent calls share flushes. Completions are written
/// and flushed with the next group commit (see the crate docs).
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
    pub fn open(path: &Path, config: StoreConfig) -> Result<Self, Error> {
        let db = sled::Config::new()
            .path(path)
            .cache_capacity(config.cache_bytes)
            .open()
            .map_err(|e| open_error(path, e))?;
        let tree = db.open_tree(TREE).map_err(|e| open_error(path, e))?;
        let loaded = records::load(&tree, path)?;
        let loaded_jobs = loaded.jobs.len();

        let mut changes = Changes::default();
        let queue = Queue::restore(
            config,
            loaded.jobs,
            loaded.dedupe,
            loaded.next_id,
            Clock::now(),
            &mut changes,
        );
        if !changes.is_empty() {
            let batch = records::batch_for(&queue, &changes)?;
            let storage = |source| Error::Storage {
                path: path.to_owned(),
                action: "requeueing interrupted jobs",
                source,
            };
            tree.apply_batch(batch).map_err(storage)?;
            tree.flush().map_err(storage)?;
        }
        tracing::info!(path = %path.display(), jobs = loaded_jobs, "job store open");

        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            notify: Notify::new(),
            path: path.to_owned(),
        });
        let (commands, inbox) = channel();
        let writer =
            group_commit::spawn_writer(Arc::clone(&shared), db, tree, inbox).map_err(|e| {
                Error::Open {
                    path: path.to_owned(),
                    source: sled::Error::Io(e),
                }
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

    /// Runs `op` on the writer thread and answers once its writes are written (and flushed,
    /// if `durable` and the operation succeeded).
    async fn run<R, F>(&self, durable: bool, op: F) -> Result<R, Error>
    where
        R: Send + 'static,
        F: FnOnce(&mut Queue, Clock, &mut Changes) -> Result<R, Error> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let command: Command = Box::new(move |queue, clock, changes| {
            let result = op(queue, clock, changes);
            Pending {
                durable: durable && result.is_ok(),
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
        self.run(true, move |q, clock, ch| q.enqueue(job, clock, ch))
            .await
    }

    async fn claim(&self, worker: &str) -> Result<Option<Claimed>, Error> {
        // Not flushed: losing a claim in a crash only means the job runs again, which it
        // would anyway, since a restart requeues running jobs.
        let worker = worker.to_owned();
        self.run(false, move |q, clock, ch| Ok(q.claim(&worker, clock, ch)))
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

    async fn heartbeat(&self, id: &JobId, progress: Progress) -> Result<(), Error> {
        let id = id.clone();
        self.run(false, move |q, clock, ch| {
            q.heartbeat(&id, progress, clock, ch)
        })
        .await
    }

    async fn complete(&self, id: &JobId, completion: Completion) -> Result<Job, Error> {
        // Written but not waited for: the next group commit (or sled's own 500 ms sync) makes
        // it durable. Losing a completion in a crash only means the job runs again after the
        // restart requeues it, and index runs are idempotent; waiting for a flush here would
        // cap a worker at one job per fsync. Cancellation, by contrast, is flushed.
        let id = id.clone();
        self.run(false, move |q, clock, ch| {
            q.complete(&id, completion, clock, ch)
        })
        .await
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<Job>, Error> {
        let id = id.clone();
        self.run(true, move |q, clock, ch| Ok(q.cancel(&id, clock, ch)))
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

    async fn counts(&self) -> Result<StateCounts, Error> {
        Ok(self.shared.queue().counts())
    }

    async fn cleanup(&self, older_than: Duration) -> Result<u64, Error> {
        self.run(true, move |q, clock, ch| {
            Ok(q.cleanup(older_than, clock, ch))
        })
        .await
    }

    async fn flush(&self) -> Result<(), Error> {
        self.run(true, |_, _, _| Ok(())).await
    }
}
