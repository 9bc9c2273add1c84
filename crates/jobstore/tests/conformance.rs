//! The conformance suite against both backends, one test per rule so failures are named.

use std::sync::atomic::{AtomicUsize, Ordering};

use jobstore::{
    DeliveryLog, DeliveryRetention, JobStore, MemoryDeliveryLog, MemoryJobStore, SledDeliveryLog,
    SledJobStore, StoreConfig,
};

macro_rules! suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            suite!(@tests $make;
                lifecycle, job_ids, coalescing, follow_up_while_running, kinds_supersede,
                per_key_exclusivity, dedupe, retries_with_backoff, retries_run_out,
                lease_expiry, fencing, cancel_queued, cancel_running, release, list_and_counts,
                cleanup, next_waits_for_work, producers_and_consumers, complete_and_claim,
                success_records_commit_and_note, fetch_ref_is_kept_and_folded, pending_refs);
        }
    };
    (@tests $make:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (_dir, make) = $make;
                jobstore::conformance::$check(&make).await;
            }
        )*
    };
}

/// Fresh sled stores in subdirectories of one temp dir that lives as long as the test.
fn sled_stores() -> (
    tempfile::TempDir,
    impl Fn(StoreConfig) -> Box<dyn JobStore> + Send + Sync,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().to_owned();
    let counter = AtomicUsize::new(0);
    let make = move |config: StoreConfig| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let store =
            SledJobStore::open(&base.join(format!("jobs-{n}")), config).expect("open store");
        Box::new(store) as Box<dyn JobStore>
    };
    (dir, make)
}

fn memory_stores() -> ((), impl Fn(StoreConfig) -> Box<dyn JobStore> + Send + Sync) {
    ((), |config: StoreConfig| {
        Box::new(MemoryJobStore::new(config)) as Box<dyn JobStore>
    })
}

suite!(sled, sled_stores());
suite!(memory, memory_stores());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes_on_memory() {
    let (_, make) = memory_stores();
    jobstore::conformance::run_all(&make).await;
}

/// The delivery log's checks against both backends.
macro_rules! delivery_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            delivery_suite!(@tests $make; record_and_get, list_pages_and_filters,
                keep_bounds_the_log, bodies_kept_within_retention);
        }
    };
    (@tests $make:expr; $($check:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let (_dir, make) = $make;
                jobstore::delivery_conformance::$check(&make).await;
            }
        )*
    };
}

fn sled_logs() -> (
    tempfile::TempDir,
    impl Fn(DeliveryRetention) -> Box<dyn DeliveryLog> + Send + Sync,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().to_owned();
    let counter = AtomicUsize::new(0);
    let make = move |retention: DeliveryRetention| {
        let n = counter.fetch_add(1, Ordering::Relaxed);
        let log = SledDeliveryLog::open(&base.join(format!("deliveries-{n}")), retention)
            .expect("open log");
        Box::new(log) as Box<dyn DeliveryLog>
    };
    (dir, make)
}

fn memory_logs() -> (
    (),
    impl Fn(DeliveryRetention) -> Box<dyn DeliveryLog> + Send + Sync,
) {
    ((), |retention: DeliveryRetention| {
        Box::new(MemoryDeliveryLog::new(retention)) as Box<dyn DeliveryLog>
    })
}

delivery_suite!(sled_deliveries, sled_logs());
delivery_suite!(memory_deliveries, memory_logs());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_run_all_passes_on_memory() {
    let (_, make) = memory_logs();
    jobstore::delivery_conformance::run_all(&make).await;
}
