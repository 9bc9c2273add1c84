//! The delivery log over HTTP: `GET /webhooks/deliveries`, `GET /webhooks/deliveries/{id}`,
//! `POST /webhooks/deliveries/{id}/redeliver`; and the recording of every delivery the
//! webhook handlers answer.
//!
//! Recording happens after the answer is decided, through the app's
//! [`pipeline::deliveries::DeliveryRecorder`] (one writer task, a bounded queue): a slow or
//! failing log never delays or changes a delivery's answer (a failed or dropped write is
//! logged and counted in `context_gateway_delivery_log_write_failures_total`).

use std::collections::HashMap;
use std::net::SocketAddr;

use api_json::{DeliveryJson, DeliveryPageJson};
use hyper::{Response, StatusCode};
use jobstore::{DeliveryEntry, DeliveryFilter, DeliveryOutcome, LogId};
use pipeline::deliveries::{Accepted, Answer, DeliveryNote};
use webhook_core::Headers;

use super::manage::store_error;
use super::respond::{self, Body, ErrorCode};
use super::webhook;
use crate::app::App;
use gateway_config::RepoConfig;

/// Default and largest page of `GET /webhooks/deliveries`.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// `response` with what the delivery log records of an accepted (2xx) answer attached.
pub fn answered(
    mut response: Response<Body>,
    outcome: DeliveryOutcome,
    job_id: Option<String>,
    reason: Option<String>,
    repo: Option<&RepoConfig>,
) -> Response<Body> {
    response.extensions_mut().insert(Accepted {
        outcome,
        job_id,
        reason,
        repo: repo.map(|r| r.spec.name.clone()),
    });
    response
}

/// Records a delivery answered with `response`, without waiting for the log.
pub fn record(app: &App, note: DeliveryNote, response: &Response<Body>) {
    let answer = Answer {
        status: response.status().as_u16(),
        error: response
            .extensions()
            .get::<ErrorCode>()
            .map(|code| code.0.to_owned()),
        accepted: response.extensions().get::<Accepted>().cloned(),
    };
    app.recorder.record(note.finish(&answer));
}

/// Every entry written to the log passes here (the recorder's writer task calls it) and is
/// published as a `delivery` event of the live events stream, in the API's shape.
pub fn recorded(events: &events::Hub, entry: &DeliveryEntry) {
    events.publish_delivery(&DeliveryJson::new(entry));
}

/// `GET /webhooks/deliveries?limit=&cursor=&provider=&repo=&job=&outcome=`
pub async fn list(app: &App, query: &HashMap<String, String>) -> Response<Body> {
    let given = |name: &str| query.get(name).filter(|v| !v.is_empty()).cloned();
    let limit = match given("limit").map(|v| v.parse::<usize>()) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return respond::error(
                StatusCode::BAD_REQUEST,
                "bad_limit",
                format!("limit must be a whole number from 1 to {MAX_LIMIT}"),
            );
        }
    };
    let outcome = match given("outcome").map(|v| v.parse::<DeliveryOutcome>()) {
        None => None,
        Some(Ok(outcome)) => Some(outcome),
        Some(Err(error)) => {
            return respond::error(StatusCode::BAD_REQUEST, "bad_outcome", error.to_string());
        }
    };
    let filter = DeliveryFilter {
        provider: given("provider"),
        repo: given("repo"),
        job: given("job"),
        outcome,
    };
    let cursor = given("cursor");
    match app.deliveries.list(&filter, limit, cursor.as_deref()).await {
        Ok(page) => respond::json(StatusCode::OK, &DeliveryPageJson::new(&page)),
        Err(error @ jobstore::Error::InvalidCursor(_)) => {
            respond::error(StatusCode::BAD_REQUEST, "bad_cursor", error.to_string())
        }
        Err(error) => store_error(error),
    }
}

/// `GET /webhooks/deliveries/{id}`
pub async fn get(app: &App, id: &str) -> Response<Body> {
    let Ok(id) = id.parse::<LogId>() else {
        return unknown();
    };
    match app.deliveries.get(id).await {
        Ok(Some(entry)) => respond::json(StatusCode::OK, &DeliveryJson::new(&entry)),
        Ok(None) => unknown(),
        Err(error) => store_error(error),
    }
}

/// `POST /webhooks/deliveries/{id}/redeliver`: the kept headers and body through the webhook
/// handler's own path, answered as that delivery would be, and recorded as a new entry.
pub async fn redeliver(app: &App, peer: SocketAddr, id: &str) -> Response<Body> {
    let Ok(id) = id.parse::<LogId>() else {
        return unknown();
    };
    let entry = match app.deliveries.get(id).await {
        Ok(Some(entry)) => entry,
        Ok(None) => return unknown(),
        Err(error) => return store_error(error),
    };
    let kept = match app.deliveries.body(id).await {
        Ok(Some(kept)) => kept,
        Ok(None) => {
            return respond::error(
                StatusCode::CONFLICT,
                "body_not_kept",
                "this delivery's body was not kept ([deliveries] keep_bodies is off, the \
                 delivery did not verify, or its body_retention_secs passed), so it cannot be \
                 run again",
            );
        }
        Err(error) => return store_error(error),
    };
    let headers: Headers = kept
        .headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_slice()))
        .collect();
    let body = bytes::Bytes::from(kept.body);
    let provider = entry.record.provider;
    let path_repo = kept.path_repo.as_deref();
    let mut note = DeliveryNote::redelivery(id, &provider, path_repo);
    let response =
        webhook::replay(app, peer, &provider, path_repo, &headers, &body, &mut note).await;
    record(app, note, &response);
    response
}

fn unknown() -> Response<Body> {
    respond::not_found("no delivery with this id in the delivery log")
}
