//! The delivery log: one entry per webhook delivery the gateway answered, accepted or refused,
//! kept beside the job queue ([`DeliveryLog`]), and what the backends share about paging,
//! filtering and expiry.
//!
//! An entry holds what the sender sent (provider, event, repo, delivery id, headers with their
//! secrets already redacted by the caller, body size), what the gateway did (verification,
//! status, outcome, reason, the job it made or joined) and, only when the caller asks for it,
//! the original headers and body of a verified delivery ([`KeptBody`]) so that it can be run
//! again. The log keeps the newest [`DeliveryRetention::keep`] entries; a kept body is dropped
//! after [`DeliveryRetention::body_retention`] or with its entry.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use crate::error::Error;

/// The id of a log entry: a counter, shown as 16 lowercase hex digits (text order is age
/// order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogId(pub u64);

impl fmt::Display for LogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for LogId {
    type Err = Error;

    /// Exactly 16 lowercase hex digits; [`Error::InvalidLogId`] for anything else.
    fn from_str(text: &str) -> Result<LogId, Error> {
        let well_formed = text.len() == 16
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
            .map(LogId)
            .ok_or_else(|| Error::InvalidLogId(text.to_owned()))
    }
}

/// Whether the delivery's signature or credential was checked, and what the check said.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verification {
    /// It verified with one of the configured secrets.
    Verified,
    /// A signature or credential was sent and did not verify (or was stale).
    InvalidSignature,
    /// None was sent, or no secret is configured to check it with.
    MissingSignature,
    /// Refused before the check (unknown repo, too large, shutting down, ...).
    NotChecked,
}

impl Verification {
    /// Every value, in the order of their codes.
    pub const ALL: [Verification; 4] = [
        Verification::Verified,
        Verification::InvalidSignature,
        Verification::MissingSignature,
        Verification::NotChecked,
    ];

    /// `verified`, `invalid_signature`, `missing_signature` or `not_checked`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Verification::Verified => "verified",
            Verification::InvalidSignature => "invalid_signature",
            Verification::MissingSignature => "missing_signature",
            Verification::NotChecked => "not_checked",
        }
    }
}

/// What the gateway answered, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryOutcome {
    /// A job was queued, or the request folded into a queued job (202).
    Queued,
    /// A redelivery of a delivery already accepted (200).
    Duplicate,
    /// Verified, but nothing to do (200, with a reason).
    Ignored,
    /// Refused (4xx or 5xx, with a reason).
    Refused,
}

impl DeliveryOutcome {
    /// Every value, in the order of their codes.
    pub const ALL: [DeliveryOutcome; 4] = [
        DeliveryOutcome::Queued,
        DeliveryOutcome::Duplicate,
        DeliveryOutcome::Ignored,
        DeliveryOutcome::Refused,
    ];

    /// `queued`, `duplicate`, `ignored` or `refused`.
    pub const fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Queued => "queued",
            DeliveryOutcome::Duplicate => "duplicate",
            DeliveryOutcome::Ignored => "ignored",
            DeliveryOutcome::Refused => "refused",
        }
    }
}

impl FromStr for DeliveryOutcome {
    type Err = Error;

    fn from_str(text: &str) -> Result<DeliveryOutcome, Error> {
        DeliveryOutcome::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| Error::InvalidOutcome(text.to_owned()))
    }
}

/// The original headers and body of a verified delivery, kept to run it again. Never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct KeptBody {
    /// The repo named in the delivery's URL (`POST /webhooks/{provider}/{repo}`); `None` for
    /// an org hook (`POST /webhooks/{provider}`).
    pub path_repo: Option<String>,
    /// Every header as received (name, raw value), secrets included.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body as received.
    pub body: Vec<u8>,
}

impl fmt::Debug for KeptBody {
    /// Names and sizes only: the headers hold signatures and tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeptBody")
            .field("path_repo", &self.path_repo)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("body_bytes", &self.body.len())
            .finish()
    }
}

/// What the log holds of one delivery. `headers` are redacted by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// When the request arrived.
    pub received_at: SystemTime,
    /// The provider named in the URL (`github`, ...), as sent.
    pub provider: String,
    /// The event, from the verified payload; `None` when it never verified.
    pub event: Option<String>,
    /// The repo the delivery was for (the URL's, or the one an org hook resolved to).
    pub repo: Option<String>,
    /// The provider's delivery id, from the verified payload.
    pub delivery_id: Option<String>,
    /// What the signature check said.
    pub verification: Verification,
    /// The HTTP status answered.
    pub status: u16,
    /// What was answered, in one word.
    pub outcome: DeliveryOutcome,
    /// Why it was refused or ignored.
    pub reason: Option<String>,
    /// The job it made or joined (or the one it duplicates).
    pub job_id: Option<String>,
    /// Lower-case names and values, secrets redacted, in arrival order.
    pub headers: Vec<(String, String)>,
    /// Size of the body as received.
    pub body_bytes: u64,
    /// The entry this delivery ran again, for a redelivery.
    pub redelivery_of: Option<LogId>,
}

/// A delivery to record, with its original headers and body when they are to be kept (only
/// ever for verified deliveries: an unverified body is never kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// What is logged.
    pub record: DeliveryRecord,
    /// The original headers and body, stored beside the entry, never shown.
    pub kept: Option<KeptBody>,
}

/// One entry of the log, as [`DeliveryLog::list`] and [`DeliveryLog::get`] return it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryEntry {
    /// The entry's id.
    pub id: LogId,
    /// What was logged.
    pub record: DeliveryRecord,
    /// Whether the body is stored and not past its retention: [`DeliveryLog::body`] has it.
    pub body_kept: bool,
}

/// Which entries [`DeliveryLog::list`] returns; every field set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only this provider.
    pub provider: Option<String>,
    /// Only this repo.
    pub repo: Option<String>,
    /// Only entries that made, joined or duplicated this job.
    pub job: Option<String>,
    /// Only this outcome.
    pub outcome: Option<DeliveryOutcome>,
}

impl DeliveryFilter {
    /// Whether `entry` passes.
    pub fn matches(&self, entry: &DeliveryRecord) -> bool {
        let same = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|want| have == Some(want))
        };
        same(&self.provider, Some(&entry.provider))
            && same(&self.repo, entry.repo.as_deref())
            && same(&self.job, entry.job_id.as_deref())
            && self.outcome.is_none_or(|o| o == entry.outcome)
    }
}

/// One page of [`DeliveryLog::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryPage {
    /// Newest first.
    pub deliveries: Vec<DeliveryEntry>,
    /// Pass it as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// How much the log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryRetention {
    /// The newest this many entries are kept (at least one). Default 1000.
    pub keep: usize,
    /// A kept body is dropped this long after its delivery arrived. Default one day.
    pub body_retention: Duration,
}

impl Default for DeliveryRetention {
    fn default() -> Self {
        DeliveryRetention {
            keep: 1000,
            body_retention: Duration::from_secs(86_400),
        }
    }
}

impl DeliveryRetention {
    /// Whether a body of a delivery received at `received_at` is still within its retention.
    pub fn body_fresh(&self, received_at: SystemTime, now: SystemTime) -> bool {
        received_at
            .checked_add(self.body_retention)
            .is_some_and(|until| until > now)
    }

    /// Arrival times before this have their bodies dropped.
    pub fn body_cutoff(&self, now: SystemTime) -> SystemTime {
        now.checked_sub(self.body_retention)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

/// What one [`DeliveryLog::prune`] dropped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Entries beyond `keep`.
    pub entries: u64,
    /// Bodies past their retention (bodies dropped with their entries are not counted).
    pub bodies: u64,
}

/// A checked `list` call: the limit and the id to start below. Every backend pages from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogPageQuery {
    /// At least one.
    pub limit: usize,
    /// Only entries older than this (the cursor).
    pub before: Option<LogId>,
}

impl LogPageQuery {
    /// `limit` raised to at least one; `cursor` must be a `next_cursor` of an earlier page
    /// ([`Error::InvalidCursor`] otherwise).
    pub fn new(limit: usize, cursor: Option<&str>) -> Result<LogPageQuery, Error> {
        let before = cursor
            .map(|text| {
                text.parse::<LogId>()
                    .map_err(|_| Error::InvalidCursor(text.to_owned()))
            })
            .transpose()?;
        Ok(LogPageQuery {
            limit: limit.max(1),
            before,
        })
    }

    /// The page made of the first `limit` of `newest_first` (matching entries older than the
    /// cursor), with a cursor when at least one more follows.
    pub fn page(&self, newest_first: impl IntoIterator<Item = DeliveryEntry>) -> DeliveryPage {
        let mut deliveries: Vec<DeliveryEntry> = newest_first
            .into_iter()
            .take(self.limit.saturating_add(1))
            .collect();
        let next_cursor = if deliveries.len() > self.limit {
            deliveries.truncate(self.limit);
            deliveries.last().map(|entry| entry.id.to_string())
        } else {
            None
        };
        DeliveryPage {
            deliveries,
            next_cursor,
        }
    }
}

/// The log of webhook deliveries, kept with the job store: [`MemoryDeliveryLog`](crate::MemoryDeliveryLog),
/// [`SledDeliveryLog`](crate::SledDeliveryLog), and `jobstore_postgres::PgDeliveryLog`. Every
/// backend passes `jobstore::delivery_conformance`.
#[async_trait::async_trait]
pub trait DeliveryLog: Send + Sync + fmt::Debug {
    /// Adds an entry (and its kept body), dropping entries beyond the newest `keep`. Returns
    /// the entry as stored.
    async fn record(&self, delivery: NewDelivery) -> Result<DeliveryEntry, Error>;

    /// Entries matching `filter`, newest first, at most `limit` (at least one), starting
    /// after `cursor` (a `next_cursor` of an earlier page).
    async fn list(
        &self,
        filter: &DeliveryFilter,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<DeliveryPage, Error>;

    /// One entry.
    async fn get(&self, id: LogId) -> Result<Option<DeliveryEntry>, Error>;

    /// The original headers and body of an entry, if they were kept and are within their
    /// retention.
    async fn body(&self, id: LogId) -> Result<Option<KeptBody>, Error>;

    /// Drops entries beyond the newest `keep` and bodies past their retention.
    async fn prune(&self) -> Result<Pruned, Error>;
}
