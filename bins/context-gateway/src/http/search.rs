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
    let request = api_json::search_query(params)?;
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
            let freshness = super::read::freshness(app, &results.ref_keys()).await;
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
