//! The token a worker holds while it runs a job.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

/// Handed to a worker with a claimed job; flips when the job is cancelled (or when its lease
/// expired and the job was handed to someone else, so a hung worker stops when it wakes up).
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    flag: AtomicBool,
    notify: Notify,
}

impl CancelToken {
    /// A token that has not flipped.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// True once the job was cancelled; check it at every file boundary.
    pub fn is_cancelled(&self) -> bool {
        self.inner.flag.load(Ordering::Acquire)
    }

    /// Resolves when the token flips (at once if it already has).
    pub async fn cancelled(&self) {
        loop {
            let mut notified = pin!(self.inner.notify.notified());
            // Registering before checking the flag closes the race with a concurrent cancel().
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// Flips the token; every holder sees it.
    pub fn cancel(&self) {
        self.inner.flag.store(true, Ordering::Release);
        self.inner.notify.notify_waiters();
    }
}
