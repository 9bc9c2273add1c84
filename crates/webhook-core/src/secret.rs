//! [`Secret`]: key material that must never reach a log line or an error message.

use std::fmt;

use crate::error::Error;
use crate::signature::WHSEC_PREFIX;

/// A webhook secret: an HMAC key, a GitLab token, a `whsec_` signing secret or an
/// Azure DevOps `user:password` pair.
///
/// A secret is never empty: an empty key would let anyone sign, so [`Secret::new`] refuses
/// it with [`Error::EmptySecret`] and no verification can ever run with one.
///
/// `Debug` prints `Secret(<redacted>)` so a secret inside a config struct cannot leak
/// through `{:?}`. There is deliberately no `PartialEq`: comparisons against presented
/// credentials go through the constant-time checks of this crate.
///
/// ```
/// use webhook_core::Secret;
/// assert!(Secret::new("s3cret").is_ok());
/// assert_eq!(Secret::new("").unwrap_err().code(), "empty_secret");
/// ```
#[derive(Clone)]
pub struct Secret {
    bytes: Vec<u8>,
}

impl Secret {
    /// Wraps raw secret bytes; [`Error::EmptySecret`] when there are none.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, Error> {
        let bytes = bytes.into();
        if bytes.is_empty() {
            return Err(Error::EmptySecret);
        }
        Ok(Self { bytes })
    }

    /// The raw secret bytes (for signing and verification only).
    pub fn expose(&self) -> &[u8] {
        &self.bytes
    }

    /// Whether this is a Standard Webhooks signing secret (`whsec_…`): such a secret is
    /// only ever used as an HMAC key, never compared with a token a sender presents.
    pub fn is_signing_key(&self) -> bool {
        self.bytes.starts_with(WHSEC_PREFIX.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl TryFrom<&str> for Secret {
    type Error = Error;

    fn try_from(value: &str) -> Result<Self, Error> {
        Self::new(value.as_bytes())
    }
}

impl TryFrom<String> for Secret {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value.into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::try_from("hunter2").unwrap();
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(secret.expose(), b"hunter2");
    }

    #[test]
    fn empty_secrets_cannot_be_made() {
        assert!(matches!(Secret::new(""), Err(Error::EmptySecret)));
        assert!(matches!(
            Secret::try_from(String::new()),
            Err(Error::EmptySecret)
        ));
        assert!(Secret::new(" ").is_ok(), "only the empty string is refused");
    }

    #[test]
    fn whsec_secrets_are_signing_keys() {
        assert!(Secret::new("whsec_AAEC").unwrap().is_signing_key());
        assert!(!Secret::new("plain-token").unwrap().is_signing_key());
    }
}
