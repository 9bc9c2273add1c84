//! The TOML config file: parsing, validation with line numbers, and the resolved settings.
//!
//! Precedence is flags > environment > file > defaults; this module handles the file and the
//! defaults, `main` layers the environment and flags on top through [`Overrides`].

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use pipeline::{RepoLocation, RepoSpec};
use serde::Deserialize;
use webhook_core::{ProviderId, Secret};

/// The fully resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub workers: usize,
    pub max_body_bytes: u64,
    pub max_connections: usize,
    /// Requests being answered at once; more get 503 + `Retry-After`.
    pub max_in_flight: usize,
    pub header_read_timeout: Duration,
    /// How long an answer may wait for the client to read it before the connection closes.
    pub write_timeout: Duration,
    pub git_timeout: Duration,
    pub job_retention: Duration,
    pub max_attempts: u32,
    pub rate_limit: RateLimitConfig,
    /// How long the change feed keeps entries (`[feed]`).
    pub feed_retention: feed::Retention,
    pub repos: Vec<RepoConfig>,
    /// `[[orgs]]`: one hook per owner; their repos are discovered on their first push.
    pub orgs: Vec<OrgConfig>,
}

/// One `[[orgs]]` entry, validated: who sends (provider, owner, secrets), where a discovered
/// repo is fetched from, which repos are taken, and the indexing options every repo gets.
#[derive(Clone)]
pub struct OrgConfig {
    pub provider: ProviderId,
    /// The owner as configured (user, organization, group, workspace or project).
    pub owner: String,
    /// `https://github.com/{full_name}.git`: `{full_name}`, `{owner}` and `{name}` are
    /// replaced with the repository's.
    pub url_template: String,
    /// Allow and deny globs (`!x`) on a repository's short name.
    pub repos: Vec<String>,
    /// Everything a discovered repo gets: its name and location are filled in per repo.
    pub repo: RepoConfig,
}

impl OrgConfig {
    /// Whether the repository's short `name` passes the org's `repos` globs.
    pub fn allows(&self, name: &str) -> bool {
        pipeline::BranchFilter::new(&self.repos).is_ok_and(|f| f.matches(name))
    }

    /// Whether `owner` (from a payload) is this org's or one of its subgroups (`group/sub`
    /// under `group`, as a GitLab group hook covers them), compared as the hosts do: without
    /// regard to ASCII case.
    pub fn owns(&self, owner: &str) -> bool {
        let ours = self.owner.len();
        owner.eq_ignore_ascii_case(&self.owner)
            || (owner.len() > ours
                && owner.is_char_boundary(ours)
                && owner[..ours].eq_ignore_ascii_case(&self.owner)
                && owner.as_bytes()[ours] == b'/')
    }
}

impl fmt::Debug for OrgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgConfig")
            .field("provider", &self.provider)
            .field("owner", &self.owner)
            .field("repos", &self.repos)
            .field("repo", &self.repo)
            .finish_non_exhaustive()
    }
}

/// Failed or unauthenticated requests allowed per client IP; a rate of 0 turns it off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    pub per_ip_per_sec: f64,
    pub per_ip_burst: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            per_ip_per_sec: 10.0,
            per_ip_burst: 100.0,
        }
    }
}

/// One `[[repos]]` entry, validated, with its secrets resolved: what the pipeline needs
/// ([`RepoSpec`]) plus how its deliveries are verified.
#[derive(Clone)]
pub struct RepoConfig {
    pub spec: RepoSpec,
    pub provider: ProviderId,
    pub secrets: Vec<Secret>,
    pub allow_sha1: bool,
    /// How often the remote is compared with the index (`None`: never).
    pub reconcile_interval: Option<std::time::Duration>,
}

impl fmt::Debug for RepoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Secrets are counted, never printed.
        f.debug_struct("RepoConfig")
            .field("spec", &self.spec)
            .field("provider", &self.provider)
            .field("secrets", &self.secrets.len())
            .finish_non_exhaustive()
    }
}

/// Values from flags and environment that beat the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    /// `WEBHOOK_SECRET`: the secret for every repo that names none of its own.
    pub default_secret: Option<String>,
}

/// One thing wrong with a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: `{}`: {}", self.key, self.message),
            None => write!(f, "`{}`: {}", self.key, self.message),
        }
    }
}

/// Why a config could not be used: every problem found, each with its key and line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has {} problem(s):\n{}", path.display(), problems.len(), list(problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    data_dir: Option<PathBuf>,
    workers: Option<usize>,
    max_body_bytes: Option<u64>,
    max_connections: Option<usize>,
    max_in_flight: Option<usize>,
    header_read_timeout_secs: Option<u64>,
    write_timeout_secs: Option<u64>,
    git_timeout_secs: Option<u64>,
    job_retention_secs: Option<u64>,
    max_attempts: Option<u32>,
    rate_limit: Option<RawRateLimit>,
    feed: Option<RawFeed>,
    #[serde(default)]
    repos: Vec<toml::Spanned<RawRepo>>,
    #[serde(default)]
    orgs: Vec<toml::Spanned<RawOrg>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOrg {
    provider: Option<String>,
    owner: Option<String>,
    url: Option<String>,
    repos: Option<Vec<String>>,
    branches: Option<Vec<String>>,
    secret: Option<OneOrMany>,
    secret_env: Option<OneOrMany>,
    #[serde(default)]
    pull_requests: bool,
    tags: Option<TagsSetting>,
    events: Option<Vec<String>>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    max_file_bytes: Option<u64>,
    #[serde(default)]
    allow_sha1: bool,
    #[serde(default)]
    index_secret_files: bool,
    reconcile_interval_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimit {
    per_ip_per_sec: Option<f64>,
    per_ip_burst: Option<f64>,
}

/// `[feed]`: retention of the change feed; 0 keeps entries forever on that measure.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFeed {
    retention_days: Option<u64>,
    retention_entries_per_ref: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// `tags = true | false | ["v*", "!v0.*"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TagsSetting {
    All(bool),
    Globs(Vec<String>),
}

impl TagsSetting {
    /// The globs: `true` is every tag, `false` none.
    fn into_globs(self) -> Vec<String> {
        match self {
            TagsSetting::All(true) => vec!["*".to_string()],
            TagsSetting::All(false) => Vec::new(),
            TagsSetting::Globs(globs) => globs,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    name: Option<String>,
    provider: Option<String>,
    url: Option<String>,
    path: Option<PathBuf>,
    branches: Option<Vec<String>>,
    secret: Option<OneOrMany>,
    secret_env: Option<OneOrMany>,
    #[serde(default)]
    pull_requests: bool,
    tags: Option<TagsSetting>,
    events: Option<Vec<String>>,
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
    max_file_bytes: Option<u64>,
    #[serde(default)]
    allow_sha1: bool,
    #[serde(default)]
    index_secret_files: bool,
    reconcile_interval_secs: Option<u64>,
}

/// Default values, used when neither file, environment nor flags say otherwise.
pub mod defaults {
    pub const LISTEN: &str = "127.0.0.1:8080";
    pub const DATA_DIR: &str = "data";
    pub const MAX_BODY_BYTES: u64 = 25 * 1024 * 1024;
    pub const MAX_CONNECTIONS: usize = 1024;
    pub const MAX_IN_FLIGHT: usize = 512;
    pub const HEADER_READ_TIMEOUT_SECS: u64 = 10;
    pub const WRITE_TIMEOUT_SECS: u64 = 15;
    pub const GIT_TIMEOUT_SECS: u64 = 300;
    pub const JOB_RETENTION_SECS: u64 = 7 * 24 * 3600;
    pub const MAX_ATTEMPTS: u32 = 5;
    pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
    pub const RECONCILE_INTERVAL_SECS: u64 = 300;
    pub const FEED_RETENTION_DAYS: u64 = 7;
    pub const FEED_RETENTION_ENTRIES_PER_REF: u64 = 100_000;
}

impl Config {
    /// Defaults only: an empty gateway.
    pub fn empty(overrides: &Overrides) -> Result<Config, ConfigError> {
        Config::from_str_with("", Path::new("<defaults>"), overrides)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str_with(&text, path, overrides)
    }

    /// Parses and validates config text; `path` is only used in messages.
    pub fn from_str_with(
        text: &str,
        path: &Path,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        };
        let raw: RawConfig =
            toml::from_str(text).map_err(|e| invalid(vec![syntax_problem(text, &e)]))?;
        let mut problems = Vec::new();
        let top_line = |key: &str| find_key_line(text, 0..text.len(), key);

        let listen_text = overrides
            .listen
            .clone()
            .or(raw.listen.clone())
            .unwrap_or_else(|| defaults::LISTEN.to_string());
        let listen = match listen_text.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                problems.push(Problem {
                    line: if overrides.listen.is_some() {
                        None
                    } else {
                        top_line("listen")
                    },
                    key: "listen".into(),
                    message: format!(
                        "`{listen_text}` is not an address with a port, e.g. 127.0.0.1:8080"
                    ),
                });
                defaults::LISTEN
                    .parse()
                    .expect("default listen address parses")
            }
        };
        let data_dir = overrides
            .data_dir
            .clone()
            .or(raw.data_dir)
            .unwrap_or_else(|| PathBuf::from(defaults::DATA_DIR));
        let workers = raw.workers.unwrap_or_else(default_workers);
        if workers == 0 || workers > 256 {
            problems.push(Problem {
                line: top_line("workers"),
                key: "workers".into(),
                message: format!("{workers} workers: choose between 1 and 256"),
            });
        }
        let max_body_bytes = raw.max_body_bytes.unwrap_or(defaults::MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            problems.push(Problem {
                line: top_line("max_body_bytes"),
                key: "max_body_bytes".into(),
                message: "must be above 0 (the default is 26214400, 25 MiB)".into(),
            });
        }
        let max_connections = raw
            .max_connections
            .unwrap_or(defaults::MAX_CONNECTIONS)
            .max(1);
        let max_in_flight = raw.max_in_flight.unwrap_or(defaults::MAX_IN_FLIGHT).max(1);
        let write_timeout = Duration::from_secs(
            raw.write_timeout_secs
                .unwrap_or(defaults::WRITE_TIMEOUT_SECS)
                .max(1),
        );
        let header_read_timeout = Duration::from_secs(
            raw.header_read_timeout_secs
                .unwrap_or(defaults::HEADER_READ_TIMEOUT_SECS)
                .max(1),
        );
        let git_timeout = Duration::from_secs(
            raw.git_timeout_secs
                .unwrap_or(defaults::GIT_TIMEOUT_SECS)
                .max(1),
        );
        let job_retention = Duration::from_secs(
            raw.job_retention_secs
                .unwrap_or(defaults::JOB_RETENTION_SECS),
        );
        let max_attempts = raw.max_attempts.unwrap_or(defaults::MAX_ATTEMPTS).max(1);
        let mut rate_limit = RateLimitConfig::default();
        if let Some(r) = raw.rate_limit {
            let fields = [
                (
                    "rate_limit.per_ip_per_sec",
                    r.per_ip_per_sec,
                    &mut rate_limit.per_ip_per_sec,
                ),
                (
                    "rate_limit.per_ip_burst",
                    r.per_ip_burst,
                    &mut rate_limit.per_ip_burst,
                ),
            ];
            for (key, value, slot) in fields {
                if let Some(v) = value {
                    if !v.is_finite() || v < 0.0 {
                        problems.push(Problem {
                            line: top_line(key.rsplit('.').next().unwrap_or(key)),
                            key: key.into(),
                            message: format!("{v} is not a rate: use 0 (off) or a positive number"),
                        });
                    } else {
                        *slot = v;
                    }
                }
            }
        }

        let (days, entries) = raw.feed.map_or((None, None), |f| {
            (f.retention_days, f.retention_entries_per_ref)
        });
        let days = days.unwrap_or(defaults::FEED_RETENTION_DAYS);
        let entries = entries.unwrap_or(defaults::FEED_RETENTION_ENTRIES_PER_REF);
        let feed_retention = feed::Retention {
            max_age: (days > 0).then(|| Duration::from_secs(days.saturating_mul(86_400))),
            max_entries_per_ref: (entries > 0).then_some(entries),
        };

        let mut repos = Vec::new();
        let mut names = BTreeSet::new();
        for (index, spanned) in raw.repos.into_iter().enumerate() {
            let span = spanned.span();
            let raw_repo = spanned.into_inner();
            let mut at = RepoProblems {
                text,
                span,
                section: "repos",
                index,
                problems: &mut problems,
            };
            if let Some(repo) = validate_repo(raw_repo, &mut at, overrides) {
                if !names.insert(repo.spec.name.clone()) {
                    at.push(
                        "name",
                        format!(
                            "`{}` is used by an earlier repo; names must be unique",
                            repo.spec.name
                        ),
                    );
                } else {
                    repos.push(repo);
                }
            }
        }

        let mut orgs: Vec<OrgConfig> = Vec::new();
        for (index, spanned) in raw.orgs.into_iter().enumerate() {
            let span = spanned.span();
            let mut at = RepoProblems {
                text,
                span,
                section: "orgs",
                index,
                problems: &mut problems,
            };
            if let Some(org) = validate_org(spanned.into_inner(), &mut at, overrides) {
                let same = orgs.iter().any(|o| {
                    o.provider == org.provider && o.owner.eq_ignore_ascii_case(&org.owner)
                });
                if same {
                    at.push(
                        "owner",
                        format!(
                            "`{}` of {} is configured by an earlier org",
                            org.owner, org.provider
                        ),
                    );
                } else {
                    orgs.push(org);
                }
            }
        }

        if !problems.is_empty() {
            return Err(invalid(problems));
        }
        Ok(Config {
            listen,
            data_dir,
            workers,
            max_body_bytes,
            max_connections,
            max_in_flight,
            header_read_timeout,
            write_timeout,
            git_timeout,
            job_retention,
            max_attempts,
            rate_limit,
            feed_retention,
            repos,
            orgs,
        })
    }
}

fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

struct RepoProblems<'a> {
    text: &'a str,
    span: std::ops::Range<usize>,
    /// `repos` or `orgs`.
    section: &'static str,
    index: usize,
    problems: &'a mut Vec<Problem>,
}

impl RepoProblems<'_> {
    fn push(&mut self, key: &str, message: String) {
        let line = find_key_line(self.text, self.span.clone(), key)
            .or_else(|| Some(line_of(self.text, self.span.start)));
        self.problems.push(Problem {
            line,
            key: format!("{}[{}].{key}", self.section, self.index),
            message,
        });
    }
}

fn validate_repo(
    raw: RawRepo,
    at: &mut RepoProblems<'_>,
    overrides: &Overrides,
) -> Option<RepoConfig> {
    let before = at.problems.len();
    let name = raw.name.unwrap_or_default();
    if name.is_empty() {
        at.push(
            "name",
            "missing: every repo needs a name ([A-Za-z0-9._-], 1 to 100 characters)".into(),
        );
    } else if !valid_repo_name(&name) {
        at.push(
            "name",
            format!("`{name}` is not a valid name: use 1 to 100 of A-Z a-z 0-9 . _ - (and not `.` or `..`)"),
        );
    }
    let provider_name = raw.provider.unwrap_or_default();
    let provider = provider_name.parse::<ProviderId>().ok();
    if provider.is_none() {
        let what = if provider_name.is_empty() {
            "missing".to_string()
        } else {
            format!("`{provider_name}` is unknown")
        };
        at.push(
            "provider",
            format!("{what}: use one of {}", ProviderId::names()),
        );
    }
    let location = match (raw.url, raw.path) {
        (Some(_), Some(_)) => {
            at.push("url", "set either `url` or `path`, not both".into());
            None
        }
        (None, None) => {
            at.push(
                "url",
                "missing: set `url` (fetched with git) or `path` (a local tree)".into(),
            );
            None
        }
        (Some(url), None) => {
            if url.trim().is_empty() || url.starts_with('-') {
                at.push(
                    "url",
                    "must be a git URL such as https://host/org/repo.git or file:///srv/repo"
                        .into(),
                );
                None
            } else {
                Some(RepoLocation::Url(url))
            }
        }
        (None, Some(path)) => Some(RepoLocation::Path(path)),
    };
    let branches = raw.branches.unwrap_or_else(|| vec!["main".to_string()]);
    for branch in &branches {
        // A glob or exclusion is checked as a glob; a plain name must be a valid ref name.
        if pipeline::is_literal_branch(branch)
            && !pipeline::valid_ref_name(&format!("refs/heads/{branch}"))
        {
            at.push("branches", format!("`{branch}` is not a valid branch name"));
        } else if let Err(e) = pipeline::BranchFilter::new(std::slice::from_ref(branch)) {
            at.push("branches", e.to_string());
        }
    }
    let tags = raw.tags.map(TagsSetting::into_globs).unwrap_or_default();
    for tag in &tags {
        if pipeline::is_literal_branch(tag)
            && !pipeline::valid_ref_name(&format!("refs/tags/{tag}"))
        {
            at.push("tags", format!("`{tag}` is not a valid tag name"));
        } else if let Err(e) = pipeline::BranchFilter::new(std::slice::from_ref(tag)) {
            at.push("tags", e.to_string());
        }
    }
    let events = match raw.events {
        None => None,
        Some(names) => {
            let mut kinds = Vec::new();
            for name in names {
                match name.parse::<pipeline::EventName>() {
                    Ok(kind) => kinds.push(kind),
                    Err(e) => at.push("events", e.to_string()),
                }
            }
            Some(kinds)
        }
    };
    let secrets = repo_secrets(raw.secret, raw.secret_env, overrides, at);
    if provider == Some(ProviderId::AzureDevOps)
        && secrets.iter().any(|s| !s.expose().contains(&b':'))
    {
        at.push(
            "secret",
            "azure-devops secrets are `user:password` for HTTP Basic auth".into(),
        );
    }
    for glob in raw.include.iter().chain(raw.exclude.iter()) {
        if let Err(e) = globset::Glob::new(glob) {
            let key = if raw.include.contains(glob) {
                "include"
            } else {
                "exclude"
            };
            at.push(key, format!("`{glob}` is not a valid glob: {}", e.kind()));
        }
    }
    let max_file_bytes = raw.max_file_bytes.unwrap_or(defaults::MAX_FILE_BYTES);
    if max_file_bytes == 0 {
        at.push(
            "max_file_bytes",
            "must be above 0 (the default is 1048576)".into(),
        );
    }
    if at.problems.len() > before {
        return None;
    }
    Some(RepoConfig {
        spec: RepoSpec {
            name,
            location: location?,
            branches,
            pull_requests: raw.pull_requests,
            tags,
            include: raw.include,
            exclude: raw.exclude,
            max_file_bytes,
            index_secret_files: raw.index_secret_files,
            events,
        },
        provider: provider?,
        secrets,
        allow_sha1: raw.allow_sha1,
        reconcile_interval: match raw
            .reconcile_interval_secs
            .unwrap_or(defaults::RECONCILE_INTERVAL_SECS)
        {
            0 => None,
            secs => Some(std::time::Duration::from_secs(secs)),
        },
    })
}

/// An `[[orgs]]` entry: its indexing options and secrets checked as a repo's are (under
/// `orgs[i].…`), plus the owner, the url template and the `repos` globs.
fn validate_org(
    raw: RawOrg,
    at: &mut RepoProblems<'_>,
    overrides: &Overrides,
) -> Option<OrgConfig> {
    let before = at.problems.len();
    let owner = raw.owner.unwrap_or_default();
    if owner.is_empty() {
        at.push(
            "owner",
            "missing: the user, organization, group, workspace or project whose hook this is"
                .into(),
        );
    } else if !valid_owner(&owner) {
        at.push(
            "owner",
            format!(
                "`{owner}` is not an owner: use segments of A-Z a-z 0-9 . _ - separated by `/`"
            ),
        );
    }
    let url_template = raw.url.clone().unwrap_or_default();
    if url_template.is_empty() {
        at.push(
            "url",
            "missing: a url template such as https://github.com/{full_name}.git".into(),
        );
    } else if let Err(message) = check_url_template(&url_template) {
        at.push("url", message);
    }
    let repos = raw.repos.unwrap_or_else(|| vec!["*".to_string()]);
    for pattern in &repos {
        if let Err(e) = pipeline::BranchFilter::new(std::slice::from_ref(pattern)) {
            at.push("repos", e.to_string());
        }
    }
    let as_repo = RawRepo {
        // Replaced per discovered repo; valid so that it passes the repo checks.
        name: Some("org".into()),
        provider: raw.provider,
        url: raw.url,
        path: None,
        branches: raw.branches,
        secret: raw.secret,
        secret_env: raw.secret_env,
        pull_requests: raw.pull_requests,
        tags: raw.tags,
        events: raw.events,
        include: raw.include,
        exclude: raw.exclude,
        max_file_bytes: raw.max_file_bytes,
        allow_sha1: raw.allow_sha1,
        index_secret_files: raw.index_secret_files,
        reconcile_interval_secs: raw.reconcile_interval_secs,
    };
    let repo = validate_repo(as_repo, at, overrides);
    if at.problems.len() > before {
        return None;
    }
    let repo = repo?;
    Some(OrgConfig {
        provider: repo.provider,
        owner,
        url_template,
        repos,
        repo,
    })
}

/// Segments of `[A-Za-z0-9._-]` (not `.` or `..`) separated by `/` (GitLab subgroups).
pub fn valid_owner(owner: &str) -> bool {
    owner.len() <= 200 && owner.split('/').all(valid_repo_name)
}

/// A url template names the repository with `{full_name}` or `{name}`, and uses no other
/// template variable.
fn check_url_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    let mut names_repo = false;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(format!("`{template}` has a `{{` that is never closed"));
        };
        match &after[..close] {
            "full_name" | "name" => names_repo = true,
            "owner" => {}
            other => {
                return Err(format!(
                    "`{{{other}}}` is not a template variable: use {{full_name}}, {{owner}} or {{name}}"
                ));
            }
        }
        rest = &after[close + 1..];
    }
    if !names_repo {
        return Err(format!(
            "`{template}` does not name the repository: put {{full_name}} or {{name}} in it"
        ));
    }
    Ok(())
}

/// A repo's secrets: `secret` and the variables `secret_env` names, else `WEBHOOK_SECRET`.
/// An empty one is a mistake that names its key: it could never verify a delivery.
fn repo_secrets(
    secret: Option<OneOrMany>,
    secret_env: Option<OneOrMany>,
    overrides: &Overrides,
    at: &mut RepoProblems<'_>,
) -> Vec<Secret> {
    let mut secrets = Vec::new();
    for text in secret.map(OneOrMany::into_vec).unwrap_or_default() {
        match Secret::try_from(text) {
            Ok(secret) => secrets.push(secret),
            Err(_) => at.push(
                "secret",
                "an empty secret can never verify a delivery".into(),
            ),
        }
    }
    for var in secret_env.map(OneOrMany::into_vec).unwrap_or_default() {
        match std::env::var(&var).map(Secret::try_from) {
            Ok(Ok(secret)) => secrets.push(secret),
            Ok(Err(_)) => at.push(
                "secret_env",
                format!("environment variable `{var}` is empty"),
            ),
            Err(_) => at.push(
                "secret_env",
                format!("environment variable `{var}` is not set"),
            ),
        }
    }
    if secrets.is_empty() {
        if let Some(default) = overrides.default_secret.as_deref() {
            match Secret::try_from(default) {
                Ok(secret) => secrets.push(secret),
                Err(_) => at.push(
                    "secret",
                    "none given, and the default from WEBHOOK_SECRET is empty".into(),
                ),
            }
        }
    }
    secrets
}

/// `[A-Za-z0-9._-]`, 1..=100 characters, and not a path component of its own (`.`, `..`).
pub fn valid_repo_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn syntax_problem(text: &str, error: &toml::de::Error) -> Problem {
    let line = error.span().map(|span| line_of(text, span.start));
    let message = error.message().trim().to_string();
    // serde names the offending key in "unknown field `x`, expected ..."; surface it as the key.
    let key = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
        .unwrap_or("(syntax)")
        .to_string();
    Problem { line, key, message }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// The line on which `key = ...` appears inside `range`, if it does.
fn find_key_line(text: &str, range: std::ops::Range<usize>, key: &str) -> Option<usize> {
    let start = range.start.min(text.len());
    let end = range.end.min(text.len());
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix(key) {
            if rest.trim_start().starts_with('=') {
                return Some(line_of(text, offset));
            }
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_str_with(text, Path::new("test.toml"), &Overrides::default())
    }

    #[test]
    fn empty_file_is_an_empty_gateway_on_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.data_dir, PathBuf::from("data"));
        assert!(config.repos.is_empty());
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let err =
            parse("listen = \"127.0.0.1:1\"\n\n[[repos]]\nname = \"a\"\nprovder = \"github\"\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("provder"), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }

    #[test]
    fn every_mistake_is_reported_with_its_line() {
        let text = "[[repos]]\nname = \"ok\"\nprovider = \"gitbub\"\nurl = \"file:///x\"\n\n[[repos]]\nname = \"../x\"\nprovider = \"github\"\npath = \"/srv\"\nbranches = [\"bad..name\"]\n";
        let ConfigError::Invalid { problems, .. } = parse(text).unwrap_err() else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(keys.contains(&("repos[0].provider", Some(3))), "{keys:?}");
        assert!(keys.contains(&("repos[1].name", Some(7))), "{keys:?}");
        assert!(keys.contains(&("repos[1].branches", Some(10))), "{keys:?}");
    }

    #[test]
    fn branch_globs_and_exclusions_are_accepted_and_bad_globs_refused() {
        let good = "[[repos]]\nname = \"a\"\nprovider = \"github\"\nurl = \"file:///a\"\nsecret = \"s\"\nbranches = [\"main\", \"release/*\", \"!release/old*\"]\n";
        let config = parse(good).unwrap();
        assert!(config.repos[0].spec.tracks_branch("refs/heads/release/2"));
        assert!(
            !config.repos[0]
                .spec
                .tracks_branch("refs/heads/release/old-1")
        );
        let bad = good.replace("!release/old*", "release/[");
        let ConfigError::Invalid { problems, .. } = parse(&bad).unwrap_err() else {
            panic!()
        };
        assert!(
            problems
                .iter()
                .any(|p| p.key == "repos[0].branches" && p.message.contains("release/[")),
            "{problems:?}"
        );
    }

    #[test]
    fn tags_take_a_bool_or_globs_and_events_name_kinds() {
        let base =
            "[[repos]]\nname = \"a\"\nprovider = \"github\"\nurl = \"file:///a\"\nsecret = \"s\"\n";
        let spec = |extra: &str| {
            parse(&format!("{base}{extra}")).unwrap().repos[0]
                .spec
                .clone()
        };
        assert!(spec("").tags.is_empty());
        assert!(spec("tags = true\n").tracks_tag("refs/tags/anything"));
        assert!(!spec("tags = false\n").tracks_tag("refs/tags/v1"));
        let globs = spec("tags = [\"v*\", \"!v0.*\"]\n");
        assert!(globs.tracks_tag("refs/tags/v1.2"));
        assert!(!globs.tracks_tag("refs/tags/v0.3"));
        assert_eq!(spec("").events, None);
        assert_eq!(
            spec("events = [\"push\", \"release\"]\n").events,
            Some(vec![
                pipeline::EventName::Push,
                pipeline::EventName::Release
            ])
        );
        let bad = format!("{base}tags = [\"v[\"]\nevents = [\"push\", \"issues\"]\n");
        let ConfigError::Invalid { problems, .. } = parse(&bad).unwrap_err() else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(keys.contains(&("repos[0].tags", Some(6))), "{keys:?}");
        assert!(keys.contains(&("repos[0].events", Some(7))), "{keys:?}");
        assert!(
            problems.iter().any(|p| p.message.contains("`issues`")),
            "{problems:?}"
        );
    }

    #[test]
    fn orgs_are_checked_like_repos_and_name_their_keys() {
        let good = "[[orgs]]\nprovider = \"github\"\nowner = \"acme\"\nsecret = \"s\"\nurl = \"https://github.com/{full_name}.git\"\nrepos = [\"*\", \"!archive-*\"]\ntags = [\"v*\"]\n";
        let config = parse(good).unwrap();
        let org = &config.orgs[0];
        assert_eq!(
            (org.provider, org.owner.as_str()),
            (ProviderId::GitHub, "acme")
        );
        assert!(org.allows("api") && !org.allows("archive-old"));
        assert!(org.owns("acme") && org.owns("ACME") && org.owns("acme/sub"));
        assert!(!org.owns("acme-evil") && !org.owns("acm") && !org.owns("evil/acme"));
        assert!(org.repo.spec.tracks_tag("refs/tags/v1"));
        let bad = "[[orgs]]\nprovider = \"github\"\nsecret = \"\"\nurl = \"https://github.com/{repo}.git\"\nevents = [\"pushes\"]\nrepos = [\"[\"]\n\n[[orgs]]\nprovider = \"gitlab\"\nowner = \"../up\"\nsecret = \"s\"\nurl = \"https://gitlab.com/group.git\"\n";
        let ConfigError::Invalid { problems, .. } = parse(bad).unwrap_err() else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        for want in [
            ("orgs[0].owner", Some(1)),
            ("orgs[0].secret", Some(3)),
            ("orgs[0].url", Some(4)),
            ("orgs[0].events", Some(5)),
            ("orgs[0].repos", Some(6)),
            ("orgs[1].owner", Some(10)),
            ("orgs[1].url", Some(12)),
        ] {
            assert!(keys.contains(&want), "{want:?} in {keys:?}");
        }
        let twice = format!("{good}\n{}", good.replace("acme", "ACME"));
        let ConfigError::Invalid { problems, .. } = parse(&twice).unwrap_err() else {
            panic!()
        };
        assert!(
            problems.iter().any(|p| p.key == "orgs[1].owner"),
            "{problems:?}"
        );
    }

    #[test]
    fn secrets_from_list_and_default() {
        let overrides = Overrides {
            default_secret: Some("fallback".into()),
            ..Overrides::default()
        };
        let text = "[[repos]]\nname = \"a\"\nprovider = \"github\"\nurl = \"file:///a\"\nsecret = [\"one\", \"two\"]\n\n[[repos]]\nname = \"b\"\nprovider = \"gitlab\"\nurl = \"file:///b\"\n";
        let config = Config::from_str_with(text, Path::new("t"), &overrides).unwrap();
        assert_eq!(config.repos[0].secrets.len(), 2);
        assert_eq!(config.repos[1].secrets[0].expose(), b"fallback");
        // Quoted: `None` in the debug text contains the letters "one" too.
        assert!(!format!("{:?}", config.repos[0]).contains("\"one\""));
    }

    #[test]
    fn empty_secrets_are_mistakes_that_name_their_key() {
        // An empty secret would be counted as configured and then verify nothing.
        let text = "[[repos]]\nname = \"a\"\nprovider = \"github\"\nurl = \"file:///a\"\nsecret = [\"ok\", \"\"]\n\n[[repos]]\nname = \"b\"\nprovider = \"gitlab\"\nurl = \"file:///b\"\n";
        let overrides = Overrides {
            default_secret: Some(String::new()),
            ..Overrides::default()
        };
        let ConfigError::Invalid { problems, .. } =
            Config::from_str_with(text, Path::new("t"), &overrides).unwrap_err()
        else {
            panic!()
        };
        let keys: Vec<_> = problems.iter().map(|p| (p.key.as_str(), p.line)).collect();
        assert!(keys.contains(&("repos[0].secret", Some(5))), "{keys:?}");
        let default = problems
            .iter()
            .find(|p| p.key == "repos[1].secret")
            .expect("the empty WEBHOOK_SECRET is reported for the repo that falls back on it");
        assert!(
            default.message.contains("WEBHOOK_SECRET"),
            "{}",
            default.message
        );
        assert_eq!(problems.len(), 2, "{keys:?}");
    }
}
