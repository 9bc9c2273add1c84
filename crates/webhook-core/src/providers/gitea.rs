//! Gitea, Forgejo and Gogs: bare hex HMAC-SHA256 and GitHub-shaped payloads.

use ring::hmac;

use crate::delivery::{Delivery, ParseOptions, Verified, VerifyOptions};
use crate::error::Error;
use crate::event::Event;
use crate::headers::HeaderValue;
use crate::provider::Provider;
use crate::provider_id::ProviderId;
use crate::providers::github_like;
use crate::providers::{DeliveryIds, event_name};
use crate::secret::Secret;
use crate::signature::{header_problem, verify_hex, verify_prefixed_hex};

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

impl Provider for Gitea {
    fn id(&self) -> ProviderId {
        ProviderId::Gitea
    }

    fn verify(
        &self,
        delivery: &Delivery<'_>,
        secrets: &[Secret],
        opts: &VerifyOptions,
    ) -> Result<Verified, Error> {
        let headers = delivery.headers;
        for name in SIGNATURE_HEADERS {
            match headers.single(name) {
                HeaderValue::Absent => continue,
                HeaderValue::Present(hex) => {
                    return verify_hex(name, hmac::HMAC_SHA256, hex, delivery.body, secrets);
                }
                problem => return Err(header_problem(name, problem)),
            }
        }
        match headers.single("X-Hub-Signature-256") {
            HeaderValue::Present(value) => verify_prefixed_hex(
                "X-Hub-Signature-256",
                value,
                &["sha256"],
                delivery.body,
                secrets,
                opts,
            ),
            HeaderValue::Absent => Err(Error::missing(
                "X-Gitea-Signature (or X-Forgejo-Signature, X-Gogs-Signature)",
            )),
            problem => Err(header_problem("X-Hub-Signature-256", problem)),
        }
    }

    fn parse(&self, delivery: &Delivery<'_>) -> Result<Event, Error> {
        self.parse_with(delivery, &ParseOptions::default())
    }

    fn parse_with(&self, delivery: &Delivery<'_>, options: &ParseOptions) -> Result<Event, Error> {
        let headers = delivery.headers;
        let name = event_name(headers, EVENT_HEADER, &OTHER_EVENT_HEADERS)?;
        let delivery_id = DELIVERY_HEADERS
            .iter()
            .find_map(|header| headers.text(header));
        let ids = DeliveryIds::new(self.id(), None, delivery_id);
        github_like::parse(self.id(), name, delivery.body, ids, options)
    }
}
