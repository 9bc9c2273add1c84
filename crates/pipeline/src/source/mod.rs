//! Where a job's tree comes from: the [`RepoSource`] trait, the git mirror source and the
//! local-path source, and [`Sources`], which picks one by the repo's location.

mod error;
pub mod git;
mod local;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use indexer::Scope;

pub use error::SourceError;
pub use git::{GitSource, ReconcileSlot};
pub use local::LocalSource;

use crate::observer::{GitObserver, NoGitObserver};
use crate::repo::{RepoLocation, RepoSpec};

/// A tree ready for the indexer.
#[derive(Debug)]
pub struct PreparedTree {
    /// The directory holding the ref's files.
    pub path: PathBuf,
    /// The commit the tree holds, when it has one.
    pub commit: Option<String>,
    /// What the indexer must look at: the paths that changed, or everything.
    pub scope: Scope,
    /// The index already holds exactly this commit of the ref (and no full run was asked
    /// for): there is nothing to index, and the tree may not have been written.
    pub unchanged: bool,
    /// A short note for the job when what was indexed is not what the request named (the
    /// pushed commit is behind the tip, or gone from the ref).
    pub note: Option<String>,
}

/// What a runner asks a source for.
#[derive(Debug, Clone)]
pub struct TreeRequest<'a> {
    /// The full ref name (`refs/heads/main`), the name the ref is indexed and kept under.
    pub git_ref: &'a str,
    /// The ref to fetch from the remote when it differs from `git_ref` (a pull request's
    /// source branch, kept in the mirror under `git_ref`).
    pub fetch_ref: Option<&'a str>,
    /// The commit the request expects (a push's `after`): a hint only. The ref's real tip
    /// after the fetch is what gets indexed; the hint is compared with it for the note.
    pub commit: Option<&'a str>,
    /// The commit the index holds now (from the manifest), the base of the diff.
    pub indexed_commit: Option<&'a str>,
    /// Ignore the diff and reconcile everything.
    pub full: bool,
}

/// Produces the tree of a ref at a commit, and forgets refs.
///
/// The methods are async because they wait on git processes; an implementation keeps its
/// file-system work that can take long (removing a tree, walking a mirror) off the runtime.
#[async_trait]
pub trait RepoSource: Send + Sync + std::fmt::Debug {
    /// Fetch `request.git_ref` and materialise its tip (the source's newest state, never an
    /// older commit a late request names).
    async fn prepare(
        &self,
        repo: &RepoSpec,
        request: TreeRequest<'_>,
    ) -> Result<PreparedTree, SourceError>;
    /// Drop whatever is kept for a ref that no longer exists.
    async fn remove_ref(&self, repo: &RepoSpec, git_ref: &str) -> Result<(), SourceError>;
}

/// Picks the source for a repo by its location.
#[derive(Debug)]
pub struct Sources {
    git: GitSource,
    local: LocalSource,
}

impl Sources {
    /// Sources keeping their state under `data_dir` (absolute), with `git_timeout` on every
    /// git command.
    pub fn new(data_dir: &Path, git_timeout: Duration) -> Self {
        Sources {
            git: GitSource::new(data_dir, git_timeout),
            local: LocalSource {
                git_timeout,
                observer: Arc::new(NoGitObserver),
            },
        }
    }

    /// The same sources, telling `observer` about every git command they run.
    pub fn with_observer(self, observer: Arc<dyn GitObserver>) -> Self {
        Sources {
            git: self.git.with_observer(observer.clone()),
            local: LocalSource {
                git_timeout: self.local.git_timeout,
                observer,
            },
        }
    }

    /// The source that reads `repo`.
    pub fn for_repo(&self, repo: &RepoSpec) -> &dyn RepoSource {
        match repo.location {
            RepoLocation::Url(_) => &self.git,
            RepoLocation::Path(_) => &self.local,
        }
    }
}

/// Runs blocking file-system work on tokio's blocking pool and waits for it; a panic there
/// is resumed here, as if the work had run inline.
pub(crate) async fn off_runtime<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => value,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}
