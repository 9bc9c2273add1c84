//! The normalized [`Event`] every provider's payload is turned into.

use serde::Serialize;

/// One delivery, normalized across providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Provider id (`github`, `gitlab`, ...).
    pub provider: String,
    /// What happened.
    pub kind: EventKind,
    /// The delivery id exactly as the provider sent it.
    pub delivery_id: Option<String>,
    /// A stable key for redelivery dedupe, e.g. `github:<hook_id>:<delivery_id>`.
    pub dedupe_key: Option<String>,
    /// The repository the event is about.
    pub repository: Repository,
    /// Every ref this delivery changes, in the provider's order; empty for non-push events.
    pub updates: Vec<RefUpdate>,
    /// The commit the event points at (pushed head, pull request head).
    pub head_commit: Option<String>,
    /// Pull/merge request details for [`EventKind::PullRequest`].
    pub pull_request: Option<PullRequest>,
    /// The tag of a release event.
    pub release_tag: Option<String>,
    /// Paths the provider says changed: hints only, see [`ChangedPaths::complete`].
    pub changed_paths: ChangedPaths,
}

impl Event {
    /// The first ref update, the one most receivers act on.
    pub fn primary(&self) -> Option<&RefUpdate> {
        self.updates.first()
    }
}

/// One ref moved by a push.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefUpdate {
    /// Full ref name: `refs/heads/main`, `refs/tags/v1`.
    pub git_ref: String,
    /// Commit before the push (all zeros when the ref was created).
    pub before: Option<String>,
    /// Commit after the push (all zeros when the ref was deleted).
    pub after: Option<String>,
    /// The push created the ref.
    pub created: bool,
    /// The push deleted the ref.
    pub deleted: bool,
    /// The push rewrote history (only GitHub, Gitea and Bitbucket Cloud say so).
    pub forced: bool,
}

/// What kind of event a delivery carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Commits pushed to a branch (or a branch created/deleted).
    Push,
    /// A tag pushed, moved or deleted.
    TagPush,
    /// A pull/merge request changed.
    PullRequest(PullRequestAction),
    /// A release was published or changed.
    Release,
    /// The provider checks that the endpoint answers.
    Ping,
    /// Any other event, with the provider's own name for it.
    Other(String),
}

/// What happened to a pull/merge request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestAction {
    /// Opened (created).
    Opened,
    /// New commits on its head.
    Synchronize,
    /// Reopened after being closed.
    Reopened,
    /// Closed without merging.
    Closed,
    /// Merged.
    Merged,
    /// Any other action, with the provider's own name for it.
    Other(String),
}

/// A pull/merge request as far as indexing cares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequest {
    /// The number users see (GitLab: the `iid`).
    pub number: u64,
    /// Head commit id as the provider sent it (Bitbucket Cloud sends 12-character ids).
    pub head_sha: Option<String>,
    /// Source branch name (short form, no `refs/heads/`).
    pub head_ref: Option<String>,
    /// Target branch name (short form, no `refs/heads/`).
    pub base_ref: Option<String>,
    /// A ref the provider keeps fetchable in the base repository: `refs/pull/N/head`
    /// (GitHub, Gitea), `refs/merge-requests/N/head` (GitLab), `refs/pull-requests/N/from`
    /// (Bitbucket Server); `None` where the provider has none (Bitbucket Cloud, Azure DevOps).
    pub head_git_ref: Option<String>,
}

/// Which repository an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Repository {
    /// `owner/name` (GitLab: `group/sub/name`; Bitbucket Server: `PROJECT/slug`;
    /// Azure DevOps: `project/name`).
    pub full_name: Option<String>,
    /// The short name.
    pub name: Option<String>,
    /// URLs `git` can clone from, HTTPS first when the provider sends one.
    pub clone_urls: Vec<String>,
    /// The repository's web page.
    pub html_url: Option<String>,
}

/// Paths the provider says a push changed. Hints only: downstream must diff in git.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChangedPaths {
    /// Paths that did not exist before.
    pub added: Vec<String>,
    /// Paths that changed.
    pub modified: Vec<String>,
    /// Paths that no longer exist.
    pub removed: Vec<String>,
    /// True only when the provider's lists are known to cover the whole `before..after`
    /// change: not truncated, and not a created, deleted or force-pushed ref (whose
    /// commit lists do not describe the diff).
    pub complete: bool,
}
