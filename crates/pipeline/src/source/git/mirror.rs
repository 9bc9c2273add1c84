//! Bare mirrors: one per url repo under `<data>/mirrors`, built aside and renamed into place,
//! with the locks a killed git left behind cleared on a process's first use.

use std::path::{Path, PathBuf};

use tokio::process::Command;

use super::GitSource;
use super::command::{run_git, run_git_with_input};
use super::refname::valid_object_id;
use super::remote::Remote;
use crate::repo::RepoSpec;
use crate::source::{SourceError, off_runtime};

impl GitSource {
    pub(super) fn mirror(&self, repo: &RepoSpec) -> PathBuf {
        self.mirrors.join(format!("{}.git", repo.name))
    }

    /// Makes `mirror` a bare repo whose `origin` is `url` without its credentials, creating it
    /// when missing. A mirror made by an older version with the credential in its config has
    /// it rewritten on this process's first use.
    pub(super) async fn ensure_mirror(&self, mirror: &Path, url: &str) -> Result<(), SourceError> {
        let first_use = self.first_use(mirror);
        if first_use {
            // Walks the mirror's directories: off the async runtime.
            let (staging, mirror) = (self.init_dir(mirror), mirror.to_path_buf());
            off_runtime(move || {
                remove_interrupted_init(&staging);
                if mirror.join("HEAD").exists() {
                    remove_stale_locks(&mirror);
                }
            })
            .await;
        }
        if !mirror.join("config").exists() {
            // Built aside and renamed into place, so a crash (or a cancelled job killing git)
            // never leaves a half-made mirror where the next job would trip over it.
            std::fs::create_dir_all(&self.mirrors).map_err(|source| SourceError::CreateDir {
                path: self.mirrors.clone(),
                source,
            })?;
            let staging = self.init_dir(mirror);
            let leftover = staging.clone();
            off_runtime(move || std::fs::remove_dir_all(leftover))
                .await
                .ok();
            let mut init = Command::new("git");
            init.args(["init", "--quiet", "--bare", "--"]).arg(&staging);
            run_git(init, self.timeout, url, &*self.observer).await?;
            self.git(
                &staging,
                &["config", "remote.origin.url", &Remote::parse(url).url],
                url,
            )
            .await?;
            let damaged = mirror.to_path_buf();
            off_runtime(move || std::fs::remove_dir_all(damaged))
                .await
                .ok();
            std::fs::rename(&staging, mirror).map_err(|source| SourceError::Io {
                action: "move the new mirror into place at",
                path: mirror.to_path_buf(),
                source,
            })?;
        }
        // The URL in the config file may have changed since the mirror was made; the config is
        // read once at start, so setting it on a process's first use of the mirror is enough
        // (a git process per push saved).
        if first_use {
            self.git(
                mirror,
                &["config", "remote.origin.url", &Remote::parse(url).url],
                url,
            )
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

    /// The full commit id each of `specs` names in the mirror (`<spec>^{commit}`: annotated
    /// tags peeled, abbreviated ids expanded), `None` for one that names no commit; asked of
    /// one `git cat-file --batch-check` however many specs there are.
    pub(super) async fn resolve_commits(
        &self,
        mirror: &Path,
        specs: &[&str],
        url: &str,
    ) -> Result<Vec<Option<String>>, SourceError> {
        let mut command = Command::new("git");
        command
            .arg("--git-dir")
            .arg(mirror)
            .args(["cat-file", "--batch-check=%(objectname) %(objecttype)"]);
        let input: String = specs.iter().map(|s| format!("{s}^{{commit}}\n")).collect();
        let out = run_git_with_input(
            command,
            Some(input.into_bytes()),
            self.timeout,
            url,
            &*self.observer,
        )
        .await?;
        let text = String::from_utf8_lossy(&out);
        let mut lines = text.lines();
        Ok(specs
            .iter()
            .map(|_| {
                let line = lines.next()?;
                let (id, kind) = line.split_once(' ')?;
                (kind == "commit" && valid_object_id(id)).then(|| id.to_string())
            })
            .collect())
    }

    /// Whether `ancestor` is reachable from `descendant` (`git merge-base --is-ancestor`).
    pub(super) async fn is_ancestor(
        &self,
        mirror: &Path,
        ancestor: &str,
        descendant: &str,
        url: &str,
    ) -> bool {
        self.git(
            mirror,
            &["merge-base", "--is-ancestor", ancestor, descendant],
            url,
        )
        .await
        .is_ok()
    }

    /// Which of `ids` name commits present in the mirror, asked of one `git cat-file
    /// --batch-check` (one process, however many ids).
    pub(super) async fn commits_present(
        &self,
        mirror: &Path,
        ids: &[&str],
        url: &str,
    ) -> Vec<bool> {
        match self.resolve_commits(mirror, ids, url).await {
            Ok(resolved) => resolved.iter().map(Option::is_some).collect(),
            Err(_) => vec![false; ids.len()],
        }
    }
}

/// Removes a mirror whose creation a crash interrupted (see [`GitSource::ensure_mirror`]).
fn remove_interrupted_init(staging: &Path) {
    if staging.exists() {
        tracing::warn!(path = %staging.display(), "removing a mirror whose creation was interrupted");
        let _ = std::fs::remove_dir_all(staging);
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
