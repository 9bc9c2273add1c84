//! What an [`Indexer`](crate::Indexer) is configured with: filters, limits, hashing, chunk sizes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The hash used for file content hashes and chunk ids.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlgo {
    /// BLAKE3 (the default: fast, parallel-friendly).
    #[default]
    Blake3,
    /// SHA-256, for consumers that need it for compatibility.
    Sha256,
}

impl HashAlgo {
    /// The lowercase hex digest of `bytes`.
    pub fn hex_digest(self, bytes: &[u8]) -> String {
        match self {
            HashAlgo::Blake3 => blake3::hash(bytes).to_hex().to_string(),
            HashAlgo::Sha256 => {
                use sha2::Digest;
                to_hex(&sha2::Sha256::digest(bytes))
            }
        }
    }

    /// The configuration name (`blake3` or `sha256`).
    pub fn as_str(self) -> &'static str {
        match self {
            HashAlgo::Blake3 => "blake3",
            HashAlgo::Sha256 => "sha256",
        }
    }
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

impl fmt::Display for HashAlgo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of parsing a [`HashAlgo`] name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown hash algorithm {0:?} (expected \"blake3\" or \"sha256\")")]
pub struct UnknownHashAlgo(pub String);

impl FromStr for HashAlgo {
    type Err = UnknownHashAlgo;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "blake3" => Ok(HashAlgo::Blake3),
            "sha256" | "sha-256" => Ok(HashAlgo::Sha256),
            _ => Err(UnknownHashAlgo(s.to_string())),
        }
    }
}

/// Chunk sizes. A chunk ends once it is big enough and a good cut point shows up; it is never
/// smaller than about half the target (except at the end of a file) nor bigger than the maxima
/// (except a single line longer than `max_bytes`, which is its own chunk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkConfig {
    /// Lines a chunk aims for (default 60).
    pub target_lines: usize,
    /// Bytes a chunk aims for (default 2048); whichever target is reached first counts.
    pub target_bytes: usize,
    /// Hard limit on lines per chunk (default 150).
    pub max_lines: usize,
    /// Hard limit on bytes per chunk (default 6144), except for a single overlong line.
    pub max_bytes: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        ChunkConfig {
            target_lines: 60,
            target_bytes: 2048,
            max_lines: 150,
            max_bytes: 6144,
        }
    }
}

/// Everything an [`Indexer`](crate::Indexer) needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexerConfig {
    /// Globs (relative to the tree root) a file must match one of to be indexed; empty means
    /// every file. A glob without `/` matches the file name at any depth (`*.rs`).
    pub include: Vec<String>,
    /// Globs (relative to the tree root) of files and directories never indexed. A glob without
    /// `/` matches a name at any depth (`node_modules`); a matching directory is not entered.
    pub exclude: Vec<String>,
    /// Files bigger than this are skipped without being read (default 1 MiB).
    pub max_file_bytes: u64,
    /// Files whose average line length is over this are skipped as minified (default 300;
    /// 0 turns the check off).
    pub max_avg_line_len: usize,
    /// Hash for file hashes and chunk ids.
    pub hash: HashAlgo,
    /// Chunk sizes.
    pub chunking: ChunkConfig,
    /// Walker threads; 0 means the machine's available parallelism.
    pub threads: usize,
    /// A batch is sent to the sink once it holds about this much chunk text (default 8 MiB).
    pub batch_bytes: usize,
    /// Index well-known secret files (see [`is_secret_path`](crate::is_secret_path)) instead
    /// of skipping them (default false). Chunks holding a high-confidence secret are withheld
    /// either way.
    pub index_secret_files: bool,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        IndexerConfig {
            include: Vec::new(),
            exclude: Vec::new(),
            max_file_bytes: 1024 * 1024,
            max_avg_line_len: 300,
            hash: HashAlgo::Blake3,
            chunking: ChunkConfig::default(),
            threads: 0,
            batch_bytes: 8 * 1024 * 1024,
            index_secret_files: false,
        }
    }
}
