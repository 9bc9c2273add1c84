//! Heals missed webhooks: compares a url repo's remote heads with the commits its index holds
//! and queues a `reconcile` job for every difference.
//!
//! [`plan_reconcile`] is the policy (pure); [`reconcile_repo`] asks the remote once
//! (`git ls-remote --heads` through [`GitSource::remote_heads`]), reads the indexed commit of
//! each candidate ref on the blocking pool, and queues the jobs. The job store coalesces per
//! (repo, ref), so a queued webhook job for the same ref is not duplicated.
//!
//! ```
//! use std::collections::BTreeMap;
//! use pipeline::{RepoLocation, RepoSpec, plan_reconcile};
//!
//! let repo = RepoSpec {
//!     name: "demo".into(),
//!     location: RepoLocation::Url("https://git.example/demo.git".into()),
//!     branches: vec!["main".into()],
//!     pull_requests: false,
//!     tags: false,
//!     include: Vec::new(),
//!     exclude: Vec::new(),
//!     max_file_bytes: 1 << 20,
//!     index_secret_files: false,
//! };
//! let a = "a".repeat(40);
//! let b = "b".repeat(40);
//! let remote = vec![("refs/heads/main".to_string(), b.clone())];
//! let indexed = BTreeMap::from([("refs/heads/main".to_string(), Some(a.clone()))]);
//! let missed = plan_reconcile(&repo, &remote, &indexed);
//! assert_eq!(missed.len(), 1);
//! assert_eq!(missed[0].remote.as_deref(), Some(b.as_str()));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use indexer::{ManifestStore, RefKey};
use jobstore::{JobKind, JobStore, NewJob, Trigger};

use crate::repo::{RepoLocation, RepoSpec};
use crate::source::{GitSource, SourceError};

/// One ref on which the index and the remote disagree: a webhook that never arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissedRef {
    /// The full ref name.
    pub git_ref: String,
    /// The commit the index holds (`None`: never indexed).
    pub indexed: Option<String>,
    /// The remote's commit (`None`: the ref is gone upstream).
    pub remote: Option<String>,
}

impl MissedRef {
    /// The job that heals it: index the remote commit, or drop a ref gone upstream.
    pub fn job(&self, repo: &str) -> NewJob {
        let mut job = NewJob::index(repo, self.git_ref.clone(), Trigger::Reconcile);
        match &self.remote {
            Some(commit) => job.commit = Some(commit.clone()),
            None => job.kind = JobKind::DeleteRef,
        }
        job
    }
}

/// Which tracked refs differ between `remote` (`(ref, commit)` as ls-remote lists them) and
/// `indexed` (each candidate ref with the commit its manifest holds, `None` when it has none).
///
/// A tracked remote head not indexed at that commit is missed; an indexed ref (one with a
/// commit) that the remote no longer lists is missed as deleted.
pub fn plan_reconcile(
    repo: &RepoSpec,
    remote: &[(String, String)],
    indexed: &BTreeMap<String, Option<String>>,
) -> Vec<MissedRef> {
    let mut missed = Vec::new();
    let mut listed = BTreeSet::new();
    for (git_ref, commit) in remote {
        if !repo.tracks_branch(git_ref) {
            continue;
        }
        listed.insert(git_ref.as_str());
        let have = indexed.get(git_ref).cloned().flatten();
        if have.as_deref() != Some(commit.as_str()) {
            missed.push(MissedRef {
                git_ref: git_ref.clone(),
                indexed: have,
                remote: Some(commit.clone()),
            });
        }
    }
    for (git_ref, have) in indexed {
        if let Some(have) = have {
            if repo.tracks_branch(git_ref) && !listed.contains(git_ref.as_str()) {
                missed.push(MissedRef {
                    git_ref: git_ref.clone(),
                    indexed: Some(have.clone()),
                    remote: None,
                });
            }
        }
    }
    missed
}

/// Queues a rescan of a path repo: one index job per configured branch with trigger
/// `reconcile` (the stat cache keeps it cheap when nothing changed; not a missed webhook).
pub async fn enqueue_rescan(jobs: &dyn JobStore, repo: &RepoSpec) {
    for git_ref in repo.branch_refs() {
        let job = NewJob::index(repo.name.clone(), git_ref, Trigger::Reconcile);
        if let Err(error) = jobs.enqueue(job).await {
            tracing::warn!(%error, repo = %repo.name, "could not queue the rescan job");
        }
    }
}

/// Why a reconcile pass of a repo did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The remote could not be listed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A job could not be queued.
    #[error("could not queue a reconcile job: {0}")]
    Queue(String),
    /// The job store could not say which refs already have work waiting.
    #[error("could not list the jobs waiting in the store: {0}")]
    Store(String),
}

/// One reconcile pass of a url repo: one ls-remote, then a job per [`MissedRef`] whose ref
/// has no queued or running job, each logged at WARN and reported to `on_missed`. A path repo is not listed here (its rescan is
/// a normal index job). Returns what was missed.
pub async fn reconcile_repo(
    repo: &RepoSpec,
    git: &GitSource,
    manifests: Arc<dyn ManifestStore>,
    jobs: &dyn JobStore,
    on_missed: &(dyn Fn(&str, &MissedRef) + Send + Sync),
) -> Result<Vec<MissedRef>, ReconcileError> {
    if !matches!(repo.location, RepoLocation::Url(_)) {
        return Ok(Vec::new());
    }
    let remote = git.remote_heads(repo).await?;
    // Candidates: every tracked remote head and every configured branch (a deleted one has
    // a manifest but no remote head).
    let mut candidates: BTreeSet<String> = repo.branch_refs().collect();
    candidates.extend(
        remote
            .iter()
            .filter(|(git_ref, _)| repo.tracks_branch(git_ref))
            .map(|(git_ref, _)| git_ref.clone()),
    );
    let name = repo.name.clone();
    let indexed = tokio::task::spawn_blocking(move || {
        candidates
            .into_iter()
            .map(|git_ref| {
                let commit = manifests
                    .load_paths(&RefKey::new(&name, &git_ref), &BTreeSet::new())
                    .ok()
                    .flatten()
                    .and_then(|m| m.commit().map(str::to_string));
                (git_ref, commit)
            })
            .collect::<BTreeMap<_, _>>()
    })
    .await
    .unwrap_or_default();
    // A ref with a queued or running job is that job's to bring up to date (a webhook that
    // did arrive is not a missed one); the next pass compares it again.
    let busy: BTreeSet<String> = jobs
        .pending()
        .await
        .map_err(|e| ReconcileError::Store(e.to_string()))?
        .into_iter()
        .filter(|p| p.repo == repo.name)
        .map(|p| p.git_ref)
        .collect();
    let mut missed = plan_reconcile(repo, &remote, &indexed);
    missed.retain(|miss| !busy.contains(&miss.git_ref));
    for miss in &missed {
        tracing::warn!(
            repo = %repo.name,
            git_ref = %miss.git_ref,
            indexed = miss.indexed.as_deref().unwrap_or("none"),
            remote = miss.remote.as_deref().unwrap_or("deleted"),
            "reconcile found a missed webhook"
        );
        jobs.enqueue(miss.job(&repo.name))
            .await
            .map_err(|e| ReconcileError::Queue(e.to_string()))?;
        on_missed(&repo.name, miss);
    }
    Ok(missed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const MAIN: &str = "refs/heads/main";

    fn repo(branches: &[&str]) -> RepoSpec {
        RepoSpec {
            name: "r".into(),
            location: RepoLocation::Url("https://example.invalid/r.git".into()),
            branches: branches.iter().map(|b| b.to_string()).collect(),
            pull_requests: false,
            tags: false,
            include: Vec::new(),
            exclude: Vec::new(),
            max_file_bytes: 1 << 20,
            index_secret_files: false,
        }
    }

    fn miss(git_ref: &str, indexed: Option<&str>, remote: Option<&str>) -> MissedRef {
        MissedRef {
            git_ref: git_ref.into(),
            indexed: indexed.map(str::to_string),
            remote: remote.map(str::to_string),
        }
    }

    #[test]
    fn differences_become_missed_refs() {
        type Case<'a> = (
            &'a str,
            &'a [&'a str],
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, Option<&'a str>)],
            Vec<MissedRef>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "in step",
                &["main"],
                &[(MAIN, A)],
                &[(MAIN, Some(A))],
                vec![],
            ),
            (
                "remote ahead",
                &["main"],
                &[(MAIN, B)],
                &[(MAIN, Some(A))],
                vec![miss(MAIN, Some(A), Some(B))],
            ),
            (
                "never indexed",
                &["main"],
                &[(MAIN, A)],
                &[(MAIN, None)],
                vec![miss(MAIN, None, Some(A))],
            ),
            (
                "deleted upstream",
                &["main", "dev"],
                &[(MAIN, A)],
                &[(MAIN, Some(A)), ("refs/heads/dev", Some(B))],
                vec![miss("refs/heads/dev", Some(B), None)],
            ),
            (
                "untracked remote head",
                &["main"],
                &[(MAIN, A), ("refs/heads/dev", B)],
                &[(MAIN, Some(A))],
                vec![],
            ),
            (
                "glob picks up a new branch, exclusion skips another",
                &["release/*", "!release/old*"],
                &[("refs/heads/release/2", A), ("refs/heads/release/old1", B)],
                &[],
                vec![miss("refs/heads/release/2", None, Some(A))],
            ),
            (
                "configured branch neither on the remote nor indexed",
                &["main"],
                &[],
                &[(MAIN, None)],
                vec![],
            ),
        ];
        for (name, branches, remote, indexed, want) in cases {
            let remote: Vec<(String, String)> = remote
                .iter()
                .map(|(r, c)| (r.to_string(), c.to_string()))
                .collect();
            let indexed: BTreeMap<String, Option<String>> = indexed
                .iter()
                .map(|(r, c)| (r.to_string(), c.map(str::to_string)))
                .collect();
            assert_eq!(
                plan_reconcile(&repo(branches), &remote, &indexed),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn jobs_index_the_remote_commit_or_drop_the_ref() {
        let job = miss("refs/heads/main", Some(A), Some(B)).job("r");
        assert_eq!(
            (job.kind, job.commit.as_deref(), job.trigger),
            (JobKind::Index, Some(B), Trigger::Reconcile)
        );
        let job = miss("refs/heads/dev", Some(A), None).job("r");
        assert_eq!((job.kind, job.commit), (JobKind::DeleteRef, None));
    }
}
