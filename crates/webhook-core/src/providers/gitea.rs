//! Gitea, Forgejo and Gogs: bare hex HMAC-SHA256 and GitHub-shaped payloads.

use ring::hmac;

use crate::delivery::{Delivery, ParseOptions, Verified};
use crate::error::Error;
use crate::event::Event;
use crate::headers::HeaderValue;
use crate::provider::Provider;
use crate::provider_id::ProviderId;
use crate::providers::builtin::{Builtin, Keys};
use crate::providers::github_like::{self, verify_hub_sha256};
use crate::providers::{DeliveryIds, event_name};
use crate::signature::{header_problem, verify_hex};

/// Forgejo sends its own header plus Gitea's and Gogs'; Gitea sends Gitea's and Gogs'.
/// All carry the same value, so the first one present decides.
const SIGNATURE_HEADERS: [&str; 3] = [
    "X-Forgejo-Signature",
    "X-Gitea-Signature",
    "X-Gogs-Signature",
];
/// The event headers, read in this order (Forgejo's first, as for the signature).
const EVENT_HEADER: &str = "X-Forgejo-Event";
const OTHER_EVENT_HEADERS: [&str; 3] = ["X-Gitea-Event", "X-Gogs-Event", "X-GitHub-Event"];
const DELIVERY_HEADERS: [&str; 4] = [
    "X-Forgejo-Delivery",
    "X-Gitea-Delivery",
    "X-Gogs-Delivery",
    "X-GitHub-Delivery",
];

/// Gitea, Forgejo and Gogs.
///
/// Verifies the bare hex HMAC-SHA256 of `X-Forgejo-Signature`, `X-Gitea-Signature` or
/// `X-Gogs-Signature` (an empty value, sent when the hook has no secret, counts as
/// missing), falling back to the GitHub-style `X-Hub-Signature-256` newer versions add.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gitea;

impl Builtin for Gitea {
    const ID: ProviderId = ProviderId::Gitea;

    fn check(&self, delivery: &Delivery<'_>, keys: Keys<'_>) -> Result<Verified, Error> {
        let headers = delivery.headers;
        for name in SIGNATURE_HEADERS {
            match headers.single(name) {
                HeaderValue::Absent => continue,
                HeaderValue::Present(hex) => {
                    return verify_hex(name, hmac::HMAC_SHA256, hex, delivery.body, keys.secrets);
                }
                problem => return Err(header_problem(name, problem)),
            }
        }
        verify_hub_sha256(delivery, keys, || {
            Err(Error::missing(
                "X-Gitea-Signature (or X-Forgejo-Signature, X-Gogs-Signature)",
            ))
        })
    }

    fn read(&self, delivery: &Delivery<'_>, options: &ParseOptions) -> Result<Event, Error> {
        let headers = delivery.headers;
        let name = event_name(headers, EVENT_HEADER, &OTHER_EVENT_HEADERS)?;
        let delivery_id = DELIVERY_HEADERS
            .iter()
            .find_map(|header| headers.text(header));
        let ids = DeliveryIds::new(self.id(), None, delivery_id);
        github_like::parse(self.id(), name, delivery.body, ids, options)
    }
}
