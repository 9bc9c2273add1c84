//! GitLab: `X-Gitlab-Token` or Standard Webhooks signing, events from `X-Gitlab-Event`.

use serde::Deserialize;

use crate::commits::CommitFiles;
use crate::delivery::{Delivery, ParseOptions, Verified};
use crate::error::Error;
use crate::event::{
    Event, EventKind, PullRequest, PullRequestAction, PullRequestRefKind, Repository,
};
use crate::headers::{HeaderValue, Headers};
use crate::payload::{Text, WithId, from_body, owned, require};
use crate::provider::Provider;
use crate::provider_id::ProviderId;
use crate::providers::builtin::{Builtin, Keys};
use crate::providers::single_ref_push::SingleRefPush;
use crate::providers::{
    DeliveryIds, event, event_name, full_commit, is_zero_id, pull_request_event, push_urls,
    same_ref,
};
use crate::signature::{header_problem, verify_standard_webhooks, verify_token};

const TOKEN: &str = "X-Gitlab-Token";

/// GitLab (gitlab.com and self-managed).
///
/// When `webhook-signature` is present the delivery is verified as Standard Webhooks
/// (HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64
/// after `whsec_`, timestamp within the tolerance either way) and only that way;
/// otherwise `X-Gitlab-Token` is compared in constant time with the secrets that are not
/// `whsec_` signing secrets (a signing secret is a key, never a token to present).
#[derive(Debug, Clone, Copy, Default)]
pub struct GitLab;

#[derive(Debug, Deserialize)]
struct Project<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    path_with_namespace: Option<Text<'a>>,
    #[serde(borrow)]
    web_url: Option<Text<'a>>,
    #[serde(borrow)]
    git_http_url: Option<Text<'a>>,
    #[serde(borrow)]
    git_ssh_url: Option<Text<'a>>,
}

/// The older `repository` object, still sent beside `project`.
#[derive(Debug, Deserialize)]
struct LegacyRepository<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    homepage: Option<Text<'a>>,
    #[serde(borrow)]
    git_http_url: Option<Text<'a>>,
    #[serde(borrow)]
    git_ssh_url: Option<Text<'a>>,
}

fn repository(project: Option<&Project<'_>>, legacy: Option<&LegacyRepository<'_>>) -> Repository {
    let mut repository = Repository {
        full_name: project.and_then(|p| owned(&p.path_with_namespace)),
        name: project
            .and_then(|p| owned(&p.name))
            .or_else(|| legacy.and_then(|r| owned(&r.name))),
        clone_urls: Vec::new(),
        html_url: project
            .and_then(|p| owned(&p.web_url))
            .or_else(|| legacy.and_then(|r| owned(&r.homepage))),
    };
    push_urls(
        &mut repository.clone_urls,
        [
            project.and_then(|p| p.git_http_url.as_ref()),
            legacy.and_then(|r| r.git_http_url.as_ref()),
            project.and_then(|p| p.git_ssh_url.as_ref()),
            legacy.and_then(|r| r.git_ssh_url.as_ref()),
        ],
    );
    repository
}

/// A push payload; with `PATHS` false its commit file lists are skipped unread.
#[derive(Debug, Deserialize)]
struct Push<'a, const PATHS: bool> {
    #[serde(rename = "ref", borrow)]
    git_ref: Option<Text<'a>>,
    #[serde(borrow)]
    before: Option<Text<'a>>,
    #[serde(borrow)]
    after: Option<Text<'a>>,
    #[serde(borrow)]
    checkout_sha: Option<Text<'a>>,
    /// Read straight into the changed-path union, never held as a list.
    #[serde(borrow)]
    commits: Option<CommitFiles<'a, PATHS>>,
    total_commits_count: Option<u64>,
    #[serde(borrow)]
    project: Option<Project<'a>>,
    #[serde(borrow)]
    repository: Option<LegacyRepository<'a>>,
}

#[derive(Debug, Deserialize)]
struct MergeRequest<'a> {
    #[serde(borrow)]
    object_attributes: Option<MergeAttributes<'a>>,
    #[serde(borrow)]
    project: Option<Project<'a>>,
    #[serde(borrow)]
    repository: Option<LegacyRepository<'a>>,
}

#[derive(Debug, Deserialize)]
struct MergeAttributes<'a> {
    iid: Option<u64>,
    #[serde(borrow)]
    action: Option<Text<'a>>,
    /// Present on `update` only when the source branch got new commits.
    #[serde(borrow)]
    oldrev: Option<Text<'a>>,
    #[serde(borrow)]
    source_branch: Option<Text<'a>>,
    #[serde(borrow)]
    target_branch: Option<Text<'a>>,
    #[serde(borrow)]
    last_commit: Option<WithId<'a>>,
}

#[derive(Debug, Deserialize)]
struct ReleaseHook<'a> {
    #[serde(borrow)]
    tag: Option<Text<'a>>,
    /// The commit the release's tag points at.
    #[serde(borrow)]
    commit: Option<WithId<'a>>,
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    project: Option<Project<'a>>,
}

/// Any other hook, and the first look at a system hook.
#[derive(Debug, Deserialize)]
struct Anything<'a> {
    #[serde(borrow)]
    object_kind: Option<Text<'a>>,
    #[serde(borrow)]
    event_name: Option<Text<'a>>,
    #[serde(borrow)]
    project: Option<Project<'a>>,
    #[serde(borrow)]
    repository: Option<LegacyRepository<'a>>,
}

impl Builtin for GitLab {
    const ID: ProviderId = ProviderId::GitLab;

    fn check(&self, delivery: &Delivery<'_>, keys: Keys<'_>) -> Result<Verified, Error> {
        let Keys { secrets, opts } = keys;
        let headers = delivery.headers;
        if headers.single("webhook-signature") != HeaderValue::Absent {
            return verify_standard_webhooks(headers, delivery.body, secrets, opts);
        }
        match headers.single(TOKEN) {
            HeaderValue::Present(token) => verify_token(TOKEN, token, secrets),
            HeaderValue::Absent => Err(Error::missing(format!("{TOKEN} (or webhook-signature)"))),
            problem => Err(header_problem(TOKEN, problem)),
        }
    }

    fn read(&self, delivery: &Delivery<'_>, options: &ParseOptions) -> Result<Event, Error> {
        let headers = delivery.headers;
        let name = event_name(headers, "X-Gitlab-Event", &[])?;
        let ids = DeliveryIds::new(self.id(), None, delivery_id(headers));
        let body = delivery.body;
        match name {
            "Push Hook" => push(ids, body, EventKind::Push, options),
            "Tag Push Hook" => push(ids, body, EventKind::TagPush, options),
            "Merge Request Hook" => merge_request(ids, body),
            "Release Hook" => release(ids, body),
            _ => {
                let anything: Anything<'_> = from_body(body)?;
                // System hooks carry project events too; route the ones we index.
                let kind = anything
                    .object_kind
                    .as_ref()
                    .or(anything.event_name.as_ref())
                    .map(Text::as_str);
                match (name, kind) {
                    ("System Hook", Some("push")) => push(ids, body, EventKind::Push, options),
                    ("System Hook", Some("tag_push")) => {
                        push(ids, body, EventKind::TagPush, options)
                    }
                    ("System Hook", Some("merge_request")) => merge_request(ids, body),
                    _ => Ok(event(
                        ProviderId::GitLab,
                        EventKind::Other(name.to_owned()),
                        ids,
                        repository(anything.project.as_ref(), anything.repository.as_ref()),
                    )),
                }
            }
        }
    }
}

/// The id to dedupe on, signed data first. A Standard Webhooks delivery (verified by its
/// `webhook-signature`, see [`GitLab`]) signs `webhook-id`, which stays the same across
/// retries: nothing unsigned may override it, or a captured delivery replayed under a
/// fresh `Idempotency-Key` would count as new. A token delivery signs nothing; there
/// `Idempotency-Key` (the same across retries) wins over the older `X-Gitlab-Event-UUID`.
fn delivery_id(headers: &Headers) -> Option<&str> {
    if headers.single("webhook-signature") != HeaderValue::Absent {
        return headers.text("webhook-id");
    }
    headers
        .text("Idempotency-Key")
        .or_else(|| headers.text("X-Gitlab-Event-UUID"))
}

fn push(
    ids: DeliveryIds,
    body: &[u8],
    kind: EventKind,
    options: &ParseOptions,
) -> Result<Event, Error> {
    if options.changed_paths {
        push_as::<true>(ids, body, kind)
    } else {
        push_as::<false>(ids, body, kind)
    }
}

fn push_as<const PATHS: bool>(
    ids: DeliveryIds,
    body: &[u8],
    kind: EventKind,
) -> Result<Event, Error> {
    let mut push: Push<'_, PATHS> = from_body(body)?;
    let commits = push.commits.take();
    if push.project.is_none() && push.repository.is_none() {
        return Err(Error::missing_field("$.project"));
    }
    let git_ref = require(push.git_ref.as_ref(), "$.ref")?.as_str();
    let before = require(push.before.as_ref(), "$.before")?.as_str();
    let after = require(push.after.as_ref(), "$.after")?.as_str();
    // A tag push may arrive under a push hook header on old versions; trust the ref.
    let kind = if git_ref.starts_with("refs/tags/") {
        EventKind::TagPush
    } else {
        kind
    };
    let mut out = event(
        ProviderId::GitLab,
        kind,
        ids,
        repository(push.project.as_ref(), push.repository.as_ref()),
    );
    let pushed = SingleRefPush {
        git_ref,
        before,
        after,
        // `after` of an annotated tag is the tag object; checkout_sha is its commit.
        head: owned(&push.checkout_sha),
        created: is_zero_id(before),
        deleted: is_zero_id(after),
        // GitLab does not say whether a push was forced.
        forced: false,
    };
    // GitLab lists the newest 20 commits and counts them all in total_commits_count.
    pushed.fill(&mut out, commits, |commits| {
        push.total_commits_count
            .is_none_or(|total| total <= commits.listed as u64)
    });
    Ok(out)
}

fn merge_request(ids: DeliveryIds, body: &[u8]) -> Result<Event, Error> {
    let mr: MergeRequest<'_> = from_body(body)?;
    let attrs = require(mr.object_attributes.as_ref(), "$.object_attributes")?;
    let number = require(attrs.iid, "$.object_attributes.iid")?;
    let action = require(attrs.action.as_ref(), "$.object_attributes.action")?.as_str();
    let action = match action {
        "open" => PullRequestAction::Opened,
        // An update without oldrev changed only title, labels, assignees...
        "update"
            if attrs
                .oldrev
                .as_ref()
                .is_some_and(|r| !r.as_str().is_empty()) =>
        {
            PullRequestAction::Synchronize
        }
        "reopen" => PullRequestAction::Reopened,
        "close" => PullRequestAction::Closed,
        "merge" => PullRequestAction::Merged,
        other => PullRequestAction::Other(other.to_owned()),
    };
    let head_sha = attrs.last_commit.as_ref().and_then(|c| owned(&c.id));
    let pull_request = PullRequest {
        number,
        fetch: same_ref(
            format!("refs/merge-requests/{number}/head"),
            PullRequestRefKind::Head,
            head_sha.as_deref(),
        ),
        head_sha,
        head_ref: owned(&attrs.source_branch),
        base_ref: owned(&attrs.target_branch),
    };
    Ok(pull_request_event(
        ProviderId::GitLab,
        action,
        ids,
        repository(mr.project.as_ref(), mr.repository.as_ref()),
        pull_request,
    ))
}

fn release(ids: DeliveryIds, body: &[u8]) -> Result<Event, Error> {
    let hook: ReleaseHook<'_> = from_body(body)?;
    let action = hook.action.as_ref().map_or("", Text::as_str);
    let kind = if action == "delete" {
        EventKind::Other("Release Hook:delete".to_owned())
    } else {
        EventKind::Release
    };
    let mut out = event(
        ProviderId::GitLab,
        kind,
        ids,
        repository(hook.project.as_ref(), None),
    );
    out.release_tag = Some(require(owned(&hook.tag), "$.tag")?);
    out.release_commit = hook
        .commit
        .as_ref()
        .and_then(|c| c.id.as_ref())
        .and_then(|id| full_commit(id.as_str()));
    out.head_commit = out.release_commit.clone();
    Ok(out)
}
