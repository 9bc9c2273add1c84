//! The git source: a bare mirror per repo, fetched by ref, and a materialised tree per ref.
//!
//! Every git invocation takes its arguments as separate argv entries (no shell), puts refs and
//! ids after option parsing ends, has a timeout, and never prints credentials: URLs in git's
//! messages are redacted before they reach a log or a job error.

mod command;
mod mirror;
pub mod refname;
mod worktree;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use indexer::{PathChange, Scope};
use tokio::process::Command;

pub(crate) use command::run_git;
use refname::{is_zero_id, valid_object_id, valid_ref_name};
use worktree::IndexState;

use crate::observer::{GitObserver, NoGitObserver};
use crate::redact::redact_url;
use crate::repo::{RepoLocation, RepoSpec};
use crate::source::{PreparedTree, RepoSource, SourceError, TreeRequest, off_runtime};

/// Keeps a bare mirror per repo under `<data>/mirrors` and one materialised tree per indexed
/// ref under `<data>/worktrees`, updated with `git read-tree --reset -u` so that unchanged
/// files keep their stat data (the indexer's stat cache depends on it).
#[derive(Debug)]
pub struct GitSource {
    mirrors: PathBuf,
    worktrees: PathBuf,
    timeout: Duration,
    observer: Arc<dyn GitObserver>,
    // One fetch or checkout at a time per repo: git's own locks would fail the second one.
    locks:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// Mirrors already checked for stale lock files since this process started.
    seen: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
}

impl GitSource {
    /// The remote's branch heads, `(ref, commit)` in git's order, asked with one
    /// `git ls-remote --heads` (no mirror needed): the seam a reconcile loop compares with
    /// what the index holds.
    pub async fn remote_heads(
        &self,
        repo: &RepoSpec,
    ) -> Result<Vec<(String, String)>, SourceError> {
        let RepoLocation::Url(url) = &repo.location else {
            return Err(SourceError::WrongLocation { expected: "url" });
        };
        let mut command = Command::new("git");
        command.args(["ls-remote", "--heads", "--", url]);
        let out = run_git(command, self.timeout, url, &*self.observer).await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .filter(|(id, git_ref)| valid_object_id(id) && valid_ref_name(git_ref))
            .map(|(id, git_ref)| (git_ref.to_string(), id.to_string()))
            .collect())
    }

    /// The commit `git_ref` names in the mirror now (`rev-parse <ref>^{commit}`), after
    /// whatever fetch last updated it.
    pub async fn resolve(&self, repo: &RepoSpec, git_ref: &str) -> Result<String, SourceError> {
        let RepoLocation::Url(url) = &repo.location else {
            return Err(SourceError::WrongLocation { expected: "url" });
        };
        if !valid_ref_name(git_ref) {
            return Err(SourceError::InvalidRef {
                git_ref: git_ref.to_string(),
            });
        }
        let spec = format!("{git_ref}^{{commit}}");
        let out = self
            .git(
                &self.mirror(repo),
                &["rev-parse", "--verify", "--quiet", &spec, "--"],
                url,
            )
            .await?;
        Ok(String::from_utf8_lossy(&out).trim().to_string())
    }

    /// A source keeping its mirrors and trees under `data_dir`, which must be absolute (git
    /// runs in other directories); every git command it runs gets `timeout`.
    pub fn new(data_dir: &Path, timeout: Duration) -> Self {
        GitSource {
            mirrors: data_dir.join("mirrors"),
            worktrees: data_dir.join("worktrees"),
            timeout,
            observer: Arc::new(NoGitObserver),
            locks: Default::default(),
            seen: Default::default(),
        }
    }

    /// The same source, telling `observer` about every git command it runs.
    pub fn with_observer(mut self, observer: Arc<dyn GitObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// How many commits `to` has that `from` has not (`git rev-list --count from..to` in the
    /// mirror); `None` when the mirror lacks either commit (not fetched yet) or has no mirror.
    pub async fn commits_between(&self, repo: &RepoSpec, from: &str, to: &str) -> Option<u64> {
        let RepoLocation::Url(url) = &repo.location else {
            return None;
        };
        if !valid_object_id(from) || !valid_object_id(to) {
            return None;
        }
        let mirror = self.mirror(repo);
        if !mirror.is_dir() {
            return None;
        }
        // A missing commit is the expected answer here, not a git failure to report.
        let mut command = Command::new("git");
        command.arg("--git-dir").arg(&mirror).args([
            "rev-list",
            "--count",
            &format!("{from}..{to}"),
            "--",
        ]);
        let out = run_git(command, self.timeout, url, &NoGitObserver)
            .await
            .ok()?;
        String::from_utf8_lossy(&out).trim().parse().ok()
    }

    fn lock_for(&self, repo: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(repo.to_string()).or_default().clone()
    }

    async fn git(&self, mirror: &Path, args: &[&str], url: &str) -> Result<Vec<u8>, SourceError> {
        let mut command = Command::new("git");
        command.arg("--git-dir").arg(mirror).args(args);
        run_git(command, self.timeout, url, &*self.observer).await
    }

    /// What the indexer must look at: the paths that differ between the indexed commit and
    /// `target`, or everything.
    ///
    /// The diff between two trees is exact whether or not one commit descends from the other,
    /// so a force push needs no special case: only a base that is gone from the mirror (its
    /// objects were never fetched, or were pruned) forces a full reconcile.
    async fn scope(
        &self,
        mirror: &Path,
        request: &TreeRequest<'_>,
        target: &str,
        base_present: Option<bool>,
        url: &str,
    ) -> Scope {
        let Some(base) = request
            .indexed_commit
            .filter(|b| valid_object_id(b) && !is_zero_id(b))
        else {
            return Scope::Full;
        };
        if request.full {
            return Scope::Full;
        }
        if base == target {
            return Scope::Paths(Vec::new());
        }
        let present = match base_present {
            Some(present) => present,
            None => self.commits_present(mirror, &[base], url).await[0],
        };
        if !present {
            return Scope::Full;
        }
        match self
            .git(
                mirror,
                &[
                    "diff",
                    "--name-status",
                    "-z",
                    "--no-renames",
                    base,
                    target,
                    "--",
                ],
                url,
            )
            .await
        {
            Ok(out) => match PathChange::parse_name_status_z(&out) {
                Ok(changes) => Scope::Paths(changes),
                Err(error) => {
                    tracing::warn!(%error, "unreadable git diff output; reconciling the whole tree");
                    Scope::Full
                }
            },
            Err(_) => Scope::Full,
        }
    }
}

#[async_trait]
impl RepoSource for GitSource {
    async fn prepare(
        &self,
        repo: &RepoSpec,
        request: TreeRequest<'_>,
    ) -> Result<PreparedTree, SourceError> {
        let RepoLocation::Url(url) = &repo.location else {
            return Err(SourceError::WrongLocation { expected: "url" });
        };
        if !valid_ref_name(request.git_ref) {
            return Err(SourceError::InvalidRef {
                git_ref: request.git_ref.to_string(),
            });
        }
        if let Some(commit) = request.commit {
            if !valid_object_id(commit) {
                return Err(SourceError::InvalidCommit {
                    id: commit.to_string(),
                });
            }
        }
        let lock = self.lock_for(&repo.name);
        let _guard = lock.lock().await;
        let mirror = self.mirror(repo);
        self.ensure_mirror(&mirror, url).await?;
        let refspec = format!("+{0}:{0}", request.git_ref);
        let base = request
            .indexed_commit
            .filter(|b| valid_object_id(b) && !is_zero_id(b));
        // One process answers for the target and the diff's base; a fetch changes the answer
        // for the target only (it never removes objects).
        let (mut have_target, mut base_present) = (false, None);
        if let Some(commit) = request.commit {
            let ids: Vec<&str> = std::iter::once(commit).chain(base).collect();
            let present = self.commits_present(&mirror, &ids, url).await;
            have_target = present[0];
            base_present = present.get(1).copied();
        }
        if !have_target {
            self.git(
                &mirror,
                &[
                    "fetch",
                    "--quiet",
                    "--no-tags",
                    "--no-write-fetch-head",
                    "--",
                    "origin",
                    &refspec,
                ],
                url,
            )
            .await?;
        }
        let target = match request.commit {
            Some(commit) => {
                if !have_target && !self.commits_present(&mirror, &[commit], url).await[0] {
                    return Err(SourceError::NotFound {
                        commit: short(commit).to_string(),
                        remote: redact_url(url),
                        git_ref: request.git_ref.to_string(),
                    });
                }
                commit.to_string()
            }
            None => {
                let spec = format!("{}^{{commit}}", request.git_ref);
                let out = self
                    .git(&mirror, &["rev-parse", "--verify", "--quiet", &spec], url)
                    .await?;
                String::from_utf8_lossy(&out).trim().to_string()
            }
        };
        let scope = self
            .scope(&mirror, &request, &target, base_present, url)
            .await;
        let (tree, index) = self.tree_dir(repo, request.git_ref);
        // A tree that vanished (removed by hand) must be written whole, whatever the index says.
        let reset = request.full || !tree.is_dir();
        std::fs::create_dir_all(&tree).map_err(|source| SourceError::CreateDir {
            path: tree.clone(),
            source,
        })?;
        // A read-tree killed mid-way can leave its lock, or a damaged index, beside the tree;
        // no live git can hold them while we hold the repo's lock. On failure, start over from
        // an empty index once: the tree is rewritten whole, which costs time, not correctness.
        let lock = index.with_extension("index.lock");
        let _ = std::fs::remove_file(&lock);
        if let Err(first) = self
            .read_tree(&mirror, &tree, &index, &target, reset, url)
            .await
        {
            tracing::warn!(error = %first, "materialising the tree failed; retrying with a fresh index");
            let _ = std::fs::remove_file(&index);
            let _ = std::fs::remove_file(&lock);
            self.read_tree(&mirror, &tree, &index, &target, true, url)
                .await?;
        }
        Ok(PreparedTree {
            path: tree,
            commit: Some(target),
            scope,
        })
    }

    async fn remove_ref(&self, repo: &RepoSpec, git_ref: &str) -> Result<(), SourceError> {
        let lock = self.lock_for(&repo.name);
        let _guard = lock.lock().await;
        let (tree, index) = self.tree_dir(repo, git_ref);
        // A tree can hold many files: removed off the async runtime.
        off_runtime(move || {
            if tree.exists() {
                std::fs::remove_dir_all(&tree).map_err(|source| SourceError::Io {
                    action: "remove",
                    path: tree.clone(),
                    source,
                })?;
            }
            IndexState::forget(&index);
            let _ = std::fs::remove_file(index);
            Ok::<(), SourceError>(())
        })
        .await?;
        let mirror = self.mirror(repo);
        if mirror.join("HEAD").exists() && valid_ref_name(git_ref) {
            let url = match &repo.location {
                RepoLocation::Url(url) => url.as_str(),
                RepoLocation::Path(_) => "",
            };
            // The ref may already be gone from the mirror; that is the state we want.
            let _ = self.git(&mirror, &["update-ref", "-d", git_ref], url).await;
        }
        Ok(())
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh_git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .expect("git runs");
        assert!(out.status.success(), "git {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn commit_all(repo: &Path, message: &str) -> String {
        sh_git(repo, &["add", "-A"]);
        sh_git(repo, &["commit", "-q", "-m", message]);
        sh_git(repo, &["rev-parse", "HEAD"])
    }

    fn tree_files(tree: &Path) -> Vec<(String, String)> {
        let mut files = Vec::new();
        let mut dirs = vec![tree.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    let rel = path
                        .strip_prefix(tree)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    files.push((rel, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
        files.sort();
        files
    }

    /// Successive pushes update the tree by two-way merges; a tampered tree, a stale record
    /// and a force push all still end with exactly the target's files.
    #[tokio::test]
    async fn trees_follow_pushes_through_merges_and_fallbacks() {
        let temp = tempfile::tempdir().unwrap();
        let origin = temp.path().join("origin");
        std::fs::create_dir_all(origin.join("src")).unwrap();
        sh_git(&origin, &["init", "-q", "-b", "main"]);
        std::fs::write(origin.join("src/a.rs"), "fn a() {}\n").unwrap();
        std::fs::write(origin.join("b.txt"), "b\n").unwrap();
        let c1 = commit_all(&origin, "c1");
        let repo = RepoSpec {
            name: "r".into(),
            location: RepoLocation::Url(format!("file://{}", origin.display())),
            branches: vec!["main".into()],
            pull_requests: false,
            tags: false,
            include: Vec::new(),
            exclude: Vec::new(),
            max_file_bytes: 1 << 20,
            index_secret_files: false,
        };
        let source = GitSource::new(&temp.path().join("data"), Duration::from_secs(60));
        let prepare = |commit: String, base: Option<String>| {
            let source = &source;
            let repo = &repo;
            async move {
                let request = TreeRequest {
                    git_ref: "refs/heads/main",
                    commit: Some(&commit),
                    indexed_commit: base.as_deref(),
                    full: false,
                };
                source.prepare(repo, request).await.expect("prepare")
            }
        };
        let first = prepare(c1.clone(), None).await;
        assert!(matches!(first.scope, Scope::Full));
        let expected = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(p, c)| (p.to_string(), c.to_string()))
                .collect()
        };
        assert_eq!(
            tree_files(&first.path),
            expected(&[("b.txt", "b\n"), ("src/a.rs", "fn a() {}\n")])
        );

        // An ordinary push: a two-way merge, and the diff as the scope.
        std::fs::write(origin.join("src/a.rs"), "fn a2() {}\n").unwrap();
        std::fs::remove_file(origin.join("b.txt")).unwrap();
        std::fs::write(origin.join("c.txt"), "c\n").unwrap();
        let c2 = commit_all(&origin, "c2");
        let second = prepare(c2.clone(), Some(c1.clone())).await;
        let Scope::Paths(changes) = &second.scope else {
            panic!("expected a path scope, got {:?}", second.scope);
        };
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert_eq!(
            tree_files(&second.path),
            expected(&[("c.txt", "c\n"), ("src/a.rs", "fn a2() {}\n")])
        );

        // Someone edits the tree behind our back: the merge refuses, the reset repairs it.
        std::fs::write(second.path.join("src/a.rs"), "tampered\n").unwrap();
        std::fs::write(origin.join("src/a.rs"), "fn a3() {}\n").unwrap();
        let c3 = commit_all(&origin, "c3");
        let third = prepare(c3.clone(), Some(c2.clone())).await;
        assert_eq!(
            tree_files(&third.path),
            expected(&[("c.txt", "c\n"), ("src/a.rs", "fn a3() {}\n")])
        );

        // A record that no longer matches the index on disk is ignored.
        let (_, index) = source.tree_dir(&repo, "refs/heads/main");
        std::fs::write(IndexState::record_path(&index), format!("{c1} 00\n")).unwrap();
        assert_eq!(IndexState::read(&index), None);

        // A force push to an unrelated history: the diff is still exact.
        sh_git(&origin, &["checkout", "-q", "--orphan", "rewrite"]);
        sh_git(&origin, &["rm", "-q", "-r", "--cached", "."]);
        for file in ["c.txt", "src/a.rs"] {
            std::fs::remove_file(origin.join(file)).unwrap();
        }
        std::fs::write(origin.join("d.txt"), "d\n").unwrap();
        let c4 = commit_all(&origin, "c4");
        sh_git(&origin, &["branch", "-f", "main", "rewrite"]);
        let fourth = prepare(c4.clone(), Some(c3.clone())).await;
        // The seams a reconcile loop builds on: the remote's heads and the mirror's ref.
        let heads = source.remote_heads(&repo).await.expect("ls-remote");
        assert!(
            heads.contains(&("refs/heads/main".into(), c4.clone())),
            "{heads:?}"
        );
        assert_eq!(
            source
                .resolve(&repo, "refs/heads/main")
                .await
                .expect("resolve"),
            c4
        );
        assert!(matches!(
            source.resolve(&repo, "refs/heads/nope").await,
            Err(SourceError::Git { .. })
        ));
        assert!(
            matches!(fourth.scope, Scope::Paths(_)),
            "{:?}",
            fourth.scope
        );
        assert_eq!(tree_files(&fourth.path), expected(&[("d.txt", "d\n")]));
        assert_eq!(IndexState::read(&index).as_deref(), Some(c4.as_str()));

        // The tree removed by hand while the index and its record stay: written whole again.
        std::fs::remove_dir_all(&fourth.path).unwrap();
        let again = prepare(c4.clone(), Some(c4.clone())).await;
        assert_eq!(tree_files(&again.path), expected(&[("d.txt", "d\n")]));
    }
}
