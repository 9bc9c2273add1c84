//! The one shutdown signal a runner and its owner share, and the process signals that ask
//! for it.

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

/// Resolves when the process is asked to stop: ctrl-c, or SIGTERM on unix.
pub async fn stop_requested() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_clone_sees_the_one_flip() {
        let shutdown = Shutdown::new();
        let clone = shutdown.clone();
        assert!(!clone.is_started());
        shutdown.begin();
        assert!(clone.is_started());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(clone.started());
    }

    #[cfg(unix)]
    #[test]
    fn sigterm_is_a_stop_request() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let stop = tokio::spawn(stop_requested());
            // On this one-thread runtime the task runs, and installs its handlers, before
            // the yield returns.
            tokio::task::yield_now().await;
            let pid = std::process::id().to_string();
            let status = std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap();
            assert!(status.success());
            stop.await.unwrap();
        });
    }
}
