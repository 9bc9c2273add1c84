//! The change feed: a durable, ordered, resumable log of what every indexed commit changed,
//! chunk by chunk, per (repo, ref).
//!
//! [`FeedStore`] is an [`indexer::IndexSink`]: put it behind the search index with [`Tee`]
//! and every run's chunk changes become [`Entry`]s with one global, increasing cursor. A
//! reader asks for a ref's entries after a cursor ([`FeedStore::read`]); cursor `0` starts
//! with a snapshot of the ref's current chunks, one entry per file, then continues with live
//! entries. A [`Mirror`] applies entries to keep a local copy of the chunks.
//!
//! ```
//! use feed::{Cursor, FeedStore, Mirror, Retention};
//! use indexer::{Indexer, IndexerConfig, MemoryManifestStore, RefKey, RunRequest, Scope};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (tree, dir) = (tempfile::tempdir()?, tempfile::tempdir()?);
//! std::fs::write(tree.path().join("main.rs"), "fn main() {}\n")?;
//! let feed = FeedStore::open(&dir.path().join("feed"), Retention::default())?;
//! let key = RefKey::new("hello", "refs/heads/main");
//! let request = RunRequest { tree: tree.path(), key: key.clone(), commit: None, scope: Scope::Full };
//! Indexer::new(IndexerConfig::default())?.run(request, &feed, &MemoryManifestStore::new(), &|_| {}, &|| false)?;
//!
//! let mut mirror = Mirror::new();
//! let page = feed.read(&key, &Cursor::Start, 100)?;
//! assert!(page.snapshot_end);
//! page.entries.iter().for_each(|e| mirror.apply(e));
//! assert!(mirror.files().contains_key("main.rs"));
//! # Ok(())
//! # }
//! ```
//!
//! # Backends
//!
//! [`FeedBackend`] is what the gateway needs of a feed, whatever holds it: the
//! [`IndexSink`](indexer::IndexSink) side (staging and committing runs, dropping refs) plus
//! reads, records, files and wake-ups. [`FeedStore`] is the backend on sled; the
//! `feed-postgres` crate holds one on PostgreSQL for several replicas. [`plan`] computes
//! what a commit writes and where a read starts, so every backend announces the same
//! entries; the `conformance` module (behind the cargo feature of that name) checks a
//! backend's behaviour.
//!
//! # Guarantees
//!
//! * **Order and no gaps**: a run's entries, the ref's new chunk state, its record and the
//!   next cursor are one atomic sled batch, flushed and `fdatasync`ed before `commit`
//!   returns, so before the indexer saves its manifest and before the job is marked
//!   succeeded. After a kill -9 every entry a reader could have seen is still there.
//! * **No entry twice**: changes are computed against the feed's own state of the ref, not
//!   taken from the run, so the re-run of a job whose feed write landed but whose completion
//!   did not produces no change and writes no entry; if the feed write had not landed, the
//!   re-run writes it once.
//! * **Idempotent entries**: for every chunk id an entry touches on a path, it carries that
//!   id's complete chunk list on the path, so a snapshot read while entries were written can
//!   be followed by those entries again without harm.
//! * **Secrets**: the feed only sees what the indexer hands its sinks, and the indexer
//!   withholds chunks holding secrets and skips secret files.
//! * **Retention**: [`Retention`] drops a ref's oldest entries; a reader behind them gets
//!   [`FeedError::CursorExpired`] and restarts from `0`.
//!
//! With the cargo feature `nats`, [`NatsPublisher`] publishes entries to NATS JetStream
//! (subject `<prefix>.<repo>.<ref>`, `Nats-Msg-Id` = the entry's cursor, waiting for the
//! ack), so a stream's duplicate window stores each entry once.
//!
//! Staging holds a run's changed files in memory until commit (a first full index holds the
//! tree's text once).

#![deny(missing_docs)]

mod backend;
#[cfg(feature = "conformance")]
pub mod conformance;
mod context;
mod entry;
mod error;
mod file_text;
mod keys;
mod mirror;
#[cfg(feature = "nats")]
mod nats;
pub mod plan;
mod sink;
mod store;

pub use backend::FeedBackend;
pub use context::{RunContext, current as current_run, with_run};
pub use entry::{BadCursor, ChunkRecord, Cursor, Entry, EntryKind, Page, PathChange};
pub use error::FeedError;
pub use file_text::{FileText, assemble};
pub use mirror::{Mirror, fresh_index};
#[cfg(feature = "nats")]
pub use nats::{NatsError, NatsPublisher, Published};
pub use sink::Tee;
pub use store::{FeedStore, RefRecord, Retention};
