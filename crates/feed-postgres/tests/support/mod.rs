//! The server the tests run against and schemas dropped when a test ends
//! ([`pg_schema::testing`]), with feeds opened on them.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use feed::Retention;
use feed_postgres::{PgFeedOptions, PgFeedStore};
pub use pg_schema::testing::Schemas;

/// Feeds on the schemas of a test.
pub trait Feeds {
    /// A store on `schema`.
    fn open(&self, schema: &str, retention: Retention) -> PgFeedStore;

    /// A store on `schema` through `url`, with a poll interval long enough that every
    /// wake-up it sees came by NOTIFY.
    fn connect(
        &self,
        schema: &str,
        retention: Retention,
        url: &str,
    ) -> Result<PgFeedStore, feed_postgres::PgFeedError>;
}

impl Feeds for Schemas {
    fn open(&self, schema: &str, retention: Retention) -> PgFeedStore {
        self.connect(schema, retention, self.url())
            .expect("connect the feed")
    }

    fn connect(
        &self,
        schema: &str,
        retention: Retention,
        url: &str,
    ) -> Result<PgFeedStore, feed_postgres::PgFeedError> {
        let options = PgFeedOptions {
            schema: schema.to_owned(),
            pool_size: 2,
            poll_every: std::time::Duration::from_secs(3600),
        };
        PgFeedStore::connect(url, options, retention)
    }
}
