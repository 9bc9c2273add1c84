//! The gateway's HTTP side: the routes and handlers over `http_serve`'s accept loop
//! (connection cap, timeouts, graceful drain).
//!
//! [`router`] holds the one route table and writes the access line; [`auth`] decides who may
//! use management; webhook deliveries are handled in [`webhook`] and logged by [`deliveries`],
//! the management API in [`manage`], search in [`search`], the MCP server for assistants in
//! [`mcp`], the dashboard's static files in [`ui`], its login in [`session`] and its live
//! events in [`events`]; [`respond`] builds every JSON answer.

pub mod auth;
pub mod changes;
pub mod deliveries;
pub mod events;
pub mod manage;
pub mod mcp;
pub mod read;
pub mod respond;
pub mod router;
pub mod search;
pub mod session;
pub mod ui;
pub mod webhook;

use std::sync::Arc;

use http_serve::ConnectionLimits;
use tokio::net::TcpListener;

use crate::app::App;

/// Serves until shutdown starts (see [`App::begin_shutdown`]), then drains connections.
pub async fn serve(app: Arc<App>, listener: TcpListener) {
    let limits = ConnectionLimits {
        max_connections: app.config.max_connections,
        header_read_timeout: app.config.header_read_timeout,
        write_timeout: app.config.write_timeout,
    };
    let sweeper = {
        let app = app.clone();
        tokio::spawn(async move { app.failures.sweep_forever().await })
    };
    let follower = tokio::spawn(events::follow_ended_jobs(app.clone()));
    let listen = listener.local_addr().unwrap_or(app.config.listen);
    let mcp = Arc::new(mcp::Mcp::new(app.clone(), listen));
    let shutdown = {
        let app = app.clone();
        async move { app.shutdown_started().await }
    };
    let handle = move |peer, request| {
        let (app, mcp) = (app.clone(), mcp.clone());
        async move { router::route(app, &mcp, peer, request).await }
    };
    http_serve::serve_connections(listener, limits, shutdown, handle).await;
    sweeper.abort();
    follower.abort();
}
