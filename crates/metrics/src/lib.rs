//! The gateway's Prometheus metrics: typed `prometheus-client` families, recorded where things
//! happen and encoded as OpenMetrics text for `GET /metrics`.
//!
//! Recording is a lock-free atomic bump on a family entry (a read lock to find it). What the
//! job store knows (jobs by state, the refs with work waiting) is read at scrape time from its
//! in-memory indexes, so it cannot drift; index lag is computed from it then. [`Metrics`] is
//! also the pipeline's [`GitObserver`], and [`TimedJobStore`] wraps any [`jobstore::JobStore`]
//! to time its durable writes. docs/OPERATIONS.md lists every family with its labels and exact
//! definition. The crate knows nothing of HTTP servers: a route is a `&'static str` label.
//!
//! ```
//! use metrics::{DeliveryOutcome, Metrics};
//!
//! let metrics = Metrics::new();
//! metrics.delivery("github", "push", DeliveryOutcome::Accepted);
//! metrics.request("webhook", 202, std::time::Duration::from_millis(3));
//! let text = metrics.render(None, None);
//! assert!(text.contains("context_gateway_webhook_deliveries_total"));
//! assert!(text.ends_with("# EOF\n"));
//! ```

#![deny(missing_docs)]

mod labels;
mod recent;
mod timed_store;

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jobstore::{Job, JobKind, PendingRef, StateCounts, Trigger};
use pipeline::{BackgroundObserver, GitObserver, MissedRef, Outcome, SourceError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use labels::{
    DeliveryLabels, GitFailureLabels, HttpLabels, OperationLabels, OutcomeLabels, RefLabels,
    RepoLabels, RepoOutcomeLabels, RouteLabels, StateLabels, StoreLabels, TriggerLabels,
};
pub use labels::{DeliveryOutcome, event_label, refusal_cause};
pub use recent::{MinuteCounts, RefusedCounts, SearchableSummary};
pub use timed_store::TimedJobStore;

/// The content type of `GET /metrics`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

const HTTP_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const JOB_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];
const PUSH_BUCKETS: [f64; 13] = [
    0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
const GIT_BUCKETS: [f64; 14] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
const STORE_BUCKETS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;
type SecondsGauge = Gauge<f64, AtomicU64>;

fn histograms<L: Clone + std::hash::Hash + Eq>(make: fn() -> Histogram) -> Histograms<L> {
    Family::new_with_constructor(make)
}

/// Every metric family of a running gateway, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    http_duration: Histograms<HttpLabels>,
    in_flight_refusals: Family<RouteLabels, Counter>,
    delivery_log_failures: Counter,
    push_to_searchable: Histograms<TriggerLabels>,
    job_duration: Histograms<OutcomeLabels>,
    jobs: Family<StateLabels, Gauge>,
    oldest_queued: SecondsGauge,
    lag_seconds: Family<RefLabels, SecondsGauge>,
    lag_commits: Family<RefLabels, Gauge>,
    last_success: Family<RefLabels, SecondsGauge>,
    git_duration: Histograms<OperationLabels>,
    git_failures: Family<GitFailureLabels, Counter>,
    reconcile_runs: Family<RepoOutcomeLabels, Counter>,
    missed_webhooks: Family<RepoLabels, Counter>,
    chunks_withheld: Family<RepoLabels, Counter>,
    secret_files_skipped: Family<RepoLabels, Counter>,
    store_writes: Histograms<StoreLabels>,
    /// Refs seen indexed or compared since start: each gets a lag of 0 when nothing waits.
    known_refs: Mutex<BTreeSet<RefLabels>>,
    /// One scrape at a time: a scrape rewrites the lag gauges from scratch.
    scrape: Mutex<()>,
    /// The last hour for the dashboard (`GET /webhooks/status`).
    recent: recent::Recent,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every family registered, all at zero.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("context_gateway");
        let m = Metrics {
            deliveries: Family::default(),
            http_duration: histograms(|| Histogram::new(HTTP_BUCKETS)),
            in_flight_refusals: Family::default(),
            delivery_log_failures: Counter::default(),
            push_to_searchable: histograms(|| Histogram::new(PUSH_BUCKETS)),
            job_duration: histograms(|| Histogram::new(JOB_BUCKETS)),
            jobs: Family::default(),
            oldest_queued: Gauge::default(),
            lag_seconds: Family::default(),
            lag_commits: Family::default(),
            last_success: Family::default(),
            git_duration: histograms(|| Histogram::new(GIT_BUCKETS)),
            git_failures: Family::default(),
            reconcile_runs: Family::default(),
            missed_webhooks: Family::default(),
            chunks_withheld: Family::default(),
            secret_files_skipped: Family::default(),
            store_writes: histograms(|| Histogram::new(STORE_BUCKETS)),
            known_refs: Mutex::default(),
            scrape: Mutex::default(),
            recent: recent::Recent::default(),
            registry: Registry::default(),
        };
        registry.register(
            "webhook_deliveries",
            "Webhook deliveries by provider, event, outcome (accepted, duplicate, ignored, refused) and refusal cause",
            m.deliveries.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route template and status",
            m.http_duration.clone(),
        );
        registry.register(
            "http_in_flight_refusals",
            "Requests answered 503 because max_in_flight requests were being answered, by route template",
            m.in_flight_refusals.clone(),
        );
        registry.register(
            "delivery_log_write_failures",
            "Deliveries whose delivery log entry could not be written or was dropped because the log fell behind (the delivery's answer was not affected)",
            m.delivery_log_failures.clone(),
        );
        registry.register(
            "push_to_searchable_seconds",
            "From the creation of an index job (the arrival of the oldest request folded into it) to its success, when the ref's new state is searchable; by trigger",
            m.push_to_searchable.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Time from claim to end of job attempts, by outcome",
            m.job_duration.clone(),
        );
        registry.register("jobs", "Jobs in the store, by state", m.jobs.clone());
        registry.register(
            "queue_oldest_job_age_seconds",
            "Age of the oldest queued job (0 when none is queued)",
            m.oldest_queued.clone(),
        );
        registry.register(
            "index_lag_seconds",
            "Per indexed ref: how long the oldest queued or running job of the ref has been waiting (0 when none)",
            m.lag_seconds.clone(),
        );
        registry.register(
            "index_lag_commits",
            "Per indexed ref: commits on the remote's head that the index does not hold, as of the last reconcile or index job (a lower bound of 1 when the mirror lacks the remote commit)",
            m.lag_commits.clone(),
        );
        registry.register(
            "index_last_success_timestamp_seconds",
            "When each ref last finished an index job (Unix time)",
            m.last_success.clone(),
        );
        registry.register(
            "git_duration_seconds",
            "Wall time of git commands, by operation (git's subcommand)",
            m.git_duration.clone(),
        );
        registry.register(
            "git_failures",
            "Failed git commands, by operation and failure kind",
            m.git_failures.clone(),
        );
        registry.register(
            "reconcile_runs",
            "Periodic reconcile passes, by repo and outcome (in_step, missed, failed, rescan)",
            m.reconcile_runs.clone(),
        );
        registry.register(
            "missed_webhooks",
            "Refs a reconcile pass found out of step with the remote (a webhook that never arrived), by repo",
            m.missed_webhooks.clone(),
        );
        registry.register(
            "secret_chunks_withheld",
            "Chunks withheld from search because they hold a high-confidence secret, counted by the index runs that chunked them, by repo",
            m.chunks_withheld.clone(),
        );
        registry.register(
            "secret_files_skipped",
            "Well-known secret files skipped by index runs, by repo",
            m.secret_files_skipped.clone(),
        );
        registry.register(
            "store_write_duration_seconds",
            "Durable job store writes, by operation (enqueue, complete, complete_and_claim, cancel, cleanup)",
            m.store_writes.clone(),
        );
        Metrics { registry, ..m }
    }

    /// One answered request: its route template, status and time to answer.
    pub fn request(&self, route: &'static str, status: u16, elapsed: Duration) {
        self.http_duration
            .get_or_create(&HttpLabels { route, status })
            .observe(elapsed.as_secs_f64());
    }

    /// A request refused because `max_in_flight` requests were being answered.
    pub fn in_flight_refused(&self, route: &'static str) {
        self.in_flight_refusals
            .get_or_create(&RouteLabels { route })
            .inc();
    }

    /// A delivery whose entry in the delivery log could not be written or was dropped (its
    /// answer stood).
    pub fn delivery_log_failed(&self) {
        self.delivery_log_failures.inc();
    }

    /// One webhook delivery's outcome.
    pub fn delivery(&self, provider: &'static str, event: &'static str, outcome: DeliveryOutcome) {
        self.recent.delivery(outcome, SystemTime::now());
        self.deliveries
            .get_or_create(&DeliveryLabels::new(provider, event, outcome))
            .inc();
    }

    /// A durable job store write of `operation` that took `elapsed`.
    pub fn store_write(&self, operation: &'static str, elapsed: Duration) {
        self.store_writes
            .get_or_create(&StoreLabels { operation })
            .observe(elapsed.as_secs_f64());
    }

    /// A job attempt ended: its duration, and for a success the ref's freshness, the
    /// push-to-searchable time and the secrets the run withheld.
    pub fn job_finished(&self, job: &Job, outcome: &Outcome, elapsed: Duration) {
        self.job_duration
            .get_or_create(&OutcomeLabels {
                outcome: outcome.label(),
            })
            .observe(elapsed.as_secs_f64());
        let now = SystemTime::now();
        let key = RefLabels::new(&job.repo, &job.git_ref);
        match outcome {
            Outcome::Indexed { summary, .. } => {
                if job.kind == JobKind::Index {
                    let waited = now.duration_since(job.created_at).unwrap_or_default();
                    if job.trigger == Trigger::Webhook {
                        self.recent.searchable(waited, now);
                    }
                    self.push_to_searchable
                        .get_or_create(&TriggerLabels {
                            trigger: job.trigger.as_str(),
                        })
                        .observe(waited.as_secs_f64());
                }
                let repo = RepoLabels {
                    repo: job.repo.clone(),
                };
                self.chunks_withheld
                    .get_or_create(&repo)
                    .inc_by(summary.progress.chunks_withheld);
                self.secret_files_skipped
                    .get_or_create(&repo)
                    .inc_by(summary.progress.files_skipped_secret);
                self.fresh(key, now);
            }
            // The index already held the ref's tip: fresh, with nothing new to search.
            Outcome::Unchanged { .. } => self.fresh(key, now),
            Outcome::Dropped => self.forget(&key),
            _ => {}
        }
    }

    /// Deliveries of each of the last 60 minutes (the current one last), by outcome.
    pub fn deliveries_per_minute(&self) -> Vec<MinuteCounts> {
        self.recent.deliveries_per_minute(SystemTime::now())
    }

    /// Times from acceptance to success of the webhook-triggered index jobs that succeeded
    /// (with something new to search) in the last hour.
    pub fn push_to_searchable(&self) -> SearchableSummary {
        self.recent.push_to_searchable(SystemTime::now())
    }

    /// The ref's index holds its tip as of `now`: nothing on the remote is missing.
    fn fresh(&self, key: RefLabels, now: SystemTime) {
        let ts = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        self.last_success.get_or_create(&key).set(ts.as_secs_f64());
        self.lag_commits.get_or_create(&key).set(0);
        self.known(key);
    }

    /// One reconcile pass of `repo` ended with `outcome` (`in_step`, `missed`, `failed`,
    /// `rescan`).
    pub fn reconcile_run(&self, repo: &str, outcome: &'static str) {
        self.reconcile_runs
            .get_or_create(&RepoOutcomeLabels {
                repo: repo.to_string(),
                outcome,
            })
            .inc();
    }

    /// A ref a reconcile found out of step, with the commits the index lacks when known.
    pub fn missed_webhook(&self, repo: &str, miss: &MissedRef, commits_behind: Option<u64>) {
        self.missed_webhooks
            .get_or_create(&RepoLabels {
                repo: repo.to_string(),
            })
            .inc();
        let key = RefLabels::new(repo, &miss.git_ref);
        if miss.remote.is_some() {
            let behind = commits_behind.unwrap_or(1).max(1);
            self.lag_commits
                .get_or_create(&key)
                .set(i64::try_from(behind).unwrap_or(i64::MAX));
            self.known(key);
        }
    }

    /// How many commits the index of a missed ref lacked, once counted.
    pub fn missed_webhook_depth(&self, repo: &str, git_ref: &str, commits: u64) {
        self.lag_commits
            .get_or_create(&RefLabels::new(repo, git_ref))
            .set(i64::try_from(commits.max(1)).unwrap_or(i64::MAX));
    }

    /// How many commits the index of (`repo`, `git_ref`) was last known to be behind: 0 after
    /// a job of the ref or a reconcile pass that found it in step, the reconcile's count after
    /// a miss; `None` before either.
    pub fn lag_commits_of(&self, repo: &str, git_ref: &str) -> Option<u64> {
        let value = self.lag_commits.get(&RefLabels::new(repo, git_ref))?.get();
        u64::try_from(value).ok()
    }

    /// A reconcile pass of `repo` found every known ref but `missed` at the remote's commit.
    pub fn refs_in_step(&self, repo: &str, missed: &[MissedRef]) {
        let known = self.known_refs.lock().unwrap_or_else(|e| e.into_inner());
        for key in known.iter().filter(|k| k.repo == repo) {
            if !missed.iter().any(|m| m.git_ref == key.r#ref) {
                self.lag_commits.get_or_create(key).set(0);
            }
        }
    }

    fn known(&self, key: RefLabels) {
        self.known_refs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key);
    }

    fn forget(&self, key: &RefLabels) {
        self.known_refs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
        self.lag_commits.remove(key);
        self.lag_seconds.remove(key);
        self.last_success.remove(key);
    }

    /// The OpenMetrics text of everything, with the store's state counts and waiting refs
    /// as of now (`None` when the store did not answer: those families are then left out of
    /// date rather than zeroed).
    pub fn render(&self, counts: Option<&StateCounts>, pending: Option<&[PendingRef]>) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = counts {
            for (state, n) in [
                ("queued", c.queued),
                ("running", c.running),
                ("succeeded", c.succeeded),
                ("failed", c.failed),
                ("cancelled", c.cancelled),
                ("superseded", c.superseded),
            ] {
                self.jobs
                    .get_or_create(&StateLabels { state })
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        if let Some(pending) = pending {
            self.set_lags(pending, SystemTime::now());
        }
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    fn set_lags(&self, pending: &[PendingRef], now: SystemTime) {
        let age = |since: SystemTime| now.duration_since(since).unwrap_or_default().as_secs_f64();
        let oldest = pending.iter().filter_map(|p| p.queued_since).min();
        self.oldest_queued.set(oldest.map_or(0.0, age));
        let mut known = self.known_refs.lock().unwrap_or_else(|e| e.into_inner());
        known.extend(pending.iter().map(|p| RefLabels::new(&p.repo, &p.git_ref)));
        for key in known.iter() {
            self.lag_seconds.get_or_create(key).set(0.0);
        }
        for p in pending {
            self.lag_seconds
                .get_or_create(&RefLabels::new(&p.repo, &p.git_ref))
                .set(age(p.since));
        }
    }
}

impl GitObserver for Metrics {
    fn git_finished(&self, verb: &str, elapsed: Duration, error: Option<&SourceError>) {
        let operation = verb.to_string();
        if let Some(error) = error {
            self.git_failures
                .get_or_create(&GitFailureLabels {
                    operation: operation.clone(),
                    kind: error.kind(),
                })
                .inc();
        }
        self.git_duration
            .get_or_create(&OperationLabels { operation })
            .observe(elapsed.as_secs_f64());
    }
}

#[cfg(test)]
mod tests;

/// The background tasks' reports land in the same families as everything else.
impl BackgroundObserver for Metrics {
    fn job_finished(&self, job: &Job, outcome: &Outcome, elapsed: Duration) {
        Metrics::job_finished(self, job, outcome, elapsed);
    }
    fn reconcile_run(&self, repo: &str, outcome: &'static str) {
        Metrics::reconcile_run(self, repo, outcome);
    }
    fn missed_webhook(&self, repo: &str, miss: &MissedRef) {
        // How far behind is known once the pass is over (`missed_webhook_depth`).
        Metrics::missed_webhook(self, repo, miss, None);
    }
    fn refs_in_step(&self, repo: &str, missed: &[MissedRef]) {
        Metrics::refs_in_step(self, repo, missed);
    }
    fn missed_webhook_depth(&self, repo: &str, git_ref: &str, commits: u64) {
        Metrics::missed_webhook_depth(self, repo, git_ref, commits);
    }
}
