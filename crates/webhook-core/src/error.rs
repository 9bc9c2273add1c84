//! [`Error`]: everything that can go wrong while verifying or parsing a delivery.

/// Why a delivery was rejected. Messages name the header or JSON path at fault and never
/// carry a secret or a signature value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No credential was sent where the provider puts one.
    #[error("missing signature: expected header {header}")]
    MissingSignature {
        /// The header (or headers) that were looked for.
        header: String,
    },
    /// A credential was sent but does not verify, or cannot be read.
    #[error("invalid signature: {reason}")]
    InvalidSignature {
        /// What is wrong (never the value itself).
        reason: String,
    },
    /// A signed timestamp lies outside the accepted window (a possible replay).
    #[error(
        "stale timestamp: the delivery was signed {age_secs}s from now, outside the tolerance of {tolerance_secs}s"
    )]
    StaleTimestamp {
        /// Receiver clock minus the signed timestamp, in seconds (negative: from the future).
        age_secs: i64,
        /// The tolerance in force.
        tolerance_secs: u64,
    },
    /// The body is not JSON, or lacks a field the event needs, or has a field of the wrong type.
    #[error("malformed payload at {path}: {reason}")]
    MalformedPayload {
        /// JSON path of the offending value, like `$.repository.name`; `$` when the body is not JSON.
        path: String,
        /// What is wrong there.
        reason: String,
    },
    /// The event type cannot be determined (missing, empty or non-UTF-8 event header or field).
    #[error("unsupported event: {event}")]
    UnsupportedEvent {
        /// What was found (or not found) where the event type should be.
        event: String,
    },
    /// No provider has this name, or none is registered under this id.
    #[error(
        "unknown provider {provider:?}: use one of {}",
        crate::ProviderId::names()
    )]
    UnknownProvider {
        /// The name asked for.
        provider: String,
    },
    /// A secret was empty: an empty key would let anyone sign, so it cannot be made.
    #[error("a secret must not be empty")]
    EmptySecret,
}

impl Error {
    /// A stable snake_case code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            Error::MissingSignature { .. } => "missing_signature",
            Error::InvalidSignature { .. } => "invalid_signature",
            Error::StaleTimestamp { .. } => "stale_timestamp",
            Error::MalformedPayload { .. } => "malformed_payload",
            Error::UnsupportedEvent { .. } => "unsupported_event",
            Error::UnknownProvider { .. } => "unknown_provider",
            Error::EmptySecret => "empty_secret",
        }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        Error::InvalidSignature {
            reason: reason.into(),
        }
    }

    pub(crate) fn missing(header: impl Into<String>) -> Self {
        Error::MissingSignature {
            header: header.into(),
        }
    }

    pub(crate) fn missing_field(path: impl Into<String>) -> Self {
        Error::MalformedPayload {
            path: path.into(),
            reason: "required field is missing or null".to_owned(),
        }
    }

    pub(crate) fn unsupported(event: impl Into<String>) -> Self {
        Error::UnsupportedEvent {
            event: event.into(),
        }
    }
}
