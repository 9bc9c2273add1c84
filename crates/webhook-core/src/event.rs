//! The normalized [`Event`] every provider's payload is turned into.

use serde::Serialize;

use crate::provider_id::ProviderId;

/// One delivery, normalized across providers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// Which host sent it (serialized as its name, `github`, `gitlab`, ...).
    pub provider: ProviderId,
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
    /// The full commit id the host names for a release (GitLab `commit.id`; GitHub and
    /// Gitea `release.target_commitish` when it is a full id rather than a branch name).
    /// A hint: `None` means the pipeline peels the tag after the fetch.
    pub release_commit: Option<String>,
    /// Paths the provider says changed: hints only, see [`ChangedPaths::complete`].
    pub changed_paths: ChangedPaths,
}

impl Event {
    /// An event of `kind` from `provider` that names nothing else: no delivery ids, no
    /// repository, no refs, commits or paths. Providers fill in what their payload says.
    pub fn new(provider: ProviderId, kind: EventKind) -> Event {
        Event {
            provider,
            kind,
            delivery_id: None,
            dedupe_key: None,
            repository: Repository::default(),
            updates: Vec::new(),
            head_commit: None,
            pull_request: None,
            release_tag: None,
            release_commit: None,
            changed_paths: ChangedPaths::default(),
        }
    }

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
    /// Object id after the push (all zeros when the ref was deleted). For an annotated tag
    /// this is the tag object, not a commit.
    pub after: Option<String>,
    /// The full commit id `after` resolves to, where the host sends one separately: GitLab's
    /// `checkout_sha`, GitHub's and Gitea's `head_commit.id`, Bitbucket Cloud's
    /// `new.target.hash` (equal to `after` there). For a branch it equals `after`; for an
    /// annotated tag it is the tagged commit. A hint like `after`: when it is `None`
    /// (Bitbucket Server, Azure DevOps) the pipeline peels the ref with `^{commit}` after
    /// the fetch.
    pub peeled: Option<String>,
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

impl EventKind {
    /// The kind in one word: `push`, `tag_push`, `pull_request`, `release`, `ping`, or
    /// `other` for every other event (a fixed set, for labels and logs).
    pub const fn label(&self) -> &'static str {
        match self {
            EventKind::Push => "push",
            EventKind::TagPush => "tag_push",
            EventKind::PullRequest(_) => "pull_request",
            EventKind::Release => "release",
            EventKind::Ping => "ping",
            EventKind::Other(_) => "other",
        }
    }
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
    /// Head commit id as the provider sent it: a hint only (Bitbucket Cloud sends
    /// 12-character ids).
    pub head_sha: Option<String>,
    /// Source branch name (short form, no `refs/heads/`).
    pub head_ref: Option<String>,
    /// Target branch name (short form, no `refs/heads/`).
    pub base_ref: Option<String>,
    /// Where its code can be fetched from the base repository, or why it cannot.
    pub fetch: PullRequestFetch,
}

impl PullRequest {
    /// The fetchable ref, or the reason there is none.
    pub fn fetchable(&self) -> Result<&PullRequestRef, Unfetchable> {
        match &self.fetch {
            PullRequestFetch::Fetchable(git_ref) => Ok(git_ref),
            PullRequestFetch::Unfetchable(why) => Err(*why),
        }
    }
}

/// Whether a pull request's code can be fetched from the base repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestFetch {
    /// It can: fetch this ref.
    Fetchable(PullRequestRef),
    /// It cannot, for this reason.
    Unfetchable(Unfetchable),
}

/// A ref that holds a pull request's code in the base repository, and the name to index
/// it under.
///
/// | host | `fetch_ref` | `index_ref` | `kind` |
/// |---|---|---|---|
/// | GitHub, Gitea | `refs/pull/N/head` | the same | head |
/// | GitLab | `refs/merge-requests/N/head` | the same | head |
/// | Bitbucket Server | `refs/pull-requests/N/from` | the same | head |
/// | Bitbucket Cloud, same repository | `refs/heads/<source branch>` | `refs/pull-requests/N/from` | source_branch |
/// | Azure DevOps | `refs/pull/N/merge` | the same | merge |
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PullRequestRef {
    /// The ref to fetch from the base repository.
    pub fetch_ref: String,
    /// The ref name to index the code under: it says what it holds and never collides
    /// with a branch or a tag. Closing or merging the pull request drops this ref.
    pub index_ref: String,
    /// What the fetched ref holds.
    pub kind: PullRequestRefKind,
    /// The full commit id the host says `fetch_ref` points at; `None` when the host sends
    /// none or only a short id: the pipeline resolves the ref after the fetch.
    pub commit: Option<String>,
}

/// What a [`PullRequestRef`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PullRequestRefKind {
    /// The pull request's head commit, kept by the host under a pull-request ref.
    Head,
    /// The host's preview merge of the head into the target branch (Azure DevOps keeps no
    /// head ref, only this).
    Merge,
    /// The source branch itself, fetched by name (Bitbucket Cloud keeps no pull-request
    /// refs; this works only when the branch lives in the base repository).
    SourceBranch,
}

/// Why a pull request's code cannot be fetched from the base repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum Unfetchable {
    /// The source branch lives in a fork and the host keeps no pull-request ref in the base
    /// repository (Bitbucket Cloud).
    #[error(
        "the source branch lives in a fork, and this host keeps no pull request ref in the base repository"
    )]
    ForkBranch,
    /// The payload does not say which branch or repository the code comes from.
    #[error("the payload does not name the source branch and its repository")]
    SourceUnknown,
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
