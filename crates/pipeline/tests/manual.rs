//! Refs asked for by hand: a manual index job's and a sample delivery's.

use jobstore::Trigger;
use pipeline::{
    RefChoiceError, RepoSection, RepoSpec, SampleError, SampleRequest, manual_index_job,
    sample_event, sample_ref,
};
use webhook_core::sample::SampleKind;

/// A repo as the config file gives it, with `branches`.
fn repo(branches: &[&str]) -> RepoSpec {
    let text = format!(
        "name = \"demo\"\nprovider = \"github\"\nurl = \"file:///srv/demo\"\nbranches = {branches:?}\n"
    );
    let section: RepoSection = toml::from_str(&text).expect("a repo section");
    section.into_repo(None).expect("a valid repo").spec
}

#[test]
fn a_manual_job_takes_a_branch_name_a_full_ref_or_the_first_branch() {
    let job = manual_index_job(&repo(&["main"]), Some("dev".into()), true).unwrap();
    assert_eq!(
        (job.git_ref.as_str(), job.full, job.trigger),
        ("refs/heads/dev", true, Trigger::Manual)
    );
    let job = manual_index_job(&repo(&["main"]), Some("refs/tags/v1".into()), false).unwrap();
    assert_eq!(job.git_ref, "refs/tags/v1");
    let job = manual_index_job(&repo(&["main"]), None, false).unwrap();
    assert_eq!(job.git_ref, "refs/heads/main");
    let none = manual_index_job(&repo(&["release/*"]), None, false).unwrap_err();
    assert_eq!(
        (none, none.code()),
        (RefChoiceError::NoBranchToIndex, "missing_ref")
    );
    let bad = manual_index_job(&repo(&["main"]), Some("a..b".into()), false).unwrap_err();
    assert_eq!((bad, bad.code()), (RefChoiceError::BadRef, "bad_ref"));
}

#[test]
fn a_sample_ref_is_of_the_kind_the_sample_needs() {
    let main = repo(&["main"]);
    assert_eq!(
        sample_ref(&main, SampleKind::Push, None).unwrap(),
        "refs/heads/main"
    );
    assert_eq!(
        sample_ref(&main, SampleKind::TagPush, Some("v1.0")).unwrap(),
        "refs/tags/v1.0"
    );
    assert_eq!(
        sample_ref(&main, SampleKind::TagPush, None).unwrap_err(),
        RefChoiceError::TagNeeded("tag_push")
    );
    let wrong = sample_ref(&main, SampleKind::Push, Some("refs/tags/v1")).unwrap_err();
    assert_eq!(wrong.to_string(), "`ref` must name a branch (refs/heads/…)");
    assert_eq!(
        sample_ref(&repo(&[]), SampleKind::Push, Some("")).unwrap_err(),
        RefChoiceError::NoBranchToPush
    );
}

#[test]
fn a_sample_is_signed_verified_and_parsed_like_a_delivery() {
    let text =
        "name = \"demo\"\nprovider = \"github\"\nurl = \"file:///srv/demo\"\nsecret = \"s\"\n";
    let section: RepoSection = toml::from_str(text).expect("a repo section");
    let repo = section.into_repo(None).expect("a valid repo");
    let registry = webhook_core::Registry::with_builtins();
    let verifier = registry
        .get(webhook_core::ProviderId::GitHub)
        .expect("built in");
    let request = SampleRequest {
        repo: &repo,
        kind: SampleKind::Push,
        git_ref: "refs/heads/main",
        number: 1,
        delivery_id: "test-1",
    };
    let event = sample_event(&**verifier, &repo.secrets[0], &request).unwrap();
    assert!(matches!(event.kind, webhook_core::EventKind::Push));
    let other = webhook_core::Secret::try_from("not the repo's").unwrap();
    assert!(matches!(
        sample_event(&**verifier, &other, &request),
        Err(SampleError::Verify(_))
    ));
}
