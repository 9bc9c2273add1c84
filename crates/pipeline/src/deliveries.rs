//! What the delivery log records of a webhook delivery, and the `[deliveries]` config
//! section.
//!
//! A handler opens a [`DeliveryNote`] when a delivery reaches it, tells it what it learned
//! (the headers and body size once read, that the signature verified, the parsed event) and
//! turns it, with what it answered ([`Answer`]), into a [`jobstore::NewDelivery`]. The note
//! applies the log's rules: headers are redacted ([`webhook_core::redacted_headers`]); the
//! event and delivery id come from the verified payload only; the body is kept only when
//! asked and only for a delivery that verified; the reason of a refusal is one of a few
//! words ([`refusal_reason`]). A [`DeliveryRecorder`] writes the entries on a task of its
//! own, so that no handler waits for the log.
//!
//! ```
//! use jobstore::{DeliveryOutcome, Verification};
//! use pipeline::deliveries::{Answer, DeliveryNote};
//! use webhook_core::Headers;
//!
//! let headers: Headers = [("X-Hub-Signature-256", "sha256=00")].into_iter().collect();
//! let mut note = DeliveryNote::new("github", Some("hello"));
//! note.read(&headers, b"{}");
//! let new = note.finish(&Answer::refused(401, "invalid_signature"));
//! assert_eq!(new.record.outcome, DeliveryOutcome::Refused);
//! assert_eq!(new.record.verification, Verification::InvalidSignature);
//! assert_eq!(new.record.headers[0].1, "[redacted]");
//! assert!(new.kept.is_none(), "an unverified body is never kept");
//! ```

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jobstore::{
    DeliveryEntry, DeliveryLog, DeliveryOutcome, DeliveryRecord, DeliveryRetention, KeptBody,
    LogId, NewDelivery, Verification,
};
use serde::Deserialize;
use tokio::sync::mpsc;
use webhook_core::{Event, EventKind, Headers, ProviderId, redacted_headers};

/// `[deliveries]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveriesSection {
    keep: Option<u64>,
    keep_bodies: Option<bool>,
    body_retention_secs: Option<u64>,
}

/// `[deliveries]`, checked.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveriesConfig {
    /// How many entries the log keeps, and how long kept bodies live.
    pub retention: DeliveryRetention,
    /// Whether verified deliveries' bodies and original headers are kept (for redelivery).
    pub keep_bodies: bool,
}

/// The largest `keep`: the log is for looking at recent deliveries, not an archive.
pub const MAX_KEEP: u64 = 1_000_000;

impl DeliveriesSection {
    /// The checked section (defaults for what is not set), or each key that is wrong, with
    /// what is wrong.
    pub fn into_config(self) -> Result<DeliveriesConfig, Vec<(&'static str, String)>> {
        let defaults = DeliveriesConfig::default();
        let mut wrong = Vec::new();
        let keep = self.keep.unwrap_or(defaults.retention.keep as u64);
        if !(1..=MAX_KEEP).contains(&keep) {
            wrong.push((
                "keep",
                format!("{keep} entries: choose between 1 and {MAX_KEEP}"),
            ));
        }
        if !wrong.is_empty() {
            return Err(wrong);
        }
        Ok(DeliveriesConfig {
            retention: DeliveryRetention {
                keep: usize::try_from(keep).unwrap_or(usize::MAX),
                body_retention: self
                    .body_retention_secs
                    .map_or(defaults.retention.body_retention, Duration::from_secs),
            },
            keep_bodies: self.keep_bodies.unwrap_or(defaults.keep_bodies),
        })
    }
}

/// What the gateway answered a delivery, as the log needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The error code of a refusal (`{"error":{"code":...}}`).
    pub error: Option<String>,
    /// What an accepted (2xx) answer said.
    pub accepted: Option<Accepted>,
}

impl Answer {
    /// A refusal with its error code.
    pub fn refused(status: u16, code: &str) -> Answer {
        Answer {
            status,
            error: Some(code.to_owned()),
            accepted: None,
        }
    }
}

/// What a 2xx answer to a delivery said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// Queued, duplicate or ignored.
    pub outcome: DeliveryOutcome,
    /// The job made, joined or duplicated.
    pub job_id: Option<String>,
    /// Why it was ignored.
    pub reason: Option<String>,
    /// The repo it was for, when the handler resolved one (an org hook's repo).
    pub repo: Option<String>,
}

/// The log's reason for a refusal answered with `status` and error `code`: `rate_limited`,
/// `unknown_repo`, `unknown_provider`, `too_large`, `invalid_signature`,
/// `missing_signature`, `malformed`, `unavailable`, or the code itself for anything else.
pub fn refusal_reason(status: u16, code: &str, provider_known: bool) -> String {
    let reason = match (status, code) {
        (429, _) => "rate_limited",
        (404, _) if !provider_known => "unknown_provider",
        (404, _) => "unknown_repo",
        (413, _) => "too_large",
        (_, "invalid_signature" | "stale_timestamp") => "invalid_signature",
        (_, "missing_signature") => "missing_signature",
        (400, _) => "malformed",
        (503, _) => "unavailable",
        (_, code) => code,
    };
    reason.to_owned()
}

/// The log's name of an event kind: `push`, `tag_push`, `pull_request`, `release`, `ping`,
/// or the provider's own name of any other event.
pub fn event_name(kind: &EventKind) -> &str {
    match kind {
        EventKind::Other(name) => name,
        kind => kind.label(),
    }
}

/// What a handler learned of one delivery, turned into a log entry by [`DeliveryNote::finish`].
#[derive(Debug, Clone)]
pub struct DeliveryNote {
    received_at: SystemTime,
    provider: String,
    path_repo: Option<String>,
    headers: Option<Headers>,
    body_bytes: u64,
    verified: bool,
    kept_body: Option<Vec<u8>>,
    event: Option<String>,
    delivery_id: Option<String>,
    redelivery_of: Option<LogId>,
}

impl DeliveryNote {
    /// A delivery that just arrived at `POST /webhooks/{provider}/{repo}` (`path_repo`) or
    /// `POST /webhooks/{provider}` (`None`).
    pub fn new(provider: &str, path_repo: Option<&str>) -> DeliveryNote {
        DeliveryNote {
            received_at: SystemTime::now(),
            provider: provider.to_owned(),
            path_repo: path_repo.map(str::to_owned),
            headers: None,
            body_bytes: 0,
            verified: false,
            kept_body: None,
            event: None,
            delivery_id: None,
            redelivery_of: None,
        }
    }

    /// A delivery run again from log entry `of`.
    pub fn redelivery(of: LogId, provider: &str, path_repo: Option<&str>) -> DeliveryNote {
        DeliveryNote {
            redelivery_of: Some(of),
            ..DeliveryNote::new(provider, path_repo)
        }
    }

    /// The headers, as they arrived (before the body is read: a delivery refused before
    /// that still shows them).
    pub fn arrived(&mut self, headers: &Headers) {
        self.headers = Some(headers.clone());
    }

    /// The headers and body, once read (the headers are taken only if [`DeliveryNote::arrived`]
    /// did not already take them).
    pub fn read(&mut self, headers: &Headers, body: &[u8]) {
        if self.headers.is_none() {
            self.headers = Some(headers.clone());
        }
        self.body_bytes = body.len() as u64;
    }

    /// The signature verified; `keep_body` (the `keep_bodies` setting) keeps a copy of it.
    pub fn verified(&mut self, body: &[u8], keep_body: bool) {
        self.verified = true;
        self.kept_body = keep_body.then(|| body.to_vec());
    }

    /// The verified payload parsed into `event`.
    pub fn parsed(&mut self, event: &Event) {
        self.event = Some(event_name(&event.kind).to_owned());
        self.delivery_id = event.delivery_id.clone();
    }

    /// The entry to record for what was answered.
    pub fn finish(self, answer: &Answer) -> NewDelivery {
        let accepted = answer.accepted.as_ref().filter(|_| answer.status < 300);
        let code = answer.error.as_deref().unwrap_or("");
        let verification = if self.verified {
            Verification::Verified
        } else {
            match code {
                "invalid_signature" | "stale_timestamp" => Verification::InvalidSignature,
                "missing_signature" => Verification::MissingSignature,
                _ => Verification::NotChecked,
            }
        };
        let provider_known = self.provider.parse::<ProviderId>().is_ok();
        let (outcome, reason, job_id) = match accepted {
            Some(a) => (a.outcome, a.reason.clone(), a.job_id.clone()),
            None => (
                DeliveryOutcome::Refused,
                Some(refusal_reason(answer.status, code, provider_known)),
                None,
            ),
        };
        let repo = accepted
            .and_then(|a| a.repo.clone())
            .or_else(|| self.path_repo.clone());
        let headers = self
            .headers
            .as_ref()
            .map(redacted_headers)
            .unwrap_or_default();
        // Kept only for a delivery that verified (`verified` is the only way to set it).
        let kept = match (self.kept_body, &self.headers) {
            (Some(body), Some(original)) => Some(KeptBody {
                path_repo: self.path_repo.clone(),
                headers: original
                    .iter()
                    .map(|(name, value)| (name.to_owned(), value.to_vec()))
                    .collect(),
                body,
            }),
            _ => None,
        };
        NewDelivery {
            record: DeliveryRecord {
                received_at: self.received_at,
                provider: self.provider,
                event: self.event,
                repo,
                delivery_id: self.delivery_id,
                verification,
                status: answer.status,
                outcome,
                reason,
                job_id,
                headers,
                body_bytes: self.body_bytes,
                redelivery_of: self.redelivery_of,
            },
            kept,
        }
    }
}

/// Writes log entries on one task of its own, in the order they were handed over, so that
/// the handlers never wait for the log. Its queue is bounded: when the log falls behind
/// (a flood of refused requests, a slow database), entries beyond it are dropped and
/// reported as failures rather than held in memory.
#[derive(Clone)]
pub struct DeliveryRecorder {
    queue: mpsc::Sender<NewDelivery>,
    failed: Arc<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for DeliveryRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryRecorder")
            .field("waiting", &(RECORDER_QUEUE - self.queue.capacity()))
            .finish_non_exhaustive()
    }
}

/// Entries waiting to be written, at most.
pub const RECORDER_QUEUE: usize = 1024;

impl DeliveryRecorder {
    /// Starts the writer (within a tokio runtime). `recorded` sees every entry written;
    /// `failed` is called once per entry that could not be written or was dropped.
    pub fn spawn(
        log: Arc<dyn DeliveryLog>,
        recorded: impl Fn(&DeliveryEntry) + Send + 'static,
        failed: impl Fn() + Send + Sync + 'static,
    ) -> DeliveryRecorder {
        let (queue, mut waiting) = mpsc::channel::<NewDelivery>(RECORDER_QUEUE);
        let failed: Arc<dyn Fn() + Send + Sync> = Arc::new(failed);
        let on_error = Arc::clone(&failed);
        tokio::spawn(async move {
            while let Some(delivery) = waiting.recv().await {
                match log.record(delivery).await {
                    Ok(entry) => recorded(&entry),
                    Err(error) => {
                        on_error();
                        tracing::warn!(%error, "could not record a delivery in the delivery log");
                    }
                }
            }
        });
        DeliveryRecorder { queue, failed }
    }

    /// Hands `delivery` to the writer without waiting; `false` (and a failure reported) when
    /// the queue is full or the writer is gone.
    pub fn record(&self, delivery: NewDelivery) -> bool {
        match self.queue.try_send(delivery) {
            Ok(()) => true,
            Err(_) => {
                (self.failed)();
                tracing::debug!("delivery log queue full: entry dropped");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed() -> Headers {
        [
            ("X-Hub-Signature-256", "sha256=secret-signature"),
            ("X-GitHub-Event", "push"),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn a_verified_delivery_keeps_its_body_only_when_asked() {
        for keep in [false, true] {
            let mut note = DeliveryNote::new("github", Some("hello"));
            note.read(&signed(), b"{\"ref\":1}");
            note.verified(b"{\"ref\":1}", keep);
            let answer = Answer {
                status: 202,
                error: None,
                accepted: Some(Accepted {
                    outcome: DeliveryOutcome::Queued,
                    job_id: Some("0000000000000001".into()),
                    reason: None,
                    repo: None,
                }),
            };
            let new = note.finish(&answer);
            assert_eq!(new.record.verification, Verification::Verified);
            assert_eq!(new.record.outcome, DeliveryOutcome::Queued);
            assert_eq!(new.record.job_id.as_deref(), Some("0000000000000001"));
            assert_eq!(new.record.repo.as_deref(), Some("hello"));
            assert_eq!(new.record.body_bytes, 9);
            assert_eq!(new.record.reason, None);
            assert!(format!("{:?}", new.record).contains("[redacted]"));
            assert!(!format!("{:?}", new.record).contains("secret-signature"));
            match new.kept {
                Some(kept) if keep => {
                    assert_eq!(kept.body, b"{\"ref\":1}");
                    assert_eq!(kept.path_repo.as_deref(), Some("hello"));
                    assert_eq!(kept.headers[0].1, b"sha256=secret-signature");
                }
                None if !keep => {}
                other => panic!("keep_bodies = {keep}, kept {other:?}"),
            }
        }
    }

    #[test]
    fn refusals_name_their_reason_and_verification() {
        let cases = [
            (
                "github",
                401,
                "invalid_signature",
                "invalid_signature",
                Verification::InvalidSignature,
            ),
            (
                "github",
                401,
                "stale_timestamp",
                "invalid_signature",
                Verification::InvalidSignature,
            ),
            (
                "github",
                401,
                "missing_signature",
                "missing_signature",
                Verification::MissingSignature,
            ),
            (
                "github",
                404,
                "not_found",
                "unknown_repo",
                Verification::NotChecked,
            ),
            (
                "nope",
                404,
                "not_found",
                "unknown_provider",
                Verification::NotChecked,
            ),
            (
                "github",
                413,
                "payload_too_large",
                "too_large",
                Verification::NotChecked,
            ),
            (
                "github",
                429,
                "rate_limited",
                "rate_limited",
                Verification::NotChecked,
            ),
            (
                "github",
                503,
                "shutting_down",
                "unavailable",
                Verification::NotChecked,
            ),
            (
                "github",
                403,
                "wrong_owner",
                "wrong_owner",
                Verification::NotChecked,
            ),
        ];
        for (provider, status, code, reason, verification) in cases {
            let mut note = DeliveryNote::new(provider, None);
            note.read(&signed(), b"x");
            let new = note.finish(&Answer::refused(status, code));
            assert_eq!(
                new.record.reason.as_deref(),
                Some(reason),
                "{status} {code}"
            );
            assert_eq!(new.record.verification, verification, "{status} {code}");
            assert_eq!(new.record.outcome, DeliveryOutcome::Refused);
            assert!(new.kept.is_none());
        }
        let mut parsed_badly = DeliveryNote::new("github", Some("r"));
        parsed_badly.verified(b"x", true);
        let new = parsed_badly.finish(&Answer::refused(400, "malformed_payload"));
        assert_eq!(new.record.reason.as_deref(), Some("malformed"));
        assert_eq!(new.record.verification, Verification::Verified);
    }

    #[tokio::test]
    async fn the_recorder_writes_in_order() {
        let log = Arc::new(jobstore::MemoryDeliveryLog::new(
            DeliveryRetention::default(),
        ));
        let (seen, failures) = (
            Arc::new(std::sync::Mutex::new(Vec::new())),
            Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        );
        let (seen_by, failures_by) = (Arc::clone(&seen), Arc::clone(&failures));
        let recorder = DeliveryRecorder::spawn(
            log.clone(),
            move |entry| seen_by.lock().unwrap().push(entry.record.provider.clone()),
            move || {
                failures_by.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
        );
        for provider in ["a", "b", "c"] {
            let mut note = DeliveryNote::new(provider, None);
            note.read(&signed(), b"x");
            assert!(recorder.record(note.finish(&Answer::refused(404, "not_found"))));
        }
        while seen.lock().unwrap().len() < 3 {
            tokio::task::yield_now().await;
        }
        assert_eq!(*seen.lock().unwrap(), ["a", "b", "c"]);
        let page = log
            .list(&jobstore::DeliveryFilter::default(), 10, None)
            .await
            .unwrap();
        let providers: Vec<_> = page
            .deliveries
            .iter()
            .map(|e| e.record.provider.as_str())
            .collect();
        assert_eq!(providers, ["c", "b", "a"]);
        assert_eq!(failures.load(std::sync::atomic::Ordering::Relaxed), 0);
    }

    /// On the current-thread runtime the writer runs only when the test yields, so the
    /// queue fills deterministically.
    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_drops_entries_and_reports_them() {
        let log = Arc::new(jobstore::MemoryDeliveryLog::new(
            DeliveryRetention::default(),
        ));
        let failures = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Arc::clone(&failures);
        let recorder = DeliveryRecorder::spawn(
            log.clone(),
            |_| {},
            move || {
                counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            },
        );
        let entry = || DeliveryNote::new("github", None).finish(&Answer::refused(404, "x"));
        for _ in 0..RECORDER_QUEUE {
            assert!(recorder.record(entry()));
        }
        assert!(!recorder.record(entry()), "the queue is full");
        assert_eq!(failures.load(std::sync::atomic::Ordering::Relaxed), 1);
        while log
            .get(LogId(RECORDER_QUEUE as u64))
            .await
            .unwrap()
            .is_none()
        {
            tokio::task::yield_now().await;
        }
        assert!(
            recorder.record(entry()),
            "room again once the writer caught up"
        );
    }

    #[test]
    fn the_section_checks_keep_and_has_defaults() {
        let config = DeliveriesSection::default().into_config().unwrap();
        assert_eq!(config, DeliveriesConfig::default());
        assert_eq!(config.retention.keep, 1000);
        assert_eq!(config.retention.body_retention, Duration::from_secs(86_400));
        assert!(!config.keep_bodies);
        let zero = DeliveriesSection {
            keep: Some(0),
            ..DeliveriesSection::default()
        };
        assert_eq!(zero.into_config().unwrap_err()[0].0, "keep");
        let set = DeliveriesSection {
            keep: Some(5),
            keep_bodies: Some(true),
            body_retention_secs: Some(60),
        }
        .into_config()
        .unwrap();
        assert_eq!(set.retention.keep, 5);
        assert!(set.keep_bodies);
        assert_eq!(set.retention.body_retention, Duration::from_secs(60));
    }
}
