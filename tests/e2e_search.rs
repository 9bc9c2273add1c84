//! `GET /search` end to end: modes, grouping, match ranges, the answer's shape and the 400s
//! that name a bad parameter, on the real binary over 127.0.0.1.

mod support;

use serde_json::Value;
use support::*;

/// A gateway serving one local tree, indexed once.
fn gateway(tmp: &std::path::Path) -> Gateway {
    let tree = tmp.join("tree");
    std::fs::create_dir_all(tree.join("src")).unwrap();
    std::fs::write(
        tree.join("src/locks.rs"),
        "/// Clears locks older than an hour.\npub fn clear_stale_locks(dir: &str) -> usize {\n    let stale = 3600;\n    stale_count(dir, stale)\n}\n",
    )
    .unwrap();
    std::fs::write(
        tree.join("src/other.rs"),
        source_file("unrelated_thing", 80),
    )
    .unwrap();
    let config = format!(
        "workers = 1\n\n[[repos]]\nname = \"tree\"\nprovider = \"github\"\npath = \"{}\"\nsecret = \"{SECRET}\"\n",
        tree.display()
    );
    let gw = Gateway::start(tmp, &config);
    gw.trigger_and_wait("tree", b"");
    gw
}

fn get(gw: &Gateway, query: &str) -> Value {
    let answer = gw.manage("GET", &format!("/search?{query}"), b"");
    assert_eq!(answer.status, 200, "{query}: {}", answer.text());
    answer.json()
}

#[test]
fn search_modes_grouping_and_bad_parameters() {
    let tmp = tempfile::tempdir().unwrap();
    let gw = gateway(tmp.path());

    // Lexical: ranked, one unknown word does not empty the answer; the hit keeps the
    // original eight fields and nothing else.
    let body = get(&gw, "q=how%20are%20stale%20locks%20cleared%20zyzzyva");
    assert_eq!(body["partial"], false);
    let hit = &body["hits"][0];
    assert_eq!(hit["path"], "src/locks.rs", "{body}");
    let keys: Vec<&str> = hit
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "commit",
        "end_line",
        "path",
        "ref",
        "repo",
        "score",
        "snippet",
        "start_line",
    ];
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);

    // Literal, case-insensitive, with the match's line and byte range.
    let body = get(&gw, "q=STALE_COUNT&mode=literal&case=no");
    let hit = &body["hits"][0];
    assert_eq!(hit["path"], "src/locks.rs");
    assert_eq!(
        hit["matches"],
        serde_json::json!([{"line": 4, "start": 4, "end": 15}])
    );
    assert!(
        get(&gw, "q=STALE_COUNT&mode=literal").as_object().unwrap()["hits"]
            .as_array()
            .unwrap()
            .is_empty(),
        "case=yes is the default"
    );

    // Regex, and a lang: filter in the query.
    let body = get(&gw, "q=lang:rust%20fn%20%5Cw%2B_locks&mode=regex");
    assert_eq!(body["hits"][0]["matches"][0]["line"], 2, "{body}");

    // Grouped by file: one hit per file, `others` present.
    let body = get(&gw, "q=unrelated_thing%20helper&group=file&limit=5");
    let hits = body["hits"].as_array().unwrap();
    let paths: Vec<&str> = hits.iter().map(|h| h["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["src/other.rs"], "{body}");
    assert!(!hits[0]["others"].as_array().unwrap().is_empty(), "{body}");

    for (query, parameter) in [
        ("q=x&mode=fuzzy", "mode"),
        ("q=x&case=maybe", "case"),
        ("q=x&group=dir", "group"),
        ("q=x&timeout_ms=0", "timeout_ms"),
    ] {
        let answer = gw.manage("GET", &format!("/search?{query}"), b"");
        assert_eq!(answer.status, 400, "{query}");
        let error = &answer.json()["error"];
        assert_eq!(error["code"], "bad_parameter", "{query}");
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(parameter), "{query}: {message}");
    }
    let answer = gw.manage("GET", "/search?q=(unclosed&mode=regex", b"");
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["error"]["code"], "bad_query");
}
