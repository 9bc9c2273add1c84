//! The JetStream publisher against a real NATS server with JetStream (`CG_NATS_URL`, e.g.
//! `nats://127.0.0.1:4222`). Without it, or with the server down, the test prints one line
//! saying it was left out and passes; with `CG_REQUIRE_SERVICES=1` both are failures.
#![cfg(feature = "nats")]

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use feed::{Entry, EntryKind, NatsPublisher, PathChange};
use futures_util::StreamExt;

/// The server's address, or `None` (after saying why) when the test is left out.
async fn server() -> Option<async_nats::Client> {
    let required = std::env::var("CG_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    let Ok(url) = std::env::var("CG_NATS_URL") else {
        assert!(
            !required,
            "CG_REQUIRE_SERVICES=1 but CG_NATS_URL is not set"
        );
        eprintln!("feed nats_publish: left out, CG_NATS_URL is not set");
        return None;
    };
    match async_nats::connect(&url).await {
        Ok(client) => Some(client),
        Err(error) => {
            assert!(!required, "NATS at CG_NATS_URL: {error}");
            eprintln!("feed nats_publish: left out, NATS at CG_NATS_URL does not answer ({error})");
            None
        }
    }
}

fn entry(cursor: &str) -> Entry {
    Entry {
        cursor: cursor.to_owned(),
        kind: EntryKind::Commit,
        repo: "hello".to_owned(),
        git_ref: "refs/heads/v1.2".to_owned(),
        commit: Some("c1".to_owned()),
        previous_commit: None,
        job_id: Some("0000000000000001".to_owned()),
        time_ms: 1,
        part: 0,
        last_part: true,
        paths: vec![PathChange {
            path: "main.rs".to_owned(),
            removed: vec![],
            added: vec![],
        }],
    }
}

#[tokio::test]
async fn each_entry_is_stored_once_under_its_subject() {
    let Some(client) = server().await else {
        return;
    };
    let run = format!("{}_{:x}", std::process::id(), fastrand::u32(..));
    let prefix = format!("cgtest.feed{run}");
    let js = jetstream::new(client.clone());
    let stream_name = format!("CGTEST_FEED_{run}");
    js.create_stream(stream::Config {
        name: stream_name.clone(),
        subjects: vec![format!("{prefix}.>")],
        duplicate_window: Duration::from_secs(120),
        ..Default::default()
    })
    .await
    .expect("create the stream");

    let publisher = NatsPublisher::new(client.clone(), &prefix).expect("publisher");
    let first = entry("41");
    let published = publisher.publish(&first).await.expect("publish");
    assert!(!published.duplicate);
    assert_eq!(published.stream, stream_name);
    let again = publisher.publish(&first).await.expect("publish again");
    assert!(again.duplicate, "the same entry twice is stored once");
    assert_eq!(again.sequence, published.sequence);
    let second = publisher.publish(&entry("42")).await.expect("publish");
    assert!(!second.duplicate);

    let stream = js.get_stream(&stream_name).await.expect("stream");
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some("reader".to_owned()),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut batch = consumer
        .batch()
        .max_messages(10)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .expect("fetch a batch");
    let mut messages = Vec::new();
    while let Some(message) = batch.next().await {
        messages.push(message.expect("message"));
    }
    let ids: Vec<String> = messages
        .iter()
        .map(|m| {
            m.headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(ids, ["41", "42"], "each entry once, in order");
    assert_eq!(
        messages[0].subject.as_str(),
        format!("{prefix}.hello.refs/heads/v1%2E2")
    );
    let decoded: Entry = serde_json::from_slice(&messages[0].payload).expect("an entry");
    assert_eq!(decoded, first);

    js.delete_stream(&stream_name)
        .await
        .expect("delete the stream");
}

#[tokio::test]
async fn publishing_without_a_stream_is_a_retryable_error() {
    let Some(client) = server().await else {
        return;
    };
    let prefix = format!("cgtest.nostream{}", std::process::id());
    let publisher = NatsPublisher::new(client, &prefix).expect("publisher");
    let error = publisher
        .publish(&entry("1"))
        .await
        .expect_err("no stream takes the subject");
    assert!(error.is_retryable(), "{error}");
}
