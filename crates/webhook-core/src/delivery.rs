//! What a provider is handed: one [`Delivery`], the [`VerifyOptions`] and [`ParseOptions`]
//! in force, and what it answers on a successful verification, [`Verified`].

use std::time::{Duration, SystemTime};

use crate::headers::Headers;

/// One delivery as received: headers and the raw body bytes.
#[derive(Debug, Clone, Copy)]
pub struct Delivery<'a> {
    /// Request headers.
    pub headers: &'a Headers,
    /// The body exactly as received; signatures cover these bytes.
    pub body: &'a [u8],
}

/// Knobs of verification.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// The receiver's clock, for signed timestamps.
    pub now: SystemTime,
    /// How far a signed timestamp may lie from `now`, either way.
    pub timestamp_tolerance: Duration,
    /// Accept legacy HMAC-SHA1 signatures (GitHub `X-Hub-Signature: sha1=`).
    pub allow_sha1: bool,
}

impl Default for VerifyOptions {
    /// Now, 5 minutes, SHA-1 off.
    fn default() -> Self {
        Self {
            now: SystemTime::now(),
            timestamp_tolerance: Duration::from_secs(5 * 60),
            allow_sha1: false,
        }
    }
}

/// Knobs of parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Fill [`Event::changed_paths`](crate::Event::changed_paths) from the commit file lists
    /// (GitHub, Gitea, GitLab). A receiver that diffs with git itself can turn this off: the
    /// lists are then skipped unread, which makes a push's parse markedly cheaper, and
    /// `changed_paths` is empty and not complete.
    pub changed_paths: bool,
}

impl Default for ParseOptions {
    /// Everything parsed.
    fn default() -> Self {
        Self {
            changed_paths: true,
        }
    }
}

/// Which mechanism authenticated a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// An HMAC signature over the body.
    Signature,
    /// A shared token sent as is (GitLab `X-Gitlab-Token`).
    Token,
    /// HTTP Basic credentials (Azure DevOps).
    BasicAuth,
}
