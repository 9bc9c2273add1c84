//! Runs many queries against one index in one process, for the relevance benchmark
//! (`benches/relevance/`), where a process per query would cost more than the queries.
//!
//! Usage: `batch_query INDEX_DIR [--group-by-file] [--limit N] < queries.txt`. Each input line
//! is a query (lexical mode); each output line holds the hits' paths, tab-separated, best
//! first (empty when nothing matched, `!` and the reason when the query was refused).

use std::io::{BufRead, Write};
use std::path::PathBuf;

use search::{Grouping, Query, SearchIndex};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .ok_or("usage: batch_query INDEX_DIR [--group-by-file] [--limit N]")?,
    );
    let mut group = Grouping::Chunk;
    let mut limit = 10;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--group-by-file" => group = Grouping::File,
            "--limit" => limit = args.next().ok_or("--limit N")?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let index = SearchIndex::open_read_only(&dir)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for line in std::io::stdin().lock().lines() {
        let query = Query {
            limit,
            group,
            ..Query::new(line?)
        };
        match index.search(&query) {
            Ok(results) => {
                let paths: Vec<&str> = results.hits.iter().map(|h| h.path.as_str()).collect();
                writeln!(out, "{}", paths.join("\t"))?;
            }
            Err(e) => writeln!(out, "!{e}")?,
        }
    }
    Ok(())
}
