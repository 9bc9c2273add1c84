//! The parallel walk of a whole tree, on its own thread, streaming probes to the run.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, JoinHandle};

use ignore::{WalkBuilder, WalkState};

use crate::ignore_rules::IGNORE_FILE_NAMES;
use crate::path_filter::PathFilter;
use crate::probe::{FoundFile, Look, Probe, Prober};

/// Batches in flight between the walker threads and the run. Small, so that memory stays
/// bounded by (this many files x max_file_bytes) whatever the tree size: a batch holds at most
/// one probe with file content (see [`Batcher`]).
const CHANNEL_CAPACITY: usize = 64;
/// Probes without content (unchanged, skipped) sent together: one channel handoff per file
/// was a tenth of a no-change rescan, in lock contention and wake-ups; 64 per batch still left
/// ~5 % of it in the run thread's wake-ups. A batch of hits is 8 KiB.
const BATCH_PROBES: usize = 512;

/// What the walker hands over for one file.
#[derive(Debug)]
pub(crate) enum Found {
    /// A stat-cache hit on the previous manifest's entry (see [`Probe::Hit`]): no path
    /// string is built for the (usually overwhelming) unchanged majority.
    Hit(usize),
    /// Anything else, with the path relative to the root. Boxed so that the common `Hit`
    /// moves 16 bytes through batches, not the size of a `Probe`.
    Probed(Box<(String, Probe)>),
}

type Batch = Vec<Found>;

/// A running walk. Dropping it stops the walk and waits for its threads.
#[derive(Debug)]
pub(crate) struct Walk {
    receiver: Option<Receiver<Batch>>,
    pending: std::vec::IntoIter<Found>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
    prober: Arc<Prober>,
}

impl Walk {
    /// Starts walking. The prober's stat cache may be decided later: files met before that
    /// are looked at (stat, symlink policy) and judged once it is.
    pub(crate) fn start(prober: Arc<Prober>, filter: Arc<PathFilter>, threads: usize) -> Walk {
        let (sender, receiver) = sync_channel(CHANNEL_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let walk_stop = Arc::clone(&stop);
        let walk_prober = Arc::clone(&prober);
        let handle = thread::Builder::new()
            .name("indexer-walk".into())
            .spawn(move || walk(&walk_prober, &filter, threads, &sender, &walk_stop));
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
            prober,
        }
    }

    /// True when the walker thread could not be started.
    pub(crate) fn failed_to_start(&self) -> bool {
        self.handle.is_none()
    }

    /// The next probed file, or `None` when the walk is over.
    pub(crate) fn next(&mut self) -> Option<Found> {
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
        // A run that failed before deciding the cache must still release walker threads
        // waiting for it (they see `stop` and judge nothing).
        self.prober.decide_cache(None);
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
        // Bytes, not `file_name()`, which parses components from the back on every entry.
        let path = entry.path().as_os_str().as_encoded_bytes();
        if path.ends_with(b"/.git") || path == b".git" {
            return false;
        }
        let is_dir = entry.file_type().is_some_and(|t| t.is_dir());
        !(is_dir && relative(&dir_root, entry.path()).is_some_and(|rel| dir_filter.excludes(rel)))
    });
    builder.build_parallel().run(|| {
        let mut batcher = Batcher {
            sender: sender.clone(),
            batch: Vec::with_capacity(BATCH_PROBES),
            prober,
            stop,
            waiting: Vec::new(),
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
            if !filter.accepts_walked_file(rel) {
                return WalkState::Continue;
            }
            let found = match prober.look(rel, entry.path()) {
                Look::Done(probe) => Found::Probed(Box::new((rel.to_owned(), probe))),
                Look::File(file) if prober.cache_decided() => {
                    if batcher.judge_waiting().is_err() {
                        return WalkState::Quit;
                    }
                    match prober.judge(rel, &file) {
                        Probe::Hit { index } => Found::Hit(index),
                        probe => Found::Probed(Box::new((rel.to_owned(), probe))),
                    }
                }
                Look::File(file) => {
                    // The run is still loading the manifest: keep the stat work going.
                    batcher.waiting.push((rel.to_owned(), file.into_owned()));
                    return WalkState::Continue;
                }
            };
            match batcher.push(found) {
                Ok(()) => WalkState::Continue,
                Err(()) => WalkState::Quit,
            }
        })
    });
}

/// One walker thread's outgoing batch; flushed when full, when it holds file content, and
/// when the thread's visitor is dropped at the end of the walk.
struct Batcher<'a> {
    sender: SyncSender<Batch>,
    batch: Batch,
    prober: &'a Prober,
    stop: &'a AtomicBool,
    /// Files looked at before the stat cache was decided, to be judged once it is.
    waiting: Vec<(String, FoundFile<'static>)>,
}

impl Batcher<'_> {
    /// Judges the files that waited for the stat cache (blocks until it is decided); `Err`
    /// when the run stopped.
    fn judge_waiting(&mut self) -> Result<(), ()> {
        for (rel, file) in std::mem::take(&mut self.waiting) {
            if self.stop.load(Ordering::Relaxed) {
                return Err(());
            }
            let found = match self.prober.judge(&rel, &file) {
                Probe::Hit { index } => Found::Hit(index),
                probe => Found::Probed(Box::new((rel, probe))),
            };
            self.push(found)?;
        }
        Ok(())
    }

    /// `Err` when the run stopped listening.
    fn push(&mut self, found: Found) -> Result<(), ()> {
        let heavy =
            matches!(&found, Found::Probed(probed) if matches!(probed.1, Probe::Read { .. }));
        self.batch.push(found);
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

impl Drop for Batcher<'_> {
    fn drop(&mut self) {
        if self.judge_waiting().is_ok() {
            let _ = self.flush();
        }
    }
}

/// `path` relative to `root`, `/`-separated; `None` when it is not under the root or not UTF-8.
///
/// The walker builds paths by joining names onto the root, so on Unix the remainder after the
/// root is already `/`-separated and clean; only a `.` component or doubled separators (never
/// produced) would need `components()`, which cost a per-file allocation walk. Borrowed: the
/// walker allocates a path string only for files that are not stat-cache hits.
fn relative<'p>(root: &Path, path: &'p Path) -> Option<&'p str> {
    // Bytes, not `Path::strip_prefix`, which compares component by component.
    let root = root.as_os_str().as_encoded_bytes();
    let rest = path.as_os_str().as_encoded_bytes().strip_prefix(root)?;
    let rest = if root.ends_with(b"/") {
        rest
    } else {
        rest.strip_prefix(b"/")?
    };
    std::str::from_utf8(rest).ok().filter(|rel| !rel.is_empty())
}
