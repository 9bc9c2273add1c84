//! Refs asked for by hand: a manual index job's and a sample delivery's.

use jobstore::Trigger;
use pipeline::{
    RefChoiceError, RepoSection, RepoSpec, SampleError, SampleRequest, TestAsk, TestDeliveryError,
    manual_index_job, sample_event, sample_ref, test_delivery,
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

/// Repos as the config file gives them: `demo` on GitHub with a secret and `main`, `bare`
/// on GitHub without one.
fn repos(dir: &std::path::Path) -> pipeline::Repos {
    let section = |text: &str| {
        let section: RepoSection = toml::from_str(text).expect("a repo section");
        section.into_repo(None).expect("a valid repo")
    };
    let demo = section(
        "name = \"demo\"\nprovider = \"github\"\nurl = \"file:///srv/demo\"\nbranches = [\"main\"]\nsecret = \"s3cret\"\n",
    );
    let bare = section("name = \"bare\"\nprovider = \"github\"\nurl = \"file:///srv/bare\"\n");
    let discovered = pipeline::Discovered::open(dir).expect("an empty list");
    pipeline::Repos::new(vec![demo, bare], vec![], std::sync::Arc::new(discovered))
}

#[test]
fn a_test_delivery_is_signed_verified_and_parsed_like_a_real_one() {
    let dir = tempfile::tempdir().unwrap();
    let repos = repos(dir.path());
    let registry = webhook_core::Registry::with_builtins();
    let github = registry.get(webhook_core::ProviderId::GitHub).unwrap();
    let ask = TestAsk::default();
    let (repo, event) = test_delivery(&repos, &**github, &ask, || "test-1".into()).unwrap();
    assert_eq!(repo.spec.name, "demo");
    assert_eq!(event.kind, webhook_core::EventKind::Push);
    assert_eq!(event.delivery_id.as_deref(), Some("test-1"));
    assert_eq!(event.primary().unwrap().git_ref, "refs/heads/main");

    let tag = TestAsk {
        event: Some("tag_push"),
        git_ref: Some("v2"),
        ..TestAsk::default()
    };
    let (_, event) = test_delivery(&repos, &**github, &tag, || "test-2".into()).unwrap();
    assert_eq!(event.primary().unwrap().git_ref, "refs/tags/v2");
}

#[test]
fn a_test_delivery_says_what_is_wrong_before_taking_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let repos = repos(dir.path());
    let registry = webhook_core::Registry::with_builtins();
    let no_id = || -> String { panic!("no id is taken for a refused test delivery") };
    let refused = |provider, ask: TestAsk<'_>| {
        let verifier = registry.get(provider).unwrap();
        test_delivery(&repos, &**verifier, &ask, no_id).unwrap_err()
    };
    let github = |event, repo, number| {
        let ask = TestAsk {
            event,
            repo,
            git_ref: None,
            number,
        };
        refused(webhook_core::ProviderId::GitHub, ask)
    };
    let event = github(Some("pushes"), None, None);
    assert!(matches!(event, TestDeliveryError::BadEvent), "{event}");
    assert!(event.to_string().starts_with("`event` must be one of "));
    let gitlab = refused(webhook_core::ProviderId::GitLab, TestAsk::default());
    assert!(matches!(gitlab, TestDeliveryError::NoRepo), "{gitlab}");
    let other = github(None, Some("nope"), None);
    assert!(matches!(other, TestDeliveryError::NoRepo), "{other}");
    let bare = github(None, Some("bare"), None);
    assert_eq!(
        bare.to_string(),
        "the repo has no secret to sign the sample with"
    );
    let tag = github(Some("tag_push"), None, None);
    assert!(
        matches!(tag, TestDeliveryError::Ref(RefChoiceError::TagNeeded(_))),
        "{tag}"
    );
    for number in ["0", "x", "-1"] {
        let wrong = github(Some("pull_request"), None, Some(number));
        assert!(matches!(wrong, TestDeliveryError::BadNumber), "{number}");
    }
}
