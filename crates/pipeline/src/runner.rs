//! The job runner: claim → fetch → index → complete, with a typed [`Outcome`].
//!
//! A job's blocking steps (the manifest read, the indexer's run with the sink's tantivy
//! commit, a ref's drop) run on tokio's blocking pool; the async side only waits on git,
//! heartbeats the job with the latest progress and watches for cancellation and shutdown. A
//! job is marked succeeded only after the sink's commit returned, so "succeeded" means
//! "searchable".

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indexer::{IndexSink, Indexer, ManifestStore, RefKey, RunCounts, RunRequest, RunSummary};
use jobstore::{Claimed, Completion, Job, JobKind, JobStore, NewJob, Trigger};

use crate::repo::RepoSpec;
use crate::shutdown::Shutdown;
use crate::source::{SourceError, Sources, TreeRequest};

/// How often a running job's lease is renewed and its progress published (well inside the
/// store's 30 s lease; heartbeats are not flushed, so they are cheap).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// Finds a repo's spec by name when a job of it runs (the repo may have left the config).
pub trait RepoLookup: Send + Sync + std::fmt::Debug {
    /// The repo named `name`, if there is one.
    fn repo(&self, name: &str) -> Option<RepoSpec>;
}

impl RepoLookup for Vec<RepoSpec> {
    fn repo(&self, name: &str) -> Option<RepoSpec> {
        self.iter().find(|r| r.name == name).cloned()
    }
}

/// How one attempt at a job ended.
#[derive(Debug)]
pub enum Outcome {
    /// The ref's tree is indexed and searchable.
    Indexed {
        /// What the indexer did.
        summary: RunSummary,
        /// The commit indexed (the ref's tip after the fetch), when the tree has one.
        commit: Option<String>,
        /// Set when the indexed commit is not the one the request named.
        note: Option<String>,
    },
    /// The index already held the ref's tip: nothing was indexed (a late or replayed
    /// delivery for an older commit ends here instead of moving the index back).
    Unchanged {
        /// The tip, which the index holds.
        commit: String,
        /// `already at <short>: nothing to index`, with why when the request named another
        /// commit.
        note: String,
    },
    /// The ref's index and kept tree are gone.
    Dropped,
    /// The attempt failed; [`JobError::is_transient`] says whether to try again.
    Failed(JobError),
    /// The job's cancel token flipped.
    Cancelled,
    /// Shutdown started: the job goes back to the queue, the attempt not counted.
    Released,
}

impl Outcome {
    /// What the job store records for this outcome.
    pub fn completion(&self) -> Completion {
        match self {
            Outcome::Indexed { commit, note, .. } => Completion::Succeeded {
                commit: commit.clone(),
                note: note.clone(),
            },
            Outcome::Unchanged { commit, note } => Completion::Succeeded {
                commit: Some(commit.clone()),
                note: Some(note.clone()),
            },
            Outcome::Dropped => Completion::succeeded(),
            Outcome::Failed(error) => Completion::Failed {
                error: error.to_string(),
                retryable: error.is_transient(),
            },
            Outcome::Cancelled => Completion::Cancelled,
            Outcome::Released => Completion::Released,
        }
    }

    /// A short name for logs and metrics: `succeeded`, `retrying`, `failed`, `cancelled`,
    /// `released`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Indexed { .. } | Outcome::Unchanged { .. } | Outcome::Dropped => "succeeded",
            Outcome::Failed(error) if error.is_transient() => "retrying",
            Outcome::Failed(_) => "failed",
            Outcome::Cancelled => "cancelled",
            Outcome::Released => "released",
        }
    }
}

/// Why an attempt failed, by the step that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The job names a repo the lookup no longer knows.
    #[error("repo `{0}` is no longer in the config")]
    UnknownRepo(String),
    /// The source could not produce (or forget) the tree.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The indexer (or its sink, or its manifest store) failed.
    #[error(transparent)]
    Index(#[from] indexer::Error),
    /// A blocking step panicked or was torn down.
    #[error("the {step} task stopped unexpectedly: {detail}")]
    Crashed {
        /// Which step (`indexing`, `drop`, ...).
        step: &'static str,
        /// What tokio said.
        detail: String,
    },
}

impl JobError {
    /// Whether another attempt may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            JobError::UnknownRepo(_) => false,
            JobError::Source(error) => error.is_transient(),
            JobError::Index(error) => error.is_transient(),
            JobError::Crashed { .. } => true,
        }
    }
}

/// Runs jobs from a store against the sources, a sink and a manifest store.
pub struct Runner {
    /// Where jobs are claimed and completed.
    pub jobs: Arc<dyn JobStore>,
    /// Where trees come from.
    pub sources: Arc<Sources>,
    /// Where change sets go.
    pub sink: Arc<dyn IndexSink>,
    /// Where the indexer keeps its per-ref state.
    pub manifests: Arc<dyn ManifestStore>,
    /// Which repos exist.
    pub repos: Arc<dyn RepoLookup>,
    /// Stops the workers.
    pub shutdown: Shutdown,
}

impl std::fmt::Debug for Runner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("sources", &self.sources)
            .field("repos", &self.repos)
            .finish_non_exhaustive()
    }
}

impl Runner {
    /// One worker: claims jobs until shutdown, runs each, and records its end (claiming the
    /// next job in the same durable write). `on_end` sees every attempt's job, outcome and
    /// duration, before the end is recorded.
    pub async fn work(
        &self,
        name: &str,
        on_end: &(dyn Fn(&Job, &Outcome, Duration) + Send + Sync),
    ) {
        // The next job, claimed in the same durable write that recorded the previous one's end.
        let mut carried: Option<Claimed> = None;
        loop {
            if self.shutdown.is_started() {
                if let Some(claimed) = carried.take() {
                    // Claimed and leased but never started: hand it back for the next start.
                    let _ = self
                        .jobs
                        .complete(&claimed.lease, Completion::Released)
                        .await;
                }
                return;
            }
            let claimed = match carried.take() {
                Some(claimed) => Ok(claimed),
                None => tokio::select! {
                    claimed = self.jobs.next(name) => claimed,
                    _ = self.shutdown.started() => return,
                },
            };
            let claimed = match claimed {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(%error, worker = name, "cannot claim jobs; retrying in 1 s");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let id = claimed.job.id.clone();
            let lease = claimed.lease.clone();
            let span = tracing::info_span!("job", id = %id, repo = %claimed.job.repo, git_ref = %claimed.job.git_ref);
            let started = Instant::now();
            let outcome = tracing::Instrument::instrument(self.run(&claimed), span.clone()).await;
            span.in_scope(|| {
                tracing::info!(
                    outcome = outcome.label(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "job ended"
                )
            });
            on_end(&claimed.job, &outcome, started.elapsed());
            let completion = outcome.completion();
            let ended = if matches!(outcome, Outcome::Released) || self.shutdown.is_started() {
                self.jobs.complete(&lease, completion).await.map(|_| ())
            } else {
                // One durable write ends this job and claims the next (if one is waiting).
                self.jobs
                    .complete_and_claim(&lease, completion, name)
                    .await
                    .map(|(_, next)| carried = next)
            };
            if let Err(error) = ended {
                tracing::error!(%error, job = %id, "could not record the job's end; its lease will expire and it will run again");
            }
        }
    }

    /// One attempt at a claimed job.
    pub async fn run(&self, claimed: &Claimed) -> Outcome {
        let job = &claimed.job;
        let Some(repo) = self.repos.repo(&job.repo) else {
            return Outcome::Failed(JobError::UnknownRepo(job.repo.clone()));
        };
        let indexer = match Indexer::new(repo.indexer_config()) {
            Ok(indexer) => Arc::new(indexer),
            Err(error) => return Outcome::Failed(error.into()),
        };
        let key = RefKey::new(&repo.name, &job.git_ref);
        if job.kind == JobKind::DeleteRef {
            return self.drop_ref(job, &repo, &indexer, key).await;
        }

        let manifests = self.manifests.clone();
        let load_key = key.clone();
        let indexed_commit = tokio::task::spawn_blocking(move || {
            // Only the commit is needed: read no entries (the indexer loads what it needs).
            manifests
                .load_paths(&load_key, &std::collections::BTreeSet::new())
                .ok()
                .flatten()
                .and_then(|m| m.commit().map(str::to_string))
        })
        .await
        .unwrap_or(None);
        let request = TreeRequest {
            git_ref: &job.git_ref,
            fetch_ref: job.fetch_ref.as_deref(),
            commit: job.commit.as_deref(),
            indexed_commit: indexed_commit.as_deref(),
            full: job.full,
        };
        // A fetch can hang on a silent remote: cancellation and shutdown must not wait for its
        // timeout. Dropping the future kills the git child (kill_on_drop).
        let prepare_started = Instant::now();
        let source = self.sources.for_repo(&repo);
        // The lease is kept alive while git works: a first clone of a large repo or a slow
        // remote can outlast it, and an expired lease would hand the job to another worker.
        let prepare = source.prepare(&repo, request);
        tokio::pin!(prepare);
        let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
        ticker.tick().await;
        let prepared = loop {
            tokio::select! {
                prepared = &mut prepare => break prepared,
                _ = claimed.cancel.cancelled() => return Outcome::Cancelled,
                _ = self.shutdown.started() => return Outcome::Released,
                _ = ticker.tick() => {
                    let progress = jobstore::Progress::default();
                    if let Err(error) = self.jobs.heartbeat(&claimed.lease, progress).await {
                        tracing::warn!(%error, "heartbeat failed");
                    }
                }
            }
        };
        let tree = match prepared {
            Ok(tree) => tree,
            Err(error) => return Outcome::Failed(error.into()),
        };
        let prepare_ms = prepare_started.elapsed().as_millis() as u64;
        if tree.unchanged {
            if let Some(commit) = tree.commit {
                let note = tree.note.unwrap_or_default();
                tracing::info!(%commit, note = %note, prepare_ms, "already indexed at the tip");
                return Outcome::Unchanged { commit, note };
            }
        }
        let (indexed_commit, note) = (tree.commit.clone(), tree.note.clone());

        let latest = Arc::new(Mutex::new(RunCounts::default()));
        let blocking = {
            let (sink, manifests) = (self.sink.clone(), self.manifests.clone());
            let (latest, cancel, shutdown) = (
                latest.clone(),
                claimed.cancel.clone(),
                self.shutdown.clone(),
            );
            let run_context = feed_context(job);
            tokio::task::spawn_blocking(move || {
                let on_progress =
                    move |p: &RunCounts| *latest.lock().unwrap_or_else(|e| e.into_inner()) = *p;
                let cancelled = || cancel.is_cancelled() || shutdown.is_started();
                let request = RunRequest {
                    tree: &tree.path,
                    key,
                    commit: tree.commit.clone(),
                    scope: tree.scope,
                };
                feed::with_run(run_context, || {
                    indexer.run(request, &*sink, &*manifests, &on_progress, &cancelled)
                })
            })
        };
        tokio::pin!(blocking);
        let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
        ticker.tick().await;
        let result = loop {
            tokio::select! {
                result = &mut blocking => break result,
                _ = ticker.tick() => {
                    let progress = to_job_progress(&latest.lock().unwrap_or_else(|e| e.into_inner()));
                    if let Err(error) = self.jobs.heartbeat(&claimed.lease, progress).await {
                        tracing::warn!(%error, "heartbeat failed");
                    }
                }
            }
        };
        let final_progress = to_job_progress(&latest.lock().unwrap_or_else(|e| e.into_inner()));
        match result {
            Ok(Ok(summary)) => {
                let _ = self
                    .jobs
                    .heartbeat(&claimed.lease, to_job_progress(&summary.progress))
                    .await;
                tracing::info!(
                    files_seen = summary.progress.files_seen,
                    files_changed = summary.progress.files_changed,
                    files_deleted = summary.progress.files_deleted,
                    chunks_added = summary.progress.chunks_added,
                    chunks_removed = summary.progress.chunks_removed,
                    prepare_ms,
                    index_ms = summary.elapsed.as_millis() as u64,
                    "indexed"
                );
                if let Some(note) = &note {
                    tracing::info!(note = %note, "indexed the tip, not the pushed commit");
                }
                Outcome::Indexed {
                    summary,
                    commit: indexed_commit,
                    note,
                }
            }
            Ok(Err(indexer::Error::Cancelled)) => {
                let _ = self.jobs.heartbeat(&claimed.lease, final_progress).await;
                if claimed.cancel.is_cancelled() {
                    Outcome::Cancelled
                } else {
                    Outcome::Released
                }
            }
            Ok(Err(error)) => Outcome::Failed(error.into()),
            Err(join_error) => Outcome::Failed(JobError::Crashed {
                step: "indexing",
                detail: join_error.to_string(),
            }),
        }
    }

    /// The ref is gone: its index and manifest first (on the blocking pool), then the tree.
    async fn drop_ref(
        &self,
        job: &Job,
        repo: &RepoSpec,
        indexer: &Arc<Indexer>,
        key: RefKey,
    ) -> Outcome {
        let dropped = {
            let (sink, manifests, indexer) =
                (self.sink.clone(), self.manifests.clone(), indexer.clone());
            let run_context = feed_context(job);
            tokio::task::spawn_blocking(move || {
                feed::with_run(run_context, || indexer.drop_ref(&key, &*sink, &*manifests))
            })
            .await
        };
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Outcome::Failed(error.into()),
            Err(join_error) => {
                return Outcome::Failed(JobError::Crashed {
                    step: "drop",
                    detail: join_error.to_string(),
                });
            }
        }
        match self
            .sources
            .for_repo(repo)
            .remove_ref(repo, &job.git_ref)
            .await
        {
            Ok(()) => Outcome::Dropped,
            Err(error) => Outcome::Failed(error.into()),
        }
    }
}

/// What the change feed records of the job behind a run (sinks read it at commit).
fn feed_context(job: &Job) -> feed::RunContext {
    feed::RunContext {
        job_id: Some(job.id.0.clone()),
        full: job.full,
    }
}

/// The job store's view of an indexer's progress.
pub fn to_job_progress(p: &RunCounts) -> jobstore::Progress {
    jobstore::Progress {
        files_seen: p.files_seen,
        files_changed: p.files_changed,
        files_deleted: p.files_deleted,
        chunks_added: p.chunks_added,
        chunks_removed: p.chunks_removed,
    }
}

/// Queues one catch-up job per configured branch, so pushes missed while the gateway was
/// down are picked up (the stat cache and git diff keep these cheap when nothing changed).
pub async fn enqueue_catch_up(jobs: &dyn JobStore, repos: &[RepoSpec]) {
    for repo in repos {
        for git_ref in repo.branch_refs() {
            let job = NewJob::index(repo.name.clone(), git_ref, Trigger::Manual);
            if let Err(error) = jobs.enqueue(job).await {
                tracing::warn!(%error, repo = %repo.name, "could not queue the start-up catch-up job");
            }
        }
    }
}

/// Drops finished jobs older than `retention` once an hour, until shutdown.
pub async fn clean_up_until_shutdown(
    jobs: &dyn JobStore,
    retention: Duration,
    shutdown: &Shutdown,
) {
    let mut ticker = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.started() => return,
        }
        match jobs.cleanup(retention).await {
            Ok(removed) if removed > 0 => tracing::info!(removed, "old finished jobs dropped"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "periodic cleanup failed"),
        }
    }
}
