//! Code-aware full-text search over indexed chunks, on tantivy.
//!
//! A [`SearchIndex`] receives the indexer's change sets as an [`indexer::IndexSink`] (one
//! document per chunk) and answers [`Query`]s: words and `"quoted phrases"` matched the way
//! code is read (`parseHttpRequest`, `parse_http_request` and `ParseHTTPRequest` all match
//! `parse http request`; `parsing` matches `parse`), ranked by BM25 times the share of the
//! query's words a chunk has, with boosts for declarations and paths (a query answers
//! nothing only when none of its words occurs), filtered by repo, ref and path prefix or
//! glob, each hit with a line-numbered snippet, optionally grouped by file. A bare
//! identifier such as `assertEqual` is looked up as one term (its parts joined, the same for
//! every naming style) and only falls back to the phrase of its parts when that finds fewer
//! hits than asked for. The on-disk format is versioned ([`INDEX_FORMAT`]); an index in an
//! older format is rebuilt from its stored chunks when opened read-write. [`SearchResults`]
//! display as the plain-text listing the CLI prints.
//!
//! ```
//! use indexer::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, RefKey};
//! use search::{Query, SearchIndex};
//!
//! let index = SearchIndex::open_in_memory()?;
//! let key = RefKey::new("hello", "refs/heads/main");
//! let text = "fn parse_http_request(raw: &[u8]) -> Request {\n    todo_later(raw)\n}\n";
//! index.stage(&ChangeSet {
//!     key: key.clone(),
//!     commit: Some("abc123".into()),
//!     upserts: vec![FileUpdate {
//!         path: "src/http.rs".into(),
//!         hash: "h".into(),
//!         size: text.len() as u64,
//!         chunks: vec![Chunk { id: ChunkId("c1".into()), start_line: 1, end_line: 3, text: text.into() }],
//!     }],
//!     deletes: vec![],
//!     delta: ChunkDelta::default(),
//! })?;
//! index.commit_ref(&key)?; // searchable once this returns
//!
//! let results = index.search(&Query::new("ParseHTTPRequest"))?;
//! assert_eq!(results.hits[0].path, "src/http.rs");
//! assert_eq!(results.hits[0].snippet.lines().next(), Some("1: fn parse_http_request(raw: &[u8]) -> Request {"));
//! # Ok::<(), search::Error>(())
//! ```
//!
//! Architecture invariants: no tokio and no HTTP here (the sink's methods block the caller's
//! thread for their work); tantivy's query syntax is never exposed (queries are built from
//! tokens by this crate); only a commit makes anything visible or durable.

#![deny(missing_docs)]

mod coverage;
mod declarations;
mod error;
mod exact;
mod format;
mod grams;
mod hit;
mod index;
mod listing;
mod path_filter;
mod query;
mod schema;
mod sink;
mod snippet;
mod staging;
mod tokenizer;

pub use error::Error;
pub use exact::{MatchRange, Mode};
pub use format::INDEX_FORMAT;
pub use hit::{ChunkHit, Hit, SearchResults};
pub use index::SearchIndex;
pub use query::{
    DEFAULT_BUDGET, DEFAULT_LIMIT, Grouping, MAX_LIMIT, MAX_QUERY_BYTES, MAX_QUERY_CLAUSES, Query,
};
pub use tokenizer::{CodeTokenStream, CodeTokenizer, index_terms};
