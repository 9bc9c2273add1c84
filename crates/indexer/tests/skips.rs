//! Every skip reason, symlink safety, and lossy UTF-8, on real temp trees.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;

use common::*;
use indexer::{Indexer, IndexerConfig, MemoryManifestStore, MemorySink, Scope, SkipReason};

#[test]
fn every_skip_reason_is_counted_and_nothing_skipped_is_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), "secret.txt", "top secret\n");

    write(root, "src/ok.rs", "fn ok() {}\n");
    write(
        root,
        "image.png",
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice(),
    );
    let mut late_nul = "a".repeat(79).as_bytes().repeat(113);
    late_nul.iter_mut().step_by(80).for_each(|b| *b = b'\n');
    late_nul[8500] = 0;
    write(root, "late_nul.txt", &late_nul); // NUL after 8,000 bytes: text, as for git
    write(root, "big.txt", "x\n".repeat(600_000)); // 1.2 MB > 1 MiB
    write(
        root,
        "model.bin",
        "version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 12\n",
    );
    write(root, "app.min.js", format!("{}\n", "var a=1;".repeat(100)));
    write(root, "gen/api.pb.go", "package api\n");
    write(root, "third_party/lib.c", "int x;\n");
    write(
        root,
        ".gitattributes",
        "*.pb.go linguist-generated\nthird_party/** linguist-vendored\n",
    );
    write(root, "latin1.txt", b"caf\xe9\n".as_slice());
    symlink("/etc/passwd", root.join("passwd")).unwrap();
    symlink(outside.path().join("secret.txt"), root.join("escape.txt")).unwrap();
    symlink("loop_b", root.join("loop_a")).unwrap();
    symlink("loop_a", root.join("loop_b")).unwrap();
    symlink("nowhere.txt", root.join("dangling")).unwrap();
    symlink("src", root.join("src_link")).unwrap();
    symlink("src/ok.rs", root.join("ok_link.rs")).unwrap();
    symlink(".git/config", root.join("git_config_link")).unwrap();
    write(root, ".git/config", "[core]\n");
    std::process::Command::new("mkfifo")
        .arg(root.join("fifo"))
        .status()
        .unwrap();

    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let summary = run(&indexer(), root, Scope::Full, &sink, &manifests).unwrap();

    let expected: BTreeMap<SkipReason, u64> = [
        (SkipReason::Binary, 1),
        (SkipReason::TooLarge, 1),
        (SkipReason::LfsPointer, 1),
        (SkipReason::Generated, 1),
        (SkipReason::Vendored, 1),
        (SkipReason::Minified, 1),
        (SkipReason::SymlinkOutsideTree, 3), // passwd, escape.txt, the link into .git
        (SkipReason::SymlinkLoop, 2),
        (SkipReason::NotAFile, 3), // dangling, link to a directory, fifo
    ]
    .into_iter()
    .collect();
    assert_eq!(summary.skipped, expected);

    let files = sink.files(&key());
    let paths: Vec<&str> = files.keys().map(String::as_str).collect();
    assert_eq!(
        paths,
        [
            ".gitattributes",
            "late_nul.txt",
            "latin1.txt",
            "ok_link.rs",
            "src/ok.rs"
        ],
        "only text files inside the tree are indexed"
    );
    assert_eq!(
        files["latin1.txt"][0].text, "caf\u{fffd}\n",
        "invalid UTF-8 is indexed lossily"
    );
    assert_eq!(
        files["ok_link.rs"][0].text, "fn ok() {}\n",
        "in-tree link indexed under its path"
    );
    assert!(
        files
            .values()
            .flatten()
            .all(|c| !c.text.contains("root:") && !c.text.contains("secret"))
    );
    assert_eq!(summary.progress.files_seen, 5 + 14);
}

#[test]
fn content_skips_are_cached_and_a_file_becoming_binary_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", "hello\n");
    write(root, "b.bin", b"\0\x01\x02".as_slice());
    age_tree(root);
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let indexer = indexer();
    run(&indexer, root, Scope::Full, &sink, &manifests).unwrap();

    let again = run(&indexer, root, Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(
        again.files_read, 0,
        "an unchanged binary file is not read again"
    );
    assert_eq!(again.skipped.get(&SkipReason::Binary), Some(&1));

    write(root, "a.txt", b"now\0binary".as_slice());
    age_tree(root);
    let changed = run(&indexer, root, Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(changed.progress.files_deleted, 1);
    assert!(sink.files(&key()).is_empty());
}

#[test]
fn size_and_minified_thresholds_come_from_the_config() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "small.txt", "a\n".repeat(10));
    write(root, "wide.txt", format!("{}\n", "w".repeat(50)));
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let run_with = |max_file_bytes| {
        let config = IndexerConfig {
            max_file_bytes,
            max_avg_line_len: 40,
            ..IndexerConfig::default()
        };
        let indexer = Indexer::new(config).unwrap();
        run(&indexer, root, Scope::Full, &sink, &manifests).unwrap()
    };
    let summary = run_with(30);
    assert_eq!(summary.skipped.get(&SkipReason::TooLarge), Some(&1));
    assert_eq!(
        summary.skipped.get(&SkipReason::Minified),
        None,
        "51 bytes > 30: too large is decided first"
    );
    let summary = run_with(IndexerConfig::default().max_file_bytes);
    assert_eq!(summary.skipped.get(&SkipReason::Minified), Some(&1));
}
