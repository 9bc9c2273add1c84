//! What is wrong with a config file: each [`Problem`] with its key and line, and the
//! [`ConfigError`] that carries them all; plus finding the line a key is written on.

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

use pipeline::FieldProblem;

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The line the key is written on (1-based), when the key comes from the file.
    pub line: Option<usize>,
    /// The key as written in the file: `workers`, `repos[1].url`, `cluster.schema`.
    pub key: String,
    /// What is wrong and what to write instead.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: `{}`: {}", self.key, self.message),
            None => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

/// Why a config could not be used: every problem found, each with its key and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// The file was read and is wrong in every way listed.
    #[error("{} has {} problem(s):\n{}", path.display(), problems.len(), list(problems))]
    Invalid {
        /// The file (`<defaults>` when there was none).
        path: PathBuf,
        /// Everything wrong with it, in the order found.
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// One `[[repos]]` or `[[orgs]]` entry: where its problems are reported (`repos[1].url`, on
/// the line of the key inside the entry, else the entry's first line).
pub(crate) struct Entry<'a> {
    text: &'a str,
    span: Range<usize>,
    /// `repos` or `orgs`.
    section: &'static str,
    index: usize,
    problems: &'a mut Vec<Problem>,
}

impl<'a> Entry<'a> {
    pub(crate) fn new<T>(
        text: &'a str,
        spanned: &toml::Spanned<T>,
        section: &'static str,
        index: usize,
        problems: &'a mut Vec<Problem>,
    ) -> Self {
        Entry {
            text,
            span: spanned.span(),
            section,
            index,
            problems,
        }
    }

    pub(crate) fn push(&mut self, key: &str, message: String) {
        self.problems.push(Problem {
            line: line_in(self.text, self.span.clone(), key),
            key: format!("{}[{}].{key}", self.section, self.index),
            message,
        });
    }

    /// The checked entry, or its problems recorded.
    pub(crate) fn check<T>(&mut self, checked: Result<T, Vec<FieldProblem>>) -> Option<T> {
        match checked {
            Ok(value) => Some(value),
            Err(problems) => {
                for problem in problems {
                    self.push(problem.key, problem.message);
                }
                None
            }
        }
    }
}

/// A TOML syntax or shape error as a problem; an unknown key is named as the key.
pub(crate) fn syntax_problem(text: &str, error: &toml::de::Error) -> Problem {
    let line = error.span().map(|span| line_of(text, span.start));
    let message = error.message().trim().to_string();
    // serde names the offending key in "unknown field `x`, expected ..."; surface it as the key.
    let key = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("(syntax)")
        .to_string();
    Problem { line, key, message }
}

/// The line of `key = ...` inside the section at `span`, else the section's first line.
pub(crate) fn line_in(text: &str, span: Range<usize>, key: &str) -> Option<usize> {
    let start = span.start;
    find_key_line(text, span, key).or_else(|| Some(line_of(text, start)))
}

/// The 1-based line that byte `offset` of `text` is on.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// The line on which `key = ...` appears inside `range`, if it does.
pub(crate) fn find_key_line(text: &str, range: Range<usize>, key: &str) -> Option<usize> {
    let start = range.start.min(text.len());
    let end = range.end.min(text.len());
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(line_of(text, offset));
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_lines_are_found_inside_their_range_only() {
        let text = "a = 1\n[s]\n  b = 2\nbb = 3\n";
        assert_eq!(find_key_line(text, 0..text.len(), "a"), Some(1));
        assert_eq!(find_key_line(text, 0..text.len(), "b"), Some(3));
        // `bb` is not `b`: a key only matches when `=` follows it.
        assert_eq!(find_key_line(text, 18..text.len(), "b"), None);
        assert_eq!(line_in(text, 6..text.len(), "c"), Some(2));
    }

    #[test]
    fn problems_print_their_line_when_they_have_one() {
        let problem = |line| Problem {
            line,
            key: "workers".into(),
            message: "too many".into(),
        };
        assert_eq!(problem(Some(4)).to_string(), "line 4: `workers`: too many");
        assert_eq!(problem(None).to_string(), "`workers`: too many");
    }
}
