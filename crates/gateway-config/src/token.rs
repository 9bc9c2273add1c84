//! `GATEWAY_TOKEN`: the bearer token of the management and read APIs, as the environment
//! gives it.

use std::ffi::OsString;
use std::net::SocketAddr;

use crate::Config;

/// Why a `GATEWAY_TOKEN` value cannot be used: a client could never send it back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Set to nothing.
    #[error(
        "GATEWAY_TOKEN is set but empty: give it a value, or unset it to serve management to direct loopback clients only"
    )]
    Empty,
    /// Whitespace at either end.
    #[error(
        "GATEWAY_TOKEN has whitespace at its start or end, which no client sends back: remove it"
    )]
    Whitespace,
    /// Not UTF-8.
    #[error("GATEWAY_TOKEN is not valid UTF-8")]
    NotUtf8,
    /// Not set, with a `listen` address other hosts can reach.
    #[error(
        "refusing to listen on {0} without GATEWAY_TOKEN: the management API would be open to the network. Set GATEWAY_TOKEN or listen on a loopback address"
    )]
    OpenManagement(SocketAddr),
}

impl Config {
    /// [`gateway_token`] for this config: none is refused unless `listen` is a loopback
    /// address, since the management API would be open to the network.
    pub fn gateway_token(&self, value: Option<OsString>) -> Result<Option<String>, TokenError> {
        let token = gateway_token(value)?;
        if token.is_none() && !self.listen.ip().is_loopback() {
            return Err(TokenError::OpenManagement(self.listen));
        }
        Ok(token)
    }
}

/// `GATEWAY_TOKEN` as read from the environment: unset is `None` (management for direct
/// loopback clients only); empty, padded with whitespace or not UTF-8 is an error, since such a
/// token could never match what a client sends.
pub fn gateway_token(value: Option<OsString>) -> Result<Option<String>, TokenError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let token = value.into_string().map_err(|_| TokenError::NotUtf8)?;
    if token.is_empty() {
        return Err(TokenError::Empty);
    }
    if token.trim() != token {
        return Err(TokenError::Whitespace);
    }
    Ok(Some(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_token_a_client_can_send_back_is_taken() {
        let token = |text: &str| gateway_token(Some(OsString::from(text)));
        assert_eq!(gateway_token(None), Ok(None));
        assert_eq!(token("s3cret"), Ok(Some("s3cret".to_string())));
        assert_eq!(token(""), Err(TokenError::Empty));
        assert_eq!(token("s3cret\n"), Err(TokenError::Whitespace));
        assert_eq!(token(" s3cret"), Err(TokenError::Whitespace));
    }

    #[test]
    fn without_a_token_only_loopback_is_served() {
        let config = |listen: &str| {
            let overrides = crate::Overrides {
                listen: Some(listen.into()),
                ..crate::Overrides::default()
            };
            Config::empty(&overrides).unwrap()
        };
        assert_eq!(config("127.0.0.1:0").gateway_token(None), Ok(None));
        assert_eq!(config("[::1]:80").gateway_token(None), Ok(None));
        let open = config("0.0.0.0:8080").gateway_token(None).unwrap_err();
        assert!(
            open.to_string()
                .starts_with("refusing to listen on 0.0.0.0:8080 without GATEWAY_TOKEN")
        );
        let given = Some(OsString::from("t"));
        assert_eq!(
            config("0.0.0.0:8080").gateway_token(given),
            Ok(Some("t".into()))
        );
        let empty = config("0.0.0.0:8080").gateway_token(Some(OsString::new()));
        assert_eq!(empty, Err(TokenError::Empty));
    }

    #[cfg(unix)]
    #[test]
    fn a_token_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStringExt;
        let value = OsString::from_vec(vec![b's', 0xff]);
        assert_eq!(gateway_token(Some(value)), Err(TokenError::NotUtf8));
    }
}
