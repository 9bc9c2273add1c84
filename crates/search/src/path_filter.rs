//! The `path` filter (a prefix, or a glob) as a tantivy query that resolves itself per
//! segment into a bitset of documents.
//!
//! Why a query of our own: the filter used to be resolved in two steps, first every
//! matching path collected from every segment's dictionary into a set, then that set handed
//! to a `TermSetQuery`, which built an fst of it and walked every segment's dictionary a
//! second time. For a glob like `**/test_*.py` (no literal prefix, hundreds of matching
//! paths) that was a third of the query's cost. Here each segment's paths are tested once,
//! from the pattern's literal prefix to the end of that prefix's run, and the documents of
//! each accepted path go straight into a bitset that the boolean query intersects with the
//! text clauses (the filter is a required clause with no weight in the score, never a pass
//! over the hits afterwards).
//!
//! Two things are cached per segment in a [`PathFilterCache`], since segments never change
//! once written (deletes are applied by the collector, not here): the segment's sorted path
//! list (walking the fst term dictionary costs far more per path than a glob test), and each
//! pattern's bitset, so a filter that callers repeat (an agent scoping every query to
//! `**/*.py`) costs its resolution once per segment instead of once per query. Only filters
//! are cached, never text matches; a cold filter answers exactly the same.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use globset::{GlobBuilder, GlobMatcher};
use tantivy::index::SegmentId;
use tantivy::postings::TermInfo;
use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError};

use crate::error::Error;

/// Memory the cache may take, bitsets and path lists of all segments together (a bitset is
/// one bit per document: 32 MiB holds a 2-million-document index's bitsets for over 100
/// patterns). Entries of segments merged away stay until the cache fills and is emptied.
const CACHE_MAX_BYTES: usize = 32 * 1024 * 1024;

/// A segment's documents accepted by one pattern: bitset words and how many bits are set.
type CachedBits = Arc<(Vec<u64>, u32)>;

/// A segment's distinct paths, sorted, each with its postings' address.
type SegmentPaths = Arc<Vec<(Box<str>, TermInfo)>>;

/// Per-segment results of path filters, and per-segment path lists, shared by every query
/// of one index.
///
/// The path lists exist because walking a segment's term dictionary (an fst) costs far more
/// per path than testing the path against a glob; with the list, a filter never seen before
/// still costs no dictionary walk on a segment that any earlier filter has visited.
#[derive(Debug, Default)]
pub(crate) struct PathFilterCache {
    entries: Mutex<CacheEntries>,
}

#[derive(Debug, Default)]
struct CacheEntries {
    bits: HashMap<(SegmentId, String), CachedBits>,
    paths: HashMap<SegmentId, SegmentPaths>,
    /// Approximate memory held by both maps.
    bytes: usize,
}

impl CacheEntries {
    /// Makes room for `size` more bytes: when the cache is full it is emptied (segments
    /// merge away and patterns change, so old entries are the likeliest to be dead).
    /// False if `size` alone is over the limit.
    fn make_room(&mut self, size: usize) -> bool {
        if size > CACHE_MAX_BYTES {
            return false;
        }
        if self.bytes + size > CACHE_MAX_BYTES {
            self.bits.clear();
            self.paths.clear();
            self.bytes = 0;
        }
        true
    }
}

impl PathFilterCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheEntries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops every entry (they are rebuilt on demand).
    pub(crate) fn clear(&self) {
        let mut entries = self.lock();
        entries.bits.clear();
        entries.paths.clear();
        entries.bytes = 0;
    }

    fn bits(&self, segment: SegmentId, pattern: &str) -> Option<CachedBits> {
        self.lock()
            .bits
            .get(&(segment, pattern.to_owned()))
            .cloned()
    }

    fn put_bits(&self, segment: SegmentId, pattern: &str, bits: CachedBits) {
        let size = bits.0.len() * 8 + pattern.len();
        let mut entries = self.lock();
        if entries.make_room(size)
            && entries
                .bits
                .insert((segment, pattern.to_owned()), bits)
                .is_none()
        {
            entries.bytes += size;
        }
    }

    fn paths(&self, segment: SegmentId) -> Option<SegmentPaths> {
        self.lock().paths.get(&segment).cloned()
    }

    fn put_paths(&self, segment: SegmentId, paths: SegmentPaths) {
        let size = paths
            .iter()
            .map(|(p, _)| p.len() + std::mem::size_of::<(Box<str>, TermInfo)>())
            .sum();
        let mut entries = self.lock();
        if entries.make_room(size) && entries.paths.insert(segment, paths).is_none() {
            entries.bytes += size;
        }
    }
}

/// Documents whose (raw, untokenized) path starts with a prefix or matches a glob.
#[derive(Debug, Clone)]
pub(crate) struct PathFilter {
    field: Field,
    /// The pattern as given: the cache key.
    pattern: String,
    cache: Arc<PathFilterCache>,
    /// Every accepted path starts with this: the scan of a segment's sorted paths starts and
    /// stops by it.
    prefix: String,
    /// `None` for a plain prefix filter.
    glob: Option<GlobMatcher>,
}

impl PathFilter {
    /// The filter for `pattern`: a glob if it contains `*`, `?` or `[` (`*` stays within a
    /// directory, `**` crosses directories), else a path prefix. Fails with
    /// [`Error::BadQuery`] for an invalid glob.
    pub(crate) fn new(
        field: Field,
        pattern: &str,
        cache: Arc<PathFilterCache>,
    ) -> Result<Self, Error> {
        if !pattern.contains(['*', '?', '[']) {
            return Ok(PathFilter {
                field,
                pattern: pattern.to_owned(),
                cache,
                prefix: pattern.to_owned(),
                glob: None,
            });
        }
        let glob = GlobBuilder::new(pattern)
            .literal_separator(true)
            .build()
            .map_err(|e| Error::bad_query(format!("invalid path glob `{pattern}`: {e}")))?
            .compile_matcher();
        // Up to the first character with a glob meaning (`{` and `\` included: they change
        // what follows), every match starts with the pattern's text.
        let literal_end = pattern
            .find(['*', '?', '[', '{', '\\'])
            .unwrap_or(pattern.len());
        Ok(PathFilter {
            field,
            pattern: pattern.to_owned(),
            cache,
            prefix: pattern[..literal_end].to_owned(),
            glob: Some(glob),
        })
    }

    /// Whether the filter accepts this path (a term of the path field).
    fn accepts(&self, path: &str) -> bool {
        path.starts_with(&self.prefix) && self.glob.as_ref().is_none_or(|g| g.is_match(path))
    }

    /// The segment's paths, from the cache or from one walk of its term dictionary.
    fn segment_paths(&self, reader: &SegmentReader) -> tantivy::Result<SegmentPaths> {
        let segment = reader.segment_id();
        if let Some(paths) = self.cache.paths(segment) {
            return Ok(paths);
        }
        let inverted = reader.inverted_index(self.field)?;
        let mut stream = inverted.terms().stream()?;
        let mut paths = Vec::new();
        while stream.advance() {
            // Paths are indexed from `&str`, so they are UTF-8; anything else is no path.
            if let Ok(path) = std::str::from_utf8(stream.key()) {
                paths.push((Box::from(path), stream.value().clone()));
            }
        }
        let paths = Arc::new(paths);
        self.cache.put_paths(segment, Arc::clone(&paths));
        Ok(paths)
    }

    /// The term infos of the segment's accepted paths, in dictionary order.
    fn matching_terms(&self, reader: &SegmentReader) -> tantivy::Result<Vec<TermInfo>> {
        let paths = self.segment_paths(reader)?;
        // Sorted by bytes, so the paths with the prefix form one run starting here.
        let start = paths.partition_point(|(p, _)| p.as_bytes() < self.prefix.as_bytes());
        Ok(paths[start..]
            .iter()
            .take_while(|(p, _)| p.starts_with(&self.prefix))
            .filter(|(p, _)| self.accepts(p))
            .map(|(_, info)| info.clone())
            .collect())
    }

    /// The segment's accepted documents, as bitset words and a count.
    fn segment_bits(&self, reader: &SegmentReader) -> tantivy::Result<(Vec<u64>, u32)> {
        let terms = self.matching_terms(reader)?;
        let mut words = vec![0u64; (reader.max_doc() as usize).div_ceil(64)];
        let mut len = 0u32;
        if terms.is_empty() {
            return Ok((words, len));
        }
        let inverted = reader.inverted_index(self.field)?;
        for info in &terms {
            let mut postings =
                inverted.read_block_postings_from_terminfo(info, IndexRecordOption::Basic)?;
            loop {
                let block = postings.docs();
                if block.is_empty() {
                    break;
                }
                for &doc in block {
                    if let Some(w) = words.get_mut((doc / 64) as usize) {
                        let bit = 1u64 << (doc % 64);
                        if *w & bit == 0 {
                            *w |= bit;
                            len += 1;
                        }
                    }
                }
                postings.advance();
            }
        }
        Ok((words, len))
    }
}

impl Query for PathFilter {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for PathFilter {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let segment = reader.segment_id();
        let bits = match self.cache.bits(segment, &self.pattern) {
            Some(bits) => bits,
            None => {
                let bits = Arc::new(self.segment_bits(reader)?);
                self.cache
                    .put_bits(segment, &self.pattern, Arc::clone(&bits));
                bits
            }
        };
        if bits.1 == 0 {
            return Ok(Box::new(EmptyScorer));
        }
        Ok(Box::new(DocBits::new(bits, boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new("path filter", 1.0))
        } else {
            Err(TantivyError::InvalidArgument(format!(
                "document {doc} does not match the path filter"
            )))
        }
    }
}

/// A constant-score doc set over a bitset of one segment's doc ids.
#[derive(Debug)]
struct DocBits {
    bits: CachedBits,
    /// Index of the word holding `doc`.
    word: usize,
    /// The bits of that word above `doc`, not visited yet.
    rest: u64,
    doc: DocId,
    score: Score,
}

impl DocBits {
    /// A doc set positioned on the first document of `bits` (or `TERMINATED` if none).
    fn new(bits: CachedBits, score: Score) -> Self {
        let rest = bits.0.first().copied().unwrap_or(0);
        let mut set = DocBits {
            bits,
            word: 0,
            rest,
            doc: TERMINATED,
            score,
        };
        set.next_set_bit();
        set
    }

    /// Moves to the lowest bit of `rest`, or of the next non-empty word.
    fn next_set_bit(&mut self) -> DocId {
        loop {
            if self.rest != 0 {
                let bit = self.rest.trailing_zeros();
                self.rest &= self.rest - 1;
                self.doc = self.word as u32 * 64 + bit;
                return self.doc;
            }
            self.word += 1;
            match self.bits.0.get(self.word) {
                Some(&w) => self.rest = w,
                None => {
                    self.doc = TERMINATED;
                    return TERMINATED;
                }
            }
        }
    }
}

impl DocSet for DocBits {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        self.next_set_bit()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        let word = (target / 64) as usize;
        let Some(&w) = self.bits.0.get(word) else {
            self.doc = TERMINATED;
            return TERMINATED;
        };
        // Bits of the target's word at or above the target (target % 64 < 64).
        self.word = word;
        self.rest = w & (u64::MAX << (target % 64));
        self.next_set_bit()
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.bits.1
    }
}

impl Scorer for DocBits {
    fn score(&mut self) -> Score {
        self.score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(mut set: DocBits) -> Vec<DocId> {
        let mut out = Vec::new();
        let mut doc = set.doc();
        while doc != TERMINATED {
            out.push(doc);
            doc = set.advance();
        }
        out
    }

    fn bits(max_doc: u32, docs: &[DocId]) -> DocBits {
        let mut words = vec![0u64; (max_doc as usize).div_ceil(64)];
        for &d in docs {
            words[(d / 64) as usize] |= 1 << (d % 64);
        }
        DocBits::new(Arc::new((words, docs.len() as u32)), 1.0)
    }

    #[test]
    fn doc_bits_iterate_in_order_across_words() {
        let docs = [0, 1, 63, 64, 65, 127, 128, 300, 499];
        assert_eq!(collect(bits(500, &docs)), docs);
        assert_eq!(bits(500, &docs).size_hint(), docs.len() as u32);
        assert_eq!(collect(bits(500, &[])), Vec::<DocId>::new());
        assert_eq!(collect(bits(0, &[])), Vec::<DocId>::new());
    }

    #[test]
    fn doc_bits_seek_lands_on_the_next_member() {
        let mut set = bits(500, &[3, 70, 71, 200]);
        assert_eq!(set.doc(), 3);
        assert_eq!(set.seek(3), 3);
        assert_eq!(set.seek(4), 70);
        assert_eq!(set.seek(71), 71);
        assert_eq!(set.advance(), 200);
        assert_eq!(set.seek(150), 200, "seeking backwards stays put");
        assert_eq!(set.seek(201), TERMINATED);
        assert_eq!(set.advance(), TERMINATED);
        let mut set = bits(500, &[3]);
        assert_eq!(set.seek(10_000), TERMINATED);
    }

    #[test]
    fn filter_accepts_prefixes_and_globs_as_documented() {
        let field = Field::from_field_id(0);
        let cache = Arc::new(PathFilterCache::default());
        let new = |pattern: &str| PathFilter::new(field, pattern, Arc::clone(&cache));
        let prefix = new("email/").expect("prefix");
        assert!(prefix.accepts("email/header.py"));
        assert!(!prefix.accepts("mail/email/header.py"));
        let star = new("src/*.rs").expect("glob");
        assert!(star.accepts("src/lib.rs"));
        assert!(
            !star.accepts("src/a/lib.rs"),
            "`*` stays within a directory"
        );
        let deep = new("**/test_*.py").expect("glob");
        assert!(deep.accepts("test_a.py"));
        assert!(deep.accepts("a/b/test_c.py"));
        assert!(!deep.accepts("a/b/c_test.py"));
        assert!(matches!(new("src/[a.rs"), Err(Error::BadQuery { .. })));
    }
}
