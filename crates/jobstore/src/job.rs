//! The records a queue holds: ids, states, requests, jobs and what workers report back.

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use crate::cancel::CancelToken;
use crate::error::Error;

/// A job's id: 16 lowercase hex digits of a per-store counter, so ids sort by creation order
/// and double as list cursors.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(pub String);

impl JobId {
    /// Width of the hex counter; fixed so that text order equals numeric order.
    const WIDTH: usize = 16;

    pub(crate) fn from_counter(n: u64) -> JobId {
        JobId(format!("{n:0width$x}", width = Self::WIDTH))
    }

    /// The counter this id was made from; `None` for text that is not a well-formed id
    /// (the stores key their jobs by counter, so "7" must not find job `0000000000000007`).
    pub fn counter(&self) -> Option<u64> {
        let well_formed = self.0.len() == Self::WIDTH
            && self
                .0
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            u64::from_str_radix(&self.0, 16).ok()
        } else {
            None
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for JobId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let well_formed = s.len() == Self::WIDTH
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if well_formed {
            Ok(JobId(s.to_owned()))
        } else {
            Err(Error::InvalidJobId(s.to_owned()))
        }
    }
}

/// Where a job is in its life. `Succeeded`, `Failed`, `Cancelled` and `Superseded` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobState {
    /// Waiting for a worker (possibly until `not_before`, or until the running job of its key ends).
    Queued,
    /// Claimed by a worker that holds a lease.
    Running,
    /// Done.
    Succeeded,
    /// Gave up: not retryable, or out of attempts; `error` says why.
    Failed,
    /// Cancelled by a user before or while it ran.
    Cancelled,
    /// Replaced by a newer job for the same repo and ref that covers its work.
    Superseded,
}

impl JobState {
    /// Every state, in life-cycle order.
    pub const ALL: [JobState; 6] = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
        JobState::Superseded,
    ];

    /// The snake_case name used in the API and in filters.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::Superseded => "superseded",
        }
    }

    /// True for the final states, which never change again.
    pub fn is_finished(&self) -> bool {
        !matches!(self, JobState::Queued | JobState::Running)
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobState::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| Error::InvalidState(s.to_owned()))
    }
}

/// What asked for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Trigger {
    /// A provider's webhook delivery.
    Webhook,
    /// A user, through the management API.
    Manual,
    /// A signed sample event sent through the real pipeline.
    Test,
    /// The periodic reconcile found the remote ahead of the index (a missed webhook).
    Reconcile,
}

impl Trigger {
    /// The snake_case name (`webhook`, `manual`, `test`, `reconcile`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Trigger::Webhook => "webhook",
            Trigger::Manual => "manual",
            Trigger::Test => "test",
            Trigger::Reconcile => "reconcile",
        }
    }
}

/// What the job does to the index of its ref.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Bring the ref's index up to `commit`.
    Index,
    /// The ref was deleted: drop its index.
    DeleteRef,
}

impl JobKind {
    /// The snake_case name (`index`, `delete_ref`).
    pub fn as_str(&self) -> &'static str {
        match self {
            JobKind::Index => "index",
            JobKind::DeleteRef => "delete_ref",
        }
    }
}

/// Counters a worker reports with heartbeats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Files looked at.
    pub files_seen: u64,
    /// Files whose content changed and were re-chunked.
    pub files_changed: u64,
    /// Files removed from the index.
    pub files_deleted: u64,
    /// Chunks written.
    pub chunks_added: u64,
    /// Chunks dropped.
    pub chunks_removed: u64,
}

/// A request for work, as handed to [`JobStore::enqueue`](crate::JobStore::enqueue).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// Configured repository name.
    pub repo: String,
    /// Full ref name, e.g. `refs/heads/main`: the name the ref is indexed and kept under.
    pub git_ref: String,
    /// The ref to fetch when it differs from `git_ref` (a Bitbucket Cloud pull request's
    /// source branch, kept and indexed as `refs/pull-requests/N/from`). The newest request
    /// wins when requests are folded together.
    pub fetch_ref: Option<String>,
    /// What to do.
    pub kind: JobKind,
    /// Target commit; `None` means "the ref's tip when the job runs". The newest request wins
    /// when requests are folded together.
    pub commit: Option<String>,
    /// Commit the ref was at before the push. The oldest is kept when folding, so one diff
    /// spans all folded pushes.
    pub before: Option<String>,
    /// Force a full reconcile instead of a diff. Sticky when folding.
    pub full: bool,
    /// What asked for it.
    pub trigger: Trigger,
    /// Webhook provider name, when there is one.
    pub provider: Option<String>,
    /// The provider's delivery id, shown with the job.
    pub delivery_id: Option<String>,
    /// Remembered durably, in the same write as the job, so that a redelivery with the same
    /// key is answered with [`EnqueueOutcome::Duplicate`].
    pub dedupe_key: Option<String>,
}

impl NewJob {
    /// An index request for `repo`/`git_ref` with every optional field empty.
    pub fn index(repo: impl Into<String>, git_ref: impl Into<String>, trigger: Trigger) -> NewJob {
        NewJob {
            repo: repo.into(),
            git_ref: git_ref.into(),
            fetch_ref: None,
            kind: JobKind::Index,
            commit: None,
            before: None,
            full: false,
            trigger,
            provider: None,
            delivery_id: None,
            dedupe_key: None,
        }
    }

    /// A request to drop `repo`/`git_ref` from the index, every optional field empty.
    ///
    /// The other fields are set with struct update syntax, as for [`NewJob::index`]:
    ///
    /// ```
    /// use jobstore::{JobKind, NewJob, Trigger};
    ///
    /// let job = NewJob {
    ///     provider: Some("github".to_owned()),
    ///     ..NewJob::delete_ref("demo", "refs/heads/gone", Trigger::Webhook)
    /// };
    /// assert_eq!(job.kind, JobKind::DeleteRef);
    /// assert_eq!(job.commit, None);
    /// ```
    pub fn delete_ref(
        repo: impl Into<String>,
        git_ref: impl Into<String>,
        trigger: Trigger,
    ) -> NewJob {
        NewJob {
            kind: JobKind::DeleteRef,
            ..NewJob::index(repo, git_ref, trigger)
        }
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Its id.
    pub id: JobId,
    /// Configured repository name.
    pub repo: String,
    /// Full ref name.
    pub git_ref: String,
    /// The ref fetched when it differs from `git_ref`.
    pub fetch_ref: Option<String>,
    /// What it does.
    pub kind: JobKind,
    /// Target commit (`None`: the ref's tip when it runs). Once the job succeeded with
    /// [`Completion::succeeded()`]`{ commit: Some(..), .. }`, the commit it actually indexed.
    pub commit: Option<String>,
    /// Commit the ref was at before the oldest folded push.
    pub before: Option<String>,
    /// Full reconcile instead of a diff.
    pub full: bool,
    /// What asked for it.
    pub trigger: Trigger,
    /// Webhook provider name.
    pub provider: Option<String>,
    /// Delivery id of the request that created it.
    pub delivery_id: Option<String>,
    /// Where it is in its life.
    pub state: JobState,
    /// How many times a worker claimed it.
    pub attempts: u32,
    /// How many later requests were folded into it.
    pub coalesced: u32,
    /// When it was created.
    pub created_at: SystemTime,
    /// When the current or last attempt started.
    pub started_at: Option<SystemTime>,
    /// When it reached a final state.
    pub finished_at: Option<SystemTime>,
    /// Retry backoff: not claimed before this time.
    pub not_before: Option<SystemTime>,
    /// Last reported progress.
    pub progress: Progress,
    /// Last error (kept when retrying, and when the job finally failed).
    pub error: Option<String>,
    /// A short note the worker left with its success (for example "already at 1a2b3c4:
    /// nothing to index").
    pub note: Option<String>,
}

/// What [`JobStore::enqueue`](crate::JobStore::enqueue) did with a request.
#[derive(Debug, Clone)]
pub enum EnqueueOutcome {
    /// A new job was queued.
    Queued(Job),
    /// The request was folded into a job already queued for the same repo and ref.
    Coalesced(Job),
    /// The dedupe key was already accepted for this job (which may since have been cleaned up).
    Duplicate(JobId),
}

impl EnqueueOutcome {
    /// The id of the job that will do the requested work.
    pub fn job_id(&self) -> &JobId {
        match self {
            EnqueueOutcome::Queued(job) | EnqueueOutcome::Coalesced(job) => &job.id,
            EnqueueOutcome::Duplicate(id) => id,
        }
    }
}

/// The right to report on one claim of a job: every claim gets a fresh `token`, and
/// heartbeats and completions carry it. Once the job was claimed again (the lease expired and
/// another worker took it), the old lease is refused with [`Error::LeaseLost`], so a worker
/// that was paused or partitioned past its lease cannot complete or overwrite the newer attempt.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The job claimed.
    pub job: JobId,
    /// Which claim of it: unique per claim within a store (and, for shared backends such as
    /// PostgreSQL, across every store on the same database).
    pub token: u64,
}

/// A job handed to a worker, with its lease and the token that flips when it is cancelled.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The job, already `Running` with `attempts` counted.
    pub job: Job,
    /// Pass it to heartbeats and the completion.
    pub lease: Lease,
    /// Check it at every file boundary; complete with [`Completion::Cancelled`] when it flips.
    pub cancel: CancelToken,
}

/// How a worker's attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// The work is done.
    Succeeded {
        /// The commit the worker actually indexed, when it knows it (it may differ from the
        /// requested one: the ref's real tip, an annotated tag peeled). Replaces the job's
        /// `commit`; `None` keeps it.
        commit: Option<String>,
        /// A short note for humans, kept with the job.
        note: Option<String>,
    },
    /// The attempt failed. Retryable failures are queued again with backoff while attempts
    /// remain; the rest end the job as `Failed` with the error kept.
    Failed {
        /// What went wrong, for humans.
        error: String,
        /// Whether another attempt could succeed (network, lock contention, ...).
        retryable: bool,
    },
    /// The worker stopped because the cancel token flipped.
    Cancelled,
    /// The worker is shutting down: the job goes back to the queue and the attempt is not counted.
    Released,
}

impl Completion {
    /// [`Completion::succeeded()`] with nothing to add: the job keeps its commit.
    pub fn succeeded() -> Completion {
        Completion::Succeeded {
            commit: None,
            note: None,
        }
    }
}

/// Which jobs [`JobStore::list`](crate::JobStore::list) returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// Only jobs of this repository.
    pub repo: Option<String>,
}

/// One page of a listing, newest first.
#[derive(Debug, Clone)]
pub struct JobPage {
    /// The jobs of this page.
    pub jobs: Vec<Job>,
    /// Pass it back to get the next (older) page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// One call of [`JobStore::list`](crate::JobStore::list), checked: every backend pages from
/// it, so that they all page alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageQuery {
    /// How many jobs the page holds at most; at least one.
    pub limit: usize,
    /// The page holds only jobs older than this one (the cursor); `None`: from the newest.
    pub before: Option<JobId>,
}

impl PageQuery {
    /// `limit` raised to at least one, and `cursor` (a `next_cursor` of a previous page)
    /// read as the id to start below; [`Error::InvalidCursor`] for any other text.
    pub fn new(limit: usize, cursor: Option<&str>) -> Result<PageQuery, Error> {
        let before = cursor
            .map(|text| {
                text.parse::<JobId>()
                    .map_err(|_| Error::InvalidCursor(text.to_owned()))
            })
            .transpose()?;
        Ok(PageQuery {
            limit: limit.max(1),
            before,
        })
    }

    /// The page made of the first `limit` of `newest_first` (the matching jobs older than
    /// the cursor, newest first), with a `next_cursor` when at least one more follows.
    pub fn page(&self, newest_first: impl IntoIterator<Item = Job>) -> JobPage {
        let mut jobs: Vec<Job> = newest_first
            .into_iter()
            .take(self.limit.saturating_add(1))
            .collect();
        let next_cursor = if jobs.len() > self.limit {
            jobs.truncate(self.limit);
            jobs.last().map(|job| job.id.0.clone())
        } else {
            None
        };
        JobPage { jobs, next_cursor }
    }
}

/// A (repo, ref) with work not yet done: a queued job, a running one, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRef {
    /// Configured repository name.
    pub repo: String,
    /// Full ref name.
    pub git_ref: String,
    /// When the oldest of its queued and running jobs was created: the arrival of the oldest
    /// request (delivery, reconcile, trigger) whose work is not finished.
    pub since: SystemTime,
    /// When its queued job was created, if it has one.
    pub queued_since: Option<SystemTime>,
}

/// How many jobs are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StateCounts {
    /// Queued jobs.
    pub queued: u64,
    /// Running jobs.
    pub running: u64,
    /// Succeeded jobs (not yet cleaned up).
    pub succeeded: u64,
    /// Failed jobs (not yet cleaned up).
    pub failed: u64,
    /// Cancelled jobs (not yet cleaned up).
    pub cancelled: u64,
    /// Superseded jobs (not yet cleaned up).
    pub superseded: u64,
}

impl StateCounts {
    /// The counter of one state.
    pub fn get(&self, state: JobState) -> u64 {
        match state {
            JobState::Queued => self.queued,
            JobState::Running => self.running,
            JobState::Succeeded => self.succeeded,
            JobState::Failed => self.failed,
            JobState::Cancelled => self.cancelled,
            JobState::Superseded => self.superseded,
        }
    }

    pub(crate) fn slot(&mut self, state: JobState) -> &mut u64 {
        match state {
            JobState::Queued => &mut self.queued,
            JobState::Running => &mut self.running,
            JobState::Succeeded => &mut self.succeeded,
            JobState::Failed => &mut self.failed,
            JobState::Cancelled => &mut self.cancelled,
            JobState::Superseded => &mut self.superseded,
        }
    }

    /// Jobs in any state.
    pub fn total(&self) -> u64 {
        JobState::ALL.iter().map(|s| self.get(*s)).sum()
    }
}
