//! The built-in providers and the helpers they share.

mod azure_devops;
mod bitbucket;
mod builtin;
mod gitea;
mod github;
mod github_like;
mod gitlab;
mod single_ref_push;

pub use azure_devops::AzureDevOps;
pub use bitbucket::Bitbucket;
pub use gitea::Gitea;
pub use github::GitHub;
pub use gitlab::GitLab;

use crate::error::Error;
use crate::event::{
    Event, EventKind, PullRequest, PullRequestAction, PullRequestFetch, PullRequestRef,
    PullRequestRefKind, RefUpdate, Repository,
};
use crate::headers::Headers;
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

/// Identity of one delivery, read from its headers (Azure DevOps: its body).
pub(crate) struct DeliveryIds {
    pub(crate) delivery_id: Option<String>,
    pub(crate) dedupe_key: Option<String>,
}

impl DeliveryIds {
    /// `delivery` as the delivery id, scoped by `scope` in the dedupe key (see [`dedupe_key`]).
    pub(crate) fn new(provider: ProviderId, scope: Option<&str>, delivery: Option<&str>) -> Self {
        DeliveryIds {
            delivery_id: delivery.map(str::to_owned),
            dedupe_key: dedupe_key(provider, scope, delivery),
        }
    }
}

/// The event name the provider sends in header `name` (or the first of `alternatives`
/// present), or an unsupported-delivery error naming the header.
pub(crate) fn event_name<'h>(
    headers: &'h Headers,
    name: &str,
    alternatives: &[&str],
) -> Result<&'h str, Error> {
    std::iter::once(&name)
        .chain(alternatives)
        .find_map(|header| headers.text(header))
        .ok_or_else(|| {
            let also = match alternatives {
                [] => String::new(),
                _ => format!(" (or {})", alternatives.join(", ")),
            };
            Error::unsupported(format!(
                "header {name}{also} is missing, empty or not UTF-8"
            ))
        })
}

/// An event with the fields every kind has; the provider fills in the rest.
pub(crate) fn event(
    provider: ProviderId,
    kind: EventKind,
    ids: DeliveryIds,
    repository: Repository,
) -> Event {
    Event {
        delivery_id: ids.delivery_id,
        dedupe_key: ids.dedupe_key,
        repository,
        ..Event::new(provider, kind)
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

/// `Ping` when `name` is the provider's ping event `ping`, else `Other(name)`.
pub(crate) fn ping_or_other(name: &str, ping: &str) -> EventKind {
    if name == ping {
        EventKind::Ping
    } else {
        EventKind::Other(name.to_owned())
    }
}

/// A pull request event: its head commit is the pull request's head.
pub(crate) fn pull_request_event(
    provider: ProviderId,
    action: PullRequestAction,
    ids: DeliveryIds,
    repository: Repository,
    pull_request: PullRequest,
) -> Event {
    let mut out = event(provider, EventKind::PullRequest(action), ids, repository);
    out.head_commit = pull_request.head_sha.clone();
    out.pull_request = Some(pull_request);
    out
}

/// A push of the listed ref updates, from a provider that sends no file lists: a tag push
/// when the first ref is a tag, its head the first ref's new commit unless it was deleted.
pub(crate) fn ref_updates_event(
    provider: ProviderId,
    ids: DeliveryIds,
    repository: Repository,
    updates: Vec<RefUpdate>,
) -> Event {
    let kind = match updates.first() {
        Some(update) if update.git_ref.starts_with("refs/tags/") => EventKind::TagPush,
        _ => EventKind::Push,
    };
    let mut out = event(provider, kind, ids, repository);
    out.head_commit = updates
        .first()
        .and_then(|u| u.after.clone())
        .filter(|after| !is_zero_id(after));
    out.updates = updates;
    // No file lists: complete stays false, lists stay empty.
    out
}

/// One ref update of a provider that sends only the ref's old and new raw object ids
/// (Bitbucket Server, Azure DevOps): created or deleted when it says so or an id is all
/// zeros; a tag is peeled after the fetch; whether history was rewritten is not said.
pub(crate) fn raw_id_update(
    git_ref: String,
    before: Option<String>,
    after: Option<String>,
    said_created: bool,
    said_deleted: bool,
) -> RefUpdate {
    RefUpdate {
        git_ref,
        created: said_created || before.as_deref().is_some_and(is_zero_id),
        deleted: said_deleted || after.as_deref().is_some_and(is_zero_id),
        before,
        after,
        peeled: None,
        forced: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_name_reads_headers_in_order_and_names_them_all_when_none_is_usable() {
        let mut headers = Headers::new();
        headers.insert("X-B", b"from-b");
        headers.insert("X-C", b"from-c");
        assert_eq!(
            event_name(&headers, "X-A", &["X-B", "X-C"]).unwrap(),
            "from-b"
        );
        headers.insert("X-A", b" ");
        let Err(Error::UnsupportedEvent { event }) = event_name(&headers, "X-A", &[]) else {
            panic!("a blank header is no event name");
        };
        assert_eq!(event, "header X-A is missing, empty or not UTF-8");
        let Err(Error::UnsupportedEvent { event }) = event_name(&headers, "X-A", &["X-D", "X-E"])
        else {
            panic!("no header holds an event name");
        };
        assert_eq!(
            event,
            "header X-A (or X-D, X-E) is missing, empty or not UTF-8"
        );
    }

    #[test]
    fn raw_id_updates_are_created_or_deleted_when_said_or_when_an_id_is_zero() {
        let id = "a".repeat(40);
        let update = |before: &str, after: &str, said: (bool, bool)| {
            let some = |id: &str| (!id.is_empty()).then(|| id.to_owned());
            let u = raw_id_update(
                "refs/heads/x".into(),
                some(before),
                some(after),
                said.0,
                said.1,
            );
            assert_eq!((u.peeled, u.forced), (None, false));
            (u.created, u.deleted)
        };
        assert_eq!(update(&id, &id, (false, false)), (false, false));
        assert_eq!(update(ZERO_ID, &id, (false, false)), (true, false));
        assert_eq!(update(&id, ZERO_ID, (false, false)), (false, true));
        assert_eq!(update("", "", (true, false)), (true, false));
        assert_eq!(update("", "", (false, true)), (false, true));
    }

    #[test]
    fn a_ref_updates_event_is_a_tag_push_by_its_first_ref_and_has_no_deleted_head() {
        // One update, to `after`, that the host says created the ref or not.
        let event_of = |git_ref: &str, after: String, created: bool| {
            let ids = DeliveryIds::new(ProviderId::Bitbucket, Some("hook"), Some("d1"));
            let update = raw_id_update(git_ref.into(), None, Some(after), created, false);
            ref_updates_event(
                ProviderId::Bitbucket,
                ids,
                Repository::default(),
                vec![update],
            )
        };
        let event = event_of("refs/tags/v1", "b".repeat(40), true);
        assert_eq!(event.kind, EventKind::TagPush);
        assert_eq!(event.head_commit, Some("b".repeat(40)));
        assert_eq!(event.dedupe_key.as_deref(), Some("bitbucket:hook:d1"));
        let event = event_of("refs/heads/x", ZERO_ID.into(), false);
        assert_eq!(event.kind, EventKind::Push);
        assert_eq!(event.head_commit, None);
        assert!(!event.changed_paths.complete);
    }
}
