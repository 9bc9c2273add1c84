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

/// Probes in flight between the walker threads and the run. Small, so that memory stays
/// bounded by (this many files x max_file_bytes) whatever the tree size.
const CHANNEL_CAPACITY: usize = 64;

/// A running walk. Dropping it stops the walk and waits for its threads.
#[derive(Debug)]
pub(crate) struct Walk {
    receiver: Option<Receiver<(String, Probe)>>,
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
            stop,
            handle,
        }
    }

    /// True when the walker thread could not be started.
    pub(crate) fn failed_to_start(&self) -> bool {
        self.handle.is_none()
    }

    /// The next probed file, or `None` when the walk is over.
    pub(crate) fn next(&self) -> Option<(String, Probe)> {
        self.receiver.as_ref()?.recv().ok()
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
    sender: &SyncSender<(String, Probe)>,
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
        let sender = sender.clone();
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
            match sender.send((rel, probe)) {
                Ok(()) => WalkState::Continue,
                Err(_) => WalkState::Quit,
            }
        })
    });
}

/// `path` relative to `root`, `/`-separated; `None` when it is not under the root or not UTF-8.
fn relative(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut out = String::new();
    for component in rel.components() {
        if !out.is_empty() {
            out.push('/');
        }
        out.push_str(component.as_os_str().to_str()?);
    }
    (!out.is_empty()).then_some(out)
}
