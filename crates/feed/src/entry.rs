//! What the feed holds and answers: entries, their kinds, per-path changes and cursors.

use serde::{Deserialize, Serialize};

/// What kind of change an entry records, so a consumer never has to guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// One indexed commit's effect on the ref (an incremental run).
    Commit,
    /// A full re-index of the ref (a `full` job): the changes still say exactly what moved.
    Reindex,
    /// The ref was deleted: drop every chunk of it.
    RefDeleted,
    /// A page of the ref's current chunks, served when a consumer starts from cursor `0`;
    /// never stored.
    Snapshot,
}

/// One chunk as the feed carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkRecord {
    /// The chunk's stable id (the content hash of its text).
    pub id: String,
    /// First line, 1-based, inclusive.
    pub start_line: u32,
    /// Last line, 1-based, inclusive.
    pub end_line: u32,
    /// The content hash of `text` (the indexer's chunk ids are content hashes, so this equals
    /// `id`; it is named separately so consumers need not rely on that).
    pub content_hash: String,
    /// The chunk's text.
    pub text: String,
}

impl From<&indexer::Chunk> for ChunkRecord {
    fn from(chunk: &indexer::Chunk) -> Self {
        ChunkRecord {
            id: chunk.id.0.clone(),
            start_line: chunk.start_line,
            end_line: chunk.end_line,
            content_hash: chunk.id.0.clone(),
            text: chunk.text.clone(),
        }
    }
}

/// How one path changed: remove every chunk with one of `removed`'s ids, then add `added`.
///
/// For every id in `removed` or in `added`, `added` holds the path's complete list of chunks
/// with that id after the change, so applying a change twice, or on top of a state that
/// already has it, gives the same result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathChange {
    /// Path in the tree, `/`-separated.
    pub path: String,
    /// Ids of the chunks to remove from this path.
    pub removed: Vec<String>,
    /// Chunks to add to this path.
    pub added: Vec<ChunkRecord>,
}

/// One entry of the feed: an indexed commit (or a part of one), a re-index, a ref deletion,
/// or a snapshot page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Where this entry sits; resume after it with `since = cursor`.
    pub cursor: String,
    /// What happened.
    pub kind: EntryKind,
    /// The repository's configured name.
    pub repo: String,
    /// The full ref name.
    #[serde(rename = "ref")]
    pub git_ref: String,
    /// The commit indexed (none for a deletion, or a tree without git).
    pub commit: Option<String>,
    /// The commit indexed before this one.
    pub previous_commit: Option<String>,
    /// The job that indexed it, when the run had one.
    pub job_id: Option<String>,
    /// When the entry was written, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Large commits are split into parts; this is the part's number, from 0.
    pub part: u32,
    /// Whether this is the commit's last part (the ref is at `commit` once it is applied).
    pub last_part: bool,
    /// The changes, path by path.
    pub paths: Vec<PathChange>,
}

/// Where a reader is in a ref's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// From the start: a snapshot of the ref's current chunks, then live entries.
    Start,
    /// Inside a snapshot that began when the feed was at `base`, after path `after`.
    Snapshot {
        /// The global cursor when the snapshot began; live entries continue after it.
        base: u64,
        /// The last path served.
        after: String,
    },
    /// After the entry with this global cursor.
    Live(u64),
}

/// Why a cursor string could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "cursor `{0}` is not one this feed hands out: use 0, a number from an entry's `cursor`, or a `next_cursor`"
)]
pub struct BadCursor(pub String);

impl Cursor {
    /// Reads a cursor as the API writes it: `0`, a decimal number, or `s<base>.<hex path>`.
    pub fn parse(text: &str) -> Result<Cursor, BadCursor> {
        let bad = || BadCursor(text.chars().take(80).collect());
        if let Some(rest) = text.strip_prefix('s') {
            let (base, hex) = rest.split_once('.').ok_or_else(bad)?;
            let base = base.parse().map_err(|_| bad())?;
            let after = String::from_utf8(unhex(hex).ok_or_else(bad)?).map_err(|_| bad())?;
            return Ok(Cursor::Snapshot { base, after });
        }
        match text.parse::<u64>().map_err(|_| bad())? {
            0 => Ok(Cursor::Start),
            n => Ok(Cursor::Live(n)),
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cursor::Start => f.write_str("0"),
            Cursor::Live(n) => write!(f, "{n}"),
            Cursor::Snapshot { base, after } => {
                write!(f, "s{base}.")?;
                after.bytes().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

fn unhex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// One answer of [`FeedStore::read`](crate::FeedStore::read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// The entries, in order.
    pub entries: Vec<Entry>,
    /// Where to continue (also when `entries` is empty).
    pub next_cursor: String,
    /// Whether this page ends the snapshot (its last entry is the snapshot's last page, or
    /// the snapshot was empty); live entries follow.
    pub snapshot_end: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        for cursor in [
            Cursor::Start,
            Cursor::Live(42),
            Cursor::Snapshot {
                base: 7,
                after: "src/ä b.rs".into(),
            },
        ] {
            assert_eq!(Cursor::parse(&cursor.to_string()).unwrap(), cursor);
        }
        for junk in ["", "-1", "x", "s", "s1", "s1.f", "s1.zz", "1.5"] {
            assert!(Cursor::parse(junk).is_err(), "{junk}");
        }
    }
}
