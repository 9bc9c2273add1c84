//! The coverage factor: a chunk's BM25 score scaled by the share of the query's words it
//! contains, so that chunks with every word rank first, then those with most of them.
//!
//! BM25 alone adds the words' scores up, so one rare word repeated often can outrank a chunk
//! that has all of them; a question asked in words is answered best by the places that
//! mention most of it. Words are weighed by their inverse document frequency (in the text),
//! so that missing `return` costs a chunk little and missing `median` much. The engine
//! scores the OR of the words as usual; the collector then looks up, per matching chunk,
//! which words it has (each word's postings are walked once, in document order, alongside
//! the scoring) and multiplies.

use tantivy::collector::TopDocs;
use tantivy::query::{EnableScoring, Query as TantivyQuery, Scorer, Weight};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentReader, Term};

use crate::error::Error;

/// How steeply a missing word lowers the score: `(matched / words) ^ COVERAGE_EXPONENT`.
const COVERAGE_EXPONENT: i32 = 1;

/// The factor for a chunk whose words weigh `matched` of `total`.
fn factor(matched: Score, total: Score) -> Score {
    let share = if total > 0.0 { matched / total } else { 1.0 };
    share.powi(COVERAGE_EXPONENT)
}

/// How telling a word is: the BM25 inverse document frequency of its rarest term.
fn weight(searcher: &Searcher, terms: &[Term]) -> Result<Score, Error> {
    let docs = searcher.num_docs() as Score;
    let mut rarest: Option<Score> = None;
    for term in terms {
        let df = searcher.doc_freq(term)? as Score;
        rarest = Some(rarest.map_or(df, |r: Score| r.min(df)));
    }
    let df = rarest.unwrap_or(docs);
    Ok((1.0 + (docs - df + 0.5) / (df + 0.5)).ln().max(0.01))
}

/// The best `limit` documents of `query`, each score scaled by its coverage of `words` (one
/// query per word or phrase; with fewer than two there is nothing to scale).
pub(crate) fn top_docs(
    searcher: &Searcher,
    query: &dyn TantivyQuery,
    words: &[(Box<dyn TantivyQuery>, Vec<Term>)],
    limit: usize,
) -> Result<Vec<(Score, DocAddress)>, Error> {
    if words.len() < 2 {
        return Ok(searcher.search(query, &TopDocs::with_limit(limit))?);
    }
    let mut weights: Vec<(Box<dyn Weight>, Score)> = Vec::with_capacity(words.len());
    for (q, terms) in words {
        weights.push((
            q.weight(EnableScoring::disabled_from_searcher(searcher))?,
            weight(searcher, terms)?,
        ));
    }
    let total: Score = weights.iter().map(|(_, w)| w).sum();
    let collector = TopDocs::with_limit(limit).tweak_score(move |segment: &SegmentReader| {
        // A word whose postings cannot be opened counts as absent (the chunk still ranks).
        let mut sets: Vec<(Box<dyn Scorer>, Score)> = weights
            .iter()
            .filter_map(|(w, idf)| Some((w.scorer(segment, 1.0).ok()?, *idf)))
            .collect();
        move |doc: DocId, score: Score| {
            let mut matched = 0.0;
            for (set, idf) in &mut sets {
                if set.doc() < doc {
                    set.seek(doc);
                }
                if set.doc() == doc {
                    matched += *idf;
                }
            }
            score * factor(matched, total)
        }
    });
    Ok(searcher.search(query, &collector)?)
}
