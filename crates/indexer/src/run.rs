//! The [`Indexer`] and one run of it: scope, walk or hints, batches to the sink, commit, then
//! the manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::batch::Reconciler;
use crate::change_set::{RefKey, RunCounts};
use crate::config::IndexerConfig;
use crate::decided::Decided;
use crate::error::Error;
use crate::gitattributes::LinguistAttributes;
use crate::ignore_rules::{IGNORE_FILE_NAMES, IgnoreRules};
use crate::manifest::{Manifest, ManifestStore};
use crate::manifest_view::ManifestView;
use crate::name_status::Scope;
use crate::path_filter::PathFilter;
use crate::probe::{Probe, Prober, open_no_follow};
use crate::sink::IndexSink;
use crate::skip::SkipReason;
use crate::walk::{Found, Walk};

/// The progress callback fires at least this often (in files) during a run.
const PROGRESS_EVERY: u64 = 32;
/// The root `.gitattributes` is read only up to this size.
const MAX_GITATTRIBUTES_BYTES: u64 = 1024 * 1024;

/// What to index: a checked-out tree, for which ref, at which commit, how much of it.
#[derive(Debug, Clone)]
pub struct RunRequest<'a> {
    /// The root of the checkout (its `.git`, if any, is never entered).
    pub tree: &'a Path,
    /// Which (repo, ref) the tree is.
    pub key: RefKey,
    /// The commit checked out, when known; passed on in every [`ChangeSet`](crate::ChangeSet)
    /// and kept in the manifest.
    pub commit: Option<String>,
    /// Everything, or only the paths a diff named.
    pub scope: Scope,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Final counters (the same the progress callback saw last).
    pub progress: RunCounts,
    /// Skipped files by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Files whose content was actually read (stat-cache misses, racily clean re-hashes).
    pub files_read: u64,
}

/// Incremental indexer: walks a tree, finds what changed since the last committed run of the
/// same (repo, ref), chunks it and streams the changes to an [`IndexSink`].
#[derive(Debug, Clone)]
pub struct Indexer {
    config: IndexerConfig,
    filter: Arc<PathFilter>,
}

impl Indexer {
    /// An indexer with `config`; fails with [`Error::Glob`] naming a glob that does not parse.
    pub fn new(config: IndexerConfig) -> Result<Self, Error> {
        let filter = PathFilter::new(&config.include, &config.exclude)?;
        Ok(Indexer {
            config,
            filter: Arc::new(filter),
        })
    }

    /// The configuration this indexer was built with.
    pub fn config(&self) -> &IndexerConfig {
        &self.config
    }

    /// One incremental run: scan (Full: walk everything; Paths: only those, plus a check that
    /// each hinted path is still what git says), send batches to `sink.apply`, then `sink.commit`,
    /// then save the manifest. On any error or cancellation: `sink.abort(key)`, manifest untouched.
    ///
    /// **This blocks the calling thread** for the file-system and hashing work and the sink's
    /// writes (the walk runs on its own threads, but this thread waits for it). From tokio, run
    /// it on a blocking thread: `tokio::task::spawn_blocking(move || indexer.run(..))`.
    ///
    /// When nothing changed and the commit is the same, neither the sink nor the manifest
    /// store is touched. When only the commit changed, one empty batch carrying it is applied
    /// and committed. `cancelled` is polled between files; `on_progress` is called every few
    /// files and once at the end.
    pub fn run(
        &self,
        request: RunRequest<'_>,
        sink: &dyn IndexSink,
        manifests: &dyn ManifestStore,
        on_progress: &(dyn Fn(&RunCounts) + Send + Sync),
        cancelled: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<RunSummary, Error> {
        let key = request.key.clone();
        let result = self.run_inner(request, sink, manifests, on_progress, cancelled);
        if let Err(error) = &result {
            tracing::info!(repo = %key.repo, git_ref = %key.git_ref, %error, "indexing run failed; aborting");
            if let Err(abort_error) = sink.abort(&key) {
                tracing::warn!(repo = %key.repo, git_ref = %key.git_ref, error = %abort_error, "sink abort failed");
            }
        }
        result
    }

    /// The ref is gone: sink.drop_ref, then remove the manifest.
    pub fn drop_ref(
        &self,
        key: &RefKey,
        sink: &dyn IndexSink,
        manifests: &dyn ManifestStore,
    ) -> Result<(), Error> {
        sink.drop_ref(key).map_err(Error::Sink)?;
        manifests.remove(key)
    }

    fn run_inner(
        &self,
        request: RunRequest<'_>,
        sink: &dyn IndexSink,
        manifests: &dyn ManifestStore,
        on_progress: &(dyn Fn(&RunCounts) + Send + Sync),
        cancelled: &(dyn Fn() -> bool + Send + Sync),
    ) -> Result<RunSummary, Error> {
        let started = Instant::now();
        // Stat data is taken after this instant; the racily-clean rule compares against it.
        let started_at_ns = now_ns();
        let root = canonical_tree(request.tree)?;
        // A path-hint run needs only the hinted paths' entries; it falls back to a full walk
        // (with the whole manifest) when there is no usable manifest.
        let mut hinted = match &request.scope {
            Scope::Paths(changes) => hinted_paths(changes),
            Scope::Full => None,
        };
        // Hint runs decode the few entries they load; full runs index the stored manifest's
        // paths and stat data and decode an entry only for a file that changed.
        let mut previous = match &hinted {
            Some(paths) => load_previous(|| manifests.load_paths(&request.key, paths))?
                .filter(|m| m.matches(&self.config))
                .as_ref()
                .map(ManifestView::from),
            None => None,
        };
        let prober = Arc::new(Prober {
            root: root.clone(),
            config: self.config.clone(),
            attributes: read_attributes(&root),
            cache: Decided::new(),
            files_read: Default::default(),
        });
        // A full walk starts before the manifest is loaded: its threads stat files meanwhile
        // and compare them once the cache is decided below (loading a large manifest was a
        // sixth of a no-change rescan, with the walker idle).
        let mut walk = None;
        if previous.is_none() {
            hinted = None;
            let started = Walk::start(
                Arc::clone(&prober),
                Arc::clone(&self.filter),
                self.threads(),
            );
            if started.failed_to_start() {
                return Err(Error::io(
                    &root,
                    std::io::Error::other("cannot start the walker thread"),
                ));
            }
            walk = Some(started);
            previous = load_previous(|| manifests.load_view(&request.key))?;
        }
        let trusted = previous.as_ref().is_some_and(|m| m.matches(&self.config));
        if previous.is_some() && !trusted {
            tracing::info!(repo = %request.key.repo, git_ref = %request.key.git_ref,
                "manifest made with other settings or schema; re-reading every file");
        }
        let previous = previous.map(Arc::new);
        prober.decide_cache(if trusted { previous.clone() } else { None });
        let mut state = Reconciler::new(
            request.key.clone(),
            request.commit.clone(),
            previous.clone(),
            hinted.is_some(),
            self.config.batch_bytes,
        );

        let mut until_progress = PROGRESS_EVERY;
        match &hinted {
            Some(paths) => {
                let mut rules = IgnoreRules::new(&root);
                for rel in paths {
                    if cancelled() {
                        return Err(Error::Cancelled);
                    }
                    let visible = valid_relative(rel)
                        && self.filter.accepts_file(rel)
                        && !rules.is_ignored(rel);
                    let probe = if visible {
                        prober.probe(rel, &root.join(rel))
                    } else {
                        Probe::Gone
                    };
                    state.absorb(rel.clone(), probe);
                    self.after_file(&mut state, sink, on_progress, &mut until_progress)?;
                }
            }
            None => {
                let Some(mut walk) = walk else {
                    return Err(Error::io(&root, std::io::Error::other("no walk started")));
                };
                while let Some(found) = walk.next() {
                    if cancelled() {
                        return Err(Error::Cancelled);
                    }
                    match found {
                        Found::Hit(index) => state.absorb_hit(index),
                        Found::Probed(probed) => {
                            let (rel, probe) = *probed;
                            state.absorb(rel, probe);
                        }
                    }
                    self.after_file(&mut state, sink, on_progress, &mut until_progress)?;
                }
                drop(walk);
                if cancelled() {
                    return Err(Error::Cancelled);
                }
                state.delete_unseen();
            }
        }

        let files_read = prober.files_read();
        // The walk is over: let the reconciler be the previous manifest's only holder, so the
        // next manifest can be built from it without a copy.
        drop(prober);
        let commit_changed = previous
            .as_ref()
            .is_none_or(|m| m.commit() != request.commit.as_deref());
        if !state.batch_is_empty() || (state.batches == 0 && commit_changed) {
            let batch = state.take_batch();
            sink.apply(&batch).map_err(Error::Sink)?;
        }
        if state.batches > 0 {
            sink.commit(&request.key).map_err(Error::Sink)?;
        }
        let manifest_changed = state.batches > 0
            || !trusted
            || files_read > 0
            || state.restatted > 0
            || state.skipped_changed();
        drop(previous);
        if manifest_changed && hinted.is_some() {
            let update = state.take_update(request.commit.clone(), started_at_ns);
            manifests.save_update(&request.key, &update)?;
        } else if manifest_changed {
            let (files, skipped) = state.take_full_entries();
            let mut manifest = Manifest::new(&self.config, request.commit.clone(), files, skipped);
            manifest.set_written_at(started_at_ns);
            manifests.save(&request.key, &manifest)?;
        }
        on_progress(&state.progress);
        Ok(RunSummary {
            progress: state.progress,
            skipped: state.skipped,
            elapsed: started.elapsed(),
            files_read,
        })
    }

    /// Per-file bookkeeping: flush a full batch, report progress now and then.
    fn after_file(
        &self,
        state: &mut Reconciler,
        sink: &dyn IndexSink,
        on_progress: &(dyn Fn(&RunCounts) + Send + Sync),
        until_progress: &mut u64,
    ) -> Result<(), Error> {
        if state.batch_is_full() {
            let batch = state.take_batch();
            sink.apply(&batch).map_err(Error::Sink)?;
        }
        *until_progress -= 1;
        if *until_progress == 0 {
            *until_progress = PROGRESS_EVERY;
            on_progress(&state.progress);
        }
        Ok(())
    }

    fn threads(&self) -> usize {
        match self.config.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

fn canonical_tree(tree: &Path) -> Result<PathBuf, Error> {
    match fs::canonicalize(tree) {
        Ok(root) if root.is_dir() => Ok(root),
        _ => Err(Error::TreeMissing {
            path: tree.to_path_buf(),
        }),
    }
}

/// The stored manifest; a corrupt one is logged and treated as absent (a full re-index is
/// always correct for the files present; see the crate docs for what it cannot remove).
fn load_previous<T>(load: impl FnOnce() -> Result<Option<T>, Error>) -> Result<Option<T>, Error> {
    match load() {
        Ok(manifest) => Ok(manifest),
        Err(Error::Manifest { path, reason }) => {
            tracing::warn!(path = %path.display(), %reason, "unusable manifest; indexing from scratch");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The paths a hint run looks at, sorted and deduplicated, or `None` when the hint cannot be
/// trusted to cover the change (an ignore or attributes file changed: any path may be affected).
fn hinted_paths(changes: &[crate::name_status::PathChange]) -> Option<BTreeSet<String>> {
    let mut paths = BTreeSet::new();
    for change in changes {
        for path in std::iter::once(&change.path).chain(change.old_path.as_ref()) {
            let name = path.rsplit('/').next().unwrap_or(path);
            if IGNORE_FILE_NAMES.contains(&name) || name == ".gitattributes" {
                tracing::debug!(
                    path,
                    "ignore/attributes file in the hint; walking the whole tree"
                );
                return None;
            }
            paths.insert(path.clone());
        }
    }
    Some(paths)
}

/// A hinted path may name only something inside the tree and outside `.git`.
fn valid_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.starts_with('/')
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(n) if n != ".git"))
}

fn read_attributes(root: &Path) -> LinguistAttributes {
    let mut text = String::new();
    let read = open_no_follow(&root.join(".gitattributes"))
        .and_then(|file| file.take(MAX_GITATTRIBUTES_BYTES).read_to_string(&mut text));
    match read {
        Ok(_) => LinguistAttributes::parse(&text),
        Err(_) => LinguistAttributes::default(),
    }
}
