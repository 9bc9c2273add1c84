//! The compact binary form of the sled delivery log's records.
//!
//! An entry (`deliveries.v1`, keyed by its id as 8 big-endian bytes): `0x01`, received at
//! (time), provider (string), event, repo, delivery id (optional strings), verification (u8),
//! status (u32), outcome (u8), reason, job id (optional strings), the header count (u32) and
//! each name and value (strings), body size (u64), whether a body was kept (u8), and the
//! entry it redelivers (optional u64). A kept body (`delivery-bodies.v1`, same key): `0x01`,
//! the URL's repo (optional string), the header count (u32) and each name (string) and raw
//! value (u32 length and bytes), then the body to the end. Integers are little-endian, as in
//! `job_record`.

use crate::deliveries::{DeliveryOutcome, DeliveryRecord, KeptBody, LogId, Verification};
use crate::job_record::{Reader, Writer};

const VERSION: u8 = 1;

/// The entry `delivery` (its id is the key); `body_kept` says whether a body is stored
/// beside it.
pub(crate) fn encode_entry(delivery: &DeliveryRecord, body_kept: bool) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(512));
    out.u8(VERSION);
    out.time(delivery.received_at);
    out.str(&delivery.provider);
    out.opt_str(delivery.event.as_deref());
    out.opt_str(delivery.repo.as_deref());
    out.opt_str(delivery.delivery_id.as_deref());
    out.u8(code(&Verification::ALL, delivery.verification));
    out.u32(u32::from(delivery.status));
    out.u8(code(&DeliveryOutcome::ALL, delivery.outcome));
    out.opt_str(delivery.reason.as_deref());
    out.opt_str(delivery.job_id.as_deref());
    out.u32(u32::try_from(delivery.headers.len()).unwrap_or(u32::MAX));
    for (name, value) in &delivery.headers {
        out.str(name);
        out.str(value);
    }
    out.u64(delivery.body_bytes);
    out.u8(u8::from(body_kept));
    match delivery.redelivery_of {
        Some(of) => {
            out.u8(1);
            out.u64(of.0);
        }
        None => out.u8(0),
    }
    out.0
}

/// An entry read back, with whether a body was stored beside it.
pub(crate) fn decode_entry(bytes: &[u8]) -> Option<(DeliveryRecord, bool)> {
    let (&VERSION, rest) = bytes.split_first()? else {
        return None;
    };
    let mut r = Reader(rest);
    let received_at = r.time()?;
    let provider = r.str()?;
    let event = r.opt_str()?;
    let repo = r.opt_str()?;
    let delivery_id = r.opt_str()?;
    let verification = *Verification::ALL.get(usize::from(r.u8()?))?;
    let status = u16::try_from(r.u32()?).ok()?;
    let outcome = *DeliveryOutcome::ALL.get(usize::from(r.u8()?))?;
    let reason = r.opt_str()?;
    let job_id = r.opt_str()?;
    let count = r.u32()?;
    let mut headers = Vec::new();
    for _ in 0..count {
        headers.push((r.str()?, r.str()?));
    }
    let body_bytes = r.u64()?;
    let body_kept = r.flag()?;
    let redelivery_of = if r.flag()? {
        Some(LogId(r.u64()?))
    } else {
        None
    };
    let record = DeliveryRecord {
        received_at,
        provider,
        event,
        repo,
        delivery_id,
        verification,
        status,
        outcome,
        reason,
        job_id,
        headers,
        body_bytes,
        redelivery_of,
    };
    r.0.is_empty().then_some((record, body_kept))
}

pub(crate) fn encode_body(kept: &KeptBody) -> Vec<u8> {
    let mut out = Writer(Vec::with_capacity(kept.body.len() + 1024));
    out.u8(VERSION);
    out.opt_str(kept.path_repo.as_deref());
    out.u32(u32::try_from(kept.headers.len()).unwrap_or(u32::MAX));
    for (name, value) in &kept.headers {
        out.str(name);
        out.u32(u32::try_from(value.len()).unwrap_or(u32::MAX));
        out.0.extend_from_slice(value);
    }
    out.0.extend_from_slice(&kept.body);
    out.0
}

pub(crate) fn decode_body(bytes: &[u8]) -> Option<KeptBody> {
    let (&VERSION, rest) = bytes.split_first()? else {
        return None;
    };
    let mut r = Reader(rest);
    let path_repo = r.opt_str()?;
    let count = r.u32()?;
    let mut headers = Vec::new();
    for _ in 0..count {
        let name = r.str()?;
        let len = usize::try_from(r.u32()?).ok()?;
        if r.0.len() < len {
            return None;
        }
        let (value, rest) = r.0.split_at(len);
        r.0 = rest;
        headers.push((name, value.to_vec()));
    }
    Some(KeptBody {
        path_repo,
        headers,
        body: r.0.to_vec(),
    })
}

fn code<T: PartialEq>(all: &[T], value: T) -> u8 {
    all.iter().position(|v| *v == value).unwrap_or(0) as u8
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    #[test]
    fn entries_and_bodies_round_trip() {
        let delivery = DeliveryRecord {
            received_at: SystemTime::now(),
            provider: "github".into(),
            event: Some("push".into()),
            repo: None,
            delivery_id: Some("d-1".into()),
            verification: Verification::Verified,
            status: 202,
            outcome: DeliveryOutcome::Queued,
            reason: None,
            job_id: Some("0000000000000001".into()),
            headers: vec![("x-hub-signature-256".into(), "[redacted]".into())],
            body_bytes: 12,
            redelivery_of: Some(LogId(3)),
        };
        let bytes = encode_entry(&delivery, true);
        assert_eq!(decode_entry(&bytes), Some((delivery, true)));
        assert!(decode_entry(&bytes[..bytes.len() - 1]).is_none());

        let body = KeptBody {
            path_repo: Some("hello".into()),
            headers: vec![("x-a".into(), vec![0xff, 1]), ("x-b".into(), vec![])],
            body: b"{\"a\":1}".to_vec(),
        };
        assert_eq!(decode_body(&encode_body(&body)), Some(body));
    }
}
