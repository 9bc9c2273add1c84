//! Literal and regex modes: exact answers with match ranges, `sym:`/`lang:`/`file:`, the
//! time budget, and a property test against a plain line-by-line scan of the same files.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{demo_index, file, hits, main_key, put, q};
use proptest::prelude::*;
use search::{Grouping, MatchRange, Mode, Query, SearchIndex};

fn exact(text: &str, mode: Mode, case_sensitive: bool) -> Query {
    Query {
        mode,
        case_sensitive,
        limit: 100,
        ..q(text)
    }
}

fn code_index() -> SearchIndex {
    demo_index(vec![
        file(
            "src/lock.rs",
            "pub fn clear_stale_locks(dir: &Path) {\n    // Stale locks: older than an hour.\n}\nfn other() {}",
            2,
        ),
        file(
            "py/lock.py",
            "def clear_stale_locks(path):\n    STALE = 3600\n    return path",
            10,
        ),
        file("docs/locks.md", "Stale LOCKS are cleared at start.", 10),
    ])
}

#[test]
fn literal_matches_substrings_with_ranges_and_case() {
    let index = code_index();
    let found = index
        .search(&exact("tale lock", Mode::Literal, true))
        .expect("search");
    assert_eq!(found.hits.len(), 1, "{:?}", found.hits);
    let hit = &found.hits[0];
    assert_eq!((hit.path.as_str(), hit.start_line), ("src/lock.rs", 1));
    assert_eq!(
        hit.matches,
        [MatchRange {
            line: 2,
            start: 8,
            end: 17
        }]
    );
    assert_eq!(hit.snippet, "2:     // Stale locks: older than an hour.");
    assert!(!found.partial);

    let mut any_case: Vec<String> = hits(&index, exact("stale lock", Mode::Literal, false));
    any_case.sort();
    assert_eq!(any_case, ["docs/locks.md:1", "src/lock.rs:1"]);
    // Literal means literal: regex syntax is plain text.
    assert!(hits(&index, exact("stale.locks", Mode::Literal, false)).is_empty());
}

#[test]
fn regex_matches_line_by_line() {
    let index = code_index();
    let found = hits(&index, exact(r"fn \w+_locks\(", Mode::Regex, true));
    assert_eq!(found, ["src/lock.rs:1"]);
    let mut defs = hits(&index, exact(r"^(pub )?(fn|def) clear", Mode::Regex, true));
    defs.sort();
    assert_eq!(defs, ["py/lock.py:1", "src/lock.rs:1"]);
    // A match never spans lines.
    assert!(hits(&index, exact(r"\{\s+//", Mode::Regex, true)).is_empty());
    match index.search(&exact("(unclosed", Mode::Regex, true)) {
        Err(search::Error::BadQuery { reason }) => assert!(reason.contains("regex"), "{reason}"),
        other => panic!("expected a bad query, got {other:?}"),
    }
}

#[test]
fn sym_lang_and_file_filter() {
    let index = code_index();
    // Declarations only: the comment and the markdown mention stale locks too.
    let mut defs = hits(&index, q("sym:clear_stale_locks"));
    defs.sort();
    assert_eq!(defs, ["py/lock.py:1", "src/lock.rs:1"]);
    assert_eq!(hits(&index, q("stale locks lang:python")), ["py/lock.py:1"]);
    assert_eq!(hits(&index, q("file:docs/ stale")), ["docs/locks.md:1"]);
    assert_eq!(
        hits(&index, exact("lang:rust clear_stale", Mode::Literal, true)),
        ["src/lock.rs:1"]
    );
    assert!(matches!(
        index.search(&q("lang:cobol locks")),
        Err(search::Error::BadQuery { .. })
    ));
}

#[test]
fn a_query_past_its_budget_answers_partial() {
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    let files = (0..80)
        .map(|i| file(&format!("f{i:02}.txt"), "nothing to see\nhere", 10))
        .collect();
    put(&index, &k, files, &[]);
    // No literal of three characters: every chunk is verified, and there is no time.
    let query = Query {
        budget: Some(Duration::ZERO),
        ..exact("x.z", Mode::Regex, true)
    };
    let found = index.search(&query).expect("search");
    assert!(found.partial);
    assert!(found.hits.is_empty());
    let unbounded = index
        .search(&exact("x.z", Mode::Regex, true))
        .expect("search");
    assert!(!unbounded.partial);
}

#[test]
fn empty_lines_match_like_rg() {
    // Four empty lines (the fifth piece after the last newline is no line, as for rg), in
    // chunks of two: `^` matches each of them once.
    let index = demo_index(vec![file("blank.txt", "\n\n\n\n", 2)]);
    let found = index
        .search(&exact("^", Mode::Regex, true))
        .expect("search");
    let lines: Vec<u32> = found
        .hits
        .iter()
        .flat_map(|h| h.matches.iter().map(|m| m.line))
        .collect();
    assert_eq!(lines, [1, 2, 3, 4]);
}

#[test]
fn exact_hits_group_by_file() {
    let index = demo_index(vec![file("a.txt", "x1\nx2\nx3", 1), file("b.txt", "x4", 1)]);
    let query = Query {
        group: Grouping::File,
        ..exact("x", Mode::Literal, true)
    };
    let found = index.search(&query).expect("search").hits;
    let paths: Vec<&str> = found.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(paths, ["a.txt", "b.txt"]);
    assert_eq!(found[0].others.len(), 2);
}

/// Every (path, line, start, end) a plain scan finds: each line of each file (split at
/// `\n`), its non-empty matches, or its first (empty) match when it has only empty ones.
fn scan(files: &[(String, String)], regex: &regex::Regex) -> BTreeSet<(String, u32, u32, u32)> {
    let mut out = BTreeSet::new();
    for (path, text) in files {
        // An empty file has no lines (rg prints nothing for it, whatever the pattern), and
        // the index holds no chunk of it.
        if text.is_empty() {
            continue;
        }
        let body = text.strip_suffix('\n').unwrap_or(text);
        for (i, line) in body.split('\n').enumerate() {
            let n = i as u32 + 1;
            let mut any = false;
            for m in regex.find_iter(line).filter(|m| !m.is_empty()) {
                any = true;
                out.insert((path.clone(), n, m.start() as u32, m.end() as u32));
            }
            if !any && let Some(m) = regex.find(line) {
                out.insert((path.clone(), n, m.start() as u32, m.end() as u32));
            }
        }
    }
    out
}

fn line_text() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[abcAB_ (x]{0,12}").expect("valid")
}

fn pattern() -> impl Strategy<Value = (String, Mode)> {
    prop_oneof![
        proptest::string::string_regex("[abcAB_ (]{1,5}")
            .expect("valid")
            .prop_map(|s| (s, Mode::Literal)),
        proptest::collection::vec(
            prop_oneof![
                Just("a".to_owned()),
                Just("b".to_owned()),
                Just("c".to_owned()),
                Just("ab".to_owned()),
                Just("abc".to_owned()),
                Just(".".to_owned()),
                Just("a+".to_owned()),
                Just("b?".to_owned()),
                Just("(ab|c)".to_owned()),
                Just("[bc]".to_owned()),
                Just("_".to_owned()),
                Just(r"\(".to_owned()),
                Just("^".to_owned()),
                Just("$".to_owned()),
            ],
            1..5
        )
        .prop_map(|atoms| (atoms.concat(), Mode::Regex)),
    ]
}

#[test]
fn an_empty_file_has_no_line_to_match_but_an_empty_line_does() {
    let index = demo_index(vec![file("empty.txt", "", 1), file("blank.txt", "\n", 1)]);
    for case_sensitive in [true, false] {
        let found: Vec<String> = hits(&index, exact("^", Mode::Regex, case_sensitive));
        assert_eq!(found, ["blank.txt:1"], "case_sensitive {case_sensitive}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn exact_answers_equal_a_plain_scan(
        texts in proptest::collection::vec(proptest::collection::vec(line_text(), 1..8), 1..6),
        chunk_lines in 1usize..4,
        (pattern, mode) in pattern(),
        case_sensitive in any::<bool>(),
    ) {
        let files: Vec<(String, String)> = texts
            .iter()
            .enumerate()
            .map(|(i, lines)| (format!("f{i}.txt"), lines.join("\n")))
            .collect();
        let index = SearchIndex::open_in_memory().expect("open");
        let k = main_key();
        put(
            &index,
            &k,
            files.iter().map(|(p, t)| file(p, t, chunk_lines)).collect(),
            &[],
        );
        let source = match mode {
            Mode::Literal => regex::escape(&pattern),
            _ => pattern.clone(),
        };
        let regex = regex::RegexBuilder::new(&source)
            .case_insensitive(!case_sensitive)
            .build()
            .expect("valid");
        let expected = scan(&files, &regex);
        let found = index
            .search(&exact(&pattern, mode, case_sensitive))
            .expect("search");
        prop_assert!(!found.partial);
        let got: BTreeSet<(String, u32, u32, u32)> = found
            .hits
            .iter()
            .flat_map(|h| h.matches.iter().map(|m| (h.path.clone(), m.line, m.start, m.end)))
            .collect();
        prop_assert_eq!(got, expected);
    }
}
