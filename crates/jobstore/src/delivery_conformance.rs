//! The behaviour every [`DeliveryLog`] backend must have, as runnable checks.
//!
//! Each check takes a factory that builds a fresh, empty log with the given retention, and
//! panics with a message naming the broken rule. Call them from the backend's tests:
//!
//! ```
//! use jobstore::{DeliveryLog, DeliveryRetention, MemoryDeliveryLog};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let make = |r: DeliveryRetention| Box::new(MemoryDeliveryLog::new(r)) as Box<dyn DeliveryLog>;
//! jobstore::delivery_conformance::keep_bounds_the_log(&make).await;
//! # }
//! ```

use std::time::{Duration, SystemTime};

use crate::deliveries::{
    DeliveryFilter, DeliveryLog, DeliveryOutcome, DeliveryRecord, DeliveryRetention, KeptBody,
    LogId, NewDelivery, Verification,
};

/// Builds a fresh, empty log with the given retention.
pub type MakeLog = dyn Fn(DeliveryRetention) -> Box<dyn DeliveryLog> + Send + Sync;

const DAY: Duration = Duration::from_secs(86_400);

fn retention(keep: usize, body_retention: Duration) -> DeliveryRetention {
    DeliveryRetention {
        keep,
        body_retention,
    }
}

/// A queued GitHub push for `repo` that made `job`.
pub fn sample(repo: &str, job: &str) -> DeliveryRecord {
    DeliveryRecord {
        // Whole microseconds: every backend keeps at least that precision.
        received_at: SystemTime::UNIX_EPOCH
            + Duration::from_micros(
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_micros() as u64,
            ),
        provider: "github".into(),
        event: Some("push".into()),
        repo: Some(repo.into()),
        delivery_id: Some(format!("d-{repo}-{job}")),
        verification: Verification::Verified,
        status: 202,
        outcome: DeliveryOutcome::Queued,
        reason: None,
        job_id: Some(job.into()),
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("x-hub-signature-256".into(), "[redacted]".into()),
            ("x-github-event".into(), "push".into()),
        ],
        body_bytes: 321,
        redelivery_of: None,
    }
}

fn unkept(record: DeliveryRecord) -> NewDelivery {
    NewDelivery { record, kept: None }
}

fn with_body(record: DeliveryRecord) -> NewDelivery {
    NewDelivery {
        record,
        kept: Some(kept_body()),
    }
}

fn refused(repo: Option<&str>) -> DeliveryRecord {
    DeliveryRecord {
        event: None,
        repo: repo.map(str::to_owned),
        delivery_id: None,
        verification: Verification::InvalidSignature,
        status: 401,
        outcome: DeliveryOutcome::Refused,
        reason: Some("invalid_signature".into()),
        job_id: None,
        ..sample("x", "j")
    }
}

fn kept_body() -> KeptBody {
    KeptBody {
        path_repo: Some("hello".into()),
        headers: vec![
            ("X-Hub-Signature-256".into(), b"sha256=abc".to_vec()),
            ("x-raw".into(), vec![0xff, 0x00, 0x7f]),
        ],
        body: br#"{"ref":"refs/heads/main"}"#.to_vec(),
    }
}

/// Runs every check, in order.
pub async fn run_all(make: &MakeLog) {
    record_and_get(make).await;
    list_pages_and_filters(make).await;
    keep_bounds_the_log(make).await;
    bodies_kept_within_retention(make).await;
}

/// An entry reads back as recorded, under a new id larger than every earlier one; unknown
/// ids find nothing.
pub async fn record_and_get(make: &MakeLog) {
    let log = make(DeliveryRetention::default());
    let first = sample("hello", "0000000000000001");
    let a = log.record(unkept(first.clone())).await.expect("record");
    assert_eq!(a.record, first, "the entry is what was recorded");
    assert!(!a.body_kept, "no body was given");
    let mut again = refused(Some("hello"));
    again.redelivery_of = Some(a.id);
    let b = log.record(unkept(again.clone())).await.expect("record");
    assert!(b.id > a.id, "ids grow: {} then {}", a.id, b.id);
    assert_eq!(b.record, again);
    assert_eq!(
        log.get(a.id).await.expect("get"),
        Some(a.clone()),
        "get returns what record returned"
    );
    assert_eq!(log.get(b.id).await.expect("get"), Some(b.clone()));
    assert_eq!(log.get(LogId(b.id.0 + 1000)).await.expect("get"), None);
    assert_eq!(log.body(a.id).await.expect("body"), None, "no body kept");
    let text = a.id.to_string();
    assert_eq!(text.len(), 16);
    assert_eq!(text.parse::<LogId>().expect("id parses"), a.id);
    assert!("7".parse::<LogId>().is_err());
}

/// Pages cover every entry once, newest first; filters on provider, repo, job and outcome
/// combine; a cursor that did not come from a page is refused.
pub async fn list_pages_and_filters(make: &MakeLog) {
    let log = make(DeliveryRetention::default());
    let mut ids = Vec::new();
    for n in 0..7u32 {
        let repo = if n % 2 == 0 { "even" } else { "odd" };
        let mut delivery = if n == 3 {
            refused(Some(repo))
        } else {
            sample(repo, &format!("job-{}", n % 3))
        };
        if n == 5 {
            delivery.provider = "gitlab".into();
        }
        ids.push(log.record(unkept(delivery)).await.expect("record").id);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = log
            .list(&DeliveryFilter::default(), 3, cursor.as_deref())
            .await
            .expect("list");
        assert!(page.deliveries.len() <= 3);
        seen.extend(page.deliveries.iter().map(|e| e.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let newest_first: Vec<LogId> = ids.iter().rev().copied().collect();
    assert_eq!(
        seen, newest_first,
        "pages cover every entry once, newest first"
    );

    let only = |filter: DeliveryFilter| {
        let log = &log;
        async move {
            let page = log.list(&filter, 100, None).await.expect("list");
            assert!(page.next_cursor.is_none());
            page.deliveries.iter().map(|e| e.id).collect::<Vec<_>>()
        }
    };
    let pick = |ns: &[usize]| ns.iter().rev().map(|&n| ids[n]).collect::<Vec<_>>();
    let even = DeliveryFilter {
        repo: Some("even".into()),
        ..DeliveryFilter::default()
    };
    assert_eq!(only(even.clone()).await, pick(&[0, 2, 4, 6]), "repo filter");
    let gitlab = DeliveryFilter {
        provider: Some("gitlab".into()),
        ..DeliveryFilter::default()
    };
    assert_eq!(only(gitlab).await, pick(&[5]), "provider filter");
    let job1 = DeliveryFilter {
        job: Some("job-1".into()),
        ..DeliveryFilter::default()
    };
    assert_eq!(
        only(job1).await,
        pick(&[1, 4]),
        "job filter (n = 3 was refused)"
    );
    let refused_only = DeliveryFilter {
        outcome: Some(DeliveryOutcome::Refused),
        ..DeliveryFilter::default()
    };
    assert_eq!(only(refused_only).await, pick(&[3]), "outcome filter");
    let even_job0 = DeliveryFilter {
        job: Some("job-0".into()),
        ..even
    };
    assert_eq!(only(even_job0).await, pick(&[0, 6]), "filters combine");
    let first_page = log
        .list(&DeliveryFilter::default(), 2, None)
        .await
        .expect("list");
    let after = log
        .list(
            &DeliveryFilter::default(),
            500,
            first_page.next_cursor.as_deref(),
        )
        .await
        .expect("list");
    assert_eq!(after.deliveries.len(), 5, "the page after the first two");
    assert!(
        log.list(&DeliveryFilter::default(), 10, Some("not a cursor"))
            .await
            .is_err()
    );
}

/// The log keeps the newest `keep` entries: older ones (and their bodies) are gone as soon
/// as newer ones are recorded, and `prune` finds nothing more to drop.
pub async fn keep_bounds_the_log(make: &MakeLog) {
    let log = make(retention(3, DAY));
    let mut ids = Vec::new();
    for n in 0..5 {
        let delivery = with_body(sample("hello", &format!("job-{n}")));
        ids.push(log.record(delivery).await.expect("record").id);
    }
    let page = log
        .list(&DeliveryFilter::default(), 100, None)
        .await
        .expect("list");
    let listed: Vec<LogId> = page.deliveries.iter().map(|e| e.id).collect();
    assert_eq!(
        listed,
        vec![ids[4], ids[3], ids[2]],
        "the newest three are kept"
    );
    assert_eq!(
        log.get(ids[0]).await.expect("get"),
        None,
        "the oldest is gone"
    );
    assert_eq!(log.body(ids[1]).await.expect("body"), None, "its body too");
    assert!(log.body(ids[2]).await.expect("body").is_some());
    let pruned = log.prune().await.expect("prune");
    assert_eq!(pruned.entries, 0, "nothing beyond keep is left to prune");
}

/// A kept body reads back byte for byte, raw header values included, while within its
/// retention; past it, the entry says `body_kept: false`, `body` finds nothing and `prune`
/// drops it.
pub async fn bodies_kept_within_retention(make: &MakeLog) {
    let log = make(retention(100, DAY));
    let entry = log
        .record(with_body(sample("hello", "job-1")))
        .await
        .expect("record");
    assert!(entry.body_kept);
    assert_eq!(
        entry.record.headers,
        sample("hello", "job-1").headers,
        "only the redacted headers are shown"
    );
    assert_eq!(log.body(entry.id).await.expect("body"), Some(kept_body()));
    assert!(
        log.get(entry.id)
            .await
            .expect("get")
            .expect("entry")
            .body_kept
    );
    assert_eq!(
        log.prune().await.expect("prune").bodies,
        0,
        "fresh bodies stay"
    );
    assert_eq!(log.body(entry.id).await.expect("body"), Some(kept_body()));

    let expiring = make(retention(100, Duration::ZERO));
    let entry = expiring
        .record(with_body(sample("hello", "job-2")))
        .await
        .expect("record");
    assert!(!entry.body_kept, "a body past its retention is not offered");
    assert_eq!(expiring.body(entry.id).await.expect("body"), None);
    assert_eq!(
        expiring.prune().await.expect("prune").bodies,
        1,
        "prune drops it"
    );
    let after = expiring
        .get(entry.id)
        .await
        .expect("get")
        .expect("the entry stays");
    assert!(!after.body_kept);
    assert_eq!(after.record.body_bytes, 321);
}
