//! Health, metrics and the management API (everything but webhook deliveries and search).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use jobstore::{EnqueueOutcome, JobFilter, JobId, JobState, Trigger};
use serde_json::{Value, json};
use webhook_core::ProviderId;

use super::respond::{self, Body};
use crate::app::App;
use api_json::{CountsJson, discovered_repo_json, job_json, org_json, repo_json};
use pipeline::{RefChoiceError, SampleError, TestAsk, TestDeliveryError};

pub fn healthz() -> Response<Body> {
    respond::json(StatusCode::OK, &json!({"status": "ok"}))
}

pub async fn readyz(app: &App) -> Response<Body> {
    let storage = app.jobs.counts().await.is_ok();
    let workers = app.background.workers_up();
    let ready = storage && workers == app.config.workers && !app.is_shutting_down();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    respond::json(
        status,
        &json!({
            "status": if ready { "ready" } else { "not_ready" },
            "storage": if storage { "ok" } else { "unavailable" },
            "workers": {"up": workers, "configured": app.config.workers},
            "shutting_down": app.is_shutting_down(),
        }),
    )
}

pub async fn metrics(app: &App) -> Response<Body> {
    // Both read the store's in-memory indexes (no scan of stored jobs).
    let counts = app.jobs.counts().await.ok();
    let pending = app.jobs.pending().await.ok();
    respond::metrics_text(app.metrics.render(counts.as_ref(), pending.as_deref()))
}

pub async fn status(app: &App) -> Response<Body> {
    let counts = match app.jobs.counts().await {
        Ok(counts) => serde_json::to_value(CountsJson::from(&counts)).unwrap_or(Value::Null),
        Err(error) => {
            tracing::error!(%error, "job store unavailable");
            Value::Null
        }
    };
    let search = app.search.clone();
    let index_bytes = match tokio::task::spawn_blocking(move || search.disk_bytes()).await {
        Ok(Ok(bytes)) => Some(bytes),
        _ => None,
    };
    respond::json(
        StatusCode::OK,
        &json!({
            "service": "context-gateway",
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_secs": app.started.elapsed().as_secs(),
            "shutting_down": app.is_shutting_down(),
            "storage": if counts.is_null() { "unavailable" } else { "ok" },
            "workers": {
                "up": app.background.workers_up(),
                "configured": app.config.workers,
                "busy": app.job_events.busy(),
            },
            "jobs": counts,
            "repos": app.config.repos.len(),
            "indexed_chunks": app.search.num_chunks(),
            "index": {"bytes": index_bytes, "chunks": app.search.num_chunks()},
            "deliveries_per_minute": app.metrics.deliveries_per_minute(),
            "push_to_searchable_ms": app.metrics.push_to_searchable(),
        }),
    )
}

pub fn config(app: &App) -> Response<Body> {
    let mut repos: Vec<Value> = app.config.repos.iter().map(repo_json).collect();
    for found in app.repos.discovered.all() {
        if let Some(repo) = app.repos.get(&found.name) {
            repos.push(discovered_repo_json(&repo, &found));
        }
    }
    let orgs: Vec<Value> = app.config.orgs.iter().map(org_json).collect();
    respond::json(
        StatusCode::OK,
        &json!({
            "providers": app.registry.ids(),
            "events": ["push", "tag_push", "pull_request", "release", "ping"],
            "max_body_bytes": app.config.max_body_bytes,
            "workers": app.config.workers,
            "repos": repos,
            "orgs": orgs,
        }),
    )
}

pub async fn list_jobs(app: &App, query: &HashMap<String, String>) -> Response<Body> {
    let state = match query.get("state").filter(|s| !s.is_empty()) {
        Some(text) => match text.parse::<JobState>() {
            Ok(state) => Some(state),
            Err(_) => {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    "bad_state",
                    "state must be one of queued, running, succeeded, failed, cancelled, superseded",
                );
            }
        },
        None => None,
    };
    let limit = match http_serve::query::limit(query.get("limit"), 50, 500) {
        Ok(limit) => limit,
        Err(failure) => return failure.into_response(),
    };
    let filter = JobFilter {
        state,
        repo: query.get("repo").filter(|r| !r.is_empty()).cloned(),
    };
    let cursor = query
        .get("cursor")
        .filter(|c| !c.is_empty())
        .map(String::as_str);
    match app.jobs.list(&filter, limit, cursor).await {
        Ok(page) => {
            let jobs: Vec<Value> = page.jobs.iter().map(job_json).collect();
            respond::json(
                StatusCode::OK,
                &json!({"jobs": jobs, "next_cursor": page.next_cursor}),
            )
        }
        Err(jobstore::Error::InvalidCursor(_)) => respond::error(
            StatusCode::BAD_REQUEST,
            "bad_cursor",
            "cursor must be a next_cursor from a previous page",
        ),
        Err(error) => store_error(error),
    }
}

pub(super) fn store_error(error: jobstore::Error) -> Response<Body> {
    tracing::error!(%error, "job store error");
    respond::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        "the job store could not answer; see the server log",
    )
}

fn parse_job_id(id: &str) -> Option<JobId> {
    id.parse::<JobId>().ok()
}

pub async fn get_job(app: &App, id: &str) -> Response<Body> {
    let Some(id) = parse_job_id(id) else {
        return respond::not_found("no such job");
    };
    match app.jobs.get(&id).await {
        Ok(Some(job)) => respond::json(StatusCode::OK, &job_json(&job)),
        Ok(None) => respond::not_found("no such job"),
        Err(error) => store_error(error),
    }
}

pub async fn cancel_job(app: &App, id: &str) -> Response<Body> {
    let before = match find_job(app, id).await {
        Ok(job) => job,
        Err(response) => return *response,
    };
    let id = before.id.clone();
    if before.state.is_finished() {
        return respond::error(
            StatusCode::CONFLICT,
            "job_finished",
            format!("the job already ended as {}", before.state.as_str()),
        );
    }
    match app.jobs.cancel(&id).await {
        Ok(Some(job)) => {
            let mut body = job_json(&job);
            // A running job stops at its next file boundary; say so rather than pretend.
            body["cancel_requested"] = json!(true);
            respond::json(StatusCode::OK, &body)
        }
        Ok(None) => respond::not_found("no such job"),
        Err(error) => store_error(error),
    }
}

/// The job `id` names, or the 404 (or 503) to answer.
async fn find_job(app: &App, id: &str) -> Result<jobstore::Job, Box<Response<Body>>> {
    let Some(id) = parse_job_id(id) else {
        return Err(Box::new(respond::not_found("no such job")));
    };
    match app.jobs.get(&id).await {
        Ok(Some(job)) => Ok(job),
        Ok(None) => Err(Box::new(respond::not_found("no such job"))),
        Err(error) => Err(Box::new(store_error(error))),
    }
}

/// `POST /webhooks/jobs/{id}/retry`: a failed or cancelled job's work, queued again.
pub async fn retry_job(app: &App, id: &str) -> Response<Body> {
    let job = match find_job(app, id).await {
        Ok(job) => job,
        Err(response) => return *response,
    };
    let id = job.id.clone();
    let again = match pipeline::retry_job(&job) {
        Ok(again) => again,
        Err(error) => {
            return respond::error(StatusCode::CONFLICT, "not_retryable", error.to_string());
        }
    };
    if app.repos.get(&job.repo).is_none() {
        return respond::error(
            StatusCode::CONFLICT,
            "not_retryable",
            format!("the job's repo `{}` is no longer configured", job.repo),
        );
    }
    match app.jobs.enqueue(again).await {
        Ok(outcome) => respond::json(
            StatusCode::ACCEPTED,
            &json!({
                "status": "queued",
                "job_id": outcome.job_id().to_string(),
                "merged": matches!(outcome, EnqueueOutcome::Coalesced(_)),
                "retry_of": id.to_string(),
            }),
        ),
        Err(error) => store_error(error),
    }
}

pub async fn trigger(app: &App, repo_name: &str, request: Request<Incoming>) -> Response<Body> {
    let Some(repo) = app.repos.get(repo_name) else {
        return respond::not_found("no repo with this name is configured");
    };
    // Bounded in time as well as size: a body that never ends must not hold the connection.
    let read = Limited::new(request.into_body(), 64 * 1024).collect();
    let body = match tokio::time::timeout(app.config.header_read_timeout, read).await {
        Err(_) => {
            return respond::error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body stopped arriving before it was complete",
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(_)) => {
            return respond::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "trigger bodies are at most 64 KiB",
            );
        }
    };
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct TriggerBody {
        #[serde(rename = "ref")]
        git_ref: Option<String>,
        #[serde(default)]
        full: bool,
    }
    let parsed: TriggerBody = if body.iter().all(u8::is_ascii_whitespace) {
        TriggerBody {
            git_ref: None,
            full: false,
        }
    } else {
        match serde_json::from_slice(&body) {
            Ok(parsed) => parsed,
            Err(error) => {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    "malformed_payload",
                    format!(
                        "trigger body: {error}; expected {{\"ref\": \"refs/heads/main\", \"full\": true}}"
                    ),
                );
            }
        }
    };
    let job = match pipeline::manual_index_job(&repo.spec, parsed.git_ref, parsed.full) {
        Ok(job) => job,
        Err(error) => {
            return respond::error(StatusCode::BAD_REQUEST, error.code(), error.to_string());
        }
    };
    match app.jobs.enqueue(job).await {
        Ok(outcome) => {
            let status = match outcome {
                EnqueueOutcome::Coalesced(_) => "coalesced",
                _ => "queued",
            };
            respond::json(
                StatusCode::ACCEPTED,
                &json!({"status": "queued", "merged": status == "coalesced", "job_id": outcome.job_id().to_string()}),
            )
        }
        Err(error) => store_error(error),
    }
}

pub async fn cleanup(app: &App, query: &HashMap<String, String>) -> Response<Body> {
    let older_than = match query.get("older_than").filter(|v| !v.is_empty()) {
        None => app.config.job_retention,
        Some(text) => match text.parse::<u64>() {
            Ok(secs) => Duration::from_secs(secs),
            Err(_) => {
                return respond::error(
                    StatusCode::BAD_REQUEST,
                    "bad_older_than",
                    "older_than must be a whole number of seconds",
                );
            }
        },
    };
    match app.jobs.cleanup(older_than).await {
        Ok(removed) => {
            // The delivery log's retention applies too; it never fails the job cleanup.
            let pruned = app.deliveries.prune().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "could not prune the delivery log");
                jobstore::Pruned::default()
            });
            respond::json(
                StatusCode::OK,
                &json!({"removed": removed, "older_than_secs": older_than.as_secs(),
                        "deliveries_removed": pruned.entries, "delivery_bodies_removed": pruned.bodies}),
            )
        }
        Err(error) => store_error(error),
    }
}

/// Builds a sample delivery of `?event=` (default push) for `provider`, signs it with the
/// repo's first secret and sends it through the same verify → parse → enqueue path a real
/// delivery takes.
pub async fn test_delivery(
    app: &App,
    _peer: SocketAddr,
    provider: &str,
    query: &HashMap<String, String>,
) -> Response<Body> {
    let Ok(provider) = provider.parse::<ProviderId>() else {
        return respond::not_found(&format!(
            "unknown provider: use one of {}",
            ProviderId::names()
        ));
    };
    let Some(verifier) = app.registry.get(provider) else {
        return respond::not_found("unknown provider");
    };
    let ask = |name: &str| query.get(name).map(String::as_str);
    let ask = TestAsk {
        event: ask("event"),
        repo: ask("repo"),
        git_ref: ask("ref"),
        number: ask("number"),
    };
    let error = match pipeline::test_delivery(&app.repos, &**verifier, &ask, || app.next_id("test"))
    {
        Ok((repo, event)) => {
            return super::webhook::accept(app, &repo, &event, Trigger::Test).await;
        }
        Err(error) => error,
    };
    let (status, code) = match &error {
        TestDeliveryError::BadEvent => (StatusCode::BAD_REQUEST, "bad_event"),
        TestDeliveryError::NoRepo => (StatusCode::NOT_FOUND, "not_found"),
        TestDeliveryError::NoSecret => (StatusCode::CONFLICT, "missing_signature"),
        TestDeliveryError::Ref(error @ RefChoiceError::NoBranchToPush) => {
            (StatusCode::CONFLICT, error.code())
        }
        TestDeliveryError::Ref(error) => (StatusCode::BAD_REQUEST, error.code()),
        TestDeliveryError::BadNumber => (StatusCode::BAD_REQUEST, "bad_number"),
        TestDeliveryError::Sample(SampleError::Unsupported(_)) => {
            (StatusCode::BAD_REQUEST, "unsupported_event")
        }
        TestDeliveryError::Sample(SampleError::Sign(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "sign_failed")
        }
        TestDeliveryError::Sample(SampleError::Verify(error)) => {
            (StatusCode::UNAUTHORIZED, error.code())
        }
        TestDeliveryError::Sample(SampleError::Parse(error)) => {
            (StatusCode::BAD_REQUEST, error.code())
        }
    };
    respond::error(status, code, error.to_string())
}

pub async fn search(app: &App, query: &HashMap<String, String>) -> Response<Body> {
    super::search::answer(app, query).await
}
