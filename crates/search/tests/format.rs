//! The index format: an index written by an older tokenizer is rebuilt at a read-write
//! open (and refused read-only), one from a newer build is refused.

mod common;

use std::path::Path;

use common::{hits, main_key, put_file, q};
use search::{Error, INDEX_FORMAT, SearchIndex};
use tantivy::tokenizer::{LowerCaser, SimpleTokenizer, TextAnalyzer};
use tantivy::{Index, TantivyDocument};

/// Writes one chunk the way an older build did: the crate's schema, but tokenized by a
/// plain word tokenizer (no joined identifier tokens) and committed with `payload`.
fn write_with_other_format(dir: &Path, payload: Option<&str>) {
    // Creates the directory with the crate's schema, then lets go of the writer lock.
    drop(SearchIndex::open(dir).expect("create"));
    let index = Index::open_in_dir(dir).expect("open with tantivy");
    index.tokenizers().register(
        "code",
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .build(),
    );
    // No trigrams at all: the rebuild must add them.
    index.tokenizers().register(
        "grams",
        TextAnalyzer::builder(SimpleTokenizer::default()).build(),
    );
    let schema = index.schema();
    let field = |name: &str| schema.get_field(name).expect(name);
    let text = "# http helpers\n\nrequest = parseHttpRequest(raw)\nhandle(request)";
    let mut doc = TantivyDocument::default();
    doc.add_text(field("repo"), "demo");
    doc.add_text(field("ref"), "refs/heads/main");
    doc.add_text(field("commit"), "0ld");
    doc.add_text(field("path"), "src/http.py");
    doc.add_text(field("path_text"), "src/http.py");
    doc.add_text(field("text"), text);
    doc.add_u64(field("start_line"), 3);
    doc.add_u64(field("end_line"), 6);
    doc.add_text(field("chunk_id"), "c-old");
    let mut writer = index.writer::<TantivyDocument>(15_000_000).expect("writer");
    writer.add_document(doc).expect("add");
    let mut commit = writer.prepare_commit().expect("prepare");
    if let Some(payload) = payload {
        commit.set_payload(payload);
    }
    commit.commit().expect("commit");
}

#[test]
fn older_format_is_refused_read_only_and_rebuilt_read_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_with_other_format(dir.path(), None);

    match SearchIndex::open_read_only(dir.path()) {
        Err(e @ Error::IndexFormat { found: 1, .. }) => {
            let message = e.to_string();
            assert!(message.contains("read-write once"), "{message}");
            assert!(
                message.contains(&dir.path().display().to_string()),
                "{message}"
            );
        }
        other => panic!("expected IndexFormat, got {other:?}"),
    }

    let index = SearchIndex::open(dir.path()).expect("open rebuilds");
    assert_eq!(index.num_chunks(), 1);
    // Every naming style finds it: the joined token exists only if it was re-tokenised.
    for query in [
        "parseHttpRequest",
        "parse_http_request",
        "parse http request",
    ] {
        assert_eq!(hits(&index, q(query)), ["src/http.py:3"], "{query}");
    }
    // Literal search needs the trigrams, which the old build never wrote.
    let literal = search::Query {
        mode: search::Mode::Literal,
        ..q("HttpReq")
    };
    assert_eq!(hits(&index, literal), ["src/http.py:3"]);
    let hit = &index.search(&q("parseHttpRequest")).expect("search").hits[0];
    assert_eq!(
        (
            hit.repo.as_str(),
            hit.git_ref.as_str(),
            hit.commit.as_deref()
        ),
        ("demo", "refs/heads/main", Some("0ld"))
    );
    assert_eq!((hit.start_line, hit.end_line), (3, 6));
    assert!(
        hit.snippet.contains("5: request = parseHttpRequest(raw)"),
        "{}",
        hit.snippet
    );

    // The rebuilt documents carry the keys writes delete by: replacing the file replaces them.
    let k = main_key();
    put_file(&index, &k, "src/http.py", "def other(): pass");
    assert!(hits(&index, q("parseHttpRequest")).is_empty());
    assert_eq!(hits(&index, q("other")), ["src/http.py:1"]);

    // Rebuilt and committed in the current format: read-only handles open again.
    drop(index);
    let reader = SearchIndex::open_read_only(dir.path()).expect("read-only after rebuild");
    assert_eq!(reader.num_chunks(), 1);
}

#[test]
fn newer_format_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let newer = INDEX_FORMAT + 1;
    write_with_other_format(dir.path(), Some(&format!("search-index-format {newer}")));
    for result in [
        SearchIndex::open(dir.path()),
        SearchIndex::open_read_only(dir.path()),
    ] {
        match result {
            Err(
                e @ Error::IndexFormat {
                    found, expected, ..
                },
            ) => {
                assert_eq!((found, expected), (newer, INDEX_FORMAT));
                assert!(e.to_string().contains("newer version"), "{e}");
            }
            other => panic!("expected IndexFormat, got {other:?}"),
        }
    }
    let metas = Index::open_in_dir(dir.path())
        .and_then(|i| i.load_metas())
        .expect("metas");
    assert_eq!(metas.payload, Some(format!("search-index-format {newer}")));
}

#[test]
fn new_indexes_record_the_current_format() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = SearchIndex::open(dir.path()).expect("open");
    put_file(&index, &main_key(), "a.rs", "fn assert_equal() {}");
    let payload = index.tantivy_index().load_metas().expect("metas").payload;
    assert_eq!(payload, Some(format!("search-index-format {INDEX_FORMAT}")));
    drop(index);
    let reopened = SearchIndex::open_read_only(dir.path()).expect("read-only");
    assert_eq!(hits(&reopened, q("assertEqual")), ["a.rs:1"]);
}
