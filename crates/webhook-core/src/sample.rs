//! Sample deliveries of every event kind, the bodies a gateway's test endpoint sends.
//!
//! Each carries the provider's event headers and a body shaped like the host's documented
//! payload; the caller signs it ([`ProviderId::sign`]) with the repo's secret and sends it
//! through the real verify, parse and plan code. The commit ids in these bodies are
//! stand-ins: whoever acts on a sample must index the refs' real tips.
//!
//! ```
//! use webhook_core::ProviderId;
//! use webhook_core::sample::{self, SampleKind, Target};
//!
//! let target = Target { repo: "demo", git_ref: "refs/heads/main", number: 1, delivery_id: "t-1" };
//! let push = sample::build(ProviderId::GitHub, SampleKind::Push, &target).unwrap();
//! assert!(push.headers.iter().any(|(name, value)| name == "X-GitHub-Event" && value == "push"));
//! // Bitbucket has no release events.
//! let refused = sample::build(ProviderId::Bitbucket, SampleKind::Release, &target).unwrap_err();
//! assert_eq!(refused.to_string(), "bitbucket sends no `release` events");
//! ```

use serde_json::{Value, json};

use crate::ProviderId;

/// A stand-in commit id.
const SAMPLE_COMMIT: &str = "1111111111111111111111111111111111111111";
/// A stand-in annotated tag object id (what `after` holds for an annotated tag).
const SAMPLE_TAG_OBJECT: &str = "2222222222222222222222222222222222222222";
const ZEROS: &str = "0000000000000000000000000000000000000000";
/// The source branch of a sample pull request.
const SAMPLE_BRANCH: &str = "sample-branch";

/// The event kinds a sample can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// A branch push.
    Push,
    /// An annotated tag push.
    TagPush,
    /// A pull request opened.
    PullRequest,
    /// A pull request closed (merged or not).
    PullRequestClosed,
    /// A release published.
    Release,
    /// The host's ping sent when a hook is created.
    Ping,
}

impl SampleKind {
    /// Every kind, in the order messages list them.
    pub const ALL: [SampleKind; 6] = [
        SampleKind::Push,
        SampleKind::TagPush,
        SampleKind::PullRequest,
        SampleKind::PullRequestClosed,
        SampleKind::Release,
        SampleKind::Ping,
    ];

    /// The kind's name: `push`, `tag_push`, `pull_request`, `pull_request_closed`,
    /// `release`, `ping`.
    pub fn name(self) -> &'static str {
        match self {
            SampleKind::Push => "push",
            SampleKind::TagPush => "tag_push",
            SampleKind::PullRequest => "pull_request",
            SampleKind::PullRequestClosed => "pull_request_closed",
            SampleKind::Release => "release",
            SampleKind::Ping => "ping",
        }
    }

    /// The kind named `name`, if any.
    pub fn from_name(name: &str) -> Option<SampleKind> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// `push, tag_push, …` for messages.
    pub fn names() -> String {
        Self::ALL.map(Self::name).join(", ")
    }

    /// Whether the sample names a tag (and so needs one).
    pub fn needs_tag(self) -> bool {
        matches!(self, SampleKind::TagPush | SampleKind::Release)
    }
}

/// What a sample is about.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The repository's name.
    pub repo: &'a str,
    /// The pushed branch or tag (full ref), or a pull request's target branch.
    pub git_ref: &'a str,
    /// The pull request number.
    pub number: u64,
    /// The delivery id the sample's headers carry.
    pub delivery_id: &'a str,
}

/// A sample delivery, not yet signed.
#[derive(Debug)]
pub struct SampleDelivery {
    /// The provider's event and delivery headers.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// A provider that sends no events of the asked kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{provider} sends no `{}` events", kind.name())]
pub struct Unsupported {
    /// The provider asked for.
    pub provider: ProviderId,
    /// The kind it does not send.
    pub kind: SampleKind,
}

/// A `kind` sample from `provider`, or [`Unsupported`] when the host sends no such event.
pub fn build(
    provider: ProviderId,
    kind: SampleKind,
    target: &Target<'_>,
) -> Result<SampleDelivery, Unsupported> {
    let (headers, body) = match provider {
        ProviderId::GitHub | ProviderId::Gitea => github_like(provider, kind, target),
        ProviderId::GitLab => gitlab(kind, target),
        ProviderId::Bitbucket => bitbucket(kind, target),
        ProviderId::AzureDevOps => azure_devops(kind, target),
    }
    .ok_or(Unsupported { provider, kind })?;
    let headers = headers
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    Ok(SampleDelivery {
        headers,
        body: serde_json::to_vec(&body).unwrap_or_default(),
    })
}

type Sample = (Vec<(&'static str, String)>, Value);

fn url(target: &Target<'_>) -> String {
    format!("https://example.invalid/test/{}.git", target.repo)
}

fn short(git_ref: &str) -> &str {
    git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(git_ref)
}

/// GitHub, and Gitea, which copies GitHub's shapes and also names its own headers.
fn github_like(provider: ProviderId, kind: SampleKind, target: &Target<'_>) -> Option<Sample> {
    let url = url(target);
    let repository = json!({"name": target.repo, "full_name": format!("test/{}", target.repo),
        "clone_url": url, "html_url": url});
    let (event, body) = match kind {
        SampleKind::Push | SampleKind::TagPush => {
            let tag = kind == SampleKind::TagPush;
            let after = if tag {
                SAMPLE_TAG_OBJECT
            } else {
                SAMPLE_COMMIT
            };
            let body = json!({"ref": target.git_ref, "before": ZEROS, "after": after,
                "created": true, "deleted": false, "forced": false, "repository": repository,
                "commits": [], "head_commit": {"id": SAMPLE_COMMIT}});
            ("push", body)
        }
        SampleKind::PullRequest | SampleKind::PullRequestClosed => {
            let opened = kind == SampleKind::PullRequest;
            let body = json!({"action": if opened { "opened" } else { "closed" },
                "number": target.number, "repository": repository,
                "pull_request": {"number": target.number, "merged": false,
                    "head": {"ref": SAMPLE_BRANCH, "sha": SAMPLE_COMMIT},
                    "base": {"ref": short(target.git_ref), "sha": SAMPLE_COMMIT}}});
            ("pull_request", body)
        }
        SampleKind::Release => {
            let body = json!({"action": "published", "repository": repository,
                "release": {"tag_name": short(target.git_ref), "target_commitish": SAMPLE_COMMIT}});
            ("release", body)
        }
        SampleKind::Ping if provider == ProviderId::GitHub => (
            "ping",
            json!({"zen": "Keep it logically awesome.", "repository": repository}),
        ),
        SampleKind::Ping => return None,
    };
    let id = target.delivery_id.to_owned();
    let mut headers = vec![
        ("X-GitHub-Event", event.to_owned()),
        ("X-GitHub-Delivery", id.clone()),
    ];
    if provider == ProviderId::Gitea {
        headers.push(("X-Gitea-Event", event.to_owned()));
        headers.push(("X-Gitea-Delivery", id));
    }
    Some((headers, body))
}

fn gitlab(kind: SampleKind, target: &Target<'_>) -> Option<Sample> {
    let url = url(target);
    let project = json!({"name": target.repo, "path_with_namespace": format!("test/{}", target.repo),
        "git_http_url": url, "web_url": url});
    let (event, body) = match kind {
        SampleKind::Push | SampleKind::TagPush => {
            let tag = kind == SampleKind::TagPush;
            let (event, object_kind) = if tag {
                ("Tag Push Hook", "tag_push")
            } else {
                ("Push Hook", "push")
            };
            // An annotated tag's `after` is the tag object; checkout_sha is its commit.
            let after = if tag {
                SAMPLE_TAG_OBJECT
            } else {
                SAMPLE_COMMIT
            };
            let body = json!({"object_kind": object_kind, "event_name": object_kind,
                "ref": target.git_ref, "before": ZEROS, "after": after, "checkout_sha": SAMPLE_COMMIT,
                "project": project, "commits": [], "total_commits_count": 0});
            (event, body)
        }
        SampleKind::PullRequest | SampleKind::PullRequestClosed => {
            let action = if kind == SampleKind::PullRequest {
                "open"
            } else {
                "close"
            };
            let body = json!({"object_kind": "merge_request", "project": project,
                "object_attributes": {"iid": target.number, "action": action,
                    "source_branch": SAMPLE_BRANCH, "target_branch": short(target.git_ref),
                    "last_commit": {"id": SAMPLE_COMMIT}}});
            ("Merge Request Hook", body)
        }
        SampleKind::Release => {
            let body = json!({"object_kind": "release", "action": "create",
                "tag": short(target.git_ref), "project": project, "commit": {"id": SAMPLE_COMMIT}});
            ("Release Hook", body)
        }
        SampleKind::Ping => return None,
    };
    let headers = vec![
        ("X-Gitlab-Event", event.to_owned()),
        ("X-Gitlab-Event-UUID", target.delivery_id.to_owned()),
    ];
    Some((headers, body))
}

/// Bitbucket Cloud's shapes, and Server's ping (Cloud has none).
fn bitbucket(kind: SampleKind, target: &Target<'_>) -> Option<Sample> {
    let full_name = format!("test/{}", target.repo);
    let repository = json!({"name": target.repo, "full_name": full_name,
        "links": {"html": {"href": url(target)}}});
    let (event, body) = match kind {
        SampleKind::Push | SampleKind::TagPush => {
            let ref_type = if kind == SampleKind::TagPush {
                "tag"
            } else {
                "branch"
            };
            let body = json!({"repository": repository, "push": {"changes": [{
                "new": {"type": ref_type, "name": short(target.git_ref),
                    "target": {"type": "commit", "hash": SAMPLE_COMMIT}},
                "old": null, "created": true, "closed": false, "forced": false,
                "truncated": false, "commits": []}]}});
            ("repo:push", body)
        }
        SampleKind::PullRequest | SampleKind::PullRequestClosed => {
            let event = if kind == SampleKind::PullRequest {
                "pullrequest:created"
            } else {
                "pullrequest:rejected"
            };
            let body = json!({"repository": repository, "pullrequest": {"id": target.number,
                "source": {"branch": {"name": SAMPLE_BRANCH}, "commit": {"hash": &SAMPLE_COMMIT[..12]},
                    "repository": {"full_name": full_name}},
                "destination": {"branch": {"name": short(target.git_ref)},
                    "repository": {"full_name": full_name}}}});
            (event, body)
        }
        SampleKind::Ping => ("diagnostics:ping", json!({"test": true})),
        SampleKind::Release => return None,
    };
    let headers = vec![
        ("X-Event-Key", event.to_owned()),
        ("X-Request-UUID", target.delivery_id.to_owned()),
    ];
    Some((headers, body))
}

/// Azure DevOps names the event in the body.
fn azure_devops(kind: SampleKind, target: &Target<'_>) -> Option<Sample> {
    let repository = json!({"name": target.repo, "remoteUrl": url(target)});
    let (event, resource) = match kind {
        SampleKind::Push | SampleKind::TagPush => {
            let after = if kind == SampleKind::TagPush {
                SAMPLE_TAG_OBJECT
            } else {
                SAMPLE_COMMIT
            };
            let resource = json!({"repository": repository, "refUpdates": [{"name": target.git_ref,
                "oldObjectId": ZEROS, "newObjectId": after}]});
            ("git.push", resource)
        }
        SampleKind::PullRequest | SampleKind::PullRequestClosed => {
            let (event, status) = if kind == SampleKind::PullRequest {
                ("git.pullrequest.created", "active")
            } else {
                ("git.pullrequest.updated", "abandoned")
            };
            let resource = json!({"repository": repository, "pullRequestId": target.number,
                "status": status, "sourceRefName": format!("refs/heads/{SAMPLE_BRANCH}"),
                "targetRefName": target.git_ref, "lastMergeSourceCommit": {"commitId": SAMPLE_COMMIT},
                "lastMergeCommit": {"commitId": SAMPLE_TAG_OBJECT}});
            (event, resource)
        }
        SampleKind::Release | SampleKind::Ping => return None,
    };
    let body = json!({"id": target.delivery_id, "eventType": event, "publisherId": "tfs",
        "resource": resource});
    Some((Vec::new(), body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Delivery, EventKind, Headers, Registry, Secret, VerifyOptions};

    /// Every sample a provider can send verifies and parses to the kind it claims to be.
    #[test]
    fn every_sample_verifies_and_parses_as_its_kind() {
        let registry = Registry::with_builtins();
        for provider in ProviderId::ALL {
            let secret = Secret::new("user:sample-secret").unwrap();
            for kind in SampleKind::ALL {
                let git_ref = if kind.needs_tag() {
                    "refs/tags/v1"
                } else {
                    "refs/heads/main"
                };
                let target = Target {
                    repo: "demo",
                    git_ref,
                    number: 7,
                    delivery_id: "d-1",
                };
                let Ok(SampleDelivery { headers, body }) = build(provider, kind, &target) else {
                    continue;
                };
                let mut headers: Headers = headers.into_iter().collect();
                for (name, value) in provider
                    .sign(&secret, &body, std::time::SystemTime::now())
                    .unwrap()
                {
                    headers.insert(&name, value.as_bytes());
                }
                let delivery = Delivery {
                    headers: &headers,
                    body: &body,
                };
                let parser = registry.get(provider).unwrap();
                let label = format!("{provider} {}", kind.name());
                parser
                    .verify(
                        &delivery,
                        std::slice::from_ref(&secret),
                        &VerifyOptions::default(),
                    )
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                let event = parser
                    .parse(&delivery)
                    .unwrap_or_else(|e| panic!("{label}: {e}"));
                let matches = match (kind, &event.kind) {
                    (SampleKind::Push, EventKind::Push)
                    | (SampleKind::TagPush, EventKind::TagPush)
                    | (SampleKind::Release, EventKind::Release)
                    | (SampleKind::Ping, EventKind::Ping) => true,
                    (SampleKind::PullRequest, EventKind::PullRequest(action)) => {
                        *action == crate::PullRequestAction::Opened
                    }
                    (SampleKind::PullRequestClosed, EventKind::PullRequest(action)) => {
                        *action == crate::PullRequestAction::Closed
                    }
                    _ => false,
                };
                assert!(matches, "{label}: parsed as {:?}", event.kind);
                if let Some(pr) = &event.pull_request {
                    assert_eq!(pr.number, 7, "{label}");
                }
            }
        }
    }

    #[test]
    fn hosts_without_an_event_kind_say_so() {
        let target = Target {
            repo: "demo",
            git_ref: "refs/tags/v1",
            number: 1,
            delivery_id: "d",
        };
        let err = build(ProviderId::Bitbucket, SampleKind::Release, &target).unwrap_err();
        assert_eq!(err.to_string(), "bitbucket sends no `release` events");
        assert!(build(ProviderId::AzureDevOps, SampleKind::Ping, &target).is_err());
        assert_eq!(SampleKind::from_name("tag_push"), Some(SampleKind::TagPush));
        assert_eq!(SampleKind::from_name("tag-push"), None);
    }
}
