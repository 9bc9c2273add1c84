//! The binary encoding of manifests and manifest updates, hand-written with std only.
//!
//! Why not JSON: a 30,000-file manifest was 16 MB of JSON and took ~200 ms to parse; here
//! content hashes and chunk ids (64 hex digits) are stored as their 32 raw bytes and the rest
//! is length-prefixed little-endian integers, so the same manifest is ~4 MB and decodes in a
//! few ms. Records (sorted by path) are grouped into ~32 KiB blocks, each with its own BLAKE3
//! checksum in a small index, so a path-hint run reads the index and one block per path
//! instead of the whole file, and still never uses a byte that was not verified.
//!
//! Snapshot layout (all integers little-endian):
//!
//! ```text
//! magic "CGIXSNAP" | format u32 | generation u64 | index_len u64 | index
//!   | blake3(everything before) [32] | blocks
//! index = header | n_files u64 | n_skipped u64 | n_blocks u64
//!   | per block: skipped u8, first path, offset u64, len u64, records u64, blake3 [32]
//! ```
//!
//! Every read is bounds-checked: a damaged file decodes to an error, never a panic, and the
//! checksums catch damage before decoding.

use std::collections::{BTreeMap, BTreeSet};

use crate::change_set::ChunkId;
use crate::config::{ChunkConfig, HashAlgo, IndexerConfig, to_hex};
use crate::manifest::{
    FileStat, MANIFEST_SCHEMA_VERSION, Manifest, ManifestEntry, ManifestUpdate, SkippedEntry,
};
use crate::manifest_view::ManifestView;
use crate::skip::SkipReason;

pub(crate) const SNAPSHOT_MAGIC: &[u8; 8] = b"CGIXSNAP";
/// Bump when the byte layout changes; a file of another format is treated as no manifest.
pub(crate) const FORMAT_VERSION: u32 = 1;
pub(crate) const CHECKSUM_BYTES: usize = 32;
/// magic + format + generation + index length.
pub(crate) const SNAPSHOT_PREAMBLE: usize = 8 + 4 + 8 + 8;
/// Records are grouped into blocks of about this size, each with its own checksum, so a
/// lookup reads and verifies one block instead of the whole file.
const BLOCK_BYTES: usize = 32 * 1024;

/// Why bytes do not decode, for [`Error::Manifest`](crate::Error::Manifest).
pub(crate) type DecodeError = String;

/// Encodes a whole manifest as a snapshot of `generation`.
pub(crate) fn encode_snapshot(manifest: &Manifest, generation: u64) -> Vec<u8> {
    let mut blocks = Vec::with_capacity(manifest.files.len() * 180);
    let mut refs: Vec<BlockRef> = Vec::new();
    let mut block_start = 0;
    let mut cut = |blocks: &mut Vec<u8>, refs: &mut Vec<BlockRef>, skipped: bool, path: &str| {
        let open = refs.last().is_some_and(|last| {
            last.skipped == skipped && blocks.len() - block_start < BLOCK_BYTES
        });
        if !open {
            close_block(blocks, refs.last_mut(), block_start);
            block_start = blocks.len();
            refs.push(BlockRef {
                skipped,
                first_path: path.to_owned(),
                offset: block_start as u64,
                len: 0,
                records: 0,
                checksum: [0; CHECKSUM_BYTES],
            });
        }
        if let Some(last) = refs.last_mut() {
            last.records += 1;
        }
    };
    for (path, entry) in &manifest.files {
        cut(&mut blocks, &mut refs, false, path);
        put_file_record(&mut blocks, path, entry);
    }
    for (path, entry) in &manifest.skipped {
        cut(&mut blocks, &mut refs, true, path);
        put_skipped_record(&mut blocks, path, entry);
    }
    let last_start = refs.last().map_or(0, |last| last.offset as usize);
    close_block(&blocks, refs.last_mut(), last_start);

    let mut index = Vec::with_capacity(256 + refs.len() * 120);
    put_header(&mut index, manifest);
    put_u64(&mut index, manifest.files.len() as u64);
    put_u64(&mut index, manifest.skipped.len() as u64);
    put_u64(&mut index, refs.len() as u64);
    for block in &refs {
        index.push(u8::from(block.skipped));
        put_str(&mut index, &block.first_path);
        put_u64(&mut index, block.offset);
        put_u64(&mut index, block.len);
        put_u64(&mut index, block.records);
        index.extend_from_slice(&block.checksum);
    }
    let mut out = Vec::with_capacity(SNAPSHOT_PREAMBLE + index.len() + 32 + blocks.len());
    out.extend_from_slice(SNAPSHOT_MAGIC);
    put_u32(&mut out, FORMAT_VERSION);
    put_u64(&mut out, generation);
    put_u64(&mut out, index.len() as u64);
    out.extend_from_slice(&index);
    let checksum = blake3::hash(&out);
    out.extend_from_slice(checksum.as_bytes());
    out.extend_from_slice(&blocks);
    out
}

fn close_block(blocks: &[u8], block: Option<&mut BlockRef>, start: usize) {
    if let Some(block) = block {
        block.len = (blocks.len() - start) as u64;
        block.checksum = *blake3::hash(&blocks[start..]).as_bytes();
    }
}

/// Where one block of records is, what it holds, and its checksum.
#[derive(Debug, Clone)]
struct BlockRef {
    /// Skipped-file records (else indexed-file records).
    skipped: bool,
    /// Blocks hold records in path order; this is the first one's path.
    first_path: String,
    /// From the start of the blocks region.
    offset: u64,
    len: u64,
    records: u64,
    checksum: [u8; CHECKSUM_BYTES],
}

/// A snapshot's checked preamble and index: header fields and where each block is.
#[derive(Debug)]
pub(crate) struct SnapshotIndex {
    pub(crate) generation: u64,
    header: Header,
    n_files: u64,
    n_skipped: u64,
    blocks: Vec<BlockRef>,
    /// Offset of the blocks region in the file.
    pub(crate) blocks_start: u64,
}

impl SnapshotIndex {
    /// The length of the index part (preamble, index, checksum) given the file's first
    /// [`SNAPSHOT_PREAMBLE`] bytes; checks magic and format.
    pub(crate) fn index_part_len(preamble: &[u8]) -> Result<usize, DecodeError> {
        if preamble.len() < SNAPSHOT_PREAMBLE || &preamble[..8] != SNAPSHOT_MAGIC {
            return Err("not a manifest snapshot (bad magic or too short)".into());
        }
        let format = u32::from_le_bytes(fixed(&preamble[8..12])?);
        if format != FORMAT_VERSION {
            return Err(format!(
                "manifest snapshot format {format}, this indexer reads {FORMAT_VERSION}"
            ));
        }
        let index_len = u64::from_le_bytes(fixed(&preamble[20..28])?);
        usize::try_from(index_len)
            .ok()
            .and_then(|n| n.checked_add(SNAPSHOT_PREAMBLE + CHECKSUM_BYTES))
            .ok_or_else(|| format!("index length {index_len} is out of range"))
    }

    /// Parses and checks the index part (`bytes` starts at the file's start and holds at
    /// least [`index_part_len`](Self::index_part_len) bytes).
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let part_len = Self::index_part_len(bytes)?;
        let part = bytes.get(..part_len).ok_or("truncated snapshot index")?;
        let (content, checksum) = part.split_at(part_len - CHECKSUM_BYTES);
        if blake3::hash(content).as_bytes() != checksum {
            return Err("manifest snapshot index checksum mismatch (torn or damaged)".into());
        }
        let generation = u64::from_le_bytes(fixed(&content[12..20])?);
        let mut reader = Reader::new(&content[SNAPSHOT_PREAMBLE..]);
        let header = get_header(&mut reader)?;
        let n_files = reader.u64()?;
        let n_skipped = reader.u64()?;
        let n_blocks = reader.count(CHECKSUM_BYTES)?;
        let mut blocks = Vec::with_capacity(n_blocks);
        for _ in 0..n_blocks {
            blocks.push(BlockRef {
                skipped: reader.flag()?,
                first_path: reader.string()?,
                offset: reader.u64()?,
                len: reader.u64()?,
                records: reader.u64()?,
                checksum: fixed(reader.bytes(CHECKSUM_BYTES)?)?,
            });
        }
        Ok(SnapshotIndex {
            generation,
            header,
            n_files,
            n_skipped,
            blocks,
            blocks_start: part_len as u64,
        })
    }

    /// The whole manifest; `region` is everything after the index part.
    pub(crate) fn decode_all(&self, region: &[u8]) -> Result<Manifest, DecodeError> {
        let mut files = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        let mut expected_offset = 0;
        for block in &self.blocks {
            if block.offset != expected_offset {
                return Err(format!("block at {} is not contiguous", block.offset));
            }
            expected_offset = block.offset.saturating_add(block.len);
            let bytes = range(region, block.offset, block.len)?;
            self.decode_block(block, bytes, |path, reader| {
                if block.skipped {
                    skipped.insert(path.to_owned(), get_skipped(reader)?);
                } else {
                    files.insert(path.to_owned(), get_entry(reader)?);
                }
                Ok(true)
            })?;
        }
        if expected_offset != region.len() as u64 {
            return Err("snapshot has bytes after its last block (or is truncated)".into());
        }
        if files.len() as u64 != self.n_files || skipped.len() as u64 != self.n_skipped {
            return Err("snapshot record counts do not match its index".into());
        }
        Ok(self.header.clone().into_manifest(files, skipped))
    }

    /// A [`ManifestView`] over the whole snapshot `bytes` (the file as read, index part
    /// included), every block checked; no entry body is decoded.
    pub(crate) fn into_view(self, bytes: Vec<u8>) -> Result<ManifestView, DecodeError> {
        let base = usize::try_from(self.blocks_start).map_err(|_| "index too long")?;
        let region = bytes.get(base..).ok_or("truncated snapshot")?;
        let mut expected_offset = 0;
        let (mut files, mut skipped) = (0, 0);
        for block in &self.blocks {
            if block.offset != expected_offset {
                return Err(format!("block at {} is not contiguous", block.offset));
            }
            expected_offset = block.offset.saturating_add(block.len);
            if blake3::hash(range(region, block.offset, block.len)?).as_bytes() != &block.checksum {
                return Err(format!(
                    "manifest block at {} checksum mismatch (torn or damaged)",
                    block.offset
                ));
            }
            *(if block.skipped {
                &mut skipped
            } else {
                &mut files
            }) += block.records;
        }
        if expected_offset != region.len() as u64 {
            return Err("snapshot has bytes after its last block (or is truncated)".into());
        }
        if files != self.n_files || skipped != self.n_skipped {
            return Err("snapshot record counts do not match its index".into());
        }
        let capacity = usize::try_from(files.saturating_add(skipped)).unwrap_or(0);
        let capacity = capacity.min(region.len() / 16);
        let mut view = ManifestView::new(self.header, bytes, capacity);
        for block in &self.blocks {
            // Offsets were range-checked above.
            let start = base + block.offset as usize;
            let end = start + block.len as usize;
            view.index_records(start, end, block.records, block.skipped)?;
        }
        Ok(view)
    }

    /// The header and only the entries of `paths`. `read_block(offset, len)` returns the bytes
    /// of one block (offset from the blocks region's start); each is checked before use.
    pub(crate) fn decode_paths(
        &self,
        paths: &BTreeSet<String>,
        mut read_block: impl FnMut(u64, u64) -> Result<Vec<u8>, DecodeError>,
    ) -> Result<Manifest, DecodeError> {
        let mut files = BTreeMap::new();
        let mut skipped = BTreeMap::new();
        for path in paths {
            for kind_skipped in [false, true] {
                let Some(block) = self.block_for(kind_skipped, path) else {
                    continue;
                };
                let bytes = read_block(block.offset, block.len)?;
                self.decode_block(block, &bytes, |record_path, reader| {
                    if record_path != path.as_str() {
                        // Records are sorted: once past the path, it is not in this block.
                        return Ok(record_path < path.as_str());
                    }
                    if kind_skipped {
                        skipped.insert(path.clone(), get_skipped(reader)?);
                    } else {
                        files.insert(path.clone(), get_entry(reader)?);
                    }
                    Ok(false)
                })?;
            }
        }
        Ok(self.header.clone().into_manifest(files, skipped))
    }

    /// The block of that kind whose path range may hold `path`.
    fn block_for(&self, skipped: bool, path: &str) -> Option<&BlockRef> {
        let kind: Vec<&BlockRef> = self
            .blocks
            .iter()
            .filter(|b| b.skipped == skipped)
            .collect();
        let after = kind.partition_point(|b| b.first_path.as_str() <= path);
        after.checked_sub(1).map(|i| kind[i])
    }

    /// Verifies a block, then hands each record's path and a reader positioned after it to
    /// `record`, which decodes the rest (when it wants it) and says whether to go on.
    fn decode_block(
        &self,
        block: &BlockRef,
        bytes: &[u8],
        mut record: impl FnMut(&str, &mut Reader<'_>) -> Result<bool, DecodeError>,
    ) -> Result<(), DecodeError> {
        if blake3::hash(bytes).as_bytes() != &block.checksum {
            return Err(format!(
                "manifest block at {} checksum mismatch (torn or damaged)",
                block.offset
            ));
        }
        let mut reader = Reader::new(bytes);
        for _ in 0..block.records {
            let len = reader.count(1)?;
            let path = std::str::from_utf8(reader.bytes(len)?)
                .map_err(|e| format!("path is not UTF-8: {e}"))?;
            let before = reader.rest().len();
            if !record(path, &mut reader)? {
                return Ok(());
            }
            if reader.rest().len() == before {
                // The callback skipped this record's body: decode it to move past it.
                if block.skipped {
                    get_skipped(&mut reader)?;
                } else {
                    get_entry(&mut reader)?;
                }
            }
        }
        Ok(())
    }
}

pub(crate) fn range(region: &[u8], offset: u64, len: u64) -> Result<&[u8], DecodeError> {
    let start = usize::try_from(offset).map_err(|_| "block offset out of range")?;
    let len = usize::try_from(len).map_err(|_| "block length out of range")?;
    start
        .checked_add(len)
        .and_then(|end| region.get(start..end))
        .ok_or_else(|| format!("block at {offset} is past the end of the snapshot"))
}

/// A count, then per path `1` and its record (`put_record`), or `0` and the path (removed).
fn put_changes<T>(
    out: &mut Vec<u8>,
    changes: &BTreeMap<String, Option<T>>,
    put_record: fn(&mut Vec<u8>, &str, &T),
) {
    put_u64(out, changes.len() as u64);
    for (path, entry) in changes {
        match entry {
            Some(entry) => {
                out.push(1);
                put_record(out, path, entry);
            }
            None => {
                out.push(0);
                put_str(out, path);
            }
        }
    }
}

/// Encodes an update (a journal record's payload).
pub(crate) fn encode_update(update: &ManifestUpdate) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    put_opt_str(&mut out, update.commit.as_deref());
    put_i128(&mut out, update.written_at_ns);
    put_changes(&mut out, &update.files, put_file_record);
    put_changes(&mut out, &update.skipped, put_skipped_record);
    out
}

/// Decodes a journal record's payload.
pub(crate) fn decode_update(bytes: &[u8]) -> Result<ManifestUpdate, DecodeError> {
    let mut reader = Reader::new(bytes);
    let commit = reader.opt_string()?;
    let written_at_ns = reader.i128()?;
    let mut files = BTreeMap::new();
    for _ in 0..reader.count(2)? {
        let present = reader.flag()?;
        let path = reader.string()?;
        let entry = if present {
            Some(get_entry(&mut reader)?)
        } else {
            None
        };
        files.insert(path, entry);
    }
    let mut skipped = BTreeMap::new();
    for _ in 0..reader.count(2)? {
        let present = reader.flag()?;
        let path = reader.string()?;
        let entry = if present {
            Some(get_skipped(&mut reader)?)
        } else {
            None
        };
        skipped.insert(path, entry);
    }
    if !reader.rest().is_empty() {
        return Err("trailing bytes after a journal record".into());
    }
    Ok(ManifestUpdate {
        commit,
        written_at_ns,
        files,
        skipped,
    })
}

/// The manifest's fields other than its entries.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) schema: u32,
    pub(crate) hash: HashAlgo,
    pub(crate) chunking: ChunkConfig,
    pub(crate) max_file_bytes: u64,
    pub(crate) max_avg_line_len: usize,
    pub(crate) index_secret_files: bool,
    pub(crate) commit: Option<String>,
    pub(crate) written_at_ns: i128,
}

impl Header {
    /// The header fields of `m`.
    pub(crate) fn of(m: &Manifest) -> Header {
        Header {
            schema: m.schema,
            hash: m.hash,
            chunking: m.chunking,
            max_file_bytes: m.max_file_bytes,
            max_avg_line_len: m.max_avg_line_len,
            index_secret_files: m.index_secret_files,
            commit: m.commit.clone(),
            written_at_ns: m.written_at_ns,
        }
    }

    /// True when the manifest was made with the same rules as `config` now uses, so its stat
    /// cache and chunk ids can be trusted.
    pub(crate) fn matches(&self, config: &IndexerConfig) -> bool {
        self.schema == MANIFEST_SCHEMA_VERSION
            && self.hash == config.hash
            && self.chunking == config.chunking
            && self.max_file_bytes == config.max_file_bytes
            && self.max_avg_line_len == config.max_avg_line_len
            && self.index_secret_files == config.index_secret_files
    }

    pub(crate) fn into_manifest(
        self,
        files: BTreeMap<String, ManifestEntry>,
        skipped: BTreeMap<String, SkippedEntry>,
    ) -> Manifest {
        Manifest {
            schema: self.schema,
            hash: self.hash,
            chunking: self.chunking,
            max_file_bytes: self.max_file_bytes,
            max_avg_line_len: self.max_avg_line_len,
            index_secret_files: self.index_secret_files,
            commit: self.commit,
            written_at_ns: self.written_at_ns,
            files,
            skipped,
        }
    }
}

fn put_header(out: &mut Vec<u8>, m: &Manifest) {
    put_u32(out, m.schema);
    out.push(match m.hash {
        HashAlgo::Blake3 => 0,
        HashAlgo::Sha256 => 1,
    });
    for n in [
        m.chunking.target_lines,
        m.chunking.target_bytes,
        m.chunking.max_lines,
        m.chunking.max_bytes,
    ] {
        put_u64(out, n as u64);
    }
    put_u64(out, m.max_file_bytes);
    put_u64(out, m.max_avg_line_len as u64);
    put_opt_str(out, m.commit.as_deref());
    put_i128(out, m.written_at_ns);
    // Schema 1 headers end above; they stay readable, so an old manifest still lists the
    // paths to delete when its settings no longer match.
    if m.schema >= 2 {
        out.push(u8::from(m.index_secret_files));
    }
}

fn get_header(reader: &mut Reader<'_>) -> Result<Header, DecodeError> {
    let schema = reader.u32()?;
    let hash = match reader.u8()? {
        0 => HashAlgo::Blake3,
        1 => HashAlgo::Sha256,
        other => return Err(format!("unknown hash algorithm tag {other}")),
    };
    let chunking = ChunkConfig {
        target_lines: reader.usize()?,
        target_bytes: reader.usize()?,
        max_lines: reader.usize()?,
        max_bytes: reader.usize()?,
    };
    let max_file_bytes = reader.u64()?;
    let max_avg_line_len = reader.usize()?;
    let commit = reader.opt_string()?;
    let written_at_ns = reader.i128()?;
    let index_secret_files = match schema {
        0 | 1 => false,
        _ => reader.flag()?,
    };
    Ok(Header {
        schema,
        hash,
        chunking,
        max_file_bytes,
        max_avg_line_len,
        index_secret_files,
        commit,
        written_at_ns,
    })
}

pub(crate) fn put_file_record(out: &mut Vec<u8>, path: &str, entry: &ManifestEntry) {
    put_str(out, path);
    put_stat(out, &entry.stat);
    put_id(out, &entry.hash);
    put_u64(out, entry.chunks.len() as u64);
    for chunk in &entry.chunks {
        put_id(out, &chunk.0);
    }
}

pub(crate) fn get_entry(reader: &mut Reader<'_>) -> Result<ManifestEntry, DecodeError> {
    let stat = get_stat(reader)?;
    let hash = reader.id()?;
    let n = reader.count(2)?;
    let mut chunks = Vec::with_capacity(n);
    for _ in 0..n {
        chunks.push(ChunkId(reader.id()?));
    }
    Ok(ManifestEntry { stat, hash, chunks })
}

/// Moves past a file record's body (after its path) without allocating, checking it as
/// [`get_entry`] would; returns its stat data.
pub(crate) fn skip_entry(reader: &mut Reader<'_>) -> Result<FileStat, DecodeError> {
    let stat = get_stat(reader)?;
    skip_id(reader)?;
    for _ in 0..reader.count(2)? {
        skip_id(reader)?;
    }
    Ok(stat)
}

fn skip_id(reader: &mut Reader<'_>) -> Result<(), DecodeError> {
    match reader.u8()? {
        0 => reader.bytes(32).map(drop),
        1 => reader.str().map(drop),
        other => Err(format!("bad id tag {other}")),
    }
}

pub(crate) fn put_skipped_record(out: &mut Vec<u8>, path: &str, entry: &SkippedEntry) {
    put_str(out, path);
    put_stat(out, &entry.stat);
    out.push(skip_tag(entry.reason));
}

pub(crate) fn get_skipped(reader: &mut Reader<'_>) -> Result<SkippedEntry, DecodeError> {
    let stat = get_stat(reader)?;
    let tag = reader.u8()?;
    let reason = SKIP_REASONS
        .get(usize::from(tag))
        .copied()
        .ok_or_else(|| format!("unknown skip reason tag {tag}"))?;
    Ok(SkippedEntry { stat, reason })
}

/// Tag order of skip reasons on disk: append only, never reorder.
const SKIP_REASONS: [SkipReason; 10] = [
    SkipReason::Binary,
    SkipReason::TooLarge,
    SkipReason::LfsPointer,
    SkipReason::Generated,
    SkipReason::Vendored,
    SkipReason::Minified,
    SkipReason::SymlinkOutsideTree,
    SkipReason::SymlinkLoop,
    SkipReason::NotAFile,
    SkipReason::Unreadable,
];

fn skip_tag(reason: SkipReason) -> u8 {
    SKIP_REASONS
        .iter()
        .position(|r| *r == reason)
        .map_or(u8::MAX, |i| i as u8)
}

fn put_stat(out: &mut Vec<u8>, stat: &FileStat) {
    put_u64(out, stat.size);
    put_i128(out, stat.mtime_ns);
    put_u64(out, stat.inode);
    put_u32(out, stat.mode);
}

pub(crate) fn get_stat(reader: &mut Reader<'_>) -> Result<FileStat, DecodeError> {
    Ok(FileStat {
        size: reader.u64()?,
        mtime_ns: reader.i128()?,
        inode: reader.u64()?,
        mode: reader.u32()?,
    })
}

/// Ids are 64 lowercase hex digits in practice (BLAKE3 and SHA-256): stored as 32 bytes
/// (tag 0). Anything else is kept verbatim (tag 1), so decoding gives back the same string.
fn put_id(out: &mut Vec<u8>, id: &str) {
    match hex32(id) {
        Some(raw) => {
            out.push(0);
            out.extend_from_slice(&raw);
        }
        None => {
            out.push(1);
            put_str(out, id);
        }
    }
}

fn hex32(id: &str) -> Option<[u8; 32]> {
    let digits = id.as_bytes();
    if digits.len() != 64 {
        return None;
    }
    let nibble = |d: u8| match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        _ => None,
    };
    let mut raw = [0u8; 32];
    for (byte, pair) in raw.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(raw)
}

fn put_u32(out: &mut Vec<u8>, n: u32) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_u64(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_i128(out: &mut Vec<u8>, n: i128) {
    out.extend_from_slice(&n.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u64(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn put_opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        Some(s) => {
            out.push(1);
            put_str(out, s);
        }
        None => out.push(0),
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    bytes
        .try_into()
        .map_err(|_| format!("expected {N} bytes, found {}", bytes.len()))
}

/// A bounds-checked cursor.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.bytes.len() {
            return Err(format!(
                "truncated: wanted {n} bytes, {} left",
                self.bytes.len()
            ));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        self.bytes
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }

    fn flag(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(format!("bad flag byte {other}")),
        }
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(fixed(self.bytes(4)?)?))
    }

    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(fixed(self.bytes(8)?)?))
    }

    fn i128(&mut self) -> Result<i128, DecodeError> {
        Ok(i128::from_le_bytes(fixed(self.bytes(16)?)?))
    }

    fn usize(&mut self) -> Result<usize, DecodeError> {
        let n = self.u64()?;
        usize::try_from(n).map_err(|_| format!("{n} does not fit in usize"))
    }

    /// A count of items at least `min_item_bytes` each: rejected when the rest cannot hold
    /// them, so a damaged count cannot make us allocate gigabytes.
    pub(crate) fn count(&mut self, min_item_bytes: usize) -> Result<usize, DecodeError> {
        let n = self.usize()?;
        if n.saturating_mul(min_item_bytes) > self.bytes.len() {
            return Err(format!("count {n} exceeds the bytes left"));
        }
        Ok(n)
    }

    pub(crate) fn string(&mut self) -> Result<String, DecodeError> {
        self.str().map(str::to_owned)
    }

    /// A length-prefixed UTF-8 string, borrowed.
    pub(crate) fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.count(1)?;
        let bytes = self.bytes(len)?;
        std::str::from_utf8(bytes).map_err(|e| format!("path or id is not UTF-8: {e}"))
    }

    fn opt_string(&mut self) -> Result<Option<String>, DecodeError> {
        Ok(if self.flag()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    fn id(&mut self) -> Result<String, DecodeError> {
        match self.u8()? {
            0 => Ok(to_hex(self.bytes(32)?)),
            1 => self.string(),
            other => Err(format!("bad id tag {other}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(schema: u32, index_secret_files: bool) -> Manifest {
        let config = IndexerConfig {
            index_secret_files,
            ..IndexerConfig::default()
        };
        let entry = ManifestEntry {
            stat: FileStat {
                size: 3,
                mtime_ns: 7,
                inode: 11,
                mode: 0o100644,
            },
            hash: "ab".repeat(32),
            chunks: vec![ChunkId("cd".repeat(32))],
        };
        let files = [(".env".to_string(), entry)].into_iter().collect();
        let mut manifest = Manifest::new(&config, None, files, BTreeMap::new());
        manifest.schema = schema;
        manifest
    }

    fn round_trip(manifest: &Manifest) -> Manifest {
        let bytes = encode_snapshot(manifest, 1);
        let index = SnapshotIndex::parse(&bytes).unwrap();
        index
            .decode_all(&bytes[index.blocks_start as usize..])
            .unwrap()
    }

    #[test]
    fn the_secret_files_setting_round_trips() {
        for setting in [false, true] {
            let manifest = manifest(MANIFEST_SCHEMA_VERSION, setting);
            assert_eq!(round_trip(&manifest), manifest);
        }
    }

    /// A manifest from before secrets were withheld still lists its paths (so the next run
    /// can delete what it no longer indexes) and never matches (so every file is re-read).
    #[test]
    fn a_schema_1_manifest_decodes_and_is_not_trusted() {
        let old = manifest(1, false);
        let decoded = round_trip(&old);
        assert_eq!(decoded, old);
        assert_eq!(decoded.paths().collect::<Vec<_>>(), [".env"]);
        assert!(!decoded.matches(&IndexerConfig::default()));
    }
}
