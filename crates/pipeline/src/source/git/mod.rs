//! The git source: a bare mirror per repo, fetched by ref, and a materialised tree per ref.
//!
//! Every git invocation takes its arguments as separate argv entries (no shell), puts refs and
//! ids after option parsing ends, has a timeout, and never prints credentials: URLs in git's
//! messages are redacted before they reach a log or a job error.

mod command;
mod mirror;
pub mod refname;
mod remote;
mod worktree;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use indexer::{PathChange, Scope};
use tokio::process::Command;

pub(crate) use command::run_git;
use refname::{is_zero_id, valid_object_id, valid_ref_name};
use remote::Remote;
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
    /// How many `git ls-remote` this source has run (what a reconcile pass costs).
    listings: std::sync::atomic::AtomicU64,
    /// Repos with a reconcile pass running now (see [`GitSource::reconcile_slot`]).
    reconciling: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// A repo's reconcile slot: while it lives, no other pass of that repo can start.
#[derive(Debug)]
pub struct ReconcileSlot {
    repo: String,
    running: std::sync::Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Drop for ReconcileSlot {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        running.remove(&self.repo);
    }
}

impl GitSource {
    /// The remote's branch heads, `(ref, commit)` in git's order, asked with one
    /// `git ls-remote` (no mirror needed).
    pub async fn remote_heads(
        &self,
        repo: &RepoSpec,
    ) -> Result<Vec<(String, String)>, SourceError> {
        self.remote_refs(repo, &["refs/heads/*"]).await
    }

    /// The remote's refs matching `patterns` (ls-remote globs such as `refs/tags/*`),
    /// `(ref, commit)` in git's order, asked with one `git ls-remote`. An annotated tag is
    /// listed with the commit it names (git's peeled `^{}` line), not the tag object.
    pub async fn remote_refs(
        &self,
        repo: &RepoSpec,
        patterns: &[&str],
    ) -> Result<Vec<(String, String)>, SourceError> {
        let RepoLocation::Url(url) = &repo.location else {
            return Err(SourceError::WrongLocation { expected: "url" });
        };
        let remote = Remote::parse(url);
        let mut command = Command::new("git");
        command
            .args(["ls-remote", "--", &remote.url])
            .args(patterns);
        remote.authorize(&mut command);
        self.listings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = run_git(command, self.timeout, url, &*self.observer).await?;
        Ok(parse_ls_remote(&String::from_utf8_lossy(&out)))
    }

    /// How many `git ls-remote` this source has run since it was made.
    pub fn remote_listings(&self) -> u64 {
        self.listings.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Claims the reconcile slot of `repo`, or `None` while another pass of it holds it.
    pub fn reconcile_slot(&self, repo: &str) -> Option<ReconcileSlot> {
        let mut running = self.reconciling.lock().unwrap_or_else(|e| e.into_inner());
        running.insert(repo.to_string()).then(|| ReconcileSlot {
            repo: repo.to_string(),
            running: self.reconciling.clone(),
        })
    }

    /// The mirror's refs under `prefixes` (`git for-each-ref`, local and cheap): the tags and
    /// pull request refs fetched so far, which a reconcile pass checks against the remote.
    /// No mirror yet: none.
    pub async fn mirror_refs(
        &self,
        repo: &RepoSpec,
        prefixes: &[&str],
    ) -> Result<Vec<String>, SourceError> {
        let RepoLocation::Url(url) = &repo.location else {
            return Err(SourceError::WrongLocation { expected: "url" });
        };
        let mirror = self.mirror(repo);
        if !mirror.join("HEAD").exists() || prefixes.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = vec!["for-each-ref", "--format=%(refname)", "--"];
        args.extend_from_slice(prefixes);
        let out = self.git(&mirror, &args, url).await?;
        Ok(String::from_utf8_lossy(&out)
            .lines()
            .filter(|git_ref| valid_ref_name(git_ref))
            .map(str::to_string)
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
            listings: Default::default(),
            reconciling: Default::default(),
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

    /// `git fetch origin <refspec>`, with the remote's credential (if any) passed in git's
    /// environment.
    async fn fetch(&self, mirror: &Path, refspec: &str, url: &str) -> Result<(), SourceError> {
        let mut command = Command::new("git");
        command.arg("--git-dir").arg(mirror).args([
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            "origin",
            refspec,
        ]);
        Remote::parse(url).authorize(&mut command);
        run_git(command, self.timeout, url, &*self.observer)
            .await
            .map(|_| ())
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
        for git_ref in std::iter::once(request.git_ref).chain(request.fetch_ref) {
            if !valid_ref_name(git_ref) {
                return Err(SourceError::InvalidRef {
                    git_ref: git_ref.to_string(),
                });
            }
        }
        if let Some(commit) = request.commit {
            if !valid_commit_hint(commit) {
                return Err(SourceError::InvalidCommit {
                    id: commit.to_string(),
                });
            }
        }
        let lock = self.lock_for(&repo.name);
        let _guard = lock.lock().await;
        let mirror = self.mirror(repo);
        self.ensure_mirror(&mirror, url).await?;
        // The ref's real tip, always fetched: a payload's commit is only a hint, and a late or
        // replayed delivery for an older commit must not take the index back to it. A force
        // push that moved the ref backwards upstream is followed, since the tip is what the
        // source says.
        let fetch_ref = request.fetch_ref.unwrap_or(request.git_ref);
        let refspec = format!("+{fetch_ref}:{}", request.git_ref);
        self.fetch(&mirror, &refspec, url).await?;
        let base = request
            .indexed_commit
            .filter(|b| valid_object_id(b) && !is_zero_id(b));
        // One process resolves the tip (annotated tags peeled), the hint (abbreviated ids
        // expanded) and the diff's base.
        let specs: Vec<&str> = [Some(request.git_ref), request.commit, base]
            .into_iter()
            .flatten()
            .collect();
        let resolved = self.resolve_commits(&mirror, &specs, url).await?;
        let Some(target) = resolved[0].clone() else {
            return Err(SourceError::RefMissing {
                git_ref: fetch_ref.to_string(),
                remote: redact_url(url),
            });
        };
        let hint = request.commit.map(|_| resolved[1].clone());
        let base_present = base.map(|_| resolved[resolved.len() - 1].is_some());
        let mut note = match (request.commit, hint) {
            (Some(pushed), Some(Some(pushed_full))) if pushed_full != target => {
                let relation = if self.is_ancestor(&mirror, &pushed_full, &target, url).await {
                    "is behind the tip"
                } else {
                    "is no longer on the ref"
                };
                Some(format!(
                    "pushed {} {relation}; indexed {}",
                    short(pushed),
                    short(&target)
                ))
            }
            (Some(pushed), Some(None)) => Some(format!(
                "pushed {} is not in {} after the fetch; indexed {}",
                short(pushed),
                request.git_ref,
                short(&target)
            )),
            _ => None,
        };
        if !request.full && base == Some(target.as_str()) {
            let already = format!("already at {}: nothing to index", short(&target));
            note = Some(match note {
                Some(detail) => format!("{already} ({detail})"),
                None => already,
            });
            return Ok(PreparedTree {
                path: self.tree_dir(repo, request.git_ref).0,
                commit: Some(target),
                scope: Scope::Paths(Vec::new()),
                unchanged: true,
                note,
            });
        }
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
            unchanged: false,
            note,
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

/// `ls-remote` output as `(ref, commit)`: a peeled `ref^{}` line replaces the tag object id
/// of its ref; lines with an invalid id or ref name are dropped.
fn parse_ls_remote(out: &str) -> Vec<(String, String)> {
    let mut refs: Vec<(String, String)> = Vec::new();
    let mut peeled = std::collections::HashMap::new();
    for (id, git_ref) in out.lines().filter_map(|line| line.split_once('\t')) {
        if !valid_object_id(id) {
            continue;
        }
        match git_ref.strip_suffix("^{}") {
            Some(tag) => {
                peeled.insert(tag.to_string(), id.to_string());
            }
            None if valid_ref_name(git_ref) => refs.push((git_ref.to_string(), id.to_string())),
            None => {}
        }
    }
    for (git_ref, id) in &mut refs {
        if let Some(commit) = peeled.remove(git_ref.as_str()) {
            *id = commit;
        }
    }
    refs
}

/// The 7-digit form git itself shows.
fn short(commit: &str) -> &str {
    &commit[..commit.len().min(7)]
}

/// A commit a request may name: a full id, or the 12-digit (or longer) abbreviation some
/// hosts send (Bitbucket Cloud), expanded after the fetch.
fn valid_commit_hint(id: &str) -> bool {
    valid_object_id(id)
        || ((12..40).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
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
        let repo = RepoSpec::new(
            "r",
            RepoLocation::Url(format!("file://{}", origin.display())),
        );
        let source = GitSource::new(&temp.path().join("data"), Duration::from_secs(60));
        let prepare = |commit: String, base: Option<String>| {
            let source = &source;
            let repo = &repo;
            async move {
                let request = TreeRequest {
                    git_ref: "refs/heads/main",
                    fetch_ref: None,
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

        // Already indexed at the tip: nothing to do, said in a note.
        let same = prepare(c4.clone(), Some(c4.clone())).await;
        assert!(same.unchanged, "{same:?}");
        assert_eq!(same.commit.as_deref(), Some(c4.as_str()));
        assert_eq!(
            same.note.as_deref(),
            Some(format!("already at {}: nothing to index", &c4[..7]).as_str())
        );

        // The tree removed by hand while the index and its record stay: written whole again.
        std::fs::remove_dir_all(&fourth.path).unwrap();
        let again = prepare(c4.clone(), Some(c3.clone())).await;
        assert_eq!(tree_files(&again.path), expected(&[("d.txt", "d\n")]));
    }

    #[test]
    fn ls_remote_lines_peel_annotated_tags_and_drop_bad_ones() {
        let (a, b, c) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
        let out = format!(
            "{a}\trefs/heads/main\n{b}\trefs/tags/v1\n{a}\trefs/tags/v1^{{}}\n{c}\trefs/tags/v2\nxyz\trefs/heads/bad\n{c}\trefs/heads/a..b\n"
        );
        assert_eq!(
            parse_ls_remote(&out),
            vec![
                ("refs/heads/main".to_string(), a.clone()),
                ("refs/tags/v1".to_string(), a.clone()),
                ("refs/tags/v2".to_string(), c.clone()),
            ]
        );
    }

    fn url_repo(url: String) -> RepoSpec {
        RepoSpec::new("r", RepoLocation::Url(url))
    }

    fn request<'a>(commit: Option<&'a str>, indexed: Option<&'a str>) -> TreeRequest<'a> {
        TreeRequest {
            git_ref: "refs/heads/main",
            fetch_ref: None,
            commit,
            indexed_commit: indexed,
            full: false,
        }
    }

    /// A late delivery for an older commit indexes the tip, never the older commit; once
    /// the tip is indexed it is a no-op that says so. A ref moved back upstream is followed.
    #[tokio::test]
    async fn the_tip_is_indexed_whatever_commit_the_request_names() {
        let temp = tempfile::tempdir().unwrap();
        let origin = temp.path().join("origin");
        std::fs::create_dir_all(&origin).unwrap();
        sh_git(&origin, &["init", "-q", "-b", "main"]);
        std::fs::write(origin.join("a.txt"), "one\n").unwrap();
        let c1 = commit_all(&origin, "c1");
        std::fs::write(origin.join("a.txt"), "two\n").unwrap();
        let c2 = commit_all(&origin, "c2");
        let repo = url_repo(format!("file://{}", origin.display()));
        let source = GitSource::new(&temp.path().join("data"), Duration::from_secs(60));

        let late = source
            .prepare(&repo, request(Some(&c1), None))
            .await
            .unwrap();
        assert_eq!(late.commit.as_deref(), Some(c2.as_str()));
        assert!(!late.unchanged);
        assert_eq!(
            late.note,
            Some(format!(
                "pushed {} is behind the tip; indexed {}",
                &c1[..7],
                &c2[..7]
            ))
        );
        assert_eq!(tree_files(&late.path), [("a.txt".into(), "two\n".into())]);

        let replay = source
            .prepare(&repo, request(Some(&c1), Some(&c2)))
            .await
            .unwrap();
        assert!(replay.unchanged);
        assert_eq!(replay.commit.as_deref(), Some(c2.as_str()));
        assert_eq!(
            replay.note,
            Some(format!(
                "already at {}: nothing to index (pushed {} is behind the tip; indexed {})",
                &c2[..7],
                &c1[..7],
                &c2[..7]
            ))
        );

        // The source itself moves main back: followed.
        sh_git(&origin, &["reset", "-q", "--hard", &c1]);
        let back = source
            .prepare(&repo, request(Some(&c1), Some(&c2)))
            .await
            .unwrap();
        assert_eq!(back.commit.as_deref(), Some(c1.as_str()));
        assert_eq!((back.unchanged, back.note), (false, None));
        assert_eq!(tree_files(&back.path), [("a.txt".into(), "one\n".into())]);
    }

    /// A credential in the repo URL reaches the remote as a header in git's environment, and
    /// never the mirror's config: a real HTTP listener records what git sends.
    #[tokio::test]
    async fn credentials_go_to_the_remote_and_into_no_file() {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                    break;
                }
                head.push(line.trim_end().to_string());
            }
            let mut stream = stream;
            let _ = stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            head
        });
        let temp = tempfile::tempdir().unwrap();
        let data = temp.path().join("data");
        let url = format!("http://robot:t0ken-s3cret@127.0.0.1:{port}/r.git");
        let repo = url_repo(url);
        // A mirror made by an older version, with the credential in its config.
        let mirror = data.join("mirrors/r.git");
        std::fs::create_dir_all(&mirror).unwrap();
        sh_git(&mirror, &["init", "-q", "--bare"]);
        let old = format!("http://robot:t0ken-s3cret@127.0.0.1:{port}/r.git");
        sh_git(&mirror, &["config", "remote.origin.url", &old]);

        let source = GitSource::new(&data, Duration::from_secs(60));
        let error = source
            .prepare(&repo, request(None, None))
            .await
            .expect_err("the listener has no repository");
        let head = server.join().unwrap();
        assert!(
            head[0].starts_with("GET /r.git/info/refs"),
            "{head:?} (no userinfo in the request line)"
        );
        // base64("robot:t0ken-s3cret")
        assert!(
            head.iter()
                .any(|h| h == "Authorization: Basic cm9ib3Q6dDBrZW4tczNjcmV0"),
            "{head:?}"
        );
        assert!(!error.to_string().contains("s3cret"), "{error}");
        let config = std::fs::read_to_string(mirror.join("config")).unwrap();
        assert!(
            !config.contains("s3cret") && !config.contains("robot"),
            "{config}"
        );
        assert!(
            config.contains(&format!("url = http://127.0.0.1:{port}/r.git")),
            "{config}"
        );
    }
}
