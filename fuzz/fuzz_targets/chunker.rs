//! `indexer::chunk_text` with the default config and a small config taken from the input.
//!
//! Input layout: bytes 0..4 make the small config (target lines 1..=16, target bytes
//! 1..=512, max lines and max bytes at least the targets); the rest is the text (invalid
//! UTF-8 becomes U+FFFD, as a lossy read of a file would).
//!
//! Checks, for both configs (as in tests/props.rs): the chunks cover the text exactly and in
//! order, line numbers are contiguous from 1, no chunk has more than `max_lines` lines, and
//! no multi-line chunk has more than `max_bytes` bytes; no more chunks than lines.
#![no_main]

use indexer::ChunkConfig;
use libfuzzer_sys::fuzz_target;

// The checks tests/props.rs makes too, one copy for both.
#[path = "../../tests/checks/chunks.rs"]
mod chunk_checks;

use chunk_checks::check_chunks;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, rest) = data.split_at(4);
    let target_lines = usize::from(head[0] % 16) + 1;
    let target_bytes = usize::from(head[1]) * 2 + 1;
    let small = ChunkConfig {
        target_lines,
        target_bytes,
        max_lines: target_lines + usize::from(head[2] % 32),
        max_bytes: target_bytes + usize::from(head[3]) * 4,
    };
    let text = String::from_utf8_lossy(rest);
    check_chunks(&text, &ChunkConfig::default());
    check_chunks(&text, &small);
});
