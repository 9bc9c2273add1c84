//! The feed as an [`IndexSink`], and [`Tee`]: one run into two sinks.

use std::sync::Arc;

use indexer::{ChangeSet, IndexSink, RefKey, SinkError};

use crate::error::FeedError;
use crate::store::FeedStore;

impl From<FeedError> for SinkError {
    fn from(error: FeedError) -> SinkError {
        match error {
            FeedError::Format { reason, .. } => SinkError::Format { reason },
            other => SinkError::backend(other),
        }
    }
}

impl IndexSink for FeedStore {
    fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
        self.stage(changes);
        Ok(())
    }

    fn commit(&self, key: &RefKey) -> Result<(), SinkError> {
        Ok(self.commit_ref(key)?)
    }

    fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError> {
        Ok(FeedStore::drop_ref(self, key)?)
    }

    fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        self.abort_ref(key);
        Ok(())
    }
}

/// Sends a run to `first`, then `second`: batches to both, and `first` commits before
/// `second`. With the search index first and the feed second, an entry is announced only
/// once its chunks are searchable.
///
/// If `first` committed and `second` failed, the run fails and the indexer keeps its old
/// manifest, so the retry hands both sinks the same changes again: both must take a repeated
/// run without harm (the search index replaces files whole; the feed computes changes against
/// its own state and writes nothing twice).
pub struct Tee {
    /// Committed first.
    pub first: Arc<dyn IndexSink>,
    /// Committed second.
    pub second: Arc<dyn IndexSink>,
}

impl std::fmt::Debug for Tee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee").finish_non_exhaustive()
    }
}

impl IndexSink for Tee {
    fn apply(&self, changes: &ChangeSet) -> Result<(), SinkError> {
        self.first.apply(changes)?;
        self.second.apply(changes)
    }

    fn commit(&self, key: &RefKey) -> Result<(), SinkError> {
        self.first.commit(key)?;
        self.second.commit(key)
    }

    fn drop_ref(&self, key: &RefKey) -> Result<(), SinkError> {
        self.first.drop_ref(key)?;
        self.second.drop_ref(key)
    }

    fn abort(&self, key: &RefKey) -> Result<(), SinkError> {
        let first = self.first.abort(key);
        let second = self.second.abort(key);
        first.and(second)
    }
}
