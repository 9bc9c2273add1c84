//! The event → jobs policy: which refs of a repo an event asks to index or drop.

use jobstore::{JobKind, NewJob, Trigger};
use webhook_core::{Event, EventKind, PullRequestAction};

use crate::events::EventName;
use crate::repo::{RepoLocation, RepoSpec};
use crate::source::git::refname::{is_zero_id, valid_object_id, valid_ref_name};

/// Why an event asks for no job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// Nothing to do, and nothing wrong: a ping, an untracked ref, a feature turned off.
    Ignored(String),
    /// The payload names something that cannot be a git ref or commit id.
    Invalid(String),
}

/// Which jobs an event asks for, given what the repo is configured to index.
///
/// An event of a kind the repo's `events` leaves out asks for nothing, and so does a push
/// whose changed paths the host lists completely when every one of them is outside the
/// repo's include/exclude globs (an ignore or attributes file always counts as inside). Every ref name and commit id is validated here, so nothing from a payload reaches git
/// unchecked. A `Trigger::Test` delivery carries made-up commit ids: its jobs index the
/// ref's tip. A local-path repo is indexed as it is on disk, so ids never apply to it.
pub fn plan_jobs(
    repo: &RepoSpec,
    event: &Event,
    trigger: Trigger,
) -> Result<Vec<NewJob>, Rejection> {
    // A local-path repo is indexed as it is on disk: a payload's commit ids say nothing about it.
    let ids_apply =
        !matches!(trigger, Trigger::Test) && matches!(repo.location, RepoLocation::Url(_));
    let new_job =
        |git_ref: &str, kind: JobKind, commit: Option<&str>, before: Option<&str>, index: usize| {
            NewJob {
                kind,
                // A test delivery carries made-up commit ids: index the branch tip instead.
                commit: commit.filter(|_| ids_apply).map(str::to_string),
                before: before.filter(|_| ids_apply).map(str::to_string),
                provider: Some(event.provider.to_string()),
                delivery_id: event.delivery_id.clone(),
                dedupe_key: event.dedupe_key.as_ref().map(|key| {
                    if index == 0 {
                        key.clone()
                    } else {
                        format!("{key}#{index}")
                    }
                }),
                ..NewJob::index(repo.name.clone(), git_ref, trigger)
            }
        };
    let check_id = |id: Option<&str>, what: &str| -> Result<Option<String>, Rejection> {
        match id {
            None => Ok(None),
            Some(id) if is_zero_id(id) => Ok(None),
            Some(id) if valid_object_id(id) => Ok(Some(id.to_string())),
            Some(_) => Err(Rejection::Invalid(format!(
                "`{what}` is not a full commit id"
            ))),
        }
    };
    if let Some(name) = EventName::of(&event.kind) {
        if !repo.takes_event(name) {
            return Err(Rejection::Ignored(format!(
                "`{name}` events are not in this repo's `events`"
            )));
        }
    }
    let mut jobs = Vec::new();
    match &event.kind {
        EventKind::Ping => return Err(Rejection::Ignored("ping".into())),
        EventKind::Other(name) => {
            return Err(Rejection::Ignored(format!(
                "`{name}` events are not indexed"
            )));
        }
        EventKind::Push | EventKind::TagPush => {
            for update in &event.updates {
                if !valid_ref_name(&update.git_ref) {
                    return Err(Rejection::Invalid(
                        "the pushed ref is not a valid git ref name".into(),
                    ));
                }
                // An annotated tag's `after` is the tag object: index the commit it names.
                let after = check_id(
                    update.peeled.as_deref().or(update.after.as_deref()),
                    "after",
                )?;
                let before = check_id(update.before.as_deref(), "before")?;
                let wanted =
                    repo.tracks_branch(&update.git_ref) || repo.tracks_tag(&update.git_ref);
                if !wanted {
                    continue;
                }
                let index = jobs.len();
                if update.deleted {
                    jobs.push(new_job(
                        &update.git_ref,
                        JobKind::DeleteRef,
                        None,
                        None,
                        index,
                    ));
                } else {
                    jobs.push(new_job(
                        &update.git_ref,
                        JobKind::Index,
                        after.as_deref(),
                        before.as_deref(),
                        index,
                    ));
                }
            }
            if jobs.is_empty() {
                let refs: Vec<&str> = event.updates.iter().map(|u| u.git_ref.as_str()).collect();
                return Err(Rejection::Ignored(format!(
                    "ref {} is not configured for indexing",
                    refs.join(", ")
                )));
            }
            if let Some(reason) = paths_all_outside(repo, event, &jobs) {
                return Err(Rejection::Ignored(reason));
            }
        }
        EventKind::Release => {
            if !repo.indexes_tags() {
                return Err(Rejection::Ignored(
                    "tags are not indexed for this repo (tags = false)".into(),
                ));
            }
            let Some(tag) = &event.release_tag else {
                return Err(Rejection::Ignored("release without a tag".into()));
            };
            let git_ref = format!("refs/tags/{tag}");
            if !valid_ref_name(&git_ref) {
                return Err(Rejection::Invalid(
                    "the release tag is not a valid git ref name".into(),
                ));
            }
            if !repo.tracks_tag(&git_ref) {
                return Err(Rejection::Ignored(format!(
                    "ref {git_ref} is not configured for indexing"
                )));
            }
            // The commit the release names is a hint; the job indexes the tag's peeled tip.
            let commit = event
                .release_commit
                .as_deref()
                .filter(|id| valid_object_id(id) && !is_zero_id(id));
            jobs.push(new_job(&git_ref, JobKind::Index, commit, None, 0));
        }
        EventKind::PullRequest(action) => {
            if !repo.pull_requests {
                return Err(Rejection::Ignored(
                    "pull requests are not indexed for this repo (pull_requests = false)".into(),
                ));
            }
            let Some(pr) = &event.pull_request else {
                return Err(Rejection::Invalid(
                    "pull request event without a pull request".into(),
                ));
            };
            let pr_ref = match pr.fetchable() {
                Ok(pr_ref) => pr_ref,
                Err(why) => {
                    return Err(Rejection::Ignored(format!(
                        "pull request {} cannot be indexed: {why}",
                        pr.number
                    )));
                }
            };
            let git_ref = pr_ref.index_ref.as_str();
            if !valid_ref_name(git_ref) || !valid_ref_name(&pr_ref.fetch_ref) {
                return Err(Rejection::Invalid(
                    "the pull request head ref is not a valid git ref name".into(),
                ));
            }
            // A ref fetched under another name (Bitbucket Cloud: the source branch, kept and
            // indexed as `refs/pull-requests/N/from`). A local-path repo has nothing to fetch.
            let fetch_ref = (pr_ref.fetch_ref != pr_ref.index_ref
                && matches!(repo.location, RepoLocation::Url(_)))
            .then(|| pr_ref.fetch_ref.clone());
            let head = check_id(pr_ref.commit.as_deref(), "head sha")?;
            match action {
                PullRequestAction::Opened
                | PullRequestAction::Synchronize
                | PullRequestAction::Reopened => {
                    let mut job = new_job(git_ref, JobKind::Index, head.as_deref(), None, 0);
                    job.fetch_ref = fetch_ref;
                    jobs.push(job);
                }
                PullRequestAction::Closed | PullRequestAction::Merged => {
                    jobs.push(new_job(git_ref, JobKind::DeleteRef, None, None, 0));
                }
                PullRequestAction::Other(name) => {
                    return Err(Rejection::Ignored(format!(
                        "pull request action `{name}` changes no code"
                    )));
                }
            }
        }
    }
    Ok(jobs)
}

/// The reason to ignore a branch push whose every changed path is outside the repo's
/// include/exclude globs, or `None` when the push may change what is indexed: no globs set,
/// the host's path lists are not complete, or a job drops a ref.
fn paths_all_outside(repo: &RepoSpec, event: &Event, jobs: &[NewJob]) -> Option<String> {
    let paths = &event.changed_paths;
    if (repo.include.is_empty() && repo.exclude.is_empty())
        || !paths.complete
        || !matches!(event.kind, EventKind::Push)
        || jobs.iter().any(|job| job.kind != JobKind::Index)
    {
        return None;
    }
    let all = paths
        .added
        .iter()
        .chain(&paths.modified)
        .chain(&paths.removed)
        .map(String::as_str);
    if repo.any_path_matters(all.clone()) {
        return None;
    }
    Some(format!(
        "all {} changed path(s) are outside this repo's include/exclude globs",
        all.count()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use webhook_core::{
        ChangedPaths, ProviderId, PullRequest, PullRequestFetch, PullRequestRef,
        PullRequestRefKind, RefUpdate, Unfetchable,
    };

    const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const PR: &str = "refs/pull/7/head";
    const ZERO: &str = "0000000000000000000000000000000000000000";

    /// A repo option set: which branches, tags, pull requests, and url or path.
    #[derive(Clone, Copy)]
    struct Options {
        branches: &'static [&'static str],
        tags: &'static [&'static str],
        pull_requests: bool,
        url: bool,
        events: Option<&'static [EventName]>,
        include: &'static [&'static str],
        exclude: &'static [&'static str],
    }

    const DEFAULT: Options = Options {
        branches: &["main"],
        tags: &[],
        pull_requests: false,
        url: true,
        events: None,
        include: &[],
        exclude: &[],
    };
    const ALL: Options = Options {
        branches: &["*"],
        tags: &["*"],
        pull_requests: true,
        url: true,
        events: None,
        include: &[],
        exclude: &[],
    };
    const VERSIONS: Options = Options {
        tags: &["v*", "!v0.*"],
        ..ALL
    };
    const PUSH_ONLY: Options = Options {
        events: Some(&[EventName::Push]),
        ..ALL
    };
    const SOURCES: Options = Options {
        include: &["src/**"],
        exclude: &["src/generated/**"],
        ..ALL
    };
    const LOCAL: Options = Options { url: false, ..ALL };
    const RELEASES: Options = Options {
        branches: &["main", "release/*", "!release/old*"],
        ..DEFAULT
    };

    fn repo(options: Options) -> RepoSpec {
        let location = if options.url {
            RepoLocation::Url("https://example.invalid/r.git".into())
        } else {
            RepoLocation::Path("/srv/r".into())
        };
        RepoSpec {
            branches: strings(options.branches),
            pull_requests: options.pull_requests,
            tags: strings(options.tags),
            include: strings(options.include),
            exclude: strings(options.exclude),
            events: options.events.map(<[EventName]>::to_vec),
            ..RepoSpec::new("r", location)
        }
    }

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// A branch push whose host lists `paths` as the complete change.
    fn push_changing(paths: &[&str], complete: bool) -> Event {
        let mut event = push(EventKind::Push, &[("refs/heads/main", A, B)]);
        event.changed_paths = ChangedPaths {
            added: Vec::new(),
            modified: strings(paths),
            removed: Vec::new(),
            complete,
        };
        event
    }

    fn event(kind: EventKind) -> Event {
        Event {
            delivery_id: Some("d1".into()),
            dedupe_key: Some("github:d1".into()),
            ..Event::new(ProviderId::GitHub, kind)
        }
    }

    fn update(git_ref: &str, before: &str, after: &str) -> RefUpdate {
        RefUpdate {
            git_ref: git_ref.into(),
            before: Some(before.into()),
            after: Some(after.into()),
            peeled: None,
            created: before == ZERO,
            deleted: after == ZERO,
            forced: false,
        }
    }

    fn push(kind: EventKind, updates: &[(&str, &str, &str)]) -> Event {
        let mut event = event(kind);
        event.updates = updates
            .iter()
            .map(|(r, before, after)| update(r, before, after))
            .collect();
        event
    }

    fn pull_request(action: PullRequestAction, head_git_ref: Option<&str>, sha: &str) -> Event {
        let mut event = event(EventKind::PullRequest(action));
        event.pull_request = Some(PullRequest {
            number: 7,
            head_sha: Some(sha.into()),
            head_ref: Some("feature".into()),
            base_ref: Some("main".into()),
            fetch: match head_git_ref {
                Some(git_ref) => PullRequestFetch::Fetchable(PullRequestRef {
                    fetch_ref: git_ref.to_string(),
                    index_ref: git_ref.to_string(),
                    kind: PullRequestRefKind::Head,
                    commit: Some(sha.into()),
                }),
                None => PullRequestFetch::Unfetchable(Unfetchable::SourceUnknown),
            },
        });
        event
    }

    fn release(tag: Option<&str>) -> Event {
        let mut event = event(EventKind::Release);
        event.release_tag = tag.map(str::to_string);
        event
    }

    /// A planned job as the table writes it: (ref, kind, commit, before).
    type Planned = (
        &'static str,
        JobKind,
        Option<&'static str>,
        Option<&'static str>,
    );

    enum Expect {
        Jobs(&'static [Planned]),
        /// Ignored, with a reason containing this text.
        Ignored(&'static str),
        /// Invalid, with a message containing this text.
        Invalid(&'static str),
    }

    use JobKind::{DeleteRef, Index};

    #[test]
    fn every_event_kind_against_every_option() {
        let cases: Vec<(&str, Options, Event, Trigger, Expect)> = vec![
            (
                "ping",
                ALL,
                event(EventKind::Ping),
                Trigger::Webhook,
                Expect::Ignored("ping"),
            ),
            (
                "other event",
                ALL,
                event(EventKind::Other("issues".into())),
                Trigger::Webhook,
                Expect::Ignored("`issues` events are not indexed"),
            ),
            // Branch pushes.
            (
                "push to a tracked branch",
                DEFAULT,
                push(EventKind::Push, &[("refs/heads/main", A, B)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, Some(B), Some(A))]),
            ),
            (
                "push to an untracked branch",
                DEFAULT,
                push(EventKind::Push, &[("refs/heads/dev", A, B)]),
                Trigger::Webhook,
                Expect::Ignored("ref refs/heads/dev is not configured"),
            ),
            (
                "push to a branch matching a glob",
                RELEASES,
                push(EventKind::Push, &[("refs/heads/release/2.0", A, B)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/release/2.0", Index, Some(B), Some(A))]),
            ),
            (
                "push to a branch the glob does not cover",
                RELEASES,
                push(EventKind::Push, &[("refs/heads/feature/x", A, B)]),
                Trigger::Webhook,
                Expect::Ignored("ref refs/heads/feature/x is not configured"),
            ),
            (
                "push to an excluded branch",
                RELEASES,
                push(EventKind::Push, &[("refs/heads/release/old-1", A, B)]),
                Trigger::Webhook,
                Expect::Ignored("ref refs/heads/release/old-1 is not configured"),
            ),
            (
                "deleting a branch matching a glob",
                RELEASES,
                push(EventKind::Push, &[("refs/heads/release/2.0", A, ZERO)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/release/2.0", DeleteRef, None, None)]),
            ),
            (
                "push with branches = *",
                ALL,
                push(EventKind::Push, &[("refs/heads/dev", A, B)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/dev", Index, Some(B), Some(A))]),
            ),
            (
                "branch created",
                DEFAULT,
                push(EventKind::Push, &[("refs/heads/main", ZERO, B)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, Some(B), None)]),
            ),
            (
                "branch deleted",
                DEFAULT,
                push(EventKind::Push, &[("refs/heads/main", A, ZERO)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", DeleteRef, None, None)]),
            ),
            (
                "push of several refs, one tracked",
                DEFAULT,
                push(
                    EventKind::Push,
                    &[("refs/heads/dev", A, B), ("refs/heads/main", B, A)],
                ),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, Some(A), Some(B))]),
            ),
            (
                "push to a path repo: ids do not apply",
                LOCAL,
                push(EventKind::Push, &[("refs/heads/main", A, B)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, None, None)]),
            ),
            (
                "test delivery: the tip, not the made-up ids",
                DEFAULT,
                push(EventKind::Push, &[("refs/heads/main", A, B)]),
                Trigger::Test,
                Expect::Jobs(&[("refs/heads/main", Index, None, None)]),
            ),
            (
                "push with an invalid ref name",
                ALL,
                push(EventKind::Push, &[("refs/heads/a..b", A, B)]),
                Trigger::Webhook,
                Expect::Invalid("not a valid git ref name"),
            ),
            (
                "push with an option-like ref",
                ALL,
                push(EventKind::Push, &[("--upload-pack=x", A, B)]),
                Trigger::Webhook,
                Expect::Invalid("not a valid git ref name"),
            ),
            (
                "push with a short after id",
                ALL,
                push(EventKind::Push, &[("refs/heads/main", A, "abc123")]),
                Trigger::Webhook,
                Expect::Invalid("`after` is not a full commit id"),
            ),
            (
                "push with an uppercase before id",
                ALL,
                push(EventKind::Push, &[("refs/heads/main", &"A".repeat(40), B)]),
                Trigger::Webhook,
                Expect::Invalid("`before` is not a full commit id"),
            ),
            // Tag pushes.
            (
                "tag push, tags off",
                DEFAULT,
                push(EventKind::TagPush, &[("refs/tags/v1", ZERO, B)]),
                Trigger::Webhook,
                Expect::Ignored("ref refs/tags/v1 is not configured"),
            ),
            (
                "tag push, tags on",
                ALL,
                push(EventKind::TagPush, &[("refs/tags/v1", ZERO, B)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/tags/v1", Index, Some(B), None)]),
            ),
            (
                "tag deleted, tags on",
                ALL,
                push(EventKind::TagPush, &[("refs/tags/v1", B, ZERO)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/tags/v1", DeleteRef, None, None)]),
            ),
            (
                "tag push matching a glob",
                VERSIONS,
                push(EventKind::TagPush, &[("refs/tags/v1.2", ZERO, B)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/tags/v1.2", Index, Some(B), None)]),
            ),
            (
                "tag push excluded by `!v0.*`",
                VERSIONS,
                push(EventKind::TagPush, &[("refs/tags/v0.9", ZERO, B)]),
                Trigger::Webhook,
                Expect::Ignored("ref refs/tags/v0.9 is not configured"),
            ),
            (
                "tag push the globs do not cover",
                VERSIONS,
                push(EventKind::TagPush, &[("refs/tags/nightly", ZERO, B)]),
                Trigger::Webhook,
                Expect::Ignored("ref refs/tags/nightly is not configured"),
            ),
            // The `events` list.
            (
                "push, events = [push]",
                PUSH_ONLY,
                push(EventKind::Push, &[("refs/heads/main", A, B)]),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, Some(B), Some(A))]),
            ),
            (
                "tag push, events = [push]",
                PUSH_ONLY,
                push(EventKind::TagPush, &[("refs/tags/v1", ZERO, B)]),
                Trigger::Webhook,
                Expect::Ignored("`tag_push` events are not in this repo's `events`"),
            ),
            (
                "pull request, events = [push]",
                PUSH_ONLY,
                pull_request(PullRequestAction::Opened, Some(PR), A),
                Trigger::Webhook,
                Expect::Ignored("`pull_request` events are not in this repo's `events`"),
            ),
            (
                "release, events = [push]",
                PUSH_ONLY,
                release(Some("v1")),
                Trigger::Webhook,
                Expect::Ignored("`release` events are not in this repo's `events`"),
            ),
            (
                "ping, events = [push]",
                PUSH_ONLY,
                event(EventKind::Ping),
                Trigger::Webhook,
                Expect::Ignored("ping"),
            ),
            // Changed paths against include/exclude.
            (
                "push changing only paths outside the globs",
                SOURCES,
                push_changing(&["docs/a.md", "src/generated/x.rs"], true),
                Trigger::Webhook,
                Expect::Ignored("all 2 changed path(s) are outside"),
            ),
            (
                "push changing one included path",
                SOURCES,
                push_changing(&["docs/a.md", "src/lib.rs"], true),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, Some(B), Some(A))]),
            ),
            (
                "push changing an ignore file outside the globs",
                SOURCES,
                push_changing(&["docs/a.md", ".gitignore"], true),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, Some(B), Some(A))]),
            ),
            (
                "push whose path lists are not complete",
                SOURCES,
                push_changing(&["docs/a.md"], false),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, Some(B), Some(A))]),
            ),
            (
                "push outside the globs of a repo without globs",
                ALL,
                push_changing(&["docs/a.md"], true),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/heads/main", Index, Some(B), Some(A))]),
            ),
            // Releases.
            (
                "release of an excluded tag",
                VERSIONS,
                release(Some("v0.1")),
                Trigger::Webhook,
                Expect::Ignored("ref refs/tags/v0.1 is not configured"),
            ),
            (
                "release, tags off",
                DEFAULT,
                release(Some("v1")),
                Trigger::Webhook,
                Expect::Ignored("tags = false"),
            ),
            (
                "release, tags on",
                ALL,
                release(Some("v1")),
                Trigger::Webhook,
                Expect::Jobs(&[("refs/tags/v1", Index, None, None)]),
            ),
            (
                "release without a tag",
                ALL,
                release(None),
                Trigger::Webhook,
                Expect::Ignored("release without a tag"),
            ),
            (
                "release with an invalid tag",
                ALL,
                release(Some("v1..2")),
                Trigger::Webhook,
                Expect::Invalid("release tag is not a valid git ref name"),
            ),
            // Pull requests.
            (
                "pull request, pull_requests off",
                DEFAULT,
                pull_request(PullRequestAction::Opened, Some(PR), A),
                Trigger::Webhook,
                Expect::Ignored("pull_requests = false"),
            ),
            (
                "pull request opened",
                ALL,
                pull_request(PullRequestAction::Opened, Some(PR), A),
                Trigger::Webhook,
                Expect::Jobs(&[(PR, Index, Some(A), None)]),
            ),
            (
                "pull request synchronized",
                ALL,
                pull_request(PullRequestAction::Synchronize, Some(PR), B),
                Trigger::Webhook,
                Expect::Jobs(&[(PR, Index, Some(B), None)]),
            ),
            (
                "pull request reopened",
                ALL,
                pull_request(PullRequestAction::Reopened, Some(PR), A),
                Trigger::Webhook,
                Expect::Jobs(&[(PR, Index, Some(A), None)]),
            ),
            (
                "pull request closed",
                ALL,
                pull_request(PullRequestAction::Closed, Some(PR), A),
                Trigger::Webhook,
                Expect::Jobs(&[(PR, DeleteRef, None, None)]),
            ),
            (
                "pull request merged",
                ALL,
                pull_request(PullRequestAction::Merged, Some(PR), A),
                Trigger::Webhook,
                Expect::Jobs(&[(PR, DeleteRef, None, None)]),
            ),
            (
                "pull request labelled",
                ALL,
                pull_request(PullRequestAction::Other("labeled".into()), Some(PR), A),
                Trigger::Webhook,
                Expect::Ignored("action `labeled` changes no code"),
            ),
            (
                "pull request opened, path repo",
                LOCAL,
                pull_request(PullRequestAction::Opened, Some(PR), A),
                Trigger::Webhook,
                Expect::Jobs(&[(PR, Index, None, None)]),
            ),
            (
                "pull request opened, test delivery",
                ALL,
                pull_request(PullRequestAction::Opened, Some(PR), A),
                Trigger::Test,
                Expect::Jobs(&[(PR, Index, None, None)]),
            ),
            (
                "pull request without a fetchable head",
                ALL,
                pull_request(PullRequestAction::Opened, None, A),
                Trigger::Webhook,
                Expect::Ignored("does not name the source branch"),
            ),
            (
                "pull request with an invalid head ref",
                ALL,
                pull_request(PullRequestAction::Opened, Some("refs/pull/7/head~1"), A),
                Trigger::Webhook,
                Expect::Invalid("head ref is not a valid git ref name"),
            ),
            (
                "pull request with a bad head sha",
                ALL,
                pull_request(PullRequestAction::Opened, Some(PR), "not-a-sha"),
                Trigger::Webhook,
                Expect::Invalid("`head sha` is not a full commit id"),
            ),
            (
                "pull request event without a pull request",
                ALL,
                event(EventKind::PullRequest(PullRequestAction::Opened)),
                Trigger::Webhook,
                Expect::Invalid("without a pull request"),
            ),
        ];
        for (name, options, event, trigger, expect) in cases {
            let planned = plan_jobs(&repo(options), &event, trigger);
            match (expect, planned) {
                (Expect::Jobs(want), Ok(jobs)) => {
                    let owned = |s: Option<&str>| s.map(str::to_string);
                    let want: Vec<_> = want
                        .iter()
                        .map(|(r, kind, commit, before)| {
                            (r.to_string(), *kind, owned(*commit), owned(*before))
                        })
                        .collect();
                    let got: Vec<_> = jobs
                        .iter()
                        .map(|job| {
                            assert_eq!(job.repo, "r", "{name}");
                            assert_eq!(job.trigger, trigger, "{name}");
                            assert_eq!(job.provider.as_deref(), Some("github"), "{name}");
                            let (commit, before) = (job.commit.clone(), job.before.clone());
                            (job.git_ref.clone(), job.kind, commit, before)
                        })
                        .collect();
                    assert_eq!(got, want, "{name}");
                }
                (Expect::Ignored(text), Err(Rejection::Ignored(reason))) => {
                    assert!(reason.contains(text), "{name}: {reason}");
                }
                (Expect::Invalid(text), Err(Rejection::Invalid(message))) => {
                    assert!(message.contains(text), "{name}: {message}");
                }
                (_, got) => panic!("{name}: unexpected plan {got:?}"),
            }
        }
    }

    /// A delivery that plans several jobs gives each its own dedupe key, so a redelivery is
    /// recognised job by job and no two jobs share a key.
    #[test]
    fn several_jobs_of_one_delivery_get_distinct_dedupe_keys() {
        let event = push(
            EventKind::Push,
            &[("refs/heads/main", A, B), ("refs/heads/dev", A, B)],
        );
        let jobs = plan_jobs(&repo(ALL), &event, Trigger::Webhook).expect("two jobs");
        let keys: Vec<_> = jobs.iter().map(|j| j.dedupe_key.as_deref()).collect();
        assert_eq!(keys, [Some("github:d1"), Some("github:d1#1")]);
        assert!(jobs.iter().all(|j| j.delivery_id.as_deref() == Some("d1")));
    }

    /// A pull request whose code is fetched from another ref (Bitbucket Cloud's source
    /// branch) becomes a job that fetches that ref and indexes it under the pull request's
    /// name; closing it drops that name. A release names its commit as the job's hint.
    #[test]
    fn refs_fetched_under_another_name_and_release_commits() {
        let mut event = pull_request(PullRequestAction::Opened, Some(PR), A);
        let from = "refs/pull-requests/7/from";
        if let Some(pr) = event.pull_request.as_mut() {
            pr.fetch = PullRequestFetch::Fetchable(PullRequestRef {
                fetch_ref: "refs/heads/feature".into(),
                index_ref: from.into(),
                kind: PullRequestRefKind::SourceBranch,
                commit: None,
            });
        }
        let jobs = plan_jobs(&repo(ALL), &event, Trigger::Webhook).expect("a job");
        let got: Vec<_> = jobs
            .iter()
            .map(|j| {
                (
                    j.git_ref.as_str(),
                    j.fetch_ref.as_deref(),
                    j.kind,
                    j.commit.as_deref(),
                )
            })
            .collect();
        assert_eq!(got, [(from, Some("refs/heads/feature"), Index, None)]);
        // A path repo has nothing to fetch: the name alone.
        let jobs = plan_jobs(&repo(LOCAL), &event, Trigger::Webhook).expect("a job");
        assert_eq!(jobs[0].fetch_ref, None);

        event.kind = EventKind::PullRequest(PullRequestAction::Closed);
        let jobs = plan_jobs(&repo(ALL), &event, Trigger::Webhook).expect("a job");
        let got: Vec<_> = jobs
            .iter()
            .map(|j| (j.git_ref.as_str(), j.fetch_ref.as_deref(), j.kind))
            .collect();
        assert_eq!(got, [(from, None, DeleteRef)]);

        let mut release = release(Some("v1"));
        release.release_commit = Some(B.into());
        let jobs = plan_jobs(&repo(ALL), &release, Trigger::Webhook).expect("a job");
        assert_eq!(jobs[0].commit.as_deref(), Some(B));
    }
}
