//! Payloads shared by GitHub and the Gitea family (Gitea, Forgejo, Gogs), which copied
//! GitHub's push, pull request and release shapes.

use serde::Deserialize;

use crate::commits::CommitFiles;
use crate::delivery::{Delivery, ParseOptions, Verified};
use crate::error::Error;
use crate::event::{
    Event, EventKind, PullRequest, PullRequestAction, PullRequestRefKind, Repository,
};
use crate::headers::HeaderValue;
use crate::payload::{Text, WithId, from_body, owned, require};
use crate::provider_id::ProviderId;
use crate::providers::builtin::Keys;
use crate::providers::single_ref_push::SingleRefPush;
use crate::providers::{
    DeliveryIds, event, full_commit, is_zero_id, ping_or_other, pull_request_event, push_urls,
    same_ref,
};
use crate::signature::{header_problem, verify_prefixed_hex};

/// GitHub's HMAC-SHA256 signature header, which Gitea and Forgejo send too.
pub(crate) const HUB_SIGNATURE_256: &str = "X-Hub-Signature-256";

/// GitHub stops listing commits at 2048 in a push payload.
const GITHUB_MAX_COMMITS: usize = 2048;
/// GitHub lists at most 3000 files per commit.
const GITHUB_MAX_FILES_PER_COMMIT: usize = 3000;

#[derive(Debug, Deserialize)]
pub(crate) struct Repo<'a> {
    #[serde(borrow)]
    full_name: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    clone_url: Option<Text<'a>>,
    #[serde(borrow)]
    ssh_url: Option<Text<'a>>,
    #[serde(borrow)]
    html_url: Option<Text<'a>>,
}

impl Repo<'_> {
    pub(crate) fn to_repository(&self) -> Repository {
        let mut repository = Repository {
            full_name: owned(&self.full_name),
            name: owned(&self.name),
            clone_urls: Vec::new(),
            html_url: owned(&self.html_url),
        };
        push_urls(
            &mut repository.clone_urls,
            [self.clone_url.as_ref(), self.ssh_url.as_ref()],
        );
        repository
    }
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
    created: Option<bool>,
    deleted: Option<bool>,
    forced: Option<bool>,
    /// Read straight into the changed-path union, never held as a list.
    #[serde(borrow)]
    commits: Option<CommitFiles<'a, PATHS>>,
    #[serde(borrow)]
    head_commit: Option<WithId<'a>>,
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
    /// Events API and some older payloads: number of commits in the push.
    size: Option<u64>,
    distinct_size: Option<u64>,
    /// Gitea: number of commits pushed, when `commits` was cut short.
    total_commits: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct PullEvent<'a> {
    #[serde(borrow)]
    action: Option<Text<'a>>,
    number: Option<u64>,
    #[serde(borrow)]
    pull_request: Option<Pull<'a>>,
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
}

#[derive(Debug, Deserialize)]
struct Pull<'a> {
    number: Option<u64>,
    merged: Option<bool>,
    #[serde(borrow)]
    head: Option<PullEnd<'a>>,
    #[serde(borrow)]
    base: Option<PullEnd<'a>>,
}

#[derive(Debug, Deserialize)]
struct PullEnd<'a> {
    #[serde(rename = "ref", borrow)]
    git_ref: Option<Text<'a>>,
    #[serde(borrow)]
    sha: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct ReleaseEvent<'a> {
    #[serde(borrow)]
    action: Option<Text<'a>>,
    #[serde(borrow)]
    release: Option<Release<'a>>,
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
}

#[derive(Debug, Deserialize)]
struct Release<'a> {
    #[serde(borrow)]
    tag_name: Option<Text<'a>>,
    /// A branch name or a commit id.
    #[serde(borrow)]
    target_commitish: Option<Text<'a>>,
}

/// Any other event: only the repository is worth reading.
#[derive(Debug, Deserialize)]
struct Anything<'a> {
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
}

/// Verifies `X-Hub-Signature-256: sha256=<hex>` when it was sent; `absent` answers when it
/// was not.
pub(crate) fn verify_hub_sha256(
    delivery: &Delivery<'_>,
    keys: Keys<'_>,
    absent: impl FnOnce() -> Result<Verified, Error>,
) -> Result<Verified, Error> {
    match delivery.headers.single(HUB_SIGNATURE_256) {
        HeaderValue::Present(value) => verify_prefixed_hex(
            HUB_SIGNATURE_256,
            value,
            &["sha256"],
            delivery.body,
            keys.secrets,
            keys.opts,
        ),
        HeaderValue::Absent => absent(),
        problem => Err(header_problem(HUB_SIGNATURE_256, problem)),
    }
}

/// Parses a GitHub-shaped payload for the event named `name`.
pub(crate) fn parse(
    provider: ProviderId,
    name: &str,
    body: &[u8],
    ids: DeliveryIds,
    options: &ParseOptions,
) -> Result<Event, Error> {
    match name {
        "push" if options.changed_paths => push::<true>(provider, body, ids),
        "push" => push::<false>(provider, body, ids),
        _ => not_push(provider, name, body, ids),
    }
}

fn push<const PATHS: bool>(
    provider: ProviderId,
    body: &[u8],
    ids: DeliveryIds,
) -> Result<Event, Error> {
    let mut push: Push<'_, PATHS> = from_body(body)?;
    let commits = push.commits.take();
    let repository = require(push.repository.as_ref(), "$.repository")?.to_repository();
    let git_ref = require(push.git_ref.as_ref(), "$.ref")?.as_str();
    let kind = if git_ref.starts_with("refs/tags/") {
        EventKind::TagPush
    } else {
        EventKind::Push
    };
    let mut out = event(provider, kind, ids, repository);
    fill_push(&mut out, &push, git_ref, commits)?;
    Ok(out)
}

/// Every event but a push.
fn not_push(
    provider: ProviderId,
    name: &str,
    body: &[u8],
    ids: DeliveryIds,
) -> Result<Event, Error> {
    match name {
        "pull_request" => {
            let pull: PullEvent<'_> = from_body(body)?;
            let repository = require(pull.repository.as_ref(), "$.repository")?.to_repository();
            let pr = require(pull.pull_request.as_ref(), "$.pull_request")?;
            let action = require(pull.action.as_ref(), "$.action")?.as_str();
            let number = require(pull.number.or(pr.number), "$.number")?;
            let action = match action {
                "opened" => PullRequestAction::Opened,
                // GitHub says "synchronize", Gitea "synchronized".
                "synchronize" | "synchronized" => PullRequestAction::Synchronize,
                "reopened" => PullRequestAction::Reopened,
                "closed" if pr.merged == Some(true) => PullRequestAction::Merged,
                "closed" => PullRequestAction::Closed,
                other => PullRequestAction::Other(other.to_owned()),
            };
            let head_sha = pr.head.as_ref().and_then(|h| owned(&h.sha));
            let pull_request = PullRequest {
                number,
                fetch: same_ref(
                    format!("refs/pull/{number}/head"),
                    PullRequestRefKind::Head,
                    head_sha.as_deref(),
                ),
                head_sha,
                head_ref: pr.head.as_ref().and_then(|h| owned(&h.git_ref)),
                base_ref: pr.base.as_ref().and_then(|b| owned(&b.git_ref)),
            };
            Ok(pull_request_event(
                provider,
                action,
                ids,
                repository,
                pull_request,
            ))
        }
        "release" => {
            let release: ReleaseEvent<'_> = from_body(body)?;
            let repository = require(release.repository.as_ref(), "$.repository")?.to_repository();
            let action = release.action.as_ref().map_or("", Text::as_str);
            // A release that goes away is nothing to index.
            let kind = match action {
                "deleted" | "unpublished" => EventKind::Other(format!("release:{action}")),
                _ => EventKind::Release,
            };
            let mut out = event(provider, kind, ids, repository);
            let release = release.release.as_ref();
            out.release_tag = release.and_then(|r| owned(&r.tag_name));
            // Only a full commit id counts: a branch name moves on.
            out.release_commit = release
                .and_then(|r| r.target_commitish.as_ref())
                .and_then(|c| full_commit(c.as_str()));
            out.head_commit = out.release_commit.clone();
            if out.kind == EventKind::Release && out.release_tag.is_none() {
                return Err(Error::missing_field("$.release.tag_name"));
            }
            Ok(out)
        }
        other => {
            let anything: Anything<'_> = from_body(body)?;
            let repository = anything
                .repository
                .as_ref()
                .map(Repo::to_repository)
                .unwrap_or_default();
            Ok(event(
                provider,
                ping_or_other(other, "ping"),
                ids,
                repository,
            ))
        }
    }
}

fn fill_push<'a, const PATHS: bool>(
    out: &mut Event,
    push: &Push<'_, PATHS>,
    git_ref: &str,
    commits: Option<CommitFiles<'a, PATHS>>,
) -> Result<(), Error> {
    let before = require(push.before.as_ref(), "$.before")?.as_str();
    let after = require(push.after.as_ref(), "$.after")?.as_str();
    let pushed = SingleRefPush {
        git_ref,
        before,
        after,
        head: push.head_commit.as_ref().and_then(|c| owned(&c.id)),
        // Gitea and Gogs do not send the flags; the zero ids say the same thing.
        created: push.created.unwrap_or_else(|| is_zero_id(before)),
        deleted: push.deleted.unwrap_or_else(|| is_zero_id(after)),
        forced: push.forced.unwrap_or(false),
    };
    pushed.fill(out, commits, |commits| {
        let listed = commits.listed as u64;
        commits.listed < GITHUB_MAX_COMMITS
            && commits.max_files_in_a_commit < GITHUB_MAX_FILES_PER_COMMIT
            && push.size.is_none_or(|size| size == listed)
            && push
                .distinct_size
                .is_none_or(|d| push.size.is_none_or(|s| s == d))
            && push.total_commits.is_none_or(|total| total <= listed)
    });
    Ok(())
}
