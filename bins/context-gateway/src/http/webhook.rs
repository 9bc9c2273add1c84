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
use jobstore::Trigger;
use pipeline::intake::{self, Enqueued};
use pipeline::{Rejection, plan_jobs};
use serde::Serialize;
use serde_json::json;
use webhook_core::{Delivery, Event, Headers, Provider, ProviderId};

use http_serve::body::read_body;

use super::auth::refuse;
use super::respond::{self, Body};
use crate::app::App;
use gateway_config::{OrgConfig, RepoConfig};
use jobstore::DeliveryOutcome as Logged;
use metrics::{DeliveryOutcome, event_label};
use pipeline::deliveries::DeliveryNote;

use super::deliveries;
use pipeline::discovered::{DiscoverError, OrgChoice};

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
    let mut note = DeliveryNote::new(provider, Some(repo_name));
    note.arrived(&headers_of(request.headers()));
    let response = match to_repo(app, peer, provider, repo_name) {
        Err(answer) => *answer,
        Ok((verifier, repo)) => match read_delivery(app, request).await {
            Err(answer) => *answer,
            Ok((headers, body)) => {
                deliver(app, peer, verifier, &repo, &headers, &body, &mut note).await
            }
        },
    };
    deliveries::record(app, note, &response);
    response
}

/// Runs a delivery read earlier (a kept body) through the handler's path again: to the repo
/// `path_repo`, or the org hook of `provider` when `None`. Answers what a delivery would.
pub async fn replay(
    app: &App,
    peer: SocketAddr,
    provider: &str,
    path_repo: Option<&str>,
    headers: &Headers,
    body: &bytes::Bytes,
    note: &mut DeliveryNote,
) -> Response<Body> {
    let found = match path_repo {
        Some(name) => {
            to_repo(app, peer, provider, name).map(|(verifier, repo)| (verifier, Some(repo)))
        }
        None => to_orgs(app, peer, provider).map(|verifier| (verifier, None)),
    };
    match found {
        Err(answer) => *answer,
        Ok((verifier, Some(repo))) => {
            deliver(app, peer, verifier, &repo, headers, body, note).await
        }
        Ok((verifier, None)) => deliver_org(app, peer, verifier, headers, body, note).await,
    }
}

/// The provider and repo a delivery to `POST /webhooks/{provider}/{repo}` is for, or the
/// refusal. Only what fails is charged to the sender's address, and before the body is read:
/// a delivery that verifies is never limited.
#[allow(clippy::type_complexity)]
fn to_repo<'a>(
    app: &'a App,
    peer: SocketAddr,
    provider: &str,
    repo_name: &str,
) -> Result<(&'a dyn Provider, std::borrow::Cow<'a, RepoConfig>), Box<Response<Body>>> {
    let (provider, verifier) = accepting(app, peer, provider)?;
    let Some(repo) = app.repos.get(repo_name).filter(|r| r.provider == provider) else {
        return Err(Box::new(refuse(
            app,
            peer,
            StatusCode::NOT_FOUND,
            "not_found",
            "no repo with this name is configured for this provider",
        )));
    };
    Ok((verifier, repo))
}

/// Verify → parse → accept, for a delivery to `repo` whose headers and body were read.
async fn deliver(
    app: &App,
    peer: SocketAddr,
    verifier: &dyn Provider,
    repo: &RepoConfig,
    headers: &Headers,
    body: &bytes::Bytes,
    note: &mut DeliveryNote,
) -> Response<Body> {
    note.read(headers, body);
    let delivery = Delivery { headers, body };
    if let Err(refusal) = intake::verify(verifier, repo, &delivery) {
        // The access line carries the code (`error`); this one adds the repo at debug level.
        tracing::debug!(repo = %repo.spec.name, reason = refusal.code(), "webhook rejected");
        return refuse(
            app,
            peer,
            StatusCode::UNAUTHORIZED,
            refusal.code(),
            refusal.to_string(),
        );
    }
    note.verified(body, app.config.deliveries.keep_bodies);
    let options = intake::parse_options([&repo.spec]);
    let event = match verifier.parse_with(&delivery, &options) {
        Ok(event) => event,
        Err(error) => {
            return respond::error(StatusCode::BAD_REQUEST, error.code(), error.to_string());
        }
    };
    note.parsed(&event);
    accept(app, repo, &event, Trigger::Webhook).await
}

/// A 200 `ignored` with its reason, counted as an ignored delivery.
fn ignored(app: &App, event: &Event, reason: String) -> Response<Body> {
    app.metrics.delivery(
        event.provider.as_str(),
        event_label(&event.kind),
        DeliveryOutcome::Ignored,
    );
    ignored_answer(reason, None)
}

/// A 200 `ignored`, with what the delivery log records of it.
fn ignored_answer(reason: String, repo: Option<&RepoConfig>) -> Response<Body> {
    let response = respond::json(
        StatusCode::OK,
        &json!({"status": "ignored", "reason": reason}),
    );
    deliveries::answered(response, Logged::Ignored, None, Some(reason), repo)
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
    Ok((headers_of(&parts.headers), body))
}

fn headers_of(headers: &hyper::HeaderMap) -> Headers {
    headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect()
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
    let mut note = DeliveryNote::new(provider, None);
    note.arrived(&headers_of(request.headers()));
    let response = match to_orgs(app, peer, provider) {
        Err(answer) => *answer,
        Ok(verifier) => match read_delivery(app, request).await {
            Err(answer) => *answer,
            Ok((headers, body)) => {
                deliver_org(app, peer, verifier, &headers, &body, &mut note).await
            }
        },
    };
    deliveries::record(app, note, &response);
    response
}

/// The provider of an org hook delivery, when an org of it is configured, or the refusal.
/// Only what fails is charged to the sender's address, and before the body is read: a
/// delivery that verifies is never limited.
fn to_orgs<'a>(
    app: &'a App,
    peer: SocketAddr,
    provider: &str,
) -> Result<&'a dyn Provider, Box<Response<Body>>> {
    let (provider, verifier) = accepting(app, peer, provider)?;
    if !app.config.orgs.iter().any(|org| org.provider == provider) {
        return Err(Box::new(refuse(
            app,
            peer,
            StatusCode::NOT_FOUND,
            "not_found",
            "no org is configured for this provider",
        )));
    }
    Ok(verifier)
}

/// Verify → parse → discover → accept, for an org hook delivery whose headers and body were
/// read.
async fn deliver_org(
    app: &App,
    peer: SocketAddr,
    verifier: &dyn Provider,
    headers: &Headers,
    body: &bytes::Bytes,
    note: &mut DeliveryNote,
) -> Response<Body> {
    note.read(headers, body);
    let orgs: Vec<&OrgConfig> = app
        .config
        .orgs
        .iter()
        .filter(|org| org.provider == verifier.id())
        .collect();
    let delivery = Delivery { headers, body };
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
    note.verified(body, app.config.deliveries.keep_bodies);
    let options = intake::parse_options(verified.iter().map(|org| &org.repo.spec));
    let event = match verifier.parse_with(&delivery, &options) {
        Ok(event) => event,
        Err(error) => {
            return respond::error(StatusCode::BAD_REQUEST, error.code(), error.to_string());
        }
    };
    note.parsed(&event);
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
            return ignored_answer(reason, Some(repo));
        }
        Err(Rejection::Invalid(message)) => {
            return respond::error(StatusCode::BAD_REQUEST, "malformed_payload", message);
        }
    };
    let Enqueued { queued, duplicate } = match intake::enqueue_plan(&*app.jobs, plan).await {
        Ok(enqueued) => enqueued,
        Err(error) => {
            tracing::error!(%error, "job store refused a job");
            return respond::retry_after(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the job could not be stored durably; retry shortly",
                Duration::from_secs(5),
            );
        }
    };
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
            let response = respond::json(StatusCode::ACCEPTED, &body);
            let job = Some(first.clone());
            deliveries::answered(response, Logged::Queued, job, None, Some(repo))
        }
        (None, Some(id)) => {
            let response = respond::json(
                StatusCode::OK,
                &json!({"status": "duplicate", "job_id": id}),
            );
            deliveries::answered(response, Logged::Duplicate, Some(id), None, Some(repo))
        }
        (None, None) => ignored_answer("nothing to index".into(), Some(repo)),
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
