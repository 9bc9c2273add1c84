//! Which delivery headers hold secrets, and a delivery's headers with those values hidden:
//! what a log or an API may show of a delivery.
//!
//! A header is secret when its name contains `signature`, `token`, `authorization`,
//! `secret`, `cookie` or `hub-signature`, is one of `x-gitlab-token`, `x-hub-signature`,
//! `x-hub-signature-256`, `x-gitea-signature`, `x-gogs-signature`, `x-hook-signature`,
//! `webhook-signature`, or is a header a provider signs or authenticates with
//! ([`ProviderId::secret_headers`]). Its value is replaced by [`REDACTED`].
//!
//! ```
//! use webhook_core::{Headers, redacted_headers};
//!
//! let headers: Headers = [("X-Hub-Signature-256", "sha256=abc"), ("X-GitHub-Event", "push")]
//!     .into_iter()
//!     .collect();
//! assert_eq!(
//!     redacted_headers(&headers),
//!     vec![
//!         ("x-hub-signature-256".to_string(), "[redacted]".to_string()),
//!         ("x-github-event".to_string(), "push".to_string()),
//!     ]
//! );
//! ```

use crate::{Headers, ProviderId};

/// What a secret header's value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Parts of a header name that mark its value as a secret.
const SECRET_PARTS: [&str; 6] = [
    "signature",
    "token",
    "authorization",
    "secret",
    "cookie",
    "hub-signature",
];

/// Header names whose values are secrets whatever the rule of parts says.
const SECRET_NAMES: [&str; 7] = [
    "x-gitlab-token",
    "x-hub-signature",
    "x-hub-signature-256",
    "x-gitea-signature",
    "x-gogs-signature",
    "x-hook-signature",
    "webhook-signature",
];

/// Whether the value of header `name` (any case) is a secret.
pub fn is_secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARTS.iter().any(|part| name.contains(part))
        || SECRET_NAMES.contains(&name.as_str())
        || ProviderId::ALL
            .iter()
            .any(|provider| provider.secret_headers().contains(&name.as_str()))
}

/// Every header as (lower-case name, value), in arrival order, secret values replaced by
/// [`REDACTED`]; other values not valid UTF-8 are shown with U+FFFD in place of bad bytes.
pub fn redacted_headers(headers: &Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if is_secret_header(name) {
                REDACTED.to_string()
            } else {
                String::from_utf8_lossy(value).into_owned()
            };
            (name.to_string(), shown)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_headers_are_redacted_and_others_kept_in_order() {
        let secret = "s3cret-value";
        let names = [
            "X-Hub-Signature-256",
            "X-Hub-Signature",
            "X-Gitlab-Token",
            "X-Gitea-Signature",
            "X-Gogs-Signature",
            "X-Forgejo-Signature",
            "X-Hook-Signature",
            "webhook-signature",
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "X-Client-Secret",
            "X-Api-Token",
        ];
        let mut headers: Headers = names.iter().map(|name| (*name, secret)).collect();
        headers.insert("X-GitHub-Event", b"push");
        headers.insert("Content-Type", b"application/json");
        headers.insert("X-Raw", &[b'a', 0xff]);
        let shown = redacted_headers(&headers);
        assert_eq!(shown.len(), names.len() + 3);
        for (name, value) in &shown[..names.len()] {
            assert_eq!(value, REDACTED, "{name}");
        }
        assert!(shown.iter().all(|(_, value)| !value.contains(secret)));
        assert_eq!(
            &shown[names.len()..],
            &[
                ("x-github-event".to_string(), "push".to_string()),
                ("content-type".to_string(), "application/json".to_string()),
                ("x-raw".to_string(), "a\u{fffd}".to_string()),
            ]
        );
        assert_eq!(shown[0].0, "x-hub-signature-256", "names are lower-cased");
    }

    #[test]
    fn every_provider_secret_header_is_secret_and_delivery_ids_are_not() {
        for provider in ProviderId::ALL {
            for name in provider.secret_headers() {
                assert!(is_secret_header(name), "{provider}: {name}");
                assert_eq!(name.to_ascii_lowercase(), *name, "{provider}: {name}");
            }
        }
        for name in [
            "X-GitHub-Delivery",
            "X-Gitlab-Event",
            "webhook-id",
            "User-Agent",
        ] {
            assert!(!is_secret_header(name), "{name}");
        }
    }
}
