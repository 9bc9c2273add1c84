//! The trigram tokenizer: every run of three characters of a chunk, lowercased, as a term of
//! the `grams` field, so that literal and regex queries find their candidate chunks by the
//! trigrams any match must contain (as zoekt does) before verifying them against the text.
//!
//! Case-folded ([`fold`]) so that one index serves case-sensitive and case-insensitive
//! queries: a match in any case contains the folded trigrams of the pattern's literals.
//! Trigrams never span a line break (matches are line-oriented), and only the first
//! occurrence of a trigram in a chunk is emitted (the field records no frequencies).

use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
use rustc_hash::FxHashSet;
use tantivy::tokenizer::{Token, Tokenizer};

use crate::tokenizer::CodeTokenStream;

/// One character standing for all its case variants under simple case folding (the
/// folding the `regex` crate's case-insensitive matching uses): ASCII lowercased, others the
/// smallest member of their folding set (`ſ`, `s` and `S` all become `s`).
pub(crate) fn fold(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut class = ClassUnicode::new([ClassUnicodeRange::new(c, c)]);
    class.case_fold_simple();
    let least = class.ranges().iter().map(|r| r.start()).min().unwrap_or(c);
    least.to_ascii_lowercase()
}

/// The name under which [`GramTokenizer`] is registered with tantivy.
pub(crate) const GRAM_TOKENIZER: &str = "grams";

/// Calls `emit` once for each distinct folded trigram of `text` (none spanning a line
/// break), in order of first occurrence. `seen` is scratch space, emptied first: reusing it
/// across texts keeps its table allocated.
///
/// A trigram is deduplicated as its three chars packed into one `u64` (21 bits each), so no
/// string is built for a trigram that was already seen.
fn for_each_trigram(text: &str, seen: &mut FxHashSet<u64>, mut emit: impl FnMut([char; 3])) {
    seen.clear();
    let mut window = ['\0'; 3];
    let mut filled = 0usize;
    for c in text.chars() {
        if c == '\n' {
            filled = 0;
            continue;
        }
        window = [window[1], window[2], fold(c)];
        filled += 1;
        if filled >= 3 {
            let key =
                (u64::from(window[0]) << 42) | (u64::from(window[1]) << 21) | u64::from(window[2]);
            if seen.insert(key) {
                emit(window);
            }
        }
    }
}

/// The distinct folded trigrams of `text`, none spanning a line break.
#[cfg(test)]
pub(crate) fn trigrams(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_trigram(text, &mut FxHashSet::default(), |gram| {
        out.push(gram.iter().collect());
    });
    out
}

/// The tantivy tokenizer of the `grams` field. Its token buffer and trigram set are reused
/// between documents, so a trigram costs no allocation once the buffer has grown.
#[derive(Debug, Clone, Default)]
pub(crate) struct GramTokenizer {
    buffer: Vec<Token>,
    seen: FxHashSet<u64>,
}

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        let mut len = 0;
        let buffer = &mut self.buffer;
        for_each_trigram(text, &mut self.seen, |gram| {
            if len == buffer.len() {
                buffer.push(Token::default());
            }
            let token = &mut buffer[len];
            token.text.clear();
            token.text.extend(gram);
            token.offset_from = 0;
            token.offset_to = 0;
            token.position = len;
            token.position_length = 1;
            len += 1;
        });
        CodeTokenStream::over(&mut self.buffer[..len])
    }
}

#[cfg(test)]
mod tests {
    use super::trigrams;

    #[test]
    fn folded_distinct_and_within_lines() {
        assert_eq!(trigrams("AbcAbc\nxy"), ["abc", "bca", "cab"]);
        assert_eq!(trigrams("ab\ncd"), Vec::<String>::new());
        assert_eq!(trigrams("Ünï"), trigrams("üNÏ"));
        assert_eq!(trigrams("ſK\u{212A}"), trigrams("skk"));
    }
}
