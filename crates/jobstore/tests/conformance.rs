//! The conformance suite against both backends, one test per rule so failures are named.

use std::sync::atomic::{AtomicUsize, Ordering};

use jobstore::{JobStore, MemoryJobStore, SledJobStore, StoreConfig};

macro_rules! suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            use super::*;
            jobstore::conformance_checks!(suite, @tests $make);
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
