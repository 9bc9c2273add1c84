//! The trigram tokenizer: every run of three characters of a chunk, lowercased, as a term of
//! the `grams` field, so that literal and regex queries find their candidate chunks by the
//! trigrams any match must contain (as zoekt does) before verifying them against the text.
//!
//! Case-folded ([`fold`]) so that one index serves case-sensitive and case-insensitive
//! queries: a match in any case contains the folded trigrams of the pattern's literals.
//! Trigrams never span a line break (matches are line-oriented), and only the first
//! occurrence of a trigram in a chunk is emitted (the field records no frequencies).

use std::collections::HashSet;

use regex_syntax::hir::{ClassUnicode, ClassUnicodeRange};
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

/// The distinct folded trigrams of `text`, none spanning a line break.
pub(crate) fn trigrams(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for line in text.split('\n') {
        let chars: Vec<char> = line.chars().map(fold).collect();
        for w in chars.windows(3) {
            let gram: String = w.iter().collect();
            if seen.insert(gram.clone()) {
                out.push(gram);
            }
        }
    }
    out
}

/// The tantivy tokenizer of the `grams` field.
#[derive(Debug, Clone, Default)]
pub(crate) struct GramTokenizer {
    buffer: Vec<Token>,
}

impl Tokenizer for GramTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        self.buffer.clear();
        for (position, gram) in trigrams(text).into_iter().enumerate() {
            self.buffer.push(Token {
                text: gram,
                position,
                position_length: 1,
                ..Token::default()
            });
        }
        CodeTokenStream::over(&mut self.buffer[..])
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
