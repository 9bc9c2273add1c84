//! The event kinds a repo can make jobs from, as its `events` setting names them.
//!
//! ```
//! use pipeline::EventName;
//! use webhook_core::EventKind;
//!
//! let name: EventName = "tag_push".parse().expect("a known kind");
//! assert_eq!(EventName::of(&EventKind::TagPush), Some(name));
//! assert!("issues".parse::<EventName>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use webhook_core::EventKind;

/// An event kind that can make jobs (names as webhook-core's [`EventKind`] serializes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventName {
    /// Commits pushed to a branch, or a branch created or deleted.
    Push,
    /// A tag pushed, moved or deleted.
    TagPush,
    /// A pull/merge request opened, updated, closed or merged.
    PullRequest,
    /// A release published.
    Release,
}

impl EventName {
    /// Every kind, in the order the docs list them.
    pub const ALL: [EventName; 4] = [
        EventName::Push,
        EventName::TagPush,
        EventName::PullRequest,
        EventName::Release,
    ];

    /// The name used in the config and in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Push => "push",
            EventName::TagPush => "tag_push",
            EventName::PullRequest => "pull_request",
            EventName::Release => "release",
        }
    }

    /// The kind of `kind`, or `None` for a ping or an event that never makes jobs.
    pub fn of(kind: &EventKind) -> Option<EventName> {
        match kind {
            EventKind::Push => Some(EventName::Push),
            EventKind::TagPush => Some(EventName::TagPush),
            EventKind::PullRequest(_) => Some(EventName::PullRequest),
            EventKind::Release => Some(EventName::Release),
            EventKind::Ping | EventKind::Other(_) => None,
        }
    }

    /// `push, tag_push, pull_request, release`: for messages.
    pub fn names() -> String {
        EventName::ALL.map(EventName::as_str).join(", ")
    }
}

impl fmt::Display for EventName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name in `events` that is not an event kind that makes jobs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an event kind: use one of push, tag_push, pull_request, release")]
pub struct UnknownEventName(pub String);

impl FromStr for EventName {
    type Err = UnknownEventName;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        EventName::ALL
            .into_iter()
            .find(|name| name.as_str() == text)
            .ok_or_else(|| UnknownEventName(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_named() {
        for name in EventName::ALL {
            assert_eq!(name.as_str().parse::<EventName>(), Ok(name));
        }
        let error = "Push".parse::<EventName>().unwrap_err();
        assert!(error.to_string().contains("`Push`"), "{error}");
    }
}
