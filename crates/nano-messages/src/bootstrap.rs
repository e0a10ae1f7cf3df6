//! Legacy bootstrap requests: frontier_req (0x08), bulk_pull (0x06),
//! bulk_pull_account (0x0b) and bulk_push (0x07, header only). Their response streams
//! are in [`crate::stream`].

use std::fmt;

use nano_core::{Amount, BlockHash, PublicKey};

use crate::error::MessageError;
use crate::header::ext;
use crate::wire::Reader;

/// 32 bytes that name either an account or a block; the receiver decides which by
/// looking it up (bulk_pull start, asc_pull start/target).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct HashOrAccount(pub [u8; 32]);

impl HashOrAccount {
    pub const ZERO: HashOrAccount = HashOrAccount([0; 32]);
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 32]
    }
    pub fn as_account(&self) -> PublicKey {
        PublicKey(self.0)
    }
    pub fn as_block_hash(&self) -> BlockHash {
        BlockHash(self.0)
    }
}
impl From<PublicKey> for HashOrAccount {
    fn from(k: PublicKey) -> Self {
        HashOrAccount(k.0)
    }
}
impl From<BlockHash> for HashOrAccount {
    fn from(h: BlockHash) -> Self {
        HashOrAccount(h.0)
    }
}
impl fmt::Debug for HashOrAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashOrAccount({})", BlockHash(self.0).encode_hex())
    }
}

/// Asks for (account, head) pairs starting at `start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrontierReq {
    pub start: PublicKey,
    /// Seconds since last modification; `u32::MAX` means no age filter.
    pub age: u32,
    /// Maximum number of entries; `u32::MAX` for all.
    pub count: u32,
    pub only_confirmed: bool,
}

impl FrontierReq {
    pub const SIZE: usize = 40;

    pub(crate) fn extensions(&self) -> u16 {
        if self.only_confirmed {
            ext::FRONTIER_REQ_CONFIRMED
        } else {
            0
        }
    }
    pub(crate) fn decode(r: &mut Reader<'_>, extensions: u16) -> Result<Self, MessageError> {
        Ok(FrontierReq {
            start: r.key()?,
            age: r.u32_le()?,
            count: r.u32_le()?,
            only_confirmed: extensions & ext::FRONTIER_REQ_CONFIRMED != 0,
        })
    }
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.start.0);
        out.extend_from_slice(&self.age.to_le_bytes());
        out.extend_from_slice(&self.count.to_le_bytes());
    }
}

/// Asks for the blocks of a chain, from `start` (account or block) down to `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkPull {
    pub start: HashOrAccount,
    /// Exclusive end hash; zero means down to the open block.
    pub end: BlockHash,
    /// The extended count, when the header flags it; `Some(0)` and `None` both mean
    /// unlimited but are kept apart so the bytes round-trip.
    pub count: Option<u32>,
    pub ascending: bool,
}

impl BulkPull {
    pub(crate) fn extensions(&self) -> u16 {
        let mut e = 0;
        if self.count.is_some() {
            e |= ext::BULK_PULL_COUNT_PRESENT;
        }
        if self.ascending {
            e |= ext::BULK_PULL_ASCENDING;
        }
        e
    }
    /// The three reserved bytes after the count are ignored, as the reference node does.
    pub(crate) fn decode(r: &mut Reader<'_>, extensions: u16) -> Result<Self, MessageError> {
        let start = HashOrAccount(r.array()?);
        let end = r.hash()?;
        let count = if extensions & ext::BULK_PULL_COUNT_PRESENT != 0 {
            let extended: [u8; 8] = r.array()?;
            if extended[0] != 0 {
                return Err(MessageError::ExtendedCountPrefix(extended[0]));
            }
            Some(u32::from_le_bytes([
                extended[1],
                extended[2],
                extended[3],
                extended[4],
            ]))
        } else {
            None
        };
        Ok(BulkPull {
            start,
            end,
            count,
            ascending: extensions & ext::BULK_PULL_ASCENDING != 0,
        })
    }
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.start.0);
        out.extend_from_slice(&self.end.0);
        if let Some(c) = self.count {
            out.push(0);
            out.extend_from_slice(&c.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0]);
        }
    }
    pub(crate) fn payload_size(&self) -> usize {
        64 + if self.count.is_some() { 8 } else { 0 }
    }
}

/// What each bulk_pull_account response entry carries; also fixes the entry width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum BulkPullAccountFlags {
    /// hash 32 ‖ amount 16
    PendingHashAndAmount = 0,
    /// source 32 (deduplicated)
    PendingAddressOnly = 1,
    /// hash 32 ‖ amount 16 ‖ source 32
    PendingHashAmountAndAddress = 2,
}

impl BulkPullAccountFlags {
    pub fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            0 => Self::PendingHashAndAmount,
            1 => Self::PendingAddressOnly,
            2 => Self::PendingHashAmountAndAddress,
            _ => return None,
        })
    }
    /// Width of one pending entry (and of the all-zero terminator) in the response.
    pub fn entry_size(self) -> usize {
        match self {
            Self::PendingHashAndAmount => 48,
            Self::PendingAddressOnly => 32,
            Self::PendingHashAmountAndAddress => 80,
        }
    }
}

/// Asks for an account's head, balance and receivable entries of at least
/// `minimum_amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BulkPullAccount {
    pub account: PublicKey,
    pub minimum_amount: Amount,
    pub flags: BulkPullAccountFlags,
}

impl BulkPullAccount {
    pub const SIZE: usize = 49;

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let account = r.key()?;
        let minimum_amount = r.amount()?;
        let f = r.u8()?;
        Ok(BulkPullAccount {
            account,
            minimum_amount,
            flags: BulkPullAccountFlags::from_u8(f).ok_or(MessageError::BulkPullAccountFlags(f))?,
        })
    }
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.account.0);
        out.extend_from_slice(&self.minimum_amount.to_be_bytes());
        out.push(self.flags as u8);
    }
}
