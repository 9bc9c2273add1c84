//! The parallel walk of a whole tree, on its own thread, streaming probes to the run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use ignore::{WalkBuilder, WalkState};

use crate::ignore_rules::IGNORE_FILE_NAMES;
use crate::path_filter::PathFilter;
use crate::probe::{Probe, Prober};

/// Batches in flight between the walker threads and the run. Small, so that memory stays
/// bounded by (this many files x max_file_bytes) whatever the tree size: a batch holds at most
/// one probe with file content (see [`Batcher`]).
const CHANNEL_CAPACITY: usize = 64;
/// Probes without content (unchanged, skipped) sent together: one channel handoff per file
/// was a tenth of a no-change rescan, in lock contention and wake-ups.
const BATCH_PROBES: usize = 64;

type Batch = Vec<(String, Probe)>;

/// A running walk. Dropping it stops the walk and waits for its threads.
#[derive(Debug)]
pub(crate) struct Walk {
    receiver: Option<Receiver<Batch>>,
    pending: std::vec::IntoIter<(String, Probe)>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Walk {
    pub(crate) fn start(prober: Arc<Prober>, filter: Arc<PathFilter>, threads: usize) -> Walk {
        let (sender, receiver) = sync_channel(CHANNEL_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let walk_stop = Arc::clone(&stop);
        let handle = thread::Builder::new()
            .name("indexer-walk".into())
            .spawn(move || walk(&prober, &filter, threads, &sender, &walk_stop));
        let handle = match handle {
            Ok(handle) => Some(handle),
            Err(e) => {
                // Without a thread there is no walk; the run then sees an empty tree, which
                // would delete everything, so make the receiver report a disconnect instead.
                tracing::error!(error = %e, "cannot spawn the walker thread");
                None
            }
        };
        Walk {
            receiver: Some(receiver),
            pending: Vec::new().into_iter(),
            stop,
            handle,
        }
    }

    /// True when the walker thread could not be started.
    pub(crate) fn failed_to_start(&self) -> bool {
        self.handle.is_none()
    }

    /// The next probed file, or `None` when the walk is over.
    pub(crate) fn next(&mut self) -> Option<(String, Probe)> {
        loop {
            if let Some(item) = self.pending.next() {
                return Some(item);
            }
            self.pending = self.receiver.as_ref()?.recv().ok()?.into_iter();
        }
    }
}

impl Drop for Walk {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver first unblocks walker threads waiting on a full channel.
        self.receiver.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn walk(
    prober: &Prober,
    filter: &Arc<PathFilter>,
    threads: usize,
    sender: &SyncSender<Batch>,
    stop: &AtomicBool,
) {
    let root = prober.root.clone();
    let mut builder = WalkBuilder::new(&root);
    builder
        .hidden(false)
        .parents(false)
        .ignore(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(false)
        .threads(threads);
    for name in IGNORE_FILE_NAMES
        .iter()
        .filter(|n| !matches!(**n, ".ignore" | ".gitignore"))
    {
        builder.add_custom_ignore_filename(name);
    }
    let dir_filter = Arc::clone(filter);
    let dir_root = root.clone();
    builder.filter_entry(move |entry| {
        if entry.file_name() == ".git" {
            return false;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        !(is_dir && relative(&dir_root, entry.path()).is_some_and(|rel| dir_filter.excludes(&rel)))
    });
    builder.build_parallel().run(|| {
        let mut batcher = Batcher {
            sender: sender.clone(),
            batch: Vec::with_capacity(BATCH_PROBES),
        };
        let root = root.clone();
        Box::new(move |result| {
            if stop.load(Ordering::Relaxed) {
                return WalkState::Quit;
            }
            let entry = match result {
                Ok(entry) => entry,
                Err(e) => {
                    tracing::warn!(error = %e, "walk error; continuing");
                    return WalkState::Continue;
                }
            };
            if entry.file_type().is_none_or(|t| t.is_dir()) {
                return WalkState::Continue;
            }
            let Some(rel) = relative(&root, entry.path()) else {
                tracing::warn!(path = %entry.path().display(), "path is not UTF-8; skipped");
                return WalkState::Continue;
            };
            if !filter.accepts_walked_file(&rel) {
                return WalkState::Continue;
            }
            let probe = prober.probe(&rel, entry.path());
            match batcher.push(rel, probe) {
                Ok(()) => WalkState::Continue,
                Err(()) => WalkState::Quit,
            }
        })
    });
}

/// One walker thread's outgoing batch; flushed when full, when it holds file content, and
/// when the thread's visitor is dropped at the end of the walk.
struct Batcher {
    sender: SyncSender<Batch>,
    batch: Batch,
}

impl Batcher {
    /// `Err` when the run stopped listening.
    fn push(&mut self, rel: String, probe: Probe) -> Result<(), ()> {
        let heavy = matches!(probe, Probe::Read { .. });
        self.batch.push((rel, probe));
        if heavy || self.batch.len() >= BATCH_PROBES {
            self.flush()
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> Result<(), ()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH_PROBES));
        self.sender.send(batch).map_err(|_| ())
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// `path` relative to `root`, `/`-separated; `None` when it is not under the root or not UTF-8.
///
/// The walker builds paths by joining names onto the root, so on Unix the remainder after the
/// root is already `/`-separated and clean; only a `.` component or doubled separators (never
/// produced) would need `components()`, which cost a per-file allocation walk.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.to_str()?;
    (!rel.is_empty()).then(|| rel.to_owned())
}
