//! The search index both tests/props.rs and the `search_query` fuzz target query, and the
//! checks on every answer (each includes this file with `#[path]`).

use indexer::{ChangeSet, ChunkConfig, ChunkDelta, FileUpdate, HashAlgo, RefKey, chunk_text};
use search::{Query, SearchIndex, SearchResults};

/// One indexed file: repository, ref, path and text.
pub type Doc = (&'static str, &'static str, &'static str, &'static str);

/// An in-memory index of `docs`, written the way the indexer writes (`stage` then
/// `commit_ref`, one change set per ref).
pub fn index_of(docs: &[Doc]) -> SearchIndex {
    let index = SearchIndex::open_in_memory().expect("in-memory index");
    let mut keys: Vec<RefKey> = Vec::new();
    for (repo, git_ref, _, _) in docs {
        let key = RefKey::new(*repo, *git_ref);
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    for key in keys {
        let upserts = docs
            .iter()
            .filter(|(repo, git_ref, _, _)| RefKey::new(*repo, *git_ref) == key)
            .map(|(_, _, path, text)| FileUpdate {
                path: path.to_string(),
                hash: path.to_string(),
                size: text.len() as u64,
                chunks: chunk_text(text, &ChunkConfig::default(), HashAlgo::Blake3),
            })
            .collect();
        index
            .stage(&ChangeSet {
                key: key.clone(),
                commit: Some("c0ffee".into()),
                upserts,
                deletes: vec![],
                delta: ChunkDelta::default(),
            })
            .expect("stage");
        index.commit_ref(&key).expect("commit");
    }
    index
}

/// An answer to `query` holds no more hits than its effective limit, only hits of the
/// requested repository (an empty filter is no filter, as `?repo=` is for the HTTP API),
/// and only well-formed line ranges.
pub fn check_results(query: &Query, results: &SearchResults) {
    assert!(
        results.hits.len() <= query.effective_limit(),
        "{} hits for {query:?}",
        results.hits.len()
    );
    for hit in &results.hits {
        if let Some(repo) = query.repo.as_deref().filter(|r| !r.is_empty()) {
            assert_eq!(&hit.repo, repo);
        }
        assert!(
            hit.start_line >= 1 && hit.end_line >= hit.start_line,
            "{hit:?}"
        );
    }
}
