//! Prometheus counters and gauges, rendered by hand in the text exposition format.
//!
//! The hot path (one counter bump per request) takes one short uncontended lock; queue depth
//! is read from the job store at scrape time rather than tracked here, so it cannot drift.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jobstore::StateCounts;

/// Upper bounds, in seconds, of the job-duration histogram buckets.
const DURATION_BUCKETS: [f64; 10] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0];

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    requests: BTreeMap<(&'static str, u16), u64>,
    verify_failures: BTreeMap<&'static str, u64>,
    deliveries: BTreeMap<&'static str, u64>,
    job_durations: BTreeMap<&'static str, Histogram>,
    freshness: BTreeMap<(String, String), f64>,
}

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One answered request, by route template and status.
    pub fn request(&self, route: &'static str, status: u16) {
        *self.lock().requests.entry((route, status)).or_default() += 1;
    }

    /// A webhook rejected by verification, by reason code.
    pub fn verify_failure(&self, reason: &'static str) {
        *self.lock().verify_failures.entry(reason).or_default() += 1;
    }

    /// A webhook's outcome: queued, coalesced, duplicate, ignored.
    pub fn delivery(&self, outcome: &'static str) {
        *self.lock().deliveries.entry(outcome).or_default() += 1;
    }

    /// A job that reached a final state after running for `elapsed`.
    pub fn job_finished(&self, outcome: &'static str, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut inner = self.lock();
        let h = inner.job_durations.entry(outcome).or_default();
        for (slot, bound) in h.buckets.iter_mut().zip(DURATION_BUCKETS) {
            if secs <= bound {
                *slot += 1;
            }
        }
        h.count += 1;
        h.sum += secs;
    }

    /// The index of (repo, ref) now reflects the newest content as of `at`.
    pub fn index_fresh(&self, repo: &str, git_ref: &str, at: SystemTime) {
        let ts = at
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs_f64();
        self.lock()
            .freshness
            .insert((repo.to_string(), git_ref.to_string()), ts);
    }

    /// The Prometheus text exposition of everything, with queue depth from `counts`.
    pub fn render(&self, counts: Option<&StateCounts>) -> String {
        let inner = self.lock();
        let mut out = String::with_capacity(4096);
        header(
            &mut out,
            "context_gateway_http_requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        for ((route, status), n) in &inner.requests {
            let _ = writeln!(
                out,
                "context_gateway_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        header(
            &mut out,
            "context_gateway_webhook_verification_failures_total",
            "counter",
            "Webhooks rejected by signature or token checks, by reason.",
        );
        for (reason, n) in &inner.verify_failures {
            let _ = writeln!(
                out,
                "context_gateway_webhook_verification_failures_total{{reason=\"{reason}\"}} {n}"
            );
        }
        header(
            &mut out,
            "context_gateway_webhook_deliveries_total",
            "counter",
            "Verified webhooks, by outcome.",
        );
        for (outcome, n) in &inner.deliveries {
            let _ = writeln!(
                out,
                "context_gateway_webhook_deliveries_total{{outcome=\"{outcome}\"}} {n}"
            );
        }
        if let Some(c) = counts {
            header(
                &mut out,
                "context_gateway_jobs",
                "gauge",
                "Jobs in the store, by state.",
            );
            for (state, n) in [
                ("queued", c.queued),
                ("running", c.running),
                ("succeeded", c.succeeded),
                ("failed", c.failed),
                ("cancelled", c.cancelled),
                ("superseded", c.superseded),
            ] {
                let _ = writeln!(out, "context_gateway_jobs{{state=\"{state}\"}} {n}");
            }
        }
        header(
            &mut out,
            "context_gateway_job_duration_seconds",
            "histogram",
            "Time from claim to final state of jobs, by outcome.",
        );
        for (outcome, h) in &inner.job_durations {
            for (bound, n) in DURATION_BUCKETS.iter().zip(h.buckets) {
                let _ = writeln!(
                    out,
                    "context_gateway_job_duration_seconds_bucket{{outcome=\"{outcome}\",le=\"{bound}\"}} {n}"
                );
            }
            let _ = writeln!(
                out,
                "context_gateway_job_duration_seconds_bucket{{outcome=\"{outcome}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "context_gateway_job_duration_seconds_sum{{outcome=\"{outcome}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "context_gateway_job_duration_seconds_count{{outcome=\"{outcome}\"}} {}",
                h.count
            );
        }
        header(
            &mut out,
            "context_gateway_index_last_success_timestamp_seconds",
            "gauge",
            "When each indexed ref last finished an index job (Unix time).",
        );
        for ((repo, git_ref), ts) in &inner.freshness {
            let _ = writeln!(
                out,
                "context_gateway_index_last_success_timestamp_seconds{{repo=\"{}\",ref=\"{}\"}} {ts}",
                escape(repo),
                escape(git_ref)
            );
        }
        out
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
