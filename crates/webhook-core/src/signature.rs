//! Credential checks shared by the providers: HMAC hex signatures, shared tokens,
//! HTTP Basic credentials and Standard Webhooks signatures. All comparisons are
//! constant-time and all messages leave secrets and signature values out.

use std::time::UNIX_EPOCH;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ring::hmac;

use crate::delivery::{Verified, VerifyOptions};
use crate::error::Error;
use crate::headers::{HeaderValue, Headers};
use crate::secret::Secret;

/// Prefix of Standard Webhooks signing secrets; the rest is the base64 HMAC key.
pub(crate) const WHSEC_PREFIX: &str = "whsec_";

/// The secrets to try, or the error for a receiver that configured none. [`Secret`]s are
/// never empty, so every one listed is a real key.
fn usable(secrets: &[Secret]) -> Result<impl Iterator<Item = &[u8]>, Error> {
    Ok(configured(secrets)?.iter().map(Secret::expose))
}

/// `secrets`, or the error for a receiver that configured none.
fn configured(secrets: &[Secret]) -> Result<&[Secret], Error> {
    if secrets.is_empty() {
        return Err(Error::invalid("no secret is configured to verify it with"));
    }
    Ok(secrets)
}

/// A single-valued credential header, or the error its absence/ambiguity deserves.
pub(crate) fn required<'h>(headers: &'h Headers, name: &str) -> Result<&'h str, Error> {
    match headers.single(name) {
        HeaderValue::Present(value) => Ok(value),
        HeaderValue::Absent => Err(Error::missing(name)),
        other => Err(header_problem(name, other)),
    }
}

/// The error for a header that is present but unusable.
pub(crate) fn header_problem(name: &str, value: HeaderValue<'_>) -> Error {
    match value {
        HeaderValue::Repeated(n) => Error::invalid(format!(
            "header {name} was sent {n} times; a signature must be unambiguous"
        )),
        HeaderValue::NotUtf8 => Error::invalid(format!("header {name} is not valid UTF-8")),
        HeaderValue::Absent => Error::missing(name),
        HeaderValue::Present(_) => Error::invalid(format!("header {name} is not usable")),
    }
}

/// Decodes hex of either case.
pub(crate) fn decode_hex(header: &str, text: &str) -> Result<Vec<u8>, Error> {
    if text.len() % 2 != 0 {
        return Err(Error::invalid(format!(
            "header {header} has an odd number of hex digits"
        )));
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    };
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| Error::invalid(format!("header {header} is not hexadecimal")))
}

/// Lowercase hex of `bytes`.
pub(crate) fn encode_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

/// Algorithm named by a `sha256=` style prefix, if this crate accepts it under `opts`.
pub(crate) fn algorithm_for_prefix(
    header: &str,
    prefix: &str,
    allowed: &[&'static str],
    opts: &VerifyOptions,
) -> Result<hmac::Algorithm, Error> {
    let name = prefix.to_ascii_lowercase();
    if !allowed.contains(&name.as_str()) {
        return Err(Error::invalid(format!(
            "header {header} names an algorithm this receiver does not accept for it"
        )));
    }
    match name.as_str() {
        "sha256" => Ok(hmac::HMAC_SHA256),
        "sha384" => Ok(hmac::HMAC_SHA384),
        "sha512" => Ok(hmac::HMAC_SHA512),
        "sha1" if opts.allow_sha1 => Ok(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY),
        "sha1" => Err(Error::invalid(format!(
            "header {header} carries a SHA-1 signature and SHA-1 is not enabled"
        ))),
        _ => Err(Error::invalid(format!(
            "header {header} names an unknown algorithm"
        ))),
    }
}

/// Checks an `algo=<hex>` header value against every secret.
pub(crate) fn verify_prefixed_hex(
    header: &str,
    value: &str,
    allowed: &[&'static str],
    body: &[u8],
    secrets: &[Secret],
    opts: &VerifyOptions,
) -> Result<Verified, Error> {
    let Some((prefix, hex)) = value.split_once('=') else {
        return Err(Error::invalid(format!(
            "header {header} lacks an algorithm prefix such as sha256="
        )));
    };
    let algorithm = algorithm_for_prefix(header, prefix.trim(), allowed, opts)?;
    verify_hex(header, algorithm, hex.trim(), body, secrets)
}

/// Checks a bare hex HMAC against every secret.
pub(crate) fn verify_hex(
    header: &str,
    algorithm: hmac::Algorithm,
    hex: &str,
    body: &[u8],
    secrets: &[Secret],
) -> Result<Verified, Error> {
    let tag = decode_hex(header, hex)?;
    let expected_len = algorithm.digest_algorithm().output_len();
    if tag.len() != expected_len {
        return Err(Error::invalid(format!(
            "header {header} holds {} bytes, expected {expected_len}",
            tag.len()
        )));
    }
    for secret in usable(secrets)? {
        let key = hmac::Key::new(algorithm, secret);
        if hmac::verify(&key, body, &tag).is_ok() {
            return Ok(Verified::Signature);
        }
    }
    Err(Error::invalid(format!(
        "header {header} does not match the body under any configured secret"
    )))
}

/// Constant-time equality of two byte strings of any length.
///
/// ring's own slice comparison is deprecated ("no promises regarding side channels"), so
/// both sides go through HMAC under a fixed key and ring compares the tags in constant
/// time; equal tags mean equal inputs, and the lengths never steer the comparison.
/// Public so that services embedding this crate compare their own credentials (an API
/// token, say) the same way.
pub fn constant_time_eq(presented: &[u8], expected: &[u8]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"webhook-core credential comparison");
    let expected_tag = hmac::sign(&key, expected);
    hmac::verify(&key, presented, expected_tag.as_ref()).is_ok()
}

/// Checks a shared token (GitLab's `X-Gitlab-Token`) against every secret that is not a
/// signing key: a `whsec_` secret is an HMAC key, and a sender who presents it as a plain
/// token has proved nothing the key is for.
pub(crate) fn verify_token(
    header: &str,
    token: &str,
    secrets: &[Secret],
) -> Result<Verified, Error> {
    let tokens: Vec<&[u8]> = configured(secrets)?
        .iter()
        .filter(|secret| !secret.is_signing_key())
        .map(Secret::expose)
        .collect();
    if tokens.is_empty() {
        return Err(Error::invalid(format!(
            "header {header} needs a secret token and only whsec_ signing secrets are configured"
        )));
    }
    // Check every token, without stopping early, so timing does not reveal which matched.
    let mut matched = false;
    for expected in tokens {
        matched |= constant_time_eq(token.as_bytes(), expected);
    }
    if matched {
        Ok(Verified::Token)
    } else {
        Err(Error::invalid(format!(
            "header {header} does not match any configured token"
        )))
    }
}

/// Checks `Authorization: Basic <base64 user:password>` against every `user:password` secret.
pub(crate) fn verify_basic(value: &str, secrets: &[Secret]) -> Result<Verified, Error> {
    let Some((scheme, encoded)) = value.split_once(' ') else {
        return Err(Error::invalid(
            "header Authorization is not of the form `Basic <credentials>`",
        ));
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Error::invalid(
            "header Authorization uses a scheme other than Basic",
        ));
    }
    let credentials = STANDARD
        .decode(encoded.trim())
        .map_err(|_| Error::invalid("header Authorization does not hold valid base64"))?;
    let mut matched = false;
    for secret in usable(secrets)? {
        matched |= constant_time_eq(&credentials, secret);
    }
    if matched {
        Ok(Verified::BasicAuth)
    } else {
        Err(Error::invalid(
            "header Authorization does not match any configured user:password",
        ))
    }
}

/// The HMAC key inside a `whsec_<base64>` signing secret.
pub(crate) fn whsec_key(secret: &[u8]) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(WHSEC_PREFIX.as_bytes())?;
    STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()
        .filter(|key| !key.is_empty())
}

/// The bytes a Standard Webhooks signature covers: `{id}.{timestamp}.{body}`.
pub(crate) fn standard_signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

/// Verifies a Standard Webhooks delivery (`webhook-id`, `webhook-timestamp`,
/// `webhook-signature: v1,<base64> ...`) with the `whsec_` secrets among `secrets`.
pub(crate) fn verify_standard_webhooks(
    headers: &Headers,
    body: &[u8],
    secrets: &[Secret],
    opts: &VerifyOptions,
) -> Result<Verified, Error> {
    let signatures = required(headers, "webhook-signature")?;
    let id = required(headers, "webhook-id")?;
    let timestamp = required(headers, "webhook-timestamp")?;
    let signed_at: i64 = timestamp
        .parse()
        .map_err(|_| Error::invalid("header webhook-timestamp is not an integer"))?;

    let keys: Vec<Vec<u8>> = usable(secrets)?.filter_map(whsec_key).collect();
    if keys.is_empty() {
        return Err(Error::invalid(
            "webhook-signature needs a whsec_ signing secret and none is configured",
        ));
    }
    let tags: Vec<Vec<u8>> = signatures
        .split_ascii_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|encoded| STANDARD.decode(encoded).ok())
        .collect();
    if tags.is_empty() {
        return Err(Error::invalid(
            "header webhook-signature holds no readable v1,<base64> signature",
        ));
    }
    let content = standard_signed_content(id, timestamp, body);
    // One HMAC over the body per key, then cheap comparisons per presented tag: verifying
    // each tag with `hmac::verify` would hash the whole body once per tag, and a 64 KiB
    // header holds thousands of `v1,` entries (a 25 MiB body times 9,000 tags is hours of
    // SHA-256 for one unauthenticated request).
    let authentic = keys.iter().any(|key| {
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), &content);
        tags.iter()
            .any(|tag| constant_time_eq(tag, expected.as_ref()))
    });
    if !authentic {
        return Err(Error::invalid(
            "header webhook-signature does not match under any configured signing secret",
        ));
    }
    // Checked after the signature so StaleTimestamp means "authentic but too old/new".
    let now = unix_seconds(opts.now);
    let age_secs = now.saturating_sub(signed_at);
    let tolerance_secs = opts.timestamp_tolerance.as_secs();
    if age_secs.unsigned_abs() > tolerance_secs {
        return Err(Error::StaleTimestamp {
            age_secs,
            tolerance_secs,
        });
    }
    Ok(Verified::Signature)
}

/// Seconds since the Unix epoch, negative before it.
pub(crate) fn unix_seconds(time: std::time::SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_bad_input() {
        assert_eq!(decode_hex("h", "00ffAb").unwrap(), vec![0, 255, 0xab]);
        assert_eq!(encode_hex(&[0, 255, 0xab]), "00ffab");
        assert!(decode_hex("h", "abc").is_err());
        assert!(decode_hex("h", "zz").is_err());
        assert!(decode_hex("h", "é1").is_err());
    }

    #[test]
    fn constant_time_eq_compares_contents_and_lengths() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token\0"));
        assert!(!constant_time_eq(b"", b"token"));
    }

    #[test]
    fn whsec_keys_decode_with_or_without_padding() {
        assert_eq!(whsec_key(b"whsec_AAEC").unwrap(), vec![0, 1, 2]);
        assert_eq!(whsec_key(b"whsec_AAE=").unwrap(), vec![0, 1]);
        assert_eq!(whsec_key(b"whsec_AAE").unwrap(), vec![0, 1]);
        assert!(whsec_key(b"plain").is_none());
        assert!(whsec_key(b"whsec_!!").is_none());
    }
}
