//! `/mcp`: a Model Context Protocol server over Streamable HTTP for AI assistants, built on the
//! official Rust SDK (`rmcp`). The router hands `/mcp` requests here after the management
//! auth rule has passed; this module refuses a foreign `Origin` and passes the rest to rmcp's
//! Streamable HTTP service, which speaks both protocol eras (sessions for clients that
//! initialize, stateless requests for `2026-07-28` clients).
//!
//! The tools are read-only and run the same code as the HTTP read API: `search_code` is
//! [`search::run`] (`/search`), `read_file` [`read::file_json`] (`/files`), `list_repos` and
//! `index_status` [`read::repos_json`] and [`read::repo_json_of`] (`/repos`), and
//! `changes_since` the `/changes` handler itself (one page, no waiting). What the endpoint
//! would answer with a 4xx/5xx becomes a tool error (`isError: true`) carrying the same code
//! and message, never a transport failure.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, ORIGIN};
use hyper::{Request, Response, StatusCode};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde_json::Value;

use super::respond::{self, Body, Failure};
use super::{changes, read, search};
use crate::app::App;

/// The Streamable HTTP service that answers `/mcp`, with the address it listens on (an
/// `Origin` naming that address is the gateway's own).
#[derive(Clone)]
pub struct Mcp {
    service: StreamableHttpService<Tools, LocalSessionManager>,
    listen: SocketAddr,
}

impl Mcp {
    /// The service for `app`, listening on `listen`. Open sessions and streams end when
    /// shutdown starts.
    pub fn new(app: Arc<App>, listen: SocketAddr) -> Self {
        // The gateway's own auth rule and the Origin check below guard `/mcp`; the `Host`
        // header is not checked, so the gateway may be reached under any name.
        let config = StreamableHttpServerConfig::default().disable_allowed_hosts();
        let (cancel, shutdown_app) = (config.cancellation_token.clone(), app.clone());
        tokio::spawn(async move {
            shutdown_app.shutdown_started().await;
            cancel.cancel();
        });
        let service = StreamableHttpService::new(
            move || Ok(Tools::new(app.clone())),
            Arc::new(LocalSessionManager::default()),
            config,
        );
        Mcp { service, listen }
    }

    /// Answers one `/mcp` request (already authorized).
    pub async fn answer(&self, request: Request<Incoming>) -> Response<Body> {
        if let Err(message) = check_origin(request.headers(), self.listen) {
            return respond::error(StatusCode::FORBIDDEN, "forbidden_origin", message);
        }
        self.service.handle(request).await
    }
}

/// A request without `Origin` (assistants and CLIs) passes; a browser's `Origin` must name a
/// loopback host or the address the gateway listens on, so a web page elsewhere cannot drive
/// the tools through a visitor's browser.
fn check_origin(headers: &HeaderMap, listen: SocketAddr) -> Result<(), String> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let refused = || {
        format!(
            "requests from origin `{}` are not accepted on /mcp: only loopback origins and \
             the gateway's own address are",
            String::from_utf8_lossy(origin.as_bytes()).escape_debug()
        )
    };
    let text = origin.to_str().map_err(|_| refused())?;
    let authority = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .ok_or_else(refused)?;
    let authority: hyper::http::uri::Authority = authority.parse().map_err(|_| refused())?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| http_serve::is_loopback(&SocketAddr::new(ip, 0)));
    let own = host.parse::<std::net::IpAddr>().is_ok_and(|ip| {
        !listen.ip().is_unspecified()
            && ip == listen.ip()
            && authority.port_u16() == Some(listen.port())
    });
    if loopback || own {
        Ok(())
    } else {
        Err(refused())
    }
}

/// `search_code`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SearchCodeArgs {
    /// What to look for: words, identifiers or a phrase (ranked keyword search over code).
    pub query: String,
    /// Only this repo (a name from `list_repos`).
    pub repo: Option<String>,
    /// Only this ref: a branch name such as `main` or a full ref name.
    #[serde(rename = "ref")]
    #[schemars(rename = "ref")]
    pub git_ref: Option<String>,
    /// Only paths starting with this prefix, such as `src/`.
    pub path: Option<String>,
    /// How many hits to return (default 10).
    pub limit: Option<u32>,
}

/// `read_file`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ReadFileArgs {
    /// The repo's name (from `list_repos` or a search hit).
    pub repo: String,
    /// The file's path in the repo, such as `src/lib.rs`.
    pub path: String,
    /// The ref to read at; may be left out when the repo has one indexed ref.
    #[serde(rename = "ref")]
    #[schemars(rename = "ref")]
    pub git_ref: Option<String>,
    /// First line to return (from 1; default 1).
    pub start_line: Option<u32>,
    /// Last line to return (default: the end of the file).
    pub end_line: Option<u32>,
}

/// `index_status`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct IndexStatusArgs {
    /// The repo's name.
    pub repo: String,
    /// Only this ref (a branch name or a full ref name); all of the repo's refs when left out.
    #[serde(rename = "ref")]
    #[schemars(rename = "ref")]
    pub git_ref: Option<String>,
}

/// `changes_since`'s arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ChangesSinceArgs {
    /// The repo's name.
    pub repo: String,
    /// The ref: a branch name such as `main` or a full ref name.
    #[serde(rename = "ref")]
    #[schemars(rename = "ref")]
    pub git_ref: String,
    /// The `next_cursor` of the previous answer; `0` or left out starts with a snapshot of
    /// the ref's current chunks.
    pub cursor: Option<String>,
    /// Instead of a cursor: the full commit id the caller already holds the ref at; the page
    /// starts right after the feed's entry for that commit.
    pub commit: Option<String>,
    /// At most this many entries (default 100).
    pub limit: Option<u32>,
}

/// The tools one MCP session (or one stateless request) sees.
#[derive(Clone)]
pub struct Tools {
    app: Arc<App>,
    tool_router: ToolRouter<Self>,
}

/// Parameters in the shape the HTTP handlers read them, leaving out absent ones.
fn params<const N: usize>(pairs: [(&str, Option<String>); N]) -> HashMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_string(), v)))
        .collect()
}

/// A shared function's answer as a tool result: its JSON, or a tool error with the code and
/// message the endpoint would answer.
fn tool_result(result: Result<Value, Failure>) -> CallToolResult {
    match result {
        Ok(value) => CallToolResult::structured(value),
        Err(failure) => tool_error(format!("{}: {}", failure.code, failure.message)),
    }
}

/// An HTTP answer as a tool result (for `/changes`, whose handler also streams): its JSON on
/// success, else a tool error with its code, message and, for an expired cursor, where to
/// restart.
async fn response_result(response: Response<Body>) -> CallToolResult {
    let status = response.status();
    let bytes = match response.into_body().collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(never) => match never {},
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        return CallToolResult::structured(value);
    }
    let error = &value["error"];
    let code = error["code"].as_str().unwrap_or("error");
    let message = error["message"].as_str().unwrap_or("the request failed");
    match error["restart_cursor"].as_str() {
        Some(restart) => tool_error(format!(
            "{code}: {message}; start again with cursor `{restart}`"
        )),
        None => tool_error(format!("{code}: {message}")),
    }
}

fn tool_error(message: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message)])
}

#[tool_router]
impl Tools {
    fn new(app: Arc<App>) -> Self {
        Tools {
            app,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "Search the indexed code of the gateway's Git repos. Returns ranked hits, \
                       each with repo, ref, the commit it was read at, path, start/end line, \
                       score and a snippet, plus how fresh each repo in the hits is. Use \
                       read_file to see more of a hit's file.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn search_code(
        &self,
        Parameters(args): Parameters<SearchCodeArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let query = params([
            ("q", Some(args.query)),
            ("repo", args.repo),
            ("ref", args.git_ref),
            ("path", args.path),
            ("limit", args.limit.map(|n| n.to_string())),
        ]);
        let found = search::run(&self.app, &query).await;
        Ok(tool_result(found.map(|found| {
            serde_json::to_value(found.answer()).unwrap_or(Value::Null)
        })))
    }

    #[tool(
        description = "Read an indexed file's text at the commit the index holds, whole or a \
                       line range. Answers the text with its commit, start/end line and total \
                       lines; lines withheld for holding a secret are listed in `withheld`.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn read_file(
        &self,
        Parameters(args): Parameters<ReadFileArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let query = params([
            ("ref", args.git_ref),
            ("start_line", args.start_line.map(|n| n.to_string())),
            ("end_line", args.end_line.map(|n| n.to_string())),
        ]);
        let file = read::file_json(&self.app, &args.repo, &args.path, &query).await;
        Ok(tool_result(file))
    }

    #[tool(
        description = "List every repo the gateway indexes with its refs and how fresh each is: \
                       the indexed commit, the newest commit heard of, whether it is up to date, \
                       lag in seconds, files and chunks indexed, the last job and last error.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn list_repos(&self) -> Result<CallToolResult, ErrorData> {
        Ok(tool_result(read::repos_json(&self.app).await))
    }

    #[tool(
        description = "Index status of one repo (or one of its refs): indexed commit, newest \
                       commit heard of, up_to_date, lag, files and chunks, last job, last error.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn index_status(
        &self,
        Parameters(args): Parameters<IndexStatusArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let status = read::repo_json_of(&self.app, &args.repo).await;
        let Some(git_ref) = args.git_ref else {
            return Ok(tool_result(status));
        };
        // Narrowed to the one ref asked for.
        let wanted = pipeline::full_ref(&git_ref);
        let narrowed = status.and_then(|mut value| {
            let refs = value["refs"].as_array().cloned().unwrap_or_default();
            let found = refs
                .into_iter()
                .find(|r| r["ref"] == wanted.as_str())
                .ok_or_else(|| {
                    Failure::not_found(format!(
                        "`{}` has no ref `{wanted}` indexed or queued",
                        args.repo.escape_debug()
                    ))
                })?;
            value["refs"] = Value::Array(vec![found]);
            Ok(value)
        });
        Ok(tool_result(narrowed))
    }

    #[tool(
        description = "The change feed of one ref: an ordered page of entries after `cursor`, \
                       each an indexed commit's effect (chunks removed by id, chunks added with \
                       path, lines and text), and `next_cursor` to pass next time. Instead of \
                       a cursor, `commit` (a full id the caller already has) starts right \
                       after that commit's entry. With neither, the page starts with a \
                       snapshot of the ref's current chunks.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn changes_since(
        &self,
        Parameters(args): Parameters<ChangesSinceArgs>,
    ) -> Result<CallToolResult, ErrorData> {
        let mut since = args.cursor;
        if let (None, Some(commit)) = (&since, &args.commit) {
            let which = params([
                ("repo", Some(args.repo.clone())),
                ("ref", Some(args.git_ref.clone())),
            ]);
            let key = match read::ref_key(&self.app, &which) {
                Ok(key) => key,
                Err(answer) => return Ok(response_result(*answer).await),
            };
            let (feed, wanted) = (self.app.feed.clone(), commit.clone());
            let found =
                tokio::task::spawn_blocking(move || feed.cursor_after_commit(&key, &wanted)).await;
            since = match found {
                Ok(Ok(Some(cursor))) => Some(cursor),
                Ok(Ok(None)) => {
                    return Ok(tool_error(format!(
                        "commit_not_in_feed: no retained entry of {} indexed {commit} (never \
                         indexed, or older than the feed's retention); start from cursor 0 \
                         for a snapshot",
                        args.git_ref
                    )));
                }
                Ok(Err(error)) => return Ok(tool_error(format!("feed_unavailable: {error}"))),
                Err(error) => return Ok(tool_error(format!("feed_unavailable: {error}"))),
            };
        }
        let query = params([
            ("repo", Some(args.repo)),
            ("ref", Some(args.git_ref)),
            ("since", since),
            ("limit", args.limit.map(|n| n.to_string())),
        ]);
        let answer = changes::answer(&self.app, &query, &HeaderMap::new()).await;
        Ok(response_result(answer).await)
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Tools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(
                "context-gateway",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Read-only access to a code index kept in sync with Git pushes. Find code with \
                 search_code, read it with read_file, and check freshness with list_repos or \
                 index_status; changes_since follows what each push changed.",
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn origin(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn loopback_and_own_origins_pass_others_are_refused() {
        let listen: SocketAddr = "10.1.2.3:8080".parse().unwrap();
        assert!(check_origin(&HeaderMap::new(), listen).is_ok());
        for ok in [
            "http://localhost:3000",
            "http://127.0.0.1",
            "https://[::1]:9",
            "http://10.1.2.3:8080",
        ] {
            assert!(check_origin(&origin(ok), listen).is_ok(), "{ok}");
        }
        for bad in [
            "https://evil.example",
            "http://10.1.2.3:9999",
            "null",
            "http://localhost.evil.example",
            "file://",
        ] {
            let message = check_origin(&origin(bad), listen).unwrap_err();
            assert!(message.contains("not accepted"), "{bad}: {message}");
        }
        // An unspecified listen address is never an origin of its own.
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert!(check_origin(&origin("http://0.0.0.0:8080"), any).is_err());
    }
}
