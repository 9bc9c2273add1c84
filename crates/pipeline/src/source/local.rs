//! The local-path source: a directory indexed in place.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use indexer::Scope;
use tokio::process::Command;

use crate::observer::GitObserver;
use crate::repo::{RepoLocation, RepoSpec};
use crate::source::git::refname::valid_object_id;
use crate::source::git::run_git;
use crate::source::{PreparedTree, RepoSource, SourceError, TreeRequest};

/// Indexes a local directory in place: every run is a full reconcile, which the indexer's stat
/// cache makes cheap; the commit is the directory's HEAD when it is a git checkout.
#[derive(Debug)]
pub struct LocalSource {
    pub(crate) git_timeout: Duration,
    pub(crate) observer: Arc<dyn GitObserver>,
}

#[async_trait]
impl RepoSource for LocalSource {
    async fn prepare(
        &self,
        repo: &RepoSpec,
        _request: TreeRequest<'_>,
    ) -> Result<PreparedTree, SourceError> {
        let RepoLocation::Path(path) = &repo.location else {
            return Err(SourceError::WrongLocation { expected: "path" });
        };
        if !path.is_dir() {
            return Err(SourceError::NotADirectory { path: path.clone() });
        }
        // A plain directory (no `.git` in it or above it, where git itself would look) has
        // no commit to record: don't spawn a git process per job to learn that.
        let commit = if path.ancestors().any(|dir| dir.join(".git").exists()) {
            let mut head = Command::new("git");
            head.arg("-C")
                .arg(path)
                .args(["rev-parse", "--verify", "--quiet", "HEAD"]);
            run_git(head, self.git_timeout, "", &*self.observer)
                .await
                .ok()
                .map(|out| String::from_utf8_lossy(&out).trim().to_string())
                .filter(|c| valid_object_id(c))
        } else {
            None
        };
        Ok(PreparedTree {
            path: path.clone(),
            commit,
            scope: Scope::Full,
            // The files on disk may have changed under the same HEAD: always indexed.
            unchanged: false,
            note: None,
        })
    }

    async fn remove_ref(&self, _repo: &RepoSpec, _git_ref: &str) -> Result<(), SourceError> {
        Ok(())
    }
}
