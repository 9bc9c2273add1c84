//! The two threads behind [`SledJobStore`](crate::SledJobStore).
//!
//! The *writer* takes every queued operation off a channel, applies them all to the
//! in-memory queue under one lock, writes the records they touched as one atomic sled batch,
//! and hands the replies of durable operations to the *flusher*. The flusher takes every
//! reply waiting for it, calls `flush` once (one fsync for all of them) and only then answers.
//! While it flushes, the writer keeps applying the next operations, so throughput grows with
//! the number of concurrent callers instead of being one fsync per request.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use tokio::sync::Notify;

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
    commands: Receiver<Command>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("jobstore-writer".to_owned())
        .spawn(move || run_writer(&shared, db, &tree, &commands))
}

fn run_writer(shared: &Shared, db: sled::Db, tree: &sled::Tree, commands: &Receiver<Command>) {
    let (to_flusher, flusher_inbox) = channel::<Vec<Deliver>>();
    let flusher_path = shared.path.clone();
    let flusher = std::thread::Builder::new()
        .name("jobstore-flusher".to_owned())
        .spawn(move || run_flusher(&db, &flusher_path, &flusher_inbox));
    let flusher = match flusher {
        Ok(handle) => Some(handle),
        Err(e) => {
            tracing::error!(error = %e, "cannot start the jobstore flusher thread");
            None
        }
    };

    while let Ok(first) = commands.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match commands.try_recv() {
                Ok(command) => batch.push(command),
                Err(_) => break,
            }
        }
        let (pending, written) = apply(shared, tree, batch);
        let (durable, immediate): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|p| p.durable && written.is_ok());
        for p in immediate {
            (p.deliver)(written.clone());
        }
        if durable.is_empty() {
            continue;
        }
        let delivers: Vec<Deliver> = durable.into_iter().map(|p| p.deliver).collect();
        if flusher.is_none() {
            flush_and_answer(tree, &shared.path, delivers);
        } else if let Err(unsent) = to_flusher.send(delivers) {
            flush_and_answer(tree, &shared.path, unsent.0);
        }
    }
    drop(to_flusher);
    if let Some(handle) = flusher {
        if handle.join().is_err() {
            tracing::error!("the jobstore flusher thread panicked");
        }
    }
}

/// Runs a batch of commands against the queue and writes what they changed.
fn apply(
    shared: &Shared,
    tree: &sled::Tree,
    batch: Vec<Command>,
) -> (Vec<Pending>, Result<(), Error>) {
    let clock = Clock::now();
    let mut changes = Changes::default();
    let mut pending = Vec::with_capacity(batch.len());
    let encoded = {
        let mut queue = shared.queue();
        for command in batch {
            pending.push(command(&mut queue, clock, &mut changes));
        }
        if changes.is_empty() {
            None
        } else {
            Some(records::batch_for(&mut queue, &changes))
        }
    };
    let written = match encoded {
        None => Ok(()),
        Some(Err(e)) => Err(e),
        Some(Ok(sled_batch)) => tree
            .apply_batch(sled_batch)
            .map_err(|source| Error::Storage {
                path: shared.path.clone(),
                action: "writing jobs",
                source,
            }),
    };
    if let Err(e) = &written {
        // The in-memory queue is ahead of the disk now; callers see the error and the
        // records are rewritten by the next change to the same jobs.
        tracing::error!(error = %e, "job store write failed");
    }
    if changes.deadline_moved {
        shared.notify.notify_waiters();
    } else if changes.wake {
        shared.notify.notify_one();
    }
    (pending, written)
}

fn run_flusher(db: &sled::Db, path: &std::path::Path, inbox: &Receiver<Vec<Deliver>>) {
    while let Ok(mut waiting) = inbox.recv() {
        // Everything that queued up during the previous flush shares this one.
        while let Ok(more) = inbox.try_recv() {
            waiting.extend(more);
        }
        flush_and_answer(db, path, waiting);
    }
}

fn flush_and_answer(tree: &sled::Tree, path: &std::path::Path, waiting: Vec<Deliver>) {
    let result = tree.flush().map(drop).map_err(|source| Error::Storage {
        path: path.to_owned(),
        action: "flushing to disk",
        source,
    });
    if let Err(e) = &result {
        tracing::error!(error = %e, "job store flush failed");
    }
    for deliver in waiting {
        deliver(result.clone());
    }
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
