//! The shared state of a running gateway and the one place that opens its storage.
//!
//! Data dir layout: `jobs/` (sled job queue, unless `[cluster]` puts it on PostgreSQL),
//! `deliveries/` (sled delivery log, beside the queue; with `[cluster]` it is in PostgreSQL too), `manifests/` (indexer state per ref),
//! `search/` (tantivy index), `feed/` (sled change feed), `mirrors/` (bare git mirrors),
//! `worktrees/` (materialised refs), `discovered-repos.json` (repos found through `[[orgs]]`
//! hooks).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use feed::{FeedBackend, FeedStore, Tee};
use indexer::FsManifestStore;
use jobstore::{DeliveryLog, JobStore, SledDeliveryLog, SledJobStore, StoreConfig};
use pipeline::deliveries::DeliveryRecorder;
use pipeline::{Background, Discovered, Repos, Runner, Shutdown, Sources};
use search::SearchIndex;
use tokio::sync::Semaphore;
use webhook_core::Registry;

use events::{EventedJobStore, Hub};
use gateway_config::Config;
use http_serve::FailureLimiter;
use http_serve::session::Sessions;
use metrics::{Metrics, TimedJobStore};

/// Why the gateway could not start, worded for the operator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data dir {path} is not usable: {source}; create it or pick another with --data-dir")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("job store: {0}")]
    Jobs(#[from] jobstore::Error),
    #[error("{0}")]
    Cluster(#[from] gateway_config::cluster::ClusterError),
    #[error("search index: {0}")]
    Search(#[from] search::Error),
    #[error("change feed: {0}")]
    Feed(#[from] feed::FeedError),
    #[error("manifests: {0}")]
    Manifests(#[from] indexer::Error),
    #[error("discovered repos list {path}: {source}")]
    Discovered {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Everything a request handler or a worker needs.
#[derive(Debug)]
pub struct App {
    pub config: Config,
    pub registry: Registry,
    pub jobs: Arc<dyn JobStore>,
    /// The log of webhook deliveries, kept with the job store.
    pub deliveries: Arc<dyn DeliveryLog>,
    /// Writes the delivery log's entries on a task of its own.
    pub recorder: DeliveryRecorder,
    pub search: Arc<SearchIndex>,
    /// Configured repos and the ones `[[orgs]]` hooks discovered.
    pub repos: Arc<Repos>,
    /// The change feed: every run's chunk changes, after the search index committed them.
    pub feed: Arc<dyn FeedBackend>,
    /// The workers (sources, the search index then the feed as sinks, the manifests), the
    /// reconcile and cleanup tasks.
    pub background: Arc<Background>,
    pub metrics: Arc<Metrics>,
    /// Failed and unauthenticated requests per client IP (valid deliveries are never charged).
    pub failures: FailureLimiter,
    /// Requests being answered now; one permit each, `max_in_flight` in all.
    pub in_flight: Arc<Semaphore>,
    /// `GATEWAY_TOKEN`; `None` means management is open to direct loopback clients only.
    pub token: Option<Vec<u8>>,
    /// The dashboard's login sessions (cookie auth for management).
    pub sessions: Sessions,
    /// The live events (`GET /webhooks/events`).
    pub events: Arc<Hub>,
    /// The job store's event publisher (`jobs` is it), which also counts busy workers.
    pub job_events: Arc<EventedJobStore>,
    /// Flips once when shutdown starts; the runner holds a clone.
    shutdown: Shutdown,
    pub started: Instant,
    sequence: AtomicU64,
}

impl App {
    /// Opens (creating as needed) every store under the data dir, and the job store on
    /// PostgreSQL when `[cluster]` is configured.
    pub async fn open(config: Config, token: Option<String>) -> Result<App, StartError> {
        // Absolute from here on (see `ensure_writable`).
        let data = pipeline::data_dir::ensure_writable(&config.data_dir).map_err(|source| {
            StartError::DataDir {
                path: config.data_dir.clone(),
                source,
            }
        })?;
        let store_config = StoreConfig {
            max_attempts: config.max_attempts,
            ..StoreConfig::default()
        };
        let metrics = Arc::new(Metrics::new());
        // The one place the queue's backend is chosen: `[cluster]` shares it with other
        // replicas on PostgreSQL, otherwise it lives in the data dir.
        // The delivery log goes with it: in the same schema, or in its own sled database
        // beside the queue's.
        let retention = config.deliveries.retention;
        let (store, deliveries): (Arc<dyn JobStore>, Arc<dyn DeliveryLog>) = match &config.cluster {
            Some(cluster) => {
                let store = cluster.open(store_config).await?;
                let log = store.delivery_log(retention);
                (Arc::new(store), Arc::new(log))
            }
            None => (
                Arc::new(SledJobStore::open(&data.join("jobs"), store_config)?),
                Arc::new(SledDeliveryLog::open(&data.join("deliveries"), retention)?),
            ),
        };
        let timed: Arc<dyn JobStore> = Arc::new(TimedJobStore::new(store, metrics.clone()));
        // Every job change is published to the live events, whoever made it.
        let events = Arc::new(Hub::new());
        let job_events = Arc::new(EventedJobStore::new(timed, events.clone()));
        let jobs: Arc<dyn JobStore> = job_events.clone();
        let failures = metrics.clone();
        let published = events.clone();
        let recorder = DeliveryRecorder::spawn(
            deliveries.clone(),
            move |entry| crate::http::deliveries::recorded(&published, entry),
            move || failures.delivery_log_failed(),
        );
        let search = Arc::new(SearchIndex::open(&data.join("search"))?);
        let manifests_dir = data.join("manifests");
        pipeline::data_dir::forget_manifests_without_feed(&data).map_err(|source| {
            StartError::DataDir {
                path: manifests_dir,
                source,
            }
        })?;
        let feed: Arc<dyn FeedBackend> =
            Arc::new(FeedStore::open(&data.join("feed"), config.feed_retention)?);
        let manifests = Arc::new(FsManifestStore::new(data.join("manifests"))?);
        let shutdown = Shutdown::new();
        let discovered = Discovered::open(&data).map_err(|source| StartError::Discovered {
            path: data.join(pipeline::discovered::DISCOVERED_FILE),
            source,
        })?;
        let repos = Arc::new(Repos::new(
            config.repos.clone(),
            config.orgs.clone(),
            Arc::new(discovered),
        ));
        let runner = Runner {
            jobs: jobs.clone(),
            sources: Arc::new(
                Sources::new(&data, config.git_timeout).with_observer(metrics.clone()),
            ),
            sink: Arc::new(Tee {
                first: search.clone(),
                second: feed.clone().into_sink(),
            }),
            manifests,
            repos: repos.clone(),
            shutdown: shutdown.clone(),
        };
        let background = Arc::new(
            Background::new(
                runner,
                pipeline::GitSource::new(&data, config.git_timeout).with_observer(metrics.clone()),
                repos.clone(),
                feed.clone(),
                metrics.clone(),
                config.workers,
                config.job_retention,
            )
            .with_deliveries(deliveries.clone()),
        );
        let rl = config.rate_limit;
        Ok(App {
            registry: Registry::with_builtins(),
            jobs,
            deliveries,
            recorder,
            search,
            repos,
            feed,
            background,
            metrics,
            failures: FailureLimiter::new(rl.per_ip_per_sec, rl.per_ip_burst),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight)),
            token: token.map(String::into_bytes),
            sessions: Sessions::new(config.ui),
            events,
            job_events,
            shutdown,
            started: Instant::now(),
            sequence: AtomicU64::new(0),
            config,
        })
    }

    /// A process-unique id (request ids, test delivery ids).
    pub fn next_id(&self, prefix: &str) -> String {
        let n = self.sequence.fetch_add(1, Ordering::Relaxed);
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        format!("{prefix}-{t:x}-{n:x}")
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown.is_started()
    }

    /// Starts shutdown: webhooks get 503, workers stop at the next file boundary.
    pub fn begin_shutdown(&self) {
        self.shutdown.begin();
    }

    /// Resolves once shutdown has started (at once if it already has).
    pub async fn shutdown_started(&self) {
        self.shutdown.started().await
    }
}
