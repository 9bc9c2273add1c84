//! `POST /webhooks/{provider}/{repo}` and the org hook `POST /webhooks/{provider}`:
//! verify → parse → durable enqueue → answer.
//!
//! Nothing else happens on this path: no git, no indexing, no disk reads. The 202 is sent only
//! after the job store has flushed the job and its delivery key (and, for a repo an org hook
//! names for the first time, after the list of discovered repos is saved).

use std::net::SocketAddr;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use jobstore::{EnqueueOutcome, Trigger};
use pipeline::{Rejection, plan_jobs};
use serde::Serialize;
use serde_json::json;
use webhook_core::{Delivery, Event, Headers, ParseOptions, Provider, ProviderId, VerifyOptions};

use http_serve::body::read_body;

use super::auth::refuse;
use super::respond::{self, Body};
use crate::app::App;
use gateway_config::{OrgConfig, RepoConfig};
use metrics::{DeliveryOutcome, event_label};
use pipeline::discovered::{DiscoverError, OrgChoice};

/// What the answer path parses for most repos: no changed-path hints (see [`receive`]).
const PARSE_OPTIONS: ParseOptions = ParseOptions {
    changed_paths: false,
};

/// What it parses for a repo with include/exclude globs: the commits' file lists too, so a
/// push that changes only paths outside the globs is answered `ignored`.
const PARSE_PATHS: ParseOptions = ParseOptions {
    changed_paths: true,
};

/// How long a sender should wait before retrying while we shut down.
const SHUTDOWN_RETRY: Duration = Duration::from_secs(10);

/// The provider named in the path, while the gateway takes deliveries: 503 + `Retry-After`
/// during shutdown, 404 (charged to the sender) for a name that is not a provider.
fn accepting<'a>(
    app: &'a App,
    peer: SocketAddr,
    provider: &str,
) -> Result<(ProviderId, &'a dyn Provider), Box<Response<Body>>> {
    if app.is_shutting_down() {
        return Err(Box::new(respond::retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the gateway is shutting down; retry shortly",
            SHUTDOWN_RETRY,
        )));
    }
    provider
        .parse::<ProviderId>()
        .ok()
        .and_then(|id| Some((id, app.registry.get(id)?.as_ref())))
        .ok_or_else(|| {
            Box::new(refuse(
                app,
                peer,
                StatusCode::NOT_FOUND,
                "not_found",
                format!("unknown provider: use one of {}", ProviderId::names()),
            ))
        })
}

pub async fn receive(
    app: &App,
    peer: SocketAddr,
    provider: &str,
    repo_name: &str,
    request: Request<Incoming>,
) -> Response<Body> {
    // Only what fails is charged to the sender's address, and before the body is read:
    // a delivery that verifies is never limited.
    let (provider, verifier) = match accepting(app, peer, provider) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let Some(repo) = app.repos.get(repo_name).filter(|r| r.provider == provider) else {
        return refuse(
            app,
            peer,
            StatusCode::NOT_FOUND,
            "not_found",
            "no repo with this name is configured for this provider",
        );
    };
    let (headers, body) = match read_delivery(app, request).await {
        Ok(read) => read,
        Err(response) => return *response,
    };
    let delivery = Delivery {
        headers: &headers,
        body: &body,
    };
    if repo.secrets.is_empty() {
        return refuse(
            app,
            peer,
            StatusCode::UNAUTHORIZED,
            "missing_signature",
            "no webhook secret is configured for this repo, so no delivery can be verified",
        );
    }
    let options = VerifyOptions {
        allow_sha1: repo.allow_sha1,
        ..VerifyOptions::default()
    };
    if let Err(error) = verifier.verify(&delivery, &repo.secrets, &options) {
        let code = error.code();
        // The access line carries the code (`error`); this one adds the repo at debug level.
        tracing::debug!(repo = %repo.spec.name, reason = code, "webhook rejected");
        return refuse(app, peer, StatusCode::UNAUTHORIZED, code, error.to_string());
    }
    // The worker diffs with git (authoritative, never truncated), so the payload's commit
    // file lists are skipped unread (a push parses in about half the time), unless the repo
    // has path globs: then they can show that a push changes nothing it indexes.
    let options = if repo.spec.include.is_empty() && repo.spec.exclude.is_empty() {
        &PARSE_OPTIONS
    } else {
        &PARSE_PATHS
    };
    let event = match verifier.parse_with(&delivery, options) {
        Ok(event) => event,
        Err(error) => {
            return respond::error(StatusCode::BAD_REQUEST, error.code(), error.to_string());
        }
    };
    accept(app, &repo, &event, Trigger::Webhook).await
}

/// A 200 `ignored` with its reason, counted as an ignored delivery.
fn ignored(app: &App, event: &Event, reason: String) -> Response<Body> {
    app.metrics.delivery(
        event.provider.as_str(),
        event_label(&event.kind),
        DeliveryOutcome::Ignored,
    );
    respond::json(
        StatusCode::OK,
        &json!({"status": "ignored", "reason": reason}),
    )
}

/// A delivery's headers, and its body within `max_body_bytes`, each piece within the
/// header-read timeout.
async fn read_delivery(
    app: &App,
    request: Request<Incoming>,
) -> Result<(Headers, bytes::Bytes), Box<Response<Body>>> {
    let (parts, body) = request.into_parts();
    let (limit, idle) = (app.config.max_body_bytes, app.config.header_read_timeout);
    let body = read_body(&parts.headers, body, limit, idle).await?;
    let headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    Ok((headers, body))
}

/// `POST /webhooks/{provider}`: an org (or group) hook. The delivery must verify with the
/// secret of an `[[orgs]]` entry of this provider; its `repository.full_name` must belong to
/// the owner of such an org and pass the org's `repos` globs. A repo met for the first time
/// with something to index is registered (and saved) under a name derived from the full
/// name, then the delivery is handled as one to that repo.
pub async fn receive_org(
    app: &App,
    peer: SocketAddr,
    provider: &str,
    request: Request<Incoming>,
) -> Response<Body> {
    // Only what fails is charged to the sender's address, and before the body is read:
    // a delivery that verifies is never limited.
    let (provider, verifier) = match accepting(app, peer, provider) {
        Ok(found) => found,
        Err(answer) => return *answer,
    };
    let orgs: Vec<&OrgConfig> = app
        .config
        .orgs
        .iter()
        .filter(|org| org.provider == provider)
        .collect();
    if orgs.is_empty() {
        return refuse(
            app,
            peer,
            StatusCode::NOT_FOUND,
            "not_found",
            "no org is configured for this provider",
        );
    }
    let (headers, body) = match read_delivery(app, request).await {
        Ok(read) => read,
        Err(response) => return *response,
    };
    let delivery = Delivery {
        headers: &headers,
        body: &body,
    };
    // Every org of this provider whose secret verifies the delivery: the payload then says
    // which of them owns the repository.
    let verified = match pipeline::discovered::verified_orgs(verifier, &delivery, orgs) {
        Ok(verified) => verified,
        Err(error) => {
            // Refusals are counted once, by the router, from the answer's code.
            let (code, message) = (error.code(), error.to_string());
            return refuse(app, peer, StatusCode::UNAUTHORIZED, code, message);
        }
    };
    let wants_paths = verified
        .iter()
        .any(|org| !org.repo.spec.include.is_empty() || !org.repo.spec.exclude.is_empty());
    let options = if wants_paths {
        &PARSE_PATHS
    } else {
        &PARSE_OPTIONS
    };
    let event = match verifier.parse_with(&delivery, options) {
        Ok(event) => event,
        Err(error) => {
            return respond::error(StatusCode::BAD_REQUEST, error.code(), error.to_string());
        }
    };
    if matches!(event.kind, webhook_core::EventKind::Ping) {
        return ignored(app, &event, "ping".into());
    }
    let full_name = event.repository.full_name.as_deref();
    let (org, tentative) = match pipeline::discovered::choose_org(verified, full_name) {
        Ok(OrgChoice::Taken { org, tentative }) => (org, tentative),
        Ok(OrgChoice::NotTaken { name }) => {
            let reason = format!("repository `{name}` is not taken by the org's `repos` globs");
            return ignored(app, &event, reason);
        }
        Err(error @ DiscoverError::OtherOwner(_)) => {
            return respond::error(StatusCode::FORBIDDEN, "wrong_owner", error.to_string());
        }
        Err(error) => {
            return respond::error(StatusCode::BAD_REQUEST, "bad_repository", error.to_string());
        }
    };
    // What the repo would be: an event that asks for nothing registers nothing.
    if !matches!(plan_jobs(&tentative.spec, &event, Trigger::Webhook), Ok(jobs) if !jobs.is_empty())
    {
        return accept(app, &tentative, &event, Trigger::Webhook).await;
    }
    match app.repos.discover(org, full_name).await {
        Ok((repo, new)) => {
            if new {
                tracing::info!(
                    repo = %repo.spec.name,
                    full_name = full_name.unwrap_or_default(),
                    owner = %org.owner,
                    "org hook discovered a repo"
                );
                app.background.discovered(repo.spec.name.clone());
            }
            accept(app, &repo, &event, Trigger::Webhook).await
        }
        Err(DiscoverError::Save(error)) => {
            tracing::error!(%error, "could not save the discovered repos");
            respond::retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the new repo could not be saved durably; retry shortly",
                Duration::from_secs(5),
            )
        }
        Err(error @ DiscoverError::Collision { .. }) => {
            respond::error(StatusCode::CONFLICT, "name_conflict", error.to_string())
        }
        Err(error) => respond::error(StatusCode::BAD_REQUEST, "bad_repository", error.to_string()),
    }
}

/// Turns a verified event into jobs and answers as docs/API.md says.
pub async fn accept(
    app: &App,
    repo: &RepoConfig,
    event: &Event,
    trigger: Trigger,
) -> Response<Body> {
    // Refusals are counted by the router from the answer; what was accepted is counted here,
    // where the verified event's kind is known. Test deliveries are not deliveries.
    let count = |outcome| {
        if trigger == Trigger::Webhook {
            app.metrics
                .delivery(event.provider.as_str(), event_label(&event.kind), outcome);
        }
    };
    let plan = match plan_jobs(&repo.spec, event, trigger) {
        Ok(plan) => plan,
        Err(Rejection::Ignored(reason)) => {
            count(DeliveryOutcome::Ignored);
            return respond::json(
                StatusCode::OK,
                &json!({"status": "ignored", "reason": reason}),
            );
        }
        Err(Rejection::Invalid(message)) => {
            return respond::error(StatusCode::BAD_REQUEST, "malformed_payload", message);
        }
    };
    let mut queued = Vec::new();
    let mut duplicate = None;
    for job in plan {
        match app.jobs.enqueue(job).await {
            Ok(EnqueueOutcome::Queued(job) | EnqueueOutcome::Coalesced(job)) => {
                queued.push(job.id.to_string());
            }
            Ok(EnqueueOutcome::Duplicate(id)) => {
                duplicate.get_or_insert(id.to_string());
            }
            Err(error) => {
                tracing::error!(%error, "job store refused a job");
                return respond::retry_after(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the job could not be stored durably; retry shortly",
                    Duration::from_secs(5),
                );
            }
        }
    }
    count(match (queued.is_empty(), duplicate.is_some()) {
        (false, _) => DeliveryOutcome::Accepted,
        (true, true) => DeliveryOutcome::Duplicate,
        (true, false) => DeliveryOutcome::Ignored,
    });
    match (queued.first(), duplicate) {
        (Some(first), _) => {
            // Serialized straight from a struct: this is the answer to nearly every delivery.
            let body = QueuedAnswer {
                delivery_id: event.delivery_id.as_deref(),
                job_id: first,
                job_ids: (queued.len() > 1).then_some(queued.as_slice()),
                status: "queued",
            };
            respond::json(StatusCode::ACCEPTED, &body)
        }
        (None, Some(id)) => respond::json(
            StatusCode::OK,
            &json!({"status": "duplicate", "job_id": id}),
        ),
        (None, None) => respond::json(
            StatusCode::OK,
            &json!({"status": "ignored", "reason": "nothing to index"}),
        ),
    }
}

/// The 202 body (docs/API.md); fields in the order a JSON map would sort them.
#[derive(Serialize)]
struct QueuedAnswer<'a> {
    delivery_id: Option<&'a str>,
    job_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_ids: Option<&'a [String]>,
    status: &'static str,
}
