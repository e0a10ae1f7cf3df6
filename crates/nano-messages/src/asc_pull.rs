//! Ascending bootstrap over realtime channels: asc_pull_req (0x0e) and asc_pull_ack
//! (0x0f). Owns the type/id prefix, the three request and response payloads and the
//! limits on their lists. Trailing bytes after a payload are accepted (forward
//! compatibility) and not kept.

use nano_core::{Block, BlockHash, BlockType, PublicKey};

use crate::bootstrap::HashOrAccount;
use crate::error::{EncodeError, MessageError};
use crate::wire::Reader;

/// Whether a 32-byte start/target names an account or a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum HashType {
    Account = 0,
    Block = 1,
}

impl HashType {
    pub fn from_u8(v: u8) -> Option<HashType> {
        match v {
            0 => Some(HashType::Account),
            1 => Some(HashType::Block),
            _ => None,
        }
    }
}

fn hash_type(r: &mut Reader<'_>) -> Result<HashType, MessageError> {
    let v = r.u8()?;
    HashType::from_u8(v).ok_or(MessageError::HashType(v))
}

/// Payload type codes shared by requests and acks.
pub mod asc_type {
    pub const BLOCKS: u8 = 1;
    pub const ACCOUNT_INFO: u8 = 2;
    pub const FRONTIERS: u8 = 3;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AscPullReq {
    /// Echoed by the ack so the requester can match it.
    pub id: u64,
    pub payload: AscPullReqPayload,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AscPullReqPayload {
    /// Up to `count` (1..=128) blocks forward from `start`.
    Blocks {
        start: HashOrAccount,
        count: u8,
        start_type: HashType,
    },
    AccountInfo {
        target: HashOrAccount,
        target_type: HashType,
    },
    /// Up to `count` (1..=1000) frontiers in account order from `start`.
    Frontiers { start: PublicKey, count: u16 },
}

impl AscPullReqPayload {
    fn type_code(&self) -> u8 {
        match self {
            Self::Blocks { .. } => asc_type::BLOCKS,
            Self::AccountInfo { .. } => asc_type::ACCOUNT_INFO,
            Self::Frontiers { .. } => asc_type::FRONTIERS,
        }
    }
    fn size(&self) -> usize {
        match self {
            Self::Blocks { .. } => 34,
            Self::AccountInfo { .. } => 33,
            Self::Frontiers { .. } => 34,
        }
    }
}

impl AscPullReq {
    /// Header extensions: the payload length after the 9-byte prefix.
    pub(crate) fn extensions(&self) -> u16 {
        self.payload.size() as u16
    }
    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let t = r.u8()?;
        let id = r.u64_be()?;
        let payload = match t {
            asc_type::BLOCKS => AscPullReqPayload::Blocks {
                start: HashOrAccount(r.array()?),
                count: r.u8()?,
                start_type: hash_type(r)?,
            },
            asc_type::ACCOUNT_INFO => AscPullReqPayload::AccountInfo {
                target: HashOrAccount(r.array()?),
                target_type: hash_type(r)?,
            },
            asc_type::FRONTIERS => AscPullReqPayload::Frontiers {
                start: r.key()?,
                count: r.u16_be()?,
            },
            other => return Err(MessageError::AscPullType(other)),
        };
        Ok(AscPullReq { id, payload })
    }
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(self.payload.type_code());
        out.extend_from_slice(&self.id.to_be_bytes());
        match &self.payload {
            AscPullReqPayload::Blocks {
                start,
                count,
                start_type,
            } => {
                out.extend_from_slice(&start.0);
                out.push(*count);
                out.push(*start_type as u8);
            }
            AscPullReqPayload::AccountInfo {
                target,
                target_type,
            } => {
                out.extend_from_slice(&target.0);
                out.push(*target_type as u8);
            }
            AscPullReqPayload::Frontiers { start, count } => {
                out.extend_from_slice(&start.0);
                out.extend_from_slice(&count.to_be_bytes());
            }
        }
    }
}

/// What the reference node knows about an account; all zero (except possibly
/// `account`) when it does not know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountInfoAck {
    pub account: PublicKey,
    pub open: BlockHash,
    pub head: BlockHash,
    pub block_count: u64,
    pub conf_frontier: BlockHash,
    pub conf_height: u64,
}

impl AccountInfoAck {
    pub const SIZE: usize = 32 * 4 + 8 * 2;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AscPullAck {
    pub id: u64,
    pub payload: AscPullAckPayload,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AscPullAckPayload {
    /// Up to 128 blocks, then a `not_a_block` terminator on the wire.
    Blocks(Vec<Block>),
    AccountInfo(AccountInfoAck),
    /// Up to 1000 (account, head) pairs, then 64 zero bytes on the wire.
    Frontiers(Vec<(PublicKey, BlockHash)>),
}

impl AscPullAck {
    pub const MAX_BLOCKS: usize = 128;
    pub const MAX_FRONTIERS: usize = 1000;

    fn payload_size(&self) -> usize {
        match &self.payload {
            AscPullAckPayload::Blocks(b) => b.iter().map(|b| 1 + b.size()).sum::<usize>() + 1,
            AscPullAckPayload::AccountInfo(_) => AccountInfoAck::SIZE,
            AscPullAckPayload::Frontiers(f) => f.len() * 64 + 64,
        }
    }

    pub(crate) fn check(&self) -> Result<(), EncodeError> {
        match &self.payload {
            AscPullAckPayload::Blocks(b) if b.len() > Self::MAX_BLOCKS => {
                Err(EncodeError::TooMany {
                    what: "asc_pull_ack blocks",
                    count: b.len(),
                    max: Self::MAX_BLOCKS,
                })
            }
            AscPullAckPayload::Frontiers(f) if f.len() > Self::MAX_FRONTIERS => {
                Err(EncodeError::TooMany {
                    what: "asc_pull_ack frontiers",
                    count: f.len(),
                    max: Self::MAX_FRONTIERS,
                })
            }
            AscPullAckPayload::Frontiers(f)
                if f.iter().any(|(a, h)| a.is_zero() || h.is_zero()) =>
            {
                Err(EncodeError::ZeroEntry("asc_pull_ack frontier"))
            }
            _ => Ok(()),
        }
    }

    /// Header extensions: the payload length after the 9-byte prefix (fits in u16 once
    /// [`Self::check`] passed: at most 128 × 217 + 1 or 1001 × 64 bytes).
    pub(crate) fn extensions(&self) -> u16 {
        self.payload_size() as u16
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, MessageError> {
        let t = r.u8()?;
        let id = r.u64_be()?;
        let payload = match t {
            asc_type::BLOCKS => {
                let mut blocks = Vec::new();
                loop {
                    let code = r.u8()?;
                    let bt = BlockType::from_u8(code);
                    if bt == Some(BlockType::NotABlock) {
                        break;
                    }
                    let size = bt
                        .and_then(BlockType::body_size)
                        .ok_or(MessageError::ListBlockType(code))?;
                    if blocks.len() == Self::MAX_BLOCKS {
                        return Err(MessageError::TooMany {
                            what: "asc_pull_ack blocks",
                            max: Self::MAX_BLOCKS,
                        });
                    }
                    let body = r.bytes(size)?;
                    // `bt` is a real block type here, so only a size error is possible.
                    blocks.push(Block::deserialize(bt.unwrap_or(BlockType::State), body)?);
                }
                AscPullAckPayload::Blocks(blocks)
            }
            asc_type::ACCOUNT_INFO => AscPullAckPayload::AccountInfo(AccountInfoAck {
                account: r.key()?,
                open: r.hash()?,
                head: r.hash()?,
                block_count: r.u64_be()?,
                conf_frontier: r.hash()?,
                conf_height: r.u64_be()?,
            }),
            asc_type::FRONTIERS => {
                let mut frontiers = Vec::new();
                loop {
                    if r.remaining() < 64 {
                        return Err(MessageError::MissingTerminator("asc_pull_ack frontiers"));
                    }
                    let account = r.key()?;
                    let hash = r.hash()?;
                    // nano-node stops at a zero account or a zero hash, RsNano only at
                    // both; accepting either covers both senders.
                    if account.is_zero() || hash.is_zero() {
                        break;
                    }
                    if frontiers.len() == Self::MAX_FRONTIERS {
                        return Err(MessageError::TooMany {
                            what: "asc_pull_ack frontiers",
                            max: Self::MAX_FRONTIERS,
                        });
                    }
                    frontiers.push((account, hash));
                }
                AscPullAckPayload::Frontiers(frontiers)
            }
            other => return Err(MessageError::AscPullType(other)),
        };
        Ok(AscPullAck { id, payload })
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let t = match &self.payload {
            AscPullAckPayload::Blocks(_) => asc_type::BLOCKS,
            AscPullAckPayload::AccountInfo(_) => asc_type::ACCOUNT_INFO,
            AscPullAckPayload::Frontiers(_) => asc_type::FRONTIERS,
        };
        out.push(t);
        out.extend_from_slice(&self.id.to_be_bytes());
        match &self.payload {
            AscPullAckPayload::Blocks(blocks) => {
                for b in blocks {
                    b.serialize_with_type(out);
                }
                out.push(BlockType::NotABlock as u8);
            }
            AscPullAckPayload::AccountInfo(a) => {
                out.extend_from_slice(&a.account.0);
                out.extend_from_slice(&a.open.0);
                out.extend_from_slice(&a.head.0);
                out.extend_from_slice(&a.block_count.to_be_bytes());
                out.extend_from_slice(&a.conf_frontier.0);
                out.extend_from_slice(&a.conf_height.to_be_bytes());
            }
            AscPullAckPayload::Frontiers(f) => {
                for (a, h) in f {
                    out.extend_from_slice(&a.0);
                    out.extend_from_slice(&h.0);
                }
                out.extend_from_slice(&[0u8; 64]);
            }
        }
    }
}
