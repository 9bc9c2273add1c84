//! The API's JSON shape of a delivery log entry.

use std::collections::BTreeMap;

use jobstore::{DeliveryEntry, DeliveryPage};
use serde::Serialize;

use crate::jobs::rfc3339;

/// A delivery log entry as docs/API.md shows it. Headers are the redacted ones the log
/// holds, by lower-case name (a repeated header's values joined with `, `).
#[derive(Debug, Serialize)]
pub struct DeliveryJson<'a> {
    body_bytes: u64,
    body_kept: bool,
    delivery_id: Option<&'a str>,
    event: Option<&'a str>,
    headers: BTreeMap<&'a str, String>,
    id: String,
    job_id: Option<&'a str>,
    outcome: &'static str,
    provider: &'a str,
    reason: Option<&'a str>,
    received_at: String,
    redelivery_of: Option<String>,
    repo: Option<&'a str>,
    status: u16,
    verification: &'static str,
}

impl<'a> DeliveryJson<'a> {
    /// The API shape of `entry`.
    pub fn new(entry: &'a DeliveryEntry) -> Self {
        let r = &entry.record;
        let mut headers: BTreeMap<&str, String> = BTreeMap::new();
        for (name, value) in &r.headers {
            headers
                .entry(name.as_str())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(value);
                })
                .or_insert_with(|| value.clone());
        }
        DeliveryJson {
            body_bytes: r.body_bytes,
            body_kept: entry.body_kept,
            delivery_id: r.delivery_id.as_deref(),
            event: r.event.as_deref(),
            headers,
            id: entry.id.to_string(),
            job_id: r.job_id.as_deref(),
            outcome: r.outcome.as_str(),
            provider: &r.provider,
            reason: r.reason.as_deref(),
            received_at: rfc3339(r.received_at),
            redelivery_of: r.redelivery_of.map(|id| id.to_string()),
            repo: r.repo.as_deref(),
            status: r.status,
            verification: r.verification.as_str(),
        }
    }
}

/// `GET /webhooks/deliveries`'s answer.
#[derive(Debug, Serialize)]
pub struct DeliveryPageJson<'a> {
    deliveries: Vec<DeliveryJson<'a>>,
    next_cursor: Option<&'a str>,
}

impl<'a> DeliveryPageJson<'a> {
    /// The API shape of `page`.
    pub fn new(page: &'a DeliveryPage) -> Self {
        DeliveryPageJson {
            deliveries: page.deliveries.iter().map(DeliveryJson::new).collect(),
            next_cursor: page.next_cursor.as_deref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use jobstore::{DeliveryOutcome, DeliveryRecord, LogId, Verification};

    use super::*;

    #[test]
    fn an_entry_has_the_documented_shape() {
        let entry = DeliveryEntry {
            id: LogId(10),
            record: DeliveryRecord {
                received_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                provider: "github".into(),
                event: Some("push".into()),
                repo: Some("hello".into()),
                delivery_id: Some("d-1".into()),
                verification: Verification::Verified,
                status: 202,
                outcome: DeliveryOutcome::Queued,
                reason: None,
                job_id: Some("0000000000000003".into()),
                headers: vec![
                    ("x-hub-signature-256".into(), "[redacted]".into()),
                    ("accept".into(), "a".into()),
                    ("accept".into(), "b".into()),
                ],
                body_bytes: 7,
                redelivery_of: Some(LogId(2)),
            },
            body_kept: true,
        };
        let value = serde_json::to_value(DeliveryJson::new(&entry)).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "id": "000000000000000a",
                "received_at": "2023-11-14T22:13:20.000Z",
                "provider": "github", "event": "push", "repo": "hello", "delivery_id": "d-1",
                "verification": "verified", "status": 202, "outcome": "queued", "reason": null,
                "job_id": "0000000000000003",
                "headers": {"accept": "a, b", "x-hub-signature-256": "[redacted]"},
                "body_bytes": 7, "body_kept": true, "redelivery_of": "0000000000000002"
            })
        );
    }
}
