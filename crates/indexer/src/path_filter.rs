//! The configured include and exclude globs.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::error::Error;

/// Include/exclude globs, compiled once per [`Indexer`](crate::Indexer).
///
/// Globs are matched against `/`-separated paths relative to the tree root, with `*` not
/// crossing `/` and `**` crossing any number of directories. A glob without `/` matches a name
/// at any depth, as in `.gitignore`; a leading `/` anchors it at the root.
#[derive(Debug, Clone)]
pub struct PathFilter {
    include: Option<GlobSet>,
    exclude: GlobSet,
}

impl PathFilter {
    /// Compiles the globs; one that is not valid is an [`Error::Glob`] naming it.
    pub fn new(include: &[String], exclude: &[String]) -> Result<Self, Error> {
        let include = if include.is_empty() {
            None
        } else {
            Some(compile(include)?)
        };
        Ok(PathFilter {
            include,
            exclude: compile(exclude)?,
        })
    }

    /// A file is indexed only if it matches an include glob (when there are any) and neither it
    /// nor any directory above it matches an exclude glob.
    pub fn accepts_file(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(rel))
            && !self.excludes(rel)
            && !ancestors(rel).any(|dir| self.excludes(dir))
    }

    /// The walker checks directories as it enters them, so it only needs this for files.
    pub(crate) fn accepts_walked_file(&self, rel: &str) -> bool {
        self.include.as_ref().is_none_or(|set| set.is_match(rel)) && !self.excludes(rel)
    }

    /// True when an exclude glob matches this file or directory path itself.
    pub(crate) fn excludes(&self, rel: &str) -> bool {
        !self.exclude.is_empty() && self.exclude.is_match(rel)
    }
}

/// Whether a file named `name` steers what else is indexed (an ignore file the walker reads,
/// or `.gitattributes`): a change to it matters wherever it is, whatever the globs say.
pub fn is_control_file(name: &str) -> bool {
    crate::ignore_rules::IGNORE_FILE_NAMES.contains(&name) || name == ".gitattributes"
}

/// The directories above `rel`, shallowest first (`a`, `a/b` for `a/b/c`).
pub(crate) fn ancestors(rel: &str) -> impl Iterator<Item = &str> {
    rel.match_indices('/').map(move |(i, _)| &rel[..i])
}

fn compile(globs: &[String]) -> Result<GlobSet, Error> {
    let mut set = GlobSetBuilder::new();
    for glob in globs {
        let trimmed = glob.trim().trim_end_matches('/');
        let pattern = match trimmed.strip_prefix('/') {
            Some(anchored) => anchored.to_string(),
            None if !trimmed.contains('/') => format!("**/{trimmed}"),
            None => trimmed.to_string(),
        };
        let compiled = GlobBuilder::new(&pattern)
            .literal_separator(true)
            .build()
            .map_err(|source| Error::Glob {
                glob: glob.clone(),
                source,
            })?;
        set.add(compiled);
    }
    set.build().map_err(|source| Error::Glob {
        glob: globs.join(", "),
        source,
    })
}
