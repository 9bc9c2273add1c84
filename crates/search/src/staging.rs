//! Staged runs spilled to disk: a run's batches are written to a file as they arrive and
//! read back once, at its commit.
//!
//! Why on disk: a ref's run must not reach tantivy before its commit (the single writer's
//! commit would publish every ref's half-applied run), so its batches wait somewhere until
//! then. Waiting in memory would hold a whole repository's text during a first full index;
//! the indexer streams batches precisely to bound memory. In memory a run keeps only the
//! map from each path to its latest record (so a later batch overrides an earlier one
//! without re-reading the file) and a write buffer.
//!
//! The file format is private and short-lived (a file never outlives its process's run):
//! a sequence of records, each a tag byte then length-prefixed fields, little-endian.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use indexer::{ChangeSet, Chunk, ChunkId};

use crate::error::Error;

const TAG_DELETE: u8 = 0;
const TAG_UPSERT: u8 = 1;
const WRITE_BUFFER_BYTES: usize = 256 * 1024;

/// Distinguishes the spill files of all runs of this process.
static NEXT_FILE: AtomicU64 = AtomicU64::new(0);

/// One change of a staged run, as read back at commit.
#[derive(Debug)]
pub(crate) enum Staged {
    /// Remove every chunk of the path.
    Delete(String),
    /// Replace every chunk of the path with these.
    Upsert(String, Vec<Chunk>),
}

/// One ref's run between its first `apply` and its `commit` or `abort`. Dropping it removes
/// its spill file.
#[derive(Debug)]
pub(crate) struct StagedRun {
    /// The commit named by the run's latest batch that named one.
    pub(crate) commit: Option<String>,
    path: PathBuf,
    writer: BufWriter<File>,
    /// Records written so far.
    records: u64,
    /// Each path's latest record: only that one is applied at commit.
    latest: HashMap<String, u64>,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn put_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    let len = u32::try_from(s.len()).map_err(|_| io::Error::other("string over 4 GiB"))?;
    out.write_all(&len.to_le_bytes())?;
    out.write_all(s.as_bytes())
}

fn get_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    input.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn get_str(input: &mut impl Read) -> io::Result<String> {
    let len = get_u32(input)? as usize;
    let mut bytes = vec![0u8; len];
    input.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

impl StagedRun {
    /// Starts a run with an empty spill file in `dir`.
    pub(crate) fn create(dir: &Path) -> Result<Self, Error> {
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!("run-{}-{n}.spill", std::process::id()));
        let file = File::create(&path).map_err(io_error(&path))?;
        Ok(StagedRun {
            commit: None,
            writer: BufWriter::with_capacity(WRITE_BUFFER_BYTES, file),
            path,
            records: 0,
            latest: HashMap::new(),
        })
    }

    /// Number of distinct paths the run changes.
    pub(crate) fn num_paths(&self) -> usize {
        self.latest.len()
    }

    /// Appends one batch: deletes first, then upserts, as the indexer's contract orders them.
    pub(crate) fn append(&mut self, changes: &ChangeSet) -> Result<(), Error> {
        if changes.commit.is_some() {
            self.commit.clone_from(&changes.commit);
        }
        self.write_batch(changes).map_err(io_error(&self.path))
    }

    fn write_batch(&mut self, changes: &ChangeSet) -> io::Result<()> {
        for path in &changes.deletes {
            self.writer.write_all(&[TAG_DELETE])?;
            put_str(&mut self.writer, path)?;
            self.latest.insert(path.clone(), self.records);
            self.records += 1;
        }
        for file in &changes.upserts {
            self.writer.write_all(&[TAG_UPSERT])?;
            put_str(&mut self.writer, &file.path)?;
            let n = u32::try_from(file.chunks.len())
                .map_err(|_| io::Error::other("more than 4 billion chunks in one file"))?;
            self.writer.write_all(&n.to_le_bytes())?;
            for chunk in &file.chunks {
                put_str(&mut self.writer, &chunk.id.0)?;
                self.writer.write_all(&chunk.start_line.to_le_bytes())?;
                self.writer.write_all(&chunk.end_line.to_le_bytes())?;
                put_str(&mut self.writer, &chunk.text)?;
            }
            self.latest.insert(file.path.clone(), self.records);
            self.records += 1;
        }
        Ok(())
    }

    /// Reads the run back in order, calling `apply` with each path's latest change only.
    /// One file's chunks are in memory at a time.
    pub(crate) fn replay(
        &mut self,
        mut apply: impl FnMut(Staged) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.writer.flush().map_err(io_error(&self.path))?;
        let file = File::open(&self.path).map_err(io_error(&self.path))?;
        let mut input = BufReader::with_capacity(WRITE_BUFFER_BYTES, file);
        for seq in 0..self.records {
            let record = read_record(&mut input).map_err(io_error(&self.path))?;
            let path = match &record {
                Staged::Delete(p) | Staged::Upsert(p, _) => p,
            };
            if self.latest.get(path) == Some(&seq) {
                apply(record)?;
            }
        }
        Ok(())
    }
}

fn read_record(input: &mut impl Read) -> io::Result<Staged> {
    let mut tag = [0u8; 1];
    input.read_exact(&mut tag)?;
    let path = get_str(input)?;
    match tag[0] {
        TAG_DELETE => Ok(Staged::Delete(path)),
        TAG_UPSERT => {
            let n = get_u32(input)? as usize;
            // Capped: the count comes from a file, and the chunks themselves are read anyway.
            let mut chunks = Vec::with_capacity(n.min(4096));
            for _ in 0..n {
                let id = ChunkId(get_str(input)?);
                let start_line = get_u32(input)?;
                let end_line = get_u32(input)?;
                let text = get_str(input)?;
                chunks.push(Chunk {
                    id,
                    start_line,
                    end_line,
                    text,
                });
            }
            Ok(Staged::Upsert(path, chunks))
        }
        other => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unknown staged record tag {other}"),
        )),
    }
}

impl Drop for StagedRun {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.path)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.path.display(), error = %e, "removing a staged run's spill file failed");
        }
    }
}

/// The directory holding the spill files of one index's staged runs.
#[derive(Debug)]
pub(crate) struct StagingDir {
    pub(crate) path: PathBuf,
    /// Removed on drop (a temp dir for an in-memory index); a disk index's `staging/`
    /// subdirectory stays and is emptied at the next open instead.
    remove_on_drop: bool,
}

impl StagingDir {
    /// `<index dir>/staging`, emptied: spill files left by a crash belong to runs that never
    /// committed, which the indexer redoes.
    pub(crate) fn in_index_dir(index_dir: &Path) -> Result<Self, Error> {
        let path = index_dir.join("staging");
        Self::fresh(path, false)
    }

    /// A new directory under the system temp dir, removed when the index is dropped.
    pub(crate) fn temporary() -> Result<Self, Error> {
        let n = NEXT_FILE.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("search-staging-{}-{n}", std::process::id()));
        Self::fresh(path, true)
    }

    fn fresh(path: PathBuf, remove_on_drop: bool) -> Result<Self, Error> {
        match std::fs::remove_dir_all(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path)(e)),
        }
        std::fs::create_dir_all(&path).map_err(io_error(&path))?;
        Ok(StagingDir {
            path,
            remove_on_drop,
        })
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
