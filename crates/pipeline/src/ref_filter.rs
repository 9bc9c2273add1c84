//! Which branch names a repo indexes: globs (`release/*`) and exclusions (`!wip/*`).
//!
//! A name is wanted when it matches at least one inclusion and no exclusion. `*` matches every
//! branch; a plain name matches only itself. `/` is an ordinary character, so `release/*`
//! also matches `release/1/hotfix`.
//!
//! ```
//! use pipeline::BranchFilter;
//!
//! let filter = BranchFilter::new(&["main".into(), "release/*".into(), "!release/old*".into()])
//!     .expect("valid globs");
//! assert!(filter.matches("release/2.0"));
//! assert!(!filter.matches("release/old-1"));
//! assert!(!filter.matches("feature/x"));
//! ```

use globset::{Glob, GlobSet, GlobSetBuilder};

/// A branch pattern that is not a valid glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{pattern}` is not a valid branch glob: {reason}")]
pub struct BranchGlobError {
    /// The pattern as configured.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Compiled branch inclusions and exclusions.
#[derive(Debug, Clone)]
pub struct BranchFilter {
    include: GlobSet,
    exclude: GlobSet,
}

impl BranchFilter {
    /// Compiles `patterns`; a leading `!` makes a pattern an exclusion.
    pub fn new(patterns: &[String]) -> Result<Self, BranchGlobError> {
        let mut include = GlobSetBuilder::new();
        let mut exclude = GlobSetBuilder::new();
        for pattern in patterns {
            let (set, glob) = match pattern.strip_prefix('!') {
                Some(rest) => (&mut exclude, rest),
                None => (&mut include, pattern.as_str()),
            };
            let compiled = Glob::new(glob).map_err(|e| BranchGlobError {
                pattern: pattern.clone(),
                reason: e.kind().to_string(),
            })?;
            set.add(compiled);
        }
        let build = |set: GlobSetBuilder| {
            set.build().map_err(|e| BranchGlobError {
                pattern: patterns.join(", "),
                reason: e.kind().to_string(),
            })
        };
        Ok(BranchFilter {
            include: build(include)?,
            exclude: build(exclude)?,
        })
    }

    /// Whether the branch `name` (without `refs/heads/`) is wanted.
    pub fn matches(&self, name: &str) -> bool {
        self.include.is_match(name) && !self.exclude.is_match(name)
    }
}

/// Whether `pattern` names exactly one branch: no glob characters and no exclusion.
pub fn is_literal_branch(pattern: &str) -> bool {
    !pattern.starts_with('!') && !pattern.contains(['*', '?', '[', ']', '{', '}'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inclusions_and_exclusions() {
        let cases: &[(&[&str], &str, bool)] = &[
            (&["main"], "main", true),
            (&["main"], "mainline", false),
            (&["*"], "feature/x", true),
            (&["release/*"], "release/1.0", true),
            (&["release/*"], "releases/1.0", false),
            (&["v*"], "v2", true),
            (&["*", "!wip/*"], "wip/try", false),
            (&["*", "!wip/*"], "main", true),
            (&["!wip/*"], "main", false),
            (&["release/*", "!release/old*"], "release/old-1", false),
            (&["release/*", "!release/old*"], "release/new", true),
            (&["{main,dev}"], "dev", true),
            (&[], "main", false),
        ];
        for (patterns, name, want) in cases {
            let patterns: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
            let filter = BranchFilter::new(&patterns).expect("valid globs");
            assert_eq!(filter.matches(name), *want, "{patterns:?} vs {name}");
        }
    }

    #[test]
    fn an_invalid_glob_names_the_pattern() {
        let error = BranchFilter::new(&["main".into(), "!release/[".into()]).unwrap_err();
        assert_eq!(error.pattern, "!release/[");
    }

    #[test]
    fn literal_branches() {
        assert!(is_literal_branch("main"));
        assert!(is_literal_branch("release/1.0"));
        assert!(!is_literal_branch("*"));
        assert!(!is_literal_branch("release/*"));
        assert!(!is_literal_branch("!wip"));
    }
}
