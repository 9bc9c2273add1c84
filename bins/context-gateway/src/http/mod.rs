//! The HTTP side over raw hyper 1.x: accept loop, connection cap, timeouts, graceful shutdown.
//!
//! [`router`] holds the one route table and writes the access line; [`auth`] decides who may
//! use management; webhook deliveries are handled in [`webhook`], the management API in
//! [`manage`], search in [`search`], the MCP server for assistants in [`mcp`]; [`respond`] builds every JSON answer; [`write_deadline`]
//! frees the slots of clients that do not read.

pub mod auth;
pub mod changes;
pub mod job_json;
pub mod manage;
pub mod mcp;
pub mod read;
pub mod respond;
pub mod router;
pub mod search;
pub mod webhook;
pub mod write_deadline;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::App;

/// How long in-flight requests get to finish once shutdown starts.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// The kernel's send buffer per connection: with hyper's own buffer (64 KiB), the most answer
/// bytes a client that does not read can leave waiting.
const SEND_BUFFER_BYTES: usize = 64 * 1024;

/// Serves until shutdown starts (see [`App::begin_shutdown`]), then drains connections.
pub async fn serve(app: Arc<App>, listener: TcpListener) {
    let limit = Arc::new(Semaphore::new(app.config.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(app.config.header_read_timeout)
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    let sweeper = tokio::spawn(sweep_failures(app.clone()));
    let listen = listener.local_addr().unwrap_or(app.config.listen);
    let mcp = Arc::new(mcp::Mcp::new(app.clone(), listen));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = app.shutdown_started() => break,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // EMFILE and friends: back off instead of spinning; per-connection errors
                // (a reset before accept completed) are simply skipped.
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if app.is_shutting_down() {
            break;
        }
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection cap reached; closing the new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let _ = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER_BYTES);
        let io = TokioIo::new(write_deadline::WriteDeadline::new(
            stream,
            app.config.write_timeout,
        ));
        let (handler_app, handler_mcp) = (app.clone(), mcp.clone());
        let service = service_fn(move |request| {
            let (app, mcp) = (handler_app.clone(), handler_mcp.clone());
            async move { Ok::<_, Infallible>(router::route(app, &mcp, peer, request).await) }
        });
        let connection = builder.serve_connection(io, service);
        let watched = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = watched.await {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    sweeper.abort();
    tokio::select! {
        _ = graceful.shutdown() => tracing::info!("all connections drained"),
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("connections still open after {}s; closing them", DRAIN_TIMEOUT.as_secs()),
    }
}

/// Forgets, now and then, the clients whose failure budget has refilled.
async fn sweep_failures(app: Arc<App>) {
    let mut every = tokio::time::interval(crate::rate_limit::SWEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        app.failures.sweep();
    }
}

/// Whether the peer address is loopback (management without a token is allowed only there).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    match addr.ip() {
        std::net::IpAddr::V4(ip) => ip.is_loopback(),
        std::net::IpAddr::V6(ip) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}
