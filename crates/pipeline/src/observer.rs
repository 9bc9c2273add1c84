//! A hook that sees every git command the sources run, so a service can measure git without
//! this crate knowing how it reports (the gateway turns it into Prometheus metrics).

use std::time::Duration;

use crate::source::SourceError;

/// Told about each git command a [`GitSource`](crate::GitSource) or
/// [`LocalSource`](crate::LocalSource) ran, once it ended. Called on the async runtime right
/// after the process ended: keep it cheap and non-blocking (bump a counter, not a file write).
///
/// ```
/// use std::sync::Mutex;
/// use std::time::Duration;
/// use pipeline::{GitObserver, SourceError};
///
/// #[derive(Debug, Default)]
/// struct Failures(Mutex<Vec<(String, &'static str)>>);
///
/// impl GitObserver for Failures {
///     fn git_finished(&self, verb: &str, _elapsed: Duration, error: Option<&SourceError>) {
///         if let Some(error) = error {
///             self.0.lock().unwrap().push((verb.to_string(), error.kind()));
///         }
///     }
/// }
/// ```
pub trait GitObserver: Send + Sync + std::fmt::Debug {
    /// `verb` is git's subcommand (`fetch`, `ls-remote`, `read-tree`, ...), `elapsed` the
    /// wall time from spawn to exit (or to the timeout), `error` the failure, if any.
    fn git_finished(&self, verb: &str, elapsed: Duration, error: Option<&SourceError>);
}

/// The observer of a source nobody watches.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoGitObserver;

impl GitObserver for NoGitObserver {
    fn git_finished(&self, _verb: &str, _elapsed: Duration, _error: Option<&SourceError>) {}
}
