//! The layout of the feed's one sled tree. Every key starts with a one-byte tag:
//!
//! | key                                   | value                                |
//! |---------------------------------------|--------------------------------------|
//! | `F`                                   | format version (u32 LE)              |
//! | `N`                                   | the next cursor to hand out (u64 BE) |
//! | `e` cursor(u64 BE)                    | an [`Entry`](crate::Entry), JSON     |
//! | `i` repo 0 ref 0 cursor(u64 BE)       | empty: the ref's entries, in order   |
//! | `s` repo 0 ref 0 path                 | the path's current chunks, JSON      |
//! | `r` repo 0 ref                        | the ref's record, JSON               |
//!
//! Repo names, ref names and paths never hold a NUL byte, so the prefixes do not overlap.

use indexer::RefKey;

pub(crate) const FORMAT_KEY: &[u8] = b"F";
pub(crate) const FORMAT: u32 = 1;
pub(crate) const NEXT_KEY: &[u8] = b"N";

pub(crate) fn entry(cursor: u64) -> Vec<u8> {
    let mut key = vec![b'e'];
    key.extend_from_slice(&cursor.to_be_bytes());
    key
}

fn ref_prefix(tag: u8, key: &RefKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + key.repo.len() + key.git_ref.len() + 2);
    out.push(tag);
    out.extend_from_slice(key.repo.as_bytes());
    out.push(0);
    out.extend_from_slice(key.git_ref.as_bytes());
    out.push(0);
    out
}

/// `i` repo 0 ref 0: the prefix of a ref's index keys.
pub(crate) fn index_prefix(key: &RefKey) -> Vec<u8> {
    ref_prefix(b'i', key)
}

pub(crate) fn index(key: &RefKey, cursor: u64) -> Vec<u8> {
    let mut out = index_prefix(key);
    out.extend_from_slice(&cursor.to_be_bytes());
    out
}

/// The cursor at the end of an index key.
pub(crate) fn index_cursor(key: &[u8]) -> Option<u64> {
    let tail: [u8; 8] = key.get(key.len().checked_sub(8)?..)?.try_into().ok()?;
    Some(u64::from_be_bytes(tail))
}

/// `s` repo 0 ref 0: the prefix of a ref's state keys.
pub(crate) fn state_prefix(key: &RefKey) -> Vec<u8> {
    ref_prefix(b's', key)
}

pub(crate) fn state(key: &RefKey, path: &str) -> Vec<u8> {
    let mut out = state_prefix(key);
    out.extend_from_slice(path.as_bytes());
    out
}

pub(crate) fn ref_record(key: &RefKey) -> Vec<u8> {
    let mut out = vec![b'r'];
    out.extend_from_slice(key.repo.as_bytes());
    out.push(0);
    out.extend_from_slice(key.git_ref.as_bytes());
    out
}

/// The (repo, ref) of a ref record's key.
pub(crate) fn parse_ref_record(key: &[u8]) -> Option<RefKey> {
    let rest = key.strip_prefix(b"r")?;
    let zero = rest.iter().position(|&b| b == 0)?;
    let repo = std::str::from_utf8(&rest[..zero]).ok()?;
    let git_ref = std::str::from_utf8(&rest[zero + 1..]).ok()?;
    Some(RefKey::new(repo, git_ref))
}
