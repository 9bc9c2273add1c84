//! LISTEN/NOTIFY: the one connection per store that hears wake-ups and cancellations from
//! every replica, and reconnects when it is lost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use jobstore::CancelToken;
use tokio::sync::{Notify, mpsc};
use tokio_postgres::{AsyncMessage, Client, NoTls};

use crate::error::PgError;
use crate::names::Names;

/// How long the listener waits before reconnecting after its connection was lost.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// What the store and its listener share.
#[derive(Debug, Default)]
pub(crate) struct Signals {
    /// Woken when work may have become claimable, here or on another replica.
    pub(crate) wake: Notify,
    /// Jobs claimed through this store and not yet completed: row id → (lease token, the
    /// token its worker watches).
    holders: Mutex<HashMap<i64, (i64, CancelToken)>>,
}

impl Signals {
    fn holders(&self) -> MutexGuard<'_, HashMap<i64, (i64, CancelToken)>> {
        self.holders.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A fresh cancel token for the claim of job `n` under lease `token`.
    pub(crate) fn hold(&self, n: i64, token: i64) -> CancelToken {
        let cancel = CancelToken::new();
        self.holders().insert(n, (token, cancel.clone()));
        cancel
    }

    /// Forgets the claim of job `n` under lease `token` (completed or lost).
    pub(crate) fn release(&self, n: i64, token: i64) {
        let mut holders = self.holders();
        if holders.get(&n).is_some_and(|(held, _)| *held == token) {
            holders.remove(&n);
        }
    }

    /// Flips the token of the local holder of job `n`: any holder for a cancellation
    /// (`lease: None`), the holder of that lease for a take-over.
    pub(crate) fn stop(&self, n: i64, lease: Option<i64>) {
        if let Some((held, cancel)) = self.holders().get(&n) {
            if lease.is_none_or(|lease| lease == *held) {
                cancel.cancel();
            }
        }
    }

    fn on_notification(&self, names: &Names, channel: &str, payload: &str) {
        if channel == names.wake_channel {
            self.wake.notify_waiters();
        } else if channel == names.cancel_channel {
            let mut parts = payload.split(' ');
            let job = parts.next().and_then(|n| n.parse().ok());
            let lease = parts.next().and_then(|t| t.parse().ok());
            if let Some(job) = job {
                self.stop(job, lease);
            }
        }
    }
}

/// The payload of a stop notice on the cancel channel.
pub(crate) fn stop_payload(job: i64, lease: Option<i64>) -> String {
    match lease {
        Some(token) => format!("{job} {token}"),
        None => job.to_string(),
    }
}

/// A connection that listens on the store's channels; notifications arrive on the receiver,
/// which ends when the connection does.
pub(crate) struct Listening {
    _client: Client,
    notifications: mpsc::UnboundedReceiver<(String, String)>,
}

impl std::fmt::Debug for Listening {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listening").finish_non_exhaustive()
    }
}

/// Connects and subscribes. Returns once `LISTEN` is in effect, so nothing sent after it
/// is missed.
pub(crate) async fn listen(
    config: &tokio_postgres::Config,
    names: &Names,
) -> Result<Listening, PgError> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let (sender, notifications) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    let message = (n.channel().to_owned(), n.payload().to_owned());
                    if sender.send(message).is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(error)) => {
                    tracing::warn!(%error, "the job store's listening connection failed");
                    return;
                }
                None => return,
            }
        }
    });
    client
        .batch_execute(&format!(
            "LISTEN \"{}\"; LISTEN \"{}\"",
            names.wake_channel, names.cancel_channel
        ))
        .await?;
    Ok(Listening {
        _client: client,
        notifications,
    })
}

/// Dispatches notifications until the store is dropped (its task is aborted then),
/// reconnecting whenever the connection is lost. After a reconnect every waiter is woken:
/// notifications sent while nobody listened are gone.
pub(crate) async fn run(
    mut listening: Listening,
    config: tokio_postgres::Config,
    names: Names,
    signals: Arc<Signals>,
) {
    loop {
        while let Some((channel, payload)) = listening.notifications.recv().await {
            signals.on_notification(&names, &channel, &payload);
        }
        loop {
            tokio::time::sleep(RECONNECT_AFTER).await;
            match listen(&config, &names).await {
                Ok(again) => {
                    tracing::info!(schema = %names.schema, "job store listener reconnected");
                    listening = again;
                    signals.wake.notify_waiters();
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "job store listener cannot reconnect; retrying");
                }
            }
        }
    }
}
