//! The duplicate filter for flooded payloads (publish, confirm_ack): a repeat of bytes
//! seen recently is dropped before it costs a decode, a signature check or a queue slot.
//!
//! A fixed table of 128-bit SipHash digests under a random per-node key, indexed by the
//! digest: constant memory, O(1), and a newer payload simply evicts whatever shared its
//! slot. The random key stops peers from crafting colliding payloads.

use std::sync::Mutex;

use siphasher::sip128::SipHasher13;

/// Remembers digests of recently seen payloads.
pub struct DuplicateFilter {
    hasher: SipHasher13,
    slots: Mutex<Vec<u128>>,
}

impl DuplicateFilter {
    /// A filter with `size` slots (at least one).
    pub fn new(size: usize) -> DuplicateFilter {
        let key: [u8; 16] = rand::random();
        DuplicateFilter {
            hasher: SipHasher13::new_with_key(&key),
            slots: Mutex::new(vec![0; size.max(1)]),
        }
    }

    fn digest(&self, bytes: &[u8]) -> u128 {
        // Zero marks an empty slot, so a (vanishingly unlikely) zero digest is nudged.
        u128::from(self.hasher.hash(bytes)).max(1)
    }

    /// Records `bytes`; true when they were already present (a duplicate to drop).
    pub fn check_and_insert(&self, bytes: &[u8]) -> bool {
        let d = self.digest(bytes);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let i = slot(d, slots.len());
        if slots[i] == d {
            true
        } else {
            slots[i] = d;
            false
        }
    }

    /// Forgets `bytes`, so the same payload is accepted again (e.g. after a rollback).
    pub fn clear(&self, bytes: &[u8]) {
        let d = self.digest(bytes);
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let i = slot(d, slots.len());
        if slots[i] == d {
            slots[i] = 0;
        }
    }
}

/// The slot of digest `d`: its low 64 bits modulo the table size (a 128-bit division per
/// message showed in profiles of a vote flood; the low bits are as random as the rest).
fn slot(d: u128, len: usize) -> usize {
    (d as u64 % len as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_repeats_and_forgets_on_clear() {
        let f = DuplicateFilter::new(1024);
        assert!(!f.check_and_insert(b"abc"));
        assert!(f.check_and_insert(b"abc"));
        assert!(!f.check_and_insert(b"abd"));
        f.clear(b"abc");
        assert!(!f.check_and_insert(b"abc"));
    }
}
