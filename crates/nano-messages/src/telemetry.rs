//! telemetry_ack (0x0d) data: the big-endian field layout, unknown trailing fields kept
//! for forward compatibility, and the signature over everything after the signature.

use nano_core::keys::verify;
use nano_core::{BlockHash, KeyPair, PublicKey, Signature};

use crate::error::MessageError;
use crate::header::ext;
use crate::wire::Reader;

/// Who built the sending node. Only 0 and 1 are defined by the reference node; RsNano
/// sends 3. Any value is accepted and kept.
pub mod maker {
    pub const NF_NODE: u8 = 0;
    pub const NF_PRUNED_NODE: u8 = 1;
    pub const RSNANO: u8 = 3;
}

/// A node's self-reported state, signed with its node-ID key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TelemetryData {
    pub signature: Signature,
    pub node_id: PublicKey,
    pub block_count: u64,
    pub cemented_count: u64,
    pub unchecked_count: u64,
    pub account_count: u64,
    pub bandwidth_cap: u64,
    pub peer_count: u32,
    pub protocol_version: u8,
    pub uptime: u64,
    pub genesis_block: BlockHash,
    pub major_version: u8,
    pub minor_version: u8,
    pub patch_version: u8,
    pub pre_release_version: u8,
    pub maker: u8,
    /// Milliseconds since the Unix epoch.
    pub timestamp: u64,
    pub active_difficulty: u64,
    /// Fields from newer versions; signed, so they must be kept to verify.
    pub unknown_data: Vec<u8>,
}

impl TelemetryData {
    /// Size of the fields this version knows.
    pub const KNOWN_SIZE: usize = 202;
    /// The 10-bit size in the header caps the whole payload.
    pub const MAX_SIZE: usize = ext::TELEMETRY_SIZE_MASK as usize;
    pub const MAX_UNKNOWN_DATA: usize = Self::MAX_SIZE - Self::KNOWN_SIZE;

    pub fn serialized_size(&self) -> usize {
        Self::KNOWN_SIZE + self.unknown_data.len()
    }

    /// The signed part: every byte after the signature, unknown data included.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.serialized_size());
        self.encode_after_signature(&mut out);
        out
    }

    /// Sets `node_id` to the key's public key and signs.
    pub fn sign(&mut self, key: &KeyPair) {
        self.node_id = key.public();
        self.signature = key.sign(&self.signed_bytes());
    }

    pub fn verify_signature(&self) -> bool {
        verify(&self.node_id, &self.signed_bytes(), &self.signature)
    }

    fn encode_after_signature(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.node_id.0);
        out.extend_from_slice(&self.block_count.to_be_bytes());
        out.extend_from_slice(&self.cemented_count.to_be_bytes());
        out.extend_from_slice(&self.unchecked_count.to_be_bytes());
        out.extend_from_slice(&self.account_count.to_be_bytes());
        out.extend_from_slice(&self.bandwidth_cap.to_be_bytes());
        out.extend_from_slice(&self.peer_count.to_be_bytes());
        out.push(self.protocol_version);
        out.extend_from_slice(&self.uptime.to_be_bytes());
        out.extend_from_slice(&self.genesis_block.0);
        out.push(self.major_version);
        out.push(self.minor_version);
        out.push(self.patch_version);
        out.push(self.pre_release_version);
        out.push(self.maker);
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.active_difficulty.to_be_bytes());
        out.extend_from_slice(&self.unknown_data);
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.signature.0);
        self.encode_after_signature(out);
    }

    /// Decodes a whole non-empty payload; bytes past the known fields become
    /// `unknown_data` (at most 821 bytes, bounded by the 10-bit header size).
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<TelemetryData, MessageError> {
        Ok(TelemetryData {
            signature: r.sig()?,
            node_id: r.key()?,
            block_count: r.u64_be()?,
            cemented_count: r.u64_be()?,
            unchecked_count: r.u64_be()?,
            account_count: r.u64_be()?,
            bandwidth_cap: r.u64_be()?,
            peer_count: r.u32_be()?,
            protocol_version: r.u8()?,
            uptime: r.u64_be()?,
            genesis_block: r.hash()?,
            major_version: r.u8()?,
            minor_version: r.u8()?,
            patch_version: r.u8()?,
            pre_release_version: r.u8()?,
            maker: r.u8()?,
            timestamp: r.u64_be()?,
            active_difficulty: r.u64_be()?,
            unknown_data: r.rest().to_vec(),
        })
    }
}
