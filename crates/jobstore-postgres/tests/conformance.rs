//! The jobstore conformance suite against PostgreSQL, one test per rule, each check on a
//! fresh schema.

mod support;

use std::sync::Arc;

use jobstore::{JobStore, StoreConfig};
use support::Schemas;

macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let Some(url) = support::server(concat!("jobstore-postgres conformance::", stringify!($check))).await else {
                    return;
                };
                let schemas = Arc::new(Schemas::new(&url, stringify!($check)));
                let for_make = Arc::clone(&schemas);
                let make = move |config: StoreConfig| {
                    let schemas = &for_make;
                    let schema = schemas.fresh();
                    // The suite's factory is synchronous; connecting is not.
                    let store = tokio::task::block_in_place(|| {
                        tokio::runtime::Handle::current().block_on(schemas.open(&schema, config))
                    });
                    Box::new(store) as Box<dyn JobStore>
                };
                jobstore::conformance::$check(&make).await;
                drop(make);
            }
        )*
    };
}

suite!(
    lifecycle,
    job_ids,
    coalescing,
    follow_up_while_running,
    kinds_supersede,
    per_key_exclusivity,
    dedupe,
    retries_with_backoff,
    retries_run_out,
    lease_expiry,
    fencing,
    cancel_queued,
    cancel_running,
    release,
    list_and_counts,
    cleanup,
    next_waits_for_work,
    producers_and_consumers,
    complete_and_claim,
    success_records_commit_and_note,
    fetch_ref_is_kept_and_folded,
    pending_refs,
);

/// The delivery log's checks, each log in a fresh schema.
macro_rules! delivery_suite {
    ($($check:ident),* $(,)?) => {
        mod deliveries {
            use super::*;
            use jobstore::{DeliveryLog, DeliveryRetention};
            use std::sync::Mutex;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $check() {
                    let Some(url) = support::server(concat!("jobstore-postgres delivery_conformance::", stringify!($check))).await else {
                        return;
                    };
                    let schemas = Arc::new(Schemas::new(&url, stringify!($check)));
                    // A log lives on its store's pool: the stores stay open until the test ends.
                    let stores = Arc::new(Mutex::new(Vec::new()));
                    let (for_make, held) = (Arc::clone(&schemas), Arc::clone(&stores));
                    let make = move |retention: DeliveryRetention| {
                        let schema = for_make.fresh();
                        let store = tokio::task::block_in_place(|| {
                            tokio::runtime::Handle::current()
                                .block_on(for_make.open(&schema, StoreConfig::default()))
                        });
                        let log = store.delivery_log(retention);
                        held.lock().expect("stores").push(store);
                        Box::new(log) as Box<dyn DeliveryLog>
                    };
                    jobstore::delivery_conformance::$check(&make).await;
                    drop(make);
                    drop(stores);
                }
            )*
        }
    };
}

delivery_suite!(
    record_and_get,
    list_pages_and_filters,
    keep_bounds_the_log,
    bodies_kept_within_retention,
);
