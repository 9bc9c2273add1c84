//! The label sets of the gateway's metric families. Every value is one of a fixed set of
//! names except `repo` and `ref`, which come from the config and the refs it tracks, so no
//! sender can grow a family by sending made-up values.

use prometheus_client::encoding::EncodeLabelSet;
use webhook_core::EventKind;

/// What became of one webhook delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Answered 202: a job was queued or the delivery was folded into a queued one.
    Accepted,
    /// Answered 200: the delivery key was seen before.
    Duplicate,
    /// Answered 200: nothing configured asks for this event.
    Ignored,
    /// Answered 4xx/5xx, with the cause (a stable code, see [`refusal_cause`]).
    Refused(&'static str),
}

/// `provider`, `event`, `outcome`, `cause` (empty unless refused).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub provider: &'static str,
    pub event: &'static str,
    pub outcome: &'static str,
    pub cause: &'static str,
}

impl DeliveryLabels {
    pub fn new(provider: &'static str, event: &'static str, outcome: DeliveryOutcome) -> Self {
        let (outcome, cause) = match outcome {
            DeliveryOutcome::Accepted => ("accepted", ""),
            DeliveryOutcome::Duplicate => ("duplicate", ""),
            DeliveryOutcome::Ignored => ("ignored", ""),
            DeliveryOutcome::Refused(cause) => ("refused", cause),
        };
        DeliveryLabels {
            provider,
            event,
            outcome,
            cause,
        }
    }
}

/// The `event` label of a parsed event; `unknown` is used before a delivery is verified, so an
/// unsigned request cannot choose a label value.
pub fn event_label(kind: &EventKind) -> &'static str {
    kind.label()
}

/// The refusal cause of an answer's error code, or `None` when the code is not a refusal
/// of a delivery. A 429 is always `rate_limited`, whatever the handler meant to answer.
pub fn refusal_cause(status: u16, code: &'static str) -> &'static str {
    match (status, code) {
        (429, _) => "rate_limited",
        (404, _) => "unknown_repo",
        (413, _) => "too_large",
        (503, "overloaded") => "in_flight_limit",
        (_, code) => code,
    }
}

/// `route` (the path template) and `status`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: &'static str,
    pub status: u16,
}

/// `route` alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: &'static str,
}

/// `repo` and `ref`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
pub struct RefLabels {
    pub repo: String,
    pub r#ref: String,
}

impl RefLabels {
    pub fn new(repo: &str, git_ref: &str) -> Self {
        RefLabels {
            repo: repo.to_string(),
            r#ref: git_ref.to_string(),
        }
    }
}

/// `repo` alone.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepoLabels {
    pub repo: String,
}

/// `repo` and `outcome`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RepoOutcomeLabels {
    pub repo: String,
    pub outcome: &'static str,
}

/// `state`, `outcome`, `trigger` or `operation`: one fixed-vocabulary label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TriggerLabels {
    pub trigger: &'static str,
}

/// A git operation (its subcommand, named by the pipeline's commands).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    pub operation: String,
}

/// A job store write: allocation-free, since one is recorded on every delivery's answer path.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StoreLabels {
    pub operation: &'static str,
}

/// `operation` (git's verb) and `kind` (a [`pipeline::SourceError::kind`]).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GitFailureLabels {
    pub operation: String,
    pub kind: &'static str,
}
