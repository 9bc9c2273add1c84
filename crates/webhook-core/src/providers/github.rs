//! GitHub: `X-Hub-Signature-256` HMAC-SHA256, events from `X-GitHub-Event`.

use crate::delivery::{Delivery, ParseOptions, Verified, VerifyOptions};
use crate::error::Error;
use crate::event::Event;
use crate::headers::HeaderValue;
use crate::provider::Provider;
use crate::provider_id::ProviderId;
use crate::providers::github_like;
use crate::providers::{DeliveryIds, event_name};
use crate::secret::Secret;
use crate::signature::{header_problem, verify_prefixed_hex};

const SIGNATURE_256: &str = "X-Hub-Signature-256";
const SIGNATURE_SHA1: &str = "X-Hub-Signature";

/// GitHub (github.com and GitHub Enterprise Server).
///
/// Verifies `X-Hub-Signature-256: sha256=<hex>`; the legacy `X-Hub-Signature: sha1=<hex>`
/// only when [`VerifyOptions::allow_sha1`] is set and no SHA-256 signature was sent.
/// The dedupe key includes `X-GitHub-Hook-ID` because one delivery id reaches every hook
/// subscribed to the event.
#[derive(Debug, Clone, Copy, Default)]
pub struct GitHub;

impl Provider for GitHub {
    fn id(&self) -> ProviderId {
        ProviderId::GitHub
    }

    fn verify(
        &self,
        delivery: &Delivery<'_>,
        secrets: &[Secret],
        opts: &VerifyOptions,
    ) -> Result<Verified, Error> {
        let headers = delivery.headers;
        match headers.single(SIGNATURE_256) {
            HeaderValue::Present(value) => verify_prefixed_hex(
                SIGNATURE_256,
                value,
                &["sha256"],
                delivery.body,
                secrets,
                opts,
            ),
            HeaderValue::Absent => match headers.single(SIGNATURE_SHA1) {
                HeaderValue::Present(value) if opts.allow_sha1 => verify_prefixed_hex(
                    SIGNATURE_SHA1,
                    value,
                    &["sha1"],
                    delivery.body,
                    secrets,
                    opts,
                ),
                HeaderValue::Present(_) => Err(Error::invalid(format!(
                    "only a SHA-1 signature ({SIGNATURE_SHA1}) was sent and SHA-1 is not enabled; expected {SIGNATURE_256}"
                ))),
                HeaderValue::Absent if opts.allow_sha1 => Err(Error::missing(format!(
                    "{SIGNATURE_256} (or {SIGNATURE_SHA1})"
                ))),
                HeaderValue::Absent => Err(Error::missing(SIGNATURE_256)),
                problem => Err(header_problem(SIGNATURE_SHA1, problem)),
            },
            problem => Err(header_problem(SIGNATURE_256, problem)),
        }
    }

    fn parse(&self, delivery: &Delivery<'_>) -> Result<Event, Error> {
        self.parse_with(delivery, &ParseOptions::default())
    }

    fn parse_with(&self, delivery: &Delivery<'_>, options: &ParseOptions) -> Result<Event, Error> {
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
