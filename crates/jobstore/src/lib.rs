//! A durable, coalescing job queue on [sled] that never loses an acknowledged request.
//!
//! Built for "webhook accepted" → "index updated": [`JobStore::enqueue`] returns only once the
//! job is on stable storage (concurrent enqueues share one flush and one `fdatasync`),
//! requests for the same repository and ref fold into one queued job, a key never runs twice
//! at once, and workers get leases, heartbeats, retries with backoff and cancellation tokens.
//! [`SledJobStore`] is the durable backend, [`MemoryJobStore`] the in-memory one; both pass
//! the conformance suite (`jobstore::conformance`, behind the cargo feature `conformance`)
//! that any other backend (PostgreSQL, NATS JetStream, ...) must pass too.
//!
//! ```
//! use jobstore::{Completion, EnqueueOutcome, JobStore, NewJob, SledJobStore, StoreConfig, Trigger};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = SledJobStore::open(&dir.path().join("jobs"), StoreConfig::default())?;
//!
//! let mut push = NewJob::index("hello", "refs/heads/main", Trigger::Webhook);
//! push.commit = Some("c1".into());
//! push.dedupe_key = Some("github:delivery-1".into());
//! let first = store.enqueue(push.clone()).await?; // durable once it returns
//! assert!(matches!(first, EnqueueOutcome::Queued(_)));
//!
//! // The provider redelivers: recognised, nothing new queued.
//! let again = store.enqueue(push).await?;
//! assert!(matches!(again, EnqueueOutcome::Duplicate(ref id) if id == first.job_id()));
//!
//! // A worker: wait for a job, watch its cancel token, report the outcome and take the
//! // next job in the same step (`None`: nothing claimable, wait with `next` again).
//! let claimed = store.next("worker-1").await?;
//! assert!(!claimed.cancel.is_cancelled());
//! let (done, next) = store
//!     .complete_and_claim(&claimed.lease, Completion::succeeded(), "worker-1")
//!     .await?;
//! assert_eq!(done.state.as_str(), "succeeded");
//! assert_eq!(done.commit.as_deref(), Some("c1"));
//! assert!(next.is_none());
//! # Ok(())
//! # }
//! ```
//!
//! # Semantics in short
//!
//! - **Coalescing** on (repo, ref): at most one queued job per key. A request for a key with a
//!   queued job folds into it (newest `commit`, oldest `before`, `full` sticky); while a job of
//!   the key runs, exactly one follow-up is queued. `DeleteRef` and `Index` supersede each other
//!   while queued (an `Index` replacing a delete, or queued behind a running delete, is `full`).
//! - **Exclusivity**: never two running jobs per key; other keys run in parallel.
//! - **Leases**: a claim leases the job for `StoreConfig::lease`, heartbeats extend it. An
//!   expired lease requeues the job (attempts kept; failed if it was the last attempt) and
//!   flips the old worker's token. Opening a [`SledJobStore`] requeues every job left running.
//!   When a requeued job's key already has a queued follow-up, the follow-up absorbs it (it
//!   takes the older `before`) and the requeued job ends `Superseded`.
//! - **Fencing**: every claim hands out a fresh [`Lease`]; heartbeats and completions carry it.
//!   A worker whose lease expired and whose job was claimed again gets [`Error::LeaseLost`] and
//!   changes nothing. (Until someone claims the job again, the old holder's lease still
//!   answers, with [`Error::NotRunning`] once the job was requeued.) Its cancel token flips
//!   when the lease expires, so a worker that checks the token stops on its own.
//! - **Success**: `Completion::Succeeded { commit, note }` may name the commit the worker
//!   actually indexed (it replaces the job's `commit`) and leave a short note for humans.
//! - **Retries**: `Completion::Failed { retryable: true, .. }` requeues with exponential backoff
//!   and full jitter until `max_attempts` claims were made, then the job fails with its error.
//! - **Durability** (sled): `enqueue`, `claim` (when it claims), `complete`,
//!   `complete_and_claim`, `cancel` and `cleanup` return after sled's flush *and* an
//!   `fdatasync` of the files it wrote, both covering their writes; one flush and one sync
//!   serve every operation of a group commit ([`SledJobStore::disk_syncs`] counts them). So
//!   an acknowledged write survives a crash of the process, of the kernel, and a power loss,
//!   as far as the disk honours flush requests (a drive that acknowledges cache flushes it
//!   has not done can still lose it). sled's own `flush` alone only calls
//!   `sync_file_range`, which leaves the data in the drive's volatile cache and the file's
//!   size unwritten; see `disk_sync.rs`. A job and its dedupe key are written in one atomic
//!   batch. A claim is durable so that the
//!   attempt count survives a crash: a job left running is requeued on open with its attempts
//!   kept, and one that was on its last attempt fails instead, so a job that kills the process
//!   every time still ends `Failed`. (Claims, completions, retries and heartbeats are written
//!   as entries of 22–30 bytes, plus the error text, in one small record per group
//!   commit, not as rewrites of the job record.) Heartbeats are written but not waited for.
//!
//! # Limits
//!
//! - A job becomes visible to `get` and claimable a moment before its enqueue is durable;
//!   only the acknowledgement waits for the flush.
//! - A store written in another on-disk format (an older or newer release) is refused at open
//!   with [`Error::UnsupportedFormat`], which says what to do; nothing is converted.
//! - Every job is indexed in memory (a few hundred bytes each); retention cleanup bounds that.
//!   Accepted delivery keys are kept in memory for `dedupe_retention` too, at about 34.5
//!   bytes each (a 16-byte digest, the job counter and the expiry in sorted runs without
//!   slack, plus each run's directory and lookup filter; only the newest few thousand sit in
//!   a hash map): about 41 MB for 1.2 million keys.
#![deny(missing_docs)]

mod attempt_log;
mod cancel;
mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
mod dedupe_index;
mod deliveries;
#[cfg(feature = "conformance")]
pub mod delivery_conformance;
mod delivery_memory;
mod delivery_record;
mod delivery_sled;
mod disk_sync;
mod error;
mod group_commit;
mod job;
mod job_record;
mod memory;
mod queue;
mod queue_store;
mod records;
mod sled_store;
mod store;

pub use cancel::CancelToken;
pub use config::StoreConfig;
pub use deliveries::{
    DeliveryEntry, DeliveryFilter, DeliveryLog, DeliveryOutcome, DeliveryPage, DeliveryRecord,
    DeliveryRetention, KeptBody, LogId, LogPageQuery, NewDelivery, Pruned, Verification,
};
pub use delivery_memory::MemoryDeliveryLog;
pub use delivery_sled::SledDeliveryLog;
pub use error::Error;
pub use job::{
    Claimed, Completion, EnqueueOutcome, Job, JobFilter, JobId, JobKind, JobPage, JobState, Lease,
    NewJob, PageQuery, PendingRef, Progress, StateCounts, Trigger,
};
pub use memory::MemoryJobStore;
pub use sled_store::SledJobStore;
pub use store::JobStore;
