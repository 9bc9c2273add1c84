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
