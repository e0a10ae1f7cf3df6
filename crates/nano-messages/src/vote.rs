//! Votes as carried by confirm_ack: layout, the vote hash a representative signs, the
//! packed timestamp/duration field, final votes, signing and (batch) verification.

use nano_core::hash::blake2b_256;
use nano_core::keys::{verify, verify_batch, VerifyItem};
use nano_core::{BlockHash, KeyPair, PublicKey, Signature};

use crate::error::MessageError;
use crate::wire::Reader;

/// A representative's vote for up to 255 blocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vote {
    pub account: PublicKey,
    pub signature: Signature,
    /// The raw u64 from the wire: milliseconds since the Unix epoch in the upper 60 bits,
    /// a duration code in the low 4 bits; all ones for a final vote. Kept raw because the
    /// signature covers it bit for bit.
    pub timestamp: u64,
    pub hashes: Vec<BlockHash>,
}

impl Vote {
    /// Account, signature and timestamp: the part of a confirm_ack before the hashes.
    pub const FIXED_SIZE: usize = crate::header::VOTE_FIXED_SIZE;
    pub const MAX_HASHES: usize = 255;
    /// The timestamp field of a final vote.
    pub const FINAL_TIMESTAMP: u64 = u64::MAX;
    /// Duration code the reference node uses for normal votes (2^(9+4) ms = 8192 ms).
    pub const DEFAULT_DURATION_CODE: u8 = 9;
    const PREFIX: &'static [u8; 5] = b"vote ";

    /// Packs milliseconds and a duration code (0..=15) as the wire field expects.
    pub fn pack_timestamp(timestamp_ms: u64, duration_code: u8) -> u64 {
        (timestamp_ms & !0xF) | (duration_code & 0xF) as u64
    }

    /// A signed normal vote.
    pub fn new_signed(
        key: &KeyPair,
        timestamp_ms: u64,
        duration_code: u8,
        hashes: Vec<BlockHash>,
    ) -> Vote {
        let mut v = Vote {
            account: key.public(),
            signature: Signature::ZERO,
            timestamp: Self::pack_timestamp(timestamp_ms, duration_code),
            hashes,
        };
        v.sign(key);
        v
    }

    /// A signed final vote: it confirms and can never be replaced.
    pub fn new_final(key: &KeyPair, hashes: Vec<BlockHash>) -> Vote {
        let mut v = Vote {
            account: key.public(),
            signature: Signature::ZERO,
            timestamp: Self::FINAL_TIMESTAMP,
            hashes,
        };
        v.sign(key);
        v
    }

    pub fn is_final(&self) -> bool {
        self.timestamp == Self::FINAL_TIMESTAMP
    }
    /// Milliseconds since the Unix epoch (duration bits masked off).
    pub fn timestamp_ms(&self) -> u64 {
        self.timestamp & !0xF
    }
    pub fn duration_code(&self) -> u8 {
        (self.timestamp & 0xF) as u8
    }
    /// How long the vote is meant to stay valid: 2^(code+4) ms.
    pub fn duration_ms(&self) -> u64 {
        1u64 << (self.duration_code() as u32 + 4)
    }

    /// BLAKE2b-256 of `"vote " ‖ hashes ‖ LE u64 timestamp field`: what is signed.
    pub fn hash(&self) -> BlockHash {
        let ts = self.timestamp.to_le_bytes();
        let mut parts: Vec<&[u8]> = Vec::with_capacity(self.hashes.len() + 2);
        parts.push(Self::PREFIX);
        parts.extend(self.hashes.iter().map(|h| &h.0[..]));
        parts.push(&ts);
        BlockHash(blake2b_256(&parts))
    }

    /// Signs with `key`; the caller makes sure `key` belongs to `account`.
    pub fn sign(&mut self, key: &KeyPair) {
        self.signature = key.sign(&self.hash().0);
    }

    pub fn verify(&self) -> bool {
        verify(&self.account, &self.hash().0, &self.signature)
    }

    /// Verifies many votes at once (the hot path of vote processing); results in order.
    pub fn verify_many(votes: &[&Vote]) -> Vec<bool> {
        let hashes: Vec<BlockHash> = votes.iter().map(|v| v.hash()).collect();
        let items: Vec<VerifyItem<'_>> = votes
            .iter()
            .zip(&hashes)
            .map(|(v, h)| VerifyItem {
                key: &v.account,
                msg: &h.0,
                sig: &v.signature,
            })
            .collect();
        verify_batch(&items)
    }

    pub fn serialized_size(&self) -> usize {
        Self::FIXED_SIZE + 32 * self.hashes.len()
    }

    /// Reads a vote of exactly `count` hashes; `count` comes from the header (≤ 255).
    pub(crate) fn decode(r: &mut Reader<'_>, count: usize) -> Result<Vote, MessageError> {
        let account = r.key()?;
        let signature = r.sig()?;
        let timestamp = r.u64_le()?;
        // Bounded twice: by the 8-bit header count and by the bytes actually present.
        let mut hashes = Vec::with_capacity(count.min(Self::MAX_HASHES).min(r.remaining() / 32));
        for _ in 0..count {
            hashes.push(r.hash()?);
        }
        Ok(Vote {
            account,
            signature,
            timestamp,
            hashes,
        })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.account.0);
        out.extend_from_slice(&self.signature.0);
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        for h in &self.hashes {
            out.extend_from_slice(&h.0);
        }
    }
}
