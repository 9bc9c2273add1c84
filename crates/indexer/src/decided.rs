//! [`Decided`]: a value one thread sets once while others wait for it. The run thread uses it
//! to hand the stat cache to walker threads that started before the manifest was loaded.

use std::sync::{Condvar, Mutex, OnceLock};

/// A value set once by one thread and waited for by others (`OnceLock::wait` needs a newer
/// Rust than the workspace's minimum).
#[derive(Debug)]
pub(crate) struct Decided<T> {
    value: OnceLock<T>,
    lock: Mutex<()>,
    ready: Condvar,
}

impl<T> Decided<T> {
    pub(crate) fn new() -> Self {
        Decided {
            value: OnceLock::new(),
            lock: Mutex::new(()),
            ready: Condvar::new(),
        }
    }

    /// Sets the value (the first call wins) and wakes the waiters.
    pub(crate) fn set(&self, value: T) {
        let _ = self.value.set(value);
        // Taking the lock orders this after any waiter's check-then-wait.
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        self.ready.notify_all();
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.value.get()
    }

    /// The value, once set.
    pub(crate) fn wait(&self) -> &T {
        if let Some(value) = self.value.get() {
            return value;
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(value) = self.value.get() {
                return value;
            }
            guard = self.ready.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_get_the_first_value_set() {
        let decided = Decided::new();
        std::thread::scope(|scope| {
            let waiters: Vec<_> = (0..3).map(|_| scope.spawn(|| *decided.wait())).collect();
            assert_eq!(decided.get(), None);
            decided.set(7);
            decided.set(8);
            for waiter in waiters {
                assert_eq!(waiter.join().ok(), Some(7));
            }
        });
        assert_eq!(decided.get(), Some(&7));
    }
}
