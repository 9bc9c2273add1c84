//! `POST /webhooks/{provider}/{repo}`: verify → parse → durable enqueue → answer.
//!
//! Nothing else happens on this path: no git, no indexing, no disk reads. The 202 is sent only
//! after the job store has flushed the job and its delivery key.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::CONTENT_LENGTH;
use hyper::{Request, Response, StatusCode};
use jobstore::{EnqueueOutcome, Trigger};
use pipeline::{Rejection, plan_jobs};
use serde::Serialize;
use serde_json::json;
use webhook_core::{Delivery, Event, Headers, ParseOptions, ProviderId, VerifyOptions};

use super::auth::refuse;
use super::respond::{self, Body};
use crate::app::App;
use crate::config::RepoConfig;
use crate::metrics::{DeliveryOutcome, event_label};

/// A whole webhook body must arrive within this many header-read timeouts (60 s by default).
const BODY_IDLE_ROUNDS: u32 = 6;

/// What the answer path parses: no changed-path hints (see [`receive`]).
const PARSE_OPTIONS: ParseOptions = ParseOptions {
    changed_paths: false,
};

/// The most a body's announced length reserves up front; longer bodies grow as they arrive.
const READ_RESERVE_MAX: u64 = 1024 * 1024;

/// How long a sender should wait before retrying while we shut down.
const SHUTDOWN_RETRY: Duration = Duration::from_secs(10);

pub async fn receive(
    app: &App,
    peer: SocketAddr,
    provider: &str,
    repo_name: &str,
    request: Request<Incoming>,
) -> Response<Body> {
    if app.is_shutting_down() {
        return respond::retry_after(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the gateway is shutting down; retry shortly",
            SHUTDOWN_RETRY,
        );
    }
    // Only what fails is charged to the sender's address, and before the body is read:
    // a delivery that verifies is never limited.
    let Some((provider, verifier)) = provider
        .parse::<ProviderId>()
        .ok()
        .and_then(|id| Some((id, app.registry.get(id)?)))
    else {
        return refuse(
            app,
            peer,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("unknown provider: use one of {}", ProviderId::names()),
        );
    };
    let Some(repo) = app
        .config
        .repo(repo_name)
        .filter(|r| r.provider == provider)
    else {
        return refuse(
            app,
            peer,
            StatusCode::NOT_FOUND,
            "not_found",
            "no repo with this name is configured for this provider",
        );
    };
    let (parts, body) = request.into_parts();
    let limit = app.config.max_body_bytes;
    let announced = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        linger(body);
        return too_large(limit);
    }
    // One allocation of the announced size (bounded, so a lying header costs nothing).
    let capacity = announced.map_or(0, |n| n.min(limit).min(READ_RESERVE_MAX) as usize);
    let body = match read_limited(body, capacity, limit, app.config.header_read_timeout).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => return too_large(limit),
        Err(BodyError::Stalled) => {
            return respond::error(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                "the request body stopped arriving before it was complete",
            );
        }
        Err(BodyError::Broken) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "the request body could not be read completely",
            );
        }
    };
    let headers: Headers = parts
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
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
    // file lists are skipped unread: a push parses in about half the time.
    let event = match verifier.parse_with(&delivery, &PARSE_OPTIONS) {
        Ok(event) => event,
        Err(error) => {
            return respond::error(StatusCode::BAD_REQUEST, error.code(), error.to_string());
        }
    };
    accept(app, repo, &event, Trigger::Webhook).await
}

enum BodyError {
    TooLarge,
    Broken,
    Stalled,
}

/// Reads the whole body, or stops as soon as it passes `limit` (the rest is drained by
/// [`linger`] so the sender sees our 413 instead of a connection reset).
///
/// hyper's header-read timeout ends once the headers are in; without a timeout here, a body
/// announced but never sent (or a chunked body never terminated) would hold its connection
/// slot forever. Each piece of the body must arrive within `idle` of the previous one, and
/// the whole body within [`BODY_IDLE_ROUNDS`] times that.
async fn read_limited(
    mut body: Incoming,
    capacity: usize,
    limit: u64,
    idle: Duration,
) -> Result<Bytes, BodyError> {
    let started = tokio::time::Instant::now();
    let mut buffer = BytesMut::with_capacity(capacity);
    loop {
        let deadline = (tokio::time::Instant::now() + idle).min(started + idle * BODY_IDLE_ROUNDS);
        let Ok(next) = tokio::time::timeout_at(deadline, body.frame()).await else {
            return Err(BodyError::Stalled);
        };
        let Some(frame) = next else { break };
        let frame = frame.map_err(|_| BodyError::Broken)?;
        if let Ok(data) = frame.into_data() {
            if buffer.len() as u64 + data.len() as u64 > limit {
                linger(body);
                return Err(BodyError::TooLarge);
            }
            buffer.extend_from_slice(&data);
        }
    }
    Ok(buffer.freeze())
}

/// Reads and discards what the client still sends after an early answer, for a bounded time
/// and amount, as nginx's lingering close does: closing a socket with unread data makes the
/// kernel send a reset that can destroy our answer before the client reads it.
fn linger(mut body: Incoming) {
    const MAX_BYTES: u64 = 64 * 1024 * 1024;
    const MAX_TIME: Duration = Duration::from_secs(5);
    tokio::spawn(async move {
        let drain = async {
            let mut drained = 0u64;
            while let Some(Ok(frame)) = body.frame().await {
                drained += frame.data_ref().map_or(0, |d| d.len() as u64);
                if drained > MAX_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(MAX_TIME, drain).await;
    });
}

fn too_large(limit: u64) -> Response<Body> {
    respond::error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("the body is over the limit of {limit} bytes"),
    )
}

/// Turns a verified event into jobs and answers as CONTRACT.md says.
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

/// The 202 body (CONTRACT.md); fields in the order a JSON map would sort them.
#[derive(Serialize)]
struct QueuedAnswer<'a> {
    delivery_id: Option<&'a str>,
    job_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    job_ids: Option<&'a [String]>,
    status: &'static str,
}
