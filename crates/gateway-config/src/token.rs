//! `GATEWAY_TOKEN`: the bearer token of the management and read APIs, as the environment
//! gives it.

use std::ffi::OsString;

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

    #[cfg(unix)]
    #[test]
    fn a_token_that_is_not_utf8_is_refused() {
        use std::os::unix::ffi::OsStringExt;
        let value = OsString::from_vec(vec![b's', 0xff]);
        assert_eq!(gateway_token(Some(value)), Err(TokenError::NotUtf8));
    }
}
