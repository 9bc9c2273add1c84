//! [`PathUnion`]: folds the per-commit file lists of a push into one net change list.

use std::collections::HashMap;

use crate::event::ChangedPaths;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Net {
    Added,
    Modified,
    Removed,
}

/// Union of the paths touched by a push's commits, each path listed once with its net
/// status, in order of first appearance.
///
/// Netting matters because a receiver acts on the lists: a path added then removed in
/// the same push must end up "removed" (drop it), never both "added" and "removed".
#[derive(Debug, Default)]
pub(crate) struct PathUnion<'a> {
    order: Vec<&'a str>,
    status: HashMap<&'a str, Net>,
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
        match self.status.get_mut(path) {
            None => {
                self.order.push(path);
                self.status.insert(path, op);
            }
            Some(state) => {
                *state = match (*state, op) {
                    // Still new relative to `before`, whatever later commits did to it.
                    (Net::Added, Net::Added | Net::Modified) => Net::Added,
                    (_, Net::Removed) => Net::Removed,
                    // Removed then recreated: it existed before, so it is a modification.
                    (Net::Removed, Net::Added | Net::Modified) => Net::Modified,
                    (Net::Modified, Net::Added | Net::Modified) => Net::Modified,
                };
            }
        }
    }

    pub(crate) fn finish(self, complete: bool) -> ChangedPaths {
        let mut paths = ChangedPaths {
            complete,
            ..ChangedPaths::default()
        };
        for path in self.order {
            let list = match self.status[path] {
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
