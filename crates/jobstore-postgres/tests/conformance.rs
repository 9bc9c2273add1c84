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
