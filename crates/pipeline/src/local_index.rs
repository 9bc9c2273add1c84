//! One indexing run over a local tree outside any job (`context-gateway index`): the ref and
//! commit its checkout is at, and the run itself with the feed's run context set.

use std::path::Path;
use std::process::{Command, Stdio};

use indexer::{
    IndexSink, Indexer, IndexerConfig, ManifestStore, RefKey, RunRequest, RunSummary, Scope,
};

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
