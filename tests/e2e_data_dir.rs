//! End to end: everything under the data dir is the operator's alone (directories without
//! group/other bits, files likewise), an open data dir is tightened, and a credential in a
//! repo URL never lands in any file under the data dir. Real binary, real git repositories.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use support::*;

const TOKEN_IN_URL: &str = "t0ken-never-on-disk";

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Every file and directory under `root` (not following links).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                dirs.push(path.clone());
            }
            out.push(path);
        }
    }
    out
}

/// Fails naming every path under `root` that group or others may use.
fn assert_owner_only(root: &Path) {
    assert_eq!(
        mode(root) & 0o077,
        0,
        "{} is {:o}",
        root.display(),
        mode(root)
    );
    let open: Vec<String> = walk(root)
        .into_iter()
        .filter(|p| !std::fs::symlink_metadata(p).unwrap().is_symlink())
        .filter(|p| mode(p) & 0o077 != 0)
        .map(|p| format!("{} {:o}", p.display(), mode(&p)))
        .collect();
    assert!(open.is_empty(), "open to group/others: {open:#?}");
}

#[test]
fn the_data_dir_is_owner_only_and_holds_no_credential() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::with_source(&tmp.path().join("src"), "lib.rs", "kept_private", 3);
    // A data dir someone made world-readable: tightened at start.
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // Nothing listens on port 1: the fetch fails, after the mirror was made.
    let config = format!(
        "{}\n[[repos]]\nname = \"private\"\nprovider = \"github\"\nurl = \"https://robot:{TOKEN_IN_URL}@127.0.0.1:1/x.git\"\nsecret = \"{SECRET}\"\n",
        config_for(&repo.url(), "github", "")
    );
    let gw = Gateway::start(tmp.path(), &config);
    gw.poll(Duration::from_millis(50), |gw| {
        let jobs = gw.manage("GET", "/webhooks/jobs", b"").json();
        let jobs = jobs["jobs"].as_array().unwrap().clone();
        let done = |repo: &str, f: &dyn Fn(&serde_json::Value) -> bool| {
            jobs.iter().any(|j| j["repo"] == repo && f(j))
        };
        if done("demo", &|j| j["state"] == "succeeded")
            && done("private", &|j| !j["error"].is_null())
        {
            Ok(())
        } else {
            Err(format!("jobs never ended: {jobs:?}"))
        }
    });
    let hits = gw.manage("GET", "/search?q=kept_private", b"").json();
    assert_eq!(hits["hits"].as_array().unwrap().len(), 1, "{hits}");
    assert!(
        gw.log_text().contains("tightened to owner-only"),
        "{}",
        gw.log_text()
    );
    gw.stop();

    assert_eq!(mode(&data), 0o700);
    assert_owner_only(&data);
    for sub in ["mirrors/demo.git", "worktrees/demo", "jobs", "search"] {
        assert!(data.join(sub).exists(), "{sub} was made");
    }
    let config = std::fs::read_to_string(data.join("mirrors/private.git/config")).unwrap();
    assert!(
        config.contains("url = https://127.0.0.1:1/x.git"),
        "{config}"
    );
    let leaks: Vec<PathBuf> = walk(&data)
        .into_iter()
        .filter(|p| p.is_file())
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap();
            bytes
                .windows(TOKEN_IN_URL.len())
                .any(|w| w == TOKEN_IN_URL.as_bytes())
        })
        .collect();
    assert!(leaks.is_empty(), "the credential is in {leaks:?}");
}

#[test]
fn index_from_the_command_line_makes_owner_only_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (repo, _) = Repo::with_source(&tmp.path().join("src"), "lib.rs", "indexed_by_hand", 3);
    let data = tmp.path().join("cli-data");
    run_ok(
        Command::new(env!("CARGO_BIN_EXE_context-gateway"))
            .arg("index")
            .arg(&repo.dir)
            .arg("--data-dir")
            .arg(&data)
            .env("RUST_LOG", "warn"),
        "context-gateway index",
    );
    assert_eq!(mode(&data), 0o700);
    assert_owner_only(&data);
}
