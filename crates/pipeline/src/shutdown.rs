//! The one shutdown signal a runner and its owner share.

use std::sync::Arc;

use tokio::sync::watch;

/// Flips once from running to stopping; every clone sees it.
#[derive(Debug, Clone)]
pub struct Shutdown {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A signal that has not fired.
    pub fn new() -> Self {
        Shutdown {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Starts shutdown: workers stop at the next file boundary and hand running jobs back.
    pub fn begin(&self) {
        self.sender.send_replace(true);
    }

    /// Whether shutdown has started.
    pub fn is_started(&self) -> bool {
        *self.sender.borrow()
    }

    /// Resolves once shutdown has started (at once if it already has).
    pub async fn started(&self) {
        let mut receiver = self.sender.subscribe();
        let _ = receiver.wait_for(|started| *started).await;
    }
}
