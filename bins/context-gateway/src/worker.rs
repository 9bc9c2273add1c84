//! The worker pool: `config.workers` tasks running the pipeline's [`Runner`](pipeline::Runner),
//! the start-up catch-up jobs, the periodic reconcile and cleanup, with the gateway's metrics attached.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use pipeline::Outcome;
use tokio::task::JoinHandle;

use crate::app::App;

/// Starts `config.workers` workers; each ends when shutdown starts.
pub fn spawn(app: Arc<App>) -> Vec<JoinHandle<()>> {
    (0..app.config.workers)
        .map(|n| {
            let app = app.clone();
            tokio::spawn(async move {
                let name = format!("worker-{n}");
                app.workers_up.fetch_add(1, Ordering::SeqCst);
                let on_end = |job: &jobstore::Job, outcome: &Outcome, elapsed| {
                    if matches!(outcome, Outcome::Indexed(_) | Outcome::Dropped) {
                        app.metrics
                            .index_fresh(&job.repo, &job.git_ref, SystemTime::now());
                    }
                    app.metrics.job_finished(outcome.label(), elapsed);
                };
                app.runner.work(&name, &on_end).await;
                app.workers_up.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect()
}

/// At start, queue one catch-up job per configured branch (see
/// [`pipeline::enqueue_catch_up`]).
pub async fn enqueue_catch_up(app: &App) {
    let specs: Vec<_> = app.config.repos.iter().map(|r| r.spec.clone()).collect();
    pipeline::enqueue_catch_up(&*app.jobs, &specs).await;
}

/// Drops finished jobs older than the retention, once an hour.
pub fn spawn_cleanup(app: Arc<App>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = app.runner.shutdown.clone();
        let jobs =
            pipeline::clean_up_until_shutdown(&*app.jobs, app.config.job_retention, &shutdown);
        tokio::join!(jobs, prune_feed_until_shutdown(&app, &shutdown));
    })
}

/// Applies the feed's retention once an hour, so entries age out of refs that get no new
/// ones (a ref's own writes prune it as they happen).
async fn prune_feed_until_shutdown(app: &App, shutdown: &pipeline::Shutdown) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.started() => return,
        }
        let feed = app.feed.clone();
        match tokio::task::spawn_blocking(move || feed.prune_all()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "feed retention pass failed"),
            Err(error) => tracing::warn!(%error, "feed retention pass stopped"),
        }
    }
}

/// One task per repo with a reconcile interval: every interval, a url repo's remote heads
/// are compared with the index ([`pipeline::reconcile_repo`]) and a path repo is rescanned
/// (an index job per configured branch; the stat cache keeps it cheap). Passes of one repo
/// never overlap: each task runs them one after another.
pub fn spawn_reconcile(app: Arc<App>) -> Vec<JoinHandle<()>> {
    app.config
        .repos
        .iter()
        .filter_map(|repo| Some((repo.spec.clone(), repo.reconcile_interval?)))
        .map(|(spec, every)| {
            let app = app.clone();
            tokio::spawn(async move {
                let shutdown = app.runner.shutdown.clone();
                // The start-up catch-up jobs cover the first interval.
                let mut ticker =
                    tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        _ = shutdown.started() => return,
                    }
                    reconcile_once(&app, &spec).await;
                }
            })
        })
        .collect()
}

async fn reconcile_once(app: &App, spec: &pipeline::RepoSpec) {
    if let pipeline::RepoLocation::Path(_) = spec.location {
        pipeline::enqueue_rescan(&*app.jobs, spec).await;
        return;
    }
    let on_missed = |_: &str, _: &pipeline::MissedRef| {};
    let result = pipeline::reconcile_repo(
        spec,
        &app.reconcile_git,
        app.runner.manifests.clone(),
        &*app.jobs,
        &on_missed,
    )
    .await;
    if let Err(error) = result {
        tracing::warn!(%error, repo = %spec.name, "reconcile could not list the remote");
    }
}
