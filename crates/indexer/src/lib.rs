//! Incremental change detection and stable chunking of source trees.
//!
//! (Crate docs, the `Indexer`, walking, manifest and chunker are being written; the types in
//! `change_set` and `sink` are the stable boundary other crates build against.)

mod change_set;
mod sink;

pub use change_set::{ChangeSet, Chunk, ChunkDelta, ChunkId, FileUpdate, Progress, RefKey};
pub use sink::{IndexSink, MemorySink, SinkError};
