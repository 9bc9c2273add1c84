//! Azure DevOps service hooks: HTTP Basic credentials, event type from the body.

use serde::Deserialize;

use crate::delivery::{Delivery, ParseOptions, Verified};
use crate::error::Error;
use crate::event::{
    Event, EventKind, PullRequest, PullRequestAction, PullRequestRefKind, RefUpdate, Repository,
};
use crate::payload::{Text, WithName, from_body, owned, require};
use crate::provider::Provider;
use crate::provider_id::ProviderId;
use crate::providers::builtin::{Builtin, Keys};
use crate::providers::{
    DeliveryIds, event, pull_request_event, push_urls, raw_id_update, ref_updates_event, same_ref,
    short_branch,
};
use crate::signature::{required, verify_basic};

/// Azure DevOps (Services and Server) web hook service hooks.
///
/// Azure signs nothing: the subscription's HTTP Basic credentials are compared in constant
/// time with each `user:password` secret. The event comes from the body's `eventType`,
/// the delivery id from its `id`. Pushes carry only old/new ids per ref, never files.
#[derive(Debug, Clone, Copy, Default)]
pub struct AzureDevOps;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(borrow)]
    id: Option<Text<'a>>,
    #[serde(borrow)]
    event_type: Option<Text<'a>>,
    #[serde(borrow)]
    subscription_id: Option<Text<'a>>,
    #[serde(borrow)]
    resource: Option<Resource<'a>>,
}

/// The `resource` of a push or pull request event (one struct: fields differ by event).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Resource<'a> {
    #[serde(borrow)]
    ref_updates: Option<Vec<AzRefUpdate<'a>>>,
    #[serde(borrow)]
    repository: Option<AzRepository<'a>>,
    pull_request_id: Option<u64>,
    #[serde(borrow)]
    status: Option<Text<'a>>,
    #[serde(borrow)]
    source_ref_name: Option<Text<'a>>,
    #[serde(borrow)]
    target_ref_name: Option<Text<'a>>,
    #[serde(borrow)]
    last_merge_source_commit: Option<AzCommit<'a>>,
    /// The preview merge `refs/pull/N/merge` points at.
    #[serde(borrow)]
    last_merge_commit: Option<AzCommit<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzRefUpdate<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    old_object_id: Option<Text<'a>>,
    #[serde(borrow)]
    new_object_id: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzCommit<'a> {
    #[serde(borrow)]
    commit_id: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzRepository<'a> {
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    remote_url: Option<Text<'a>>,
    #[serde(borrow)]
    ssh_url: Option<Text<'a>>,
    #[serde(borrow)]
    web_url: Option<Text<'a>>,
    #[serde(borrow)]
    project: Option<WithName<'a>>,
}

impl AzRepository<'_> {
    fn to_repository(&self) -> Repository {
        let name = owned(&self.name);
        let project = self.project.as_ref().and_then(|p| owned(&p.name));
        let mut repository = Repository {
            full_name: match (&project, &name) {
                (Some(project), Some(name)) => Some(format!("{project}/{name}")),
                _ => None,
            },
            name,
            clone_urls: Vec::new(),
            // remoteUrl doubles as the web page on Azure DevOps.
            html_url: owned(&self.web_url).or_else(|| owned(&self.remote_url)),
        };
        push_urls(
            &mut repository.clone_urls,
            [self.remote_url.as_ref(), self.ssh_url.as_ref()],
        );
        repository
    }
}

impl Builtin for AzureDevOps {
    const ID: ProviderId = ProviderId::AzureDevOps;

    fn check(&self, delivery: &Delivery<'_>, keys: Keys<'_>) -> Result<Verified, Error> {
        let Keys { secrets, .. } = keys;
        verify_basic(required(delivery.headers, "Authorization")?, secrets)
    }

    fn read(&self, delivery: &Delivery<'_>, _: &ParseOptions) -> Result<Event, Error> {
        let envelope: Envelope<'_> = from_body(delivery.body)?;
        let event_type = envelope
            .event_type
            .as_ref()
            .map(Text::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::unsupported("body field eventType is missing or empty"))?;
        // The same event id reaches every subscription; the subscription scopes it.
        let ids = DeliveryIds::new(
            self.id(),
            envelope.subscription_id.as_ref().map(Text::as_str),
            envelope
                .id
                .as_ref()
                .map(Text::as_str)
                .filter(|id| !id.is_empty()),
        );
        let resource = envelope.resource.as_ref();
        let repository = resource
            .and_then(|r| r.repository.as_ref())
            .map(AzRepository::to_repository)
            .unwrap_or_default();
        match event_type {
            "git.push" => {
                let resource = require(resource, "$.resource")?;
                require(resource.repository.as_ref(), "$.resource.repository")?;
                let updates = ref_updates(require(
                    resource.ref_updates.as_deref(),
                    "$.resource.refUpdates",
                )?)?;
                Ok(ref_updates_event(self.id(), ids, repository, updates))
            }
            "git.pullrequest.created" | "git.pullrequest.updated" | "git.pullrequest.merged" => {
                let resource = require(resource, "$.resource")?;
                let number = require(resource.pull_request_id, "$.resource.pullRequestId")?;
                let status = resource.status.as_ref().map(Text::as_str);
                let action = match (event_type, status) {
                    ("git.pullrequest.created", _) => PullRequestAction::Opened,
                    (_, Some("completed")) => PullRequestAction::Merged,
                    (_, Some("abandoned")) => PullRequestAction::Closed,
                    // "merge attempted" also fires for the preview merge of an active PR.
                    ("git.pullrequest.merged", _) => {
                        PullRequestAction::Other("merge_attempted".to_owned())
                    }
                    _ => PullRequestAction::Synchronize,
                };
                let head_sha = resource
                    .last_merge_source_commit
                    .as_ref()
                    .and_then(|c| owned(&c.commit_id));
                let branch =
                    |r: &Option<Text<'_>>| r.as_ref().map(|r| short_branch(r.as_str()).to_owned());
                let pull_request = PullRequest {
                    number,
                    head_sha,
                    head_ref: branch(&resource.source_ref_name),
                    base_ref: branch(&resource.target_ref_name),
                    // Azure keeps the preview merge, not the head, under a pull ref.
                    fetch: same_ref(
                        format!("refs/pull/{number}/merge"),
                        PullRequestRefKind::Merge,
                        resource
                            .last_merge_commit
                            .as_ref()
                            .and_then(|c| c.commit_id.as_ref())
                            .map(Text::as_str),
                    ),
                };
                Ok(pull_request_event(
                    self.id(),
                    action,
                    ids,
                    repository,
                    pull_request,
                ))
            }
            other => Ok(event(
                self.id(),
                EventKind::Other(other.to_owned()),
                ids,
                repository,
            )),
        }
    }
}

fn ref_updates(raw: &[AzRefUpdate<'_>]) -> Result<Vec<RefUpdate>, Error> {
    let mut updates = Vec::with_capacity(raw.len());
    for (i, update) in raw.iter().enumerate() {
        let name = require(
            owned(&update.name),
            &format!("$.resource.refUpdates[{i}].name"),
        )?;
        // Only zero ids say a ref was created or deleted.
        updates.push(raw_id_update(
            name,
            owned(&update.old_object_id),
            owned(&update.new_object_id),
            false,
            false,
        ));
    }
    Ok(updates)
}
