//! `GET /search`: parses the parameters, runs the query off the async runtime, and shapes
//! the answer. The JSON shape of a hit is `api_json::HitJson` (the `search` crate knows nothing
//! of JSON); `context-gateway search --json` prints the same hits. [`run`] does the work for
//! both `/search` and the MCP tool `search_code`.

use std::collections::HashMap;
use std::time::Instant;

use hyper::{Response, StatusCode};
use serde::Serialize;

use api_json::{HitJson, hits_json};

use super::respond::{self, Body, Failure};
use crate::app::App;

/// An answer to `/search` (and `search_code`).
#[derive(Serialize)]
pub struct Answer<'a> {
    hits: Vec<HitJson<'a>>,
    took_ms: u64,
    partial: bool,
    /// For each (repo, ref) in the hits: what is indexed and how far behind it is.
    freshness: &'a [serde_json::Value],
}

/// The longest time budget a request may ask for (`timeout_ms`).
const MAX_TIMEOUT_MS: u64 = 10_000;

fn bad_parameter(name: &str, accepts: &str) -> Failure {
    Failure::bad_parameter(name, accepts)
}

/// A search request from the query string, or the 400 that says which parameter is wrong.
fn parse(params: &HashMap<String, String>) -> Result<search::Query, Failure> {
    let Some(text) = params.get("q").filter(|q| !q.trim().is_empty()) else {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "missing_query",
            "give the query as ?q=...",
        ));
    };
    let non_empty = |key: &str| params.get(key).filter(|v| !v.is_empty());
    let limit = match non_empty("limit") {
        None => search::DEFAULT_LIMIT,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if n >= 1 => n.min(search::MAX_LIMIT),
            _ => {
                return Err(Failure::new(
                    StatusCode::BAD_REQUEST,
                    "bad_limit",
                    format!(
                        "limit must be a whole number from 1 to {}",
                        search::MAX_LIMIT
                    ),
                ));
            }
        },
    };
    let group = match non_empty("group").map(String::as_str) {
        None | Some("chunk") => search::Grouping::Chunk,
        Some("file") => search::Grouping::File,
        Some(_) => return Err(bad_parameter("group", "`chunk` or `file`")),
    };
    let mode = match non_empty("mode").map(String::as_str) {
        None | Some("lexical") => search::Mode::Lexical,
        Some("literal") => search::Mode::Literal,
        Some("regex") => search::Mode::Regex,
        Some(_) => {
            return Err(bad_parameter("mode", "`lexical`, `literal` or `regex`"));
        }
    };
    let case_sensitive = match non_empty("case").map(String::as_str) {
        None | Some("yes") => true,
        Some("no") => false,
        Some(_) => return Err(bad_parameter("case", "`yes` or `no`")),
    };
    let budget = match non_empty("timeout_ms") {
        None => None,
        Some(text) => match text.parse::<u64>() {
            Ok(ms) if (1..=MAX_TIMEOUT_MS).contains(&ms) => {
                Some(std::time::Duration::from_millis(ms))
            }
            _ => {
                return Err(bad_parameter(
                    "timeout_ms",
                    &format!("a whole number of milliseconds from 1 to {MAX_TIMEOUT_MS}"),
                ));
            }
        },
    };
    Ok(search::Query {
        text: text.clone(),
        repo: non_empty("repo").cloned(),
        git_ref: non_empty("ref").cloned(),
        path: non_empty("path").cloned(),
        limit,
        group,
        mode,
        case_sensitive,
        budget,
    })
}

/// A search that ran: the request, its results, how long it took and the hits' freshness.
pub struct Found {
    request: search::Query,
    results: search::SearchResults,
    took_ms: u64,
    freshness: Vec<serde_json::Value>,
}

impl Found {
    /// The answer in the API shape.
    pub fn answer(&self) -> Answer<'_> {
        Answer {
            hits: hits_json(&self.results, &self.request),
            took_ms: self.took_ms,
            partial: self.results.partial,
            freshness: &self.freshness,
        }
    }
}

/// Answers `GET /search?q=…&repo=&ref=&path=&limit=&group=&mode=&case=&timeout_ms=`.
pub async fn answer(app: &App, params: &HashMap<String, String>) -> Response<Body> {
    match run(app, params).await {
        Ok(found) => respond::json(StatusCode::OK, &found.answer()),
        Err(failure) => failure.into_response(),
    }
}

/// Parses the parameters and runs the search off the async runtime.
pub async fn run(app: &App, params: &HashMap<String, String>) -> Result<Found, Failure> {
    let request = parse(params)?;
    let started = Instant::now();
    let index = app.search.clone();
    let result = tokio::task::spawn_blocking(move || {
        let results = index.search(&request);
        (request, results)
    })
    .await;
    let took_ms = started.elapsed().as_millis() as u64;
    match result {
        Ok((request, Ok(results))) => {
            let mut keys: Vec<indexer::RefKey> = results
                .hits
                .iter()
                .map(|h| indexer::RefKey::new(&h.repo, &h.git_ref))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let freshness = super::read::freshness(app, &keys).await;
            Ok(Found {
                request,
                results,
                took_ms,
                freshness,
            })
        }
        Ok((_, Err(search::Error::BadQuery { reason }))) => {
            Err(Failure::new(StatusCode::BAD_REQUEST, "bad_query", reason))
        }
        Ok((_, Err(error))) => {
            tracing::error!(%error, "search failed");
            Err(Failure::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "search_failed",
                "the search could not be run; see the server log",
            ))
        }
        Err(_) => Err(Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "search_failed",
            "the search was interrupted",
        )),
    }
}
