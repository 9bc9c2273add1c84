//! Bitbucket Cloud and Bitbucket Server/Data Center: `X-Hub-Signature` HMAC, events from
//! `X-Event-Key`. The two products share the header but not the payload shapes.

use serde::Deserialize;

use crate::delivery::{Delivery, ParseOptions, Verified};
use crate::error::Error;
use crate::event::{
    Event, PullRequest, PullRequestAction, PullRequestFetch, PullRequestRef, PullRequestRefKind,
    RefUpdate, Repository, Unfetchable,
};
use crate::payload::{Text, WithId, WithName, from_body, owned, require};
use crate::provider::Provider;
use crate::provider_id::ProviderId;
use crate::providers::builtin::{Builtin, Keys};
use crate::providers::{
    DeliveryIds, ZERO_ID, event, event_name, full_commit, ping_or_other, pull_request_event,
    push_urls, raw_id_update, ref_updates_event, same_ref, short_branch,
};
use crate::signature::{required, verify_prefixed_hex};

const SIGNATURE: &str = "X-Hub-Signature";

/// Bitbucket Cloud (`repo:push`, `pullrequest:*`) and Bitbucket Server/Data Center
/// (`repo:refs_changed`, `pr:*`, `diagnostics:ping`).
///
/// Verifies `X-Hub-Signature: <algorithm>=<hex>` with the algorithm the prefix names
/// (sha256, sha384, sha512; sha1 only when allowed). Neither product sends file lists,
/// so [`crate::ChangedPaths::complete`] is always false.
#[derive(Debug, Clone, Copy, Default)]
pub struct Bitbucket;

#[derive(Debug, Deserialize)]
struct Href<'a> {
    #[serde(borrow)]
    href: Option<Text<'a>>,
}

/// Cloud's `links.self` is one object (unused: Cloud has `links.html`), Server's a list.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany<'a> {
    // Tried first: IgnoredAny below would accept a list too.
    #[serde(borrow)]
    Many(Vec<Href<'a>>),
    One(serde::de::IgnoredAny),
}

#[derive(Debug, Deserialize)]
struct CloneLink<'a> {
    #[serde(borrow)]
    href: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct Links<'a> {
    #[serde(borrow)]
    html: Option<Href<'a>>,
    #[serde(borrow)]
    clone: Option<Vec<CloneLink<'a>>>,
    #[serde(rename = "self", borrow)]
    self_link: Option<OneOrMany<'a>>,
}

#[derive(Debug, Deserialize)]
struct ProjectKey<'a> {
    #[serde(borrow)]
    key: Option<Text<'a>>,
}

/// Either product's repository object (Cloud: `full_name`; Server: `project.key`/`slug`).
#[derive(Debug, Deserialize)]
struct Repo<'a> {
    #[serde(borrow)]
    full_name: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    slug: Option<Text<'a>>,
    #[serde(borrow)]
    project: Option<ProjectKey<'a>>,
    #[serde(borrow)]
    links: Option<Links<'a>>,
}

impl Repo<'_> {
    fn to_repository(&self) -> Repository {
        let server_name = match (&self.project, &self.slug) {
            (Some(ProjectKey { key: Some(key) }), Some(slug)) => {
                Some(format!("{}/{}", key.as_str(), slug.as_str()))
            }
            _ => None,
        };
        let links = self.links.as_ref();
        let html_url = links
            .and_then(|l| l.html.as_ref())
            .and_then(|h| owned(&h.href))
            .or_else(|| match links.and_then(|l| l.self_link.as_ref()) {
                // Server's self link is the repository's browse page.
                Some(OneOrMany::Many(list)) => list.first().and_then(|h| owned(&h.href)),
                _ => None,
            });
        let mut clone_urls = Vec::new();
        if let Some(clone) = links.and_then(|l| l.clone.as_ref()) {
            let is_http = |link: &&CloneLink<'_>| {
                link.name
                    .as_ref()
                    .is_some_and(|n| n.as_str().starts_with("http"))
            };
            push_urls(
                &mut clone_urls,
                clone.iter().filter(is_http).map(|l| l.href.as_ref()),
            );
            push_urls(&mut clone_urls, clone.iter().map(|l| l.href.as_ref()));
        }
        if clone_urls.is_empty() && self.full_name.is_some() {
            // Cloud payloads carry no clone links; its HTTPS clone URL is the page plus .git.
            if let Some(html) = &html_url {
                clone_urls.push(format!("{}.git", html.trim_end_matches('/')));
            }
        }
        Repository {
            full_name: owned(&self.full_name).or(server_name),
            name: owned(&self.name).or_else(|| owned(&self.slug)),
            clone_urls,
            html_url,
        }
    }
}

/// A push of either product: Cloud fills `push`, Server fills `changes`.
#[derive(Debug, Deserialize)]
struct Push<'a> {
    #[serde(borrow)]
    push: Option<CloudPush<'a>>,
    #[serde(borrow)]
    changes: Option<Vec<ServerChange<'a>>>,
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
}

#[derive(Debug, Deserialize)]
struct CloudPush<'a> {
    #[serde(borrow)]
    changes: Option<Vec<CloudChange<'a>>>,
}

#[derive(Debug, Deserialize)]
struct CloudChange<'a> {
    #[serde(borrow)]
    new: Option<CloudRefState<'a>>,
    #[serde(borrow)]
    old: Option<CloudRefState<'a>>,
    created: Option<bool>,
    closed: Option<bool>,
    forced: Option<bool>,
}

#[derive(Debug, Deserialize)]
struct CloudRefState<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    target: Option<CloudCommit<'a>>,
}

#[derive(Debug, Deserialize)]
struct CloudCommit<'a> {
    #[serde(borrow)]
    hash: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerChange<'a> {
    #[serde(borrow)]
    ref_id: Option<Text<'a>>,
    #[serde(rename = "ref", borrow)]
    git_ref: Option<WithId<'a>>,
    #[serde(borrow)]
    from_hash: Option<Text<'a>>,
    #[serde(borrow)]
    to_hash: Option<Text<'a>>,
    #[serde(rename = "type", borrow)]
    kind: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
struct CloudPullEvent<'a> {
    #[serde(borrow)]
    pullrequest: Option<CloudPull<'a>>,
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
}

#[derive(Debug, Deserialize)]
struct CloudPull<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    source: Option<CloudPullEnd<'a>>,
    #[serde(borrow)]
    destination: Option<CloudPullEnd<'a>>,
}

#[derive(Debug, Deserialize)]
struct CloudPullEnd<'a> {
    #[serde(borrow)]
    branch: Option<WithName<'a>>,
    #[serde(borrow)]
    commit: Option<CloudCommit<'a>>,
    #[serde(borrow)]
    repository: Option<CloudPullRepo<'a>>,
}

/// Which repository one end of a Cloud pull request lives in.
#[derive(Debug, Deserialize)]
struct CloudPullRepo<'a> {
    #[serde(borrow)]
    full_name: Option<Text<'a>>,
    #[serde(borrow)]
    uuid: Option<Text<'a>>,
}

impl CloudPullRepo<'_> {
    /// Whether both name the same repository: by uuid when both have one (a rename keeps
    /// it), else by full name; `None` when they cannot be compared.
    fn same_as(&self, other: &CloudPullRepo<'_>) -> Option<bool> {
        let text = |t: &Option<Text<'_>>| t.as_ref().map(|t| t.as_str().to_ascii_lowercase());
        match (text(&self.uuid), text(&other.uuid)) {
            (Some(a), Some(b)) => Some(a == b),
            _ => Some(text(&self.full_name)? == text(&other.full_name)?),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerPullEvent<'a> {
    #[serde(borrow)]
    pull_request: Option<ServerPull<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerPull<'a> {
    id: Option<u64>,
    #[serde(borrow)]
    from_ref: Option<ServerPullRef<'a>>,
    #[serde(borrow)]
    to_ref: Option<ServerPullRef<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ServerPullRef<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    latest_commit: Option<Text<'a>>,
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
}

#[derive(Debug, Deserialize)]
struct Anything<'a> {
    #[serde(borrow)]
    repository: Option<Repo<'a>>,
}

impl Builtin for Bitbucket {
    const ID: ProviderId = ProviderId::Bitbucket;

    fn check(&self, delivery: &Delivery<'_>, keys: Keys<'_>) -> Result<Verified, Error> {
        let Keys { secrets, opts } = keys;
        let value = required(delivery.headers, SIGNATURE)?;
        verify_prefixed_hex(
            SIGNATURE,
            value,
            &["sha256", "sha384", "sha512", "sha1"],
            delivery.body,
            secrets,
            opts,
        )
    }

    fn read(&self, delivery: &Delivery<'_>, _: &ParseOptions) -> Result<Event, Error> {
        let headers = delivery.headers;
        let key = event_name(headers, "X-Event-Key", &[])?;
        // Cloud: X-Request-UUID (and X-Hook-UUID per hook); Server: X-Request-Id.
        let delivery_id = headers
            .text("X-Request-UUID")
            .or_else(|| headers.text("X-Request-Id"));
        let ids = DeliveryIds::new(self.id(), headers.text("X-Hook-UUID"), delivery_id);
        let body = delivery.body;
        match key {
            "repo:push" | "repo:refs_changed" => push(ids, body),
            "pullrequest:created"
            | "pullrequest:updated"
            | "pullrequest:fulfilled"
            | "pullrequest:rejected" => cloud_pull(ids, body, key),
            "pr:opened" | "pr:from_ref_updated" | "pr:merged" | "pr:declined" | "pr:deleted" => {
                server_pull(ids, body, key)
            }
            other => {
                let anything: Anything<'_> = from_body(body)?;
                let kind = ping_or_other(other, "diagnostics:ping");
                let repository = anything
                    .repository
                    .as_ref()
                    .map(Repo::to_repository)
                    .unwrap_or_default();
                Ok(event(ProviderId::Bitbucket, kind, ids, repository))
            }
        }
    }
}

fn push(ids: DeliveryIds, body: &[u8]) -> Result<Event, Error> {
    let push: Push<'_> = from_body(body)?;
    let repository = require(push.repository.as_ref(), "$.repository")?.to_repository();
    let updates = match (&push.push, &push.changes) {
        (Some(cloud), _) => cloud_updates(require(cloud.changes.as_ref(), "$.push.changes")?)?,
        (None, Some(changes)) => server_updates(changes)?,
        (None, None) => return Err(Error::missing_field("$.push.changes")),
    };
    // Neither product sends file lists.
    Ok(ref_updates_event(
        ProviderId::Bitbucket,
        ids,
        repository,
        updates,
    ))
}

fn cloud_updates(changes: &[CloudChange<'_>]) -> Result<Vec<RefUpdate>, Error> {
    let mut updates = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let Some(state) = change.new.as_ref().or(change.old.as_ref()) else {
            return Err(Error::missing_field(format!("$.push.changes[{i}].new")));
        };
        let name = require(
            state.name.as_ref(),
            &format!("$.push.changes[{i}].new.name"),
        )?;
        let prefix = match state.kind.as_ref().map(Text::as_str) {
            Some("tag") => "refs/tags/",
            _ => "refs/heads/",
        };
        let hash = |s: &Option<CloudRefState<'_>>| {
            s.as_ref()
                .and_then(|s| s.target.as_ref())
                .and_then(|t| owned(&t.hash))
        };
        let created = change.created.unwrap_or(change.old.is_none());
        let deleted = change.closed.unwrap_or(change.new.is_none());
        let after = hash(&change.new);
        // Cloud sends null for the missing side; keep the all-zeros convention instead.
        updates.push(RefUpdate {
            git_ref: format!("{prefix}{}", name.as_str()),
            before: hash(&change.old).or_else(|| created.then(|| ZERO_ID.to_owned())),
            // Cloud's `target` is the commit, for annotated tags too.
            peeled: after.as_deref().and_then(full_commit),
            after: after.or_else(|| deleted.then(|| ZERO_ID.to_owned())),
            created,
            deleted,
            forced: change.forced.unwrap_or(false),
        });
    }
    Ok(updates)
}

fn server_updates(changes: &[ServerChange<'_>]) -> Result<Vec<RefUpdate>, Error> {
    let mut updates = Vec::with_capacity(changes.len());
    for (i, change) in changes.iter().enumerate() {
        let git_ref = owned(&change.ref_id)
            .or_else(|| change.git_ref.as_ref().and_then(|r| owned(&r.id)))
            .ok_or_else(|| Error::missing_field(format!("$.changes[{i}].refId")))?;
        let kind = change.kind.as_ref().map(Text::as_str);
        updates.push(raw_id_update(
            git_ref,
            owned(&change.from_hash),
            owned(&change.to_hash),
            kind == Some("ADD"),
            kind == Some("DELETE"),
        ));
    }
    Ok(updates)
}

/// The action a pull request event key names, either product's (`pullrequest:created`,
/// `pr:opened`...): everything that is not opened, updated or merged closes it.
fn pull_action(key: &str) -> PullRequestAction {
    match key {
        "pullrequest:created" | "pr:opened" => PullRequestAction::Opened,
        "pullrequest:updated" | "pr:from_ref_updated" => PullRequestAction::Synchronize,
        "pullrequest:fulfilled" | "pr:merged" => PullRequestAction::Merged,
        _ => PullRequestAction::Closed,
    }
}

fn cloud_pull(ids: DeliveryIds, body: &[u8], key: &str) -> Result<Event, Error> {
    let pull: CloudPullEvent<'_> = from_body(body)?;
    let pr = require(pull.pullrequest.as_ref(), "$.pullrequest")?;
    let number = require(pr.id, "$.pullrequest.id")?;
    let repository = pull
        .repository
        .as_ref()
        .map(Repo::to_repository)
        .unwrap_or_default();
    let branch = |end: &Option<CloudPullEnd<'_>>| {
        end.as_ref()
            .and_then(|e| e.branch.as_ref())
            .and_then(|b| owned(&b.name))
    };
    let head_sha = pr
        .source
        .as_ref()
        .and_then(|s| s.commit.as_ref())
        .and_then(|c| owned(&c.hash));
    let head_ref = branch(&pr.source);
    let pull_request = PullRequest {
        number,
        head_sha,
        fetch: cloud_fetch(pr, number, head_ref.as_deref()),
        head_ref,
        base_ref: branch(&pr.destination),
    };
    Ok(pull_request_event(
        ProviderId::Bitbucket,
        pull_action(key),
        ids,
        repository,
        pull_request,
    ))
}

/// Cloud keeps no pull request refs: a source branch in the same repository is fetched by
/// name and indexed under Server's name for a pull request's head; a fork's is out of reach.
/// Cloud's commit ids are 12-character hashes, so the commit is resolved after the fetch.
fn cloud_fetch(pr: &CloudPull<'_>, number: u64, source_branch: Option<&str>) -> PullRequestFetch {
    let source = pr.source.as_ref().and_then(|e| e.repository.as_ref());
    let destination = pr.destination.as_ref().and_then(|e| e.repository.as_ref());
    let same = match (source, destination) {
        (Some(source), Some(destination)) => source.same_as(destination),
        _ => None,
    };
    match (same, source_branch) {
        (Some(true), Some(branch)) => PullRequestFetch::Fetchable(PullRequestRef {
            fetch_ref: format!("refs/heads/{branch}"),
            index_ref: format!("refs/pull-requests/{number}/from"),
            kind: PullRequestRefKind::SourceBranch,
            commit: None,
        }),
        (Some(false), _) => PullRequestFetch::Unfetchable(Unfetchable::ForkBranch),
        _ => PullRequestFetch::Unfetchable(Unfetchable::SourceUnknown),
    }
}

fn server_pull(ids: DeliveryIds, body: &[u8], key: &str) -> Result<Event, Error> {
    let pull: ServerPullEvent<'_> = from_body(body)?;
    let pr = require(pull.pull_request.as_ref(), "$.pullRequest")?;
    let number = require(pr.id, "$.pullRequest.id")?;
    let repository = pr
        .to_ref
        .as_ref()
        .and_then(|r| r.repository.as_ref())
        .map(Repo::to_repository)
        .unwrap_or_default();
    let branch = |r: &Option<ServerPullRef<'_>>| {
        r.as_ref()
            .and_then(|r| r.id.as_ref())
            .map(|id| short_branch(id.as_str()).to_owned())
    };
    let head_sha = pr.from_ref.as_ref().and_then(|r| owned(&r.latest_commit));
    let pull_request = PullRequest {
        number,
        // Server keeps the head of every pull request, forks' included, under this ref.
        fetch: same_ref(
            format!("refs/pull-requests/{number}/from"),
            PullRequestRefKind::Head,
            head_sha.as_deref(),
        ),
        head_sha,
        head_ref: branch(&pr.from_ref),
        base_ref: branch(&pr.to_ref),
    };
    Ok(pull_request_event(
        ProviderId::Bitbucket,
        pull_action(key),
        ids,
        repository,
        pull_request,
    ))
}
