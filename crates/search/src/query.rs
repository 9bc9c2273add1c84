//! The query language: bare words and "quoted phrases", plus filters. No field syntax and
//! no boolean operators reach tantivy: every query is built here from tokens.

use tantivy::Term;
use tantivy::query::{
    BooleanQuery, BoostQuery, Occur, PhraseQuery, Query as TantivyQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use crate::error::Error;
use crate::schema::Fields;
use crate::tokenizer::{CodeToken, TokenKind, code_tokens};

/// Queries longer than this are refused: nobody types them, and each word costs a clause.
pub const MAX_QUERY_BYTES: usize = 1024;
/// At most this many words and phrases in one query.
pub const MAX_QUERY_CLAUSES: usize = 32;
/// Results per query when `limit` is 0.
pub const DEFAULT_LIMIT: usize = 10;
/// Results per query at most.
pub const MAX_LIMIT: usize = 100;

/// Score multiplier for matches in declared names (`fn parse_http_request`).
const SYMBOLS_BOOST: f32 = 4.0;
/// Score multiplier for matches in the file path.
const PATH_BOOST: f32 = 2.0;
/// Extra weight for matching a multi-part identifier in exactly the query's style.
const WHOLE_IDENTIFIER_BOOST: f32 = 1.5;

/// A search request.
///
/// `text` holds bare words and `"quoted phrases"`; every word must match (in the text, the
/// path or a declared name), and a phrase matches its words in order.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Words and quoted phrases.
    pub text: String,
    /// Only this repository (exact name).
    pub repo: Option<String>,
    /// Only this ref: a full name (`refs/heads/main`), or a short one (`main`) that matches
    /// `refs/heads/main` and `refs/tags/main`.
    pub git_ref: Option<String>,
    /// Only paths starting with this prefix, or matching it as a glob if it contains
    /// `*`, `?` or `[` (`*` stays within a directory, `**` crosses directories).
    pub path: Option<String>,
    /// How many hits: 0 means 10, more than 100 means 100.
    pub limit: usize,
}

impl Query {
    /// A query for `text` with no filters and the default limit.
    pub fn new(text: impl Into<String>) -> Self {
        Query {
            text: text.into(),
            ..Query::default()
        }
    }

    /// The number of hits this query asks for, after applying the default and the cap.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }
}

/// One required clause of a parsed query.
#[derive(Debug, Clone)]
pub(crate) enum Clause {
    /// A bare word: its tokens (a multi-part identifier's whole and joined tokens first).
    Word(Vec<CodeToken>),
    /// A quoted phrase: its identifier parts, in order (whole identifiers dropped so that
    /// the phrase matches every naming style).
    Phrase(Vec<CodeToken>),
}

/// The text of a query, checked and tokenized.
#[derive(Debug, Clone)]
pub(crate) struct ParsedText {
    pub clauses: Vec<Clause>,
}

impl ParsedText {
    /// Every term the query looks for (for snippet line selection).
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.clauses.iter().flat_map(|c| match c {
            Clause::Word(t) | Clause::Phrase(t) => t.iter().map(|t| t.text.as_str()),
        })
    }
}

/// Splits `text` into words and quoted phrases and tokenizes them as code.
pub(crate) fn parse_text(text: &str) -> Result<ParsedText, Error> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(Error::bad_query(format!(
            "the query is {} bytes long; the limit is {MAX_QUERY_BYTES}: search for a few \
             identifiers or a short phrase instead",
            text.len()
        )));
    }
    if text.trim().is_empty() {
        return Err(Error::bad_query(
            "the query is empty: give at least one word to search for",
        ));
    }
    if text.matches('"').count() % 2 == 1 {
        let at = text.rfind('"').map_or(0, |i| text[..i].chars().count() + 1);
        return Err(Error::bad_query(format!(
            "unbalanced quote at character {at}: close the phrase with `\"` or remove the quote"
        )));
    }
    let mut clauses = Vec::new();
    for (i, piece) in text.split('"').enumerate() {
        let in_phrase = i % 2 == 1;
        if in_phrase {
            let parts: Vec<CodeToken> = code_tokens(piece)
                .into_iter()
                .filter(|t| t.kind == TokenKind::Part)
                .collect();
            if !parts.is_empty() {
                clauses.push(Clause::Phrase(parts));
            }
        } else {
            for word in piece.split_whitespace() {
                let tokens = code_tokens(word);
                if tokens.is_empty() {
                    continue;
                }
                // `foo.bar` or `a::b` are several identifiers: each is its own word.
                let mut current: Vec<CodeToken> = Vec::new();
                for t in tokens {
                    // A whole token opens an identifier (its joined token and parts
                    // follow); parts apart in the text (not joined by `_`) are separate.
                    let starts_new_identifier = current.last().is_some_and(|last| {
                        t.kind == TokenKind::Whole
                            || (t.kind == TokenKind::Part
                                && last.kind == TokenKind::Part
                                && t.from != last.to
                                && !word[last.to..t.from].chars().all(|c| c == '_'))
                    });
                    if starts_new_identifier {
                        clauses.push(Clause::Word(std::mem::take(&mut current)));
                    }
                    current.push(t);
                }
                if !current.is_empty() {
                    clauses.push(Clause::Word(current));
                }
            }
        }
    }
    if clauses.is_empty() {
        return Err(Error::bad_query(
            "the query has no searchable words (only punctuation or quotes): search for \
             identifiers or words made of letters and digits",
        ));
    }
    if clauses.len() > MAX_QUERY_CLAUSES {
        return Err(Error::bad_query(format!(
            "the query has {} words and phrases; the limit is {MAX_QUERY_CLAUSES}",
            clauses.len()
        )));
    }
    Ok(ParsedText { clauses })
}

fn term_query(field: Field, text: &str) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

/// The parts of a word or phrase as a phrase query in `field` (or a term query for one part).
fn parts_query(field: Field, parts: &[&CodeToken]) -> Box<dyn TantivyQuery> {
    match parts {
        [only] => term_query(field, &only.text),
        _ => {
            let first = parts.first().map_or(0, |t| t.position);
            let terms = parts
                .iter()
                .map(|t| (t.position - first, Term::from_field_text(field, &t.text)))
                .collect();
            Box::new(PhraseQuery::new_with_offset(terms))
        }
    }
}

/// How a bare multi-part identifier (`assertEqual`) is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IdentifierMatch {
    /// By its joined token: one term, so the engine scores one posting list instead of
    /// intersecting the parts' positions in every chunk that has them all (the phrase
    /// scorer was most of a common identifier's query time). Matches the identifier in any
    /// naming style, and nothing longer (`assertEqualNested`).
    Joined,
    /// By the phrase of its parts: also matches longer identifiers that contain it
    /// (`parseHttpRequestBody` for `HttpRequest`) and the words apart (`assert equal`).
    Parts,
}

impl ParsedText {
    /// True if some bare word is a multi-part identifier, i.e. if matching by
    /// [`IdentifierMatch::Parts`] can find more than [`IdentifierMatch::Joined`].
    pub fn has_joined_identifier(&self) -> bool {
        self.clauses.iter().any(|c| match c {
            Clause::Word(t) => t.iter().any(|t| t.kind == TokenKind::Joined),
            Clause::Phrase(_) => false,
        })
    }
}

/// A clause in one field: the joined identifier or the parts in order, plus the whole
/// identifier as a bonus.
fn clause_in_field(field: Field, clause: &Clause, how: IdentifierMatch) -> Box<dyn TantivyQuery> {
    let (tokens, is_word) = match clause {
        Clause::Word(t) => (t, true),
        Clause::Phrase(t) => (t, false),
    };
    let parts: Vec<&CodeToken> = tokens
        .iter()
        .filter(|t| t.kind == TokenKind::Part)
        .collect();
    let whole = tokens
        .iter()
        .find(|t| t.kind == TokenKind::Whole && is_word);
    let joined = tokens
        .iter()
        .find(|t| t.kind == TokenKind::Joined && is_word && how == IdentifierMatch::Joined);
    let mut q = if let Some(joined) = joined {
        term_query(field, &joined.text)
    } else if parts.is_empty() {
        // Only possible when every part was too long to index; the whole can't be either.
        term_query(
            field,
            &tokens.first().map_or(String::new(), |t| t.text.clone()),
        )
    } else {
        parts_query(field, &parts)
    };
    if let Some(whole) = whole {
        let bonus = Box::new(BoostQuery::new(
            term_query(field, &whole.text),
            WHOLE_IDENTIFIER_BOOST,
        ));
        q = Box::new(BooleanQuery::new(vec![
            (Occur::Must, q),
            (Occur::Should, bonus),
        ]));
    }
    q
}

/// The scoring part of the query: every clause must match in at least one field.
pub(crate) fn build_text_query(
    fields: &Fields,
    parsed: &ParsedText,
    how: IdentifierMatch,
) -> Vec<(Occur, Box<dyn TantivyQuery>)> {
    parsed
        .clauses
        .iter()
        .map(|clause| {
            let per_field: Vec<(Occur, Box<dyn TantivyQuery>)> = [
                (fields.text, 1.0),
                (fields.path_text, PATH_BOOST),
                (fields.symbols, SYMBOLS_BOOST),
            ]
            .into_iter()
            .map(|(field, boost)| {
                let q: Box<dyn TantivyQuery> =
                    Box::new(BoostQuery::new(clause_in_field(field, clause, how), boost));
                (Occur::Should, q)
            })
            .collect();
            let q: Box<dyn TantivyQuery> = Box::new(BooleanQuery::new(per_field));
            (Occur::Must, q)
        })
        .collect()
}

/// A filter clause: required, contributing nothing to the score.
pub(crate) fn filter(q: Box<dyn TantivyQuery>) -> (Occur, Box<dyn TantivyQuery>) {
    (Occur::Must, Box::new(BoostQuery::new(q, 0.0)))
}

/// Exact match on a raw (untokenized) field.
pub(crate) fn exact(field: Field, value: &str) -> Box<dyn TantivyQuery> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// Ref filter: exact, or a short name that also matches its branch and tag forms.
pub(crate) fn ref_filter(field: Field, git_ref: &str) -> Box<dyn TantivyQuery> {
    if git_ref.starts_with("refs/") {
        return exact(field, git_ref);
    }
    let candidates = [
        git_ref.to_owned(),
        format!("refs/heads/{git_ref}"),
        format!("refs/tags/{git_ref}"),
    ];
    Box::new(BooleanQuery::new(
        candidates
            .iter()
            .map(|r| (Occur::Should, exact(field, r)))
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> Vec<(bool, Vec<String>)> {
        parse_text(text)
            .expect("parses")
            .clauses
            .into_iter()
            .map(|c| match c {
                Clause::Word(t) => (false, t.into_iter().map(|t| t.text).collect()),
                Clause::Phrase(t) => (true, t.into_iter().map(|t| t.text).collect()),
            })
            .collect()
    }

    #[test]
    fn words_and_phrases() {
        assert_eq!(
            shape(r#"parseHttpRequest "read the Body""#),
            [
                (
                    false,
                    vec![
                        "parsehttprequest".into(),
                        "~parsehttprequest".into(),
                        "parse".into(),
                        "http".into(),
                        "request".into()
                    ]
                ),
                (true, vec!["read".into(), "the".into(), "body".into()]),
            ]
        );
        assert_eq!(
            shape("os.path::join"),
            [
                (false, vec!["os".into()]),
                (false, vec!["path".into()]),
                (false, vec!["join".into()])
            ]
        );
    }

    #[test]
    fn rejects_bad_queries_with_reasons() {
        for (q, needle) in [
            ("", "empty"),
            ("   ", "empty"),
            ("\"unclosed phrase", "unbalanced quote"),
            ("(){}[];!", "no searchable words"),
            ("\"\"", "no searchable words"),
        ] {
            match parse_text(q) {
                Err(Error::BadQuery { reason }) => {
                    assert!(reason.contains(needle), "{q}: {reason}")
                }
                other => panic!("{q}: expected BadQuery, got {other:?}"),
            }
        }
        let long = "a ".repeat(5000);
        assert!(matches!(parse_text(&long), Err(Error::BadQuery { .. })));
    }
}
