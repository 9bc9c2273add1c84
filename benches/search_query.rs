//! Search: query latency on an index of >= 100,000 chunks, beside `rg` over the same files,
//! and the time of a full index of the CPython standard library beside `b3sum`.
//!
//! Corpus: the standard library of the machine's `python3` (`SEARCH_BENCH_CORPUS` overrides),
//! without `site-packages`, cut into 8-line chunks by this bench so that it holds >= 100,000
//! chunks. The bench skips, saying why, if the corpus is missing; the `rg` and `b3sum` peers
//! are skipped if the tools are not found (`PATH`, else `$BENCH_TOOLS/bin`, as `run.sh`
//! installs them).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::Criterion;
use indexer::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, RefKey};
use search::{Mode, Query, SearchIndex};

const LINES_PER_CHUNK: usize = 8;
const FILES_PER_BATCH: usize = 200;
const PERCENTILE_RUNS: usize = 300;
/// Full indexes timed (each into a fresh directory); the median is reported.
/// `SEARCH_BENCH_FULL_INDEX_RUNS` overrides it (1 for quick profiling of the queries).
const FULL_INDEX_RUNS: usize = 3;
/// One-file pushes timed on the big index.
const PUSH_RUNS: usize = 30;

struct SourceFile {
    rel: String,
    text: String,
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        if kind.is_dir()
            && path
                .file_name()
                .is_some_and(|n| n != "site-packages" && n != "__pycache__")
        {
            walk(&path, out);
        } else if kind.is_file() && path.extension().is_some_and(|x| x == "py") {
            out.push(path);
        }
    }
}

fn read_corpus(root: &Path, paths: &[PathBuf]) -> Vec<SourceFile> {
    paths
        .iter()
        .filter_map(|p| {
            let bytes = std::fs::read(p).ok()?;
            let rel = p
                .strip_prefix(root)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            Some(SourceFile {
                rel,
                text: String::from_utf8_lossy(&bytes).into_owned(),
            })
        })
        .collect()
}

fn chunks_of(text: &str) -> Vec<Chunk> {
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(LINES_PER_CHUNK)
        .enumerate()
        .map(|(i, group)| {
            let body = group.join("\n");
            let start = (i * LINES_PER_CHUNK + 1) as u32;
            Chunk {
                id: ChunkId(format!("{:016x}", fnv(&body))),
                start_line: start,
                end_line: start + group.len() as u32 - 1,
                text: body,
            }
        })
        .collect()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x1000_0000_01b3)
    })
}

/// Reads, chunks and indexes every file through the sink, as a run would. Returns chunks.
fn index_tree(index: &SearchIndex, root: &Path, paths: &[PathBuf], key: &RefKey) -> usize {
    let mut chunks = 0;
    for batch in paths.chunks(FILES_PER_BATCH) {
        let upserts: Vec<FileUpdate> = read_corpus(root, batch)
            .into_iter()
            .map(|f| {
                let c = chunks_of(&f.text);
                chunks += c.len();
                FileUpdate {
                    path: f.rel,
                    hash: String::new(),
                    size: f.text.len() as u64,
                    chunks: c,
                }
            })
            .collect();
        let set = ChangeSet {
            key: key.clone(),
            commit: None,
            upserts,
            deletes: vec![],
            delta: ChunkDelta::default(),
        };
        index.stage(&set).expect("stage");
    }
    index.commit_ref(key).expect("commit");
    chunks
}

/// The standard library directory of the `python3` on `PATH` (empty if there is none).
fn python_stdlib() -> String {
    Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['stdlib'])",
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// A peer tool: on `PATH`, else in `$BENCH_TOOLS/bin`.
fn tool(name: &str) -> Option<PathBuf> {
    let runs = |path: &Path| {
        Command::new(path)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs(Path::new(name)) {
        return Some(PathBuf::from(name));
    }
    let local = PathBuf::from(std::env::var_os("BENCH_TOOLS")?)
        .join("bin")
        .join(name);
    runs(&local).then_some(local)
}

/// The process's peak resident set (`VmHWM`), where the OS reports it.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.trim_start_matches("VmHWM:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn percentiles(index: &SearchIndex, query: &Query) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(PERCENTILE_RUNS);
    let mut hits = 0;
    for _ in 0..PERCENTILE_RUNS {
        let t = Instant::now();
        hits = black_box(index.search(query).expect("search")).hits.len();
        times.push(t.elapsed());
    }
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100], hits)
}

fn main() {
    let root =
        PathBuf::from(std::env::var("SEARCH_BENCH_CORPUS").unwrap_or_else(|_| python_stdlib()));
    let mut paths = Vec::new();
    walk(&root, &mut paths);
    if paths.is_empty() {
        eprintln!(
            "search_query: no .py files under {}; set SEARCH_BENCH_CORPUS. Skipping.",
            root.display()
        );
        return;
    }
    let bytes: u64 = paths
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "corpus: {} .py files, {:.1} MB under {}",
        paths.len(),
        bytes as f64 / 1e6,
        root.display()
    );

    // Peer for the full index: b3sum over the same files (reading and hashing every byte).
    let b3 = tool("b3sum").map(|b3sum| {
        median(
            (0..5)
                .map(|_| {
                    let t = Instant::now();
                    let out = Command::new(&b3sum)
                        .arg("--no-names")
                        .args(&paths)
                        .output()
                        .expect("run b3sum");
                    assert!(out.status.success(), "b3sum failed");
                    t.elapsed()
                })
                .collect(),
        )
    });

    // Full index, end to end: read files, chunk, stage, one commit + reader reload, on disk.
    // Median of several runs, each into a fresh directory; the last index is kept.
    let mut runs = Vec::new();
    let mut kept = None;
    let main_ref = RefKey::new("cpython", "refs/heads/main");
    let mut chunks = 0;
    let full_index_runs = std::env::var("SEARCH_BENCH_FULL_INDEX_RUNS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(FULL_INDEX_RUNS);
    for _ in 0..full_index_runs {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = SearchIndex::open(dir.path()).expect("open index");
        let t = Instant::now();
        chunks = index_tree(&index, &root, &paths, &main_ref);
        runs.push(t.elapsed());
        kept = Some((dir, index));
    }
    let (_dir, index) = kept.expect("at least one run");
    println!("full index runs: {runs:.2?}");
    let full_index = median(runs);
    println!(
        "full index (disk): {chunks} chunks in {full_index:.2?} (median of {full_index_runs}; {:.1} MB/s); peak RSS so far {}",
        bytes as f64 / 1e6 / full_index.as_secs_f64(),
        peak_rss()
    );
    match b3 {
        Some(b3) => println!(
            "b3sum same files: {b3:.2?} (median of 5); index/b3sum = {:.1}x",
            full_index.as_secs_f64() / b3.as_secs_f64()
        ),
        None => println!("b3sum not found: peer skipped"),
    }
    if std::env::var_os("SEARCH_BENCH_INDEX_ONLY").is_some() {
        return;
    }

    // What identical chunks across refs cost: the same tree under a second ref (a PR head),
    // and how much of that is tokenisation (what a token cache could save at most).
    let corpus = read_corpus(&root, &paths);
    let t = Instant::now();
    let mut tokens = 0usize;
    for f in &corpus {
        for c in chunks_of(&f.text) {
            tokens += search::index_terms(&c.text).len();
        }
    }
    let tokenize = t.elapsed();
    let pr_ref = RefKey::new("cpython", "refs/pull/1/head");
    let t = Instant::now();
    let pr_chunks = index_tree(&index, &root, &paths, &pr_ref);
    let second = t.elapsed();
    println!(
        "second ref, identical chunks: {pr_chunks} chunks in {second:.2?}; tokenising them alone: {tokenize:.2?} ({tokens} tokens)"
    );
    println!("index now holds {} chunks", index.num_chunks());
    assert!(
        index.num_chunks() >= 100_000,
        "the query bench needs >= 100,000 chunks"
    );

    // Push-to-searchable, the sink's share: one changed file staged and committed (tantivy
    // commit + reader reload) on the big index, as a one-file push's run does.
    let pushed = &paths[paths.len() / 2];
    let mut source = read_corpus(&root, std::slice::from_ref(pushed));
    let source = source.pop().expect("read pushed file");
    let mut push_times = Vec::with_capacity(PUSH_RUNS);
    for i in 0..PUSH_RUNS {
        let text = format!("{}\ndef pushed_marker_{i}():\n    pass\n", source.text);
        let set = ChangeSet {
            key: main_ref.clone(),
            commit: Some(format!("push{i}")),
            upserts: vec![FileUpdate {
                path: source.rel.clone(),
                hash: String::new(),
                size: text.len() as u64,
                chunks: chunks_of(&text),
            }],
            deletes: vec![],
            delta: ChunkDelta::default(),
        };
        let t = Instant::now();
        index.stage(&set).expect("stage push");
        index.commit_ref(&main_ref).expect("commit push");
        push_times.push(t.elapsed());
        let found = index
            .search(&Query::new(format!("pushed_marker_{i}")))
            .expect("search push");
        assert_eq!(found.hits.len(), 1, "the pushed file is searchable");
    }
    push_times.sort();
    println!(
        "one-file push, stage + commit + reload on {} chunks: p50 {:.2?}  p99 {:.2?} ({PUSH_RUNS} runs)",
        index.num_chunks(),
        push_times[PUSH_RUNS / 2],
        push_times[PUSH_RUNS * 99 / 100]
    );

    let segments = index
        .tantivy_index()
        .searchable_segment_metas()
        .map_or(0, |m| m.len());
    println!("searchable segments now: {segments}");

    let queries = [
        ("identifier", Query::new("parse_args")),
        ("identifier_camel", Query::new("HTTPConnection")),
        ("phrase", Query::new("\"return self\"")),
        (
            "filtered_repo_ref_prefix",
            Query {
                repo: Some("cpython".into()),
                git_ref: Some("main".into()),
                path: Some("email/".into()),
                ..Query::new("decode header")
            },
        ),
        (
            "filtered_glob",
            Query {
                path: Some("**/test_*.py".into()),
                ..Query::new("assertEqual")
            },
        ),
        (
            "words_ranked",
            Query::new("parse the header of a tar archive"),
        ),
        (
            "literal",
            Query {
                mode: Mode::Literal,
                case_sensitive: true,
                ..Query::new("self.assertEqual(")
            },
        ),
        (
            "literal_ignore_case",
            Query {
                mode: Mode::Literal,
                case_sensitive: false,
                ..Query::new("httpconnection(")
            },
        ),
        (
            "regex",
            Query {
                mode: Mode::Regex,
                case_sensitive: true,
                ..Query::new(r"def test_\w+_error\(")
            },
        ),
        (
            "regex_rare",
            Query {
                mode: Mode::Regex,
                case_sensitive: true,
                ..Query::new(r"class \w+HTTPHandler\b")
            },
        ),
    ];
    let rg = tool("rg");
    let rg_pattern = |name: &str| match name {
        "identifier" => vec!["-w", "-F", "parse_args"],
        "identifier_camel" => vec!["-w", "-F", "HTTPConnection"],
        "phrase" => vec!["-F", "return self"],
        "filtered_repo_ref_prefix" => vec!["-i", "decode.?header"],
        "words_ranked" => vec![
            "-i", "-e", "tar", "-e", "header", "-e", "archive", "-e", "pars",
        ],
        "literal" => vec!["-F", "self.assertEqual("],
        "literal_ignore_case" => vec!["-i", "-F", "httpconnection("],
        "regex" => vec![r"def test_\w+_error\("],
        "regex_rare" => vec![r"class \w+HTTPHandler\b"],
        _ => vec!["-g", "**/test_*.py", "-F", "assertEqual"],
    };
    for (name, query) in &queries {
        let (p50, p99, hits) = percentiles(&index, query);
        let peer = rg.as_ref().map(|rg| {
            let mut root_arg = root.clone();
            if *name == "filtered_repo_ref_prefix" {
                root_arg = root.join("email");
            }
            median(
                (0..5)
                    .map(|_| {
                        let t = Instant::now();
                        let out = Command::new(rg)
                            .args(rg_pattern(name))
                            .args(["-n", "--type", "py", "-g", "!site-packages"])
                            .arg(&root_arg)
                            .output()
                            .expect("run rg");
                        black_box(out.stdout.len());
                        t.elapsed()
                    })
                    .collect(),
            )
        });
        let peer = peer.map_or("rg not found".to_string(), |d| format!("rg {d:.2?}"));
        println!("query {name:<26} p50 {p50:>9.2?}  p99 {p99:>9.2?}  hits {hits:>3}  | {peer}");
    }

    // The path filter's per-segment results are cached between queries (see the search
    // crate's `path_filter` module): also time the glob query with that cache emptied before
    // each run, so the filter is resolved from the term dictionaries every time.
    let glob_query = &queries[queries.len() - 1].1;
    let mut times = Vec::with_capacity(PERCENTILE_RUNS);
    for _ in 0..PERCENTILE_RUNS {
        index.clear_filter_cache();
        let t = Instant::now();
        black_box(index.search(glob_query).expect("search"));
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "query {:<26} p50 {:>9.2?}  p99 {:>9.2?}  (filter cache emptied before each run)",
        "filtered_glob_cold",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );

    // A filter not seen before on segments that earlier filters visited (the common case
    // for a new pattern: the segments' path lists are cached, its bitsets are not). Each run
    // uses another spelling of the same glob, so each is new to the cache.
    let mut times = Vec::with_capacity(PERCENTILE_RUNS);
    for i in 0..PERCENTILE_RUNS {
        let query = Query {
            path: Some(format!("**/test_*{{.py,.py{i}}}")),
            ..glob_query.clone()
        };
        let t = Instant::now();
        black_box(index.search(&query).expect("search"));
        times.push(t.elapsed());
    }
    times.sort();
    println!(
        "query {:<26} p50 {:>9.2?}  p99 {:>9.2?}  (a new pattern each run, path lists cached)",
        "filtered_glob_new_pattern",
        times[times.len() / 2],
        times[times.len() * 99 / 100]
    );

    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("search_query");
    for (name, query) in &queries {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(index.search(query).expect("search")))
        });
    }
    group.finish();
    c.final_summary();
}
