use std::time::{Duration, SystemTime};

use jobstore::{PendingRef, StateCounts};
use pipeline::{GitObserver, MissedRef, SourceError};

use super::*;

fn sample_lines(text: &str, family: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with(family) && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[test]
fn deliveries_carry_provider_event_outcome_and_cause() {
    let m = Metrics::new();
    m.delivery("github", "push", DeliveryOutcome::Accepted);
    m.delivery("github", "push", DeliveryOutcome::Accepted);
    m.delivery("gitlab", "tag_push", DeliveryOutcome::Duplicate);
    m.delivery("github", "ping", DeliveryOutcome::Ignored);
    m.delivery(
        "github",
        "unknown",
        DeliveryOutcome::Refused(refusal_cause(401, "invalid_signature")),
    );
    let text = m.render(None, None);
    let mut lines = sample_lines(&text, "context_gateway_webhook_deliveries_total");
    lines.sort();
    assert_eq!(
        lines,
        [
            r#"context_gateway_webhook_deliveries_total{provider="github",event="ping",outcome="ignored",cause=""} 1"#,
            r#"context_gateway_webhook_deliveries_total{provider="github",event="push",outcome="accepted",cause=""} 2"#,
            r#"context_gateway_webhook_deliveries_total{provider="github",event="unknown",outcome="refused",cause="invalid_signature"} 1"#,
            r#"context_gateway_webhook_deliveries_total{provider="gitlab",event="tag_push",outcome="duplicate",cause=""} 1"#,
        ]
    );
    assert!(text.ends_with("# EOF\n"), "{text}");
}

#[test]
fn refusal_causes_name_the_limit_not_the_handler_code() {
    assert_eq!(refusal_cause(429, "invalid_signature"), "rate_limited");
    assert_eq!(refusal_cause(404, "not_found"), "unknown_repo");
    assert_eq!(refusal_cause(413, "payload_too_large"), "too_large");
    assert_eq!(refusal_cause(503, "overloaded"), "in_flight_limit");
    assert_eq!(refusal_cause(503, "shutting_down"), "shutting_down");
    assert_eq!(refusal_cause(503, "store_unavailable"), "store_unavailable");
    assert_eq!(refusal_cause(401, "stale_timestamp"), "stale_timestamp");
}

#[test]
fn lag_is_the_age_of_the_oldest_waiting_job_and_zero_for_refs_in_step() {
    let m = Metrics::new();
    m.refs_in_step("r", &[]);
    let miss = MissedRef {
        git_ref: "refs/heads/dev".into(),
        indexed: None,
        remote: Some("a".repeat(40)),
    };
    m.missed_webhook("r", &miss, None);
    let now = SystemTime::now();
    let pending = [PendingRef {
        repo: "r".into(),
        git_ref: "refs/heads/main".into(),
        since: now - Duration::from_secs(90),
        queued_since: Some(now - Duration::from_secs(30)),
    }];
    let counts = StateCounts {
        queued: 1,
        ..StateCounts::default()
    };
    let text = m.render(Some(&counts), Some(&pending));
    let lag = sample_lines(&text, "context_gateway_index_lag_seconds");
    let main = lag
        .iter()
        .find(|l| l.contains(r#"repo="r",ref="refs/heads/main""#))
        .expect("main has a lag");
    let secs: f64 = main.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((90.0..100.0).contains(&secs), "{main}");
    assert!(
        lag.contains(
            &r#"context_gateway_index_lag_seconds{repo="r",ref="refs/heads/dev"} 0.0"#.to_string()
        ),
        "{lag:?}"
    );
    assert_eq!(
        sample_lines(&text, "context_gateway_index_lag_commits"),
        [r#"context_gateway_index_lag_commits{repo="r",ref="refs/heads/dev"} 1"#]
    );
    assert_eq!(
        sample_lines(&text, "context_gateway_missed_webhooks_total"),
        [r#"context_gateway_missed_webhooks_total{repo="r"} 1"#]
    );
    let oldest = sample_lines(&text, "context_gateway_queue_oldest_job_age_seconds");
    let age: f64 = oldest[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!((30.0..40.0).contains(&age), "{oldest:?}");
    assert!(
        text.contains(r#"context_gateway_jobs{state="queued"} 1"#),
        "{text}"
    );
    // Once nothing waits, the lag of a ref is 0 again, and so is the queue's age.
    let text = m.render(Some(&StateCounts::default()), Some(&[]));
    assert!(
        text.contains(r#"context_gateway_index_lag_seconds{repo="r",ref="refs/heads/main"} 0.0"#),
        "{text}"
    );
    assert!(
        text.contains("context_gateway_queue_oldest_job_age_seconds 0.0"),
        "{text}"
    );
}

#[test]
fn git_commands_are_timed_by_operation_and_failures_counted_by_kind() {
    let m = Metrics::new();
    m.git_finished("fetch", Duration::from_millis(20), None);
    let timeout = SourceError::Timeout {
        verb: "ls-remote".into(),
        after: Duration::from_secs(1),
    };
    m.git_finished("ls-remote", Duration::from_secs(1), Some(&timeout));
    let text = m.render(None, None);
    assert!(
        text.contains(r#"context_gateway_git_duration_seconds_count{operation="fetch"} 1"#),
        "{text}"
    );
    assert_eq!(
        sample_lines(&text, "context_gateway_git_failures_total"),
        [r#"context_gateway_git_failures_total{operation="ls-remote",kind="timeout"} 1"#]
    );
}

#[test]
fn the_documented_alert_rules_are_the_shipped_ones_and_name_real_metrics() {
    let rules = include_str!("../../../examples/prometheus/alerts.yml");
    let operations = include_str!("../../../docs/OPERATIONS.md");
    assert!(
        operations.contains(&format!("```yaml\n{rules}```")),
        "docs/OPERATIONS.md must show examples/prometheus/alerts.yml as it is"
    );
    // A family shows in the exposition once it has a sample: give each one the rules use.
    let m = Metrics::new();
    m.delivery("github", "push", DeliveryOutcome::Accepted);
    let miss = MissedRef {
        git_ref: "refs/heads/main".into(),
        indexed: None,
        remote: Some("a".repeat(40)),
    };
    m.missed_webhook("r", &miss, Some(2));
    let timeout = SourceError::Timeout {
        verb: "fetch".into(),
        after: Duration::from_secs(1),
    };
    m.git_finished("fetch", Duration::from_secs(1), Some(&timeout));
    let families = m.render(Some(&StateCounts::default()), Some(&[]));
    let mut named = 0;
    for (at, _) in rules.match_indices("context_gateway_") {
        let name: String = rules[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.starts_with("context_gateway_") && name.len() > "context_gateway_".len() {
            let family = name.strip_suffix("_total").unwrap_or(&name);
            assert!(
                families.contains(&format!("# TYPE {family} ")),
                "the alert rules name {name}, which /metrics does not have"
            );
            named += 1;
        }
    }
    assert!(named >= 6, "{named}");
}
