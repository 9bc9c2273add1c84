//! [`ProviderId::sign`]: the headers a provider would send, for `context-gateway sign`, the
//! gateway's test deliveries and tests.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::{digest, hmac};

use crate::error::Error;
use crate::provider_id::ProviderId;
use crate::secret::Secret;
use crate::signature::{
    WHSEC_PREFIX, encode_hex, standard_signed_content, unix_seconds, whsec_key,
};

impl ProviderId {
    /// Headers this provider would send for `body` authenticated with `secret`.
    ///
    /// - `github`: `X-Hub-Signature-256: sha256=<hex>`
    /// - `gitea`: `X-Gitea-Signature: <hex>`
    /// - `bitbucket`: `X-Hub-Signature: sha256=<hex>`
    /// - `gitlab`: `X-Gitlab-Token: <secret>`; or, for a `whsec_` secret, the Standard
    ///   Webhooks headers `webhook-id` (derived from body and time, so repeatable),
    ///   `webhook-timestamp` (`now`) and `webhook-signature`
    /// - `azure-devops`: `Authorization: Basic <base64 of the user:password secret>`
    ///
    /// ```
    /// use webhook_core::{ProviderId, Secret};
    /// let secret = Secret::new("It's a Secret to Everybody")?;
    /// let headers = ProviderId::GitHub.sign(&secret, b"Hello, World!", std::time::SystemTime::now())?;
    /// assert_eq!(headers[0].0, "X-Hub-Signature-256");
    /// assert_eq!(headers[0].1,
    ///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17");
    /// # Ok::<(), webhook_core::Error>(())
    /// ```
    pub fn sign(
        self,
        secret: &Secret,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Vec<(String, String)>, Error> {
        let raw = secret.expose();
        let hex_hmac = || {
            let key = hmac::Key::new(hmac::HMAC_SHA256, raw);
            encode_hex(hmac::sign(&key, body).as_ref())
        };
        let header = |name: &str, value: String| (name.to_owned(), value);
        match self {
            ProviderId::GitHub => Ok(vec![header(
                "X-Hub-Signature-256",
                format!("sha256={}", hex_hmac()),
            )]),
            ProviderId::Gitea => Ok(vec![header("X-Gitea-Signature", hex_hmac())]),
            ProviderId::Bitbucket => Ok(vec![header(
                "X-Hub-Signature",
                format!("sha256={}", hex_hmac()),
            )]),
            ProviderId::GitLab if raw.starts_with(WHSEC_PREFIX.as_bytes()) => {
                let key = whsec_key(raw).ok_or_else(|| {
                    Error::invalid("the signing secret after whsec_ is not valid base64")
                })?;
                let timestamp = unix_seconds(now).to_string();
                let id = delivery_id(&timestamp, body);
                let content = standard_signed_content(&id, &timestamp, body);
                let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key), &content);
                Ok(vec![
                    header("webhook-id", id),
                    header("webhook-timestamp", timestamp),
                    header("webhook-signature", format!("v1,{}", STANDARD.encode(tag))),
                ])
            }
            ProviderId::GitLab => {
                let token = std::str::from_utf8(raw)
                    .map_err(|_| Error::invalid("a GitLab token must be valid UTF-8"))?;
                Ok(vec![header("X-Gitlab-Token", token.to_owned())])
            }
            ProviderId::AzureDevOps => Ok(vec![header(
                "Authorization",
                format!("Basic {}", STANDARD.encode(raw)),
            )]),
        }
    }
}

/// A repeatable message id: the same body signed at the same second gets the same id.
fn delivery_id(timestamp: &str, body: &[u8]) -> String {
    let mut context = digest::Context::new(&digest::SHA256);
    context.update(timestamp.as_bytes());
    context.update(b".");
    context.update(body);
    let digest = context.finish();
    format!("msg_{}", &encode_hex(digest.as_ref())[..32])
}
