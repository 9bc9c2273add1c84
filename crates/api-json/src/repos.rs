//! The API's JSON shape of a repo's settings (`/config`).

use pipeline::{DiscoveredRepo, OrgConfig, RepoConfig};
use serde_json::{Value, json};

/// A repo's settings as `/config` shows them: no secret, only how many there are.
pub fn repo_json(repo: &RepoConfig) -> Value {
    let spec = &repo.spec;
    json!({
        "name": spec.name,
        "provider": repo.provider,
        "location": spec.location.display(),
        "branches": spec.branches,
        "pull_requests": spec.pull_requests,
        "tags": spec.tags,
        "events": pipeline::EventName::ALL
            .into_iter()
            .filter(|kind| spec.takes_event(*kind) && enabled(spec, *kind))
            .map(pipeline::EventName::as_str)
            .collect::<Vec<_>>(),
        "include": spec.include,
        "exclude": spec.exclude,
        "max_file_bytes": spec.max_file_bytes,
        "index_secret_files": spec.index_secret_files,
        "secrets_configured": repo.secrets.len(),
    })
}

/// Whether the other options let events of `kind` make jobs (tags, pull requests).
fn enabled(spec: &pipeline::RepoSpec, kind: pipeline::EventName) -> bool {
    match kind {
        pipeline::EventName::Push => true,
        pipeline::EventName::TagPush | pipeline::EventName::Release => spec.indexes_tags(),
        pipeline::EventName::PullRequest => spec.pull_requests,
    }
}

/// A discovered repo's settings: a repo's, and the org hook that found it.
pub fn discovered_repo_json(repo: &RepoConfig, found: &DiscoveredRepo) -> Value {
    let mut json = repo_json(repo);
    json["discovered"] = json!({"owner": found.owner, "full_name": found.full_name});
    json
}

/// An org's settings: the repo template's, with the url template (credentials redacted like
/// a location's), the owner and the `repos` globs instead of a name and a location.
pub fn org_json(org: &OrgConfig) -> Value {
    let mut json = repo_json(&org.repo);
    if let Some(fields) = json.as_object_mut() {
        fields.remove("name");
        fields.insert(
            "location".into(),
            json!(pipeline::redact_url(&org.url_template)),
        );
        fields.insert("owner".into(), json!(org.owner));
        fields.insert("repos".into(), json!(org.repos));
    }
    json
}
