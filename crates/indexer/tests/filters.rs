//! Ignore files, include/exclude globs, hidden files and `.git`, on real temp trees.

mod common;

use common::*;
use indexer::{Error, Indexer, IndexerConfig, MemoryManifestStore, MemorySink, Scope};

fn indexed(indexer: &Indexer, root: &std::path::Path) -> Vec<String> {
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    run(indexer, root, Scope::Full, &sink, &manifests).unwrap();
    sink.files(&key()).into_keys().collect()
}

fn sample_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // No .git directory at all: .gitignore must still count.
    write(root, ".gitignore", "*.log\nbuild/\n!keep.log\n");
    write(root, "app.log", "noise\n");
    write(root, "keep.log", "kept by a negated rule\n");
    write(root, "build/out.rs", "generated\n");
    write(root, "src/lib.rs", "pub fn f() {}\n");
    write(root, "src/.gitignore", "scratch.rs\n");
    write(root, "src/scratch.rs", "tmp\n");
    write(root, ".contextignore", "docs/private/\n");
    write(root, "docs/private/notes.md", "private\n");
    write(root, "docs/guide.md", "# guide\n");
    write(root, ".ignore", "fixtures/\n");
    write(root, "fixtures/big.json", "{}\n");
    write(root, ".github/workflows/ci.yml", "on: push\n");
    write(root, ".git/HEAD", "ref: refs/heads/main\n");
    write(root, "sub/.git", "gitdir: ../.git/modules/sub\n");
    write(root, "vendor/dep/x.rs", "dep\n");
    write(root, "node_modules/pkg/index.js", "module.exports = 1;\n");
    dir
}

#[test]
fn ignore_files_hidden_files_and_git_dir() {
    let dir = sample_tree();
    let paths = indexed(&indexer(), dir.path());
    assert_eq!(
        paths,
        [
            ".contextignore",
            ".github/workflows/ci.yml",
            ".gitignore",
            ".ignore",
            "docs/guide.md",
            "keep.log",
            "node_modules/pkg/index.js",
            "src/.gitignore",
            "src/lib.rs",
            "vendor/dep/x.rs",
        ]
    );
}

#[test]
fn include_and_exclude_globs() {
    let dir = sample_tree();
    let config = IndexerConfig {
        include: vec!["*.rs".into(), "*.md".into(), ".github/**".into()],
        exclude: vec![
            "vendor/**".into(),
            "node_modules".into(),
            "/docs/guide.md".into(),
        ],
        ..IndexerConfig::default()
    };
    let paths = indexed(&Indexer::new(config).unwrap(), dir.path());
    assert_eq!(paths, [".github/workflows/ci.yml", "src/lib.rs"]);
}

#[test]
fn a_contextignore_rule_beats_a_deeper_gitignore_whitelist() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".contextignore", "*.snap\n");
    write(root, "t/.gitignore", "!*.snap\n");
    write(root, "t/a.snap", "snapshot\n");
    write(root, "t/a.rs", "test\n");
    assert_eq!(
        indexed(&indexer(), root),
        [".contextignore", "t/.gitignore", "t/a.rs"]
    );
}

#[test]
fn a_bad_glob_is_an_error_naming_it() {
    let config = IndexerConfig {
        exclude: vec!["src/[".into()],
        ..IndexerConfig::default()
    };
    match Indexer::new(config) {
        Err(Error::Glob { glob, .. }) => assert_eq!(glob, "src/["),
        other => panic!("expected a glob error, got {other:?}"),
    }
    let message = Indexer::new(IndexerConfig {
        include: vec!["a{".into()],
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(message.contains("\"a{\""), "{message}");
}

#[test]
fn a_missing_tree_is_an_error_naming_it() {
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let missing = std::path::Path::new("/definitely/not/here");
    let error = run(&indexer(), missing, Scope::Full, &sink, &manifests).unwrap_err();
    assert!(matches!(error, Error::TreeMissing { .. }));
    assert!(error.to_string().contains("/definitely/not/here"));
}
