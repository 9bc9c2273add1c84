//! The worker pool: claim a job, fetch, index into the search sink, report, repeat.
//!
//! The indexer does blocking file and CPU work, so each run happens on a blocking thread that
//! drives the indexer's future with `Handle::block_on`; the async side heartbeats the job with
//! the latest progress meanwhile. A job is marked succeeded only after the search sink's
//! commit returned, so "succeeded" means "searchable".

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use indexer::{Indexer, ManifestStore, Progress, RunRequest};
use jobstore::{Claimed, Completion, JobKind, NewJob, Trigger};
use tokio::task::JoinHandle;

use crate::app::{App, indexer_config, ref_key};
use crate::git::TreeRequest;

/// How often a running job's lease is renewed and its progress published (well inside the
/// store's 30 s lease; heartbeats are not flushed, so they are cheap).
const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);

/// Starts `config.workers` workers; each ends when shutdown starts.
pub fn spawn(app: Arc<App>) -> Vec<JoinHandle<()>> {
    (0..app.config.workers)
        .map(|n| {
            let app = app.clone();
            tokio::spawn(async move {
                let name = format!("worker-{n}");
                app.workers_up.fetch_add(1, Ordering::SeqCst);
                work(&app, &name).await;
                app.workers_up.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect()
}

async fn work(app: &Arc<App>, name: &str) {
    // The next job, claimed in the same durable write that recorded the previous one's end.
    let mut carried: Option<Claimed> = None;
    loop {
        if app.is_shutting_down() {
            if let Some(claimed) = carried.take() {
                // Claimed and leased but never started: hand it back for the next start.
                let _ = app
                    .jobs
                    .complete(&claimed.job.id, Completion::Released)
                    .await;
            }
            return;
        }
        let claimed = match carried.take() {
            Some(claimed) => Ok(claimed),
            None => tokio::select! {
                claimed = app.jobs.next(name) => claimed,
                _ = app.shutdown_started() => return,
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
        let span = tracing::info_span!("job", id = %id, repo = %claimed.job.repo, git_ref = %claimed.job.git_ref);
        let started = Instant::now();
        let completion = tracing::Instrument::instrument(run(app, &claimed), span.clone()).await;
        let outcome = match &completion {
            Completion::Succeeded { .. } => "succeeded",
            Completion::Failed {
                retryable: true, ..
            } => "retrying",
            Completion::Failed { .. } => "failed",
            Completion::Cancelled => "cancelled",
            Completion::Released => "released",
        };
        span.in_scope(|| {
            tracing::info!(
                outcome,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "job ended"
            )
        });
        if matches!(completion, Completion::Succeeded { .. }) {
            app.metrics
                .index_fresh(&claimed.job.repo, &claimed.job.git_ref, SystemTime::now());
        }
        app.metrics.job_finished(outcome, started.elapsed());
        let released = matches!(completion, Completion::Released);
        let ended = if released || app.is_shutting_down() {
            app.jobs.complete(&id, completion).await.map(|_| ())
        } else {
            // One durable write ends this job and claims the next (if one is waiting).
            app.jobs
                .complete_and_claim(&id, completion, name)
                .await
                .map(|(_, next)| carried = next)
        };
        if let Err(error) = ended {
            tracing::error!(%error, job = %id, "could not record the job's end; its lease will expire and it will run again");
        }
    }
}

async fn run(app: &Arc<App>, claimed: &Claimed) -> Completion {
    let job = &claimed.job;
    let Some(repo) = app.config.repo(&job.repo) else {
        return Completion::Failed {
            error: format!("repo `{}` is no longer in the config", job.repo),
            retryable: false,
        };
    };
    let indexer = match Indexer::new(indexer_config(repo)) {
        Ok(indexer) => Arc::new(indexer),
        Err(error) => {
            return Completion::Failed {
                error: error.to_string(),
                retryable: false,
            };
        }
    };
    let key = ref_key(&repo.name, &job.git_ref);
    let source = app.sources.for_repo(repo);

    if job.kind == JobKind::DeleteRef {
        if let Err(error) = indexer.drop_ref(&key, &*app.search, &*app.manifests).await {
            return Completion::Failed {
                error: error.to_string(),
                retryable: true,
            };
        }
        return match source.remove_ref(repo, &job.git_ref).await {
            Ok(()) => Completion::succeeded(),
            Err(error) => Completion::Failed {
                error: error.message,
                retryable: error.retryable,
            },
        };
    }

    let manifests = app.manifests.clone();
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
        commit: job.commit.as_deref(),
        indexed_commit: indexed_commit.as_deref(),
        full: job.full,
    };
    // A fetch can hang on a silent remote: cancellation and shutdown must not wait for its
    // timeout. Dropping the future kills the git child (kill_on_drop).
    let prepare_started = Instant::now();
    let prepared = tokio::select! {
        prepared = source.prepare(repo, request) => prepared,
        _ = claimed.cancel.cancelled() => return Completion::Cancelled,
        _ = app.shutdown_started() => return Completion::Released,
    };
    let tree = match prepared {
        Ok(tree) => tree,
        Err(error) => {
            return Completion::Failed {
                error: error.message,
                retryable: error.retryable,
            };
        }
    };

    let prepare_ms = prepare_started.elapsed().as_millis() as u64;
    let latest = Arc::new(Mutex::new(Progress::default()));
    let handle = tokio::runtime::Handle::current();
    let blocking = {
        let app = app.clone();
        let latest = latest.clone();
        let cancel = claimed.cancel.clone();
        let indexer = indexer.clone();
        let key = key.clone();
        tokio::task::spawn_blocking(move || {
            let on_progress =
                move |p: &Progress| *latest.lock().unwrap_or_else(|e| e.into_inner()) = *p;
            let cancelled = || cancel.is_cancelled() || app.is_shutting_down();
            let request = RunRequest {
                tree: &tree.path,
                key,
                commit: tree.commit.clone(),
                scope: tree.scope,
            };
            handle.block_on(indexer.run(
                request,
                &*app.search,
                &*app.manifests,
                &on_progress,
                &cancelled,
            ))
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
                if let Err(error) = app.jobs.heartbeat(&job.id, progress).await {
                    tracing::warn!(%error, "heartbeat failed");
                }
            }
        }
    };
    let final_progress = to_job_progress(&latest.lock().unwrap_or_else(|e| e.into_inner()));
    match result {
        Ok(Ok(summary)) => {
            let _ = app
                .jobs
                .heartbeat(&job.id, to_job_progress(&summary.progress))
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
            Completion::succeeded()
        }
        Ok(Err(indexer::Error::Cancelled)) => {
            let _ = app.jobs.heartbeat(&job.id, final_progress).await;
            if claimed.cancel.is_cancelled() {
                Completion::Cancelled
            } else {
                Completion::Released
            }
        }
        Ok(Err(error)) => {
            let retryable = matches!(error, indexer::Error::Io { .. } | indexer::Error::Sink(_));
            Completion::Failed {
                error: error.to_string(),
                retryable,
            }
        }
        Err(join_error) => Completion::Failed {
            error: format!("the indexing task stopped unexpectedly: {join_error}"),
            retryable: true,
        },
    }
}

pub fn to_job_progress(p: &Progress) -> jobstore::Progress {
    jobstore::Progress {
        files_seen: p.files_seen,
        files_changed: p.files_changed,
        files_deleted: p.files_deleted,
        chunks_added: p.chunks_added,
        chunks_removed: p.chunks_removed,
    }
}

/// At start, queue one catch-up job per configured branch, so pushes missed while the gateway
/// was down are picked up (the stat cache and git diff keep these cheap when nothing changed).
pub async fn enqueue_catch_up(app: &App) {
    for repo in &app.config.repos {
        for git_ref in repo.branch_refs() {
            let job = NewJob {
                repo: repo.name.clone(),
                git_ref,
                kind: JobKind::Index,
                commit: None,
                before: None,
                full: false,
                trigger: Trigger::Manual,
                provider: None,
                delivery_id: None,
                dedupe_key: None,
            };
            if let Err(error) = app.jobs.enqueue(job).await {
                tracing::warn!(%error, repo = %repo.name, "could not queue the start-up catch-up job");
            }
        }
    }
}

/// Drops finished jobs older than the retention, once an hour.
pub fn spawn_cleanup(app: Arc<App>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = app.shutdown_started() => return,
            }
            match app.jobs.cleanup(app.config.job_retention).await {
                Ok(removed) if removed > 0 => tracing::info!(removed, "old finished jobs dropped"),
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "periodic cleanup failed"),
            }
        }
    })
}
