//! The feed conformance suite against the sled [`FeedStore`], each check on a fresh store.

use std::sync::Mutex;

use feed::{FeedBackend, FeedStore, Retention};

macro_rules! suite {
    ($($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                let dirs = Mutex::new(Vec::new());
                let make = |retention: Retention| {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let feed = FeedStore::open(&dir.path().join("feed"), retention)
                        .expect("open the feed");
                    dirs.lock().expect("dirs").push(dir);
                    Box::new(feed) as Box<dyn FeedBackend>
                };
                feed::conformance::$check(&make);
            }
        )*
    };
}

feed::conformance_checks!(suite);
