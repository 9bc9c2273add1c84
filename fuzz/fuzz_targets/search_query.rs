//! `SearchIndex::search` on an in-memory index: arbitrary query text, repo, ref and path
//! filters and limit.
//!
//! The index is built once per process through the sink API (`stage` + `commit_ref`, the
//! path the indexer takes): two repositories, a branch and a tag, code with camelCase and
//! snake_case names, quotes, tantivy syntax characters and non-ASCII text, so that queries
//! hit, snippets are cut and filters select. Structured input (`arbitrary`).
//!
//! Checks (shared with tests/props.rs through tests/checks/search.rs): no panic; never more
//! hits than the effective limit; every hit is in the requested repository (an empty filter
//! means none); every hit's line range is well formed.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use search::{Query, SearchIndex};

// The index builder and answer checks tests/props.rs uses too, one copy for both.
#[path = "../../tests/checks/search.rs"]
mod search_checks;

use search_checks::{Doc, check_results, index_of};

const DOCS: [Doc; 6] = [
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
    INDEX.get_or_init(|| index_of(&DOCS))
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
        ..Query::default()
    };
    if let Ok(results) = index().search(&query) {
        check_results(&query, &results);
    }
});
