//! Org hooks: repos discovered from `[[orgs]]` deliveries, their names, and [`Repos`], the one
//! repo lookup (configured and discovered) the runner, reconcile and the gateway's handlers
//! share.
//!
//! A discovered repo is named `{provider}-{owner}-{name}` in lower case, every character
//! outside `[A-Za-z0-9._-]` turned into `_`, so it is one path component that cannot leave the
//! data dir; a name a configured repo or another repository already uses is refused. The list
//! of discovered repos is kept in `discovered-repos.json` under the data dir (owner-only,
//! written to a temporary file, synced and renamed), so they survive a restart.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use webhook_core::{Delivery, Provider, ProviderId, VerifyOptions};

use crate::repo::{RepoLocation, RepoSpec};
use crate::repo_config::{OrgConfig, RepoConfig, valid_owner, valid_repo_name};
use crate::runner::RepoLookup;

/// The file under the data dir that lists discovered repos.
pub const DISCOVERED_FILE: &str = "discovered-repos.json";

/// One repo discovered through an org hook, as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveredRepo {
    /// Its name in the gateway (jobs, index, `/webhooks/{provider}/{repo}`).
    pub name: String,
    /// The provider of the org that took it.
    pub provider: ProviderId,
    /// The owner of that org, as configured.
    pub owner: String,
    /// The repository's full name as its first delivery spelled it.
    pub full_name: String,
}

/// Why a repository named by a verified org delivery is not taken.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The payload names no repository.
    #[error("the payload names no repository (`repository.full_name`)")]
    NoRepository,
    /// The full name is not `owner/name` with safe characters.
    #[error(
        "repository `{0}` is not `owner/name` made of A-Z a-z 0-9 . _ - (and no `.` or `..` part)"
    )]
    BadName(String),
    /// The repository belongs to no org whose secret verified the delivery.
    #[error("repository `{0}` does not belong to the owner of this hook")]
    OtherOwner(String),
    /// The derived name is taken by a configured repo or another repository.
    #[error("repository `{full_name}` would be named `{name}`, which {taken_by}")]
    Collision {
        /// The repository's full name, as the delivery spelled it.
        full_name: String,
        /// The gateway name it would get.
        name: String,
        /// Who has that name already.
        taken_by: String,
    },
    /// The derived name is longer than a repo name may be.
    #[error("repository `{0}` makes a name longer than 100 characters")]
    TooLong(String),
    /// The list could not be written.
    #[error("could not save the discovered repos: {0}")]
    Save(std::io::Error),
}

/// `owner/name` split at the last `/`, each part checked: `None` when it is not one.
pub fn split_full_name(full_name: &str) -> Option<(&str, &str)> {
    let (owner, name) = full_name.rsplit_once('/')?;
    (valid_owner(owner) && valid_repo_name(name)).then_some((owner, name))
}

/// The gateway name of `owner/name` at `provider`.
pub fn discovered_name(provider: ProviderId, owner: &str, name: &str) -> String {
    format!("{provider}-{owner}-{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// Why no org's secret verified an org delivery.
#[derive(Debug, thiserror::Error)]
pub enum OrgVerifyError {
    /// The first org whose secrets were tried refused it with this.
    #[error(transparent)]
    Refused(webhook_core::Error),
    /// No org of the provider has a secret to try.
    #[error("no org of this provider has a webhook secret, so no delivery can be verified")]
    NoSecret,
}

impl OrgVerifyError {
    /// The stable code of the refusal (`missing_signature` when there was no secret).
    pub fn code(&self) -> &'static str {
        match self {
            OrgVerifyError::Refused(error) => error.code(),
            OrgVerifyError::NoSecret => "missing_signature",
        }
    }
}

/// Every org among `orgs` (all of the delivery's provider) whose secrets verify `delivery`.
pub fn verified_orgs<'a>(
    verifier: &dyn Provider,
    delivery: &Delivery<'_>,
    orgs: impl IntoIterator<Item = &'a OrgConfig>,
) -> Result<Vec<&'a OrgConfig>, OrgVerifyError> {
    let mut verified = Vec::new();
    let mut failure = None;
    for org in orgs {
        if org.repo.secrets.is_empty() {
            continue;
        }
        let options = VerifyOptions {
            allow_sha1: org.repo.allow_sha1,
            ..VerifyOptions::default()
        };
        match verifier.verify(delivery, &org.repo.secrets, &options) {
            Ok(_) => verified.push(org),
            Err(error) => {
                failure.get_or_insert(error);
            }
        }
    }
    if verified.is_empty() {
        return Err(failure.map_or(OrgVerifyError::NoSecret, OrgVerifyError::Refused));
    }
    Ok(verified)
}

/// Which org of those whose secret verified a delivery takes the repository it names.
#[derive(Debug)]
pub enum OrgChoice<'a> {
    /// `org` owns it and its `repos` globs take it: `tentative` is what the repo would be if
    /// it is registered.
    Taken {
        /// The org with the most specific owner (`group/sub` over `group`).
        org: &'a OrgConfig,
        /// The repo's config, under its derived name.
        tentative: Box<RepoConfig>,
    },
    /// The owning org's `repos` globs leave it out.
    NotTaken {
        /// The repository's short name.
        name: String,
    },
}

/// The org among `verified` that owns `full_name` (the most specific owner wins), and whether
/// its globs take the repository; a missing or malformed name, or one no org owns, is a
/// [`DiscoverError`].
pub fn choose_org<'a>(
    verified: impl IntoIterator<Item = &'a OrgConfig>,
    full_name: Option<&str>,
) -> Result<OrgChoice<'a>, DiscoverError> {
    let full_name = full_name.ok_or(DiscoverError::NoRepository)?;
    let (owner, name) =
        split_full_name(full_name).ok_or_else(|| DiscoverError::BadName(full_name.into()))?;
    let owning = verified.into_iter().filter(|org| org.owns(owner));
    let org = owning
        .max_by_key(|org| org.owner.len())
        .ok_or_else(|| DiscoverError::OtherOwner(full_name.into()))?;
    if !org.allows(name) {
        return Ok(OrgChoice::NotTaken { name: name.into() });
    }
    let tentative = Box::new(org.repo_config(&DiscoveredRepo {
        name: discovered_name(org.provider, owner, name),
        provider: org.provider,
        owner: org.owner.clone(),
        full_name: full_name.to_string(),
    }));
    Ok(OrgChoice::Taken { org, tentative })
}

/// The template with `{full_name}`, `{owner}` and `{name}` replaced.
pub fn expand_url(template: &str, full_name: &str, owner: &str, name: &str) -> String {
    template
        .replace("{full_name}", full_name)
        .replace("{owner}", owner)
        .replace("{name}", name)
}

impl OrgConfig {
    /// The repo config a repository of this org gets.
    pub fn repo_config(&self, found: &DiscoveredRepo) -> RepoConfig {
        let (owner, name) = split_full_name(&found.full_name).unwrap_or(("", ""));
        let mut repo = self.repo.clone();
        repo.spec.name = found.name.clone();
        repo.spec.location = RepoLocation::Url(expand_url(
            &self.url_template,
            &found.full_name,
            owner,
            name,
        ));
        repo
    }
}

/// The discovered repos, in memory and on disk.
#[derive(Debug)]
pub struct Discovered {
    path: PathBuf,
    repos: RwLock<BTreeMap<String, DiscoveredRepo>>,
    /// One save at a time, in the order the list changed.
    saving: tokio::sync::Mutex<()>,
}

impl Discovered {
    /// Loads the list under `data_dir` (none yet: empty).
    pub fn open(data_dir: &Path) -> std::io::Result<Discovered> {
        let path = data_dir.join(DISCOVERED_FILE);
        let repos = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Vec<DiscoveredRepo>>(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(Discovered {
            path,
            repos: RwLock::new(repos.into_iter().map(|r| (r.name.clone(), r)).collect()),
            saving: tokio::sync::Mutex::new(()),
        })
    }

    /// The repo named `name`, if one was discovered.
    pub fn get(&self, name: &str) -> Option<DiscoveredRepo> {
        self.read().get(name).cloned()
    }

    /// Every discovered repo, by name.
    pub fn all(&self) -> Vec<DiscoveredRepo> {
        self.read().values().cloned().collect()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, DiscoveredRepo>> {
        self.repos.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `found` and saves the list before returning; `Ok(false)` when it was there
    /// already. A name held by another repository is a [`DiscoverError::Collision`].
    pub async fn add(&self, found: DiscoveredRepo) -> Result<bool, DiscoverError> {
        let _saving = self.saving.lock().await;
        let list = {
            let mut repos = self.repos.write().unwrap_or_else(|e| e.into_inner());
            if let Some(known) = repos.get(&found.name) {
                if known.provider == found.provider
                    && known.full_name.eq_ignore_ascii_case(&found.full_name)
                {
                    return Ok(false);
                }
                return Err(DiscoverError::Collision {
                    name: found.name.clone(),
                    taken_by: format!("repository `{}` already has", known.full_name),
                    full_name: found.full_name,
                });
            }
            repos.insert(found.name.clone(), found.clone());
            repos.values().cloned().collect::<Vec<_>>()
        };
        let path = self.path.clone();
        let saved = tokio::task::spawn_blocking(move || save(&path, &list))
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        if let Err(error) = saved {
            // Not on disk, so not taken: the next delivery tries again.
            let mut repos = self.repos.write().unwrap_or_else(|e| e.into_inner());
            repos.remove(&found.name);
            return Err(DiscoverError::Save(error));
        }
        Ok(true)
    }
}

/// Writes `list` to `path` owner-only and atomically: a temporary file, synced, renamed over
/// the old one, and the directory synced.
fn save(path: &Path, list: &[DiscoveredRepo]) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(list).map_err(std::io::Error::other)?;
    let temporary = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Configured and discovered repos, by name: what the runner, reconcile and the handlers ask.
#[derive(Debug)]
pub struct Repos {
    configured: Vec<RepoConfig>,
    orgs: Vec<OrgConfig>,
    /// The repos org hooks found, persisted.
    pub discovered: Arc<Discovered>,
}

impl Repos {
    /// The configured `repos` and `orgs`, and the repos discovered so far.
    pub fn new(repos: Vec<RepoConfig>, orgs: Vec<OrgConfig>, discovered: Arc<Discovered>) -> Repos {
        Repos {
            configured: repos,
            orgs,
            discovered,
        }
    }

    /// The configured `[[repos]]`.
    pub fn configured(&self) -> &[RepoConfig] {
        &self.configured
    }

    /// The repo named `name`: a configured one, or a discovered one whose org is still
    /// configured.
    pub fn get(&self, name: &str) -> Option<Cow<'_, RepoConfig>> {
        if let Some(repo) = self.configured.iter().find(|r| r.spec.name == name) {
            return Some(Cow::Borrowed(repo));
        }
        let found = self.discovered.get(name)?;
        let org = self.org_of(&found)?;
        Some(Cow::Owned(org.repo_config(&found)))
    }

    /// Every discovered repo whose org is still configured, as its config.
    pub fn discovered_configs(&self) -> Vec<RepoConfig> {
        self.discovered
            .all()
            .iter()
            .filter_map(|found| Some(self.org_of(found)?.repo_config(found)))
            .collect()
    }

    fn org_of(&self, found: &DiscoveredRepo) -> Option<&OrgConfig> {
        self.orgs.iter().find(|org| {
            org.provider == found.provider && org.owner.eq_ignore_ascii_case(&found.owner)
        })
    }

    /// The repo a verified delivery to `org` names, registered (and saved) on first sight.
    /// Returns it with whether it is new.
    pub async fn discover(
        &self,
        org: &OrgConfig,
        full_name: Option<&str>,
    ) -> Result<(RepoConfig, bool), DiscoverError> {
        let full_name = full_name.ok_or(DiscoverError::NoRepository)?;
        let (owner, name) =
            split_full_name(full_name).ok_or_else(|| DiscoverError::BadName(full_name.into()))?;
        if !org.owns(owner) {
            return Err(DiscoverError::OtherOwner(full_name.into()));
        }
        let gateway_name = discovered_name(org.provider, owner, name);
        if !valid_repo_name(&gateway_name) {
            return Err(DiscoverError::TooLong(full_name.into()));
        }
        if self.configured.iter().any(|r| r.spec.name == gateway_name) {
            return Err(DiscoverError::Collision {
                full_name: full_name.into(),
                name: gateway_name,
                taken_by: "a configured repo has".into(),
            });
        }
        // A template that starts with `{name}` must not make something git reads as an option.
        if expand_url(&org.url_template, full_name, owner, name).starts_with('-') {
            return Err(DiscoverError::BadName(full_name.into()));
        }
        let found = DiscoveredRepo {
            name: gateway_name,
            provider: org.provider,
            owner: org.owner.clone(),
            full_name: full_name.to_string(),
        };
        let new = self.discovered.add(found.clone()).await?;
        let known = self.discovered.get(&found.name).unwrap_or(found);
        Ok((org.repo_config(&known), new))
    }
}

impl RepoLookup for Repos {
    fn repo(&self, name: &str) -> Option<RepoSpec> {
        self.get(name).map(|repo| repo.spec.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_safe_component() {
        assert_eq!(
            discovered_name(ProviderId::GitHub, "Acme", "Demo.rs"),
            "github-acme-demo.rs"
        );
        assert_eq!(
            discovered_name(ProviderId::GitLab, "group/sub", "x"),
            "gitlab-group_sub-x"
        );
        for bad in ["acme/..", "acme/.", "../x", "acme/a b", "acme/", "/x", "x"] {
            assert_eq!(split_full_name(bad), None, "{bad}");
        }
        assert_eq!(split_full_name("acme/../x"), None);
        assert_eq!(split_full_name("g/sub/x"), Some(("g/sub", "x")));
    }

    #[test]
    fn urls_expand_every_template_variable() {
        assert_eq!(
            expand_url("https://h/{full_name}.git", "a/b", "a", "b"),
            "https://h/a/b.git"
        );
        assert_eq!(
            expand_url("file:///srv/{owner}/{name}", "a/b", "a", "b"),
            "file:///srv/a/b"
        );
    }

    #[tokio::test]
    async fn the_list_survives_a_reopen_owner_only_and_names_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let one = DiscoveredRepo {
            name: "github-acme-a".into(),
            provider: ProviderId::GitHub,
            owner: "acme".into(),
            full_name: "acme/a".into(),
        };
        let discovered = Discovered::open(dir.path()).unwrap();
        assert!(discovered.add(one.clone()).await.unwrap());
        assert!(!discovered.add(one.clone()).await.unwrap());
        let other = DiscoveredRepo {
            full_name: "acme/other".into(),
            ..one.clone()
        };
        assert!(matches!(
            discovered.add(other).await,
            Err(DiscoverError::Collision { .. })
        ));
        let reopened = Discovered::open(dir.path()).unwrap();
        assert_eq!(reopened.all(), vec![one]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(DISCOVERED_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
