//! Incremental change detection and stable, content-defined chunking of source trees.
//!
//! Give an [`Indexer`] a checked-out tree and the (repo, ref) it belongs to; it finds what
//! changed since the last committed run of that ref — reading only files whose stat data moved —
//! splits changed files into line-bounded chunks whose ids survive unrelated edits, and streams
//! the result as [`ChangeSet`] batches to an [`IndexSink`]. The manifest of the run is saved
//! (through a [`ManifestStore`]) only after the sink has committed, so a crash redoes work and
//! never loses it. The crate has no async runtime, network or database of its own.
//!
//! ```
//! use indexer::{Indexer, IndexerConfig, MemoryManifestStore, MemorySink, RefKey, RunRequest, Scope};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let tree = tempfile::tempdir()?;
//! std::fs::write(tree.path().join("main.rs"), "fn main() {\n    println!(\"hi\");\n}\n")?;
//! std::fs::write(tree.path().join(".gitignore"), "target/\n")?;
//!
//! let indexer = Indexer::new(IndexerConfig::default())?;
//! let (sink, manifests) = (MemorySink::new(), MemoryManifestStore::new());
//! let key = RefKey::new("hello", "refs/heads/main");
//! let request = RunRequest { tree: tree.path(), key: key.clone(), commit: None, scope: Scope::Full };
//! // `run` blocks for the file work and the sink's writes (see its docs).
//! let summary = indexer.run(request, &sink, &manifests, &|_| {}, &|| false)?;
//! assert_eq!(summary.progress.files_changed, 2); // main.rs and .gitignore
//! assert!(sink.files(&key).contains_key("main.rs"));
//! # Ok(())
//! # }
//! ```
//!
//! # What it does, precisely
//!
//! * **Walk**: the `ignore` crate's parallel walker, honouring `.gitignore` (with or without a
//!   `.git` directory), `.ignore` and `.contextignore` files anywhere in the tree, plus the
//!   configured include/exclude globs. Hidden files are indexed (`.github/` matters); `.git`
//!   is never entered. Global git excludes, `.git/info/exclude` and ignore files above the
//!   root are deliberately not used, so the result depends on the tree alone.
//! * **Skips** (counted per [`SkipReason`]): binary (NUL in the first 8,000 bytes), over
//!   `max_file_bytes` (decided from stat), Git LFS pointers, minified (average line length),
//!   `linguist-generated` / `linguist-vendored` in the root `.gitattributes` (the supported
//!   subset is documented on the parser), symlinks out of the tree, loops, non-files. Text that
//!   is not UTF-8 is indexed lossily.
//! * **Secrets**: well-known secret files (`.env`, `*.pem`, `id_rsa`, `credentials`, keystores;
//!   see [`is_secret_path`]) are skipped by name unless `index_secret_files` is set, and every
//!   chunk that overlaps a high-confidence secret ([`find_secrets`]: private keys, cloud keys,
//!   prefixed tokens) is withheld from the sink while its file stays in the manifest; both are
//!   counted in [`RunCounts`].
//! * **Symlinks**: never followed out of the tree; a link to a regular file inside the tree is
//!   indexed under the link's path; files are opened with `O_NOFOLLOW`.
//! * **Stat cache**: size, mtime (ns), inode and mode unchanged means not read, except for
//!   git's *racily clean* case: a file whose mtime is in or after the second the previous run
//!   started is re-hashed. Files skipped for their content are remembered the same way.
//! * **Manifest**: per (repo, ref), with a schema version, the hash algorithm, chunk sizes,
//!   skip thresholds and the secret-files switch. When those differ from the indexer's, every file is re-read and re-chunked
//!   (a full re-index), while the old paths are still used to delete what disappeared.
//!   [`FsManifestStore`] keeps it as a checksummed binary snapshot plus a journal of
//!   path-hint updates, so a one-file change reads one block and appends one record. Full runs
//!   load it as a [`ManifestView`]: paths and stat data indexed in place, hashes and chunk ids
//!   decoded only for files that changed (and when a new manifest is written).
//!   A manifest that cannot be parsed is treated as absent: the run re-indexes every file, but
//!   paths deleted since the lost manifest stay in the sink until the ref is dropped.
//! * **Path hints**: [`Scope::Paths`] looks only at the named paths, checking each against the
//!   tree (missing means deleted, ignored means removed) — unless there is no usable manifest or
//!   an ignore/attributes file is among them, in which case it walks the whole tree.
//! * **Chunks**: see [`chunk_text`]; ids are the content hash of the chunk text, and batches
//!   carry per-file chunk deltas (added / removed / kept) for embedders.
//! * **Memory**: batches of about `batch_bytes` of text are streamed to the sink; the walker
//!   hands over files through a small bounded channel, so memory is the manifest plus a few
//!   files, not the tree. (The walk starts while the manifest loads; files met before it is
//!   ready wait in a list of path + stat data, ~200 bytes each, usually a small part of the
//!   tree.)
//!
//! # Architecture invariants
//!
//! The indexer never talks to a database directly (only through [`IndexSink`] and
//! [`ManifestStore`]), has no async runtime, and never opens a path that resolves outside the
//! tree (up to the documented directory-swap race in `probe`).

#![deny(missing_docs)]

mod batch;
mod change_set;
mod chunker;
mod config;
mod decided;
mod error;
mod gitattributes;
mod ignore_rules;
mod manifest;
mod manifest_codec;
mod manifest_fs;
mod manifest_view;
mod name_status;
mod path_filter;
mod probe;
mod run;
mod secrets;
mod sink;
mod skip;
mod walk;

pub use change_set::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, RefKey, RunCounts};
pub use chunker::chunk_text;
pub use config::{ChunkConfig, HashAlgo, IndexerConfig, UnknownHashAlgo};
pub use error::Error;
pub use manifest::{
    FileStat, MANIFEST_SCHEMA_VERSION, Manifest, ManifestEntry, ManifestStore, ManifestUpdate,
    MemoryManifestStore, SkippedEntry,
};
pub use manifest_fs::FsManifestStore;
pub use manifest_view::ManifestView;
pub use name_status::{ChangeStatus, PathChange, Scope};
pub use path_filter::{PathFilter, is_control_file};
pub use run::{Indexer, RunRequest, RunSummary};
pub use secrets::{SecretFinding, find_secrets, is_secret_path};
pub use sink::{IndexSink, MemorySink, SinkError};
pub use skip::SkipReason;
