//! [`Secret`]: key material that must never reach a log line or an error message.

use std::fmt;

/// A webhook secret: an HMAC key, a GitLab token, a `whsec_` signing secret or an
/// Azure DevOps `user:password` pair.
///
/// `Debug` prints `Secret(<redacted>)` so a secret inside a config struct cannot leak
/// through `{:?}`. There is deliberately no `PartialEq`: comparisons against presented
/// credentials go through the constant-time checks of this crate.
#[derive(Clone)]
pub struct Secret {
    bytes: Vec<u8>,
}

impl Secret {
    /// Wraps raw secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self {
            bytes: bytes.into(),
        }
    }

    /// The raw secret bytes (for signing and verification only).
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), b"hunter2");
    }
}
