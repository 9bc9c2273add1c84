//! The durable backend on sled 0.34.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use tokio::sync::{Notify, oneshot};

use crate::config::StoreConfig;
use crate::disk_sync::DiskSync;
use crate::error::Error;
use crate::group_commit::{self, Command, Pending, Shared};
use crate::queue::{Changes, Clock, Queue};
use crate::queue_store::QueueBackend;
use crate::records;

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

pub(crate) fn open_error(path: &Path, source: sled::Error) -> Error {
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

impl QueueBackend for SledJobStore {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        self.shared.queue()
    }

    fn notify(&self) -> &Notify {
        &self.shared.notify
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
