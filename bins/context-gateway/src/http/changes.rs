//! `GET /changes`: pages of the change feed as JSON or Server-Sent Events, with long-polling.
//!
//! The wait is on the feed's watch channel (woken by every written entry), never a polling
//! loop; each wake re-reads one page on the blocking pool.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::{HeaderMap, Response, StatusCode};
use indexer::RefKey;
use serde_json::json;

use super::read::{bad_parameter, feed_failed, ref_key};
use super::respond::{self, Body};
use crate::app::App;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// The longest long-poll a request may ask for (`wait`).
const MAX_WAIT_SECS: u64 = 60;
/// The wait of an event-stream request that names none (an `EventSource` sends no `wait`).
const SSE_DEFAULT_WAIT_SECS: u64 = 30;

struct ChangesRequest {
    key: RefKey,
    cursor: feed::Cursor,
    limit: usize,
    wait: Duration,
    sse: bool,
}

fn parse(
    app: &App,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<ChangesRequest, Box<Response<Body>>> {
    let key = ref_key(app, params)?;
    let sse = headers
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    // An EventSource resumes with Last-Event-ID: it wins over `since`.
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| sse && !v.is_empty());
    let (name, since) = match last_event_id {
        Some(id) => ("Last-Event-ID", id),
        None => ("since", params.get("since").map_or("0", String::as_str)),
    };
    let since = if since.is_empty() { "0" } else { since };
    let cursor =
        feed::Cursor::parse(since).map_err(|e| Box::new(bad_parameter(name, &e.to_string())))?;
    let number = |name: &str, default: u64, max: u64| -> Result<u64, Box<Response<Body>>> {
        match params.get(name).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(text) => text
                .parse::<u64>()
                .ok()
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    Box::new(bad_parameter(
                        name,
                        &format!("a whole number from 0 to {max}"),
                    ))
                }),
        }
    };
    let limit = number("limit", DEFAULT_LIMIT as u64, MAX_LIMIT as u64)?.max(1) as usize;
    let default_wait = if sse { SSE_DEFAULT_WAIT_SECS } else { 0 };
    let wait = Duration::from_secs(number("wait", default_wait, MAX_WAIT_SECS)?);
    Ok(ChangesRequest {
        key,
        cursor,
        limit,
        wait,
        sse,
    })
}

/// Answers `GET /changes?repo=&ref=&since=&limit=&wait=`.
pub async fn answer(
    app: &App,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response<Body> {
    let request = match parse(app, params, headers) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    let deadline = tokio::time::Instant::now() + request.wait;
    // Subscribed before the first read, so an entry written between the read and the wait
    // still wakes this request.
    let mut written = app.feed.subscribe();
    let since = request.cursor.to_string();
    let page = loop {
        let (feed, key, cursor, limit) = (
            app.feed.clone(),
            request.key.clone(),
            request.cursor.clone(),
            request.limit,
        );
        let page = match tokio::task::spawn_blocking(move || feed.read(&key, &cursor, limit)).await
        {
            Ok(Ok(page)) => page,
            Ok(Err(error)) => return feed_error(error),
            Err(_) => return feed_failed("the read was interrupted"),
        };
        let moved = !page.entries.is_empty() || page.next_cursor != since;
        if moved || request.wait.is_zero() {
            break page;
        }
        tokio::select! {
            changed = written.changed() => if changed.is_err() { break page },
            _ = tokio::time::sleep_until(deadline) => break page,
            _ = app.shutdown_started() => break page,
        }
    };
    if request.sse {
        event_stream(&page)
    } else {
        respond::json(StatusCode::OK, &page)
    }
}

/// One page as Server-Sent Events: each entry an `entry` event with `id:` = its cursor, then a
/// `page` event with `id:` = `next_cursor`. The answer ends after the page; an `EventSource`
/// reconnects (after `retry:` ms) with `Last-Event-ID` and gets the next page.
fn event_stream(page: &feed::Page) -> Response<Body> {
    let mut out = String::from("retry: 250\n\n");
    for entry in &page.entries {
        let data = serde_json::to_string(entry).unwrap_or_default();
        out.push_str(&format!(
            "id: {}\nevent: entry\ndata: {data}\n\n",
            entry.cursor
        ));
    }
    let end = json!({"next_cursor": page.next_cursor, "snapshot_end": page.snapshot_end});
    out.push_str(&format!(
        "id: {}\nevent: page\ndata: {end}\n\n",
        page.next_cursor
    ));
    let mut response = Response::new(Full::new(Bytes::from(out)));
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn feed_error(error: feed::FeedError) -> Response<Body> {
    let restart = match &error {
        feed::FeedError::CursorExpired { restart, .. } => restart.clone(),
        feed::FeedError::CursorAhead { .. } => feed::Cursor::Start.to_string(),
        other => {
            tracing::error!(error = %other, "change feed read failed");
            return feed_failed("the change feed could not be read; see the server log");
        }
    };
    let mut response = respond::json(
        StatusCode::GONE,
        &json!({"error": {
            "code": "cursor_expired",
            "message": error.to_string(),
            "restart_cursor": restart,
        }}),
    );
    response
        .extensions_mut()
        .insert(respond::ErrorCode("cursor_expired"));
    response
}
