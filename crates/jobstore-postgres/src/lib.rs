//! A [`jobstore::JobStore`] on PostgreSQL, so that several gateway replicas share one
//! durable, coalescing job queue.
//!
//! [`PgJobStore`] keeps the semantics of the sled store (the conformance suite
//! `jobstore::conformance` passes against it) and adds what many processes on one queue
//! need: claims that never hand one job to two replicas, fenced leases, and wake-ups and
//! cancellations that reach every replica.
//!
//! ```no_run
//! use jobstore::{Completion, JobStore, NewJob, StoreConfig, Trigger};
//! use jobstore_postgres::{PgJobStore, PgOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let options = PgOptions { schema: "gateway_jobs".into(), ..PgOptions::default() };
//! let store = PgJobStore::connect(
//!     "host=127.0.0.1 port=5432 user=postgres dbname=test",
//!     options,
//!     StoreConfig::default(),
//! )
//! .await?;
//!
//! let mut push = NewJob::index("hello", "refs/heads/main", Trigger::Webhook);
//! push.dedupe_key = Some("github:delivery-1".into());
//! store.enqueue(push).await?; // committed once it returns
//!
//! // On any replica: wait for a job, then report with its lease.
//! let claimed = store.next("worker-1").await?;
//! store.complete(&claimed.lease, Completion::succeeded()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! # What it guarantees
//!
//! - **Durability**: `enqueue`, `claim`, `complete`, `complete_and_claim`, `cancel` and
//!   `cleanup` return after their transaction committed. A job and its delivery key are
//!   written in the same transaction.
//! - **Dedupe window**: a delivery key is remembered for `StoreConfig::dedupe_retention`
//!   (a primary key on the key text, with its expiry); a redelivery inside the window is
//!   answered `Duplicate` by every replica.
//! - **Coalescing and exclusivity**: an enqueue is one upsert on the partial unique index of
//!   queued jobs (a new job, or a fold into the key's queued job of the same kind); every
//!   change to the jobs of one (repo, ref) takes that key's advisory lock first, so folding,
//!   follow-ups while running and kinds superseding each other behave as in the sled store
//!   across replicas. Partial unique indexes let the database itself refuse a second queued
//!   or running job of a key.
//! - **Claims** use `FOR UPDATE SKIP LOCKED`: replicas claiming together take different
//!   jobs without waiting on each other. Attempts are counted in the claim's transaction.
//! - **Leases on the database clock**: lease expiry, retry times and the dedupe window use
//!   the server's `now()`, never a replica's clock. An expired lease is requeued by the next
//!   claim on any replica.
//! - **Fencing**: every claim draws a fresh lease token from a sequence. A holder whose job
//!   was claimed again gets [`jobstore::Error::LeaseLost`] from `heartbeat` and `complete`
//!   and changes nothing; its cancel token flips too.
//! - **Wake-ups** by `LISTEN`/`NOTIFY`, sent after the commit (a `NOTIFY` inside the
//!   transaction would serialise commits): an enqueue on one replica wakes a waiting worker
//!   on another. Should a notification be lost, a waiting `next` looks again at the next
//!   retry time or lease expiry, and at least every `PgOptions::poll_every`; the listener
//!   reconnects by itself and then wakes every waiter.
//! - **Cancellation** of a running job reaches the worker holding it on whichever replica:
//!   a `NOTIFY` on the cancel channel flips its token, and its next heartbeat answers
//!   "cancelled" should the notification be lost.
//! - **Migrations** are versioned (`schema_version`), run at connect in one transaction under
//!   an advisory lock, and a schema at a newer version is refused ([`PgError::NewerSchema`]).
//! - **Delivery log**: [`PgJobStore::delivery_log`] keeps the gateway's log of webhook
//!   deliveries ([`jobstore::DeliveryLog`]) in the same schema, on the same pool.
//! - **Errors** map onto [`jobstore::Error::Unavailable`] (retry later: connection lost,
//!   server shutting down, lost races) and [`jobstore::Error::Backend`] (permanent). No error
//!   or log line holds the connection string or its password.
#![deny(missing_docs)]

mod deliveries;
mod error;
mod listener;
mod names;
mod ops;
mod rows;
mod schema;
mod store;

pub use deliveries::PgDeliveryLog;
pub use error::PgError;
pub use schema::SCHEMA_VERSION;
pub use store::{PgJobStore, PgOptions};
