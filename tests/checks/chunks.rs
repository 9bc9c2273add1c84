//! The chunker's invariants, shared by tests/props.rs and the `chunker` fuzz target (each
//! includes this file with `#[path]`).

use indexer::{ChunkConfig, HashAlgo, chunk_text};

/// Chunks `text` with `config` and checks the result: the chunks cover the text exactly and
/// in order (output size equals input size), line numbers are contiguous from 1, no chunk
/// has more than `max_lines` lines, no multi-line chunk more than `max_bytes` bytes, and
/// there are no more chunks than lines.
pub fn check_chunks(text: &str, config: &ChunkConfig) {
    let chunks = chunk_text(text, config, HashAlgo::Blake3);
    let joined: String = chunks.iter().map(|c| c.text.as_str()).collect();
    assert_eq!(joined, text, "chunks do not cover the text");
    let lines = text.lines().count().max(text.matches('\n').count());
    assert!(
        chunks.len() <= lines.max(1),
        "{} chunks for {lines} lines",
        chunks.len()
    );
    let mut next_line = 1;
    for chunk in &chunks {
        assert_eq!(chunk.start_line, next_line);
        assert!(chunk.end_line >= chunk.start_line);
        let line_count = (chunk.end_line - chunk.start_line + 1) as usize;
        assert!(
            line_count <= config.max_lines.max(1),
            "{line_count} lines in {config:?}"
        );
        assert!(
            line_count == 1 || chunk.text.len() <= config.max_bytes,
            "a multi-line chunk of {} bytes in {config:?}",
            chunk.text.len()
        );
        next_line = chunk.end_line + 1;
    }
}
