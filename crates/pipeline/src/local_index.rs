//! One indexing run over a local tree outside any job (`context-gateway index`): the tree,
//! repo name and ref it is indexed under ([`LocalTarget`]), the ref and commit its checkout is
//! at, and the run itself with the feed's run context set ([`LocalRun`] reports it).

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use indexer::{
    IndexSink, Indexer, IndexerConfig, ManifestStore, RefKey, RunRequest, RunSummary, Scope,
};

/// Why a local tree cannot be indexed under the name and ref asked for.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The path does not resolve (missing, unreadable).
    #[error("cannot index {}: {source}", path.display())]
    Unreadable {
        /// The path as given.
        path: PathBuf,
        /// Why it does not resolve.
        source: std::io::Error,
    },
    /// The path is a file, not a tree.
    #[error("{} is not a directory", .0.display())]
    NotADirectory(PathBuf),
    /// The repo name (given, or the directory's) is not one a repo may have.
    #[error("`{0}` is not a valid repo name: use 1 to 100 of A-Z a-z 0-9 . _ - (pass --name)")]
    BadName(String),
    /// The ref is not a valid git ref name.
    #[error("`{0}` is not a valid ref name")]
    BadRef(String),
}

/// A local tree and the repo and ref its chunks are indexed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTarget {
    /// The tree, canonical.
    pub tree: PathBuf,
    /// The repo name and full ref name.
    pub key: RefKey,
}

impl LocalTarget {
    /// Checks `path` and picks the name (default: the directory's name) and ref (a branch
    /// name or a full ref; default: the checkout's branch, else `refs/heads/main`).
    pub fn resolve(
        path: &Path,
        name: Option<String>,
        git_ref: Option<String>,
    ) -> Result<LocalTarget, TargetError> {
        let tree = path
            .canonicalize()
            .map_err(|source| TargetError::Unreadable {
                path: path.to_path_buf(),
                source,
            })?;
        if !tree.is_dir() {
            return Err(TargetError::NotADirectory(path.to_path_buf()));
        }
        let name = name.unwrap_or_else(|| {
            tree.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "local".into())
        });
        if !crate::valid_repo_name(&name) {
            return Err(TargetError::BadName(name));
        }
        let git_ref = match git_ref {
            Some(r) => crate::full_ref(&r),
            None => checked_out_ref(&tree).unwrap_or_else(|| "refs/heads/main".into()),
        };
        if !crate::valid_ref_name(&git_ref) {
            return Err(TargetError::BadRef(git_ref));
        }
        let key = RefKey::new(name, git_ref);
        Ok(LocalTarget { tree, key })
    }

    /// Indexes the tree into `sink` (see [`index_local_tree`]) and reports the run.
    pub fn index(
        self,
        full: bool,
        sink: &dyn IndexSink,
        manifests: &dyn ManifestStore,
    ) -> Result<LocalRun, indexer::Error> {
        let started = Instant::now();
        let summary = index_local_tree(&self.tree, self.key.clone(), full, sink, manifests)?;
        Ok(LocalRun {
            elapsed_ms: started.elapsed().as_millis() as u64,
            target: self,
            summary,
        })
    }
}

/// A finished local run; its `Display` is the summary `context-gateway index` prints.
#[derive(Debug, Clone)]
pub struct LocalRun {
    /// What was indexed.
    pub target: LocalTarget,
    /// The indexer's counts and skips.
    pub summary: RunSummary,
    /// The whole run, manifests and sink commits included.
    pub elapsed_ms: u64,
}

impl fmt::Display for LocalRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (target, p) = (&self.target, &self.summary.progress);
        writeln!(
            f,
            "indexed {} as {} {} in {} ms",
            target.tree.display(),
            target.key.repo,
            target.key.git_ref,
            self.elapsed_ms
        )?;
        writeln!(
            f,
            "  files: {} seen, {} changed, {} deleted; chunks: {} added, {} removed",
            p.files_seen, p.files_changed, p.files_deleted, p.chunks_added, p.chunks_removed
        )?;
        if p.chunks_withheld > 0 {
            writeln!(
                f,
                "  withheld: {} chunks holding secrets",
                p.chunks_withheld
            )?;
        }
        let skipped: Vec<String> = (self.summary.skipped.iter())
            .map(|(reason, n)| format!("{n} {reason:?}"))
            .collect();
        if !skipped.is_empty() {
            writeln!(f, "  skipped: {}", skipped.join(", "))?;
        }
        Ok(())
    }
}

/// The ref the checkout at `tree` is on (`refs/heads/main`), if it is a git checkout on a
/// branch.
pub fn checked_out_ref(tree: &Path) -> Option<String> {
    git_output(tree, &["symbolic-ref", "-q", "HEAD"])
}

/// The commit the checkout at `tree` is at, if it is a git checkout with one.
pub fn checked_out_commit(tree: &Path) -> Option<String> {
    git_output(tree, &["rev-parse", "--verify", "-q", "HEAD"]).filter(|c| crate::valid_object_id(c))
}

/// Indexes every changed file of `tree` as `key` into `sink`; `full` forgets the ref's
/// manifest first, so every file is read again. The feed's entries name no job.
pub fn index_local_tree(
    tree: &Path,
    key: RefKey,
    full: bool,
    sink: &dyn IndexSink,
    manifests: &dyn ManifestStore,
) -> Result<RunSummary, indexer::Error> {
    let indexer = Indexer::new(IndexerConfig::default())?;
    let request = RunRequest {
        tree,
        key,
        commit: checked_out_commit(tree),
        scope: Scope::Full,
    };
    if full {
        manifests.remove(&request.key)?;
    }
    let context = feed::RunContext { job_id: None, full };
    feed::with_run(context, || {
        indexer.run(request, sink, manifests, &|_| {}, &|| false)
    })
}

fn git_output(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .env("LC_ALL", "C")
        .env_remove("LANGUAGE")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use indexer::{FsManifestStore, MemorySink};

    fn git(dir: &Path, args: &[&str]) {
        let status = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "git {args:?}");
    }

    #[test]
    fn name_and_ref_default_to_the_directory_and_its_branch() {
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join("my-tree");
        std::fs::create_dir(&tree).unwrap();
        let target = LocalTarget::resolve(&tree, None, None).unwrap();
        assert_eq!(target.key, RefKey::new("my-tree", "refs/heads/main"));
        git(&tree, &["init", "-q", "-b", "topic"]);
        let target = LocalTarget::resolve(&tree, None, None).unwrap();
        assert_eq!(target.key.git_ref, "refs/heads/topic");
        let given = LocalTarget::resolve(&tree, Some("x".into()), Some("dev".into())).unwrap();
        assert_eq!(given.key, RefKey::new("x", "refs/heads/dev"));
        let tag = LocalTarget::resolve(&tree, None, Some("refs/tags/v1".into())).unwrap();
        assert_eq!(tag.key.git_ref, "refs/tags/v1");
    }

    #[test]
    fn bad_paths_names_and_refs_say_what_is_wrong() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("file.txt");
        std::fs::write(&file, "x").unwrap();
        let message = |path: &Path, name: Option<&str>, git_ref: Option<&str>| {
            let name = name.map(str::to_owned);
            let git_ref = git_ref.map(str::to_owned);
            LocalTarget::resolve(path, name, git_ref)
                .unwrap_err()
                .to_string()
        };
        let missing = message(&root.path().join("nope"), None, None);
        assert!(missing.starts_with("cannot index "), "{missing}");
        assert!(message(&file, None, None).ends_with("file.txt is not a directory"));
        assert_eq!(
            message(root.path(), Some("a b"), None),
            "`a b` is not a valid repo name: use 1 to 100 of A-Z a-z 0-9 . _ - (pass --name)"
        );
        assert_eq!(
            message(root.path(), Some("a"), Some("bad..ref")),
            "`refs/heads/bad..ref` is not a valid ref name"
        );
    }

    #[test]
    fn a_run_reports_what_it_indexed() {
        let root = tempfile::tempdir().unwrap();
        let tree = root.path().join("demo");
        std::fs::create_dir(&tree).unwrap();
        std::fs::write(
            tree.join("lib.rs"),
            "fn main() {\n    println!(\"hi\");\n}\n",
        )
        .unwrap();
        let manifests = FsManifestStore::new(root.path().join("manifests")).unwrap();
        let sink = MemorySink::default();
        let target = LocalTarget::resolve(&tree, None, Some("main".into())).unwrap();
        let run = target.clone().index(false, &sink, &manifests).unwrap();
        assert_eq!(run.summary.progress.files_changed, 1);
        assert!(sink.files(&run.target.key).contains_key("lib.rs"));
        let text = run.to_string();
        let first = format!(
            "indexed {} as demo refs/heads/main in ",
            run.target.tree.display()
        );
        assert!(text.starts_with(&first), "{text}");
        assert!(
            text.contains("\n  files: 1 seen, 1 changed, 0 deleted; chunks: "),
            "{text}"
        );
        // Nothing changed since: the second run reads nothing, a full one everything.
        let again = target.clone().index(false, &sink, &manifests).unwrap();
        assert_eq!(again.summary.progress.files_changed, 0);
        let full = target.index(true, &sink, &manifests).unwrap();
        assert_eq!(full.summary.progress.files_changed, 1);
    }
}
