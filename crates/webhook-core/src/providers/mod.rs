//! The built-in providers and the helpers they share.

mod azure_devops;
mod bitbucket;
mod gitea;
mod github;
mod github_like;
mod gitlab;

pub use azure_devops::AzureDevOps;
pub use bitbucket::Bitbucket;
pub use gitea::Gitea;
pub use github::GitHub;
pub use gitlab::GitLab;

use crate::event::{
    ChangedPaths, Event, EventKind, PullRequestFetch, PullRequestRef, PullRequestRefKind,
    Repository,
};
use crate::payload::Text;
use crate::provider_id::ProviderId;

/// The object id providers use for "no commit" (created or deleted refs).
pub(crate) const ZERO_ID: &str = "0000000000000000000000000000000000000000";

/// Whether `id` is the all-zeros object id (SHA-1 or SHA-256 length alike).
pub(crate) fn is_zero_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b == b'0')
}

/// `id` when it is a full commit id (40 or 64 hex digits): short ids and branch names are
/// no commit ids a receiver can rely on.
pub(crate) fn full_commit(id: &str) -> Option<String> {
    let full = matches!(id.len(), 40 | 64) && id.bytes().all(|b| b.is_ascii_hexdigit());
    (full && !is_zero_id(id)).then(|| id.to_ascii_lowercase())
}

/// A pull request ref fetched and indexed under the same name.
pub(crate) fn same_ref(
    git_ref: String,
    kind: PullRequestRefKind,
    commit: Option<&str>,
) -> PullRequestFetch {
    PullRequestFetch::Fetchable(PullRequestRef {
        fetch_ref: git_ref.clone(),
        index_ref: git_ref,
        kind,
        commit: commit.and_then(full_commit),
    })
}

/// `refs/heads/x` -> `x`; anything else unchanged.
pub(crate) fn short_branch(git_ref: &str) -> &str {
    git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref)
}

/// An event with the fields every kind has; the provider fills in the rest.
pub(crate) fn event(
    provider: ProviderId,
    kind: EventKind,
    delivery_id: Option<String>,
    dedupe_key: Option<String>,
    repository: Repository,
) -> Event {
    Event {
        provider,
        kind,
        delivery_id,
        dedupe_key,
        repository,
        updates: Vec::new(),
        head_commit: None,
        pull_request: None,
        release_tag: None,
        release_commit: None,
        changed_paths: ChangedPaths::default(),
    }
}

/// Appends each present, non-empty, not yet listed URL.
pub(crate) fn push_urls<'t>(
    urls: &mut Vec<String>,
    candidates: impl IntoIterator<Item = Option<&'t Text<'t>>>,
) {
    for url in candidates.into_iter().flatten() {
        let url = url.as_str();
        if !url.is_empty() && !urls.iter().any(|known| known == url) {
            urls.push(url.to_owned());
        }
    }
}

/// `provider:part:part`, leaving out absent parts; `None` without a delivery id.
pub(crate) fn dedupe_key(
    provider: ProviderId,
    scope: Option<&str>,
    delivery: Option<&str>,
) -> Option<String> {
    let delivery = delivery?;
    Some(match scope {
        Some(scope) => format!("{provider}:{scope}:{delivery}"),
        None => format!("{provider}:{delivery}"),
    })
}
