//! The read API besides search: `/repos` (what is indexed and how fresh it is), `/tree` (the
//! indexed paths) and `/files` (a file's text at the indexed commit). Files are put back
//! together from the change feed's chunks, so they are exactly what search and the feed
//! hold: never a path outside the index, never a chunk withheld for holding a secret.
//!
//! Each endpoint's work is a function returning its JSON or a [`Failure`]
//! ([`repos_json`], [`repo_json_of`], [`file_json`]); the handlers answer that over HTTP and
//! the MCP tools ([`super::mcp`]) as tool results.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use hyper::{Response, StatusCode};
use indexer::RefKey;
use jobstore::{Job, JobFilter, JobState};
use serde_json::{Value, json};

use super::respond::{self, Body, Failure};
use crate::app::App;
use api_json::job_json;
use pipeline::full_ref;

/// A 400 naming the parameter and what it accepts.
pub fn bad_parameter(name: &str, accepts: &str) -> Response<Body> {
    Failure::bad_parameter(name, accepts).into_response()
}

pub fn feed_failed(message: &str) -> Response<Body> {
    feed_failure(message).into_response()
}

fn feed_failure(message: &str) -> Failure {
    Failure::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "feed_unavailable",
        message,
    )
}

fn configured(app: &App, repo: &str) -> Result<(), Failure> {
    match app.repos.get(repo) {
        Some(_) => Ok(()),
        None => Err(Failure::not_found(format!(
            "no configured repo is named `{}`",
            repo.escape_debug()
        ))),
    }
}

/// The (repo, ref) of a `/changes` request: both parameters are required.
pub fn ref_key(app: &App, params: &HashMap<String, String>) -> Result<RefKey, Box<Response<Body>>> {
    let get = |name: &str| params.get(name).filter(|v| !v.is_empty());
    let repo = get("repo")
        .ok_or_else(|| Failure::bad_parameter("repo", "required: a configured repo name"))?;
    configured(app, repo)?;
    let git_ref = get("ref").ok_or_else(|| {
        Failure::bad_parameter("ref", "required: a branch (`main`) or a full ref name")
    })?;
    Ok(RefKey::new(repo, full_ref(git_ref)))
}

/// The ref a `/tree` or `/files` request reads: `ref` if given, else the repo's only indexed
/// ref (a 400 when it has several).
async fn read_key(
    app: &App,
    repo: &str,
    params: &HashMap<String, String>,
) -> Result<RefKey, Failure> {
    configured(app, repo)?;
    if let Some(git_ref) = params.get("ref").filter(|v| !v.is_empty()) {
        return Ok(RefKey::new(repo, full_ref(git_ref)));
    }
    let refs = indexed_refs(app).await?;
    let mine: Vec<&RefKey> = refs
        .iter()
        .filter(|(k, r)| k.repo == repo && !r.deleted)
        .map(|(k, _)| k)
        .collect();
    match mine.as_slice() {
        [only] => Ok((*only).clone()),
        _ => Err(Failure::bad_parameter(
            "ref",
            &format!("required: `{repo}` has {} indexed refs", mine.len()),
        )),
    }
}

async fn indexed_refs(app: &App) -> Result<Vec<(RefKey, feed::RefRecord)>, Failure> {
    let feed = app.feed.clone();
    match tokio::task::spawn_blocking(move || feed.refs()).await {
        Ok(Ok(refs)) => Ok(refs),
        Ok(Err(error)) => {
            tracing::error!(%error, "change feed read failed");
            Err(feed_failure(
                "the index state could not be read; see the server log",
            ))
        }
        Err(_) => Err(feed_failure("the read was interrupted")),
    }
}

fn seconds_since(time: SystemTime) -> u64 {
    SystemTime::now()
        .duration_since(time)
        .unwrap_or_default()
        .as_secs()
}

/// One ref's freshness: what is indexed, the newest commit heard of, how long the oldest
/// waiting job has waited and, where known, how many commits the index is behind. `jobs` are
/// the repo's jobs, newest first.
fn ref_json(app: &App, key: &RefKey, record: Option<&feed::RefRecord>, jobs: &[Job]) -> Value {
    let mine: Vec<&Job> = jobs.iter().filter(|j| j.git_ref == key.git_ref).collect();
    let pending: Vec<&&Job> = mine
        .iter()
        .filter(|j| matches!(j.state, JobState::Queued | JobState::Running))
        .collect();
    let heard = mine.iter().find_map(|j| j.commit.as_deref());
    let indexed = record.and_then(|r| r.commit.as_deref());
    let lag_seconds = pending
        .iter()
        .map(|j| seconds_since(j.created_at))
        .max()
        .unwrap_or(0);
    json!({
        "ref": key.git_ref,
        "indexed_commit": indexed,
        "deleted": record.is_some_and(|r| r.deleted),
        "indexed_at_ms": record.map(|r| r.last_time_ms),
        "newest_commit_heard": heard.or(indexed),
        "up_to_date": pending.is_empty() && heard.is_none_or(|h| Some(h) == indexed),
        "lag_seconds": lag_seconds,
        // Known after a job of the ref or a reconcile pass of its repo (`null` before).
        "lag_commits": app.metrics.lag_commits_of(&key.repo, &key.git_ref),
        "files": record.map_or(0, |r| r.files),
        "chunks": record.map_or(0, |r| r.chunks),
        "feed_cursor": record.map(|r| r.last_cursor.to_string()),
        "last_job": mine.first().map(|j| job_json(j)),
        "last_error": mine.iter().find_map(|j| j.error.as_deref()),
    })
}

/// The newest jobs of `repo` (enough to find each ref's latest job and error).
async fn recent_jobs(app: &App, repo: &str) -> Vec<Job> {
    let filter = JobFilter {
        state: None,
        repo: Some(repo.to_string()),
    };
    match app.jobs.list(&filter, 200, None).await {
        Ok(page) => page.jobs,
        Err(error) => {
            tracing::error!(%error, "job store unavailable");
            Vec::new()
        }
    }
}

/// How fresh each of `keys` is (for `/search` answers): the ref's entry of `/repos`.
pub async fn freshness(app: &App, keys: &[RefKey]) -> Vec<Value> {
    let Ok(refs) = indexed_refs(app).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut jobs: BTreeMap<&str, Vec<Job>> = BTreeMap::new();
    for key in keys {
        if !jobs.contains_key(key.repo.as_str()) {
            jobs.insert(&key.repo, recent_jobs(app, &key.repo).await);
        }
        let record = refs.iter().find(|(k, _)| k == key).map(|(_, r)| r);
        let mut value = ref_json(app, key, record, &jobs[key.repo.as_str()]);
        value["repo"] = Value::from(key.repo.clone());
        out.push(value);
    }
    out
}

async fn repo_json(app: &App, repo: &str, refs: &[(RefKey, feed::RefRecord)]) -> Value {
    let jobs = recent_jobs(app, repo).await;
    let mut keys: BTreeMap<RefKey, Option<&feed::RefRecord>> = refs
        .iter()
        .filter(|(k, _)| k.repo == repo)
        .map(|(k, r)| (k.clone(), Some(r)))
        .collect();
    for job in &jobs {
        keys.entry(RefKey::new(repo, &job.git_ref)).or_insert(None);
    }
    let refs: Vec<Value> = keys
        .iter()
        .map(|(k, r)| ref_json(app, k, *r, &jobs))
        .collect();
    json!({"repo": repo, "refs": refs})
}

/// Every configured or discovered repo with its refs' freshness (`GET /repos`).
pub async fn repos_json(app: &App) -> Result<Value, Failure> {
    let refs = indexed_refs(app).await?;
    let mut out = Vec::new();
    // Configured repos, then those discovered through org hooks.
    let discovered = app.repos.discovered_configs();
    for repo in app.config.repos.iter().chain(&discovered) {
        out.push(repo_json(app, &repo.spec.name, &refs).await);
    }
    Ok(json!({"repos": out}))
}

/// One repo's refs and their freshness (`GET /repos/{repo}`).
pub async fn repo_json_of(app: &App, repo: &str) -> Result<Value, Failure> {
    configured(app, repo)?;
    let refs = indexed_refs(app).await?;
    Ok(repo_json(app, repo, &refs).await)
}

/// `GET /repos`.
pub async fn repos(app: &App) -> Response<Body> {
    respond::reply(repos_json(app).await)
}

/// `GET /repos/{repo}`.
pub async fn repo(app: &App, repo: &str) -> Response<Body> {
    respond::reply(repo_json_of(app, repo).await)
}

const TREE_LIMIT: usize = 10_000;

/// `GET /tree/{repo}?ref=&path=`: indexed paths under a prefix.
pub async fn tree(app: &App, repo: &str, params: &HashMap<String, String>) -> Response<Body> {
    let key = match read_key(app, repo, params).await {
        Ok(key) => key,
        Err(failure) => return failure.into_response(),
    };
    let prefix = params.get("path").cloned().unwrap_or_default();
    let (feed, k) = (app.feed.clone(), key.clone());
    let read = tokio::task::spawn_blocking(move || {
        let record = feed.ref_record(&k)?;
        let paths = feed.paths(&k, &prefix, TREE_LIMIT + 1)?;
        Ok::<_, feed::FeedError>((record, paths))
    })
    .await;
    let (record, mut paths) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(error)) => {
            tracing::error!(%error, "change feed read failed");
            return feed_failed("the index state could not be read; see the server log");
        }
        Err(_) => return feed_failed("the read was interrupted"),
    };
    let Some(record) = record.filter(|r| !r.deleted) else {
        return respond::not_found(&format!(
            "`{}` is not indexed for `{}`",
            key.git_ref, key.repo
        ));
    };
    let truncated = paths.len() > TREE_LIMIT;
    paths.truncate(TREE_LIMIT);
    respond::json(
        StatusCode::OK,
        &json!({
            "repo": key.repo, "ref": key.git_ref, "commit": record.commit,
            "paths": paths, "truncated": truncated,
        }),
    )
}

/// `GET /files/{repo}/{path}?ref=&start_line=&end_line=`: the file's text at the indexed commit.
pub async fn file(
    app: &App,
    repo: &str,
    path: &str,
    params: &HashMap<String, String>,
) -> Response<Body> {
    respond::reply(file_json(app, repo, path, params).await)
}

/// A file's text (or a line range of it) at the indexed commit, rebuilt from its chunks.
pub async fn file_json(
    app: &App,
    repo: &str,
    path: &str,
    params: &HashMap<String, String>,
) -> Result<Value, Failure> {
    let key = read_key(app, repo, params).await?;
    let line = |name: &str| -> Result<Option<u32>, Failure> {
        match params.get(name).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| *n >= 1)
                .map(Some)
                .ok_or_else(|| Failure::bad_parameter(name, "a line number from 1")),
        }
    };
    let start = line("start_line")?.unwrap_or(1);
    let end = line("end_line")?;
    if end.is_some_and(|end| end < start) {
        return Err(Failure::bad_parameter(
            "end_line",
            "must not be before start_line",
        ));
    }
    let (feed, k, p) = (app.feed.clone(), key.clone(), path.to_string());
    let read = tokio::task::spawn_blocking(move || {
        let record = feed.ref_record(&k)?;
        let chunks = feed.file_chunks(&k, &p)?;
        Ok::<_, feed::FeedError>((record, chunks))
    })
    .await;
    let (record, chunks) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(error)) => {
            tracing::error!(%error, "change feed read failed");
            return Err(feed_failure(
                "the index state could not be read; see the server log",
            ));
        }
        Err(_) => return Err(feed_failure("the read was interrupted")),
    };
    let record = record.filter(|r| !r.deleted);
    if record.is_none() || chunks.is_empty() {
        return Err(Failure::not_found(format!(
            "`{}` is not an indexed file of `{}` at `{}`",
            path.escape_debug(),
            key.repo,
            key.git_ref
        )));
    }
    let text = feed::assemble(&chunks, start, end);
    Ok(json!({
        "repo": key.repo, "ref": key.git_ref, "path": path,
        "commit": record.and_then(|r| r.commit),
        "start_line": text.start_line, "end_line": text.end_line,
        "total_lines": text.total_lines, "withheld": text.withheld, "text": text.text,
    }))
}
