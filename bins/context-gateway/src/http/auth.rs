//! Who may call the management API (and the read API, `/mcp`, `/metrics`), and what a failed
//! attempt costs the caller.
//!
//! With `GATEWAY_TOKEN` set: `Authorization: Bearer <token>`, compared in constant time, or
//! a dashboard session cookie (`cg_session`, see [`super::session`]); a state-changing
//! request authenticated by cookie must carry its own `Origin`. Without it: direct loopback
//! clients only. A request that carries a proxy header
//! (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) came through a reverse proxy, whose loopback
//! address says nothing about the real client, so it is refused. Every refusal is charged to
//! the client's failure budget ([`http_serve::rate_limit`]); once that is spent the answer is 429.

use std::net::SocketAddr;

use http_serve::session::{COOKIE_NAME, cookie_value};
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, StatusCode};

use super::respond::{self, Body};
use crate::app::App;

/// Headers a reverse proxy adds; their presence means the peer address is the proxy's.
pub const PROXY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// How a request proved it may use management.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer <GATEWAY_TOKEN>`.
    Bearer,
    /// A dashboard session cookie (see [`super::session`]).
    Cookie,
    /// A direct loopback client, with no `GATEWAY_TOKEN` configured.
    Loopback,
}

impl Via {
    /// The name the dashboard's `GET /ui/session` shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Bearer => "bearer",
            Via::Cookie => "cookie",
            Via::Loopback => "loopback",
        }
    }
}

/// How the request authenticates, or why it does not (the 401's message). Nothing is charged.
pub fn authenticate<B>(
    app: &App,
    peer: SocketAddr,
    request: &Request<B>,
) -> Result<Via, &'static str> {
    let headers = request.headers();
    let Some(expected) = &app.token else {
        let proxied = PROXY_HEADERS.iter().any(|name| headers.contains_key(*name));
        if http_serve::is_loopback(&peer) && !proxied {
            return Ok(Via::Loopback);
        }
        return Err(if proxied {
            "without GATEWAY_TOKEN the management API answers direct loopback clients \
             only, and this request came through a proxy"
        } else {
            "management API is only open to loopback clients when GATEWAY_TOKEN is not set"
        });
    };
    let given = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match given {
        Some(token) if webhook_core::constant_time_eq(token.as_bytes(), expected) => {
            Ok(Via::Bearer)
        }
        Some(_) => Err("wrong bearer token"),
        None => match cookie_value(headers, COOKIE_NAME) {
            Some(id) if app.sessions.is_valid(id) => Ok(Via::Cookie),
            Some(_) => Err("the session has ended; log in again"),
            None => Err("missing `Authorization: Bearer <GATEWAY_TOKEN>` header"),
        },
    }
}

/// `Ok` when the request may use management; otherwise the 401 (or 429) to send, or a 403
/// `origin_mismatch` for a state-changing request that a browser could have been tricked
/// into sending: one authenticated by cookie without its own `Origin`, or a loopback one
/// whose `Origin` is another site's.
pub fn authorize<B>(
    app: &App,
    peer: SocketAddr,
    request: &Request<B>,
) -> Result<(), Box<hyper::Response<Body>>> {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let headers = request.headers();
    match authenticate(app, peer, request) {
        Ok(Via::Cookie) if changes_state && !app.sessions.same_origin(headers) => {
            Err(Box::new(origin_mismatch()))
        }
        Ok(Via::Loopback) if changes_state && app.sessions.foreign_origin(headers) => {
            Err(Box::new(origin_mismatch()))
        }
        Ok(_) => Ok(()),
        Err(refusal) => {
            let response = refuse(app, peer, StatusCode::UNAUTHORIZED, "unauthorized", refusal);
            Err(Box::new(response))
        }
    }
}

/// The 403 for a state-changing browser request from another origin.
pub fn origin_mismatch() -> hyper::Response<Body> {
    respond::error(
        StatusCode::FORBIDDEN,
        "origin_mismatch",
        "the Origin header must be this server's own origin for this request",
    )
}

/// Charges `peer` one failure and answers `status`, or 429 once its budget is spent.
pub fn refuse(
    app: &App,
    peer: SocketAddr,
    status: StatusCode,
    code: &'static str,
    message: impl Into<String>,
) -> hyper::Response<Body> {
    match app.failures.charge(peer.ip()) {
        Ok(()) => respond::error(status, code, message),
        Err(wait) => respond::rate_limited(wait),
    }
}
