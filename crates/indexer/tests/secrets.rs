//! Secret files are skipped, chunks holding secrets never reach the sink, and the files that
//! hold them stay tracked through edits and deletions; on real temp trees.

mod common;

use std::collections::BTreeMap;

use common::*;
use indexer::{
    ChangeStatus, FsManifestStore, Indexer, IndexerConfig, ManifestStore, MemoryManifestStore,
    MemorySink, PathChange, Scope, SkipReason,
};
use proptest::prelude::*;

/// A GitHub token that passes the detector (fixed, so failures are reproducible; split so that
/// secret scanners run on this source do not flag it).
const TOKEN: &str = concat!("ghp_", "R8fK2mQ7vX1nL5tB9wZ3cJ6hD0sY4pGaE2uN");
/// An AWS key id, likewise.
const KEY_ID: &str = concat!("AKIA", "4JQXZ7ORW2N5KT3B");

fn all_text(sink: &MemorySink) -> String {
    sink.files(&key())
        .values()
        .flatten()
        .map(|chunk| chunk.text.as_str())
        .collect()
}

fn indexer_with(index_secret_files: bool) -> Indexer {
    Indexer::new(IndexerConfig {
        threads: 2,
        index_secret_files,
        ..IndexerConfig::default()
    })
    .unwrap()
}

fn pem_key() -> String {
    let line = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj";
    format!("-----BEGIN PRIVATE KEY-----\n{line}\n{line}\n-----END PRIVATE KEY-----\n")
}

#[test]
fn secret_files_are_skipped_and_counted_unless_configured() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "src/main.rs", "fn main() {}\n");
    write(root, ".env", "DATABASE_URL=postgres://app:hunter2@db/app\n");
    write(
        root,
        "deploy/.env.production",
        "API_PASSWORD=correct-horse\n",
    );
    write(
        root,
        ".env.example",
        "DATABASE_URL=postgres://user:password@localhost/app\n",
    );
    write(root, "tls/server.pem", pem_key());
    write(root, "home/.ssh/id_ed25519", pem_key());
    write(
        root,
        "home/.ssh/id_ed25519.pub",
        "ssh-ed25519 AAAAC3Nz user@host\n",
    );
    write(root, ".aws/credentials", "[default]\nregion = eu-west-1\n");
    write(root, "src/credentials.rs", "pub struct Credentials;\n");

    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let summary = run(&indexer_with(false), root, Scope::Full, &sink, &manifests).unwrap();
    let expected: BTreeMap<SkipReason, u64> = [(SkipReason::SecretFile, 5)].into_iter().collect();
    assert_eq!(summary.skipped, expected);
    assert_eq!(summary.progress.files_skipped_secret, 5);
    let paths: Vec<String> = sink.files(&key()).into_keys().collect();
    assert_eq!(
        paths,
        [
            ".env.example",
            "home/.ssh/id_ed25519.pub",
            "src/credentials.rs",
            "src/main.rs"
        ]
    );
    assert!(!all_text(&sink).contains("hunter2"));

    // The switch indexes them (file-level skipping only: the key blocks are still withheld).
    let summary = run(&indexer_with(true), root, Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(summary.progress.files_skipped_secret, 0);
    assert_eq!(summary.progress.chunks_withheld, 2, "the two key files");
    let files = sink.files(&key());
    assert!(files.contains_key(".env") && files.contains_key(".aws/credentials"));
    assert!(all_text(&sink).contains("hunter2"));
    assert!(!all_text(&sink).contains("MIIEvQIBADANBg"));

    // Switched back off: the files already indexed are removed.
    let summary = run(&indexer_with(false), root, Scope::Full, &sink, &manifests).unwrap();
    assert_eq!(summary.progress.files_deleted, 5);
    assert!(!sink.files(&key()).contains_key(".env"));
    assert!(!all_text(&sink).contains("hunter2"));
}

#[test]
fn switching_index_secret_files_applies_to_the_whole_tree_even_on_a_path_hint_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let store_dir = tempfile::tempdir().unwrap();
    write(root, "a.rs", "fn a() {}\n");
    write(root, ".env", "envfile_marker=1\n");
    age_tree(root);
    let sink = MemorySink::new();
    let manifests = FsManifestStore::new(store_dir.path()).unwrap();
    // A push that touched nothing, indexed with or without secret files.
    let nothing_changed = |index_secret_files| {
        let indexer = indexer_with(index_secret_files);
        run(&indexer, root, Scope::Paths(Vec::new()), &sink, &manifests).unwrap()
    };
    run(&indexer_with(false), root, Scope::Full, &sink, &manifests).unwrap();
    assert!(!sink.files(&key()).contains_key(".env"));

    // A push that touched nothing, under the new setting: the manifest was made with the
    // other one, so the run reads the tree again.
    let summary = nothing_changed(true);
    assert_eq!(summary.files_read, 2, "{summary:?}");
    assert_eq!(
        summary.progress.files_changed, 1,
        "only .env is new: {summary:?}"
    );
    assert!(sink.files(&key()).contains_key(".env"));
    let summary = nothing_changed(true);
    assert_eq!(summary.files_read, 0, "settled: {summary:?}");

    let summary = nothing_changed(false);
    assert_eq!(summary.progress.files_deleted, 1, "{summary:?}");
    assert!(!sink.files(&key()).contains_key(".env"));
    assert!(sink.files(&key()).contains_key("a.rs"));
}

#[test]
fn a_hinted_secret_file_is_skipped_too() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.rs", "fn a() {}\n");
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    run(&indexer(), root, Scope::Full, &sink, &manifests).unwrap();

    write(root, "config/.env.local", "SECRET=1\n");
    let hint = Scope::Paths(vec![PathChange {
        status: ChangeStatus::Added,
        path: "config/.env.local".into(),
        old_path: None,
    }]);
    let summary = run(&indexer(), root, hint, &sink, &manifests).unwrap();
    assert_eq!(summary.skipped.get(&SkipReason::SecretFile), Some(&1));
    assert!(!sink.files(&key()).contains_key("config/.env.local"));
}

/// Source text long enough for several chunks, with `line` inserted at `at`.
fn source_with(line: &str, at: usize) -> String {
    let mut lines: Vec<String> = (0..120)
        .map(|i| match i % 6 {
            0 => format!("fn step_{i}(x: u32) -> u32 {{"),
            5 => "}\n".to_string(),
            _ => format!("    let v{i} = x + {i};"),
        })
        .collect();
    lines.insert(at, line.to_string());
    lines.join("\n") + "\n"
}

fn incremental_add_edit_delete(hinted: bool) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
    let indexer = indexer();
    let scope = |status| {
        if hinted {
            Scope::Paths(vec![PathChange {
                status,
                path: "src/client.rs".into(),
                old_path: None,
            }])
        } else {
            Scope::Full
        }
    };
    // Rewrites src/client.rs and runs again (hinted: as a modified path).
    let edit = |text: String| {
        write(root, "src/client.rs", text);
        let modified = scope(ChangeStatus::Modified);
        run(&indexer, root, modified, &sink, &manifests).unwrap()
    };
    write(root, "src/other.rs", "fn other() {}\n");
    write(root, "src/client.rs", source_with("// no token yet", 60));
    run(&indexer, root, Scope::Full, &sink, &manifests).unwrap();
    let clean_chunks = sink.files(&key())["src/client.rs"].len();
    assert!(clean_chunks >= 2, "the file must span several chunks");
    age_tree(root);

    // A secret is added: its chunk is withheld, the rest of the file is searchable.
    let summary = edit(source_with(
        &format!("const TOKEN: &str = \"{TOKEN}\";"),
        60,
    ));
    assert_eq!(summary.progress.chunks_withheld, 1);
    assert_eq!(summary.progress.files_changed, 1);
    let chunks = &sink.files(&key())["src/client.rs"];
    assert_eq!(
        chunks.len(),
        clean_chunks - 1,
        "only the secret's chunk is gone"
    );
    assert!(chunks.iter().any(|c| c.text.contains("fn step_0(")));
    assert!(!all_text(&sink).contains(TOKEN));
    let manifest = manifests.load(&key()).unwrap().unwrap();
    let entry = manifest
        .get("src/client.rs")
        .expect("the file stays tracked");
    assert_eq!(entry.chunks.len(), chunks.len());
    age_tree(root);

    // An unrelated edit elsewhere in the file keeps the secret withheld.
    let summary = edit(
        source_with(&format!("const TOKEN: &str = \"{TOKEN}\";"), 60).replace("step_0(", "first("),
    );
    assert_eq!(summary.progress.chunks_withheld, 1);
    assert!(!all_text(&sink).contains(TOKEN));
    age_tree(root);

    // The secret is edited away: the file is indexed whole again.
    let summary = edit(source_with("// token from the vault", 60));
    assert_eq!(summary.progress.chunks_withheld, 0);
    let chunks = &sink.files(&key())["src/client.rs"];
    assert_eq!(chunks.len(), clean_chunks);
    assert!(
        chunks
            .iter()
            .any(|c| c.text.contains("token from the vault"))
    );
    age_tree(root);

    // The secret comes back, then the file is deleted: a deletion is still a deletion.
    edit(source_with(&format!("key = {KEY_ID}"), 3));
    assert!(!all_text(&sink).contains(KEY_ID));
    std::fs::remove_file(root.join("src/client.rs")).unwrap();
    let summary = run(
        &indexer,
        root,
        scope(ChangeStatus::Deleted),
        &sink,
        &manifests,
    )
    .unwrap();
    assert_eq!(summary.progress.files_deleted, 1);
    assert!(!sink.files(&key()).contains_key("src/client.rs"));
    assert!(sink.files(&key()).contains_key("src/other.rs"));
    let manifest = manifests.load(&key()).unwrap().unwrap();
    assert!(manifest.get("src/client.rs").is_none());
}

#[test]
fn add_edit_away_and_delete_a_secret_with_full_walks() {
    incremental_add_edit_delete(false);
}

#[test]
fn add_edit_away_and_delete_a_secret_with_path_hints() {
    incremental_add_edit_delete(true);
}

/// A secret of one of the detected kinds, random where the real ones are.
fn secret() -> impl Strategy<Value = String> {
    const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    fn chars(alphabet: &'static [u8], len: usize) -> impl Strategy<Value = String> {
        proptest::collection::vec(0..alphabet.len(), len)
            .prop_map(move |ix| ix.into_iter().map(|i| char::from(alphabet[i])).collect())
    }
    prop_oneof![
        chars(UPPER, 16).prop_map(|s| format!("AKIA{s}")),
        chars(UPPER, 16).prop_map(|s| format!("ASIA{s}")),
        chars(B64, 40).prop_map(|s| format!("aws_secret_access_key = {s}")),
        chars(B64, 86).prop_map(|s| format!("AccountName=a;AccountKey={s}==")),
        chars(ALNUM, 36).prop_map(|s| format!("ghp_{s}")),
        chars(ALNUM, 36).prop_map(|s| format!("gho_{s}")),
        chars(ALNUM, 82).prop_map(|s| format!("github_pat_{s}")),
        chars(ALNUM, 20).prop_map(|s| format!("glpat-{s}")),
        chars(ALNUM, 24).prop_map(|s| format!("xoxb-1234567890-{s}")),
        chars(ALNUM, 24).prop_map(|s| format!("sk_live_{s}")),
        chars(ALNUM, 48).prop_map(|s| format!("sk-{s}")),
        chars(ALNUM, 100).prop_map(|s| format!("sk-proj-{s}")),
        chars(ALNUM, 36).prop_map(|s| format!("npm_{s}")),
        chars(ALNUM, 60).prop_map(|s| format!("pypi-AgEIcHlwaS5vcmc{s}")),
        chars(ALNUM, 35).prop_map(|s| format!("AIza{s}")),
        (chars(B64, 64), chars(B64, 64), chars(B64, 20)).prop_map(|(a, b, c)| format!(
            "-----BEGIN RSA PRIVATE KEY-----\n{a}\n{b}\n{c}==\n-----END RSA PRIVATE KEY-----"
        )),
        (chars(B64, 64), chars(B64, 64)).prop_map(|(a, b)| format!(
            "\"private_key\": \"-----BEGIN PRIVATE KEY-----\\n{a}\\n{b}\\n-----END PRIVATE KEY-----\\n\","
        )),
    ]
}

/// Lines of code-like text that hold no secret.
fn code_lines() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[a-z_]{1,12}( [a-z_(){};=]{1,10}){0,6}|", 0..160)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// However the secret sits among other lines, no committed chunk contains any part of it
    /// that matters (its random part), and the file is still tracked.
    #[test]
    fn a_generated_secret_never_reaches_the_sink(
        lines in code_lines(),
        secret in secret(),
        at in any::<proptest::sample::Index>(),
        quoted in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut lines = lines;
        let line = if quoted { format!("let value = \"{secret}\";") } else { secret.clone() };
        lines.insert(at.index(lines.len() + 1), line);
        write(root, "src/config.rs", lines.join("\n") + "\n");

        let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
        let summary = run(&indexer(), root, Scope::Full, &sink, &manifests).unwrap();
        prop_assert!(summary.progress.chunks_withheld >= 1);
        let text = all_text(&sink);
        for part in secret.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| p.len() >= 16) {
            prop_assert!(!text.contains(part), "{part} reached the sink");
        }
        let manifest = manifests.load(&key()).unwrap().unwrap();
        prop_assert!(manifest.get("src/config.rs").is_some());
    }
}
