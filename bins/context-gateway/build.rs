//! Embeds every file under `ui/` (the dashboard) in the binary: writes `ui_files.rs` into
//! `OUT_DIR`, a list of `(name, include_bytes!(..))` pairs that `src/http/ui.rs` includes.
//! Cargo reruns this when anything under `ui/` changes, so adding a file needs no Rust edit.

use std::path::{Path, PathBuf};

fn main() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let ui = root.join("ui");
    println!("cargo:rerun-if-changed=ui");
    let mut files = Vec::new();
    collect(&ui, "", &mut files);
    files.sort();
    let mut out = String::from("&[\n");
    for (name, path) in &files {
        out.push_str(&format!("    ({name:?}, include_bytes!({path:?})),\n"));
    }
    out.push_str("]\n");
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("ui_files.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

/// Every regular file under `dir` (hidden ones skipped), named relative to `ui/` with `/`.
fn collect(dir: &Path, prefix: &str, files: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let relative = format!("{prefix}{name}");
        if path.is_dir() {
            collect(&path, &format!("{relative}/"), files);
        } else if path.is_file() {
            files.push((relative, path.to_string_lossy().into_owned()));
        }
    }
}
