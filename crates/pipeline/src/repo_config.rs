//! The `[[repos]]` and `[[orgs]]` sections of the gateway's config: their serde shape
//! ([`RepoSection`]), their defaults and their checks, and the validated results
//! ([`RepoConfig`], [`OrgConfig`]).
//!
//! Both sections share one shape: an org is a template for the repos its hook discovers, so
//! it takes every indexing option a repo takes. The keys only one of them takes (`name` and
//! `path` for a repo, `owner` and `repos` for an org) are refused in the other, by key. The
//! file itself (reading, line numbers, the top-level keys) is the binary's.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use webhook_core::{ProviderId, Secret};

use crate::events::EventName;
use crate::ref_filter::{BranchFilter, is_literal_branch};
use crate::repo::{RepoLocation, RepoSpec};
use crate::source::git::refname::valid_ref_name;

/// Files larger than this are skipped, unless `max_file_bytes` says otherwise.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1024 * 1024;
/// How often a repo's remote is compared with the index, unless `reconcile_interval_secs`
/// says otherwise.
pub const DEFAULT_RECONCILE_INTERVAL_SECS: u64 = 300;

/// One `[[repos]]` or `[[orgs]]` entry as written: every key either section takes.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepoSection {
    name: Option<String>,
    path: Option<PathBuf>,
    owner: Option<String>,
    repos: Option<Vec<String>>,
    provider: Option<String>,
    url: Option<String>,
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

/// One thing wrong with a section: the key it is about and what is wrong. The caller adds
/// where the key is (section, index, line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The key inside the entry (`provider`, `branches`, ...).
    pub key: &'static str,
    /// What is wrong, for the operator.
    pub message: String,
}

#[derive(Default)]
struct Problems(Vec<FieldProblem>);

impl Problems {
    fn push(&mut self, key: &'static str, message: String) {
        self.0.push(FieldProblem { key, message });
    }
}

/// One `[[repos]]` entry, validated, with its secrets resolved: what the pipeline needs
/// ([`RepoSpec`]) plus how its deliveries are verified.
#[derive(Clone)]
pub struct RepoConfig {
    /// What is indexed and from where.
    pub spec: RepoSpec,
    /// The host that sends its webhooks.
    pub provider: ProviderId,
    /// Every secret a delivery may be signed with.
    pub secrets: Vec<Secret>,
    /// Whether GitHub's SHA-1 signature header is accepted.
    pub allow_sha1: bool,
    /// How often the remote is compared with the index (`None`: never).
    pub reconcile_interval: Option<Duration>,
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

/// One `[[orgs]]` entry, validated: who sends (provider, owner, secrets), where a discovered
/// repo is fetched from, which repos are taken, and the indexing options every repo gets.
#[derive(Clone)]
pub struct OrgConfig {
    /// The host that sends the org's webhooks.
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
        BranchFilter::new(&self.repos).is_ok_and(|f| f.matches(name))
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

impl RepoSection {
    /// Checks a `[[repos]]` entry. `default_secret` (`WEBHOOK_SECRET`) is the secret of a repo
    /// that names none; `secret_env` names are read from the environment.
    pub fn into_repo(self, default_secret: Option<&str>) -> Result<RepoConfig, Vec<FieldProblem>> {
        let mut problems = Problems::default();
        for (key, set) in [
            ("owner", self.owner.is_some()),
            ("repos", self.repos.is_some()),
        ] {
            if set {
                problems.push(key, "is a key of `[[orgs]]`, not of `[[repos]]`".into());
            }
        }
        let repo = self.check_repo(default_secret, &mut problems);
        match repo {
            Some(repo) if problems.0.is_empty() => Ok(repo),
            _ => Err(problems.0),
        }
    }

    /// Checks an `[[orgs]]` entry: its indexing options and secrets as a repo's are, plus the
    /// owner, the url template and the `repos` globs.
    pub fn into_org(
        mut self,
        default_secret: Option<&str>,
    ) -> Result<OrgConfig, Vec<FieldProblem>> {
        let mut problems = Problems::default();
        for (key, set) in [("name", self.name.is_some()), ("path", self.path.is_some())] {
            if set {
                problems.push(key, "is a key of `[[repos]]`, not of `[[orgs]]`".into());
            }
        }
        let owner = self.owner.take().unwrap_or_default();
        if owner.is_empty() {
            problems.push(
                "owner",
                "missing: the user, organization, group, workspace or project whose hook this is"
                    .into(),
            );
        } else if !valid_owner(&owner) {
            problems.push(
                "owner",
                format!(
                    "`{owner}` is not an owner: use segments of A-Z a-z 0-9 . _ - separated by `/`"
                ),
            );
        }
        let url_template = self.url.clone().unwrap_or_default();
        if url_template.is_empty() {
            problems.push(
                "url",
                "missing: a url template such as https://github.com/{full_name}.git".into(),
            );
        } else if let Err(message) = check_url_template(&url_template) {
            problems.push("url", message);
        }
        let repos = self.repos.take().unwrap_or_else(|| vec!["*".to_string()]);
        for pattern in &repos {
            if let Err(e) = BranchFilter::new(std::slice::from_ref(pattern)) {
                problems.push("repos", e.to_string());
            }
        }
        // Replaced per discovered repo; valid so that it passes the repo checks.
        self.name = Some("org".into());
        self.path = None;
        let repo = self.check_repo(default_secret, &mut problems);
        match repo {
            Some(repo) if problems.0.is_empty() => Ok(OrgConfig {
                provider: repo.provider,
                owner,
                url_template,
                repos,
                repo,
            }),
            _ => Err(problems.0),
        }
    }

    /// The checks a repo and an org share; `None` when one failed.
    fn check_repo(self, default_secret: Option<&str>, at: &mut Problems) -> Option<RepoConfig> {
        let before = at.0.len();
        let name = self.name.unwrap_or_default();
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
        let provider_name = self.provider.unwrap_or_default();
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
        let location = match (self.url, self.path) {
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
        let branches = self.branches.unwrap_or_else(|| vec!["main".to_string()]);
        check_ref_globs(&branches, "branches", "refs/heads/", "branch", at);
        let tags = self.tags.map(TagsSetting::into_globs).unwrap_or_default();
        check_ref_globs(&tags, "tags", "refs/tags/", "tag", at);
        let events = self.events.map(|names| {
            let mut kinds = Vec::new();
            for name in names {
                match name.parse::<EventName>() {
                    Ok(kind) => kinds.push(kind),
                    Err(e) => at.push("events", e.to_string()),
                }
            }
            kinds
        });
        let secrets = secrets(self.secret, self.secret_env, default_secret, at);
        if provider == Some(ProviderId::AzureDevOps)
            && secrets.iter().any(|s| !s.expose().contains(&b':'))
        {
            at.push(
                "secret",
                "azure-devops secrets are `user:password` for HTTP Basic auth".into(),
            );
        }
        for glob in self.include.iter().chain(self.exclude.iter()) {
            if let Err(e) = globset::Glob::new(glob) {
                let key = if self.include.contains(glob) {
                    "include"
                } else {
                    "exclude"
                };
                at.push(key, format!("`{glob}` is not a valid glob: {}", e.kind()));
            }
        }
        let max_file_bytes = self.max_file_bytes.unwrap_or(DEFAULT_MAX_FILE_BYTES);
        if max_file_bytes == 0 {
            at.push(
                "max_file_bytes",
                "must be above 0 (the default is 1048576)".into(),
            );
        }
        if at.0.len() > before {
            return None;
        }
        Some(RepoConfig {
            spec: RepoSpec {
                name,
                location: location?,
                branches,
                pull_requests: self.pull_requests,
                tags,
                include: self.include,
                exclude: self.exclude,
                max_file_bytes,
                index_secret_files: self.index_secret_files,
                events,
            },
            provider: provider?,
            secrets,
            allow_sha1: self.allow_sha1,
            reconcile_interval: match self
                .reconcile_interval_secs
                .unwrap_or(DEFAULT_RECONCILE_INTERVAL_SECS)
            {
                0 => None,
                secs => Some(Duration::from_secs(secs)),
            },
        })
    }
}

/// `branches` or `tags`: a glob or exclusion is checked as a glob; a plain name must be a
/// valid ref name under `prefix`.
fn check_ref_globs(
    globs: &[String],
    key: &'static str,
    prefix: &str,
    what: &str,
    at: &mut Problems,
) {
    for glob in globs {
        if is_literal_branch(glob) && !valid_ref_name(&format!("{prefix}{glob}")) {
            at.push(key, format!("`{glob}` is not a valid {what} name"));
        } else if let Err(e) = BranchFilter::new(std::slice::from_ref(glob)) {
            at.push(key, e.to_string());
        }
    }
}

/// A repo's secrets: `secret` and the variables `secret_env` names, else `WEBHOOK_SECRET`.
/// An empty one is a mistake that names its key: it could never verify a delivery.
fn secrets(
    secret: Option<OneOrMany>,
    secret_env: Option<OneOrMany>,
    default_secret: Option<&str>,
    at: &mut Problems,
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
        if let Some(default) = default_secret {
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

/// Segments of `[A-Za-z0-9._-]` (not `.` or `..`) separated by `/` (GitLab subgroups).
pub fn valid_owner(owner: &str) -> bool {
    owner.len() <= 200 && owner.split('/').all(valid_repo_name)
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
