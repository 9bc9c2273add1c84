//! A file's text at the indexed commit, put back together from its chunks.

use serde::Serialize;

use crate::entry::ChunkRecord;

/// Lines of an indexed file (chunks cover a file's text exactly, so their texts in order are
/// the file; a chunk withheld for holding a secret leaves a gap that is reported, not filled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileText {
    /// The text of the lines served.
    pub text: String,
    /// First line served, 1-based.
    pub start_line: u32,
    /// Last line served, inclusive (0 when the range held nothing).
    pub end_line: u32,
    /// The file's last indexed line.
    pub total_lines: u32,
    /// Line ranges in the request that are not served because their chunk was withheld.
    pub withheld: Vec<(u32, u32)>,
}

/// Lines `start..=end` (clamped to the file) of the file whose chunks are `chunks`.
pub fn assemble(chunks: &[ChunkRecord], start: u32, end: Option<u32>) -> FileText {
    let mut chunks: Vec<&ChunkRecord> = chunks.iter().collect();
    chunks.sort_by_key(|c| c.start_line);
    let total = chunks.last().map_or(0, |c| c.end_line);
    let start = start.max(1);
    let end = end.unwrap_or(total).min(total);
    let mut text = String::new();
    let mut withheld = Vec::new();
    let mut next_line = 1;
    for chunk in &chunks {
        if chunk.start_line > next_line {
            withheld.push((next_line, chunk.start_line - 1));
        }
        next_line = chunk.end_line + 1;
        if chunk.end_line < start || chunk.start_line > end {
            continue;
        }
        for (n, line) in (chunk.start_line..).zip(chunk.text.split_inclusive('\n')) {
            if (start..=end).contains(&n) {
                text.push_str(line);
            }
        }
    }
    withheld.retain_mut(|(a, b)| {
        (*a, *b) = ((*a).max(start), (*b).min(end));
        a <= b
    });
    FileText {
        text,
        start_line: start,
        end_line: if start <= end { end } else { 0 },
        total_lines: total,
        withheld,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(start: u32, text: &str) -> ChunkRecord {
        let lines = text.split_inclusive('\n').count() as u32;
        ChunkRecord {
            id: format!("{start}"),
            start_line: start,
            end_line: start + lines - 1,
            content_hash: format!("{start}"),
            text: text.into(),
        }
    }

    #[test]
    fn ranges_are_cut_from_the_chunks_and_gaps_reported() {
        let chunks = [chunk(5, "e\nf\n"), chunk(1, "a\nb\n")];
        let whole = assemble(&chunks, 1, None);
        assert_eq!(whole.text, "a\nb\ne\nf\n");
        assert_eq!(whole.withheld, [(3, 4)]);
        assert_eq!((whole.end_line, whole.total_lines), (6, 6));
        let part = assemble(&chunks, 2, Some(5));
        assert_eq!(part.text, "b\ne\n");
        assert_eq!(part.withheld, [(3, 4)]);
        let past = assemble(&chunks, 9, None);
        assert_eq!((past.text.as_str(), past.end_line), ("", 0));
    }
}
