//! A [`feed::FeedBackend`] on PostgreSQL, so that several gateway replicas share one
//! ordered, resumable change feed per (repo, ref), whichever replica indexed a commit and
//! whichever serves a reader.
//!
//! [`PgFeedStore`] keeps the semantics of the sled `feed::FeedStore` (the suite
//! `feed::conformance` passes against it) and computes entries with the same code
//! (`feed::plan`), so both announce the same changes.
//!
//! ```no_run
//! use feed::{Cursor, FeedBackend, Retention};
//! use feed_postgres::{PgFeedOptions, PgFeedStore};
//! use indexer::{Indexer, IndexerConfig, MemoryManifestStore, RefKey, RunRequest, Scope};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = PgFeedOptions { schema: "gateway_feed".into(), ..PgFeedOptions::default() };
//! let feed = PgFeedStore::connect(
//!     "host=127.0.0.1 port=5432 user=postgres dbname=test",
//!     options,
//!     Retention::default(),
//! )?;
//! let key = RefKey::new("hello", "refs/heads/main");
//! let request = RunRequest { tree: "./hello".as_ref(), key: key.clone(), commit: None, scope: Scope::Full };
//! Indexer::new(IndexerConfig::default())?.run(request, &feed, &MemoryManifestStore::new(), &|_| {}, &|| false)?;
//!
//! // On any replica sharing the schema:
//! let page = feed.read(&key, &Cursor::Start, 100)?;
//! println!("{} files, continue at {}", page.entries.len(), page.next_cursor);
//! # Ok(())
//! # }
//! ```
//!
//! # What it guarantees
//!
//! - **One order across replicas**: every write locks the schema's one counter row
//!   (`SELECT ... FOR UPDATE`) before it picks cursors and holds the lock until it commits,
//!   so writes commit one after another in cursor order. When a reader has seen cursor N,
//!   every entry below N was committed before N's write could take the lock: no entry below
//!   N ever appears later. Reads run in one `REPEATABLE READ` snapshot, so the newest cursor,
//!   the ref's record and the entries or files served agree.
//! - **Atomic commit**: a run's entries, the ref's changed files, its record, the counter and
//!   retention are one transaction; `commit` returns after it committed.
//! - **No entry twice**: changes are computed against the feed's stored files of the ref
//!   inside that transaction, so the re-run of a job whose feed write landed writes nothing,
//!   on whichever replica it runs.
//! - **Wake-ups** by `LISTEN`/`NOTIFY` sent after the commit (payload: the newest cursor),
//!   so a `subscribe` on one replica wakes for a commit on another. Should a notification be
//!   lost, the store reads the counter every [`PgFeedOptions::poll_every`] and after its
//!   listener reconnects.
//! - **Migrations** are versioned (`schema_version`), run at connect in one transaction under
//!   an advisory lock, and a schema at a newer version is refused
//!   ([`pg_schema::SetupError::NewerSchema`], inside [`PgFeedError::Setup`]).
//! - **Errors** reach callers as [`feed::FeedError::Backend`] holding a [`PgFeedError`]; no
//!   error or log line holds the connection string or its password.
//!
//! The feed's API is synchronous (its callers run it off the async runtime, like every
//! `IndexSink`); the store owns a one-worker tokio runtime for `tokio-postgres`, which the
//! pool (`deadpool-postgres`) and the `LISTEN` connection need, and runs each call's
//! statements on the calling thread through it. A staged run stays in the memory of the
//! replica running it, as in the sled store.
#![deny(missing_docs)]

mod error;
mod listener;
mod read;
mod schema;
mod store;
mod write;

pub use error::PgFeedError;
pub use schema::SCHEMA_VERSION;
pub use store::{PgFeedOptions, PgFeedStore};
