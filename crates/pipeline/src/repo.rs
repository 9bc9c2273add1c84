//! What the pipeline needs to know about a repo: where it lives and what of it is indexed.

use std::path::PathBuf;

use indexer::IndexerConfig;

use crate::events::EventName;
use crate::redact::redact_url;
use crate::ref_filter::{BranchFilter, is_literal_branch};

/// Where a repo's content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoLocation {
    /// Fetched with git into a bare mirror under the data dir.
    Url(String),
    /// A local directory indexed in place.
    Path(PathBuf),
}

impl RepoLocation {
    /// The location safe to show: a URL's user info (credentials) removed.
    pub fn display(&self) -> String {
        match self {
            RepoLocation::Url(url) => redact_url(url),
            RepoLocation::Path(path) => path.display().to_string(),
        }
    }
}

/// One repo as the pipeline sees it: no secrets, no provider, nothing of HTTP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSpec {
    /// The repo's name: the key of its jobs and of its index.
    pub name: String,
    /// Where its content comes from.
    pub location: RepoLocation,
    /// Branches indexed: names, globs (`release/*`, `*` for every branch) and exclusions
    /// (`!wip/*`); see [`BranchFilter`].
    pub branches: Vec<String>,
    /// Whether pull request heads are indexed.
    pub pull_requests: bool,
    /// Tags indexed: names, globs (`v*`, `*` for every tag) and exclusions (`!v0.*`), matched
    /// like `branches`; empty: no tags.
    pub tags: Vec<String>,
    /// Globs of paths to index (empty: every path).
    pub include: Vec<String>,
    /// Globs of paths never indexed.
    pub exclude: Vec<String>,
    /// Files larger than this are skipped.
    pub max_file_bytes: u64,
    /// Index well-known secret files (`.env`, keys, ...) instead of skipping them.
    pub index_secret_files: bool,
    /// The event kinds that make jobs; `None`: every kind the other options enable.
    pub events: Option<Vec<EventName>>,
}

impl RepoSpec {
    /// The largest file indexed when a repo sets no `max_file_bytes` (1 MiB).
    pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 20;

    /// A repo with the defaults of a config entry that names only these two: branch `main`,
    /// no pull requests and no tags, every path, files up to
    /// [`RepoSpec::DEFAULT_MAX_FILE_BYTES`], secret files skipped, every event kind.
    pub fn new(name: impl Into<String>, location: RepoLocation) -> Self {
        RepoSpec {
            name: name.into(),
            location,
            branches: vec!["main".into()],
            pull_requests: false,
            tags: Vec::new(),
            include: Vec::new(),
            exclude: Vec::new(),
            max_file_bytes: Self::DEFAULT_MAX_FILE_BYTES,
            index_secret_files: false,
            events: None,
        }
    }

    /// Whether `git_ref` (a full ref) is one of the configured branches.
    pub fn tracks_branch(&self, git_ref: &str) -> bool {
        match git_ref.strip_prefix("refs/heads/") {
            // The config refuses invalid globs, so a failure here only means "not tracked".
            Some(branch) => BranchFilter::new(&self.branches).is_ok_and(|f| f.matches(branch)),
            None => false,
        }
    }

    /// Whether `git_ref` (a full ref) is one of the configured tags.
    pub fn tracks_tag(&self, git_ref: &str) -> bool {
        match git_ref.strip_prefix("refs/tags/") {
            Some(tag) => BranchFilter::new(&self.tags).is_ok_and(|f| f.matches(tag)),
            None => false,
        }
    }

    /// Whether any tag is indexed.
    pub fn indexes_tags(&self) -> bool {
        self.tags.iter().any(|t| !t.starts_with('!'))
    }

    /// Whether events of kind `name` make jobs for this repo.
    pub fn takes_event(&self, name: EventName) -> bool {
        self.events.as_ref().is_none_or(|list| list.contains(&name))
    }

    /// Whether a change to any of `paths` (relative to the tree root) can change what is
    /// indexed: one passes the include/exclude globs, or is an ignore or attributes file.
    /// Globs that do not compile (the config refuses them) count as "it can".
    pub fn any_path_matters<'a>(&self, mut paths: impl Iterator<Item = &'a str>) -> bool {
        let Ok(filter) = indexer::PathFilter::new(&self.include, &self.exclude) else {
            return true;
        };
        paths.any(|path| {
            let name = path.rsplit('/').next().unwrap_or(path);
            indexer::is_control_file(name) || filter.accepts_file(path)
        })
    }

    /// The configured branches that name exactly one branch, as full refs (globs and
    /// exclusions name none).
    pub fn branch_refs(&self) -> impl Iterator<Item = String> + '_ {
        self.branches
            .iter()
            .filter(|b| is_literal_branch(b))
            .map(|b| format!("refs/heads/{b}"))
    }

    /// The indexer settings of this repo.
    pub fn indexer_config(&self) -> IndexerConfig {
        IndexerConfig {
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            max_file_bytes: self.max_file_bytes,
            index_secret_files: self.index_secret_files,
            ..IndexerConfig::default()
        }
    }
}
