//! Serving HTTP/1.1 on raw hyper without knowing the routes: the accept loop with a connection
//! cap, header-read and write deadlines and a graceful drain ([`serve_connections`]), a keyed
//! limiter for clients whose requests fail ([`FailureLimiter`]), bodies read whole within a
//! size and a time limit ([`body`]), percent-decoded query strings ([`query`]), one JSON
//! shape for every answer and error ([`respond`]), and a static site served from memory
//! with hashed asset paths and a strict CSP ([`assets`]) with its login sessions and Origin
//! check ([`session`]).
//!
//! The crate knows nothing of webhooks, jobs or the gateway's routes: the caller hands
//! [`serve_connections`] one async function from (peer, request) to response.
//!
//! ```no_run
//! use http_serve::{ConnectionLimits, respond, serve_connections};
//! use hyper::StatusCode;
//! use std::time::Duration;
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let limits = ConnectionLimits {
//!     max_connections: 1024,
//!     header_read_timeout: Duration::from_secs(10),
//!     write_timeout: Duration::from_secs(15),
//! };
//! let stop = async { let _ = tokio::signal::ctrl_c().await; };
//! serve_connections(listener, limits, stop, |_peer, _request| async {
//!     respond::json(StatusCode::OK, &serde_json::json!({"ok": true}))
//! })
//! .await;
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

pub mod assets;
pub mod body;
pub mod query;
pub mod rate_limit;
pub mod respond;
mod serve;
pub mod session;
pub mod write_deadline;

pub use rate_limit::FailureLimiter;
pub use serve::{ConnectionLimits, is_loopback, serve_connections};
pub use write_deadline::WriteDeadline;
