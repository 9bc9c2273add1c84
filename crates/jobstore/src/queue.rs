//! The scheduling state machine both backends share: which job is queued, runnable, leased,
//! folded or superseded. It does no I/O; every mutation records what it touched in a
//! [`Changes`] so a durable backend can write exactly those records in one batch.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime};

use crate::cancel::CancelToken;
use crate::config::StoreConfig;
use crate::dedupe_index::DedupeIndex;
use crate::error::Error;
use crate::job::Lease;
use crate::job::{
    Claimed, Completion, EnqueueOutcome, Job, JobFilter, JobId, JobKind, JobPage, JobState, NewJob,
    PageQuery, PendingRef, Progress, StateCounts,
};

/// How often mutations also drop finished jobs older than `finished_retention`.
const CLEANUP_EVERY: Duration = Duration::from_secs(10 * 60);

/// The persisted form of a job: the public record plus what only the store needs.
#[derive(Debug, Clone)]
pub(crate) struct StoredJob {
    pub(crate) job: Job,
    /// Set by cancelling a running job; survives a crash so the job is not run again.
    pub(crate) cancel_requested: bool,
    /// The sled backend's write whose attempt record holds this job's live run-state entry;
    /// 0 when its job record says it all (see `attempt_log`). Kept here rather than in a map
    /// of its own: a week of finished jobs may hold entries.
    pub(crate) logged_in: u64,
    /// The token of the job's latest claim (0: never claimed by this process). Not
    /// persisted: a reopened store requeues every running job, and the holders of older
    /// leases are gone with the process that granted them.
    pub(crate) lease_token: u64,
}

#[cfg(test)]
impl StoredJob {
    /// Job `counter`: a queued index of `r` at `refs/heads/main`, created at the Unix epoch,
    /// everything else empty. What the unit tests start from and adjust.
    pub(crate) fn for_test(counter: u64) -> StoredJob {
        StoredJob {
            job: Job {
                id: JobId::from_counter(counter),
                repo: "r".to_owned(),
                git_ref: "refs/heads/main".to_owned(),
                kind: JobKind::Index,
                commit: None,
                before: None,
                full: false,
                trigger: crate::job::Trigger::Test,
                provider: None,
                delivery_id: None,
                fetch_ref: None,
                state: JobState::Queued,
                attempts: 0,
                coalesced: 0,
                created_at: SystemTime::UNIX_EPOCH,
                started_at: None,
                finished_at: None,
                not_before: None,
                progress: Progress::default(),
                error: None,
                note: None,
            },
            cancel_requested: false,
            logged_in: 0,
            lease_token: 0,
        }
    }
}

/// A delivery key as the store remembers it: 128 bits of its BLAKE3 hash. Keys are free-form
/// strings from providers (often 60+ bytes); a fixed-size digest keeps the in-memory index of
/// a week of deliveries small, and collisions are out of reach for anyone.
pub(crate) type DedupeDigest = [u8; 16];

/// The digest under which `key` is remembered.
pub(crate) fn dedupe_digest(key: &str) -> DedupeDigest {
    let hash = blake3::hash(key.as_bytes());
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&hash.as_bytes()[..16]);
    digest
}

/// What the store remembers of an accepted delivery key: 16 bytes, because a week of
/// deliveries is kept in memory (the job id is its counter, the expiry microseconds since
/// the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DedupeEntry {
    pub(crate) job: u64,
    pub(crate) expires_micros: u64,
}

/// Microseconds since the Unix epoch (0 before it, saturating far after it).
pub(crate) fn unix_micros(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Delivery keys accepted in one write, persisted as one record (see `records`).
pub(crate) type DedupeBatch = Vec<(DedupeDigest, DedupeEntry)>;

/// "Now", read once per batch of operations so they agree with each other.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    pub(crate) now: SystemTime,
    pub(crate) instant: Instant,
}

impl Clock {
    pub(crate) fn now() -> Clock {
        Clock {
            now: SystemTime::now(),
            instant: Instant::now(),
        }
    }
}

/// Records touched by one or more mutations.
#[derive(Debug, Default)]
pub(crate) struct Changes {
    /// Jobs (by counter, as everywhere in the queue) whose request fields changed, or that
    /// are new: their whole record is written.
    pub(crate) jobs: BTreeSet<u64>,
    /// Jobs whose run state (state, attempts, times, progress, error, cancel requested)
    /// changed: a durable backend logs it without rewriting the job unless it is in `jobs`
    /// too. May name a job more than once.
    pub(crate) runs: Vec<u64>,
    /// Jobs removed: their id and their `StoredJob::logged_in`.
    pub(crate) removed_jobs: Vec<(JobId, u64)>,
    /// Delivery keys accepted by these mutations: written together as one batch record.
    pub(crate) dedupe: DedupeBatch,
    /// Expired batch records of delivery keys.
    pub(crate) removed_dedupe_batches: Vec<u64>,
    pub(crate) next_id: bool,
    /// Some job may have become claimable: wake a waiting worker.
    pub(crate) wake: bool,
    /// The earliest retry time or lease expiry moved earlier: every waiting worker must
    /// recompute how long it sleeps.
    pub(crate) deadline_moved: bool,
}

impl Changes {
    pub(crate) fn is_empty(&self) -> bool {
        self.jobs.is_empty()
            && self.runs.is_empty()
            && self.removed_jobs.is_empty()
            && self.dedupe.is_empty()
            && self.removed_dedupe_batches.is_empty()
            && !self.next_id
    }
}

type Key = (String, String);

/// A (repo, ref) key seen as two string slices, so the hot paths (claim, completion) look
/// slots up without allocating an owned key. Hashes exactly like [`Key`].
trait KeyView {
    fn parts(&self) -> (&str, &str);
}

impl KeyView for Key {
    fn parts(&self) -> (&str, &str) {
        (&self.0, &self.1)
    }
}

impl KeyView for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        (self.0, self.1)
    }
}

impl<'a> std::borrow::Borrow<dyn KeyView + 'a> for Key {
    fn borrow(&self) -> &(dyn KeyView + 'a) {
        self
    }
}

impl std::hash::Hash for dyn KeyView + '_ {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The same sequence of writes as `(String, String)`'s derived hash.
        let (repo, git_ref) = self.parts();
        repo.hash(state);
        git_ref.hash(state);
    }
}

impl PartialEq for dyn KeyView + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn KeyView + '_ {}

#[derive(Debug, Default)]
struct Slot {
    queued: Option<u64>,
    running: Option<u64>,
}

/// When a running job's lease runs out, and the token its worker watches.
#[derive(Debug)]
struct LeaseTimer {
    until: Instant,
    token: CancelToken,
}

/// All jobs of a store, indexed for scheduling. Jobs are keyed by the counter their id was
/// made from (every id the store hands out is one): the claim and completion paths then
/// compare and copy integers instead of id strings.
#[derive(Debug)]
pub(crate) struct Queue {
    config: StoreConfig,
    jobs: BTreeMap<u64, StoredJob>,
    keys: HashMap<Key, Slot>,
    /// Queued jobs that may be claimed now, oldest first.
    ready: BTreeSet<u64>,
    /// Queued jobs whose key is free but whose `not_before` is still ahead.
    delayed: BTreeSet<(SystemTime, u64)>,
    running: HashMap<u64, LeaseTimer>,
    leases: BTreeSet<(Instant, u64)>,
    dedupe: DedupeIndex,
    /// Persisted batch records of delivery keys: sequence number → latest expiry in it.
    dedupe_batches: BTreeMap<u64, u64>,
    next_dedupe_batch: u64,
    counts: StateCounts,
    next_id: u64,
    /// The token of the next claim's lease.
    next_lease: u64,
    last_cleanup: Instant,
}

impl Queue {
    pub(crate) fn new(config: StoreConfig) -> Queue {
        Queue {
            config,
            jobs: BTreeMap::new(),
            keys: HashMap::new(),
            ready: BTreeSet::new(),
            delayed: BTreeSet::new(),
            running: HashMap::new(),
            leases: BTreeSet::new(),
            dedupe: DedupeIndex::default(),
            dedupe_batches: BTreeMap::new(),
            next_dedupe_batch: 1,
            counts: StateCounts::default(),
            next_id: 1,
            next_lease: 1,
            last_cleanup: Instant::now(),
        }
    }

    /// Rebuilds the queue from persisted records. Jobs left running belong to a process that
    /// is gone: they are requeued (attempts kept), or cancelled if that had been asked.
    /// Records whose id is not one this crate makes are refused (the caller checked).
    pub(crate) fn restore(
        config: StoreConfig,
        stored: Vec<StoredJob>,
        dedupe_batches: Vec<(u64, DedupeBatch)>,
        next_id: u64,
        clock: Clock,
        ch: &mut Changes,
    ) -> Queue {
        let mut queue = Queue::new(config);
        queue.next_id = next_id.max(1);
        for record in stored {
            let Some(n) = record.job.id.counter() else {
                tracing::warn!(job = %record.job.id, "skipping a job whose id is not a store-made id");
                continue;
            };
            queue.next_id = queue.next_id.max(n.saturating_add(1));
            *queue.counts.slot(record.job.state) += 1;
            queue.jobs.insert(n, record);
        }
        for (seq, entries) in &dedupe_batches {
            let latest = entries.iter().map(|(_, e)| e.expires_micros).max();
            queue.dedupe_batches.insert(*seq, latest.unwrap_or(0));
            queue.next_dedupe_batch = queue.next_dedupe_batch.max(seq.saturating_add(1));
        }
        // In write order, so a key accepted again after it expired ends with its newest entry.
        queue.dedupe.load(
            dedupe_batches.into_iter().flat_map(|(_, entries)| entries),
            unix_micros(clock.now),
        );

        let mut orphans = Vec::new();
        let ids: Vec<u64> = queue.jobs.keys().copied().collect();
        for n in ids {
            let job = &queue.jobs[&n].job;
            let key = (job.repo.clone(), job.git_ref.clone());
            match job.state {
                JobState::Queued => {
                    let slot = queue.keys.entry(key).or_default();
                    match slot.queued {
                        // Two queued jobs for one key cannot be written by this crate; if a
                        // damaged or foreign database has them, keep the newer one's target.
                        Some(older) => {
                            tracing::warn!(job = n, older, "two queued jobs for one key; folding");
                            queue.fold_request_fields(older, n);
                            ch.jobs.insert(older);
                            queue.set_state(n, JobState::Superseded, clock, ch);
                        }
                        None => slot.queued = Some(n),
                    }
                }
                JobState::Running => orphans.push((key, n)),
                _ => {}
            }
        }
        for (key, n) in orphans {
            // One at a time: requeueing clears the key's running slot again.
            queue.keys.entry(key).or_default().running = Some(n);
            let attempts = queue.jobs[&n].job.attempts;
            if attempts >= queue.config.max_attempts && !queue.jobs[&n].cancel_requested {
                // The process died during every attempt (the job may be what kills it):
                // running it again would crash forever.
                tracing::warn!(
                    job = n,
                    attempts,
                    "the process stopped during the last attempt; failing"
                );
                let error = format!("the process stopped during attempt {attempts} (crash?)");
                queue.finish_running(n, JobState::Failed, Some(error), clock, ch);
            } else {
                tracing::info!(
                    job = n,
                    "requeueing a job left running by a previous process"
                );
                queue.requeue_running(n, None, clock, ch);
            }
        }
        let idle: Vec<u64> = queue
            .keys
            .values()
            .filter(|slot| slot.running.is_none())
            .filter_map(|slot| slot.queued)
            .collect();
        for n in idle {
            queue.schedule(n, clock, ch);
        }
        queue
    }

    /// Delivery keys remembered (some may have expired since the last cleanup).
    pub(crate) fn delivery_keys(&self) -> usize {
        self.dedupe.len()
    }

    pub(crate) fn next_id(&self) -> u64 {
        self.next_id
    }

    pub(crate) fn stored(&self, n: u64) -> Option<&StoredJob> {
        self.jobs.get(&n)
    }

    pub(crate) fn stored_mut(&mut self, n: u64) -> Option<&mut StoredJob> {
        self.jobs.get_mut(&n)
    }

    /// Numbers a new batch record for the keys accepted in `entries`.
    pub(crate) fn seal_dedupe_batch(&mut self, entries: &[(DedupeDigest, DedupeEntry)]) -> u64 {
        let seq = self.next_dedupe_batch;
        self.next_dedupe_batch += 1;
        let latest = entries.iter().map(|(_, e)| e.expires_micros).max();
        self.dedupe_batches.insert(seq, latest.unwrap_or(0));
        seq
    }

    fn job(&self, n: u64) -> &Job {
        &self.jobs[&n].job
    }

    fn job_mut(&mut self, n: u64) -> &mut Job {
        &mut self
            .jobs
            .get_mut(&n)
            .expect("a job the queue indexes exists")
            .job
    }

    fn key_of(&self, n: u64) -> Key {
        let job = self.job(n);
        (job.repo.clone(), job.git_ref.clone())
    }

    /// The slot of job `n`'s key, looked up without allocating.
    fn slot_of(&mut self, n: u64) -> Option<&mut Slot> {
        let job = &self.jobs.get(&n)?.job;
        let view: &dyn KeyView = &(job.repo.as_str(), job.git_ref.as_str());
        self.keys.get_mut(view)
    }

    fn remove_slot_of(&mut self, n: u64) {
        if let Some(record) = self.jobs.get(&n) {
            let job = &record.job;
            let view: &dyn KeyView = &(job.repo.as_str(), job.git_ref.as_str());
            self.keys.remove(view);
        }
    }

    fn set_state(&mut self, n: u64, state: JobState, clock: Clock, ch: &mut Changes) {
        if self.change_state(n, state, clock) {
            ch.runs.push(n);
        }
    }

    /// [`Queue::set_state`] without recording the job as changed; false if there is no
    /// such job.
    fn change_state(&mut self, n: u64, state: JobState, clock: Clock) -> bool {
        let Some(record) = self.jobs.get_mut(&n) else {
            return false;
        };
        *self.counts.slot(record.job.state) -= 1;
        *self.counts.slot(state) += 1;
        record.job.state = state;
        if state.is_finished() {
            record.job.finished_at = Some(clock.now);
            record.job.not_before = None;
        }
        true
    }

    /// Makes a queued job whose key is free claimable, now or at its `not_before`.
    fn schedule(&mut self, n: u64, clock: Clock, ch: &mut Changes) {
        match self.job(n).not_before {
            Some(at) if at > clock.now => {
                let due = clock.instant + at.duration_since(clock.now).unwrap_or(Duration::ZERO);
                self.note_deadline(due, clock, ch);
                self.delayed.insert((at, n));
            }
            _ => {
                self.ready.insert(n);
            }
        }
        ch.wake = true;
    }

    fn unschedule(&mut self, n: u64) {
        self.ready.remove(&n);
        if let Some(at) = self.job(n).not_before {
            self.delayed.remove(&(at, n));
        }
    }

    fn remember_delivery(&mut self, key: Option<String>, n: u64, clock: Clock, ch: &mut Changes) {
        if let Some(key) = key {
            let expires_micros = unix_micros(clock.now + self.config.dedupe_retention);
            let digest = dedupe_digest(&key);
            let entry = DedupeEntry {
                job: n,
                expires_micros,
            };
            self.dedupe.insert(digest, entry, unix_micros(clock.now));
            ch.dedupe.push((digest, entry));
        }
    }

    /// Folds the request fields of `newer` into `older`: newest commit, oldest `before`,
    /// sticky `full`.
    fn fold_request_fields(&mut self, older: u64, newer: u64) {
        let newer = self.job(newer).clone();
        let job = self.job_mut(older);
        job.commit = newer.commit;
        if newer.fetch_ref.is_some() {
            job.fetch_ref = newer.fetch_ref;
        }
        job.full |= newer.full;
        job.coalesced += newer.coalesced + 1;
    }

    pub(crate) fn enqueue(
        &mut self,
        request: NewJob,
        clock: Clock,
        ch: &mut Changes,
    ) -> Result<EnqueueOutcome, Error> {
        if request.repo.is_empty() {
            return Err(Error::InvalidRequest("repo is empty"));
        }
        if request.git_ref.is_empty() {
            return Err(Error::InvalidRequest("git_ref is empty"));
        }
        if let Some(key) = &request.dedupe_key {
            let digest = dedupe_digest(key);
            let now = unix_micros(clock.now);
            if let Some(job) = self.dedupe.get(&digest, now) {
                return Ok(EnqueueOutcome::Duplicate(JobId::from_counter(job)));
            }
        }
        self.maybe_cleanup(clock, ch);

        let view: &dyn KeyView = &(request.repo.as_str(), request.git_ref.as_str());
        let (queued, running) = match self.keys.get(view) {
            Some(slot) => (slot.queued, slot.running),
            None => (None, None),
        };
        let mut full = request.full;
        if let Some(qid) = queued {
            if self.job(qid).kind == request.kind {
                let job = self.job_mut(qid);
                // `None` means "the tip when it runs", which is at least as new as any commit.
                job.commit = request.commit;
                if request.fetch_ref.is_some() {
                    job.fetch_ref = request.fetch_ref;
                }
                job.full |= request.full;
                job.coalesced += 1;
                let job = job.clone();
                ch.jobs.insert(qid);
                self.remember_delivery(request.dedupe_key, qid, clock, ch);
                return Ok(EnqueueOutcome::Coalesced(job));
            }
            // A different kind replaces the queued job: deleting makes indexing moot, and
            // indexing after a queued delete must rebuild from scratch.
            self.unschedule(qid);
            self.set_state(qid, JobState::Superseded, clock, ch);
            if let Some(slot) = self.keys.get_mut(view) {
                slot.queued = None;
            }
            full |= request.kind == JobKind::Index;
        }
        if let Some(rid) = running {
            // An index queued behind a running delete must not diff against a dropped index.
            full |= request.kind == JobKind::Index && self.job(rid).kind == JobKind::DeleteRef;
        }

        let n = self.next_id;
        self.next_id += 1;
        ch.next_id = true;
        let job = Job {
            id: JobId::from_counter(n),
            repo: request.repo,
            git_ref: request.git_ref,
            kind: request.kind,
            commit: request.commit,
            before: request.before,
            full,
            trigger: request.trigger,
            provider: request.provider,
            delivery_id: request.delivery_id,
            fetch_ref: request.fetch_ref,
            state: JobState::Queued,
            attempts: 0,
            coalesced: 0,
            created_at: clock.now,
            started_at: None,
            finished_at: None,
            not_before: None,
            progress: Progress::default(),
            error: None,
            note: None,
        };
        self.counts.queued += 1;
        self.jobs.insert(
            n,
            StoredJob {
                job: job.clone(),
                cancel_requested: false,
                logged_in: 0,
                lease_token: 0,
            },
        );
        ch.jobs.insert(n);
        match self.slot_of(n) {
            Some(slot) => slot.queued = Some(n),
            None => {
                let key = (job.repo.clone(), job.git_ref.clone());
                self.keys.entry(key).or_default().queued = Some(n);
            }
        }
        if running.is_none() {
            self.schedule(n, clock, ch);
        }
        self.remember_delivery(request.dedupe_key, n, clock, ch);
        Ok(EnqueueOutcome::Queued(job))
    }

    pub(crate) fn claim(
        &mut self,
        worker: &str,
        clock: Clock,
        ch: &mut Changes,
    ) -> Option<Claimed> {
        self.expire_leases(clock, ch);
        while let Some((at, _)) = self.delayed.first() {
            if *at > clock.now {
                break;
            }
            if let Some((_, n)) = self.delayed.pop_first() {
                self.ready.insert(n);
            }
        }
        let n = self.ready.pop_first()?;
        self.change_state(n, JobState::Running, clock);
        ch.runs.push(n);
        let job = self.job_mut(n);
        job.attempts += 1;
        job.started_at = Some(clock.now);
        job.not_before = None;
        let job = job.clone();
        let lease = Lease {
            job: job.id.clone(),
            token: self.next_lease,
        };
        self.next_lease += 1;
        if let Some(record) = self.jobs.get_mut(&n) {
            record.lease_token = lease.token;
        }
        let slot = match self.slot_of(n) {
            Some(slot) => slot,
            // A ready job's key always has a slot (it holds the job as queued).
            None => self
                .keys
                .entry((job.repo.clone(), job.git_ref.clone()))
                .or_default(),
        };
        slot.queued = None;
        slot.running = Some(n);
        let token = CancelToken::new();
        let until = clock.instant + self.config.lease;
        self.note_deadline(until, clock, ch);
        self.leases.insert((until, n));
        self.running.insert(
            n,
            LeaseTimer {
                until,
                token: token.clone(),
            },
        );
        tracing::debug!(job = %job.id, worker, attempt = job.attempts, "claimed");
        Some(Claimed {
            job,
            lease,
            cancel: token,
        })
    }

    /// The counter of the job `lease` names, if it is running under that lease.
    fn running_job(&self, lease: &Lease) -> Result<u64, Error> {
        let id = &lease.job;
        let found = id.counter().and_then(|n| Some((n, self.jobs.get(&n)?)));
        match found {
            None => Err(Error::NotFound(id.clone())),
            Some((_, record)) if record.lease_token != lease.token => {
                Err(Error::LeaseLost { id: id.clone() })
            }
            Some((_, record)) if record.job.state != JobState::Running => Err(Error::NotRunning {
                id: id.clone(),
                state: record.job.state,
            }),
            Some((n, _)) => Ok(n),
        }
    }

    pub(crate) fn heartbeat(
        &mut self,
        lease: &Lease,
        progress: Progress,
        clock: Clock,
        ch: &mut Changes,
    ) -> Result<(), Error> {
        let n = self.running_job(lease)?;
        if let Some(lease) = self.running.get_mut(&n) {
            self.leases.remove(&(lease.until, n));
            lease.until = clock.instant + self.config.lease;
            self.leases.insert((lease.until, n));
        }
        self.job_mut(n).progress = progress;
        ch.runs.push(n);
        Ok(())
    }

    pub(crate) fn complete(
        &mut self,
        lease: &Lease,
        completion: Completion,
        clock: Clock,
        ch: &mut Changes,
    ) -> Result<Job, Error> {
        let n = self.running_job(lease)?;
        let id = &lease.job;
        let record = &self.jobs[&n];
        let (attempts, cancel_requested) = (record.job.attempts, record.cancel_requested);
        match completion {
            Completion::Succeeded { commit, note } => {
                // The commit and the note are request-side fields of the job record, so a
                // success that sets them rewrites the record instead of logging an entry.
                let job = self.job_mut(n);
                if commit.is_some() && commit != job.commit {
                    job.commit = commit;
                    ch.jobs.insert(n);
                }
                if note.is_some() {
                    job.note = note;
                    ch.jobs.insert(n);
                }
                self.finish_running(n, JobState::Succeeded, None, clock, ch);
            }
            Completion::Cancelled => self.finish_running(n, JobState::Cancelled, None, clock, ch),
            Completion::Failed { error, retryable } => {
                if retryable && attempts < self.config.max_attempts && !cancel_requested {
                    let delay = self.config.backoff(attempts);
                    tracing::info!(job = %id, attempts, ?delay, %error, "attempt failed; retrying");
                    self.job_mut(n).error = Some(error);
                    self.requeue_running(n, Some(clock.now + delay), clock, ch);
                } else {
                    tracing::warn!(job = %id, attempts, %error, "job failed");
                    self.finish_running(n, JobState::Failed, Some(error), clock, ch);
                }
            }
            Completion::Released => {
                if cancel_requested {
                    self.finish_running(n, JobState::Cancelled, None, clock, ch);
                } else {
                    let job = self.job_mut(n);
                    job.attempts = job.attempts.saturating_sub(1);
                    self.requeue_running(n, None, clock, ch);
                }
            }
        }
        Ok(self.job(n).clone())
    }

    /// [`Queue::complete`], then [`Queue::claim`] in the same step; nothing is claimed if
    /// the completion fails.
    pub(crate) fn complete_and_claim(
        &mut self,
        lease: &Lease,
        completion: Completion,
        worker: &str,
        clock: Clock,
        ch: &mut Changes,
    ) -> Result<(Job, Option<Claimed>), Error> {
        let job = self.complete(lease, completion, clock, ch)?;
        let next = self.claim(worker, clock, ch);
        // `next` passes the baton to a waiting worker when more is ready; do the same here.
        ch.wake |= next.is_some() && self.has_ready();
        Ok((job, next))
    }

    fn release_lease(&mut self, n: u64) -> Option<LeaseTimer> {
        let lease = self.running.remove(&n)?;
        self.leases.remove(&(lease.until, n));
        Some(lease)
    }

    /// Marks the key of job `n` as not running and lets its queued follow-up run.
    fn free_key(&mut self, n: u64, clock: Clock, ch: &mut Changes) {
        let Some(slot) = self.slot_of(n) else {
            return;
        };
        if slot.running == Some(n) {
            slot.running = None;
        }
        match slot.queued {
            Some(next) => self.schedule(next, clock, ch),
            None if slot.running.is_none() => self.remove_slot_of(n),
            None => {}
        }
    }

    fn finish_running(
        &mut self,
        n: u64,
        state: JobState,
        error: Option<String>,
        clock: Clock,
        ch: &mut Changes,
    ) {
        self.release_lease(n);
        self.job_mut(n).error = error;
        self.set_state(n, state, clock, ch);
        self.free_key(n, clock, ch);
    }

    /// Puts a job that was running back in the queue. If a newer request for the key is
    /// already queued, that one covers this job's work: it takes this job's `before` (the
    /// older one) and `full`, and this job ends as superseded.
    fn requeue_running(
        &mut self,
        n: u64,
        not_before: Option<SystemTime>,
        clock: Clock,
        ch: &mut Changes,
    ) {
        self.release_lease(n);
        if self.jobs[&n].cancel_requested {
            self.set_state(n, JobState::Cancelled, clock, ch);
            self.free_key(n, clock, ch);
            return;
        }
        let key = self.key_of(n);
        let slot = self.keys.entry(key).or_default();
        slot.running = None;
        match slot.queued {
            Some(follow_up) => {
                let old = self.job(n).clone();
                let job = self.job_mut(follow_up);
                job.before = old.before;
                job.full |= old.full;
                job.coalesced += old.coalesced + 1;
                ch.jobs.insert(follow_up);
                self.set_state(n, JobState::Superseded, clock, ch);
                self.schedule(follow_up, clock, ch);
            }
            None => {
                slot.queued = Some(n);
                self.set_state(n, JobState::Queued, clock, ch);
                self.job_mut(n).not_before = not_before;
                self.schedule(n, clock, ch);
            }
        }
    }

    /// Requeues running jobs whose lease ran out (their worker hung or vanished). The old
    /// token flips so that the hung worker stops if it ever wakes up.
    fn expire_leases(&mut self, clock: Clock, ch: &mut Changes) {
        while let Some(&(until, n)) = self.leases.first() {
            if until > clock.instant {
                break;
            }
            if let Some(lease) = self.running.get(&n) {
                lease.token.cancel();
            }
            let attempts = self.job(n).attempts;
            if attempts >= self.config.max_attempts {
                tracing::warn!(
                    job = n,
                    attempts,
                    "lease expired on the last attempt; failing"
                );
                let error = format!("lease expired on attempt {attempts} (worker hung or gone)");
                self.finish_running(n, JobState::Failed, Some(error), clock, ch);
            } else {
                tracing::warn!(job = n, attempts, "lease expired; requeueing");
                self.requeue_running(n, None, clock, ch);
            }
        }
    }

    pub(crate) fn cancel(&mut self, id: &JobId, clock: Clock, ch: &mut Changes) -> Option<Job> {
        let n = id.counter()?;
        let state = self.jobs.get(&n)?.job.state;
        match state {
            JobState::Queued => {
                self.unschedule(n);
                let key = self.key_of(n);
                if let Some(slot) = self.keys.get_mut(&key) {
                    if slot.queued == Some(n) {
                        slot.queued = None;
                    }
                    if slot.queued.is_none() && slot.running.is_none() {
                        self.keys.remove(&key);
                    }
                }
                self.set_state(n, JobState::Cancelled, clock, ch);
            }
            JobState::Running => {
                if let Some(record) = self.jobs.get_mut(&n) {
                    record.cancel_requested = true;
                }
                if let Some(lease) = self.running.get(&n) {
                    lease.token.cancel();
                }
                ch.runs.push(n);
            }
            _ => {}
        }
        Some(self.job(n).clone())
    }

    pub(crate) fn get(&self, id: &JobId) -> Option<Job> {
        let n = id.counter()?;
        self.jobs.get(&n).map(|record| record.job.clone())
    }

    pub(crate) fn list(&self, filter: &JobFilter, query: &PageQuery) -> JobPage {
        let upper = query
            .before
            .as_ref()
            .and_then(JobId::counter)
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let matching = self
            .jobs
            .range((std::ops::Bound::Unbounded, upper))
            .rev()
            .map(|(_, record)| &record.job)
            .filter(|job| filter.state.is_none_or(|s| job.state == s))
            .filter(|job| filter.repo.as_ref().is_none_or(|r| &job.repo == r));
        query.page(matching.cloned())
    }

    pub(crate) fn counts(&self) -> StateCounts {
        self.counts
    }

    pub(crate) fn pending(&self) -> Vec<PendingRef> {
        let created = |n: Option<u64>| Some(self.jobs.get(&n?)?.job.created_at);
        self.keys
            .iter()
            .filter_map(|((repo, git_ref), slot)| {
                let queued_since = created(slot.queued);
                let since = [queued_since, created(slot.running)]
                    .into_iter()
                    .flatten()
                    .min()?;
                Some(PendingRef {
                    repo: repo.clone(),
                    git_ref: git_ref.clone(),
                    since,
                    queued_since,
                })
            })
            .collect()
    }

    /// Drops finished jobs that finished at or before `now - older_than`, and expired
    /// delivery keys. Returns how many jobs were dropped.
    pub(crate) fn cleanup(&mut self, older_than: Duration, clock: Clock, ch: &mut Changes) -> u64 {
        self.last_cleanup = clock.instant;
        let cutoff = clock
            .now
            .checked_sub(older_than)
            .unwrap_or(SystemTime::UNIX_EPOCH);
        let old: Vec<u64> = self
            .jobs
            .iter()
            .filter(|(_, r)| r.job.state.is_finished())
            .filter(|(_, r)| r.job.finished_at.unwrap_or(r.job.created_at) <= cutoff)
            .map(|(n, _)| *n)
            .collect();
        for n in &old {
            let Some(record) = self.jobs.remove(n) else {
                continue;
            };
            *self.counts.slot(record.job.state) -= 1;
            ch.jobs.remove(n);
            ch.removed_jobs.push((record.job.id, record.logged_in));
        }
        let now = unix_micros(clock.now);
        self.dedupe.remove_expired(now);
        self.dedupe_batches.retain(|seq, latest| {
            let keep = *latest > now;
            if !keep {
                ch.removed_dedupe_batches.push(*seq);
            }
            keep
        });
        if !old.is_empty() {
            tracing::info!(removed = old.len(), "cleaned up finished jobs");
        }
        old.len() as u64
    }

    fn maybe_cleanup(&mut self, clock: Clock, ch: &mut Changes) {
        if clock.instant.duration_since(self.last_cleanup) >= CLEANUP_EVERY {
            self.cleanup(self.config.finished_retention, clock, ch);
        }
    }

    /// When a claim could next succeed without any new event: the earliest `not_before`
    /// of a queued job with a free key, or the earliest lease expiry.
    pub(crate) fn next_wakeup(&self, clock: Clock) -> Option<Instant> {
        let delayed = self
            .delayed
            .first()
            .map(|(at, _)| clock.instant + at.duration_since(clock.now).unwrap_or(Duration::ZERO));
        let lease = self.leases.first().map(|(until, _)| *until);
        match (delayed, lease) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Flags `deadline_moved` if `at` comes before every deadline a waiter may be sleeping
    /// until (waiters that saw no deadline at all sleep until notified).
    fn note_deadline(&self, at: Instant, clock: Clock, ch: &mut Changes) {
        if self.next_wakeup(clock).is_none_or(|current| at < current) {
            ch.deadline_moved = true;
        }
    }

    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }
}
