//! The two threads behind [`SledJobStore`](crate::SledJobStore).
//!
//! The *writer* takes every queued operation off a channel, applies them all to the
//! in-memory queue under one lock, writes the records they touched as one atomic sled batch,
//! answers operations that do not wait for the disk, and hands the replies of durable
//! operations to the *flusher*. The flusher takes every reply waiting for it, calls sled's
//! `flush` and then `fdatasync` once for all of them (see `disk_sync`) and only then
//! answers. While it flushes, the writer keeps
//! applying the next operations, so throughput grows with the number of concurrent callers
//! instead of being one fsync per request.
//!
//! A third stage (a thread of its own for the sled inserts, so that the queue work of one
//! round overlaps the inserts of the previous one) was tried: it halved the writer's CPU time
//! per job, but on the shared 2-core machine the extra hand-off cost more than it saved
//! (ingest 33–42 k/s against 44–47 k/s with two stages, one worker 3.0 k/s against 3.7 k/s),
//! so the writer applies its own batches.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::Notify;

use crate::attempt_log::AttemptLog;
use crate::disk_sync::DiskSync;
use crate::error::Error;
use crate::queue::{Changes, Clock, Queue};
use crate::records;

/// Delivers an operation's answer once its writes are as durable as it asked for.
pub(crate) type Deliver = Box<dyn FnOnce(Result<(), Error>) + Send>;

/// What an operation left to do after it ran against the queue.
pub(crate) struct Pending {
    pub(crate) durable: bool,
    pub(crate) deliver: Deliver,
}

/// An operation on the queue, run on the writer thread.
pub(crate) type Command = Box<dyn FnOnce(&mut Queue, Clock, &mut Changes) -> Pending + Send>;

/// State shared by the store handle and its threads.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) queue: Mutex<Queue>,
    pub(crate) notify: Notify,
    pub(crate) path: PathBuf,
    /// Syncs what sled wrote to stable storage.
    pub(crate) disk: DiskSync,
}

impl Shared {
    pub(crate) fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Most operations applied in one batch; bounds the time the queue lock is held.
const MAX_BATCH: usize = 4096;

pub(crate) fn spawn_writer(
    shared: Arc<Shared>,
    db: sled::Db,
    tree: sled::Tree,
    mut log: AttemptLog,
    commands: Receiver<Command>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("jobstore-writer".to_owned())
        .spawn(move || run_writer(&shared, db, tree, &mut log, &commands))
}

/// One batch of operations, run against the queue, on its way to the disk.
struct Round {
    writes: records::Writes,
    pending: Vec<Pending>,
}

/// Starts a helper thread, or says why not (the caller then does its work itself).
fn spawn_stage(name: &str, body: impl FnOnce() + Send + 'static) -> Option<JoinHandle<()>> {
    match std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(body)
    {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!(error = %e, thread = name, "cannot start a job store thread");
            None
        }
    }
}

fn join_stage(handle: Option<JoinHandle<()>>, name: &str) {
    if let Some(handle) = handle {
        if handle.join().is_err() {
            tracing::error!(thread = name, "a job store thread panicked");
        }
    }
}

fn run_writer(
    shared: &Arc<Shared>,
    db: sled::Db,
    tree: sled::Tree,
    log: &mut AttemptLog,
    commands: &Receiver<Command>,
) {
    let (to_flusher, flusher_inbox) = channel::<Vec<Deliver>>();
    let for_flusher = Arc::clone(shared);
    let flusher = spawn_stage("jobstore-flusher", move || {
        run_flusher(&db, &for_flusher, &flusher_inbox);
    });
    let flusher_sender = flusher.as_ref().map(|_| &to_flusher);

    while let Ok(first) = commands.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let round = run_round(shared, log, batch);
        apply_round(&tree, shared, round, flusher_sender);
    }
    // Closing the channel lets the flusher answer what it has and stop.
    drop(to_flusher);
    join_stage(flusher, "jobstore-flusher");
}

/// Runs a batch of commands against the queue and encodes what they changed.
fn run_round(shared: &Shared, log: &mut AttemptLog, batch: Vec<Command>) -> Round {
    let clock = Clock::now();
    let mut changes = Changes::default();
    let mut pending = Vec::with_capacity(batch.len());
    let writes = {
        let mut queue = shared.queue();
        for command in batch {
            pending.push(command(&mut queue, clock, &mut changes));
        }
        if changes.is_empty() {
            records::Writes::default()
        } else {
            records::batch_for(&mut queue, &changes, log)
        }
    };
    // The queue already shows the changes (only answers wait for the disk), so a worker
    // may as well start claiming now.
    if changes.deadline_moved {
        shared.notify.notify_waiters();
    } else if changes.wake {
        shared.notify.notify_one();
    }
    Round { writes, pending }
}

/// Writes a round as one atomic sled batch, answers what needs no flush and passes the
/// rest to the flusher (or flushes here when there is none).
fn apply_round(
    tree: &sled::Tree,
    shared: &Shared,
    round: Round,
    to_flusher: Option<&Sender<Vec<Deliver>>>,
) {
    let written = if round.writes.is_empty() {
        Ok(())
    } else {
        let mut batch = sled::Batch::default();
        round.writes.add_to(&mut batch);
        tree.apply_batch(batch).map_err(|source| Error::Storage {
            path: shared.path.clone(),
            action: "writing jobs",
            source,
        })
    };
    if let Err(e) = &written {
        // The in-memory queue is ahead of the disk now; callers see the error and the
        // records are rewritten by the next change to the same jobs.
        tracing::error!(error = %e, "job store write failed");
    }
    let (durable, immediate): (Vec<_>, Vec<_>) = round
        .pending
        .into_iter()
        .partition(|p| p.durable && written.is_ok());
    for p in immediate {
        (p.deliver)(written.clone());
    }
    if durable.is_empty() {
        return;
    }
    let delivers: Vec<Deliver> = durable.into_iter().map(|p| p.deliver).collect();
    match to_flusher {
        Some(sender) => {
            if let Err(unsent) = sender.send(delivers) {
                flush_and_answer(tree, shared, unsent.0);
            }
        }
        None => flush_and_answer(tree, shared, delivers),
    }
}

fn run_flusher(db: &sled::Db, shared: &Shared, inbox: &Receiver<Vec<Deliver>>) {
    while let Ok(mut waiting) = inbox.recv() {
        // Everything that queued up during the previous flush shares this one.
        while let Ok(more) = inbox.try_recv() {
            waiting.extend(more);
        }
        flush_and_answer(db, shared, waiting);
    }
}

/// Makes everything written so far durable, then answers `waiting`.
fn flush_and_answer(tree: &sled::Tree, shared: &Shared, waiting: Vec<Deliver>) {
    let result = flush_and_sync(tree, &shared.disk, &shared.path);
    if let Err(e) = &result {
        tracing::error!(error = %e, "job store flush failed");
    }
    for deliver in waiting {
        deliver(result.clone());
    }
}

/// sled's flush (written and `sync_file_range`d), then `fdatasync` of what it wrote.
pub(crate) fn flush_and_sync(tree: &sled::Tree, disk: &DiskSync, path: &Path) -> Result<(), Error> {
    let storage = |action, source| Error::Storage {
        path: path.to_owned(),
        action,
        source,
    };
    tree.flush()
        .map_err(|source| storage("flushing to disk", source))?;
    disk.sync()
        .map_err(|e| storage("syncing to stable storage", sled::Error::Io(e)))
}

/// Sends `command` to the writer.
pub(crate) fn submit(
    commands: &Sender<Command>,
    command: Command,
    path: &std::path::Path,
) -> Result<(), Error> {
    commands.send(command).map_err(|_| Error::Closed {
        path: path.to_owned(),
    })
}
