//! The query language: bare words and "quoted phrases", plus filters. No field syntax and
//! no boolean operators reach tantivy: every query is built here from tokens.

use tantivy::Term;
use tantivy::query::{
    BooleanQuery, BoostQuery, Occur, PhraseQuery, Query as TantivyQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};

use std::time::Duration;

use crate::error::Error;
use crate::exact::Mode;
use crate::schema::Fields;
use crate::tokenizer::{CodeToken, TokenKind, code_tokens, push_token_text};

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
/// `text` holds bare words and `"quoted phrases"`, each matched in the text (comments and
/// docstrings included), the path or a declared name; a phrase matches its words in order.
/// Results are ranked, not filtered: chunks with every word first, then those with most of
/// them (BM25 times a coverage factor), so a query answers nothing only when none of its
/// words occurs anywhere. `+word` (or `+"a phrase"`) is required, `-word` excluded; common
/// English words (`the`, `of`, `how`) are left out of the ranking unless nothing else is
/// left.
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
    /// One hit per chunk (the default), or per file.
    pub group: Grouping,
    /// Ranked words (the default), a literal substring, or a regex.
    pub mode: Mode,
    /// Literal and regex modes: match case exactly (`true`) or not.
    pub case_sensitive: bool,
    /// How long the query may run; past it, the hits found so far are answered with
    /// [`crate::SearchResults::partial`] set. `None`: [`DEFAULT_BUDGET`].
    pub budget: Option<Duration>,
}

/// The time budget of a query that sets none.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(2);

/// Languages `lang:` knows, with the file name globs of each.
const LANGUAGES: &[(&[&str], &str)] = &[
    (&["rust", "rs"], "**/*.rs"),
    (&["python", "py"], "**/*.{py,pyi}"),
    (&["go", "golang"], "**/*.go"),
    (&["javascript", "js"], "**/*.{js,mjs,cjs,jsx}"),
    (&["typescript", "ts"], "**/*.{ts,tsx,mts,cts}"),
    (&["java"], "**/*.java"),
    (&["kotlin", "kt"], "**/*.{kt,kts}"),
    (&["c"], "**/*.{c,h}"),
    (&["cpp", "c++", "cxx"], "**/*.{cc,cpp,cxx,hpp,hh,hxx,h}"),
    (&["csharp", "cs", "c#"], "**/*.cs"),
    (&["ruby", "rb"], "**/*.rb"),
    (&["php"], "**/*.php"),
    (&["swift"], "**/*.swift"),
    (&["scala"], "**/*.{scala,sc}"),
    (&["shell", "sh", "bash"], "**/*.{sh,bash}"),
    (&["sql"], "**/*.sql"),
    (&["markdown", "md"], "**/*.{md,markdown}"),
    (&["toml"], "**/*.toml"),
    (&["yaml", "yml"], "**/*.{yml,yaml}"),
    (&["json"], "**/*.json"),
    (&["html"], "**/*.{html,htm}"),
    (&["css"], "**/*.{css,scss}"),
];

/// The path filters a query's text states (`lang:rust`, `file:src/` or `path:**/*.py`), and
/// the text without them. Lexical queries may place them anywhere (outside phrases); in
/// literal and regex queries only leading ones count, the rest is the pattern.
pub(crate) fn take_filters(text: &str, mode: Mode) -> Result<(Vec<String>, String), Error> {
    let mut paths = Vec::new();
    let mut rest = Vec::new();
    let mut leading = true;
    let mut remainder = text;
    let pieces = text.split('"').count();
    for (i, piece) in text.split('"').enumerate() {
        if i % 2 == 1 {
            // An unclosed phrase stays unclosed, for the parser to refuse.
            let close = if i + 1 < pieces { "\"" } else { "" };
            rest.push(format!("\"{piece}{close}"));
            continue;
        }
        let mut kept = String::new();
        for word in piece.split_inclusive(char::is_whitespace) {
            let bare = word.trim_end();
            let filter = if leading || mode == Mode::Lexical {
                filter_of(bare)?
            } else {
                None
            };
            match filter {
                Some(path) => {
                    paths.push(path);
                    if mode != Mode::Lexical {
                        remainder = remainder[word.len()..].trim_start();
                    }
                }
                None => {
                    if !bare.is_empty() {
                        leading = false;
                    }
                    kept.push_str(word);
                }
            }
        }
        rest.push(kept);
    }
    if mode != Mode::Lexical {
        return Ok((paths, remainder.to_owned()));
    }
    Ok((paths, rest.concat()))
}

/// The path filter `word` states, if it is a `lang:`, `file:` or `path:` filter.
fn filter_of(word: &str) -> Result<Option<String>, Error> {
    if let Some(lang) = word.strip_prefix("lang:") {
        let lower = lang.to_ascii_lowercase();
        return match LANGUAGES
            .iter()
            .find(|(names, _)| names.contains(&lower.as_str()))
        {
            Some((_, glob)) => Ok(Some((*glob).to_owned())),
            None => Err(Error::bad_query(format!(
                "unknown language `{lang}` in `lang:`; known: {}",
                LANGUAGES
                    .iter()
                    .map(|(names, _)| names[0])
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        };
    }
    Ok(word
        .strip_prefix("file:")
        .or_else(|| word.strip_prefix("path:"))
        .filter(|p| !p.is_empty())
        .map(str::to_owned))
}

/// How hits are grouped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Grouping {
    /// Every matching chunk is a hit.
    #[default]
    Chunk,
    /// One hit per file: its best chunk, with the file's other matching chunks attached
    /// ([`crate::Hit::others`]), so that ten hits are ten places.
    File,
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

/// Whether a clause must, may or must not match (`+word`, `word`, `-word`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Need {
    /// Ranks documents that have it higher (a bare word or phrase).
    Should,
    /// Required (`+word`).
    Must,
    /// Excluded (`-word`).
    MustNot,
}

/// What a clause looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClauseKind {
    /// A bare word: its tokens (a multi-part identifier's whole and joined tokens first).
    Word,
    /// A quoted phrase: its identifier parts, in order (whole identifiers dropped so that
    /// the phrase matches every naming style).
    Phrase,
}

/// One word or phrase of a parsed query.
#[derive(Debug, Clone)]
pub(crate) struct Clause {
    pub kind: ClauseKind,
    pub tokens: Vec<CodeToken>,
    pub need: Need,
    /// `sym:NAME`: matched in declared names only.
    pub symbol: bool,
    /// A one-part word also matches identifiers that join it from parts (`filename`
    /// finds `file_name` and `fileName`): its joined token.
    pub alias: Option<String>,
}

/// The text of a query, checked and tokenized.
#[derive(Debug, Clone)]
pub(crate) struct ParsedText {
    pub clauses: Vec<Clause>,
}

impl ParsedText {
    /// Every term the query looks for (for snippet line selection).
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.clauses
            .iter()
            .filter(|c| c.need != Need::MustNot)
            .flat_map(|c| c.tokens.iter().map(|t| t.text.as_str()))
    }
}

/// English words too common in questions and prose to tell code apart; dropped from a
/// query's ranked words (never from phrases, and never when nothing else is left).
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "its", "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with", "which", "when", "where", "how", "what", "who",
    "from", "can", "do", "does", "should", "would", "has", "have", "been", "we", "you", "i", "all",
    "any", "some", "so", "than", "also", "only", "given",
];

/// `+piece` or `-piece`: the need it states and the rest of the piece.
fn split_need(piece: &str) -> (Need, &str) {
    match piece.as_bytes() {
        [b'+', _, ..] => (Need::Must, &piece[1..]),
        [b'-', _, ..] => (Need::MustNot, &piece[1..]),
        _ => (Need::Should, piece),
    }
}

/// The clauses of one bare piece of text (no quotes): `foo.bar` or `a::b` are several
/// identifiers, each its own word.
fn word_clauses(word: &str, need: Need, clauses: &mut Vec<Clause>) {
    if let Some(name) = word.strip_prefix("sym:").filter(|n| !n.is_empty()) {
        // One declared name: its tokens as one word, required unless excluded.
        let tokens = code_tokens(name);
        if !tokens.is_empty() {
            clauses.push(Clause {
                kind: ClauseKind::Word,
                tokens,
                need: if need == Need::MustNot {
                    need
                } else {
                    Need::Must
                },
                symbol: true,
                alias: None,
            });
        }
        return;
    }
    let mut current: Vec<CodeToken> = Vec::new();
    let close = |tokens: Vec<CodeToken>, clauses: &mut Vec<Clause>| {
        let alias = match &tokens[..] {
            [only] if only.kind == TokenKind::Part => {
                let mut joined = String::new();
                push_token_text(&mut joined, &word[only.from..only.to], TokenKind::Joined);
                Some(joined)
            }
            _ => None,
        };
        clauses.push(Clause {
            kind: ClauseKind::Word,
            tokens,
            need,
            symbol: false,
            alias,
        });
    };
    for t in code_tokens(word) {
        // A whole token opens an identifier (its joined token and parts follow); parts
        // apart in the text (not joined by `_`) are separate.
        let starts_new_identifier = current.last().is_some_and(|last| {
            t.kind == TokenKind::Whole
                || (t.kind == TokenKind::Part
                    && last.kind == TokenKind::Part
                    && t.from != last.to
                    && !word[last.to..t.from].chars().all(|c| c == '_'))
        });
        if starts_new_identifier {
            close(std::mem::take(&mut current), clauses);
        }
        current.push(t);
    }
    if !current.is_empty() {
        close(current, clauses);
    }
}

/// True if `clause` is one common English word (see [`STOP_WORDS`]), as written in `text`.
fn is_stop_word(clause: &Clause) -> bool {
    clause.kind == ClauseKind::Word
        && clause.need == Need::Should
        && matches!(&clause.tokens[..], [only] if only.kind == TokenKind::Part
            && STOP_WORDS.contains(&only.text.as_str()))
}

/// Splits `text` into words and quoted phrases (each optionally `+`required or
/// `-`excluded) and tokenizes them as code.
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
    // The need of the next phrase: a `+` or `-` right before its opening quote.
    let mut phrase_need = Need::Should;
    for (i, piece) in text.split('"').enumerate() {
        let in_phrase = i % 2 == 1;
        if in_phrase {
            let tokens: Vec<CodeToken> = code_tokens(piece)
                .into_iter()
                .filter(|t| t.kind == TokenKind::Part)
                .collect();
            if !tokens.is_empty() {
                clauses.push(Clause {
                    kind: ClauseKind::Phrase,
                    tokens,
                    need: phrase_need,
                    symbol: false,
                    alias: None,
                });
            }
            continue;
        }
        phrase_need = match piece.rsplit(char::is_whitespace).next() {
            Some("+") => Need::Must,
            Some("-") => Need::MustNot,
            _ => Need::Should,
        };
        for word in piece.split_whitespace() {
            let (need, word) = split_need(word);
            word_clauses(word, need, &mut clauses);
        }
    }
    if clauses
        .iter()
        .any(|c| !is_stop_word(c) && c.need != Need::MustNot)
    {
        clauses.retain(|c| !is_stop_word(c));
    }
    if clauses.is_empty() {
        return Err(Error::bad_query(
            "the query has no searchable words (only punctuation or quotes): search for \
             identifiers or words made of letters and digits",
        ));
    }
    if clauses.iter().all(|c| c.need == Need::MustNot) {
        return Err(Error::bad_query(
            "the query only excludes words (`-word`): give at least one word to search for",
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
        self.clauses.iter().any(|c| {
            c.kind == ClauseKind::Word && c.tokens.iter().any(|t| t.kind == TokenKind::Joined)
        })
    }
}

/// A clause in one field: the joined identifier or the parts in order, plus the whole
/// identifier as a bonus.
fn clause_in_field(field: Field, clause: &Clause, how: IdentifierMatch) -> Box<dyn TantivyQuery> {
    let (tokens, is_word) = (&clause.tokens, clause.kind == ClauseKind::Word);
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
    if let Some(alias) = &clause.alias {
        q = Box::new(BooleanQuery::new(vec![
            (Occur::Should, q),
            (Occur::Should, term_query(field, alias)),
        ]));
    }
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

/// Clauses of a boolean query.
pub(crate) type Clauses = Vec<(Occur, Box<dyn TantivyQuery>)>;

/// The text part of a query, built for the engine.
pub(crate) struct TextQuery {
    /// Clauses for the top-level boolean query: the ranked words (required as a group
    /// unless a `+word` is), the required and the excluded ones.
    pub clauses: Clauses,
    /// One query per word or phrase that counts towards coverage (all but the excluded),
    /// with the terms of its text tokens (the rarest of them says how telling the word is).
    pub positive: Vec<(Box<dyn TantivyQuery>, Vec<Term>)>,
}

/// Builds the text part of the query: each clause matches in the text, the path or a
/// declared name; the ranked ones are OR'ed (scores add up), `+` ones are required and
/// `-` ones excluded.
pub(crate) fn build_text_query(
    fields: &Fields,
    parsed: &ParsedText,
    how: IdentifierMatch,
) -> TextQuery {
    let mut ranked = Vec::new();
    let mut clauses = Vec::new();
    let mut positive = Vec::new();
    for clause in &parsed.clauses {
        let all_fields = [
            (fields.text, 1.0),
            (fields.path_text, PATH_BOOST),
            (fields.symbols, SYMBOLS_BOOST),
        ];
        let in_fields = if clause.symbol {
            &all_fields[2..]
        } else {
            &all_fields[..]
        };
        let per_field: Vec<(Occur, Box<dyn TantivyQuery>)> = in_fields
            .iter()
            .copied()
            .map(|(field, boost)| {
                let q: Box<dyn TantivyQuery> =
                    Box::new(BoostQuery::new(clause_in_field(field, clause, how), boost));
                (Occur::Should, q)
            })
            .collect();
        let q: Box<dyn TantivyQuery> = Box::new(BooleanQuery::new(per_field));
        let terms = || {
            clause
                .tokens
                .iter()
                .filter(|t| t.kind == TokenKind::Part)
                .map(|t| Term::from_field_text(fields.text, &t.text))
                .collect()
        };
        match clause.need {
            Need::Should => {
                positive.push((q.box_clone(), terms()));
                ranked.push((Occur::Should, q));
            }
            Need::Must => {
                positive.push((q.box_clone(), terms()));
                clauses.push((Occur::Must, q));
            }
            Need::MustNot => clauses.push((Occur::MustNot, q)),
        }
    }
    let required = clauses.iter().any(|(occur, _)| *occur == Occur::Must);
    if required {
        clauses.extend(ranked);
    } else if !ranked.is_empty() {
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(ranked))));
    }
    TextQuery { clauses, positive }
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
            .map(|c| {
                (
                    c.kind == ClauseKind::Phrase,
                    c.tokens.into_iter().map(|t| t.text).collect(),
                )
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
                        "pars".into(),
                        "http".into(),
                        "request".into()
                    ]
                ),
                (true, vec!["read".into(), "the".into(), "bodi".into()]),
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
