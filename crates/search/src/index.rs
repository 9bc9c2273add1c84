//! Opening the index and answering queries.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tantivy::directory::MmapDirectory;
use tantivy::directory::error::{LockError, OpenDirectoryError};
use tantivy::query::{AllQuery, BooleanQuery, EnableScoring, Query as TantivyQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{
    DocAddress, DocSet, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TERMINATED,
    TantivyDocument, TantivyError, Term,
};

use indexer::RefKey;

use crate::coverage;
use crate::error::Error;
use crate::exact::{Deadline, Matcher, Mode};
use crate::format::{self, INDEX_FORMAT, Verdict};
use crate::grams::{GRAM_TOKENIZER, GramTokenizer};
use crate::hit::{ChunkHit, Hit, SearchResults};
use crate::path_filter::{PathFilter, PathFilterCache};
use crate::query::{
    self, DEFAULT_BUDGET, Grouping, IdentifierMatch, ParsedText, Query, TextQuery,
    build_text_query, parse_text,
};
use crate::schema::{self, Fields};
use crate::snippet::{self, snippet};
use crate::staging::{StagedRun, StagingDir};
use crate::tokenizer::{CODE_TOKENIZER, CodeTokenizer};

/// Extra candidates fetched beyond `limit`, so that hits tied in score at the cut are
/// ordered by repo/ref/path/line rather than by the engine's internal doc order.
const TIE_SLACK: usize = 32;
/// Grouped by file, chunks fetched per file asked for.
const GROUP_FANOUT: usize = 4;
/// Grouped by file, other chunks attached to a file's best one at most.
const MAX_GROUPED_CHUNKS: usize = 5;
/// Exact modes: match ranges kept per hit at most.
const MAX_RANGES_PER_HIT: usize = 100;
/// Exact modes: the deadline is checked once per this many verified chunks.
const DEADLINE_CHECK_EVERY: usize = 32;
/// Exact modes: decompressed doc store blocks kept per segment while verifying.
const STORE_CACHE_BLOCKS: usize = 8;
/// Indexing memory per writer thread; tantivy flushes a segment when it is full.
const WRITER_MEMORY_PER_THREAD: usize = 48 * 1024 * 1024;
/// Indexing threads at most (the work is CPU-bound; more only contends with serving).
const MAX_WRITER_THREADS: usize = 4;
/// Threads one query may use at most, each searching some of the segments.
const MAX_SEARCH_THREADS: usize = 4;

/// Where the index lives, for messages.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    Disk(PathBuf),
    Memory,
}

impl Location {
    pub(crate) fn path(&self) -> PathBuf {
        match self {
            Location::Disk(p) => p.clone(),
            Location::Memory => PathBuf::from("<in memory>"),
        }
    }
}

/// A code search index: one tantivy document per chunk, written through
/// [`indexer::IndexSink`] and queried with [`SearchIndex::search`].
///
/// Share it in an `Arc`: searching takes `&self` and never blocks on writers. A read-write
/// index takes tantivy's writer lock **at open** (so a second writer fails fast with
/// [`Error::Locked`]) and keeps it until dropped.
///
/// Runs staged by [`SearchIndex::stage`] wait on disk until their commit, in
/// `<dir>/staging/` (emptied at every read-write open: what a crash left there was never
/// committed) or, for [`SearchIndex::open_in_memory`], in a temporary directory removed on
/// drop. Runs of different refs stage independently and never block each other; only
/// their commits take turns on the single tantivy writer.
///
/// A query searches the index's segments on up to four threads at once. Path filters'
/// per-segment results are cached (at most 32 MiB; see [`SearchIndex::clear_filter_cache`]),
/// so a filter repeated across queries is resolved once per segment.
pub struct SearchIndex {
    pub(crate) index: Index,
    pub(crate) reader: IndexReader,
    pub(crate) fields: Fields,
    /// `None` when opened read-only. One writer per index is tantivy's rule; the mutex also
    /// makes each ref's commit (delete + add + commit + reload) one critical section.
    pub(crate) writer: Option<Mutex<IndexWriter<TantivyDocument>>>,
    /// Runs staged by `apply`, by ref, not yet handed to tantivy (see the `sink` module).
    /// Declared before `staging` so that their spill files go before their directory.
    pub(crate) staged: Mutex<HashMap<RefKey, StagedRun>>,
    /// Where staged runs spill; `None` when opened read-only.
    pub(crate) staging: Option<StagingDir>,
    pub(crate) location: Location,
    /// Path filters' per-segment results, reused by later queries with the same filter.
    pub(crate) path_filters: Arc<PathFilterCache>,
}

impl fmt::Debug for SearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SearchIndex")
            .field("location", &self.location)
            .field("writable", &self.writer.is_some())
            .field("num_chunks", &self.num_chunks())
            .finish()
    }
}

fn directory_error(dir: &Path, e: OpenDirectoryError) -> Error {
    match e {
        OpenDirectoryError::DoesNotExist(path) => Error::NoIndex { path },
        other => Error::Io {
            path: dir.to_path_buf(),
            source: std::io::Error::other(other),
        },
    }
}

/// The fields themselves differ (an index from before formats were recorded, older than
/// any in-place rebuild can handle).
fn schema_mismatch(dir: &Path) -> Error {
    Error::Engine(TantivyError::SchemaError(format!(
        "the index at {} was written with a different schema (another version?); \
         delete the directory and re-index",
        dir.display()
    )))
}

impl SearchIndex {
    /// Opens the index in `dir` read-write, creating the directory and an empty index if
    /// needed. Takes the writer lock now: fails with [`Error::Locked`] if another process
    /// (typically `serve`) holds it.
    ///
    /// An index written in an older [`INDEX_FORMAT`] is rebuilt here, in place, from the
    /// chunks it stores (one commit; it takes about as long as indexing them did, and is
    /// logged at info level); the manifests of the indexer stay valid, since the content
    /// does not change. An index of a newer format is [`Error::IndexFormat`].
    pub fn open(dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let directory = MmapDirectory::open(dir).map_err(|e| directory_error(dir, e))?;
        let (schema, fields) = schema::build();
        let index = Index::open_or_create(directory, schema).map_err(|e| match e {
            TantivyError::SchemaError(_) => schema_mismatch(dir),
            other => Error::Engine(other),
        })?;
        Self::with_writer(index, fields, Location::Disk(dir.to_path_buf()))
    }

    /// Opens the committed index in `dir` for searching only; it follows commits made by
    /// the process holding the writer (tantivy watches its `meta.json`). Writes through this
    /// handle fail with [`Error::ReadOnly`]. An index in another [`INDEX_FORMAT`] is
    /// [`Error::IndexFormat`] (unless empty): an older one must be opened read-write once.
    pub fn open_read_only(dir: &Path) -> Result<Self, Error> {
        if !dir.join("meta.json").is_file() {
            return Err(Error::NoIndex {
                path: dir.to_path_buf(),
            });
        }
        let directory = MmapDirectory::open(dir).map_err(|e| directory_error(dir, e))?;
        let mut index = Index::open(directory)?;
        let (schema, fields) = schema::build();
        if index.schema() != schema {
            return Err(schema_mismatch(dir));
        }
        prepare(&mut index)?;
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::OnCommitWithDelay)
            .try_into()?;
        let found = format::stored_format(&index)?;
        match format::verdict(found, reader.searcher().num_docs()) {
            Verdict::Current => {}
            Verdict::Older | Verdict::Newer => {
                return Err(Error::IndexFormat {
                    path: dir.to_path_buf(),
                    found,
                    expected: INDEX_FORMAT,
                });
            }
        }
        Ok(SearchIndex {
            index,
            reader,
            fields,
            writer: None,
            staged: Mutex::new(HashMap::new()),
            staging: None,
            location: Location::Disk(dir.to_path_buf()),
            path_filters: Arc::default(),
        })
    }

    /// An index held in memory (tantivy's RAM directory), for tests and benches.
    pub fn open_in_memory() -> Result<Self, Error> {
        let (schema, fields) = schema::build();
        let index = Index::create_in_ram(schema);
        Self::with_writer(index, fields, Location::Memory)
    }

    fn with_writer(mut index: Index, fields: Fields, location: Location) -> Result<Self, Error> {
        prepare(&mut index)?;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_WRITER_THREADS);
        let writer = index
            .writer_with_num_threads(threads, threads * WRITER_MEMORY_PER_THREAD)
            .map_err(|e| match e {
                TantivyError::LockFailure(LockError::LockBusy, _) => Error::Locked {
                    path: location.path(),
                },
                other => Error::Engine(other),
            })?;
        // After the writer lock: only the lock holder may empty the staging directory.
        let staging = match &location {
            Location::Disk(dir) => StagingDir::in_index_dir(dir)?,
            Location::Memory => StagingDir::temporary()?,
        };
        // Manual: the sink reloads right after each commit, so "commit returned" means
        // "searchable", with no background polling delay.
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        tracing::debug!(location = %location.path().display(), threads, "search index opened");
        let found = format::stored_format(&index)?;
        let opened = SearchIndex {
            index,
            reader,
            fields,
            writer: Some(Mutex::new(writer)),
            staged: Mutex::new(HashMap::new()),
            staging: Some(staging),
            location,
            path_filters: Arc::default(),
        };
        match format::verdict(found, opened.num_chunks()) {
            Verdict::Current => {}
            Verdict::Older => opened.rebuild_in_place(found)?,
            Verdict::Newer => {
                return Err(Error::IndexFormat {
                    path: opened.location.path(),
                    found,
                    expected: INDEX_FORMAT,
                });
            }
        }
        Ok(opened)
    }

    /// Bytes the index's files take on disk (staged runs included); 0 for an index in
    /// memory. Reads the directory: call it off the async runtime.
    pub fn disk_bytes(&self) -> std::io::Result<u64> {
        fn walk(dir: &Path) -> std::io::Result<u64> {
            let mut total = 0;
            // Files merged away while this runs are skipped, not an error.
            for entry in std::fs::read_dir(dir)?.flatten() {
                match entry.file_type() {
                    Ok(kind) if kind.is_dir() => total += walk(&entry.path()).unwrap_or(0),
                    Ok(kind) if kind.is_file() => {
                        total += entry.metadata().map_or(0, |m| m.len());
                    }
                    _ => {}
                }
            }
            Ok(total)
        }
        match &self.location {
            Location::Disk(dir) => walk(dir),
            Location::Memory => Ok(0),
        }
    }

    /// Number of chunks searchable now (committed, not deleted).
    pub fn num_chunks(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Runs `query`: best hits first, ties broken by repo, ref, path and start line, so the
    /// same query on the same index always answers the same list.
    ///
    /// A bare multi-part identifier (`assertEqual`) matches that identifier in any naming
    /// style first; only if that finds fewer than `limit` hits are they followed by chunks
    /// that contain it in a longer identifier or as separate words (`assertEqualNested`,
    /// `assert equal`), best first.
    ///
    /// Fails with [`Error::BadQuery`] for empty, over-long or unparseable text, or an
    /// invalid path glob.
    pub fn search(&self, query: &Query) -> Result<SearchResults, Error> {
        let deadline = Deadline::new(Some(query.budget.unwrap_or(DEFAULT_BUDGET)));
        let (paths, text) = query::take_filters(&query.text, query.mode)?;
        if query.mode != Mode::Lexical {
            return self.search_exact(query, &text, &paths, &deadline);
        }
        let parsed = parse_text(&text)?;
        let limit = query.effective_limit();
        // Grouped by file, a file's other chunks come from the same ranked list: fetch
        // more chunks than places asked for.
        let wanted = match query.group {
            Grouping::Chunk => limit,
            Grouping::File => limit * GROUP_FANOUT,
        };
        let searcher = self.reader.searcher();
        let mut candidates = self.ranked(
            &searcher,
            (query, &paths),
            &parsed,
            IdentifierMatch::Joined,
            wanted,
            &HashSet::new(),
        )?;
        if query.group == Grouping::File {
            add_file_evidence(&mut candidates);
        }
        candidates.truncate(wanted);
        let mut partial = false;
        if candidates.len() < wanted && parsed.has_joined_identifier() && deadline.passed() {
            partial = true;
        } else if candidates.len() < wanted && parsed.has_joined_identifier() {
            // Few exact identifier matches: fill up with the looser matches (the phrase of
            // the identifier's parts), which also find the exact ones again: skip those.
            let seen: HashSet<DocAddress> = candidates.iter().map(|c| c.address).collect();
            let mut more = self.ranked(
                &searcher,
                (query, &paths),
                &parsed,
                IdentifierMatch::Parts,
                wanted,
                &seen,
            )?;
            more.truncate(wanted - candidates.len());
            candidates.extend(more);
        }
        let terms: HashSet<&str> = parsed.terms().collect();
        let hits = candidates
            .into_iter()
            .map(|Candidate { mut hit, text, .. }| {
                hit.snippet = snippet(&text, hit.start_line, &terms);
                hit
            })
            .collect();
        Ok(SearchResults {
            hits: match query.group {
                Grouping::Chunk => hits,
                Grouping::File => group_by_file(hits, limit),
            },
            partial,
        })
    }

    /// The filters of `query` (repo, ref, path) plus the `lang:`/`file:` ones of its text,
    /// as required clauses that add nothing to the score.
    fn filter_clauses(&self, query: &Query, paths: &[String]) -> Result<query::Clauses, Error> {
        let f = &self.fields;
        let mut clauses = Vec::new();
        if let Some(repo) = query.repo.as_deref().filter(|s| !s.is_empty()) {
            clauses.push(query::filter(query::exact(f.repo, repo)));
        }
        if let Some(git_ref) = query.git_ref.as_deref().filter(|s| !s.is_empty()) {
            clauses.push(query::filter(query::ref_filter(f.git_ref, git_ref)));
        }
        let patterns = query
            .path
            .iter()
            .filter(|s| !s.is_empty())
            .chain(paths.iter());
        for pattern in patterns {
            let filter = PathFilter::new(f.path, pattern, Arc::clone(&self.path_filters))?;
            clauses.push(query::filter(Box::new(filter)));
        }
        Ok(clauses)
    }

    /// Literal and regex queries: candidates by trigram, verified line by line (see the
    /// `exact` module). The first matching chunks found, in location order.
    fn search_exact(
        &self,
        query: &Query,
        pattern: &str,
        paths: &[String],
        deadline: &Deadline,
    ) -> Result<SearchResults, Error> {
        let f = &self.fields;
        let matcher = Matcher::new(pattern, query.mode, query.case_sensitive)?;
        let limit = query.effective_limit();
        let wanted = match query.group {
            Grouping::Chunk => limit,
            Grouping::File => limit * GROUP_FANOUT,
        };
        let mut clauses = self.filter_clauses(query, paths)?;
        for gram in matcher.trigrams() {
            clauses.push(query::filter(Box::new(TermQuery::new(
                Term::from_field_text(f.grams, &gram),
                IndexRecordOption::Basic,
            ))));
        }
        let candidates: Box<dyn TantivyQuery> = if clauses.is_empty() {
            Box::new(AllQuery)
        } else {
            Box::new(BooleanQuery::new(clauses))
        };
        let searcher = self.reader.searcher();
        let weight = candidates.weight(EnableScoring::disabled_from_searcher(&searcher))?;
        let mut hits = Vec::new();
        let mut partial = false;
        'segments: for segment in searcher.segment_readers() {
            let mut docs = weight.scorer(segment, 1.0)?;
            let alive = segment.alive_bitset();
            let store = segment
                .get_store_reader(STORE_CACHE_BLOCKS)
                .map_err(|source| Error::Io {
                    path: self.location.path(),
                    source,
                })?;
            let mut doc = docs.doc();
            let mut checked = 0usize;
            while doc != TERMINATED {
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    checked += 1;
                    if checked % DEADLINE_CHECK_EVERY == 0 && deadline.passed() {
                        partial = true;
                        break 'segments;
                    }
                    let stored: TantivyDocument = store.get(doc)?;
                    let start_line = schema::stored_line(&stored, f.start_line);
                    let end_line = schema::stored_line(&stored, f.end_line);
                    let text = schema::stored_text(&stored, f.text);
                    let mut matches = matcher.matches(&text, start_line, end_line);
                    if !matches.is_empty() {
                        let mut hit = self.hit_of(&stored, matches.len() as f32);
                        hit.snippet = snippet::matched_lines(&text, start_line, &matches);
                        matches.truncate(MAX_RANGES_PER_HIT);
                        hit.matches = matches;
                        hits.push(hit);
                        if hits.len() >= wanted {
                            break 'segments;
                        }
                    }
                }
                doc = docs.advance();
            }
        }
        hits.sort_by(|a, b| {
            (&a.repo, &a.git_ref, &a.path, a.start_line).cmp(&(
                &b.repo,
                &b.git_ref,
                &b.path,
                b.start_line,
            ))
        });
        Ok(SearchResults {
            hits: match query.group {
                Grouping::Chunk => hits,
                Grouping::File => group_by_file(hits, limit),
            },
            partial,
        })
    }

    /// A hit for a stored chunk document, without its snippet.
    fn hit_of(&self, doc: &TantivyDocument, score: f32) -> Hit {
        let f = &self.fields;
        let text_of = |field| schema::stored_text(doc, field);
        let line_of = |field| schema::stored_line(doc, field);
        let commit = text_of(f.commit);
        Hit {
            repo: text_of(f.repo),
            git_ref: text_of(f.git_ref),
            commit: (!commit.is_empty()).then_some(commit),
            path: text_of(f.path),
            start_line: line_of(f.start_line),
            end_line: line_of(f.end_line),
            score,
            snippet: String::new(),
            others: Vec::new(),
            matches: Vec::new(),
        }
    }

    /// The best hits of `query` matched `how`, leaving out the documents in `skip`, sorted
    /// best first with ties ordered by location; at least `limit` of them when there are.
    fn ranked(
        &self,
        searcher: &Searcher,
        (query, paths): (&Query, &[String]),
        parsed: &ParsedText,
        how: IdentifierMatch,
        limit: usize,
        skip: &HashSet<DocAddress>,
    ) -> Result<Vec<Candidate>, Error> {
        let f = &self.fields;
        let TextQuery {
            mut clauses,
            positive,
        } = build_text_query(f, parsed, how);
        clauses.extend(self.filter_clauses(query, paths)?);
        let top = coverage::top_docs(
            searcher,
            &BooleanQuery::new(clauses),
            &positive,
            limit + TIE_SLACK + skip.len(),
        )?;

        let mut candidates = Vec::with_capacity(top.len());
        for (score, address) in top {
            if skip.contains(&address) {
                continue;
            }
            let doc: TantivyDocument = searcher.doc(address)?;
            candidates.push(Candidate {
                hit: self.hit_of(&doc, score),
                text: schema::stored_text(&doc, f.text),
                address,
            });
        }
        sort_candidates(&mut candidates);
        Ok(candidates)
    }

    /// Drops the cached per-segment results of path filters (see [`Query::path`]); they
    /// are rebuilt by the next queries that need them. Searches answer the same either way:
    /// this frees their memory, or lets a benchmark time a filter's uncached cost.
    pub fn clear_filter_cache(&self) {
        self.path_filters.clear();
    }

    /// The index's tantivy handle, for callers that need engine-level access.
    pub fn tantivy_index(&self) -> &Index {
        &self.index
    }
}

/// Folds ranked chunk hits into one hit per file (its best chunk, in the order of the best
/// chunks), the file's other chunks attached best first; at most `limit` files.
fn group_by_file(hits: Vec<Hit>, limit: usize) -> Vec<Hit> {
    let mut files: Vec<Hit> = Vec::new();
    let mut slot: HashMap<(String, String, String), usize> = HashMap::new();
    for hit in hits {
        let key = (hit.repo.clone(), hit.git_ref.clone(), hit.path.clone());
        match slot.get(&key) {
            Some(&i) => {
                let best = &mut files[i];
                if best.others.len() < MAX_GROUPED_CHUNKS {
                    best.others.push(ChunkHit::from(hit));
                }
            }
            None if files.len() < limit => {
                slot.insert(key, files.len());
                files.push(hit);
            }
            None => {}
        }
    }
    files
}

/// Grouped by file, a file's other matching chunks among the candidates add this share of
/// their scores to each of its chunks: a file that answers the question in several places
/// ranks above one that mentions it once (passage scores summed into a document's, as in
/// MaxP+SumP). Measured with the relevance benchmark, 0.1 to 0.2 all help; 0.15 is kept.
const FILE_EVIDENCE: f32 = 0.15;

/// Adds to each candidate's score [`FILE_EVIDENCE`] times the scores of the other candidates
/// of its file, then sorts again (best first, ties by location).
fn add_file_evidence(candidates: &mut [Candidate]) {
    let mut sums: HashMap<(String, String, String), f32> = HashMap::new();
    for c in candidates.iter() {
        *sums
            .entry((
                c.hit.repo.clone(),
                c.hit.git_ref.clone(),
                c.hit.path.clone(),
            ))
            .or_default() += c.hit.score;
    }
    for c in candidates.iter_mut() {
        let sum = sums[&(
            c.hit.repo.clone(),
            c.hit.git_ref.clone(),
            c.hit.path.clone(),
        )];
        c.hit.score += FILE_EVIDENCE * (sum - c.hit.score);
    }
    sort_candidates(candidates);
}

fn sort_candidates(candidates: &mut [Candidate]) {
    candidates.sort_by(|Candidate { hit: a, .. }, Candidate { hit: b, .. }| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.repo.cmp(&b.repo))
            .then_with(|| a.git_ref.cmp(&b.git_ref))
            .then_with(|| a.path.cmp(&b.path))
            .then_with(|| a.start_line.cmp(&b.start_line))
    });
}

/// A hit before its snippet is made.
struct Candidate {
    hit: Hit,
    /// The chunk's text, for the snippet.
    text: String,
    address: DocAddress,
}

/// What every handle needs before its reader is built: the code tokenizer, and a search
/// thread pool so that one query searches several segments at once (a query's cost is
/// spread over the segments; on a multi-core machine this divides its latency).
fn prepare(index: &mut Index) -> Result<(), Error> {
    index
        .tokenizers()
        .register(CODE_TOKENIZER, CodeTokenizer::default());
    index
        .tokenizers()
        .register(GRAM_TOKENIZER, GramTokenizer::default());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_SEARCH_THREADS);
    if threads > 1 {
        index.set_multithread_executor(threads)?;
    }
    Ok(())
}
