//! The `[[repos]]` and `[[orgs]]` sections: what a valid entry becomes and which key each
//! mistake names (the line numbers are the binary's, tested with the config file).

use pipeline::{EventName, FieldProblem, OrgConfig, RepoConfig, RepoSection};
use webhook_core::ProviderId;

fn section(text: &str) -> RepoSection {
    toml::from_str(text).expect("the section parses")
}

fn repo(text: &str) -> Result<RepoConfig, Vec<FieldProblem>> {
    section(text).into_repo(None)
}

fn org(text: &str) -> Result<OrgConfig, Vec<FieldProblem>> {
    section(text).into_org(None)
}

fn keys(problems: &[FieldProblem]) -> Vec<&'static str> {
    problems.iter().map(|p| p.key).collect()
}

const BASE: &str = "name = \"a\"\nprovider = \"github\"\nurl = \"file:///a\"\nsecret = \"s\"\n";

#[test]
fn branch_globs_and_exclusions_are_accepted_and_bad_globs_refused() {
    let good = format!("{BASE}branches = [\"main\", \"release/*\", \"!release/old*\"]\n");
    let spec = repo(&good).unwrap().spec;
    assert!(spec.tracks_branch("refs/heads/release/2"));
    assert!(!spec.tracks_branch("refs/heads/release/old-1"));
    let problems = repo(&good.replace("!release/old*", "release/[")).unwrap_err();
    assert!(
        problems
            .iter()
            .any(|p| p.key == "branches" && p.message.contains("release/[")),
        "{problems:?}"
    );
    let problems = repo(&format!("{BASE}branches = [\"bad..name\"]\n")).unwrap_err();
    assert_eq!(keys(&problems), ["branches"]);
}

#[test]
fn tags_take_a_bool_or_globs_and_events_name_kinds() {
    let spec = |extra: &str| repo(&format!("{BASE}{extra}")).unwrap().spec;
    assert!(spec("").tags.is_empty());
    assert!(spec("tags = true\n").tracks_tag("refs/tags/anything"));
    assert!(!spec("tags = false\n").tracks_tag("refs/tags/v1"));
    let globs = spec("tags = [\"v*\", \"!v0.*\"]\n");
    assert!(globs.tracks_tag("refs/tags/v1.2"));
    assert!(!globs.tracks_tag("refs/tags/v0.3"));
    assert_eq!(spec("").events, None);
    assert_eq!(
        spec("events = [\"push\", \"release\"]\n").events,
        Some(vec![EventName::Push, EventName::Release])
    );
}

#[test]
fn orgs_take_owner_template_and_repo_globs() {
    let good = "provider = \"github\"\nowner = \"acme\"\nsecret = \"s\"\nurl = \"https://github.com/{full_name}.git\"\nrepos = [\"*\", \"!archive-*\"]\ntags = [\"v*\"]\n";
    let org = org(good).unwrap();
    assert_eq!(
        (org.provider, org.owner.as_str()),
        (ProviderId::GitHub, "acme")
    );
    assert!(org.allows("api") && !org.allows("archive-old"));
    assert!(org.owns("acme") && org.owns("ACME") && org.owns("acme/sub"));
    assert!(!org.owns("acme-evil") && !org.owns("acm") && !org.owns("evil/acme"));
    assert!(org.repo.spec.tracks_tag("refs/tags/v1"));
    let bad = "provider = \"github\"\nsecret = \"\"\nurl = \"https://github.com/{repo}.git\"\nevents = [\"pushes\"]\nrepos = [\"[\"]\n";
    let problems = self::org(bad).unwrap_err();
    for want in ["owner", "secret", "url", "events", "repos"] {
        assert!(keys(&problems).contains(&want), "{want} in {problems:?}");
    }
}

#[test]
fn keys_of_the_other_section_are_refused_by_name() {
    let problems = repo(&format!("{BASE}owner = \"acme\"\n")).unwrap_err();
    assert_eq!(keys(&problems), ["owner"]);
    let problems = org("provider = \"github\"\nowner = \"acme\"\nurl = \"https://h/{name}.git\"\nname = \"x\"\npath = \"/srv\"\n").unwrap_err();
    assert_eq!(keys(&problems), ["name", "path"]);
}

#[test]
fn secrets_from_list_and_default() {
    let text =
        "name = \"a\"\nprovider = \"github\"\nurl = \"file:///a\"\nsecret = [\"one\", \"two\"]\n";
    let listed = section(text).into_repo(Some("fallback")).unwrap();
    assert_eq!(listed.secrets.len(), 2);
    let text = "name = \"b\"\nprovider = \"gitlab\"\nurl = \"file:///b\"\n";
    let defaulted = section(text).into_repo(Some("fallback")).unwrap();
    assert_eq!(defaulted.secrets[0].expose(), b"fallback");
    // Quoted: `None` in the debug text contains the letters "one" too.
    assert!(!format!("{listed:?}").contains("\"one\""));
    let problems = section(text).into_repo(Some("")).unwrap_err();
    assert_eq!(keys(&problems), ["secret"]);
    assert!(
        problems[0].message.contains("WEBHOOK_SECRET"),
        "{problems:?}"
    );
}
