//! Why a file of the tree was not indexed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a file was skipped; counted per reason in [`RunSummary`](crate::RunSummary).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// A NUL byte in the first 8,000 bytes (git's test).
    Binary,
    /// Bigger than `max_file_bytes` (decided from stat, never read).
    TooLarge,
    /// A Git LFS pointer, not the content.
    LfsPointer,
    /// Marked `linguist-generated` in the root `.gitattributes`.
    Generated,
    /// Marked `linguist-vendored` in the root `.gitattributes`.
    Vendored,
    /// Average line length over `max_avg_line_len`.
    Minified,
    /// A symbolic link whose target is outside the tree.
    SymlinkOutsideTree,
    /// A symbolic link that loops.
    SymlinkLoop,
    /// Not a regular file: a FIFO, socket or device, a dangling link, or a link to a directory.
    NotAFile,
    /// Could not be opened or read (permissions, an I/O error).
    Unreadable,
    /// A well-known secret file (`.env`, `*.pem`, `id_rsa`, ...; see
    /// [`is_secret_path`](crate::is_secret_path)), decided from its name, never read; indexed
    /// only when `index_secret_files` is set.
    SecretFile,
}

impl SkipReason {
    /// The snake_case name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Binary => "binary",
            SkipReason::TooLarge => "too_large",
            SkipReason::LfsPointer => "lfs_pointer",
            SkipReason::Generated => "generated",
            SkipReason::Vendored => "vendored",
            SkipReason::Minified => "minified",
            SkipReason::SymlinkOutsideTree => "symlink_outside_tree",
            SkipReason::SymlinkLoop => "symlink_loop",
            SkipReason::NotAFile => "not_a_file",
            SkipReason::Unreadable => "unreadable",
            SkipReason::SecretFile => "secret_file",
        }
    }

    /// True for reasons that come from the file's content, which the manifest remembers
    /// (with stat data) so an unchanged skipped file is not read again.
    pub(crate) fn is_content_based(self) -> bool {
        matches!(
            self,
            SkipReason::Binary | SkipReason::LfsPointer | SkipReason::Minified
        )
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
