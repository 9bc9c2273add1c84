//! [`PathUnion`]: folds the per-commit file lists of a push into one net change list.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use crate::event::ChangedPaths;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
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

/// Union of the paths touched by a push's commits, each path listed once with its net
/// status, in order of first appearance.
///
/// Netting matters because a receiver acts on the lists: a path added then removed in
/// the same push must end up "removed" (drop it), never both "added" and "removed".
/// The map keeps std's keyed hasher: path names come from the sender, and an unkeyed fast
/// hash could be driven quadratic by crafted names.
#[derive(Debug, Default)]
pub(crate) struct PathUnion<'a> {
    /// Distinct paths in order of first appearance, with their net status so far.
    paths: Vec<(&'a str, Net)>,
    /// Position of each path in `paths`.
    index: HashMap<&'a str, usize>,
}

impl<'a> PathUnion<'a> {
    pub(crate) fn added(&mut self, path: &'a str) {
        self.apply(path, Net::Added);
    }

    pub(crate) fn modified(&mut self, path: &'a str) {
        self.apply(path, Net::Modified);
    }

    pub(crate) fn removed(&mut self, path: &'a str) {
        self.apply(path, Net::Removed);
    }

    fn apply(&mut self, path: &'a str, op: Net) {
        // One hash per operation: the entry API looks up and inserts in one go.
        match self.index.entry(path) {
            Entry::Occupied(slot) => {
                let status = &mut self.paths[*slot.get()].1;
                *status = status.then(op);
            }
            Entry::Vacant(slot) => {
                slot.insert(self.paths.len());
                self.paths.push((path, op));
            }
        }
    }

    pub(crate) fn finish(self, complete: bool) -> ChangedPaths {
        let mut paths = ChangedPaths {
            complete,
            ..ChangedPaths::default()
        };
        for (path, status) in self.paths {
            let list = match status {
                Net::Added => &mut paths.added,
                Net::Modified => &mut paths.modified,
                Net::Removed => &mut paths.removed,
            };
            list.push(path.to_owned());
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
        union.added("a");
        union.modified("a");
        union.modified("b");
        union.removed("b");
        union.removed("c");
        union.added("c");
        union.added("d");
        union.removed("d");
        union.modified("e");
        union.modified("e");
        let paths = union.finish(true);
        assert_eq!(paths.added, vec!["a"]);
        assert_eq!(paths.modified, vec!["c", "e"]);
        assert_eq!(paths.removed, vec!["b", "d"]);
        assert!(paths.complete);
    }
}
