//! Wake-ups from every replica: one connection per store `LISTEN`s on the feed's channel,
//! and the counter is read every `poll_every` should a notification be lost.

use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, GenericClient, NoTls};

use crate::error::PgFeedError;
use crate::schema::Names;

/// How long the listener waits before reconnecting after its connection was lost.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// Raises `newest` to `cursor` (never lowers it); waiters wake only on a rise.
pub(crate) fn raise(newest: &watch::Sender<u64>, cursor: u64) {
    newest.send_if_modified(|current| {
        let rises = cursor > *current;
        if rises {
            *current = cursor;
        }
        rises
    });
}

/// The newest cursor committed, from the counter, through a pooled connection.
pub(crate) async fn newest_committed(pool: &Pool, names: &Names) -> Result<u64, PgFeedError> {
    let client = pool.get().await?;
    newest_in(&**client, names).await
}

/// The newest cursor committed, as `client` (a connection or a transaction) sees it.
pub(crate) async fn newest_in(
    client: &impl GenericClient,
    names: &Names,
) -> Result<u64, PgFeedError> {
    let next: i64 = client
        .query_one(
            &format!(
                "SELECT next FROM {}.cursor_counter WHERE id = 1",
                names.quoted
            ),
            &[],
        )
        .await?
        .get(0);
    crate::error::unsigned(next - 1, "cursor counter")
}

/// Connects and listens; payloads arrive on the receiver, which ends with the connection.
/// Returns once `LISTEN` is in effect, so nothing committed after it is missed.
async fn listen(
    config: &tokio_postgres::Config,
    names: &Names,
) -> Result<(tokio_postgres::Client, mpsc::UnboundedReceiver<String>), PgFeedError> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, payloads) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(message) = std::future::poll_fn(|cx| connection.poll_message(cx)).await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if sender.send(n.payload().to_owned()).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "the feed's listening connection failed");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!("LISTEN \"{}\"", names.channel))
        .await?;
    Ok((client, payloads))
}

/// Keeps `newest` up with every replica's commits until the store is dropped (its runtime
/// stops then): notifications as they come, the counter every `poll_every` and after each
/// reconnect (notifications sent while nobody listened are gone).
pub(crate) async fn run(
    config: tokio_postgres::Config,
    pool: Pool,
    names: Names,
    newest: watch::Sender<u64>,
    poll_every: Duration,
) {
    loop {
        match listen(&config, &names).await {
            Ok((_client, mut payloads)) => {
                let mut poll = tokio::time::interval(poll_every);
                loop {
                    tokio::select! {
                        payload = payloads.recv() => match payload {
                            Some(payload) => match payload.parse() {
                                Ok(cursor) => raise(&newest, cursor),
                                Err(_) => tracing::warn!(%payload, "a feed notification without a cursor"),
                            },
                            None => break,
                        },
                        // The first tick is at once: what was committed before LISTEN.
                        _ = poll.tick() => match newest_committed(&pool, &names).await {
                            Ok(cursor) => raise(&newest, cursor),
                            Err(error) => tracing::warn!(%error, "the feed cannot read its cursor counter"),
                        },
                    }
                }
            }
            Err(error) => {
                tracing::warn!(%error, "the feed cannot listen for other replicas; retrying")
            }
        }
        tokio::time::sleep(RECONNECT_AFTER).await;
    }
}
