//! Ranked retrieval: every word counts but none is required, stems and stop words, `+`/`-`,
//! and grouping by file.

mod common;

use common::{demo_index, file, hits, main_key, put, q};
use search::{Grouping, Query, SearchIndex};

/// Four files that share some of the words of "parse the header of a tar archive".
fn archive_index() -> SearchIndex {
    demo_index(vec![
        file(
            "tarfile.py",
            "def frombuf(buf):\n    # Parsing the tar header block of an archive.\n    return buf",
            10,
        ),
        file("zipfile.py", "def read_archive(f):\n    return f", 10),
        file("email/parser.py", "def parse(headers):\n    pass", 10),
        file("unrelated.py", "def spam():\n    return eggs", 10),
    ])
}

#[test]
fn a_word_the_code_lacks_does_not_empty_the_answer() {
    let index = archive_index();
    // "quickly" occurs nowhere; every other word is somewhere.
    let found = hits(&index, q("quickly parse the header of a tar archive"));
    assert!(found.contains(&"tarfile.py:1".to_owned()), "{found:?}");
    assert!(found.contains(&"zipfile.py:1".to_owned()), "{found:?}");
    assert!(found.contains(&"email/parser.py:1".to_owned()), "{found:?}");
    assert!(!found.contains(&"unrelated.py:1".to_owned()), "{found:?}");
    // Nothing at all matches: the only empty answer.
    assert!(hits(&index, q("quickly zebra")).is_empty());
}

#[test]
fn chunks_with_more_of_the_words_rank_first() {
    // The same length and no declarations: only the words present differ. "parse" is in
    // every file, so it tells least; each further word ranks a file higher.
    let index = demo_index(vec![
        file("one.txt", "x parse y z\nw v", 10),
        file("two.txt", "x parse y header\nw v", 10),
        file("three.txt", "archive parse y header\nw v", 10),
    ]);
    let found = hits(&index, q("parse header archive"));
    assert_eq!(found, ["three.txt:1", "two.txt:1", "one.txt:1"]);
}

#[test]
fn inflections_match_through_stems() {
    let index = archive_index();
    // "parsed headers" finds `parse(headers)` and "Parsing the tar header".
    let mut found = hits(&index, q("parsed"));
    found.sort();
    assert_eq!(found, ["email/parser.py:1", "tarfile.py:1"]);
    assert_eq!(hits(&index, q("archives")).len(), 2);
}

#[test]
fn stop_words_do_not_rank_but_stay_searchable_alone() {
    let index = demo_index(vec![
        file("a.py", "the the the the of of of\nx = 1", 10),
        file("b.py", "def lock_cleanup():\n    pass", 10),
    ]);
    // Without stop words, a.py (which has only "the" and "of") would match too.
    assert_eq!(hits(&index, q("the cleanup of the lock")), ["b.py:1"]);
    // A query of stop words only still searches for them.
    assert_eq!(hits(&index, q("the")), ["a.py:1"]);
}

#[test]
fn plus_demands_and_minus_excludes() {
    let index = archive_index();
    assert_eq!(
        hits(&index, q("+tar parse archive")),
        ["tarfile.py:1"],
        "+tar keeps only chunks with tar"
    );
    let found = hits(&index, q("parse archive -tar"));
    assert_eq!(found, ["email/parser.py:1", "zipfile.py:1"], "{found:?}");
    assert!(hits(&index, q("archive -tar -read")).is_empty());
    for only_excluded in ["-tar", "-tar -zip"] {
        assert!(
            matches!(
                index.search(&q(only_excluded)),
                Err(search::Error::BadQuery { .. })
            ),
            "{only_excluded}"
        );
    }
}

#[test]
fn grouped_by_file_ten_hits_are_ten_places() {
    let index = SearchIndex::open_in_memory().expect("open");
    let k = main_key();
    let many = (0..6)
        .map(|i| format!("lock = acquire_lock({i})"))
        .collect::<Vec<_>>()
        .join("\n");
    put(
        &index,
        &k,
        vec![
            // Six one-line chunks that all mention the lock.
            file("locks.py", &many, 1),
            file("other.py", "release(lock)", 10),
        ],
        &[],
    );
    let query = |group| Query {
        text: "lock".into(),
        limit: 2,
        group,
        ..Query::default()
    };
    let chunks = index.search(&query(Grouping::Chunk)).expect("search").hits;
    assert!(chunks.iter().all(|h| h.path == "locks.py"), "{chunks:?}");
    let files = index.search(&query(Grouping::File)).expect("search").hits;
    let paths: Vec<&str> = files.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(paths, ["locks.py", "other.py"]);
    assert_eq!(
        files[0].others.len(),
        5,
        "the file's other chunks ride along"
    );
    let mut lines: Vec<u32> = files[0].others.iter().map(|c| c.start_line).collect();
    lines.push(files[0].start_line);
    lines.sort_unstable();
    assert_eq!(lines, [1, 2, 3, 4, 5, 6]);
    assert!(files[0].others.iter().all(|c| c.score <= files[0].score));
    assert!(files[1].others.is_empty());
}

#[test]
fn grouped_by_file_a_file_answering_in_several_places_ranks_first() {
    let index = demo_index(vec![
        // One chunk with both words, tightly.
        file("once.py", "stale lock", 10),
        // Three chunks, each with both words among others: each scores a little lower.
        file(
            "often.py",
            "clear the stale lock now\nstale lock cleared here\nthe stale lock is gone",
            1,
        ),
        file("filler.py", "x = 1\ny = 2", 10),
    ]);
    let query = |group| Query {
        text: "stale lock".into(),
        group,
        ..Query::default()
    };
    let chunks = index.search(&query(Grouping::Chunk)).expect("search").hits;
    assert_eq!(
        chunks[0].path, "once.py",
        "per chunk, the best chunk wins: {chunks:?}"
    );
    let files = index.search(&query(Grouping::File)).expect("search").hits;
    let paths: Vec<&str> = files.iter().map(|h| h.path.as_str()).collect();
    assert_eq!(
        paths,
        ["often.py", "once.py"],
        "per file, the file's other matching chunks count too"
    );
    assert_eq!(files[0].others.len(), 2);
}
