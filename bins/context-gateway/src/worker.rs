//! The worker pool: `config.workers` tasks running the pipeline's [`Runner`](pipeline::Runner),
//! the start-up catch-up jobs, the periodic reconcile and cleanup, with the gateway's metrics attached.

use std::sync::Arc;
use std::sync::atomic::Ordering;

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
                    app.metrics.job_finished(job, outcome, elapsed);
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
    let specs: Vec<_> = app
        .config
        .repos
        .iter()
        .cloned()
        .chain(app.repos.discovered_configs())
        .map(|r| r.spec)
        .collect();
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

/// One task per repo with a reconcile interval (configured, discovered before this start,
/// and discovered while running): every interval, a url repo's remote refs are compared with
/// the index ([`pipeline::reconcile_repo`]) and a path repo is rescanned (an index job per
/// configured branch; the stat cache keeps it cheap). Passes of one repo never overlap: each
/// task runs them one after another, and the source refuses a second pass of a repo while
/// one runs.
pub fn spawn_reconcile(app: Arc<App>) -> Vec<JoinHandle<()>> {
    let mut tasks: Vec<JoinHandle<()>> = app
        .config
        .repos
        .iter()
        .cloned()
        .chain(app.repos.discovered_configs())
        .filter_map(|repo| reconcile_loop(&app, &repo))
        .collect();
    if let Some(mut discoveries) = app.take_discoveries() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = app.runner.shutdown.clone();
            let mut started = Vec::new();
            loop {
                let name = tokio::select! {
                    name = discoveries.recv() => name,
                    _ = shutdown.started() => None,
                };
                let Some(name) = name else { break };
                if let Some(task) = app.repos.get(&name).and_then(|r| reconcile_loop(&app, &r)) {
                    started.push(task);
                }
            }
            for task in started {
                let _ = task.await;
            }
        }));
    }
    tasks
}

/// The reconcile task of one repo, or `None` when its interval is 0.
fn reconcile_loop(app: &Arc<App>, repo: &crate::config::RepoConfig) -> Option<JoinHandle<()>> {
    let every = repo.reconcile_interval?;
    let spec = repo.spec.clone();
    let app = app.clone();
    Some(tokio::spawn(async move {
        let shutdown = app.runner.shutdown.clone();
        // The start-up catch-up jobs (or the first push) cover the first interval.
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = shutdown.started() => return,
            }
            reconcile_once(&app, &spec).await;
        }
    }))
}

async fn reconcile_once(app: &App, spec: &pipeline::RepoSpec) {
    if let pipeline::RepoLocation::Path(_) = spec.location {
        pipeline::enqueue_rescan(&*app.jobs, spec).await;
        app.metrics.reconcile_run(&spec.name, "rescan");
        return;
    }
    // `reconcile_repo` logs each miss (ref, indexed and remote commits) at WARN; its count
    // is known at once, how many commits it is behind once the pass is over.
    let on_missed = |repo: &str, miss: &pipeline::MissedRef| {
        app.metrics.missed_webhook(repo, miss, None);
    };
    let result = pipeline::reconcile_repo(
        spec,
        &app.reconcile_git,
        app.runner.manifests.clone(),
        &*app.jobs,
        &on_missed,
    )
    .await;
    match result {
        Ok(missed) => record_reconcile(app, spec, &missed).await,
        Err(pipeline::ReconcileError::Busy) => {
            tracing::debug!(repo = %spec.name, "a reconcile pass of this repo is still running")
        }
        Err(error) => {
            app.metrics.reconcile_run(&spec.name, "failed");
            tracing::warn!(%error, repo = %spec.name, "reconcile pass failed");
        }
    }
}

/// After a pass: the outcome, lag 0 for the refs found in step, and for each missed ref the
/// commits the index lacks (`git rev-list --count indexed..remote` in the mirror, when it has
/// both commits; otherwise the lower bound of 1 `on_missed` set stays).
async fn record_reconcile(app: &App, spec: &pipeline::RepoSpec, missed: &[pipeline::MissedRef]) {
    let outcome = if missed.is_empty() {
        "in_step"
    } else {
        "missed"
    };
    app.metrics.reconcile_run(&spec.name, outcome);
    app.metrics.refs_in_step(&spec.name, missed);
    for miss in missed {
        let (Some(indexed), Some(remote)) = (&miss.indexed, &miss.remote) else {
            continue;
        };
        if let Some(behind) = app
            .reconcile_git
            .commits_between(spec, indexed, remote)
            .await
        {
            app.metrics
                .missed_webhook_depth(&spec.name, &miss.git_ref, behind);
            tracing::info!(
                repo = %spec.name,
                git_ref = %miss.git_ref,
                commits_behind = behind,
                "missed webhook: the index was behind the remote"
            );
        }
    }
}
