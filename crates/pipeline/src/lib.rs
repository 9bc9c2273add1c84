//! From webhook events to searchable code: which jobs an event asks for, where a job's tree
//! comes from, and the runner that takes a job from claimed to searchable.
//!
//! * [`plan`]: [`plan_jobs`] turns a verified [`webhook_core::Event`] into
//!   [`jobstore::NewJob`]s for one repo's settings ([`RepoSpec`]), validating every ref name
//!   and commit id on the way, or says why it asks for none ([`Rejection`]).
//! * [`BranchFilter`]: globs (`release/*`, `v*`) and exclusions (`!wip/*`) of a repo's
//!   `branches` and `tags`; [`EventName`]: the kinds a repo's `events` lists.
//! * [`reconcile`]: heals missed webhooks by comparing remote heads with indexed commits
//!   ([`plan_reconcile`], [`reconcile_repo`]).
//! * [`source`]: the [`RepoSource`] trait with a git mirror source (`git/`: ref names and ids,
//!   the command runner with timeouts, `LC_ALL=C` and redaction, remote credentials passed
//!   per command, mirrors, worktrees) and a local-path source; failures are [`SourceError`]
//!   kinds that say whether a retry can help. A git job always fetches its ref and indexes
//!   the ref's tip: a job's commit is a hint, so a late delivery never rolls the index back.
//!   A [`GitObserver`] sees every git command's verb, duration and failure kind.
//! * [`repo_config`]: the `[[repos]]` and `[[orgs]]` config sections ([`RepoSection`]), checked
//!   into a [`RepoConfig`] (a [`RepoSpec`] plus provider and secrets) or an [`OrgConfig`].
//! * [`discovered`]: repos found through org hooks, their names and their saved list, and
//!   [`Repos`], the one lookup of configured and discovered repos.
//! * [`deliveries`]: what the delivery log records of a webhook delivery ([`deliveries::DeliveryNote`])
//!   and its `[deliveries]` config section.
//! * [`intake`]: a delivery verified with a repo's secrets, parsed with the options its path
//!   globs need, and its plan enqueued ([`intake::enqueue_plan`]).
//! * [`data_dir`]: the owner-only data dir (umask `077`, the dir made or tightened to `0700`).
//! * [`manual_index_job`] and [`sample_ref`]: the ref a job or a sample asked for by hand is
//!   about ([`RefChoiceError`] says why none); [`sample_event`]: a test delivery built, signed,
//!   verified and parsed as a real one would be; [`test_delivery`]: the same from what the
//!   management API's query asked ([`TestAsk`]).
//! * [`local_index`]: one run over a local tree outside any job (`context-gateway index`):
//!   the tree, name and ref it goes under ([`LocalTarget`]) and its report ([`LocalRun`]).
//! * [`background`]: the gateway's tasks: workers, start-up catch-up jobs, the periodic
//!   reconcile and the hourly cleanup, reporting to a [`BackgroundObserver`].
//! * [`runner`]: the [`Runner`] claims jobs from a [`jobstore::JobStore`], prepares their
//!   trees, runs the [`indexer`] into an [`indexer::IndexSink`] on the blocking pool, and
//!   records each attempt's [`Outcome`].
//!
//! ```
//! use jobstore::{JobKind, Trigger};
//! use pipeline::{RepoLocation, RepoSpec, plan_jobs};
//! use webhook_core::{Delivery, Headers, Provider as _, ProviderId, Registry};
//!
//! let repo = RepoSpec::new("demo", RepoLocation::Url("https://git.example/demo.git".into()));
//! let body = br#"{"ref":"refs/heads/main","before":"0000000000000000000000000000000000000000",
//!     "after":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","repository":{"full_name":"o/demo"}}"#;
//! let headers: Headers = [("X-GitHub-Event", &b"push"[..])].into_iter().collect();
//! let event = Registry::with_builtins()
//!     .get(ProviderId::GitHub)
//!     .expect("built in")
//!     .parse(&Delivery { headers: &headers, body })?;
//! let jobs = plan_jobs(&repo, &event, Trigger::Webhook).expect("main is tracked");
//! assert_eq!(jobs.len(), 1);
//! assert_eq!(jobs[0].kind, JobKind::Index);
//! assert_eq!(jobs[0].commit.as_deref(), Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
//! # Ok::<(), webhook_core::Error>(())
//! ```
//!
//! Architecture invariants: nothing here knows HTTP or JSON shapes of an API; of the config
//! file it knows only the serde shape of its own sections (the binary reads the file, reports
//! line numbers and maps [`JobError`]s to what it shows); nothing from a payload reaches git before [`plan_jobs`] and the source
//! validated it; blocking work (the indexer, the sink, manifest reads, tree removal) never
//! runs on a tokio worker thread.

#![deny(missing_docs)]

pub mod background;
pub mod data_dir;
pub mod deliveries;
pub mod discovered;
mod events;
pub mod intake;
pub mod local_index;
mod manual;
mod observer;
pub mod plan;
pub mod reconcile;
mod redact;
mod ref_filter;
mod repo;
pub mod repo_config;
pub mod runner;
mod shutdown;
pub mod source;

pub use background::{Background, BackgroundObserver};
pub use discovered::{DiscoverError, Discovered, DiscoveredRepo, Repos};
pub use events::{EventName, UnknownEventName};
pub use local_index::{LocalRun, LocalTarget, TargetError};
pub use manual::{
    NotRetryable, RefChoiceError, SampleError, SampleRequest, TestAsk, TestDeliveryError,
    manual_index_job, retry_job, sample_event, sample_ref, test_delivery,
};
pub use observer::{GitObserver, NoGitObserver};
pub use plan::{Rejection, plan_jobs};
pub use reconcile::{MissedRef, ReconcileError, enqueue_rescan, plan_reconcile, reconcile_repo};
pub use redact::{redact_text, redact_url};
pub use ref_filter::{BranchFilter, BranchGlobError, is_literal_branch};
pub use repo::{RepoLocation, RepoSpec};
pub use repo_config::{
    FieldProblem, OrgConfig, RepoConfig, RepoSection, valid_owner, valid_repo_name,
};
pub use runner::{
    JobError, Outcome, RepoLookup, Runner, clean_up_until_shutdown, enqueue_catch_up,
    to_job_progress,
};
pub use shutdown::{Shutdown, stop_requested};
pub use source::git::refname::{full_ref, is_zero_id, valid_object_id, valid_ref_name};
pub use source::{
    GitSource, LocalSource, PreparedTree, RepoSource, SourceError, Sources, TreeRequest,
};
