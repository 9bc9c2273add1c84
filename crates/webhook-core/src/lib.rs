//! Verify and normalize the webhooks of Git hosts: GitHub, GitLab, Gitea/Forgejo/Gogs,
//! Bitbucket Cloud and Server/Data Center, and Azure DevOps.
//!
//! Hand a [`Provider`] the headers and raw body of a delivery: [`Provider::verify`]
//! authenticates the bytes (HMAC signature, token or Basic credentials, every comparison
//! constant-time, any of several secrets), and [`Provider::parse`] turns the payload into
//! one [`Event`] shape whatever the host. The crate does no I/O and knows nothing of HTTP
//! servers or async runtimes, so it fits in any service.
//!
//! ```
//! use webhook_core::{Delivery, EventKind, Headers, ProviderId, Registry, Secret, Verified, VerifyOptions};
//!
//! let body = br#"{"ref":"refs/heads/main","before":"1111111111111111111111111111111111111111",
//!   "after":"2222222222222222222222222222222222222222","created":false,"deleted":false,
//!   "forced":false,"commits":[{"added":["src/new.rs"],"removed":[],"modified":["README.md"]}],
//!   "head_commit":{"id":"2222222222222222222222222222222222222222"},
//!   "repository":{"full_name":"acme/hello","name":"hello",
//!   "clone_url":"https://github.com/acme/hello.git","html_url":"https://github.com/acme/hello"}}"#;
//! let secret = Secret::new("s3cret")?;
//!
//! // What GitHub would send (the gateway's `sign` subcommand prints the same).
//! let mut headers: Headers = ProviderId::GitHub
//!     .sign(&secret, body, std::time::SystemTime::now())?
//!     .into_iter()
//!     .collect();
//! headers.insert("X-GitHub-Event", b"push");
//! headers.insert("X-GitHub-Delivery", b"72d3162e-cc78-11e3-81ab-4c9367dc0958");
//!
//! let registry = Registry::with_builtins();
//! let github = registry.get(ProviderId::GitHub).expect("built in");
//! let delivery = Delivery { headers: &headers, body };
//! let how = github.verify(&delivery, &[secret], &VerifyOptions::default())?;
//! assert_eq!(how, Verified::Signature);
//!
//! let event = github.parse(&delivery)?;
//! assert_eq!(event.kind, EventKind::Push);
//! assert_eq!(event.primary().unwrap().git_ref, "refs/heads/main");
//! assert_eq!(event.changed_paths.added, vec!["src/new.rs"]);
//! assert!(event.changed_paths.complete);
//! # Ok::<(), webhook_core::Error>(())
//! ```
//!
//! Changed paths are hints: providers truncate them (or never send them), and
//! [`ChangedPaths::complete`] says when a list can be trusted. The true change set comes
//! from git. A receiver that diffs with git anyway can skip the lists unread with
//! [`Provider::parse_with`] and [`ParseOptions`]`{ changed_paths: false }`, which halves
//! the parse of a typical push.

//!
//! # Which data is trusted
//!
//! A [`Secret`] is never empty, and a `whsec_` signing secret is only ever used as an HMAC
//! key (Standard Webhooks), never compared with a token a sender presents.
//!
//! [`Event::dedupe_key`] comes from signed data wherever a host signs any; a host that
//! signs only the body (which holds no delivery id) leaves the key to unsigned headers:
//!
//! | provider | dedupe key | signed? |
//! |---|---|---|
//! | gitlab, Standard Webhooks | `gitlab:<webhook-id>`; `Idempotency-Key` and `X-Gitlab-Event-UUID` are ignored | yes: the signature covers `webhook-id`, and the timestamp bounds a replay to the tolerance |
//! | gitlab, `X-Gitlab-Token` | `gitlab:<Idempotency-Key>`, else `gitlab:<X-Gitlab-Event-UUID>` | no: the token is the whole credential |
//! | github | `github:<X-GitHub-Hook-ID>:<X-GitHub-Delivery>` | no: only the body is signed |
//! | gitea | `gitea:<X-Forgejo/Gitea/Gogs-Delivery>` | no: only the body is signed |
//! | bitbucket | `bitbucket:<X-Hook-UUID>:<X-Request-UUID>` (Cloud), `bitbucket:<X-Request-Id>` (Server) | no: only the body is signed |
//! | azure-devops | `azure-devops:<subscriptionId>:<id>`, both from the body | no: Basic credentials authenticate the request, nothing is signed |
//!
//! Where the key is unsigned, a captured delivery replayed under a fresh id is accepted
//! again. It can only ask for the same ref once more: a receiver that indexes the ref's
//! real tip after fetching (as the gateway does) gains nothing from it and loses nothing.
//!
//! Commit ids in a payload are hints, never the truth: [`RefUpdate::peeled`],
//! [`Event::release_commit`] and [`PullRequestRef::commit`] hold full ids only, and are
//! `None` where the host sends a short id or none; the receiver resolves refs after a fetch.

#![deny(missing_docs)]

mod commits;
mod delivery;
mod error;
mod event;
mod headers;
mod json_path;
mod path_union;
mod payload;
mod provider;
mod provider_id;
mod providers;
mod redact;
pub mod sample;
mod secret;
mod signature;
mod signing;

pub use delivery::{Delivery, ParseOptions, Verified, VerifyOptions};
pub use error::Error;
pub use event::{
    ChangedPaths, Event, EventKind, PullRequest, PullRequestAction, PullRequestFetch,
    PullRequestRef, PullRequestRefKind, RefUpdate, Repository, Unfetchable,
};
pub use headers::Headers;
pub use provider::{Provider, Registry};
pub use provider_id::ProviderId;
pub use providers::{AzureDevOps, Bitbucket, GitHub, GitLab, Gitea};
pub use redact::{REDACTED, is_secret_header, redacted_headers};
pub use secret::Secret;
pub use signature::constant_time_eq;
