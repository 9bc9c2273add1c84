//! Exact modes: literal and regex search, line by line, narrowed by trigrams and verified
//! against the stored chunk text (zoekt's approach).
//!
//! A pattern is compiled once ([`Matcher`]); the substrings every match must contain are
//! taken from its syntax tree ([`required_literals`]); their trigrams, all required in the
//! `grams` field, select candidate chunks; each candidate's text is then matched line by line
//! (a match never spans lines, as in ripgrep), and each matching line gives its ranges. A
//! pattern with no literal of three characters scans every chunk. Verification stops at the
//! query's time budget, and the answer says it is partial.

use std::collections::HashSet;
use std::time::Instant;

use regex::{Regex, RegexBuilder};
use regex_syntax::hir::{Class, ClassUnicode, Hir, HirKind};

use crate::error::Error;
use crate::grams::fold;

/// How a query's text is matched.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Ranked words (the default): see [`crate::Query`].
    #[default]
    Lexical,
    /// The text as a substring.
    Literal,
    /// The text as a regular expression (the `regex` crate's syntax), line by line.
    Regex,
}

/// One match on one line: the file's line number and the byte range within the line
/// (ripgrep's convention: `start` inclusive, `end` exclusive, from the start of the line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MatchRange {
    /// Line in the file (1-based).
    pub line: u32,
    /// Byte offset in the line where the match starts.
    pub start: u32,
    /// Byte offset in the line just past the match.
    pub end: u32,
}

/// A compiled literal or regex pattern.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    regex: Regex,
    /// Substrings (case-folded) every match contains, of three characters or more.
    required: Vec<String>,
}

/// Regexes bigger than this compiled are refused (a pattern is typed by a person).
const MAX_REGEX_BYTES: usize = 1 << 20;

impl Matcher {
    /// Compiles `pattern` for `mode` (literal or regex), case-sensitive or not.
    pub(crate) fn new(pattern: &str, mode: Mode, case_sensitive: bool) -> Result<Self, Error> {
        if pattern.is_empty() {
            return Err(Error::bad_query("the pattern is empty"));
        }
        let source = match mode {
            Mode::Literal => regex::escape(pattern),
            _ => pattern.to_owned(),
        };
        let regex = RegexBuilder::new(&source)
            .case_insensitive(!case_sensitive)
            .size_limit(MAX_REGEX_BYTES)
            .build()
            .map_err(|e| Error::bad_query(format!("invalid regex: {e}")))?;
        // The literals of the pattern as written (case-sensitively): a case-insensitive
        // match contains a case variant of each, whose folded trigrams are the same.
        let hir = regex_syntax::ParserBuilder::new()
            .build()
            .parse(&source)
            .map_err(|e| Error::bad_query(format!("invalid regex: {e}")))?;
        let required = required_literals(&hir)
            .into_iter()
            .map(|s| s.chars().map(fold).collect::<String>())
            .filter(|s| s.chars().count() >= 3)
            .collect();
        Ok(Matcher { regex, required })
    }

    /// The distinct trigrams every matching line contains (none: every chunk is a candidate).
    pub(crate) fn trigrams(&self) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for s in &self.required {
            let chars: Vec<char> = s.chars().collect();
            for w in chars.windows(3) {
                let gram: String = w.iter().collect();
                if seen.insert(gram.clone()) {
                    out.push(gram);
                }
            }
        }
        out
    }

    /// The matches in `text` (a chunk of lines `start_line..=end_line`), line by line; lines
    /// that match only with empty matches give one empty range at the first. The line count
    /// comes from the range, so a chunk of empty lines keeps every one of them whether or not
    /// its text ends with a newline.
    pub(crate) fn matches(&self, text: &str, start_line: u32, end_line: u32) -> Vec<MatchRange> {
        let mut out = Vec::new();
        let count = end_line.saturating_sub(start_line) as usize + 1;
        for (i, line) in text.split('\n').take(count).enumerate() {
            let number = start_line.saturating_add(u32::try_from(i).unwrap_or(u32::MAX));
            let before = out.len();
            for m in self.regex.find_iter(line) {
                if !m.is_empty() {
                    out.push(range(number, m.start(), m.end()));
                }
            }
            if out.len() == before
                && let Some(m) = self.regex.find(line)
            {
                out.push(range(number, m.start(), m.end()));
            }
        }
        out
    }
}

fn range(line: u32, start: usize, end: usize) -> MatchRange {
    let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    MatchRange {
        line,
        start: clamp(start),
        end: clamp(end),
    }
}

/// What a piece of a pattern says about the text it matches.
#[derive(Default)]
struct Literals {
    /// The piece matches exactly this string (and nothing else).
    exact: Option<String>,
    /// Every match starts with this (when not exact).
    prefix: String,
    /// Every match ends with this (when not exact).
    suffix: String,
    /// Strings every match of the piece contains.
    required: Vec<String>,
}

impl Literals {
    fn exact(s: String) -> Self {
        Literals {
            exact: Some(s),
            ..Literals::default()
        }
    }

    fn all_required(self) -> Vec<String> {
        let mut out = self.required;
        out.extend(self.exact);
        out.push(self.prefix);
        out.push(self.suffix);
        out.retain(|s| !s.is_empty());
        out
    }
}

/// The substrings every match of `hir` contains: runs of literal text in concatenations,
/// through groups and repetitions of at least one. Alternations contribute nothing.
fn required_literals(hir: &Hir) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = literals(hir).all_required();
    out.retain(|s| seen.insert(s.clone()));
    out
}

fn single_char(class: &ClassUnicode) -> Option<char> {
    match class.ranges() {
        [r] if r.start() == r.end() => Some(r.start()),
        _ => None,
    }
}

fn literals(hir: &Hir) -> Literals {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => Literals::exact(String::new()),
        HirKind::Literal(lit) => match std::str::from_utf8(&lit.0) {
            Ok(s) => Literals::exact(s.to_owned()),
            Err(_) => Literals::default(),
        },
        HirKind::Class(Class::Unicode(class)) => match single_char(class) {
            Some(c) => Literals::exact(c.to_string()),
            None => Literals::default(),
        },
        HirKind::Class(Class::Bytes(_)) | HirKind::Alternation(_) => Literals::default(),
        HirKind::Capture(cap) => literals(&cap.sub),
        HirKind::Repetition(rep) => {
            if rep.min == 0 {
                return Literals::default();
            }
            let inner = literals(&rep.sub);
            if rep.min == 1 && rep.max == Some(1) {
                return inner;
            }
            // `x+`: starts and ends like one `x`, and contains it.
            let (prefix, suffix) = match &inner.exact {
                Some(s) => (s.clone(), s.clone()),
                None => (inner.prefix.clone(), inner.suffix.clone()),
            };
            Literals {
                exact: None,
                prefix,
                suffix,
                required: inner.all_required(),
            }
        }
        HirKind::Concat(subs) => {
            let mut current = String::new();
            let mut prefix: Option<String> = None;
            let mut required = Vec::new();
            for sub in subs {
                let l = literals(sub);
                match l.exact {
                    Some(s) => current.push_str(&s),
                    None => {
                        current.push_str(&l.prefix);
                        if prefix.is_none() {
                            prefix = Some(current.clone());
                        }
                        required.push(std::mem::replace(&mut current, l.suffix));
                        required.extend(l.required);
                    }
                }
            }
            match prefix {
                None => Literals::exact(current),
                Some(prefix) => {
                    required.retain(|s| !s.is_empty());
                    Literals {
                        exact: None,
                        prefix,
                        suffix: current,
                        required,
                    }
                }
            }
        }
    }
}

/// Whether a query has run past its budget (checked every few chunks).
pub(crate) struct Deadline {
    until: Option<Instant>,
}

impl Deadline {
    pub(crate) fn new(budget: Option<std::time::Duration>) -> Self {
        Deadline {
            until: budget.map(|b| Instant::now() + b),
        }
    }

    pub(crate) fn passed(&self) -> bool {
        self.until.is_some_and(|t| Instant::now() >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn required(pattern: &str) -> Vec<String> {
        Matcher::new(pattern, Mode::Regex, true)
            .expect("compiles")
            .required
    }

    #[test]
    fn literals_every_match_contains() {
        assert_eq!(required("fn parse_\\w+\\("), ["fn parse_"]);
        assert_eq!(required("(foo|bar)baz+qux"), ["baz", "zqux"]);
        assert_eq!(required("a.b"), Vec::<String>::new());
        assert_eq!(required("(?:hello)+ world"), ["hello", "hello world"]);
        assert_eq!(required("x?yzw"), ["yzw"]);
        assert_eq!(required("Foo"), ["foo"], "folded for the trigram index");
    }

    #[test]
    fn matches_are_line_oriented_with_ranges() {
        let m = Matcher::new("b+", Mode::Regex, true).expect("compiles");
        assert_eq!(
            m.matches("abba\nxx\nb\n", 10, 12),
            [range(10, 1, 3), range(12, 0, 1)]
        );
        let lit = Matcher::new("A.b", Mode::Literal, false).expect("compiles");
        assert_eq!(
            lit.matches("xa.B a.b\nab", 1, 2),
            [range(1, 1, 4), range(1, 5, 8)]
        );
    }
}
