//! `GET /webhooks/events`: the live events of [`events::Hub`] as Server-Sent Events, and the
//! task that turns ended jobs into `repo` events.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{HeaderMap, Response};
use tokio::sync::mpsc;

use super::read::repo_json_of;
use super::respond::{self, Body};
use crate::app::App;
use events::Kind;

/// How often an idle stream sends a comment, so proxies and clients see it is alive.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// How many chunks of events wait for a client that reads slowly; past this the stream stops
/// taking events from the hub, and the hub resets it once it falls [`events::QUEUE`] behind.
const CLIENT_QUEUE: usize = 16;

/// The stream: `retry: 2000` at once, then the events after `Last-Event-ID` (or a `reset`
/// when that id is no longer buffered, or is not a number this process gave), then live
/// events, with a `: keep-alive` comment every 15 s while idle. It ends when the client goes
/// or the gateway shuts down.
pub fn stream(app: &Arc<App>, headers: &HeaderMap) -> Response<Body> {
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        // An id that is not ours is answered like one from another process: a reset.
        .map(|v| v.parse::<u64>().unwrap_or(u64::MAX));
    let mut subscription = app.events.subscribe(last_id);
    let (tx, rx) = mpsc::channel::<Bytes>(CLIENT_QUEUE);
    let app = app.clone();
    tokio::spawn(async move {
        let mut first = String::from("retry: 2000\n\n");
        for event in subscription.backlog() {
            first.push_str(&event.to_sse());
        }
        if tx.send(Bytes::from(first)).await.is_err() {
            return;
        }
        loop {
            let chunk = tokio::select! {
                event = subscription.next() => match event {
                    Some(event) => Bytes::from(event.to_sse()),
                    None => return,
                },
                () = tokio::time::sleep(KEEP_ALIVE) => Bytes::from_static(b": keep-alive\n\n"),
                () = app.shutdown_started() => return,
                () = tx.closed() => return,
            };
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    });
    respond::event_stream(rx)
}

/// Publishes a `repo` event (the repo's entry of `GET /repos`) each time a job of it ends.
/// Runs until the hub is gone; ends at once if another task already follows it.
pub async fn follow_ended_jobs(app: Arc<App>) {
    let Some(mut ended) = app.events.ended_repos() else {
        return;
    };
    while let Some(repo) = ended.recv().await {
        // Several jobs of one repo ending together make one event.
        let mut repos = vec![repo];
        while let Ok(more) = ended.try_recv() {
            if !repos.contains(&more) {
                repos.push(more);
            }
        }
        for repo in repos {
            match repo_json_of(&app, &repo).await {
                Ok(value) => {
                    app.events.publish(Kind::Repo, &value);
                }
                Err(failure) => {
                    tracing::debug!(repo, message = failure.message, "no repo event");
                }
            }
        }
    }
}
