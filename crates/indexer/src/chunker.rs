//! Line-bounded, content-defined chunking.
//!
//! Why content-defined: a chunk id is the hash of the chunk's text, so ids survive an edit only
//! if the cut points around unchanged text stay where they were. Cutting every N lines would
//! shift every later chunk after an insertion near the top. Instead, whether a cut may follow a
//! line depends on that line and the next one (their hashes, blankness and indentation) and on
//! how big the current chunk already is — as FastCDC does for bytes, with lines as the unit.
//! After an edit the cuts fall back into step at the first strong boundary past the edit.

use crate::change_set::{Chunk, ChunkId};
use crate::config::{ChunkConfig, HashAlgo};

/// What the cut decision needs to know about one line.
struct LineInfo {
    start: usize,
    /// Byte offset just past the line, newline included.
    end: usize,
    indent: usize,
    blank: bool,
    /// Starts with a closing bracket: it ends the block above, so a cut must not precede it.
    closer: bool,
    hash: u64,
}

/// Splits `text` into chunks whose ids are the `hash` of their text.
///
/// Chunks cover the text exactly, in order, and never cut a line; a line longer than
/// `config.max_bytes` is a chunk of its own. Empty text has no chunks.
///
/// ```
/// use indexer::{chunk_text, ChunkConfig, HashAlgo};
/// let text = "fn a() {}\n\nfn b() {}\n";
/// let chunks = chunk_text(text, &ChunkConfig::default(), HashAlgo::Blake3);
/// assert_eq!(chunks.len(), 1);
/// assert_eq!((chunks[0].start_line, chunks[0].end_line), (1, 3));
/// assert_eq!(chunks[0].text, text);
/// ```
pub fn chunk_text(text: &str, config: &ChunkConfig, hash: HashAlgo) -> Vec<Chunk> {
    let lines = split_lines(text.as_bytes());
    let limits = Limits::from(config);
    let mut chunks = Vec::new();
    let mut emit = |first: usize, last: usize| {
        let body = &text[lines[first].start..lines[last].end];
        chunks.push(Chunk {
            id: ChunkId(hash.hex_digest(body.as_bytes())),
            start_line: line_number(first),
            end_line: line_number(last),
            text: body.to_string(),
        });
    };

    let mut first = 0;
    let (mut count, mut bytes) = (0usize, 0usize);
    for (i, line) in lines.iter().enumerate() {
        let len = line.end - line.start;
        if count > 0 && (count + 1 > limits.max_lines || bytes + len > limits.max_bytes) {
            emit(first, i - 1);
            (first, count, bytes) = (i, 0, 0);
        }
        count += 1;
        bytes += len;
        let Some(next) = lines.get(i + 1) else { break };
        if count == 1 && bytes > limits.max_bytes {
            // A single overlong line: its own chunk, never split.
            emit(i, i);
            (first, count, bytes) = (i + 1, 0, 0);
            continue;
        }
        let fill = limits.fill_per_mille(count, bytes);
        if cut_score(line, next) >= required_score(fill) {
            emit(first, i);
            (first, count, bytes) = (i + 1, 0, 0);
        }
    }
    if count > 0 {
        emit(first, lines.len() - 1);
    }
    chunks
}

fn line_number(index: usize) -> u32 {
    u32::try_from(index + 1).unwrap_or(u32::MAX)
}

/// The configured sizes, made sane (a zero target would never let a chunk grow "big enough").
struct Limits {
    target_lines: usize,
    target_bytes: usize,
    max_lines: usize,
    max_bytes: usize,
}

impl From<&ChunkConfig> for Limits {
    fn from(c: &ChunkConfig) -> Self {
        let target_lines = c.target_lines.max(1);
        let target_bytes = c.target_bytes.max(1);
        Limits {
            target_lines,
            target_bytes,
            max_lines: c.max_lines.max(target_lines),
            max_bytes: c.max_bytes.max(target_bytes),
        }
    }
}

impl Limits {
    /// How full the chunk is relative to its target, in thousandths; whichever of lines and
    /// bytes is further along counts.
    fn fill_per_mille(&self, lines: usize, bytes: usize) -> usize {
        (lines.saturating_mul(1000) / self.target_lines)
            .max(bytes.saturating_mul(1000) / self.target_bytes)
    }
}

/// How good a cut between `line` and `next` is: 0..=8.
///
/// Structure first (a blank line followed by a top-level line is where declarations start),
/// then up to two bits of the two lines' hashes so that among equally good places the choice
/// depends on content, not on position.
fn cut_score(line: &LineInfo, next: &LineInfo) -> u32 {
    let mut quality = 0;
    if !next.blank && !next.closer {
        if line.blank {
            quality += 1;
        }
        if next.indent == 0 {
            quality += 2;
        } else if next.indent <= 4 {
            quality += 1;
        }
    }
    let mut mixed = (line.hash ^ next.hash.rotate_left(23)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    mixed ^= mixed >> 32;
    2 * quality + mixed.trailing_zeros().min(2)
}

/// The score a cut needs given how full the chunk is: nothing below half the target, then
/// progressively easier so chunks cluster around the target size (normalised chunking).
fn required_score(fill_per_mille: usize) -> u32 {
    match fill_per_mille {
        0..500 => u32::MAX,
        500..800 => 8,
        800..1000 => 7,
        1000..1300 => 6,
        1300..1700 => 5,
        1700..2200 => 4,
        2200..3000 => 3,
        _ => 0,
    }
}

fn split_lines(bytes: &[u8]) -> Vec<LineInfo> {
    let mut lines = Vec::with_capacity(bytes.len() / 32 + 1);
    let mut start = 0;
    while start < bytes.len() {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut indent = 0;
        let mut in_indent = true;
        let mut blank = true;
        let mut closer = false;
        let mut end = bytes.len();
        for (offset, &b) in bytes[start..].iter().enumerate() {
            if b == b'\n' {
                end = start + offset + 1;
                break;
            }
            match b {
                b' ' if in_indent => indent += 1,
                b'\t' if in_indent => indent += 4,
                b' ' | b'\t' | b'\r' => {}
                _ => {
                    if in_indent {
                        closer = matches!(b, b'}' | b')' | b']');
                    }
                    in_indent = false;
                    blank = false;
                }
            }
            // FNV-1a: cheap, and only used to pick among equally good cut points.
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        lines.push(LineInfo {
            start,
            end,
            indent,
            blank,
            closer,
            hash,
        });
        start = end;
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(chunks: &[Chunk]) -> String {
        chunks.iter().map(|c| c.text.as_str()).collect()
    }

    #[test]
    fn chunks_cover_the_text_exactly_and_keep_line_numbers() {
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        let chunks = chunk_text(&text, &ChunkConfig::default(), HashAlgo::Blake3);
        assert!(chunks.len() > 5);
        assert_eq!(joined(&chunks), text);
        let mut expected_start = 1;
        for chunk in &chunks {
            assert_eq!(chunk.start_line, expected_start);
            assert_eq!(
                chunk.text.lines().count() as u32,
                chunk.end_line - chunk.start_line + 1
            );
            expected_start = chunk.end_line + 1;
        }
        assert_eq!(expected_start, 1001);
    }

    #[test]
    fn respects_maxima_and_keeps_overlong_lines_whole() {
        let config = ChunkConfig {
            target_lines: 4,
            target_bytes: 64,
            max_lines: 6,
            max_bytes: 100,
        };
        let long = "x".repeat(500);
        let text = format!("a\nb\n{long}\nc\nd\ne\nf\ng\nh\ni\nj\n");
        let chunks = chunk_text(&text, &config, HashAlgo::Sha256);
        assert_eq!(joined(&chunks), text);
        assert!(chunks.iter().any(|c| c.text == format!("{long}\n")));
        for c in &chunks {
            assert!(c.text.len() <= 100 || c.start_line == c.end_line);
            assert!(c.end_line - c.start_line < 6);
            assert_eq!(c.id.0.len(), 64);
        }
    }

    #[test]
    fn no_trailing_newline_and_empty_text() {
        assert!(chunk_text("", &ChunkConfig::default(), HashAlgo::Blake3).is_empty());
        let chunks = chunk_text("a\nb", &ChunkConfig::default(), HashAlgo::Blake3);
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].start_line, chunks[0].end_line), (1, 2));
    }

    #[test]
    fn prefers_top_level_boundaries() {
        let function = |n: usize| {
            let body: String = (0..25)
                .map(|i| format!("    let v{i} = {n} * {i};\n"))
                .collect();
            format!("fn f{n}() {{\n{body}}}\n\n")
        };
        let text: String = (0..20).map(function).collect();
        let chunks = chunk_text(&text, &ChunkConfig::default(), HashAlgo::Blake3);
        for chunk in &chunks[..chunks.len() - 1] {
            assert!(
                chunk.text.ends_with("}\n\n"),
                "cut inside a function: {:?}",
                chunk.text
            );
        }
    }
}
