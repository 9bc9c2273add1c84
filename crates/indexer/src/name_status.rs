//! Path hints: what `git diff --name-status -z` says changed between two commits.

use crate::error::Error;

/// How git says a path changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeStatus {
    /// `A`: a new path.
    Added,
    /// `M` (and `U`, an unmerged path): content or mode changed.
    Modified,
    /// `D`: the path is gone.
    Deleted,
    /// `R<score>`: moved from `old_path`, possibly edited.
    Renamed,
    /// `C<score>`: copied from `old_path`, which stays.
    Copied,
    /// `T`: the type changed (file, symlink, submodule).
    TypeChanged,
}

/// One changed path of a diff.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathChange {
    /// How it changed.
    pub status: ChangeStatus,
    /// The path after the change, `/`-separated and relative to the repository root.
    pub path: String,
    /// For renames and copies, the path before.
    pub old_path: Option<String>,
}

impl PathChange {
    /// Parse the output of `git diff --name-status -z <a> <b>` (NUL-separated; R100/C75 carry two paths).
    ///
    /// Paths are taken byte for byte (with `-z` git does not quote them); bytes that are not
    /// UTF-8 are replaced lossily, which names a path the walker would not index either, so a
    /// hint for it changes nothing.
    ///
    /// ```
    /// use indexer::{ChangeStatus, PathChange};
    /// let out = b"M\0src/lib.rs\0R090\0old.rs\0new.rs\0";
    /// let changes = PathChange::parse_name_status_z(out).unwrap();
    /// assert_eq!(changes[1].status, ChangeStatus::Renamed);
    /// assert_eq!(changes[1].old_path.as_deref(), Some("old.rs"));
    /// ```
    pub fn parse_name_status_z(output: &[u8]) -> Result<Vec<PathChange>, Error> {
        let mut fields = Fields {
            rest: output,
            offset: 0,
        };
        let mut changes = Vec::new();
        while let Some((offset, status)) = fields.next() {
            if status.is_empty() {
                // Tolerate the stray empty field a trailing separator produces.
                continue;
            }
            let (status, paths) = parse_status(status, offset)?;
            let mut take_path = || match fields.next() {
                Some((_, path)) if !path.is_empty() => {
                    Ok(String::from_utf8_lossy(path).into_owned())
                }
                _ => Err(Error::BadNameStatus {
                    reason: format!("status at byte {offset} is missing a path"),
                }),
            };
            let first = take_path()?;
            let change = if paths == 2 {
                PathChange {
                    status,
                    path: take_path()?,
                    old_path: Some(first),
                }
            } else {
                PathChange {
                    status,
                    path: first,
                    old_path: None,
                }
            };
            changes.push(change);
        }
        Ok(changes)
    }
}

/// The NUL-separated fields of the output, each with its byte offset.
struct Fields<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Fields<'a> {
    fn next(&mut self) -> Option<(usize, &'a [u8])> {
        if self.rest.is_empty() {
            return None;
        }
        let start = self.offset;
        let end = self
            .rest
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(self.rest.len());
        let field = &self.rest[..end];
        let consumed = (end + 1).min(self.rest.len());
        self.rest = &self.rest[consumed..];
        self.offset += consumed;
        Some((start, field))
    }
}

fn parse_status(field: &[u8], offset: usize) -> Result<(ChangeStatus, usize), Error> {
    let bad = || Error::BadNameStatus {
        reason: format!(
            "unknown status {:?} at byte {offset}",
            String::from_utf8_lossy(&field[..field.len().min(16)])
        ),
    };
    let (letter, score) = field.split_first().ok_or_else(bad)?;
    if !score.iter().all(u8::is_ascii_digit) || score.len() > 3 {
        return Err(bad());
    }
    let parsed = match letter {
        b'A' => (ChangeStatus::Added, 1),
        b'M' | b'U' => (ChangeStatus::Modified, 1),
        b'D' => (ChangeStatus::Deleted, 1),
        b'T' => (ChangeStatus::TypeChanged, 1),
        b'R' => (ChangeStatus::Renamed, 2),
        b'C' => (ChangeStatus::Copied, 2),
        _ => return Err(bad()),
    };
    Ok(parsed)
}

/// Which part of the tree a run looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Walk the whole tree. Always correct, whatever happened before.
    Full,
    /// Look only at these paths (and the old side of renames). Each is checked against the
    /// tree as it is: a hinted path that is missing is removed, one that exists is hashed,
    /// whatever its status says. Falls back to a full walk when there is no usable manifest
    /// or when an ignore or attributes file (`.gitignore`, `.ignore`, `.contextignore`,
    /// `.gitattributes`) is among the paths, since those change what other paths mean.
    Paths(Vec<PathChange>),
}
