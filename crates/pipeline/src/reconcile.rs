//! Heals missed webhooks: compares a url repo's remote refs with the commits its index holds
//! and queues a `reconcile` job for every difference.
//!
//! [`plan_reconcile`] is the policy (pure); [`reconcile_repo`] asks the remote once (one
//! `git ls-remote` of the branches, and of tags and pull request refs where the repo indexes
//! them, through [`GitSource::remote_refs`]), reads the indexed commit of each candidate ref on
//! the blocking pool, and queues the jobs. The job store coalesces per (repo, ref), so a
//! queued webhook job for the same ref is not duplicated. Two passes of one repo never run at
//! once ([`GitSource::reconcile_slot`]).
//!
//! What is compared:
//! * branches matching `branches`, and tags matching `tags` (an annotated tag by the commit
//!   it names);
//! * with `pull_requests = true`, open pull request refs under the names webhooks index them
//!   by: `refs/pull/N/head` (GitHub, Gitea), `refs/merge-requests/N/head` (GitLab),
//!   `refs/pull-requests/N/from` (Bitbucket Server), and `refs/pull/N/merge` where a host
//!   keeps no head ref (Azure DevOps). Hosts keep the head refs of closed pull requests, so a
//!   head not indexed yet is picked up only while the host also lists its merge ref
//!   (`refs/pull/N/merge`, `refs/merge-requests/N/merge`, `refs/pull-requests/N/merge`),
//!   which hosts keep for open pull requests; an indexed one is kept in step while listed and
//!   dropped once the host lists it no more.
//!
//! A ref the index holds that the remote no longer lists is dropped.
//!
//! ```
//! use std::collections::BTreeMap;
//! use pipeline::{RepoLocation, RepoSpec, plan_reconcile};
//!
//! let repo = RepoSpec {
//!     tags: vec!["v*".into()],
//!     ..RepoSpec::new("demo", RepoLocation::Url("https://git.example/demo.git".into()))
//! };
//! let a = "a".repeat(40);
//! let b = "b".repeat(40);
//! let remote = vec![
//!     ("refs/heads/main".to_string(), b.clone()),
//!     ("refs/tags/v1".to_string(), a.clone()),
//! ];
//! let indexed = BTreeMap::from([("refs/heads/main".to_string(), Some(a.clone()))]);
//! let missed = plan_reconcile(&repo, &remote, &indexed);
//! assert_eq!(missed.len(), 2);
//! assert_eq!(missed[0].remote.as_deref(), Some(b.as_str()));
//! assert_eq!(missed[1].git_ref, "refs/tags/v1");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use indexer::{ManifestStore, RefKey};
use jobstore::{JobStore, NewJob, Trigger};

use crate::ref_filter::BranchFilter;
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
        match &self.remote {
            Some(commit) => NewJob {
                commit: Some(commit.clone()),
                ..NewJob::index(repo, self.git_ref.clone(), Trigger::Reconcile)
            },
            None => NewJob::delete_ref(repo, self.git_ref.clone(), Trigger::Reconcile),
        }
    }
}

/// Which tracked refs differ between `remote` (`(ref, commit)` as ls-remote lists them,
/// annotated tags peeled) and `indexed` (each candidate ref with the commit its manifest
/// holds, `None` when it has none).
///
/// A tracked remote ref not indexed at that commit is missed; an indexed ref (one with a
/// commit) that the remote no longer lists is missed as deleted.
pub fn plan_reconcile(
    repo: &RepoSpec,
    remote: &[(String, String)],
    indexed: &BTreeMap<String, Option<String>>,
) -> Vec<MissedRef> {
    let listed: BTreeSet<&str> = remote.iter().map(|(git_ref, _)| git_ref.as_str()).collect();
    // Compiled once: a remote can list thousands of tags and pull request refs. The config
    // refuses invalid globs, so one that fails here tracks nothing.
    let compile = |globs: &[String]| BranchFilter::new(globs).ok();
    let (branches, tags) = (compile(&repo.branches), compile(&repo.tags));
    let tracked = |git_ref: &str| {
        let matches = |filter: &Option<BranchFilter>, prefix: &str| {
            git_ref
                .strip_prefix(prefix)
                .zip(filter.as_ref())
                .is_some_and(|(name, filter)| filter.matches(name))
        };
        matches(&branches, "refs/heads/") || matches(&tags, "refs/tags/")
    };
    let mut missed = Vec::new();
    for (git_ref, commit) in remote {
        let have = indexed.get(git_ref).cloned().flatten();
        let wanted = tracked(git_ref)
            || (repo.pull_requests && tracks_pull_request(git_ref, &listed, have.is_some()));
        if !wanted {
            continue;
        }
        if have.as_deref() != Some(commit.as_str()) {
            missed.push(MissedRef {
                git_ref: git_ref.clone(),
                indexed: have,
                remote: Some(commit.clone()),
            });
        }
    }
    for (git_ref, have) in indexed {
        let Some(have) = have else { continue };
        let ours = tracked(git_ref) || (repo.pull_requests && pull_request_ref(git_ref).is_some());
        if ours && !listed.contains(git_ref.as_str()) {
            missed.push(MissedRef {
                git_ref: git_ref.clone(),
                indexed: Some(have.clone()),
                remote: None,
            });
        }
    }
    missed
}

/// The ls-remote patterns a pass of `repo` lists.
fn remote_patterns(repo: &RepoSpec) -> Vec<&'static str> {
    let mut patterns = vec!["refs/heads/*"];
    if repo.indexes_tags() {
        patterns.push("refs/tags/*");
    }
    if repo.pull_requests {
        patterns.extend([
            "refs/pull/*",
            "refs/merge-requests/*",
            "refs/pull-requests/*",
        ]);
    }
    patterns
}

/// The mirror prefixes under which indexed tags and pull request refs are found.
fn mirror_prefixes(repo: &RepoSpec) -> Vec<&'static str> {
    let mut prefixes = Vec::new();
    if repo.indexes_tags() {
        prefixes.push("refs/tags/");
    }
    if repo.pull_requests {
        prefixes.extend(["refs/pull/", "refs/merge-requests/", "refs/pull-requests/"]);
    }
    prefixes
}

/// A pull request ref under the name webhooks index it by: `(namespace, number, leaf)`.
fn pull_request_ref(git_ref: &str) -> Option<(&str, &str, &str)> {
    let (namespace, rest) = ["refs/pull/", "refs/merge-requests/", "refs/pull-requests/"]
        .into_iter()
        .find_map(|ns| git_ref.strip_prefix(ns).map(|rest| (ns, rest)))?;
    let (number, leaf) = rest.split_once('/')?;
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let indexed_leaf = match namespace {
        "refs/pull/" => matches!(leaf, "head" | "merge"),
        "refs/merge-requests/" => leaf == "head",
        _ => leaf == "from",
    };
    indexed_leaf.then_some((namespace, number, leaf))
}

/// Whether the listed pull request ref `git_ref` is one reconcile indexes: a head ref (or
/// `refs/pull/N/merge` when no `refs/pull/N/head` is listed), picked up when already
/// `indexed` or while its merge ref, the mark of an open pull request, is listed.
fn tracks_pull_request(git_ref: &str, listed: &BTreeSet<&str>, indexed: bool) -> bool {
    let Some((namespace, number, leaf)) = pull_request_ref(git_ref) else {
        return false;
    };
    if leaf == "merge" {
        // Azure DevOps keeps only the merge ref: it is what webhooks index.
        return !listed.contains(format!("{namespace}{number}/head").as_str());
    }
    indexed || listed.contains(format!("{namespace}{number}/merge").as_str())
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
    /// Another pass of this repo is running; this one did nothing.
    #[error("a reconcile pass of this repo is already running")]
    Busy,
    /// The job store could not say which refs already have work waiting.
    #[error("could not list the jobs waiting in the store: {0}")]
    Store(String),
}

/// One reconcile pass of a url repo: one ls-remote, then a job per [`MissedRef`] whose ref
/// has no queued or running job, each logged at INFO (repo, ref, indexed → remote) and
/// reported to `on_missed`. A path repo is not listed here (its rescan is a normal index
/// job). While a pass of a repo runs, another one of the same repo returns
/// [`ReconcileError::Busy`] at once. Returns what was missed.
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
    let Some(_slot) = git.reconcile_slot(&repo.name) else {
        return Err(ReconcileError::Busy);
    };
    let remote = git.remote_refs(repo, &remote_patterns(repo)).await?;
    // Candidates: every remote ref, every configured branch (a deleted one has a manifest but
    // no remote head), and the tags and pull request refs the mirror holds (fetched once, so
    // possibly indexed, possibly gone upstream since).
    let mut candidates: BTreeSet<String> = repo.branch_refs().collect();
    candidates.extend(remote.iter().map(|(git_ref, _)| git_ref.clone()));
    candidates.extend(git.mirror_refs(repo, &mirror_prefixes(repo)).await?);
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
        tracing::info!(
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
    use jobstore::JobKind;

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const MAIN: &str = "refs/heads/main";

    fn repo(branches: &[&str]) -> RepoSpec {
        RepoSpec {
            branches: branches.iter().map(|b| b.to_string()).collect(),
            ..RepoSpec::new(
                "r",
                RepoLocation::Url("https://example.invalid/r.git".into()),
            )
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
    fn tags_and_pull_request_refs() {
        let mut repo = repo(&["main"]);
        repo.tags = vec!["v*".into(), "!v0.*".into()];
        repo.pull_requests = true;
        let list = |refs: &[(&str, &str)]| -> Vec<(String, String)> {
            refs.iter()
                .map(|(r, c)| (r.to_string(), c.to_string()))
                .collect()
        };
        let have = |refs: &[(&str, &str)]| -> BTreeMap<String, Option<String>> {
            refs.iter()
                .map(|(r, c)| (r.to_string(), Some(c.to_string())))
                .collect()
        };
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            &'a [(&'a str, &'a str)],
            Vec<MissedRef>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "a new tag matching the globs, an excluded one, one not covered",
                &[
                    (MAIN, A),
                    ("refs/tags/v1", A),
                    ("refs/tags/v0.1", A),
                    ("refs/tags/nightly", A),
                ],
                &[(MAIN, A)],
                vec![miss("refs/tags/v1", None, Some(A))],
            ),
            (
                "a moved tag and a deleted one",
                &[(MAIN, A), ("refs/tags/v1", B)],
                &[(MAIN, A), ("refs/tags/v1", A), ("refs/tags/v2", A)],
                vec![
                    miss("refs/tags/v1", Some(A), Some(B)),
                    miss("refs/tags/v2", Some(A), None),
                ],
            ),
            (
                "an open pull request (head and merge listed) is picked up by its head",
                &[("refs/pull/7/head", A), ("refs/pull/7/merge", B)],
                &[],
                vec![miss("refs/pull/7/head", None, Some(A))],
            ),
            (
                "a closed pull request's head (no merge ref) is not picked up",
                &[("refs/pull/7/head", A)],
                &[],
                vec![],
            ),
            (
                "an indexed pull request head that moved is kept in step",
                &[("refs/pull/7/head", B)],
                &[("refs/pull/7/head", A)],
                vec![miss("refs/pull/7/head", Some(A), Some(B))],
            ),
            (
                "an indexed pull request head that is gone is dropped",
                &[],
                &[("refs/merge-requests/3/head", A)],
                vec![miss("refs/merge-requests/3/head", Some(A), None)],
            ),
            (
                "GitLab and Bitbucket Server heads with their merge refs",
                &[
                    ("refs/merge-requests/3/head", A),
                    ("refs/merge-requests/3/merge", B),
                    ("refs/pull-requests/4/from", A),
                    ("refs/pull-requests/4/merge", B),
                ],
                &[],
                vec![
                    miss("refs/merge-requests/3/head", None, Some(A)),
                    miss("refs/pull-requests/4/from", None, Some(A)),
                ],
            ),
            (
                "Azure DevOps keeps only the merge ref",
                &[("refs/pull/9/merge", A)],
                &[],
                vec![miss("refs/pull/9/merge", None, Some(A))],
            ),
            (
                "refs that are no pull request heads",
                &[("refs/pull/x/head", A), ("refs/pull/7/other", A)],
                &[],
                vec![],
            ),
        ];
        for (name, remote, indexed, want) in cases {
            assert_eq!(
                plan_reconcile(&repo, &list(remote), &have(indexed)),
                want,
                "{name}"
            );
        }
        // Without `pull_requests`, pull request refs are neither picked up nor dropped.
        repo.pull_requests = false;
        let remote = list(&[("refs/pull/7/head", A), ("refs/pull/7/merge", B)]);
        let indexed = have(&[("refs/pull/8/head", A)]);
        assert_eq!(plan_reconcile(&repo, &remote, &indexed), vec![]);
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
