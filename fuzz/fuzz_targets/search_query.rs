//! `SearchIndex::search` on an in-memory index: arbitrary query text, repo, ref and path
//! filters and limit.
//!
//! The index is built once per process through the sink API (`stage` + `commit_ref`, the
//! path the indexer takes): two repositories, a branch and a tag, code with camelCase and
//! snake_case names, quotes, tantivy syntax characters and non-ASCII text, so that queries
//! hit, snippets are cut and filters select. Structured input (`arbitrary`).
//!
//! Checks (as in tests/props.rs, plus the filters): no panic; never more hits than the
//! effective limit; every hit is in the requested repository (an empty filter means none);
//! every hit's line range is well formed.
#![no_main]

use std::sync::OnceLock;

use indexer::{ChangeSet, ChunkConfig, ChunkDelta, FileUpdate, HashAlgo, RefKey, chunk_text};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use search::{Query, SearchIndex};

const DOCS: [(&str, &str, &str, &str); 6] = [
    (
        "demo",
        "refs/heads/main",
        "src/http.rs",
        "fn parse_http_request(raw: &[u8]) -> Request {\n    decode(raw)\n}\n\
         pub fn parseHttpHeader(line: &str) -> Option<(String, String)> { None }\n",
    ),
    (
        "demo",
        "refs/heads/main",
        "src/lib.rs",
        "pub struct SignatureVerifier;\nimpl SignatureVerifier { fn verify() {} }\n\
         // TODO: constant-time compare of the \"sha256=\" header\n",
    ),
    (
        "demo",
        "refs/heads/main",
        "README.md",
        "Context \"Gateway\": search [code] with *globs* and ?marks (a+b) ~c ^d {e} f:g\n\
         Ünïcödé, 日本語のテキスト, emoji 🦀 and tabs\there\n",
    ),
    (
        "demo",
        "refs/tags/v1.0",
        "src/http.rs",
        "fn parse_http_request_v1(raw: &[u8]) -> Request { old_decode(raw) }\n",
    ),
    (
        "other/repo",
        "refs/heads/dev",
        "deep/a/b/c/d/e/mod.py",
        "class WebhookHandler:\n    def handle(self, body):\n        return verify(body)\n",
    ),
    (
        "other/repo",
        "refs/heads/dev",
        "docs/[weird] name?.txt",
        "line of filler text for a longer chunk with AND OR NOT words\n",
    ),
];

fn index() -> &'static SearchIndex {
    static INDEX: OnceLock<SearchIndex> = OnceLock::new();
    INDEX.get_or_init(|| {
        let index = SearchIndex::open_in_memory().expect("in-memory index");
        let mut keys: Vec<RefKey> = Vec::new();
        for (repo, git_ref, _, _) in DOCS {
            let key = RefKey::new(repo, git_ref);
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for key in keys {
            let upserts = DOCS
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
    })
}

#[derive(Debug, Arbitrary)]
struct Input {
    text: String,
    repo: Option<String>,
    git_ref: Option<String>,
    path: Option<String>,
    limit: u16,
}

fuzz_target!(|input: Input| {
    let query = Query {
        text: input.text,
        repo: input.repo,
        git_ref: input.git_ref,
        path: input.path,
        limit: usize::from(input.limit),
    };
    if let Ok(results) = index().search(&query) {
        assert!(results.hits.len() <= query.effective_limit());
        for hit in &results.hits {
            // An empty filter is no filter (as `?repo=` is for the HTTP API).
            if let Some(repo) = query.repo.as_deref().filter(|r| !r.is_empty()) {
                assert_eq!(&hit.repo, repo);
            }
            assert!(
                hit.start_line >= 1 && hit.end_line >= hit.start_line,
                "{hit:?}"
            );
        }
    }
});
