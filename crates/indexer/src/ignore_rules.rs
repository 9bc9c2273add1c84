//! The walker's ignore-file rules, applied to single paths (for path-hint runs).
//!
//! A hinted path must be judged exactly as the full walk would judge it, or hint runs and
//! full runs would disagree. This mirrors the `ignore` crate's precedence as the indexer
//! configures it: per kind of file (`.contextignore` > `.ignore` > `.gitignore`) the deepest
//! directory with a matching rule decides, and a path is out if any directory above it is.
//! Global gitignore, `.git/info/exclude` and ignore files above the tree root are not used,
//! by the walker or here, so the result depends on the tree alone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use crate::path_filter::ancestors;

/// The ignore files the walker reads, most important first.
pub(crate) const IGNORE_FILE_NAMES: [&str; 3] = [".contextignore", ".ignore", ".gitignore"];

/// Ignore rules of the directories met so far, loaded lazily.
#[derive(Debug)]
pub(crate) struct IgnoreRules {
    root: PathBuf,
    /// Directory (relative, "" for the root) -> its matchers in `IGNORE_FILE_NAMES` order.
    levels: HashMap<String, [Gitignore; 3]>,
}

impl IgnoreRules {
    pub(crate) fn new(root: &Path) -> Self {
        IgnoreRules {
            root: root.to_path_buf(),
            levels: HashMap::new(),
        }
    }

    /// True when the walker would not yield `rel`: it or a directory above it is ignored.
    pub(crate) fn is_ignored(&mut self, rel: &str) -> bool {
        let mut candidates: Vec<(&str, bool)> = ancestors(rel).map(|dir| (dir, true)).collect();
        candidates.push((rel, false));
        for (depth, &(candidate, is_dir)) in candidates.iter().enumerate() {
            // The directories whose ignore files apply to `candidate`: the root and every
            // directory above `candidate`, deepest first.
            let mut dirs: Vec<&str> = vec![""];
            dirs.extend(candidates[..depth].iter().map(|&(dir, _)| dir));
            dirs.reverse();
            if self.matched(candidate, is_dir, &dirs) {
                return true;
            }
        }
        false
    }

    fn matched(&mut self, candidate: &str, is_dir: bool, dirs: &[&str]) -> bool {
        let path = self.root.join(candidate);
        for kind in 0..IGNORE_FILE_NAMES.len() {
            for dir in dirs {
                let matcher = &self.level(dir)[kind];
                match matcher.matched(&path, is_dir) {
                    Match::None => continue,
                    Match::Ignore(_) => return true,
                    Match::Whitelist(_) => return false,
                }
            }
        }
        false
    }

    fn level(&mut self, dir: &str) -> &[Gitignore; 3] {
        let root = &self.root;
        self.levels.entry(dir.to_string()).or_insert_with(|| {
            let dir_path = root.join(dir);
            IGNORE_FILE_NAMES.map(|name| {
                let file = dir_path.join(name);
                if !file.is_file() {
                    return Gitignore::empty();
                }
                let mut builder = GitignoreBuilder::new(&dir_path);
                if let Some(e) = builder.add(&file) {
                    tracing::warn!(file = %file.display(), error = %e, "partly unreadable ignore file");
                }
                builder.build().unwrap_or_else(|e| {
                    tracing::warn!(file = %file.display(), error = %e, "ignoring ignore file");
                    Gitignore::empty()
                })
            })
        })
    }
}
