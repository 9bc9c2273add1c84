//! Publishing feed entries to NATS JetStream (cargo feature `nats`).
//!
//! Each [`Entry`] goes to the subject `<prefix>.<repo>.<ref>` as its JSON, with the
//! `Nats-Msg-Id` header set to the entry's cursor, and [`NatsPublisher::publish`] returns
//! once JetStream acknowledged it. A stream's duplicate window then drops a second publish
//! of the same entry (a retry after a lost ack, a re-run), so consumers see each entry once.
//!
//! Subject tokens cannot hold `.`, `*`, `>` or whitespace: those bytes (and `%`) of the repo
//! and ref are written as `%XX`, so `refs/heads/v1.2` becomes `refs/heads/v1%2E2`.

use async_nats::HeaderMap;
use async_nats::jetstream::{self, context::PublishAckFuture};

use crate::entry::Entry;

/// What went wrong publishing. [`NatsError::is_retryable`] says whether the same publish may
/// succeed later; publishing again is always safe (JetStream drops the duplicate).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The prefix is not one or more plain subject tokens.
    #[error(
        "{0:?} is not a subject prefix (tokens of letters, digits, '-', '_' and '/', separated by '.')"
    )]
    InvalidPrefix(String),
    /// The server could not be reached.
    #[error("cannot connect to NATS: {0}")]
    Connect(#[source] async_nats::ConnectError),
    /// The entry could not be encoded (a bug: entries are plain data).
    #[error("cannot encode feed entry {cursor}: {source}")]
    Encode {
        /// The entry's cursor.
        cursor: String,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The message could not be sent, or JetStream did not acknowledge it (no stream for
    /// the subject, a timeout, the connection lost).
    #[error("publishing feed entry {cursor} to {subject}: {source}")]
    Publish {
        /// The entry's cursor.
        cursor: String,
        /// The subject it was sent to.
        subject: String,
        /// The client's error.
        #[source]
        source: jetstream::context::PublishError,
    },
}

impl NatsError {
    /// True when publishing again later may succeed (the server was unreachable, the ack
    /// timed out, no stream takes the subject yet); false for a bad prefix or entry.
    pub fn is_retryable(&self) -> bool {
        matches!(self, NatsError::Connect(_) | NatsError::Publish { .. })
    }
}

/// What JetStream answered for one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The stream that stored it.
    pub stream: String,
    /// Its sequence number in that stream (the original's, for a duplicate).
    pub sequence: u64,
    /// The stream already had a message with this entry's id: nothing new was stored.
    pub duplicate: bool,
}

/// Publishes feed entries to JetStream under one subject prefix.
#[derive(Debug, Clone)]
pub struct NatsPublisher {
    jetstream: jetstream::Context,
    prefix: String,
}

impl NatsPublisher {
    /// Connects to the NATS server at `url` (e.g. `nats://127.0.0.1:4222`).
    pub async fn connect(url: &str, prefix: &str) -> Result<NatsPublisher, NatsError> {
        check_prefix(prefix)?;
        let client = async_nats::connect(url).await.map_err(NatsError::Connect)?;
        NatsPublisher::new(client, prefix)
    }

    /// A publisher on an existing connection.
    pub fn new(client: async_nats::Client, prefix: &str) -> Result<NatsPublisher, NatsError> {
        check_prefix(prefix)?;
        Ok(NatsPublisher {
            jetstream: jetstream::new(client),
            prefix: prefix.to_owned(),
        })
    }

    /// The subject `entry` is published to: `<prefix>.<repo>.<ref>`, tokens escaped.
    pub fn subject(&self, entry: &Entry) -> String {
        subject(&self.prefix, &entry.repo, &entry.git_ref)
    }

    /// Publishes `entry` and waits for JetStream's acknowledgement.
    pub async fn publish(&self, entry: &Entry) -> Result<Published, NatsError> {
        let payload = serde_json::to_vec(entry).map_err(|source| NatsError::Encode {
            cursor: entry.cursor.clone(),
            source,
        })?;
        let subject = self.subject(entry);
        let publish_error = |source| NatsError::Publish {
            cursor: entry.cursor.clone(),
            subject: subject.clone(),
            source,
        };
        let mut headers = HeaderMap::new();
        headers.insert(async_nats::header::NATS_MESSAGE_ID, entry.cursor.as_str());
        let ack: PublishAckFuture = self
            .jetstream
            .publish_with_headers(subject.clone(), headers, payload.into())
            .await
            .map_err(publish_error)?;
        let ack = ack.await.map_err(publish_error)?;
        Ok(Published {
            stream: ack.stream,
            sequence: ack.sequence,
            duplicate: ack.duplicate,
        })
    }
}

fn check_prefix(prefix: &str) -> Result<(), NatsError> {
    let plain = !prefix.is_empty()
        && prefix.split('.').all(|token| {
            !token.is_empty()
                && token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_/".contains(&b))
        });
    if plain {
        Ok(())
    } else {
        Err(NatsError::InvalidPrefix(prefix.to_owned()))
    }
}

/// `<prefix>.<repo>.<ref>` with the repo and ref escaped into single tokens.
pub(crate) fn subject(prefix: &str, repo: &str, git_ref: &str) -> String {
    format!("{prefix}.{}.{}", token(repo), token(git_ref))
}

/// `text` as one subject token: `.`, `*`, `>`, `%`, whitespace and control bytes as `%XX`
/// (an empty text as `%`).
fn token(text: &str) -> String {
    if text.is_empty() {
        return "%".to_owned();
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '.' | '*' | '>' | '%') || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_escape_what_nats_reserves() {
        assert_eq!(
            subject("cg.feed", "hello", "refs/heads/main"),
            "cg.feed.hello.refs/heads/main"
        );
        assert_eq!(
            subject("f", "my.repo", "refs/tags/v1.2 *>%"),
            "f.my%2Erepo.refs/tags/v1%2E2%20%2A%3E%25"
        );
        assert_eq!(subject("f", "", "x"), "f.%.x");
    }

    #[test]
    fn prefixes_are_plain_tokens() {
        assert!(check_prefix("cg.feed").is_ok());
        for bad in ["", ".", "a..b", "a.*", "a.>", "a b"] {
            assert!(check_prefix(bad).is_err(), "{bad:?}");
        }
    }
}
