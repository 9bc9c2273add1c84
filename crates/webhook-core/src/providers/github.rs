//! GitHub: `X-Hub-Signature-256` HMAC-SHA256, events from `X-GitHub-Event`.

use crate::delivery::{Delivery, ParseOptions, Verified};
use crate::error::Error;
use crate::event::Event;
use crate::headers::HeaderValue;
use crate::provider::Provider;
use crate::provider_id::ProviderId;
use crate::providers::builtin::{Builtin, Keys};
use crate::providers::github_like::{self, HUB_SIGNATURE_256, verify_hub_sha256};
use crate::providers::{DeliveryIds, event_name};
use crate::signature::{header_problem, verify_prefixed_hex};

const SIGNATURE_SHA1: &str = "X-Hub-Signature";

/// GitHub (github.com and GitHub Enterprise Server).
///
/// Verifies `X-Hub-Signature-256: sha256=<hex>`; the legacy `X-Hub-Signature: sha1=<hex>`
/// only when [`VerifyOptions::allow_sha1`] is set and no SHA-256 signature was sent.
/// The dedupe key includes `X-GitHub-Hook-ID` because one delivery id reaches every hook
/// subscribed to the event.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitHub;

impl Builtin for GitHub {
    const ID: ProviderId = ProviderId::GitHub;

    fn check(&self, delivery: &Delivery<'_>, keys: Keys<'_>) -> Result<Verified, Error> {
        let headers = delivery.headers;
        let Keys { secrets, opts } = keys;
        verify_hub_sha256(delivery, keys, || match headers.single(SIGNATURE_SHA1) {
            HeaderValue::Present(value) if opts.allow_sha1 => verify_prefixed_hex(
                SIGNATURE_SHA1,
                value,
                &["sha1"],
                delivery.body,
                secrets,
                opts,
            ),
            HeaderValue::Present(_) => Err(Error::invalid(format!(
                "only a SHA-1 signature ({SIGNATURE_SHA1}) was sent and SHA-1 is not enabled; expected {HUB_SIGNATURE_256}"
            ))),
            HeaderValue::Absent if opts.allow_sha1 => Err(Error::missing(format!(
                "{HUB_SIGNATURE_256} (or {SIGNATURE_SHA1})"
            ))),
            HeaderValue::Absent => Err(Error::missing(HUB_SIGNATURE_256)),
            problem => Err(header_problem(SIGNATURE_SHA1, problem)),
        })
    }

    fn read(&self, delivery: &Delivery<'_>, options: &ParseOptions) -> Result<Event, Error> {
        let headers = delivery.headers;
        let name = event_name(headers, "X-GitHub-Event", &[])?;
        let ids = DeliveryIds::new(
            self.id(),
            headers.text("X-GitHub-Hook-ID"),
            headers.text("X-GitHub-Delivery"),
        );
        github_like::parse(self.id(), name, delivery.body, ids, options)
    }
}
