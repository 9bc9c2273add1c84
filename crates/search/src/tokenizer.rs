//! The code-aware tokenizer: identifiers are split the way people read them.
//!
//! `parseHttpRequest`, `parse_http_request` and `ParseHTTPRequest` all become the parts
//! `parse`, `http`, `request` at consecutive positions, so a query for `parse http request`
//! (or the phrase `"parse http request"`) matches every naming style. Two more tokens are
//! emitted for a multi-part identifier, both at the position of its first part (like
//! synonyms, so phrases over the parts still line up):
//! - the *whole* identifier, lowercased (`parse_http_request`), so that a query written in
//!   the exact style of the source scores higher than a different style;
//! - the *joined* identifier: its parts concatenated behind a marker (`~parsehttprequest`
//!   for every naming style), so that a query for one identifier is a single term query
//!   (one posting list to score) instead of a phrase over its parts. The marker
//!   keeps it distinct from the whole token of a camelCase identifier (`parsehttprequest`),
//!   which would otherwise match every style and erase the exact-style bonus.
//!
//! Parts are indexed by their English stem (`parsing`, `parses` and `parse` are all `pars`),
//! so that a question in words (`parsing headers`) finds code and comments written in
//! another inflection (`parse_header`); whole and joined identifiers stay as written.

use std::cell::RefCell;
use std::sync::LazyLock;

use rustc_hash::FxHashMap;

use rust_stemmers::{Algorithm, Stemmer};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

/// The name under which [`CodeTokenizer`] is registered with tantivy.
pub(crate) const CODE_TOKENIZER: &str = "code";

/// Tokens longer than this are dropped (base64 blobs, minified code): they are never
/// searched for, and tantivy rejects terms beyond 64 KiB anyway. Their position is still
/// consumed so phrases stay honest.
const MAX_TOKEN_BYTES: usize = 64;

/// One token of code text, before it becomes a tantivy [`Token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeToken {
    /// Lowercased text.
    pub text: String,
    /// Byte offsets in the source text.
    pub from: usize,
    /// End byte offset (exclusive).
    pub to: usize,
    /// Position in tokens; a whole or joined identifier shares the position of its first part.
    pub position: usize,
    /// What the token stands for.
    pub kind: TokenKind,
}

/// The three kinds of tokens the code tokenizer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// One part of an identifier (`http`), or a one-part identifier.
    Part,
    /// A multi-part identifier as written, lowercased (`parse_http_request`).
    Whole,
    /// A multi-part identifier's parts joined behind [`JOINED_MARKER`] (`~parsehttprequest`).
    Joined,
}

/// Starts every joined token. Tokens are otherwise made of identifier characters only, so
/// a joined token never equals a part or a whole identifier.
pub(crate) const JOINED_MARKER: char = '~';

#[derive(Clone, Copy, PartialEq, Eq)]
enum CharClass {
    Upper,
    Lower,
    Digit,
}

fn class_of(c: char) -> CharClass {
    if c.is_ascii() {
        return if c.is_ascii_digit() {
            CharClass::Digit
        } else if c.is_ascii_uppercase() {
            CharClass::Upper
        } else {
            CharClass::Lower
        };
    }
    if c.is_numeric() {
        CharClass::Digit
    } else if c.is_uppercase() {
        CharClass::Upper
    } else {
        // Lowercase letters and uncased scripts (CJK, ...) behave alike: no case boundary.
        CharClass::Lower
    }
}

fn push_lowercase(out: &mut String, s: &str) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        out.extend(s.chars().flat_map(char::to_lowercase));
    }
}

/// Appends the joined token of `ident` (a multi-part identifier, trimmed of `_`): the marker,
/// then its characters lowercased without the `_` separators.
fn push_joined(out: &mut String, ident: &str) {
    out.push(JOINED_MARKER);
    if ident.is_ascii() {
        out.extend(
            ident
                .bytes()
                .filter(|&b| b != b'_')
                .map(|b| char::from(b.to_ascii_lowercase())),
        );
    } else {
        out.extend(
            ident
                .chars()
                .filter(|&c| c != '_')
                .flat_map(char::to_lowercase),
        );
    }
}

static ENGLISH: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// Stems remembered per thread before the cache is emptied: identifiers repeat heavily in
/// code, so most parts are stemmed once; the bound keeps a long run's cache to a few MB.
const STEM_CACHE_ENTRIES: usize = 1 << 16;

thread_local! {
    /// Lowercased part -> its stem, or `None` where the stem is the part itself.
    static STEMS: RefCell<FxHashMap<Box<str>, Option<Box<str>>>> =
        RefCell::new(FxHashMap::default());
}

/// Appends the English stem of `part` lowercased (the part itself if it has digits, or is
/// too short for a suffix).
fn push_stem(out: &mut String, part: &str) {
    let start = out.len();
    push_lowercase(out, part);
    let lowered = &out[start..];
    if lowered.len() <= 3 || !lowered.chars().all(char::is_alphabetic) {
        return;
    }
    STEMS.with_borrow_mut(|stems| {
        let lowered = &out[start..];
        let stem = match stems.get(lowered) {
            Some(stem) => stem.as_deref(),
            None => {
                let stem = ENGLISH.stem(lowered);
                let stem = (stem.as_ref() != lowered).then(|| Box::from(stem.as_ref()));
                if stems.len() >= STEM_CACHE_ENTRIES {
                    stems.clear();
                }
                stems.entry(Box::from(lowered)).or_insert(stem).as_deref()
            }
        };
        if let Some(stem) = stem {
            out.truncate(start);
            out.push_str(stem);
        }
    });
}

/// Appends the indexed text of a token emitted by [`for_each_code_token`] as `raw`.
pub(crate) fn push_token_text(out: &mut String, raw: &str, kind: TokenKind) {
    match kind {
        TokenKind::Part => push_stem(out, raw),
        TokenKind::Whole => push_lowercase(out, raw),
        TokenKind::Joined => push_joined(out, raw),
    }
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Byte ranges of the parts of one identifier (`text` holds only alphanumerics and `_`).
///
/// Works on a char slice: ASCII identifiers (nearly all code) are viewed as one `char` per
/// byte through `chars`, a buffer reused across identifiers so the hot path never allocates.
fn identifier_parts(ident: &str, parts: &mut Vec<(usize, usize)>, chars: &mut Vec<(usize, char)>) {
    parts.clear();
    chars.clear();
    chars.extend(ident.char_indices());
    let chars = &chars[..];
    let mut start: Option<usize> = None; // index into `chars`
    for i in 0..chars.len() {
        let (_, c) = chars[i];
        if c == '_' {
            if let Some(s) = start.take() {
                parts.push((chars[s].0, chars[i].0));
            }
            continue;
        }
        let Some(s) = start else {
            start = Some(i);
            continue;
        };
        let prev = class_of(chars[i - 1].1);
        let cur = class_of(c);
        let boundary_at = match (prev, cur) {
            (CharClass::Lower, CharClass::Upper) => Some(i),
            (CharClass::Digit, CharClass::Upper | CharClass::Lower) => Some(i),
            (CharClass::Upper | CharClass::Lower, CharClass::Digit) => Some(i),
            // `HTTPRequest`: the acronym ends before the capital that starts a word.
            (CharClass::Upper, CharClass::Lower)
                if i >= 2 && i - 1 > s && class_of(chars[i - 2].1) == CharClass::Upper =>
            {
                Some(i - 1)
            }
            _ => None,
        };
        if let Some(b) = boundary_at {
            parts.push((chars[s].0, chars[b].0));
            start = Some(b);
        }
    }
    if let Some(s) = start {
        parts.push((chars[s].0, ident.len()));
    }
}

/// Calls `emit(raw, from, to, position, kind)` for every token of `text`, in position
/// order; for a multi-part identifier its whole and joined tokens come before its parts.
/// `raw` is the source text (the whole identifier for a joined token): turn it into the
/// indexed term with [`push_token_text`].
pub(crate) fn for_each_code_token(
    text: &str,
    mut emit: impl FnMut(&str, usize, usize, usize, TokenKind),
) {
    let mut position = 0usize;
    let mut parts = Vec::new();
    let mut chars = Vec::new();
    let mut rest = text.char_indices().peekable();
    while let Some((start, c)) = rest.next() {
        if !is_ident_char(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        while let Some(&(i, c)) = rest.peek() {
            if !is_ident_char(c) {
                break;
            }
            end = i + c.len_utf8();
            rest.next();
        }
        let ident = &text[start..end];
        identifier_parts(ident, &mut parts, &mut chars);
        if parts.len() > 1 {
            let trimmed_start = start + (ident.len() - ident.trim_start_matches('_').len());
            let trimmed_end = start + ident.trim_end_matches('_').len();
            if trimmed_end - trimmed_start <= MAX_TOKEN_BYTES {
                let whole = &text[trimmed_start..trimmed_end];
                emit(
                    whole,
                    trimmed_start,
                    trimmed_end,
                    position,
                    TokenKind::Whole,
                );
                emit(
                    whole,
                    trimmed_start,
                    trimmed_end,
                    position,
                    TokenKind::Joined,
                );
            }
        }
        for &(from, to) in &parts {
            if to - from <= MAX_TOKEN_BYTES {
                emit(
                    &text[start + from..start + to],
                    start + from,
                    start + to,
                    position,
                    TokenKind::Part,
                );
            }
            position += 1;
        }
    }
}

/// Tokenizes `text` into owned tokens (lowercased), in position order.
pub(crate) fn code_tokens(text: &str) -> Vec<CodeToken> {
    let mut out = Vec::new();
    for_each_code_token(text, |raw, from, to, position, kind| {
        let mut t = String::with_capacity(raw.len() + 1);
        push_token_text(&mut t, raw, kind);
        out.push(CodeToken {
            text: t,
            from,
            to,
            position,
            kind,
        });
    });
    out
}

/// The terms `text` is indexed under, lowercased and in order: what a query for `text`
/// looks for. Useful to see how an identifier will be matched: a multi-part identifier is
/// indexed as written, joined behind `~` (the same for every naming style), and by the
/// English stem of each part.
///
/// ```
/// assert_eq!(
///     search::index_terms("parse_http_request"),
///     ["parse_http_request", "~parsehttprequest", "pars", "http", "request"]
/// );
/// assert_eq!(
///     search::index_terms("ParseHTTPRequests"),
///     ["parsehttprequests", "~parsehttprequests", "pars", "http", "request"]
/// );
/// ```
pub fn index_terms(text: &str) -> Vec<String> {
    code_tokens(text).into_iter().map(|t| t.text).collect()
}

/// The tantivy tokenizer: splits code text into identifier parts plus whole and joined
/// identifiers.
///
/// Registered under the name `code` on every index this crate opens. Its token buffer is
/// reused between documents so indexing does not allocate a `String` per token.
#[derive(Debug, Clone, Default)]
pub struct CodeTokenizer {
    buffer: Vec<Token>,
}

/// The token stream of [`CodeTokenizer`] (and of the trigram tokenizer): the tokens of one
/// text, already computed.
#[derive(Debug)]
pub struct CodeTokenStream<'a> {
    tokens: &'a mut [Token],
    next: usize,
    // Returned by `token()` if a caller asks before `advance`, instead of panicking.
    before_start: Token,
}

impl<'a> CodeTokenStream<'a> {
    /// A stream over `tokens`, positioned before the first.
    pub(crate) fn over(tokens: &'a mut [Token]) -> Self {
        CodeTokenStream {
            tokens,
            next: 0,
            before_start: Token::default(),
        }
    }
}

impl Tokenizer for CodeTokenizer {
    type TokenStream<'a> = CodeTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> CodeTokenStream<'a> {
        let mut len = 0;
        let buffer = &mut self.buffer;
        for_each_code_token(text, |raw, from, to, position, kind| {
            if len == buffer.len() {
                buffer.push(Token::default());
            }
            let token = &mut buffer[len];
            token.text.clear();
            push_token_text(&mut token.text, raw, kind);
            token.offset_from = from;
            token.offset_to = to;
            token.position = position;
            token.position_length = 1;
            len += 1;
        });
        CodeTokenStream::over(&mut self.buffer[..len])
    }
}

impl TokenStream for CodeTokenStream<'_> {
    fn advance(&mut self) -> bool {
        if self.next < self.tokens.len() {
            self.next += 1;
            true
        } else {
            false
        }
    }

    fn token(&self) -> &Token {
        match self.next.checked_sub(1) {
            Some(i) => &self.tokens[i],
            None => &self.before_start,
        }
    }

    fn token_mut(&mut self) -> &mut Token {
        match self.next.checked_sub(1) {
            Some(i) => &mut self.tokens[i],
            None => &mut self.before_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(s: &str) -> Vec<String> {
        code_tokens(s)
            .into_iter()
            .filter(|t| t.kind == TokenKind::Part)
            .map(|t| t.text)
            .collect()
    }

    #[test]
    fn naming_styles_share_parts() {
        for s in [
            "parseHttpRequest",
            "parse_http_request",
            "ParseHTTPRequest",
            "PARSE_HTTP_REQUEST",
        ] {
            assert_eq!(parts(s), ["pars", "http", "request"], "{s}");
        }
        assert_eq!(
            parts("XMLHttpRequest2Go"),
            ["xml", "http", "request", "2", "go"]
        );
        assert_eq!(parts("sha256sum"), ["sha", "256", "sum"]);
        assert_eq!(parts("__init__"), ["init"]);
        // Parts are stemmed; digits and short parts are kept as they are.
        assert_eq!(
            parts("parsing headers parses utf8"),
            ["pars", "header", "pars", "utf", "8"]
        );
    }

    #[test]
    fn whole_and_joined_identifier_share_first_position() {
        let toks = code_tokens("x = parse_http_request(y)");
        let whole = toks
            .iter()
            .find(|t| t.kind == TokenKind::Whole)
            .expect("a whole token");
        assert_eq!(whole.text, "parse_http_request");
        assert_eq!(whole.position, 1);
        let joined = toks
            .iter()
            .find(|t| t.kind == TokenKind::Joined)
            .expect("a joined token");
        assert_eq!(joined.text, "~parsehttprequest");
        assert_eq!(joined.position, 1);
        let positions: Vec<usize> = toks
            .iter()
            .filter(|t| t.kind == TokenKind::Part)
            .map(|t| t.position)
            .collect();
        assert_eq!(positions, [0, 1, 2, 3, 4]);
    }

    #[test]
    fn tokenizer_stream_matches_code_tokens() {
        let text = "fn ÄrgerHTTP(ü: u8) -> Ünïcode_Ok";
        let mut tokenizer = CodeTokenizer::default();
        let mut stream = tokenizer.token_stream(text);
        let mut seen = Vec::new();
        while stream.advance() {
            let t = stream.token();
            seen.push((t.text.clone(), t.position));
        }
        let expected: Vec<_> = code_tokens(text)
            .into_iter()
            .map(|t| (t.text, t.position))
            .collect();
        assert_eq!(seen, expected);
        assert!(seen.iter().any(|(t, _)| t == "ärger"));
    }
}
