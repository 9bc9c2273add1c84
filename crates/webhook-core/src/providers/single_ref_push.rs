//! The push payload GitHub, the Gitea family and GitLab share: one ref moved from `before` to
//! `after`, with the pushed commits and their file lists.

use crate::commits::CommitFiles;
use crate::event::{Event, RefUpdate};
use crate::providers::{full_commit, is_zero_id};

/// What such a payload says about its one ref.
pub(crate) struct SingleRefPush<'p> {
    pub(crate) git_ref: &'p str,
    pub(crate) before: &'p str,
    pub(crate) after: &'p str,
    /// The commit `after` resolves to, when the provider names it: for an annotated tag
    /// `after` is the tag object and this its commit.
    pub(crate) head: Option<String>,
    pub(crate) created: bool,
    pub(crate) deleted: bool,
    pub(crate) forced: bool,
}

impl SingleRefPush<'_> {
    /// Adds the ref update, the head commit and the changed paths to `out`.
    ///
    /// The paths are complete only when the file lists were read (`PATHS`) and sent, the
    /// push neither created, deleted nor rewrote the ref, some commit was listed (or the ref
    /// did not move), and `listed_all` (the provider's own caps) says no commit or file was
    /// left out of the payload. Skipped file lists say nothing, so nothing is complete then.
    pub(crate) fn fill<'a, const PATHS: bool>(
        self,
        out: &mut Event,
        commits: Option<CommitFiles<'a, PATHS>>,
        listed_all: impl FnOnce(&CommitFiles<'a, PATHS>) -> bool,
    ) {
        out.updates.push(RefUpdate {
            git_ref: self.git_ref.to_owned(),
            before: Some(self.before.to_owned()),
            after: Some(self.after.to_owned()),
            peeled: self
                .head
                .as_deref()
                .filter(|_| !self.deleted)
                .and_then(full_commit),
            created: self.created,
            deleted: self.deleted,
            forced: self.forced,
        });
        out.head_commit = self
            .head
            .or_else(|| (!is_zero_id(self.after)).then(|| self.after.to_owned()));

        let sent = commits.is_some();
        let commits = commits.unwrap_or_default();
        let complete = PATHS
            && sent
            && !(self.created || self.deleted || self.forced)
            && (commits.listed > 0 || self.before == self.after)
            && listed_all(&commits);
        out.changed_paths = commits.paths.finish(complete);
    }
}
