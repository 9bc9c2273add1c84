//! The gateway's background tasks: `workers` tasks running the [`Runner`], the start-up
//! catch-up jobs, the periodic reconcile of every repo (including repos discovered while
//! running), and the hourly cleanup of old jobs and feed entries. What happens is reported to
//! a [`BackgroundObserver`] (the gateway's metrics).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use feed::FeedBackend;
use jobstore::{DeliveryLog, Job};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;

use crate::discovered::Repos;
use crate::reconcile::{MissedRef, ReconcileError, enqueue_rescan, reconcile_repo};
use crate::repo::{RepoLocation, RepoSpec};
use crate::repo_config::RepoConfig;
use crate::runner::{Outcome, Runner, clean_up_until_shutdown};
use crate::shutdown::Shutdown;
use crate::source::GitSource;

/// What the background tasks report as they go; every method does nothing by default.
pub trait BackgroundObserver: Send + Sync {
    /// A worker finished an attempt of `job` after `elapsed`.
    fn job_finished(&self, job: &Job, outcome: &Outcome, elapsed: Duration) {
        let _ = (job, outcome, elapsed);
    }
    /// A reconcile pass of `repo` ended: `in_step`, `missed`, `rescan` or `failed`.
    fn reconcile_run(&self, repo: &str, outcome: &'static str) {
        let _ = (repo, outcome);
    }
    /// A reconcile pass found a ref whose webhook never arrived.
    fn missed_webhook(&self, repo: &str, miss: &MissedRef) {
        let _ = (repo, miss);
    }
    /// After a pass: every ref of `repo` not in `missed` is in step.
    fn refs_in_step(&self, repo: &str, missed: &[MissedRef]) {
        let _ = (repo, missed);
    }
    /// How many commits the index of a missed ref lacked.
    fn missed_webhook_depth(&self, repo: &str, git_ref: &str, commits: u64) {
        let _ = (repo, git_ref, commits);
    }
}

/// Everything the background tasks use, shared with the gateway's handlers.
pub struct Background {
    /// Runs the jobs; its shutdown stops every task here.
    pub runner: Runner,
    /// Lists remote heads for the periodic reconcile (no mirror, no lock needed).
    pub reconcile_git: GitSource,
    /// Configured repos and the ones org hooks discovered.
    pub repos: Arc<Repos>,
    /// The change feed, pruned hourly.
    pub feed: Arc<dyn FeedBackend>,
    /// Where job ends and reconcile passes are reported.
    pub observer: Arc<dyn BackgroundObserver>,
    /// How many workers [`spawn_workers`] starts.
    pub workers: usize,
    /// Finished jobs older than this are dropped.
    pub job_retention: Duration,
    /// The delivery log, pruned hourly with the jobs.
    deliveries: Option<Arc<dyn DeliveryLog>>,
    workers_up: AtomicUsize,
    discoveries: UnboundedSender<String>,
    discoveries_rx: Mutex<Option<UnboundedReceiver<String>>>,
}

impl std::fmt::Debug for Background {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Background")
            .field("runner", &self.runner)
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

impl Background {
    /// The parts; no task starts before [`spawn_workers`], [`spawn_cleanup`] and
    /// [`spawn_reconcile`].
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        runner: Runner,
        reconcile_git: GitSource,
        repos: Arc<Repos>,
        feed: Arc<dyn FeedBackend>,
        observer: Arc<dyn BackgroundObserver>,
        workers: usize,
        job_retention: Duration,
    ) -> Background {
        let (discoveries, discoveries_rx) = tokio::sync::mpsc::unbounded_channel();
        Background {
            runner,
            reconcile_git,
            repos,
            feed,
            observer,
            workers,
            job_retention,
            deliveries: None,
            workers_up: AtomicUsize::new(0),
            discoveries,
            discoveries_rx: Mutex::new(Some(discoveries_rx)),
        }
    }

    /// Prunes `log` in the hourly cleanup too.
    pub fn with_deliveries(mut self, log: Arc<dyn DeliveryLog>) -> Background {
        self.deliveries = Some(log);
        self
    }

    /// Workers running now.
    pub fn workers_up(&self) -> usize {
        self.workers_up.load(Ordering::SeqCst)
    }

    /// A repo discovered while running: its reconcile task starts.
    pub fn discovered(&self, name: String) {
        let _ = self.discoveries.send(name);
    }

    /// The receiving end of [`Background::discovered`]; `None` after the first call.
    fn take_discoveries(&self) -> Option<UnboundedReceiver<String>> {
        self.discoveries_rx
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn shutdown(&self) -> Shutdown {
        self.runner.shutdown.clone()
    }

    /// Configured repos and those discovered before this start.
    fn known_repos(&self) -> Vec<RepoConfig> {
        let mut repos = self.repos.configured().to_vec();
        repos.extend(self.repos.discovered_configs());
        repos
    }
}

/// Starts the workers; each ends when shutdown starts.
pub fn spawn_workers(app: Arc<Background>) -> Vec<JoinHandle<()>> {
    (0..app.workers)
        .map(|n| {
            let app = app.clone();
            tokio::spawn(async move {
                let name = format!("worker-{n}");
                app.workers_up.fetch_add(1, Ordering::SeqCst);
                let on_end = |job: &Job, outcome: &Outcome, elapsed| {
                    app.observer.job_finished(job, outcome, elapsed);
                };
                app.runner.work(&name, &on_end).await;
                app.workers_up.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect()
}

/// At start, queue one catch-up job per configured branch (see
/// [`crate::enqueue_catch_up`]).
pub async fn enqueue_catch_up(app: &Background) {
    let specs: Vec<_> = app.known_repos().into_iter().map(|r| r.spec).collect();
    crate::runner::enqueue_catch_up(&*app.runner.jobs, &specs).await;
}

/// Drops finished jobs older than the retention, once an hour.
pub fn spawn_cleanup(app: Arc<Background>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let shutdown = app.shutdown();
        let jobs = clean_up_until_shutdown(&*app.runner.jobs, app.job_retention, &shutdown);
        let deliveries = prune_deliveries_until_shutdown(&app, &shutdown);
        tokio::join!(jobs, prune_feed_until_shutdown(&app, &shutdown), deliveries);
    })
}

/// Applies the delivery log's retention once an hour: kept bodies age out even when no
/// delivery arrives.
async fn prune_deliveries_until_shutdown(app: &Background, shutdown: &Shutdown) {
    let Some(log) = &app.deliveries else {
        return;
    };
    let mut ticker = tokio::time::interval(std::time::Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = shutdown.started() => return,
        }
        if let Err(error) = log.prune().await {
            tracing::warn!(%error, "delivery log retention pass failed");
        }
    }
}

/// Applies the feed's retention once an hour, so entries age out of refs that get no new
/// ones (a ref's own writes prune it as they happen).
async fn prune_feed_until_shutdown(app: &Background, shutdown: &Shutdown) {
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
/// the index ([`reconcile_repo`]) and a path repo is rescanned (an index job per
/// configured branch; the stat cache keeps it cheap). Passes of one repo never overlap: each
/// task runs them one after another, and the source refuses a second pass of a repo while
/// one runs.
pub fn spawn_reconcile(app: Arc<Background>) -> Vec<JoinHandle<()>> {
    let mut tasks: Vec<JoinHandle<()>> = app
        .known_repos()
        .iter()
        .filter_map(|repo| reconcile_loop(&app, repo))
        .collect();
    if let Some(mut discoveries) = app.take_discoveries() {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let shutdown = app.shutdown();
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
fn reconcile_loop(app: &Arc<Background>, repo: &RepoConfig) -> Option<JoinHandle<()>> {
    let every = repo.reconcile_interval?;
    let spec = repo.spec.clone();
    let app = app.clone();
    Some(tokio::spawn(async move {
        let shutdown = app.shutdown();
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

async fn reconcile_once(app: &Background, spec: &RepoSpec) {
    if let RepoLocation::Path(_) = spec.location {
        enqueue_rescan(&*app.runner.jobs, spec).await;
        app.observer.reconcile_run(&spec.name, "rescan");
        return;
    }
    // `reconcile_repo` logs each miss (ref, indexed and remote commits) at WARN; its count
    // is known at once, how many commits it is behind once the pass is over.
    let on_missed = |repo: &str, miss: &MissedRef| {
        app.observer.missed_webhook(repo, miss);
    };
    let result = reconcile_repo(
        spec,
        &app.reconcile_git,
        app.runner.manifests.clone(),
        &*app.runner.jobs,
        &on_missed,
    )
    .await;
    match result {
        Ok(missed) => record_reconcile(app, spec, &missed).await,
        Err(ReconcileError::Busy) => {
            tracing::debug!(repo = %spec.name, "a reconcile pass of this repo is still running")
        }
        Err(error) => {
            app.observer.reconcile_run(&spec.name, "failed");
            tracing::warn!(%error, repo = %spec.name, "reconcile pass failed");
        }
    }
}

/// After a pass: the outcome, lag 0 for the refs found in step, and for each missed ref the
/// commits the index lacks (`git rev-list --count indexed..remote` in the mirror, when it has
/// both commits; otherwise the lower bound of 1 `on_missed` set stays).
async fn record_reconcile(app: &Background, spec: &RepoSpec, missed: &[MissedRef]) {
    let outcome = if missed.is_empty() {
        "in_step"
    } else {
        "missed"
    };
    app.observer.reconcile_run(&spec.name, outcome);
    app.observer.refs_in_step(&spec.name, missed);
    for miss in missed {
        let (Some(indexed), Some(remote)) = (&miss.indexed, &miss.remote) else {
            continue;
        };
        if let Some(behind) = app
            .reconcile_git
            .commits_between(spec, indexed, remote)
            .await
        {
            app.observer
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
