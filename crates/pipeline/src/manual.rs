//! Jobs and samples someone asked for by hand (the management API): which ref they are about,
//! from what was asked and the repo's configured branches.

use std::borrow::Cow;
use std::time::SystemTime;

use jobstore::{Job, JobState, NewJob, Trigger};
use webhook_core::sample::{self, SampleKind};
use webhook_core::{Delivery, Event, Headers, Provider, Secret, VerifyOptions};

use crate::discovered::Repos;
use crate::repo::RepoSpec;
use crate::repo_config::RepoConfig;
use crate::source::git::refname::valid_ref_name;

/// Why no ref could be chosen; [`RefChoiceError::code`] is the stable code of the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefChoiceError {
    /// No ref was asked for and the repo has no configured branch to index.
    #[error("this repo has no configured branch; name a ref")]
    NoBranchToIndex,
    /// No ref was asked for and the repo has no configured branch to send a sample push for.
    #[error("the repo has no configured branch to push to")]
    NoBranchToPush,
    /// A tag sample was asked for without naming the tag.
    #[error("a `{0}` sample needs the tag as `ref` (v1.0 or refs/tags/v1.0)")]
    TagNeeded(&'static str),
    /// The ref asked for is not a valid ref name.
    #[error("`ref` is not a valid git ref name")]
    BadRef,
    /// The ref asked for is not of the kind the sample needs.
    #[error("`ref` must name a {what} ({prefix}…)")]
    WrongKind {
        /// `tag` or `branch`.
        what: &'static str,
        /// `refs/tags/` or `refs/heads/`.
        prefix: &'static str,
    },
}

impl RefChoiceError {
    /// `missing_ref` when nothing usable was named, `bad_ref` when what was named is wrong.
    pub fn code(&self) -> &'static str {
        match self {
            RefChoiceError::NoBranchToIndex
            | RefChoiceError::NoBranchToPush
            | RefChoiceError::TagNeeded(_) => "missing_ref",
            RefChoiceError::BadRef | RefChoiceError::WrongKind { .. } => "bad_ref",
        }
    }
}

/// A manual index job of `repo`: `git_ref` is a full ref or a branch name, else the repo's
/// first configured branch; `full` re-reads every file.
pub fn manual_index_job(
    repo: &RepoSpec,
    git_ref: Option<String>,
    full: bool,
) -> Result<NewJob, RefChoiceError> {
    let git_ref = match git_ref {
        Some(r) => crate::full_ref(&r),
        None => repo
            .branch_refs()
            .next()
            .ok_or(RefChoiceError::NoBranchToIndex)?,
    };
    if !valid_ref_name(&git_ref) {
        return Err(RefChoiceError::BadRef);
    }
    Ok(NewJob {
        full,
        ..NewJob::index(repo.name.clone(), git_ref, Trigger::Manual)
    })
}

/// Why a job cannot be retried: it did not end failed or cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the job is {0}; only failed or cancelled jobs can be retried")]
pub struct NotRetryable(pub JobState);

/// The request that does a failed or cancelled job's work again, asked for by hand: the same
/// repo, ref, fetched ref, kind and `full`. No commit is named, so the job takes the ref's tip
/// when it runs, as every job does; it coalesces with a job of the ref already queued.
pub fn retry_job(job: &Job) -> Result<NewJob, NotRetryable> {
    if !matches!(job.state, JobState::Failed | JobState::Cancelled) {
        return Err(NotRetryable(job.state));
    }
    Ok(NewJob {
        fetch_ref: job.fetch_ref.clone(),
        kind: job.kind,
        full: job.full,
        ..NewJob::index(job.repo.clone(), job.git_ref.clone(), Trigger::Manual)
    })
}

/// The ref a sample delivery of `kind` is about: `asked` (a short name or a full ref), else
/// the repo's first branch; tag samples need `asked`, since no tag is configured by name.
pub fn sample_ref(
    repo: &RepoSpec,
    kind: SampleKind,
    asked: Option<&str>,
) -> Result<String, RefChoiceError> {
    let (what, prefix) = if kind.needs_tag() {
        ("tag", "refs/tags/")
    } else {
        ("branch", "refs/heads/")
    };
    let git_ref = match asked.filter(|r| !r.is_empty()) {
        Some(name) if name.starts_with("refs/") => name.to_string(),
        Some(name) => format!("{prefix}{name}"),
        None if kind.needs_tag() => return Err(RefChoiceError::TagNeeded(kind.name())),
        None => repo
            .branch_refs()
            .next()
            .ok_or(RefChoiceError::NoBranchToPush)?,
    };
    if !git_ref.starts_with(prefix) || !valid_ref_name(&git_ref) {
        return Err(RefChoiceError::WrongKind { what, prefix });
    }
    Ok(git_ref)
}

/// What a test delivery is about: the repo, its ref and pull request number, and the id the
/// delivery carries.
#[derive(Debug, Clone, Copy)]
pub struct SampleRequest<'a> {
    /// The repo the sample is sent to.
    pub repo: &'a RepoConfig,
    /// The event kind.
    pub kind: SampleKind,
    /// The full ref it is about.
    pub git_ref: &'a str,
    /// The pull request number, for pull request samples.
    pub number: u64,
    /// The delivery id it carries.
    pub delivery_id: &'a str,
}

/// Why a sample delivery did not become an event.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    /// The provider sends no events of the kind.
    #[error(transparent)]
    Unsupported(sample::Unsupported),
    /// Signing the body failed.
    #[error("{0}")]
    Sign(webhook_core::Error),
    /// The signed sample did not verify with the repo's secrets.
    #[error("{0}")]
    Verify(webhook_core::Error),
    /// The sample did not parse.
    #[error("{0}")]
    Parse(webhook_core::Error),
}

/// Builds the sample `provider` would send, signs it with `secret` and takes it through the
/// same verify and parse steps a real delivery to the repo takes.
pub fn sample_event(
    verifier: &dyn Provider,
    secret: &Secret,
    request: &SampleRequest<'_>,
) -> Result<Event, SampleError> {
    let provider = verifier.id();
    let target = sample::Target {
        repo: &request.repo.spec.name,
        git_ref: request.git_ref,
        number: request.number,
        delivery_id: request.delivery_id,
    };
    let sample::SampleDelivery {
        headers: event_headers,
        body,
    } = sample::build(provider, request.kind, &target).map_err(SampleError::Unsupported)?;
    let mut headers: Headers = event_headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    let signed = provider
        .sign(secret, &body, SystemTime::now())
        .map_err(SampleError::Sign)?;
    for (name, value) in &signed {
        headers.insert(name, value.as_bytes());
    }
    let delivery = Delivery {
        headers: &headers,
        body: &body,
    };
    let options = VerifyOptions {
        allow_sha1: request.repo.allow_sha1,
        ..VerifyOptions::default()
    };
    verifier
        .verify(&delivery, &request.repo.secrets, &options)
        .map_err(SampleError::Verify)?;
    verifier.parse(&delivery).map_err(SampleError::Parse)
}

/// A test delivery as the management API's query asked for it: each value as given.
#[derive(Debug, Clone, Copy, Default)]
pub struct TestAsk<'a> {
    /// `event`: a sample kind's name (default `push`).
    pub event: Option<&'a str>,
    /// `repo`: the repo to send it to (default: the first configured repo of the provider).
    pub repo: Option<&'a str>,
    /// `ref`: see [`sample_ref`].
    pub git_ref: Option<&'a str>,
    /// `number`: the pull request number (default 1).
    pub number: Option<&'a str>,
}

/// Why a test delivery was not built, in the order the checks run.
#[derive(Debug, thiserror::Error)]
pub enum TestDeliveryError {
    /// `event` names no sample kind.
    #[error("`event` must be one of {}", SampleKind::names())]
    BadEvent,
    /// No repo of this provider is configured under the name, or at all.
    #[error("no repo is configured for this provider (name one with ?repo=)")]
    NoRepo,
    /// The repo has no secret to sign with.
    #[error("the repo has no secret to sign the sample with")]
    NoSecret,
    /// No usable ref (see [`sample_ref`]).
    #[error(transparent)]
    Ref(RefChoiceError),
    /// `number` is not a whole number above 0.
    #[error("`number` must be a pull request number (a whole number above 0)")]
    BadNumber,
    /// The sample did not become an event (see [`sample_event`]).
    #[error(transparent)]
    Sample(SampleError),
}

/// Builds the test delivery `ask` describes for the provider of `verifier`, signed with the
/// repo's first secret and taken through verify and parse ([`sample_event`]); `delivery_id`
/// is called once the request is known to be good. Answers the repo and the event.
pub fn test_delivery<'r>(
    repos: &'r Repos,
    verifier: &dyn Provider,
    ask: &TestAsk<'_>,
    delivery_id: impl FnOnce() -> String,
) -> Result<(Cow<'r, RepoConfig>, Event), TestDeliveryError> {
    let provider = verifier.id();
    let kind = match ask.event {
        None => SampleKind::Push,
        Some(name) => SampleKind::from_name(name).ok_or(TestDeliveryError::BadEvent)?,
    };
    let repo = match ask.repo {
        Some(name) => repos.get(name).filter(|r| r.provider == provider),
        None => (repos.configured().iter())
            .find(|r| r.provider == provider)
            .map(Cow::Borrowed),
    };
    let repo = repo.ok_or(TestDeliveryError::NoRepo)?;
    let secret = repo.secrets.first().ok_or(TestDeliveryError::NoSecret)?;
    let git_ref = sample_ref(&repo.spec, kind, ask.git_ref).map_err(TestDeliveryError::Ref)?;
    let number = match ask.number.map(str::parse::<u64>) {
        None => 1,
        Some(Ok(number)) if number > 0 => number,
        Some(_) => return Err(TestDeliveryError::BadNumber),
    };
    let delivery_id = delivery_id();
    let request = SampleRequest {
        repo: &repo,
        kind,
        git_ref: &git_ref,
        number,
        delivery_id: &delivery_id,
    };
    let event = sample_event(verifier, secret, &request).map_err(TestDeliveryError::Sample)?;
    Ok((repo, event))
}

#[cfg(test)]
mod retry_tests {
    use super::*;
    use jobstore::{JobKind, Progress};

    fn job(state: JobState) -> Job {
        Job {
            id: "000000000000002a".parse().unwrap(),
            repo: "demo".into(),
            git_ref: "refs/pull-requests/7/from".into(),
            fetch_ref: Some("refs/heads/feature".into()),
            kind: JobKind::Index,
            commit: Some("c1".into()),
            before: Some("c0".into()),
            full: true,
            trigger: Trigger::Webhook,
            provider: Some("bitbucket".into()),
            delivery_id: Some("d1".into()),
            state,
            attempts: 3,
            coalesced: 0,
            created_at: SystemTime::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            not_before: None,
            progress: Progress::default(),
            error: Some("boom".into()),
            note: None,
        }
    }

    #[test]
    fn failed_and_cancelled_jobs_are_asked_for_again() {
        for state in [JobState::Failed, JobState::Cancelled] {
            let again = retry_job(&job(state)).unwrap();
            assert_eq!(again.repo, "demo");
            assert_eq!(again.git_ref, "refs/pull-requests/7/from");
            assert_eq!(again.fetch_ref.as_deref(), Some("refs/heads/feature"));
            assert_eq!((again.kind, again.full), (JobKind::Index, true));
            assert_eq!(again.trigger, Trigger::Manual);
            assert_eq!((again.commit, again.dedupe_key), (None, None));
        }
    }

    #[test]
    fn other_states_are_not_retryable() {
        for state in [
            JobState::Queued,
            JobState::Running,
            JobState::Succeeded,
            JobState::Superseded,
        ] {
            let error = retry_job(&job(state)).unwrap_err();
            assert_eq!(error, NotRetryable(state));
            assert!(error.to_string().contains(state.as_str()));
        }
    }
}
