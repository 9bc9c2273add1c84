//! [`PathUnion`]: folds the per-commit file lists of a push into one net change list.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::event::ChangedPaths;

/// What one commit did to a path, and the net status of a path across commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Net {
    Added,
    Modified,
    Removed,
}

impl Net {
    /// Status after `self` is followed by `op` in a later commit.
    fn then(self, op: Net) -> Net {
        match (self, op) {
            // Still new relative to `before`, whatever later commits did to it.
            (Net::Added, Net::Added | Net::Modified) => Net::Added,
            (_, Net::Removed) => Net::Removed,
            // Removed then recreated: it existed before, so it is a modification.
            (Net::Removed, Net::Added | Net::Modified) => Net::Modified,
            (Net::Modified, Net::Added | Net::Modified) => Net::Modified,
        }
    }
}

/// The map's hasher. Path names come from the sender, so the hash must be keyed with a
/// secret random key, or crafted names could all collide and make the union quadratic.
/// std's SipHash is keyed but was the largest single cost of parsing a push; aHash is
/// keyed too (a random key per process, varied per map), built to resist HashDoS, and
/// several times cheaper on short strings.
type PathHasher = ahash::RandomState;

/// Distinct paths a typical push touches; reserving them at the first path saves the
/// rehashes of a growing map (each of which hashes every path again). Larger pushes grow
/// as usual; pushes that list no path allocate nothing.
const EXPECTED_PATHS: usize = 64;

/// Union of the paths touched by a push's commits, each path listed once with its net
/// status, in order of first appearance.
///
/// Netting matters because a receiver acts on the lists: a path added then removed in
/// the same push must end up "removed" (drop it), never both "added" and "removed".
/// Paths borrow the body when they have no escapes, so the union allocates only for the
/// output strings.
#[derive(Debug)]
pub(crate) struct PathUnion<'a> {
    /// Distinct paths in order of first appearance, with their net status so far.
    paths: Vec<(Cow<'a, str>, Net)>,
    /// Position of each path in `paths`.
    index: HashMap<Cow<'a, str>, usize, PathHasher>,
}

impl Default for PathUnion<'_> {
    fn default() -> Self {
        PathUnion {
            paths: Vec::new(),
            index: HashMap::with_hasher(PathHasher::new()),
        }
    }
}

impl<'a> PathUnion<'a> {
    /// Records that a later commit than all those seen so far did `op` to `path`.
    pub(crate) fn apply(&mut self, path: Cow<'a, str>, op: Net) {
        if self.paths.capacity() == 0 {
            self.paths.reserve(EXPECTED_PATHS);
            self.index.reserve(EXPECTED_PATHS);
        }
        // One hash per operation: the entry API looks up and inserts in one go. Cloning
        // the key copies a reference, or (rarely: only escaped names) a short string.
        match self.index.entry(path) {
            Entry::Occupied(slot) => {
                let status = &mut self.paths[*slot.get()].1;
                *status = status.then(op);
            }
            Entry::Vacant(slot) => {
                self.paths.push((slot.key().clone(), op));
                slot.insert(self.paths.len() - 1);
            }
        }
    }

    /// The net lists; `complete` says whether the provider listed every commit and file.
    pub(crate) fn finish(self, complete: bool) -> ChangedPaths {
        let count = |net: Net| self.paths.iter().filter(|(_, s)| *s == net).count();
        let mut paths = ChangedPaths {
            added: Vec::with_capacity(count(Net::Added)),
            modified: Vec::with_capacity(count(Net::Modified)),
            removed: Vec::with_capacity(count(Net::Removed)),
            complete,
        };
        // The index holds copies of the keys; drop it so owned names move out uncopied.
        drop(self.index);
        for (path, status) in self.paths {
            let list = match status {
                Net::Added => &mut paths.added,
                Net::Modified => &mut paths.modified,
                Net::Removed => &mut paths.removed,
            };
            list.push(path.into_owned());
        }
        paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nets_statuses_across_commits() {
        let mut union = PathUnion::default();
        let ops = [
            ("a", Net::Added),
            ("a", Net::Modified),
            ("b", Net::Modified),
            ("b", Net::Removed),
            ("c", Net::Removed),
            ("c", Net::Added),
            ("d", Net::Added),
            ("d", Net::Removed),
            ("e", Net::Modified),
            ("e", Net::Modified),
        ];
        for (path, op) in ops {
            union.apply(Cow::Borrowed(path), op);
        }
        let paths = union.finish(true);
        assert_eq!(paths.added, vec!["a"]);
        assert_eq!(paths.modified, vec!["c", "e"]);
        assert_eq!(paths.removed, vec!["b", "d"]);
        assert!(paths.complete);
    }

    #[test]
    fn owned_and_borrowed_names_of_one_path_are_the_same_path() {
        let mut union = PathUnion::default();
        union.apply(Cow::Owned("dir/\"q\".rs".to_owned()), Net::Added);
        union.apply(Cow::Borrowed("dir/\"q\".rs"), Net::Removed);
        union.apply(Cow::Borrowed("other.rs"), Net::Modified);
        let paths = union.finish(false);
        assert!(paths.added.is_empty());
        assert_eq!(paths.removed, vec!["dir/\"q\".rs"]);
        assert_eq!(paths.modified, vec!["other.rs"]);
        assert!(!paths.complete);
    }

    #[test]
    fn many_paths_grow_past_the_reserved_capacity() {
        let names: Vec<String> = (0..EXPECTED_PATHS * 5).map(|i| format!("f{i}")).collect();
        let mut union = PathUnion::default();
        for name in &names {
            union.apply(Cow::Borrowed(name), Net::Modified);
        }
        for name in names.iter().step_by(2) {
            union.apply(Cow::Borrowed(name), Net::Removed);
        }
        let paths = union.finish(true);
        assert_eq!(paths.removed.len(), names.len() / 2);
        assert_eq!(paths.modified.len(), names.len() / 2);
        assert_eq!(paths.removed[1], "f2");
        assert_eq!(paths.modified[1], "f3");
    }
}
