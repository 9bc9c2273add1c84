//! Search results as plain text, the way `context-gateway search` prints them: each hit's
//! place, repo, ref and score on one line, then its snippet indented.

use std::fmt;

use crate::hit::SearchResults;

impl fmt::Display for SearchResults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hits.is_empty() {
            writeln!(f, "no hits")?;
        }
        if self.partial {
            writeln!(
                f,
                "(partial: the query ran out of time; these are the hits found until then)"
            )?;
        }
        for hit in &self.hits {
            writeln!(
                f,
                "{}:{}-{}  [{} {}]  score {:.2}",
                hit.path, hit.start_line, hit.end_line, hit.repo, hit.git_ref, hit.score
            )?;
            for line in hit.snippet.lines() {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use indexer::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, RefKey};

    use crate::{Query, SearchIndex, SearchResults};

    #[test]
    fn hits_print_place_ref_score_and_indented_snippet() {
        let index = SearchIndex::open_in_memory().unwrap();
        let key = RefKey::new("demo", "refs/heads/main");
        let text = "fn greet() {\n    hello_world();\n}\n";
        let chunk = Chunk {
            id: ChunkId("c1".into()),
            start_line: 1,
            end_line: 3,
            text: text.into(),
        };
        let upsert = FileUpdate {
            path: "src/greet.rs".into(),
            hash: "h".into(),
            size: text.len() as u64,
            chunks: vec![chunk],
        };
        let changes = ChangeSet {
            key: key.clone(),
            commit: None,
            upserts: vec![upsert],
            deletes: vec![],
            delta: ChunkDelta::default(),
        };
        index.stage(&changes).unwrap();
        index.commit_ref(&key).unwrap();
        let results = index.search(&Query::new("hello world")).unwrap();
        let listing = results.to_string();
        let mut lines = listing.lines();
        let first = lines.next().unwrap();
        assert!(
            first.starts_with("src/greet.rs:1-3  [demo refs/heads/main]  score "),
            "{listing}"
        );
        assert!(
            lines.all(|line| line.starts_with("    ")),
            "the snippet is indented: {listing}"
        );
        assert!(listing.contains("hello_world();"), "{listing}");

        let none = index.search(&Query::new("absent")).unwrap();
        assert_eq!(none.to_string(), "no hits\n");
        let partial = SearchResults {
            hits: vec![],
            partial: true,
        };
        assert_eq!(
            partial.to_string(),
            "no hits\n(partial: the query ran out of time; these are the hits found until then)\n"
        );
    }
}
