//! Building answers: every answer is JSON except `/metrics` and event streams; every error has
//! one shape, `{"error": {"code": "...", "message": "..."}}`, and never carries internal details.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde::Serialize;
use serde_json::json;

/// Every answer's body: whole (`full`) or streamed (`/changes` as Server-Sent Events).
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::convert::Infallible>;

/// A body fed by a channel, one frame per message, ending when the sender is dropped.
#[derive(Debug)]
pub struct ChannelBody(pub tokio::sync::mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        self.0
            .poll_recv(cx)
            .map(|bytes| bytes.map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

/// A `text/event-stream` answer (`Cache-Control: no-cache`) sending what `events` receives,
/// until its sender is dropped.
pub fn event_stream(events: tokio::sync::mpsc::Receiver<Bytes>) -> Response<Body> {
    use http_body_util::BodyExt;
    let mut response = Response::new(ChannelBody(events).boxed());
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(
        hyper::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    response
}

/// A body of known bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    use http_body_util::BodyExt;
    Full::new(bytes.into()).boxed()
}

/// A JSON answer from a `Value` or straight from a serializable struct (the hot 202 body).
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(full(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The code of an error answer, kept in the response's extensions for the access log line.
#[derive(Debug, Clone)]
pub struct ErrorCode(pub &'static str);

/// An error answer with a snake_case code and a message for humans.
pub fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> Response<Body> {
    let mut response = json(
        status,
        &json!({"error": {"code": code, "message": message.into()}}),
    );
    response.extensions_mut().insert(ErrorCode(code));
    response
}

/// An error not yet turned into an answer: what the read handlers' shared functions return,
/// so the HTTP handlers answer it as JSON and the MCP tools as a tool error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The answer's status.
    pub status: StatusCode,
    /// The stable snake_case code.
    pub code: &'static str,
    /// The message for humans.
    pub message: String,
}

impl Failure {
    /// A failure with its status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
        }
    }

    /// A 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Failure::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    /// A 400 `bad_parameter` naming the parameter and what it accepts.
    pub fn bad_parameter(name: &str, accepts: &str) -> Self {
        Failure::new(
            StatusCode::BAD_REQUEST,
            "bad_parameter",
            format!("parameter `{name}`: {accepts}"),
        )
    }

    /// The error answer.
    pub fn into_response(self) -> Response<Body> {
        error(self.status, self.code, self.message)
    }
}

impl From<Failure> for Box<Response<Body>> {
    fn from(failure: Failure) -> Self {
        Box::new(failure.into_response())
    }
}

/// A 200 with `value`, or the failure's error answer.
pub fn reply<T: Serialize>(result: Result<T, Failure>) -> Response<Body> {
    match result {
        Ok(value) => json(StatusCode::OK, &value),
        Err(failure) => failure.into_response(),
    }
}

/// A 429 or 503 with `Retry-After` in whole seconds (at least 1).
pub fn retry_after(
    status: StatusCode,
    code: &'static str,
    message: &str,
    wait: Duration,
) -> Response<Body> {
    let mut response = error(status, code, message);
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// A 404 `not_found` answer naming what was not found.
pub fn not_found(what: &str) -> Response<Body> {
    error(StatusCode::NOT_FOUND, "not_found", what)
}

/// The answer when `max_in_flight` requests are already being answered.
pub fn overloaded() -> Response<Body> {
    retry_after(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "too many requests in flight; retry shortly",
        Duration::from_secs(1),
    )
}

/// The answer to a client whose failed or unauthenticated requests are over its budget.
pub fn rate_limited(wait: Duration) -> Response<Body> {
    retry_after(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many failed or unauthenticated requests from this address",
        wait,
    )
}
