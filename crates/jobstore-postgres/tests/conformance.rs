//! The jobstore conformance suite against PostgreSQL, one test per rule, each check on a
//! fresh schema.

mod support;

use std::sync::Arc;

use jobstore::{JobStore, StoreConfig};
use support::JobStores;

macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $check() {
                let suite = concat!("jobstore-postgres conformance::", stringify!($check));
                let Some(schemas) = support::schemas(suite, stringify!($check)).await else {
                    return;
                };
                let schemas = Arc::new(schemas);
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

jobstore::conformance_checks!(suite);

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
                    let suite = concat!("jobstore-postgres delivery_conformance::", stringify!($check));
                    let Some(schemas) = support::schemas(suite, stringify!($check)).await else {
                        return;
                    };
                    let schemas = Arc::new(schemas);
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
