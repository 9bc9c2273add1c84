//! What a search returns.

use serde::Serialize;

/// One matching chunk.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    /// Repository name.
    pub repo: String,
    /// Full ref name.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The commit of the run that last wrote this file, when known.
    pub commit: Option<String>,
    /// Path relative to the tree root.
    pub path: String,
    /// First line of the chunk (1-based).
    pub start_line: u32,
    /// Last line of the chunk (inclusive).
    pub end_line: u32,
    /// Relevance (BM25 with boosts); only comparable within one result list.
    pub score: f32,
    /// The best-matching lines, each as `LINE: text`, joined by `\n`.
    pub snippet: String,
}

/// The hits of one query, best first; ties ordered by repo, ref, path, start line.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// Ranked hits.
    pub hits: Vec<Hit>,
}
