//! Sample push deliveries, one per provider, for `POST /webhooks/test/{provider}`.
//!
//! They carry the provider's event header and a body shaped like the real thing; the caller
//! signs them with the repo's secret and sends them through the real verify and parse code.

use serde_json::json;

/// A stand-in commit id; test deliveries index the branch tip, not this.
const SAMPLE_AFTER: &str = "1111111111111111111111111111111111111111";
const ZEROS: &str = "0000000000000000000000000000000000000000";

/// Event headers and body of a push of `git_ref` to `repo`.
pub fn push(
    provider: &str,
    repo: &str,
    git_ref: &str,
    delivery_id: &str,
) -> (Vec<(String, String)>, Vec<u8>) {
    let branch = git_ref.strip_prefix("refs/heads/").unwrap_or(git_ref);
    let url = format!("https://example.invalid/test/{repo}.git");
    let header = |k: &str, v: &str| (k.to_string(), v.to_string());
    let (headers, body) = match provider {
        "gitlab" => (
            vec![
                header("X-Gitlab-Event", "Push Hook"),
                header("X-Gitlab-Event-UUID", delivery_id),
            ],
            json!({
                "object_kind": "push", "event_name": "push",
                "ref": git_ref, "before": ZEROS, "after": SAMPLE_AFTER, "checkout_sha": SAMPLE_AFTER,
                "project": {"name": repo, "path_with_namespace": format!("test/{repo}"), "git_http_url": url, "web_url": url},
                "repository": {"name": repo, "git_http_url": url, "homepage": url},
                "commits": [], "total_commits_count": 0
            }),
        ),
        "bitbucket" => (
            vec![
                header("X-Event-Key", "repo:push"),
                header("X-Request-UUID", delivery_id),
            ],
            json!({
                "push": {"changes": [{
                    "new": {"type": "branch", "name": branch, "target": {"hash": SAMPLE_AFTER}},
                    "old": null, "created": true, "closed": false, "forced": false, "truncated": false, "commits": []
                }]},
                "repository": {"name": repo, "full_name": format!("test/{repo}"), "links": {"html": {"href": url}}}
            }),
        ),
        "azure-devops" => (
            Vec::new(),
            json!({
                "id": delivery_id, "eventType": "git.push", "publisherId": "tfs",
                "resource": {
                    "refUpdates": [{"name": git_ref, "oldObjectId": ZEROS, "newObjectId": SAMPLE_AFTER}],
                    "repository": {"name": repo, "remoteUrl": url}
                }
            }),
        ),
        // github and gitea share the GitHub shape; gitea also names its own headers.
        other => {
            let mut headers = vec![
                header("X-GitHub-Event", "push"),
                header("X-GitHub-Delivery", delivery_id),
            ];
            if other == "gitea" {
                headers.push(header("X-Gitea-Event", "push"));
                headers.push(header("X-Gitea-Delivery", delivery_id));
            }
            (
                headers,
                json!({
                    "ref": git_ref, "before": ZEROS, "after": SAMPLE_AFTER,
                    "created": true, "deleted": false, "forced": false,
                    "repository": {"name": repo, "full_name": format!("test/{repo}"), "clone_url": url, "html_url": url},
                    "commits": [], "head_commit": null
                }),
            )
        }
    };
    (headers, serde_json::to_vec(&body).unwrap_or_default())
}
