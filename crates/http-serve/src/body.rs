//! Reading a request body whole, within a size limit and a time limit, and answering a body
//! that is too large, too slow or broken with the right status.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, HeaderMap};
use hyper::{Response, StatusCode};

use crate::respond::{self, Body};

/// A whole body must arrive within this many `idle` times.
pub const BODY_IDLE_ROUNDS: u32 = 6;

/// The most a body's announced length reserves up front; longer bodies grow as they arrive.
const READ_RESERVE_MAX: u64 = 1024 * 1024;

/// The whole body within the size and time limits, or the answer that says why not.
///
/// Each piece of the body must arrive within `idle` of the previous one, and the whole body
/// within [`BODY_IDLE_ROUNDS`] times that.
pub async fn read_body(
    headers: &HeaderMap,
    body: Incoming,
    limit: u64,
    idle: Duration,
) -> Result<Bytes, Box<Response<Body>>> {
    let announced = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit) {
        linger(body);
        return Err(Box::new(too_large(limit)));
    }
    // One allocation of the announced size (bounded, so a lying header costs nothing).
    let capacity = announced.map_or(0, |n| n.min(limit).min(READ_RESERVE_MAX) as usize);
    match read_limited(body, capacity, limit, idle).await {
        Ok(body) => Ok(body),
        Err(BodyError::TooLarge) => Err(Box::new(too_large(limit))),
        Err(BodyError::Stalled) => Err(Box::new(respond::error(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request body stopped arriving before it was complete",
        ))),
        Err(BodyError::Broken) => Err(Box::new(respond::error(
            StatusCode::BAD_REQUEST,
            "bad_body",
            "the request body could not be read completely",
        ))),
    }
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
