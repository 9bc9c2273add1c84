//! `GET /changes`: pages of the change feed as JSON (with long-polling) or an open stream of
//! Server-Sent Events.
//!
//! Waiting is on the feed's watch channel (woken by every written entry), never a polling
//! loop; each wake re-reads one page on the blocking pool.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{HeaderMap, Response, StatusCode};
use indexer::RefKey;
use serde_json::json;
use tokio::sync::mpsc;

use super::read::{bad_parameter, feed_failed, ref_key};
use super::respond::{self, Body};
use crate::app::App;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 1000;
/// The longest long-poll a request may ask for (`wait`).
const MAX_WAIT_SECS: u64 = 60;

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
    let wait = Duration::from_secs(number("wait", 0, MAX_WAIT_SECS)?);
    Ok(ChangesRequest {
        key,
        cursor,
        limit,
        wait,
        sse,
    })
}

/// Reads one page on the blocking pool.
async fn read_page(
    app: &App,
    key: &RefKey,
    cursor: &feed::Cursor,
    limit: usize,
) -> Result<feed::Page, feed::FeedError> {
    let (feed, key, cursor) = (app.feed.clone(), key.clone(), cursor.clone());
    match tokio::task::spawn_blocking(move || feed.read(&key, &cursor, limit)).await {
        Ok(result) => result,
        Err(join) => Err(feed::FeedError::Interrupted(join.to_string())),
    }
}

/// Answers `GET /changes?repo=&ref=&since=&limit=&wait=`: a JSON page (long-polling up to
/// `wait`), or with `Accept: text/event-stream` an open stream of events.
pub async fn answer(
    app: &Arc<App>,
    params: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Response<Body> {
    let request = match parse(app, params, headers) {
        Ok(request) => request,
        Err(response) => return *response,
    };
    // Subscribed before the first read, so an entry written between a read and the wait
    // still wakes this request.
    let mut written = app.feed.subscribe();
    let page = match read_page(app, &request.key, &request.cursor, request.limit).await {
        Ok(page) => page,
        Err(error) => return feed_error(error),
    };
    if request.sse {
        return event_stream(app.clone(), request, page, written);
    }
    let deadline = tokio::time::Instant::now() + request.wait;
    let since = request.cursor.to_string();
    let mut page = page;
    while page.entries.is_empty() && page.next_cursor == since && !request.wait.is_zero() {
        tokio::select! {
            changed = written.changed() => if changed.is_err() { break },
            _ = tokio::time::sleep_until(deadline) => break,
            _ = app.shutdown_started() => break,
        }
        page = match read_page(app, &request.key, &request.cursor, request.limit).await {
            Ok(page) => page,
            Err(error) => return feed_error(error),
        };
    }
    respond::json(StatusCode::OK, &page)
}

/// How often an idle stream sends a comment, so proxies and clients see it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

fn entry_event(entry: &feed::Entry) -> String {
    let data = serde_json::to_string(entry).unwrap_or_default();
    format!("id: {}\nevent: entry\ndata: {data}\n\n", entry.cursor)
}

/// Waits until an entry is written (`true`), or the client, the gateway or the feed goes
/// (`false`), sending a keep-alive comment while idle.
async fn wait_for_write(
    app: &App,
    written: &mut tokio::sync::watch::Receiver<u64>,
    tx: &mpsc::Sender<Bytes>,
) -> bool {
    loop {
        tokio::select! {
            changed = written.changed() => return changed.is_ok(),
            _ = tokio::time::sleep(KEEP_ALIVE) => {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return false;
                }
            }
            _ = app.shutdown_started() => return false,
            _ = tx.closed() => return false,
        }
    }
}

/// The feed as Server-Sent Events: `entry` events with `id:` = the entry's cursor, a
/// `snapshot_end` event (its `id:` the cursor live entries continue from) when a snapshot
/// ends, a comment every 15 s while idle. The stream stays open until the client goes, the
/// gateway shuts down, or the cursor falls behind retention (an `error` event, then the end).
/// It holds one `max_in_flight` permit while open.
fn event_stream(
    app: Arc<App>,
    request: ChangesRequest,
    first: feed::Page,
    mut written: tokio::sync::watch::Receiver<u64>,
) -> Response<Body> {
    let Ok(permit) = app.in_flight.clone().try_acquire_owned() else {
        return respond::overloaded();
    };
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    tokio::spawn(async move {
        let _permit = permit;
        let mut cursor = request.cursor;
        let mut page = first;
        if tx
            .send(Bytes::from_static(b"retry: 1000\n\n"))
            .await
            .is_err()
        {
            return;
        }
        loop {
            let in_snapshot = !matches!(cursor, feed::Cursor::Live(_));
            let mut out = String::new();
            for entry in &page.entries {
                out.push_str(&entry_event(entry));
            }
            if in_snapshot && page.snapshot_end {
                let end = json!({"next_cursor": page.next_cursor});
                out.push_str(&format!(
                    "id: {}\nevent: snapshot_end\ndata: {end}\n\n",
                    page.next_cursor
                ));
            }
            if !out.is_empty() && tx.send(Bytes::from(out)).await.is_err() {
                return;
            }
            let next = feed::Cursor::parse(&page.next_cursor).unwrap_or(cursor.clone());
            let idle = page.entries.is_empty() && next == cursor;
            cursor = next;
            if idle && !wait_for_write(&app, &mut written, &tx).await {
                return;
            }
            page = match read_page(&app, &request.key, &cursor, request.limit).await {
                Ok(page) => page,
                Err(error) => {
                    let code = match error {
                        feed::FeedError::CursorExpired { .. } => "cursor_expired",
                        _ => "feed_unavailable",
                    };
                    tracing::warn!(%error, "change feed stream ended");
                    let data = json!({"error": {"code": code, "restart_cursor": "0"}});
                    let _ = tx
                        .send(Bytes::from(format!("event: error\ndata: {data}\n\n")))
                        .await;
                    return;
                }
            };
        }
    });
    respond::event_stream(rx)
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
