//! `context-gateway`: signed Git-host webhooks in, durable jobs, an incremental code index
//! out, searchable over HTTP and from this CLI.
//!
//! This binary is wiring: verification and parsing live in `webhook-core`, the queue in
//! `jobstore`, change detection and chunking in `indexer`, the full-text engine in `search`,
//! the change feed in `feed`; repos, jobs and the background tasks in `pipeline`; metrics in
//! `metrics`; connection serving in `http-serve`; the API's shapes in `api-json`; the config
//! file's model and checks in `gateway-config`; the HTTP client of `changes` and `cat` in
//! `client`. What stays here: the CLI, loading the config, the route table, thin handlers
//! and the wiring. See docs/ARCHITECTURE.md for the map.

mod app;
mod cli;
mod http;

use std::process::ExitCode;

use clap::Parser;

/// jemalloc, with its decay settings baked in at build time (.cargo/config.toml): freed
/// memory goes back to the kernel within about a second, without any run-time tuning.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}
