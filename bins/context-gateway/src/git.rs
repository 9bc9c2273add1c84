//! Where a job's tree comes from: the `RepoSource` trait, a git mirror source and a local-path
//! source, plus the validation every ref and commit id from a payload goes through.
//!
//! Every git invocation takes its arguments as separate argv entries (no shell), puts refs and
//! ids after option parsing ends, has a timeout, and never prints credentials: URLs in git's
//! messages are redacted before they reach a log or a job error.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use async_trait::async_trait;
use indexer::{PathChange, Scope};
use tokio::process::Command;

use crate::config::{RepoConfig, RepoLocation, redact_url};

/// `git check-ref-format` rules for a full ref name (it must contain a `/`).
pub fn valid_ref_name(name: &str) -> bool {
    if name.is_empty() || name.len() > 1024 || !name.contains('/') {
        return false;
    }
    if name.starts_with('/') || name.ends_with('/') || name.ends_with('.') || name.starts_with('-')
    {
        return false;
    }
    if name.contains("..") || name.contains("//") || name.contains("@{") || name == "@" {
        return false;
    }
    let bad_byte = |b: u8| {
        b < 0x20 || b == 0x7f || matches!(b, b' ' | b'~' | b'^' | b':' | b'?' | b'*' | b'[' | b'\\')
    };
    if name.bytes().any(bad_byte) {
        return false;
    }
    name.split('/')
        .all(|part| !part.is_empty() && !part.starts_with('.') && !part.ends_with(".lock"))
}

/// A full commit id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn valid_object_id(id: &str) -> bool {
    (id.len() == 40 || id.len() == 64)
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The all-zeros id providers send for "no commit" (a created or deleted ref).
pub fn is_zero_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

/// A tree ready for the indexer.
#[derive(Debug)]
pub struct PreparedTree {
    pub path: PathBuf,
    pub commit: Option<String>,
    pub scope: Scope,
}

/// What a worker asks a source for.
#[derive(Debug, Clone)]
pub struct TreeRequest<'a> {
    pub git_ref: &'a str,
    /// The commit to index; `None` means the ref's current tip.
    pub commit: Option<&'a str>,
    /// The commit the index holds now (from the manifest), the base of the diff.
    pub indexed_commit: Option<&'a str>,
    /// Ignore the diff and reconcile everything.
    pub full: bool,
}

/// A failure to produce a tree, worded for the job's `error` field.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct SourceError {
    pub message: String,
    /// Network trouble, a held lock, a timeout: worth another attempt.
    pub retryable: bool,
}

impl SourceError {
    fn permanent(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
            retryable: false,
        }
    }
    fn transient(message: impl Into<String>) -> Self {
        SourceError {
            message: message.into(),
            retryable: true,
        }
    }
}

/// Produces the tree of a ref at a commit, and forgets refs.
#[async_trait]
pub trait RepoSource: Send + Sync + std::fmt::Debug {
    /// Fetch (if needed) and materialise `request.git_ref` at `request.commit`.
    async fn prepare(
        &self,
        repo: &RepoConfig,
        request: TreeRequest<'_>,
    ) -> Result<PreparedTree, SourceError>;
    /// Drop whatever is kept for a ref that no longer exists.
    async fn remove_ref(&self, repo: &RepoConfig, git_ref: &str) -> Result<(), SourceError>;
}

/// Picks the source for a repo by its location.
#[derive(Debug)]
pub struct Sources {
    git: GitSource,
    local: LocalSource,
}

impl Sources {
    pub fn new(data_dir: &Path, git_timeout: Duration) -> Self {
        Sources {
            git: GitSource::new(data_dir, git_timeout),
            local: LocalSource { git_timeout },
        }
    }

    pub fn for_repo(&self, repo: &RepoConfig) -> &dyn RepoSource {
        match repo.location {
            RepoLocation::Url(_) => &self.git,
            RepoLocation::Path(_) => &self.local,
        }
    }
}

/// Keeps a bare mirror per repo under `<data>/mirrors` and one materialised tree per indexed
/// ref under `<data>/worktrees`, updated with `git read-tree --reset -u` so that unchanged
/// files keep their stat data (the indexer's stat cache depends on it).
#[derive(Debug)]
pub struct GitSource {
    mirrors: PathBuf,
    worktrees: PathBuf,
    timeout: Duration,
    // One fetch or checkout at a time per repo: git's own locks would fail the second one.
    locks:
        std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
    /// Mirrors already checked for stale lock files since this process started.
    seen: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
}

impl GitSource {
    pub fn new(data_dir: &Path, timeout: Duration) -> Self {
        GitSource {
            mirrors: data_dir.join("mirrors"),
            worktrees: data_dir.join("worktrees"),
            timeout,
            locks: Default::default(),
            seen: Default::default(),
        }
    }

    fn lock_for(&self, repo: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
        locks.entry(repo.to_string()).or_default().clone()
    }

    fn mirror(&self, repo: &RepoConfig) -> PathBuf {
        self.mirrors.join(format!("{}.git", repo.name))
    }

    fn tree_dir(&self, repo: &RepoConfig, git_ref: &str) -> (PathBuf, PathBuf) {
        let dir = self.worktrees.join(&repo.name);
        let leaf = ref_dir_name(git_ref);
        (dir.join(&leaf), dir.join(format!("{leaf}.index")))
    }

    async fn git(&self, mirror: &Path, args: &[&str], url: &str) -> Result<Vec<u8>, SourceError> {
        let mut command = Command::new("git");
        command.arg("--git-dir").arg(mirror).args(args);
        run_git(command, self.timeout, url).await
    }

    async fn ensure_mirror(&self, mirror: &Path, url: &str) -> Result<(), SourceError> {
        let first_use = self.first_use(mirror);
        if first_use {
            self.remove_interrupted_init(mirror);
            if mirror.join("HEAD").exists() {
                remove_stale_locks(mirror);
            }
        }
        if !mirror.join("config").exists() {
            // Built aside and renamed into place, so a crash (or a cancelled job killing git)
            // never leaves a half-made mirror where the next job would trip over it.
            std::fs::create_dir_all(&self.mirrors).map_err(|e| {
                SourceError::permanent(format!("cannot create {}: {e}", self.mirrors.display()))
            })?;
            let staging = self.init_dir(mirror);
            let _ = std::fs::remove_dir_all(&staging);
            let mut init = Command::new("git");
            init.args(["init", "--quiet", "--bare", "--"]).arg(&staging);
            run_git(init, self.timeout, url).await?;
            self.git(&staging, &["config", "remote.origin.url", url], url)
                .await?;
            let _ = std::fs::remove_dir_all(mirror);
            std::fs::rename(&staging, mirror).map_err(|e| {
                SourceError::transient(format!("cannot move the new mirror into place: {e}"))
            })?;
        }
        // The URL in the config file may have changed since the mirror was made; the config is
        // read once at start, so setting it on a process's first use of the mirror is enough
        // (a git process per push saved).
        if first_use {
            self.git(mirror, &["config", "remote.origin.url", url], url)
                .await?;
        }
        Ok(())
    }

    /// True the first time this process touches `mirror`.
    fn first_use(&self, mirror: &Path) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.insert(mirror.to_path_buf())
    }

    /// Where a mirror is built before it is renamed into place.
    fn init_dir(&self, mirror: &Path) -> PathBuf {
        let name = mirror
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.mirrors.join(format!(".{name}.init"))
    }

    fn remove_interrupted_init(&self, mirror: &Path) {
        let staging = self.init_dir(mirror);
        if staging.exists() {
            tracing::warn!(path = %staging.display(), "removing a mirror whose creation was interrupted");
            let _ = std::fs::remove_dir_all(staging);
        }
    }

    /// Makes `tree` hold exactly `target`, rewriting only files whose index entry changed.
    ///
    /// `read-tree --reset -u` lstat()s every file of the tree (28 ms for 10,000 files here, and
    /// it re-reads files whose index entry is racily clean). When the index is known to hold a
    /// commit (see [`IndexState`]), a two-way merge from that commit to `target` touches only
    /// the entries that differ between the two trees. Anything unexpected falls back to
    /// `--reset`, which is always right.
    async fn read_tree(
        &self,
        mirror: &Path,
        tree: &Path,
        index: &Path,
        target: &str,
        reset: bool,
        url: &str,
    ) -> Result<(), SourceError> {
        let held = if reset { None } else { IndexState::read(index) };
        // Forget what the index holds before git changes it: a crash mid-way must not leave a
        // record that vouches for a half-written index.
        IndexState::forget(index);
        let checkout = |args: &[&str]| {
            let mut command = Command::new("git");
            command
                .env("GIT_INDEX_FILE", index)
                .arg("--git-dir")
                .arg(mirror)
                .arg("--work-tree")
                .arg(tree)
                .args(args);
            command
        };
        let merged = match held.as_deref() {
            Some(held) if held == target => true,
            Some(held) => {
                let merge = checkout(&["read-tree", "-m", "-u", held, target]);
                match run_git(merge, self.timeout, url).await {
                    Ok(_) => true,
                    Err(error) => {
                        tracing::debug!(%error, "two-way read-tree refused; resetting instead");
                        false
                    }
                }
            }
            None => false,
        };
        if !merged {
            let reset = checkout(&["read-tree", "--reset", "-u", target]);
            run_git(reset, self.timeout, url).await?;
        }
        IndexState::record(index, target);
        Ok(())
    }

    /// Which of `ids` name commits present in the mirror, asked of one `git cat-file
    /// --batch-check` (one process, however many ids).
    async fn commits_present(&self, mirror: &Path, ids: &[&str], url: &str) -> Vec<bool> {
        let mut command = Command::new("git");
        command
            .arg("--git-dir")
            .arg(mirror)
            .args(["cat-file", "--batch-check=%(objecttype)"]);
        let input: String = ids.iter().map(|id| format!("{id}^{{commit}}\n")).collect();
        match run_git_with_input(command, Some(input.into_bytes()), self.timeout, url).await {
            Ok(out) => {
                let answers: Vec<&[u8]> = out.split(|&b| b == b'\n').collect();
                (0..ids.len())
                    .map(|i| answers.get(i).is_some_and(|a| *a == b"commit"))
                    .collect()
            }
            Err(_) => vec![false; ids.len()],
        }
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
        repo: &RepoConfig,
        request: TreeRequest<'_>,
    ) -> Result<PreparedTree, SourceError> {
        let RepoLocation::Url(url) = &repo.location else {
            return Err(SourceError::permanent("repo has no url"));
        };
        if !valid_ref_name(request.git_ref) {
            return Err(SourceError::permanent(format!(
                "`{}` is not a valid ref name",
                request.git_ref
            )));
        }
        if let Some(commit) = request.commit {
            if !valid_object_id(commit) {
                return Err(SourceError::permanent(format!(
                    "`{commit}` is not a full commit id"
                )));
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
                    return Err(SourceError::permanent(format!(
                        "commit {} not found in {} after fetching {}",
                        short(commit),
                        redact_url(url),
                        request.git_ref
                    )));
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
        std::fs::create_dir_all(&tree).map_err(|e| {
            SourceError::permanent(format!("cannot create {}: {e}", tree.display()))
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

    async fn remove_ref(&self, repo: &RepoConfig, git_ref: &str) -> Result<(), SourceError> {
        let lock = self.lock_for(&repo.name);
        let _guard = lock.lock().await;
        let (tree, index) = self.tree_dir(repo, git_ref);
        for path in [&tree] {
            if path.exists() {
                std::fs::remove_dir_all(path).map_err(|e| {
                    SourceError::transient(format!("cannot remove {}: {e}", path.display()))
                })?;
            }
        }
        IndexState::forget(&index);
        let _ = std::fs::remove_file(index);
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

/// Indexes a local directory in place: every run is a full reconcile, which the indexer's stat
/// cache makes cheap; the commit is the directory's HEAD when it is a git checkout.
#[derive(Debug)]
pub struct LocalSource {
    git_timeout: Duration,
}

#[async_trait]
impl RepoSource for LocalSource {
    async fn prepare(
        &self,
        repo: &RepoConfig,
        _request: TreeRequest<'_>,
    ) -> Result<PreparedTree, SourceError> {
        let RepoLocation::Path(path) = &repo.location else {
            return Err(SourceError::permanent("repo has no path"));
        };
        if !path.is_dir() {
            return Err(SourceError::permanent(format!(
                "{} is not a directory",
                path.display()
            )));
        }
        // A plain directory (no `.git` in it or above it, where git itself would look) has
        // no commit to record: don't spawn a git process per job to learn that.
        let commit = if path.ancestors().any(|dir| dir.join(".git").exists()) {
            let mut head = Command::new("git");
            head.arg("-C")
                .arg(path)
                .args(["rev-parse", "--verify", "--quiet", "HEAD"]);
            run_git(head, self.git_timeout, "")
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
        })
    }

    async fn remove_ref(&self, _repo: &RepoConfig, _git_ref: &str) -> Result<(), SourceError> {
        Ok(())
    }
}

/// Removes `*.lock` files a killed git left in a mirror. Only called under the repo's lock, before this process runs git there, and only
/// one process owns a data dir, so no live git holds them.
fn remove_stale_locks(mirror: &Path) {
    let mut dirs = vec![mirror.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            // objects/ holds no lock files and is by far the largest part: skip it.
            if kind.is_dir() && entry.file_name() != "objects" {
                dirs.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|e| e == "lock") {
                tracing::warn!(path = %path.display(), "removing a lock file left by an interrupted git");
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}

/// A directory name for a ref that is readable, unique and cannot leave its parent.
fn ref_dir_name(git_ref: &str) -> String {
    let readable: String = git_ref
        .trim_start_matches("refs/")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let digest = ring::digest::digest(&ring::digest::SHA256, git_ref.as_bytes());
    let tag: String = digest.as_ref()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{readable}-{tag}")
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// Runs git with a timeout; on failure the message is the last line git wrote to stderr, with
/// credentials redacted.
async fn run_git(command: Command, timeout: Duration, url: &str) -> Result<Vec<u8>, SourceError> {
    run_git_with_input(command, None, timeout, url).await
}

/// [`run_git`] with `input` written to git's stdin (for the `--batch` commands).
async fn run_git_with_input(
    mut command: Command,
    input: Option<Vec<u8>>,
    timeout: Duration,
    url: &str,
) -> Result<Vec<u8>, SourceError> {
    use tokio::io::AsyncWriteExt;
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_OPTIONAL_LOCKS", "0")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let what = describe(&command);
    let started = std::time::Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| SourceError::permanent(format!("cannot run git ({e}); is git installed?")))?;
    let mut stdin = child.stdin.take();
    let run = async move {
        if let (Some(pipe), Some(input)) = (stdin.as_mut(), input) {
            // A git that exits early closes its end; its status then tells what happened.
            let _ = pipe.write_all(&input).await;
        }
        drop(stdin);
        child.wait_with_output().await
    };
    let output = tokio::time::timeout(timeout, run).await;
    tracing::debug!(git = %what, elapsed_us = started.elapsed().as_micros() as u64, "git ran");
    let output = match output {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(SourceError::transient(format!("git {what} failed: {e}"))),
        Err(_) => {
            return Err(SourceError::transient(format!(
                "git {what} timed out after {}s",
                timeout.as_secs()
            )));
        }
    };
    if output.status.success() {
        return Ok(output.stdout);
    }
    let stderr = redact_text(&String::from_utf8_lossy(&output.stderr), url);
    let detail = stderr
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
        .to_string();
    let retryable = is_transient(&stderr);
    Err(SourceError {
        message: format!(
            "git {what} failed: {}",
            if detail.is_empty() {
                "no output".into()
            } else {
                detail
            }
        ),
        retryable,
    })
}

/// Which commit a per-ref git index holds, recorded beside it (`<index>.commit`) after each
/// successful `read-tree`, so the next update can be a two-way merge.
///
/// The record also keeps the index file's trailing checksum: if the index on disk is not the
/// one written with the record (a crash before git's write reached the disk, a copy, a
/// restore), the record is ignored and the tree is reset instead. Records are never fsync'ed:
/// a lost or stale record only costs a reset.
struct IndexState;

impl IndexState {
    /// Git ends its index with a checksum of the rest: 20 bytes (SHA-1) or 32 (SHA-256).
    const TRAILER: u64 = 32;

    fn record_path(index: &Path) -> PathBuf {
        let mut name = index.as_os_str().to_owned();
        name.push(".commit");
        PathBuf::from(name)
    }

    fn trailer(index: &Path) -> Option<String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(index).ok()?;
        let len = file.metadata().ok()?.len();
        if len < Self::TRAILER {
            return None;
        }
        file.seek(SeekFrom::Start(len - Self::TRAILER)).ok()?;
        let mut tail = [0u8; Self::TRAILER as usize];
        file.read_exact(&mut tail).ok()?;
        Some(tail.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The commit the index holds, if the record vouches for the index on disk.
    fn read(index: &Path) -> Option<String> {
        let record = std::fs::read_to_string(Self::record_path(index)).ok()?;
        let (commit, trailer) = record.trim_end().split_once(' ')?;
        (valid_object_id(commit) && Self::trailer(index)? == trailer).then(|| commit.to_string())
    }

    fn record(index: &Path, commit: &str) {
        if let Some(trailer) = Self::trailer(index) {
            let _ = std::fs::write(Self::record_path(index), format!("{commit} {trailer}\n"));
        }
    }

    fn forget(index: &Path) {
        let _ = std::fs::remove_file(Self::record_path(index));
    }
}

/// The git verb (`fetch`, `read-tree`, ...) for messages; paths and URLs stay out of them.
fn describe(command: &Command) -> String {
    let mut args = command
        .as_std()
        .get_args()
        .map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // Global options that take a value: skip the value too.
            "--git-dir" | "--work-tree" | "-C" | "-c" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            verb => return verb.to_string(),
        }
    }
    "command".into()
}

fn is_transient(stderr: &str) -> bool {
    let lower = stderr.to_ascii_lowercase();
    [
        "could not resolve host",
        "connection refused",
        "connection timed out",
        "connection reset",
        "unable to access",
        "temporary failure",
        "index.lock",
        "unable to create",
        "early eof",
        "the remote end hung up",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Removes credentials from every URL in a message, and the configured URL's own userinfo.
pub fn redact_text(text: &str, url: &str) -> String {
    let mut out = if url.is_empty() {
        text.to_string()
    } else {
        text.replace(url, &redact_url(url))
    };
    let mut search_from = 0;
    while let Some(pos) = out[search_from..].find("://") {
        let start = search_from + pos + 3;
        let end = out[start..]
            .find(|c: char| c == '/' || c.is_whitespace() || c == '\'' || c == '"')
            .map_or(out.len(), |e| start + e);
        if let Some(at) = out[start..end].rfind('@') {
            out.replace_range(start..start + at, "***");
            search_from = start + 4;
        } else {
            search_from = end;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ref_names_follow_check_ref_format() {
        for good in [
            "refs/heads/main",
            "refs/heads/feature/x-1",
            "refs/pull/12/head",
            "refs/tags/v1.2.3",
        ] {
            assert!(valid_ref_name(good), "{good}");
        }
        for bad in [
            "main",
            "--upload-pack=evil",
            "refs/heads/../../x",
            "refs/heads/a..b",
            "refs/heads/x.lock",
            "refs/heads/.hidden",
            "refs/heads/a b",
            "refs/heads/a\0b",
            "refs/heads/a~1",
            "refs/heads/a:b",
            "refs/heads/",
            "/refs/heads/x",
            "refs/heads/x@{1}",
        ] {
            assert!(!valid_ref_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn object_ids_are_full_lowercase_hex() {
        assert!(valid_object_id(&"a".repeat(40)));
        assert!(valid_object_id(&"0123456789abcdef".repeat(4)));
        assert!(!valid_object_id(&"A".repeat(40)));
        assert!(!valid_object_id("abc"));
        assert!(!valid_object_id(&format!("-{}", "a".repeat(39))));
        assert!(is_zero_id(&"0".repeat(40)));
    }

    #[test]
    fn ref_dirs_stay_inside_their_parent() {
        let name = ref_dir_name("refs/heads/../../etc");
        assert!(!name.contains('/') && !name.contains(".."), "{name}");
        assert_ne!(
            ref_dir_name("refs/heads/a_b"),
            ref_dir_name("refs/heads/a/b")
        );
    }

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
        let repo = RepoConfig {
            name: "r".into(),
            provider: webhook_core::ProviderId::GitHub,
            location: RepoLocation::Url(format!("file://{}", origin.display())),
            branches: vec!["main".into()],
            secrets: Vec::new(),
            pull_requests: false,
            tags: false,
            include: Vec::new(),
            exclude: Vec::new(),
            max_file_bytes: 1 << 20,
            allow_sha1: false,
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

    #[test]
    fn credentials_never_survive_in_messages() {
        let msg = "fatal: unable to access 'https://bob:s3cret@example.com/x.git/': 403";
        let out = redact_text(msg, "");
        assert!(!out.contains("s3cret") && !out.contains("bob"), "{out}");
    }
}
