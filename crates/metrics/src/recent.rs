//! What the dashboard shows of the last hour, kept in memory since start: deliveries per
//! minute by outcome and refusal cause, and push-to-searchable times of webhook-triggered
//! jobs.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::DeliveryOutcome;

/// How many minutes `deliveries_per_minute` covers.
pub const MINUTES: u64 = 60;

/// How far back `push_to_searchable_ms` looks.
pub const SEARCHABLE_WINDOW: Duration = Duration::from_secs(3600);

/// The most push-to-searchable samples kept (the oldest go first).
const MAX_SAMPLES: usize = 100_000;

/// Refused deliveries of one minute, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RefusedCounts {
    /// The signature did not verify.
    pub invalid_signature: u64,
    /// No signature, or no secret to check one with.
    pub missing_signature: u64,
    /// No such repo (or provider) is configured.
    pub unknown_repo: u64,
    /// Over `max_body_bytes`.
    pub too_large: u64,
    /// The payload could not be parsed.
    pub malformed: u64,
    /// Anything else: rate limited, overloaded, shutting down, a stale timestamp, ...
    pub other: u64,
}

impl RefusedCounts {
    fn count(&mut self, cause: &str) {
        let slot = match cause {
            "invalid_signature" => &mut self.invalid_signature,
            "missing_signature" => &mut self.missing_signature,
            "unknown_repo" => &mut self.unknown_repo,
            "too_large" => &mut self.too_large,
            "malformed_payload" | "unsupported_event" | "bad_repository" => &mut self.malformed,
            _ => &mut self.other,
        };
        *slot += 1;
    }
}

/// Deliveries of one minute, by outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinuteCounts {
    /// The minute's start, RFC 3339.
    pub minute: String,
    /// Answered 202.
    pub accepted: u64,
    /// Answered 200 `duplicate`.
    pub duplicate: u64,
    /// Answered 200 `ignored`.
    pub ignored: u64,
    /// Answered 4xx/5xx, by cause.
    pub refused: RefusedCounts,
}

#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    accepted: u64,
    duplicate: u64,
    ignored: u64,
    refused: RefusedCounts,
}

/// Push-to-searchable times of the last hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchableSummary {
    /// The window's length.
    pub window_secs: u64,
    /// Jobs in the window.
    pub count: u64,
    /// Median, milliseconds; `null` without jobs.
    pub p50: Option<u64>,
    /// 95th percentile, milliseconds; `null` without jobs.
    pub p95: Option<u64>,
}

/// The counters behind [`MinuteCounts`] and [`SearchableSummary`].
#[derive(Debug, Default)]
pub struct Recent {
    /// (minute since the epoch, counts), oldest first, at most [`MINUTES`].
    minutes: Mutex<VecDeque<(u64, Counts)>>,
    /// (when the job succeeded, milliseconds), oldest first.
    searchable: Mutex<VecDeque<(SystemTime, u64)>>,
}

fn minute_of(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        / 60
}

impl Recent {
    /// Counts one delivery answered at `now`.
    pub fn delivery(&self, outcome: DeliveryOutcome, now: SystemTime) {
        let minute = minute_of(now);
        let mut minutes = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        if minutes.back().is_none_or(|(m, _)| *m < minute) {
            minutes.push_back((minute, Counts::default()));
        }
        while minutes.front().is_some_and(|(m, _)| m + MINUTES <= minute) {
            minutes.pop_front();
        }
        // A clock that stepped back lands in the newest minute kept.
        let Some((_, counts)) = minutes.back_mut() else {
            return;
        };
        match outcome {
            DeliveryOutcome::Accepted => counts.accepted += 1,
            DeliveryOutcome::Duplicate => counts.duplicate += 1,
            DeliveryOutcome::Ignored => counts.ignored += 1,
            DeliveryOutcome::Refused(cause) => counts.refused.count(cause),
        }
    }

    /// The last [`MINUTES`] minutes up to `now`'s, oldest first, zeros included.
    pub fn deliveries_per_minute(&self, now: SystemTime) -> Vec<MinuteCounts> {
        let current = minute_of(now);
        let minutes = self.minutes.lock().unwrap_or_else(|e| e.into_inner());
        (current.saturating_sub(MINUTES - 1)..=current)
            .map(|minute| {
                let counts = minutes
                    .iter()
                    .find(|(m, _)| *m == minute)
                    .map(|(_, c)| *c)
                    .unwrap_or_default();
                let start = UNIX_EPOCH + Duration::from_secs(minute * 60);
                MinuteCounts {
                    minute: humantime::format_rfc3339_seconds(start).to_string(),
                    accepted: counts.accepted,
                    duplicate: counts.duplicate,
                    ignored: counts.ignored,
                    refused: counts.refused,
                }
            })
            .collect()
    }

    /// A webhook-triggered job succeeded at `now`, `waited` after its delivery was accepted.
    pub fn searchable(&self, waited: Duration, now: SystemTime) {
        let mut samples = self.searchable.lock().unwrap_or_else(|e| e.into_inner());
        if samples.len() == MAX_SAMPLES {
            samples.pop_front();
        }
        let ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        samples.push_back((now, ms));
    }

    /// The push-to-searchable times of the hour before `now`.
    pub fn push_to_searchable(&self, now: SystemTime) -> SearchableSummary {
        let since = now.checked_sub(SEARCHABLE_WINDOW).unwrap_or(UNIX_EPOCH);
        let mut samples = self.searchable.lock().unwrap_or_else(|e| e.into_inner());
        while samples.front().is_some_and(|(at, _)| *at < since) {
            samples.pop_front();
        }
        let mut ms: Vec<u64> = samples.iter().map(|(_, ms)| *ms).collect();
        drop(samples);
        ms.sort_unstable();
        SearchableSummary {
            window_secs: SEARCHABLE_WINDOW.as_secs(),
            count: ms.len() as u64,
            p50: nearest_rank(&ms, 50),
            p95: nearest_rank(&ms, 95),
        }
    }
}

/// The nearest-rank `percent`th percentile of sorted values.
fn nearest_rank(sorted: &[u64], percent: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn deliveries_land_in_their_minute() {
        let recent = Recent::default();
        let base = 1_700_000_000 / 60 * 60; // a minute's start
        recent.delivery(DeliveryOutcome::Accepted, at(base + 1));
        recent.delivery(DeliveryOutcome::Refused("invalid_signature"), at(base + 59));
        recent.delivery(DeliveryOutcome::Refused("rate_limited"), at(base + 60));
        recent.delivery(DeliveryOutcome::Refused("malformed_payload"), at(base + 61));
        let minutes = recent.deliveries_per_minute(at(base + 61));
        assert_eq!(minutes.len(), 60);
        let (previous, current) = (&minutes[58], &minutes[59]);
        assert_eq!(previous.minute, "2023-11-14T22:13:00Z");
        assert_eq!(
            (previous.accepted, previous.refused.invalid_signature),
            (1, 1)
        );
        assert_eq!((current.refused.other, current.refused.malformed), (1, 1));
        assert_eq!(current.accepted, 0);
        // An hour later everything has left the window.
        let later = recent.deliveries_per_minute(at(base + 3600 + 61));
        assert!(
            later
                .iter()
                .all(|m| m.accepted == 0 && m.refused.other == 0)
        );
    }

    #[test]
    fn percentiles_cover_the_last_hour() {
        let recent = Recent::default();
        assert_eq!(recent.push_to_searchable(at(10_000)).p50, None);
        recent.searchable(Duration::from_millis(999_999), at(1_000));
        for ms in 1..=100 {
            recent.searchable(Duration::from_millis(ms), at(5_000));
        }
        let summary = recent.push_to_searchable(at(5_000 + 100));
        assert_eq!(summary.count, 100, "the sample older than an hour is gone");
        assert_eq!((summary.p50, summary.p95), (Some(50), Some(95)));
        assert_eq!(summary.window_secs, 3600);
    }
}
