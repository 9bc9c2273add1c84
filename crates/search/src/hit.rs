//! What a search returns (plain data: the binary decides how it looks as JSON).

use indexer::RefKey;

use crate::exact::MatchRange;

/// One matching chunk.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Repository name.
    pub repo: String,
    /// Full ref name.
    pub git_ref: String,
    /// The commit of the run that last wrote this file, when known.
    pub commit: Option<String>,
    /// Path relative to the tree root.
    pub path: String,
    /// First line of the chunk (1-based).
    pub start_line: u32,
    /// Last line of the chunk (inclusive).
    pub end_line: u32,
    /// Relevance (BM25 with boosts); only comparable within one result list.
    pub score: f32,
    /// The best-matching lines, each as `LINE: text`, joined by `\n`.
    pub snippet: String,
    /// Grouped by file ([`crate::Grouping::File`]): the file's other matching chunks, best
    /// first (at most five); empty otherwise.
    pub others: Vec<ChunkHit>,
    /// Literal and regex modes: where the pattern matched (at most 100 ranges); empty for
    /// ranked words.
    pub matches: Vec<MatchRange>,
}

/// Another matching chunk of a hit's file.
#[derive(Debug, Clone)]
pub struct ChunkHit {
    /// First line of the chunk (1-based).
    pub start_line: u32,
    /// Last line of the chunk (inclusive).
    pub end_line: u32,
    /// Relevance, comparable with the hits' scores of the same list.
    pub score: f32,
    /// The best-matching lines, each as `LINE: text`, joined by `\n`.
    pub snippet: String,
}

impl From<Hit> for ChunkHit {
    fn from(hit: Hit) -> Self {
        ChunkHit {
            start_line: hit.start_line,
            end_line: hit.end_line,
            score: hit.score,
            snippet: hit.snippet,
        }
    }
}

/// The hits of one query, best first; ties ordered by repo, ref, path, start line.
#[derive(Debug, Clone)]
pub struct SearchResults {
    /// Ranked hits.
    pub hits: Vec<Hit>,
    /// The query ran out of its time budget: these are the hits found until then.
    pub partial: bool,
}

impl SearchResults {
    /// The (repo, ref) of every hit, each once, sorted.
    pub fn ref_keys(&self) -> Vec<RefKey> {
        let mut keys: Vec<RefKey> = (self.hits.iter())
            .map(|h| RefKey::new(&h.repo, &h.git_ref))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(repo: &str, git_ref: &str) -> Hit {
        Hit {
            repo: repo.into(),
            git_ref: git_ref.into(),
            commit: None,
            path: "a.rs".into(),
            start_line: 1,
            end_line: 1,
            score: 1.0,
            snippet: String::new(),
            others: vec![],
            matches: vec![],
        }
    }

    #[test]
    fn ref_keys_are_each_key_once_in_order() {
        let results = SearchResults {
            hits: vec![
                hit("b", "refs/heads/main"),
                hit("a", "refs/heads/main"),
                hit("b", "refs/heads/main"),
                hit("a", "refs/heads/dev"),
            ],
            partial: false,
        };
        assert_eq!(
            results.ref_keys(),
            [
                RefKey::new("a", "refs/heads/dev"),
                RefKey::new("a", "refs/heads/main"),
                RefKey::new("b", "refs/heads/main"),
            ]
        );
    }
}
