//! Who may call the management API (and the read API, `/mcp`, `/metrics`), and what a failed
//! attempt costs the caller.
//!
//! With `GATEWAY_TOKEN` set: `Authorization: Bearer <token>`, compared in constant time.
//! Without it: direct loopback clients only. A request that carries a proxy header
//! (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) came through a reverse proxy, whose loopback
//! address says nothing about the real client, so it is refused. Every refusal is charged to
//! the client's failure budget ([`http_serve::rate_limit`]); once that is spent the answer is 429.

use std::net::SocketAddr;

use hyper::header::AUTHORIZATION;
use hyper::{Request, StatusCode};

use super::respond::{self, Body};
use crate::app::App;

/// Headers a reverse proxy adds; their presence means the peer address is the proxy's.
pub const PROXY_HEADERS: [&str; 3] = ["forwarded", "x-forwarded-for", "x-real-ip"];

/// `Ok` when the request may use management; otherwise the 401 (or 429) to send.
pub fn authorize<B>(
    app: &App,
    peer: SocketAddr,
    request: &Request<B>,
) -> Result<(), Box<hyper::Response<Body>>> {
    let refusal = match &app.token {
        None => {
            let proxied = PROXY_HEADERS
                .iter()
                .any(|name| request.headers().contains_key(*name));
            if http_serve::is_loopback(&peer) && !proxied {
                return Ok(());
            }
            if proxied {
                "without GATEWAY_TOKEN the management API answers direct loopback clients \
                 only, and this request came through a proxy"
            } else {
                "management API is only open to loopback clients when GATEWAY_TOKEN is not set"
            }
        }
        Some(expected) => {
            let given = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| {
                    v.strip_prefix("Bearer ")
                        .or_else(|| v.strip_prefix("bearer "))
                });
            match given {
                Some(token) if webhook_core::constant_time_eq(token.as_bytes(), expected) => {
                    return Ok(());
                }
                Some(_) => "wrong bearer token",
                None => "missing `Authorization: Bearer <GATEWAY_TOKEN>` header",
            }
        }
    };
    let response = refuse(app, peer, StatusCode::UNAUTHORIZED, "unauthorized", refusal);
    Err(Box::new(response))
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
