//! A webhook delivery on its way to jobs, without HTTP: verified with a repo's secrets, parsed
//! (reading the commits' file lists only when path globs need them), and its plan enqueued.

use jobstore::{EnqueueOutcome, JobStore, NewJob};
use webhook_core::{Delivery, ParseOptions, Provider, VerifyOptions};

use crate::{RepoConfig, RepoSpec};

/// Why a delivery to a repo did not verify.
#[derive(Debug, thiserror::Error)]
pub enum VerifyRefusal {
    /// The repo has no secret, so nothing can verify.
    #[error("no webhook secret is configured for this repo, so no delivery can be verified")]
    NoSecret,
    /// The provider's check failed (signature, token, timestamp).
    #[error(transparent)]
    Failed(webhook_core::Error),
}

impl VerifyRefusal {
    /// The API's error code.
    pub fn code(&self) -> &'static str {
        match self {
            VerifyRefusal::NoSecret => "missing_signature",
            VerifyRefusal::Failed(error) => error.code(),
        }
    }
}

/// Checks `delivery` against `repo`'s secrets (SHA-1 signatures only where it allows them).
pub fn verify(
    verifier: &dyn Provider,
    repo: &RepoConfig,
    delivery: &Delivery<'_>,
) -> Result<(), VerifyRefusal> {
    if repo.secrets.is_empty() {
        return Err(VerifyRefusal::NoSecret);
    }
    let options = VerifyOptions {
        allow_sha1: repo.allow_sha1,
        ..VerifyOptions::default()
    };
    let verified = verifier.verify(delivery, &repo.secrets, &options);
    verified.map(drop).map_err(VerifyRefusal::Failed)
}

/// How to parse a delivery for `repos`. The worker diffs with git (authoritative, never
/// truncated), so the payload's commit file lists are skipped unread (a push parses in about
/// half the time), unless a repo has path globs: then they can show that a push changes
/// nothing it indexes.
pub fn parse_options<'a>(repos: impl IntoIterator<Item = &'a RepoSpec>) -> ParseOptions {
    let globs = |spec: &RepoSpec| !spec.include.is_empty() || !spec.exclude.is_empty();
    ParseOptions {
        changed_paths: repos.into_iter().any(globs),
    }
}

/// What enqueueing a plan did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Enqueued {
    /// The jobs queued, or merged into queued ones, in plan order.
    pub queued: Vec<String>,
    /// The first job an earlier delivery with the same key already made.
    pub duplicate: Option<String>,
}

/// Enqueues every job of `plan`, stopping at the first store error.
pub async fn enqueue_plan(
    jobs: &dyn JobStore,
    plan: Vec<NewJob>,
) -> Result<Enqueued, jobstore::Error> {
    let mut done = Enqueued::default();
    for job in plan {
        match jobs.enqueue(job).await? {
            EnqueueOutcome::Queued(job) | EnqueueOutcome::Coalesced(job) => {
                done.queued.push(job.id.to_string());
            }
            EnqueueOutcome::Duplicate(id) => {
                done.duplicate.get_or_insert(id.to_string());
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use jobstore::{SledJobStore, StoreConfig, Trigger};
    use webhook_core::{Headers, ProviderId, Registry, Secret};

    use super::*;
    use crate::RepoLocation;

    fn repo(secrets: Vec<Secret>) -> RepoConfig {
        RepoConfig {
            spec: RepoSpec::new(
                "demo",
                RepoLocation::Url("https://git.example/d.git".into()),
            ),
            provider: ProviderId::GitHub,
            secrets,
            allow_sha1: false,
            reconcile_interval: None,
        }
    }

    #[test]
    fn verifies_with_the_repos_secret_only() {
        let registry = Registry::with_builtins();
        let github = registry.get(ProviderId::GitHub).unwrap();
        let secret = Secret::try_from("s3cret".to_string()).unwrap();
        let body = br#"{"zen":"hi","hook_id":1}"#;
        let signed = ProviderId::GitHub
            .sign(&secret, body, SystemTime::now())
            .unwrap();
        let headers: Headers = signed
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_bytes()))
            .collect();
        let delivery = Delivery {
            headers: &headers,
            body,
        };
        assert!(verify(&**github, &repo(vec![secret]), &delivery).is_ok());
        let refusal = verify(&**github, &repo(Vec::new()), &delivery).unwrap_err();
        assert_eq!(refusal.code(), "missing_signature");
        let other = Secret::try_from("other".to_string()).unwrap();
        let refusal = verify(&**github, &repo(vec![other]), &delivery).unwrap_err();
        assert!(matches!(refusal, VerifyRefusal::Failed(_)), "{refusal:?}");
    }

    #[test]
    fn file_lists_are_parsed_only_for_globs() {
        let plain = repo(Vec::new()).spec;
        let mut globbed = plain.clone();
        globbed.include = vec!["src/**".into()];
        assert!(!parse_options([&plain]).changed_paths);
        assert!(parse_options([&plain, &globbed]).changed_paths);
    }

    #[tokio::test]
    async fn a_plan_enqueued_twice_is_a_duplicate_the_second_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledJobStore::open(dir.path(), StoreConfig::default()).unwrap();
        let job = || {
            let mut job = NewJob::index("demo", "refs/heads/main", Trigger::Webhook);
            job.dedupe_key = Some("github:d1".into());
            job
        };
        let first = enqueue_plan(&store, vec![job()]).await.unwrap();
        assert_eq!(first.queued.len(), 1);
        assert_eq!(first.duplicate, None);
        let again = enqueue_plan(&store, vec![job()]).await.unwrap();
        assert_eq!(again.queued, Vec::<String>::new());
        assert_eq!(again.duplicate.as_deref(), Some(first.queued[0].as_str()));
    }
}
