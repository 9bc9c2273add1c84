//! Which job a run belongs to, for the entries it writes.
//!
//! The indexer calls a sink's `commit` on the thread that called `Indexer::run`, so the job
//! runner wraps that call in [`with_run`] and the feed reads the context at commit. A run
//! outside any context writes entries with no job id.

use std::cell::RefCell;

/// The job behind the run now executing on this thread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunContext {
    /// The job's id.
    pub job_id: Option<String>,
    /// Whether the job asked for a full re-index (its entries are of kind `reindex`).
    pub full: bool,
}

thread_local! {
    static CURRENT: RefCell<Option<RunContext>> = const { RefCell::new(None) };
}

/// Runs `f` with `context` as this thread's run context (restored afterwards, also on panic).
pub fn with_run<T>(context: RunContext, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<RunContext>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.borrow_mut().replace(context));
    let _restore = Restore(previous);
    f()
}

/// This thread's run context, if a caller set one.
pub fn current() -> Option<RunContext> {
    CURRENT.with(|c| c.borrow().clone())
}
