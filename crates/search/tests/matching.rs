//! Tokenisation and ranking: naming styles, definitions first, phrases, snippets, ties.

mod common;

use common::{demo_index, file, hits, key, main_key, put, put_file, q};
use search::SearchIndex;

fn styles_index() -> SearchIndex {
    demo_index(vec![
        file(
            "js/client.js",
            "const req = parseHttpRequest(buffer);\nsend(req);",
            10,
        ),
        file(
            "py/server.py",
            "req = parse_http_request(raw)\nhandle(req)",
            10,
        ),
        file("go/handler.go", "r := ParseHTTPRequest(b)\nserve(r)", 10),
        file(
            "docs/notes.txt",
            "an http library; parse it later. request review",
            10,
        ),
    ])
}

#[test]
fn every_naming_style_matches_words_and_each_other() {
    let index = styles_index();
    for query in [
        "parse http request",
        "parseHttpRequest",
        "parse_http_request",
        "ParseHTTPRequest",
    ] {
        let mut found = hits(&index, q(query));
        found.sort();
        let mut expected = vec!["go/handler.go:1", "js/client.js:1", "py/server.py:1"];
        if query == "parse http request" {
            // Loose words also match prose that contains all three.
            expected.insert(0, "docs/notes.txt:1");
        }
        assert_eq!(found, expected, "query {query:?}");
    }
}

#[test]
fn exact_style_ranks_above_other_styles() {
    let index = styles_index();
    assert_eq!(hits(&index, q("parse_http_request"))[0], "py/server.py:1");
    // Matching is case-insensitive, so camelCase and PascalCase spellings are the same
    // whole identifier; snake_case is the other style and ranks below both.
    let camel = hits(&index, q("parseHttpRequest"));
    assert_eq!(
        camel,
        ["go/handler.go:1", "js/client.js:1", "py/server.py:1"]
    );
    let scores: Vec<f32> = index
        .search(&q("parseHttpRequest"))
        .expect("search")
        .hits
        .iter()
        .map(|h| h.score)
        .collect();
    assert!(
        scores[1] > scores[2],
        "exact style must outscore the snake_case spelling: {scores:?}"
    );
}

#[test]
fn definition_ranks_first() {
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    let mut uses = String::new();
    for i in 0..8 {
        uses.push_str(&format!("let r{i} = parse_http_request(input_{i});\n"));
    }
    put(
        &index,
        &k,
        vec![
            file("a_callers.rs", &uses, 100),
            file(
                "b_more_callers.rs",
                "parse_http_request(a);\nparse_http_request(b);",
                100,
            ),
            file(
                "z_http.rs",
                "/// Parses a request.\npub fn parse_http_request(raw: &[u8]) -> Request {\n    Request::new(raw)\n}",
                100,
            ),
        ],
        &[],
    );
    for query in [
        "parse_http_request",
        "parseHttpRequest",
        "parse http request",
    ] {
        assert_eq!(hits(&index, q(query))[0], "z_http.rs:1", "query {query:?}");
    }
}

#[test]
fn quoted_phrases_need_order_and_adjacency() {
    let index = demo_index(vec![
        file("ordered.py", "def read_body_bytes(stream):\n    pass", 10),
        file("reversed.py", "def bytes_body_read(stream):\n    pass", 10),
        file("apart.py", "read(x)\nthe body of bytes", 10),
    ]);
    assert_eq!(hits(&index, q("\"read body bytes\"")), ["ordered.py:1"]);
    assert_eq!(hits(&index, q("\"readBodyBytes\"")), ["ordered.py:1"]);
    let mut loose = hits(&index, q("read body bytes"));
    loose.sort();
    assert_eq!(loose, ["apart.py:1", "ordered.py:1", "reversed.py:1"]);
    // A phrase plus a word: ranked, the chunk with both first; `+` demands both.
    assert_eq!(hits(&index, q("\"body bytes\" stream"))[0], "ordered.py:1");
    assert_eq!(hits(&index, q("+\"body bytes\" +stream")), ["ordered.py:1"]);
}

#[test]
fn path_words_match_and_boost() {
    let index = demo_index(vec![
        file("src/tokenizer.rs", "pub fn split(text: &str) {}", 10),
        file(
            "src/other.rs",
            "// mentions the tokenizer once\nfn unrelated() {}",
            10,
        ),
    ]);
    assert_eq!(
        hits(&index, q("tokenizer")),
        ["src/tokenizer.rs:1", "src/other.rs:1"]
    );
}

#[test]
fn snippets_show_matching_lines_with_numbers() {
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    let text = (1..=30).map(|i| {
        if i == 17 {
            "    total = compute_checksum(data)".to_string()
        } else {
            format!("line_{i} = {i}")
        }
    });
    let text: Vec<String> = text.collect();
    put_file(&index, &k, "m.py", &text.join("\n"));
    let results = index.search(&q("computeChecksum")).expect("search");
    assert_eq!(results.hits.len(), 1);
    let hit = &results.hits[0];
    assert_eq!((hit.start_line, hit.end_line), (11, 20));
    assert_eq!(
        hit.snippet,
        "17: total = compute_checksum(data)".replace("17: ", "17:     ")
    );
    assert_eq!(hit.commit.as_deref(), Some("c0ffee"));
    assert_eq!(
        (hit.repo.as_str(), hit.git_ref.as_str()),
        ("demo", "refs/heads/main")
    );
}

#[test]
fn results_are_deterministic_with_ties_ordered_by_location() {
    let index = SearchIndex::open_in_memory().expect("open");
    let same = "fn shared_helper() {}";
    // Same text under several refs, repos and paths, committed in a scrambled order and
    // in separate commits (separate segments): scores tie exactly.
    let order = [
        ("r2", "refs/heads/b", "b.rs"),
        ("r1", "refs/heads/b", "a.rs"),
        ("r1", "refs/heads/a", "b.rs"),
        ("r1", "refs/heads/a", "a.rs"),
    ];
    for (repo, git_ref, path) in order {
        put(&index, &key(repo, git_ref), vec![file(path, same, 10)], &[]);
    }
    let results = index.search(&q("shared_helper")).expect("search");
    let seen: Vec<(String, String, String)> = results
        .hits
        .iter()
        .map(|h| (h.repo.clone(), h.git_ref.clone(), h.path.clone()))
        .collect();
    let expected: Vec<(String, String, String)> = [
        ("r1", "refs/heads/a", "a.rs"),
        ("r1", "refs/heads/a", "b.rs"),
        ("r1", "refs/heads/b", "a.rs"),
        ("r2", "refs/heads/b", "b.rs"),
    ]
    .iter()
    .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
    .collect();
    assert_eq!(seen, expected);
    assert!(results.hits.windows(2).all(|w| w[0].score == w[1].score));
    for _ in 0..3 {
        assert_eq!(
            hits(&index, q("shared_helper")),
            hits(&index, q("shared_helper"))
        );
    }
}

#[test]
fn exact_identifiers_first_then_longer_ones_and_loose_words() {
    let index = demo_index(vec![
        file("a_longer.py", "self.assertEqualNested(x, y)", 10),
        file("b_words.txt", "we assert equal lengths", 10),
        file("c_snake.py", "assert_equal(x, y)", 10),
        file("d_camel.py", "self.assertEqual(x, y)", 10),
    ]);
    // The identifier in any style first (its own style above the other), then what
    // contains its parts in order: a longer identifier, or the words apart.
    let found = hits(&index, q("assertEqual"));
    assert_eq!(found[..2], ["d_camel.py:1", "c_snake.py:1"]);
    let mut looser = found[2..].to_vec();
    looser.sort();
    assert_eq!(looser, ["a_longer.py:1", "b_words.txt:1"]);
    // Enough exact matches for the limit: the looser ones are not looked for.
    let mut two = q("assertEqual");
    two.limit = 2;
    assert_eq!(hits(&index, two), ["d_camel.py:1", "c_snake.py:1"]);
    // No identifier `equalNested` exists: the looser match still finds the longer one.
    assert_eq!(hits(&index, q("equalNested")), ["a_longer.py:1"]);
}
