//! The in-memory index of accepted delivery keys, compact enough to hold a week of them.
//!
//! A hash map of 32-byte entries costs 40–70 bytes per key with its slack (a table that
//! doubles), and at a million retained keys it was the largest item of the gateway's
//! memory. Here only the keys of the last moments live in a small hash map; it is sealed
//! into sorted runs, boxed slices of exactly 32 bytes per key with no slack, each with a
//! small directory by digest prefix (half a byte per key) so a lookup touches a few cache
//! lines, and a filter (two bytes per key) that lets a lookup of an absent key, the
//! common case, skip a run after one cache line. Runs are merged like an LSM tree's (a new
//! run is merged into the one before while it is at least half its size, up to [`MAX_RUN`]
//! keys), so there are few of them, and merges and cleanups drop expired keys. No single
//! allocation exceeds `MAX_RUN` entries (8 MiB), so the allocator can hand a merged run's
//! memory back.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::queue::{DedupeDigest, DedupeEntry};

/// Keys kept in the hash map before they are sealed into a run.
const RECENT_CAPACITY: usize = 4096;
/// Largest run built by merging.
const MAX_RUN: usize = 256 * 1024;

/// One key in a run. Field order keeps it at 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    digest: DedupeDigest,
    entry: DedupeEntry,
}

/// A sorted run and a directory into it: `dir[b]` is the first slot whose digest starts
/// with the `bits`-bit prefix `b` or a larger one. Digests are uniform, so each prefix owns
/// about [`KEYS_PER_BUCKET`] slots: a lookup reads the directory and one short stretch of the
/// run (two or three cache misses) instead of a binary search over megabytes (one miss per
/// level, and every new delivery key is looked up in every run). The directory costs half a
/// byte per key.
///
/// Every new delivery key is looked up in every run and found in none, so each run also
/// has a filter: one 64-bit word per four keys, five bits of the word set per key (the
/// word and the bits come from digest bytes the directory does not use). A key absent
/// from the run passes it about once in 250 lookups (0.4 %, simulated); otherwise the lookup
/// costs one cache line per run instead of three. Profiled before it (1.2 M deliveries into one
/// store): this index went from 3 % to 9 % of the store's CPU as runs accumulated.
#[derive(Debug)]
struct Run {
    slots: Box<[Slot]>,
    dir: Box<[u32]>,
    bits: u32,
    filter: Box<[u64]>,
}

/// Keys per filter word: 16 bits per key.
const KEYS_PER_FILTER_WORD: usize = 4;

/// The filter word of `digest` among `words`, and the bits it sets there.
fn filter_probe(digest: &DedupeDigest, words: usize) -> (usize, u64) {
    let mut tail = [0u8; 8];
    tail.copy_from_slice(&digest[8..16]);
    let h = u64::from_le_bytes(tail);
    // The high half of h × words picks the word; the low 30 bits pick five bit positions.
    let word = ((u128::from(h) * words as u128) >> 64) as usize;
    let mask = (0..5).fold(0u64, |mask, i| mask | 1 << ((h >> (6 * i)) & 63));
    (word, mask)
}

/// Slots per directory bucket, on average.
const KEYS_PER_BUCKET: usize = 8;

fn prefix(digest: &DedupeDigest) -> u64 {
    let mut head = [0u8; 8];
    head.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(head)
}

impl Run {
    fn new(slots: Box<[Slot]>) -> Run {
        let buckets = (slots.len() / KEYS_PER_BUCKET).max(1);
        // The largest power of two not above `buckets`, at most 2^24.
        let bits = buckets.ilog2().min(24);
        let mut dir = Vec::with_capacity((1usize << bits) + 1);
        let mut at = 0usize;
        for bucket in 0..(1u64 << bits) {
            while at < slots.len() && bucket_of(&slots[at].digest, bits) < bucket {
                at += 1;
            }
            // A run holds at most `MAX_RUN` slots (or one load's chunk of it): fits u32.
            dir.push(u32::try_from(at).unwrap_or(u32::MAX));
        }
        dir.push(u32::try_from(slots.len()).unwrap_or(u32::MAX));
        let mut filter = vec![0u64; slots.len().div_ceil(KEYS_PER_FILTER_WORD).max(1)];
        for slot in &slots {
            let (word, mask) = filter_probe(&slot.digest, filter.len());
            filter[word] |= mask;
        }
        Run {
            slots,
            dir: dir.into_boxed_slice(),
            bits,
            filter: filter.into_boxed_slice(),
        }
    }

    /// False when `digest` is certainly not in this run.
    fn may_hold(&self, digest: &DedupeDigest) -> bool {
        let (word, mask) = filter_probe(digest, self.filter.len());
        self.filter.get(word).is_some_and(|w| w & mask == mask)
    }

    fn get(&self, digest: &DedupeDigest) -> Option<&DedupeEntry> {
        if !self.may_hold(digest) {
            return None;
        }
        let bucket = usize::try_from(bucket_of(digest, self.bits)).ok()?;
        let start = usize::try_from(*self.dir.get(bucket)?).ok()?;
        let end = usize::try_from(*self.dir.get(bucket + 1)?).ok()?;
        let stretch = self.slots.get(start..end)?;
        let i = stretch.binary_search_by(|s| s.digest.cmp(digest)).ok()?;
        Some(&stretch[i].entry)
    }

    fn len(&self) -> usize {
        self.slots.len()
    }
}

fn bucket_of(digest: &DedupeDigest, bits: u32) -> u64 {
    if bits == 0 {
        0
    } else {
        prefix(digest) >> (64 - bits)
    }
}

/// Hashes a digest by its first 8 bytes: they are already uniformly random (BLAKE3).
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Arrays hash as a length prefix (via `write_usize`) and then their bytes.
        if let Some(head) = bytes.first_chunk::<8>() {
            self.0 = u64::from_le_bytes(*head);
        } else {
            for &b in bytes {
                self.0 = self.0.rotate_left(8) ^ u64::from(b);
            }
        }
    }

    fn write_usize(&mut self, _len: usize) {}
}

type RecentMap = HashMap<DedupeDigest, DedupeEntry, BuildHasherDefault<DigestHasher>>;

/// Accepted delivery keys: digest → the job that does the delivery's work, until expiry.
#[derive(Debug, Default)]
pub(crate) struct DedupeIndex {
    recent: RecentMap,
    /// Sorted by digest, oldest run first; a digest is in at most one live entry.
    runs: Vec<Run>,
}

impl DedupeIndex {
    /// The job of a key accepted and not expired at `now` (µs since the Unix epoch).
    pub(crate) fn get(&self, digest: &DedupeDigest, now: u64) -> Option<u64> {
        let live = |e: &DedupeEntry| (e.expires_micros > now).then_some(e.job);
        if let Some(job) = self.recent.get(digest).and_then(live) {
            return Some(job);
        }
        // Newest first: a key accepted again after it expired has its newer entry later.
        self.runs
            .iter()
            .rev()
            .find_map(|run| run.get(digest).and_then(live))
    }

    /// Remembers an accepted key (it was not live in the index).
    pub(crate) fn insert(&mut self, digest: DedupeDigest, entry: DedupeEntry, now: u64) {
        self.recent.insert(digest, entry);
        if self.recent.len() >= RECENT_CAPACITY {
            self.seal(now);
        }
    }

    /// Adds keys read from disk, in write order: a later entry of a digest wins over an
    /// earlier one. Sorted straight into runs, not through the hash map (a week of keys in
    /// a hash map is what this index avoids, even for a moment).
    pub(crate) fn load(
        &mut self,
        entries: impl IntoIterator<Item = (DedupeDigest, DedupeEntry)>,
        now: u64,
    ) {
        let mut sorted: Vec<Slot> = entries
            .into_iter()
            .map(|(digest, entry)| Slot { digest, entry })
            .collect();
        // Stable: equal digests stay in write order, and `dedup_by` then keeps the last.
        sorted.sort_by_key(|s| s.digest);
        sorted.dedup_by(|later, kept| {
            let same = later.digest == kept.digest;
            if same {
                *kept = *later;
            }
            same
        });
        sorted.retain(|s| s.entry.expires_micros > now);
        for chunk in sorted.chunks(MAX_RUN) {
            self.runs.push(Run::new(chunk.into()));
        }
    }

    /// Moves the recent keys into a run and merges runs while the newest is at least half
    /// the size of the one before it.
    pub(crate) fn seal(&mut self, now: u64) {
        if self.recent.is_empty() {
            return;
        }
        let mut sorted: Vec<Slot> = self
            .recent
            .drain()
            .filter(|(_, e)| e.expires_micros > now)
            .map(|(digest, entry)| Slot { digest, entry })
            .collect();
        // A fresh map: `drain` keeps the capacity, which a load of a week of keys grew.
        self.recent = RecentMap::with_capacity_and_hasher(RECENT_CAPACITY, Default::default());
        sorted.sort_unstable_by_key(|s| s.digest);
        for chunk in sorted.chunks(MAX_RUN) {
            self.runs.push(Run::new(chunk.into()));
        }
        while let [.., older, newer] = self.runs.as_slice() {
            if newer.len() * 2 < older.len() || older.len() + newer.len() > MAX_RUN {
                break;
            }
            let (newer, older) = (self.runs.pop(), self.runs.pop());
            if let (Some(newer), Some(older)) = (newer, older) {
                let merged = merge(&older.slots, &newer.slots, now);
                if !merged.is_empty() {
                    self.runs.push(Run::new(merged));
                }
            }
        }
    }

    /// Drops every key expired at `now`.
    pub(crate) fn remove_expired(&mut self, now: u64) {
        self.recent.retain(|_, e| e.expires_micros > now);
        for run in &mut self.runs {
            if run.slots.iter().any(|s| s.entry.expires_micros <= now) {
                *run = Run::new(
                    run.slots
                        .iter()
                        .filter(|s| s.entry.expires_micros > now)
                        .copied()
                        .collect(),
                );
            }
        }
        self.runs.retain(|run| run.len() > 0);
    }

    /// Keys held, expired or not.
    pub(crate) fn len(&self) -> usize {
        self.recent.len() + self.runs.iter().map(|r| r.len()).sum::<usize>()
    }
}

/// Merges two sorted runs, dropping expired keys; on equal digests the newer run wins.
fn merge(older: &[Slot], newer: &[Slot], now: u64) -> Box<[Slot]> {
    let mut out = Vec::with_capacity(older.len() + newer.len());
    let (mut i, mut j) = (0, 0);
    while i < older.len() || j < newer.len() {
        let next = match (older.get(i), newer.get(j)) {
            (Some(a), Some(b)) if a.digest < b.digest => {
                i += 1;
                *a
            }
            (Some(a), Some(b)) if a.digest == b.digest => {
                i += 1;
                j += 1;
                *b
            }
            (_, Some(b)) => {
                j += 1;
                *b
            }
            (Some(a), None) => {
                i += 1;
                *a
            }
            (None, None) => break,
        };
        if next.entry.expires_micros > now {
            out.push(next);
        }
    }
    out.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(n: u64) -> DedupeDigest {
        let hash = blake3::hash(&n.to_le_bytes());
        let mut d = [0u8; 16];
        d.copy_from_slice(&hash.as_bytes()[..16]);
        d
    }

    fn entry(job: u64, expires_micros: u64) -> DedupeEntry {
        DedupeEntry {
            job,
            expires_micros,
        }
    }

    #[test]
    fn a_slot_is_32_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 32);
    }

    #[test]
    fn finds_every_key_across_runs_and_merges() {
        let mut index = DedupeIndex::default();
        let n = (RECENT_CAPACITY * 5 + 17) as u64;
        for k in 0..n {
            index.insert(digest(k), entry(k + 1, 1_000), 10);
        }
        assert_eq!(index.len(), n as usize);
        assert!(
            index.runs.len() < 5,
            "runs are merged: {}",
            index.runs.len()
        );
        for k in 0..n {
            assert_eq!(index.get(&digest(k), 10), Some(k + 1), "key {k}");
        }
        assert_eq!(index.get(&digest(n), 10), None);
        for run in &index.runs {
            assert!(run.slots.windows(2).all(|w| w[0].digest < w[1].digest));
            assert_eq!(run.dir.len(), (1 << run.bits) + 1);
        }
    }

    #[test]
    fn run_filters_turn_away_nearly_every_absent_key() {
        let slots: Vec<Slot> = {
            let mut v: Vec<Slot> = (0..50_000)
                .map(|k| Slot {
                    digest: digest(k),
                    entry: entry(k, 1_000),
                })
                .collect();
            v.sort_unstable_by_key(|s| s.digest);
            v
        };
        let run = Run::new(slots.into());
        assert!((0..50_000).all(|k| run.may_hold(&digest(k))));
        let passed = (50_000..150_000)
            .filter(|&k| run.may_hold(&digest(k)))
            .count();
        assert!(passed < 2_000, "{passed} of 100,000 absent keys passed");
        assert_eq!(run.get(&digest(49_999)).map(|e| e.job), Some(49_999));
    }

    #[test]
    fn skewed_digests_are_found_too() {
        // Not what BLAKE3 gives, but the directory must stay correct for any digests.
        let skewed = |n: u64| {
            let mut d = [0u8; 16];
            d[8..].copy_from_slice(&n.to_be_bytes());
            d
        };
        let mut index = DedupeIndex::default();
        let n = RECENT_CAPACITY as u64 * 3;
        for k in 0..n {
            index.insert(skewed(k), entry(k, 1_000), 0);
        }
        index.insert(digest(7), entry(7, 1_000), 0);
        index.seal(0);
        for k in 0..n {
            assert_eq!(index.get(&skewed(k), 0), Some(k), "key {k}");
        }
        assert_eq!(index.get(&digest(7), 0), Some(7));
        assert_eq!(index.get(&skewed(n), 0), None);
    }

    #[test]
    fn expired_keys_are_not_found_and_are_dropped() {
        let mut index = DedupeIndex::default();
        for k in 0..(RECENT_CAPACITY as u64 * 2) {
            // Even keys expire at 100, odd ones at 1000.
            let expires = if k % 2 == 0 { 100 } else { 1_000 };
            index.insert(digest(k), entry(k, expires), 10);
        }
        assert_eq!(index.get(&digest(0), 99), Some(0));
        assert_eq!(index.get(&digest(0), 100), None);
        assert_eq!(index.get(&digest(1), 100), Some(1));
        index.remove_expired(100);
        assert_eq!(index.len(), RECENT_CAPACITY);
        assert_eq!(index.get(&digest(3), 100), Some(3));
    }

    #[test]
    fn a_key_accepted_again_after_expiry_answers_with_the_newer_job() {
        let mut index = DedupeIndex::default();
        index.insert(digest(1), entry(1, 100), 0);
        index.seal(0);
        index.insert(digest(1), entry(2, 500), 200);
        assert_eq!(index.get(&digest(1), 200), Some(2));
        index.seal(200);
        assert_eq!(index.get(&digest(1), 200), Some(2));
        assert_eq!(index.len(), 1, "the merge kept only the newer entry");
    }

    #[test]
    fn loading_keeps_the_last_entry_of_a_key() {
        let mut index = DedupeIndex::default();
        index.load(
            [
                (digest(1), entry(1, 100)),
                (digest(2), entry(3, 50)),
                (digest(1), entry(2, 900)),
            ],
            60,
        );
        assert_eq!(index.get(&digest(1), 60), Some(2));
        assert_eq!(index.len(), 1, "expired on load: dropped");
    }
}
