//! `git diff --name-status -z` parsing, including renames, copies and odd bytes.

use indexer::{ChangeStatus, Error, PathChange};

#[test]
fn parses_every_status_and_two_path_records() {
    let out = b"A\0new file.rs\0M\0src/lib.rs\0D\0old.txt\0R100\0a/from.rs\0b/to.rs\0\
C075\0tpl.rs\0copy.rs\0T\0link\0U\0conflict.rs\0";
    let changes = PathChange::parse_name_status_z(out).unwrap();
    let summary: Vec<(ChangeStatus, &str, Option<&str>)> = changes
        .iter()
        .map(|c| (c.status, c.path.as_str(), c.old_path.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            (ChangeStatus::Added, "new file.rs", None),
            (ChangeStatus::Modified, "src/lib.rs", None),
            (ChangeStatus::Deleted, "old.txt", None),
            (ChangeStatus::Renamed, "b/to.rs", Some("a/from.rs")),
            (ChangeStatus::Copied, "copy.rs", Some("tpl.rs")),
            (ChangeStatus::TypeChanged, "link", None),
            (ChangeStatus::Modified, "conflict.rs", None),
        ]
    );
}

#[test]
fn odd_bytes_in_paths_are_kept_or_replaced_lossily() {
    let out = b"M\0tab\there\0M\0new\nline\0M\0caf\xc3\xa9\0M\0bad\xff.rs\0M\0\"quoted\"\0";
    let paths: Vec<String> = PathChange::parse_name_status_z(out)
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(
        paths,
        [
            "tab\there",
            "new\nline",
            "café",
            "bad\u{fffd}.rs",
            "\"quoted\""
        ]
    );
}

#[test]
fn empty_output_and_missing_final_nul_are_fine() {
    assert!(PathChange::parse_name_status_z(b"").unwrap().is_empty());
    let changes = PathChange::parse_name_status_z(b"M\0a.rs").unwrap();
    assert_eq!(changes[0].path, "a.rs");
}

#[test]
fn malformed_output_is_an_error_saying_where() {
    for (bad, needle) in [
        (b"M\0a.rs\0Z\0b.rs\0".as_slice(), "byte 7"),
        (b"R100\0only-one\0", "missing a path"),
        (b"M\0", "missing a path"),
        (b"Mx\0a\0", "unknown status"),
        (b"src/lib.rs\0", "unknown status"),
    ] {
        match PathChange::parse_name_status_z(bad) {
            Err(error @ Error::BadNameStatus { .. }) => {
                assert!(error.to_string().contains(needle), "{error} lacks {needle}")
            }
            other => panic!("{bad:?} parsed as {other:?}"),
        }
    }
}
