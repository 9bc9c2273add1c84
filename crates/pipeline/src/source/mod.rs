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
pub use git::GitSource;
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
}

/// What a runner asks a source for.
#[derive(Debug, Clone)]
pub struct TreeRequest<'a> {
    /// The full ref name (`refs/heads/main`).
    pub git_ref: &'a str,
    /// The commit to index; `None` means the ref's current tip.
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
    /// Fetch (if needed) and materialise `request.git_ref` at `request.commit`.
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
