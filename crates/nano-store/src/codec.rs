//! The typed rows of every table and their exact byte encodings.
//!
//! The layout is the reference node's `data.ldb` (store version 24, described byte by
//! byte in `reference/ledger-format.md`), so that a downloaded reference ledger opens
//! here and a ledger written here opens in the reference node. Keys are big-endian, so
//! LMDB's lexicographic order equals numeric order; amounts and sideband integers are
//! big-endian too, but the reference copies a few C++ integers in host order, which is
//! little-endian on every supported host: `account_info.modified`/`block_count` and the
//! confirmation height (the traps of the fact sheet's section 17). Every decoder checks
//! the length first and reports a [`StoreError::Corrupt`] naming the table instead of
//! panicking, so a damaged file is diagnosable.

use std::net::{Ipv6Addr, SocketAddrV6};

use nano_core::{Account, Amount, Block, BlockHash, BlockType, Epoch, QualifiedRoot};

use crate::StoreError;

fn corrupt(table: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: detail.into(),
    }
}

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[at..at + N]);
    out
}

fn epoch_from(table: &'static str, v: u8) -> Result<Epoch, StoreError> {
    Epoch::from_u8(v).ok_or_else(|| corrupt(table, format!("epoch byte {v}")))
}

/// The per-account summary the ledger keeps next to the chain itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountInfo {
    pub head: BlockHash,
    pub representative: Account,
    pub open_block: BlockHash,
    pub balance: Amount,
    /// Seconds since the Unix epoch of the last change (equals the head's local timestamp).
    pub modified: u64,
    pub block_count: u64,
    pub epoch: Epoch,
}

impl AccountInfo {
    pub const SIZE: usize = 32 + 32 + 32 + 16 + 8 + 8 + 1;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..32].copy_from_slice(&self.head.0);
        b[32..64].copy_from_slice(&self.representative.0);
        b[64..96].copy_from_slice(&self.open_block.0);
        b[96..112].copy_from_slice(&self.balance.to_be_bytes());
        b[112..120].copy_from_slice(&self.modified.to_le_bytes());
        b[120..128].copy_from_slice(&self.block_count.to_le_bytes());
        b[128] = self.epoch as u8;
        b
    }

    pub fn decode(b: &[u8]) -> Result<Self, StoreError> {
        if b.len() != Self::SIZE {
            return Err(corrupt("accounts", format!("value of {} bytes", b.len())));
        }
        Ok(AccountInfo {
            head: BlockHash(arr(b, 0)),
            representative: Account::from_bytes(arr(b, 32)),
            open_block: BlockHash(arr(b, 64)),
            balance: Amount::from_be_bytes(arr(b, 96)),
            modified: u64::from_le_bytes(arr(b, 112)),
            block_count: u64::from_le_bytes(arr(b, 120)),
            epoch: epoch_from("accounts", b[128])?,
        })
    }
}

/// Identifies one receivable: the destination first so that an account's receivables
/// are contiguous and ordered by send hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PendingKey {
    pub account: Account,
    pub hash: BlockHash,
}

impl PendingKey {
    pub const SIZE: usize = 64;

    pub fn new(account: Account, hash: BlockHash) -> Self {
        PendingKey { account, hash }
    }
    pub fn encode(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..32].copy_from_slice(&self.account.0);
        b[32..].copy_from_slice(&self.hash.0);
        b
    }
    pub fn decode(b: &[u8]) -> Result<Self, StoreError> {
        if b.len() != Self::SIZE {
            return Err(corrupt("pending", format!("key of {} bytes", b.len())));
        }
        Ok(PendingKey {
            account: Account::from_bytes(arr(b, 0)),
            hash: BlockHash(arr(b, 32)),
        })
    }
}

/// What a receive needs to know about the send it consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingInfo {
    pub source: Account,
    pub amount: Amount,
    pub epoch: Epoch,
}

impl PendingInfo {
    pub const SIZE: usize = 32 + 16 + 1;

    pub fn encode(&self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[..32].copy_from_slice(&self.source.0);
        b[32..48].copy_from_slice(&self.amount.to_be_bytes());
        b[48] = self.epoch as u8;
        b
    }
    pub fn decode(b: &[u8]) -> Result<Self, StoreError> {
        if b.len() != Self::SIZE {
            return Err(corrupt("pending", format!("value of {} bytes", b.len())));
        }
        Ok(PendingInfo {
            source: Account::from_bytes(arr(b, 0)),
            amount: Amount::from_be_bytes(arr(b, 32)),
            epoch: epoch_from("pending", b[48])?,
        })
    }
}

/// How far an account's chain is cemented: everything at or below `height`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ConfirmationHeightInfo {
    pub height: u64,
    pub frontier: BlockHash,
}

impl ConfirmationHeightInfo {
    pub const SIZE: usize = 40;

    pub fn encode(&self) -> [u8; 40] {
        let mut b = [0u8; 40];
        b[..8].copy_from_slice(&self.height.to_le_bytes());
        b[8..].copy_from_slice(&self.frontier.0);
        b
    }
    pub fn decode(b: &[u8]) -> Result<Self, StoreError> {
        if b.len() != Self::SIZE {
            return Err(corrupt(
                "confirmation_height",
                format!("value of {} bytes", b.len()),
            ));
        }
        Ok(ConfirmationHeightInfo {
            height: u64::from_le_bytes(arr(b, 0)),
            frontier: BlockHash(arr(b, 8)),
        })
    }
}

/// The ledger's classification of a block, fixed when it was accepted; state blocks
/// cannot be classified from their fields alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockDetails {
    pub epoch: Epoch,
    pub is_send: bool,
    pub is_receive: bool,
    pub is_epoch: bool,
}

impl BlockDetails {
    /// The reference node's packing: epoch in the low 5 bits, then flags.
    pub fn to_byte(&self) -> u8 {
        (self.epoch as u8)
            | ((self.is_send as u8) << 7)
            | ((self.is_receive as u8) << 6)
            | ((self.is_epoch as u8) << 5)
    }
    pub fn from_byte(v: u8) -> Result<Self, StoreError> {
        Ok(BlockDetails {
            epoch: epoch_from("blocks", v & 0x1f)?,
            is_send: v & 0x80 != 0,
            is_receive: v & 0x40 != 0,
            is_epoch: v & 0x20 != 0,
        })
    }
}

/// Local facts about a stored block that are not part of the block itself.
///
/// In memory every field is filled for every block type; on disk each type stores only
/// what its body does not already carry (the reference's sideband, see
/// [`BlockSideband::size`]): the decoder fills the rest from the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BlockSideband {
    /// The next block of the same account, zero for the head.
    pub successor: BlockHash,
    pub account: Account,
    /// Position in the account chain, 1 for the first block.
    pub height: u64,
    /// Seconds since the Unix epoch when this node accepted the block.
    pub timestamp: u64,
    /// Account balance after this block.
    pub balance: Amount,
    /// Stored for state blocks only; a legacy block reads back as all-false epoch_0, as
    /// in the reference node.
    pub details: BlockDetails,
    /// Epoch of the send a receive consumed (epoch_0 otherwise); state blocks only.
    pub source_epoch: Epoch,
}

/// Where a field of a block body sits, for the sideband fields the body carries.
const STATE_ACCOUNT_AT: usize = 0;
const STATE_BALANCE_AT: usize = 96;
const OPEN_ACCOUNT_AT: usize = 64;
const SEND_BALANCE_AT: usize = 64;

impl BlockSideband {
    /// Stored sideband size per block type: send 80, receive 96, open 56, change 96,
    /// state 50 (the reference's `block_sideband::size`).
    pub fn size(t: BlockType) -> usize {
        match t {
            BlockType::Send => 32 + 32 + 8 + 8,
            BlockType::Receive | BlockType::Change => 32 + 32 + 8 + 16 + 8,
            BlockType::Open => 32 + 16 + 8,
            BlockType::State => 32 + 8 + 8 + 1 + 1,
            BlockType::Invalid | BlockType::NotABlock => 0,
        }
    }

    /// Appends the stored sideband of a block of type `t`.
    pub fn encode_for(&self, t: BlockType, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.successor.0);
        if matches!(t, BlockType::Send | BlockType::Receive | BlockType::Change) {
            out.extend_from_slice(&self.account.0);
        }
        if t != BlockType::Open {
            out.extend_from_slice(&self.height.to_be_bytes());
        }
        if matches!(t, BlockType::Receive | BlockType::Change | BlockType::Open) {
            out.extend_from_slice(&self.balance.to_be_bytes());
        }
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        if t == BlockType::State {
            out.push(self.details.to_byte());
            out.push(self.source_epoch as u8);
        }
    }

    /// Decodes the stored sideband `b` of a block of type `t` whose wire body is `body`
    /// (the fields the sideband omits are read from the body).
    pub fn decode_for(t: BlockType, body: &[u8], b: &[u8]) -> Result<Self, StoreError> {
        if Some(body.len()) != t.body_size() || b.len() != Self::size(t) {
            return Err(corrupt(
                "blocks",
                format!(
                    "{} block of {} body and {} sideband bytes",
                    t.as_str(),
                    body.len(),
                    b.len()
                ),
            ));
        }
        let mut at = 0usize;
        let mut take = |n: usize| {
            let s = &b[at..at + n];
            at += n;
            s
        };
        let successor = BlockHash(arr(take(32), 0));
        let account = match t {
            BlockType::State => Account::from_bytes(arr(body, STATE_ACCOUNT_AT)),
            BlockType::Open => Account::from_bytes(arr(body, OPEN_ACCOUNT_AT)),
            _ => Account::from_bytes(arr(take(32), 0)),
        };
        let height = if t == BlockType::Open {
            1
        } else {
            u64::from_be_bytes(arr(take(8), 0))
        };
        let balance = match t {
            BlockType::State => Amount::from_be_bytes(arr(body, STATE_BALANCE_AT)),
            BlockType::Send => Amount::from_be_bytes(arr(body, SEND_BALANCE_AT)),
            _ => Amount::from_be_bytes(arr(take(16), 0)),
        };
        let timestamp = u64::from_be_bytes(arr(take(8), 0));
        let (details, source_epoch) = if t == BlockType::State {
            let d = take(2);
            (BlockDetails::from_byte(d[0])?, epoch_from("blocks", d[1])?)
        } else {
            (BlockDetails::default(), Epoch::Epoch0)
        };
        Ok(BlockSideband {
            successor,
            account,
            height,
            timestamp,
            balance,
            details,
            source_epoch,
        })
    }
}

/// A block as the ledger holds it: the block and its sideband.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlock {
    pub block: Block,
    pub sideband: BlockSideband,
}

/// Offset of the successor inside an encoded block value of type `t` (it is the first
/// sideband field): lets the store patch one field in place instead of re-encoding the
/// block, as the reference does.
pub(crate) fn successor_offset(t: BlockType) -> usize {
    1 + t.body_size().unwrap_or(0)
}

fn stored_type(b: &[u8]) -> Result<BlockType, StoreError> {
    b.first()
        .and_then(|t| BlockType::from_u8(*t))
        .filter(|t| t.body_size().is_some())
        .ok_or_else(|| corrupt("blocks", format!("bad type byte {:?}", b.first())))
}

impl StoredBlock {
    /// `type ‖ wire body ‖ sideband`.
    pub fn encode(&self) -> Vec<u8> {
        Self::encode_parts(&self.block, &self.sideband)
    }
    /// Same as [`StoredBlock::encode`] without needing an owned block.
    pub fn encode_parts(block: &Block, sideband: &BlockSideband) -> Vec<u8> {
        let t = block.block_type();
        let mut v = Vec::with_capacity(1 + block.size() + BlockSideband::size(t));
        block.serialize_with_type(&mut v);
        sideband.encode_for(t, &mut v);
        v
    }
    pub fn decode(b: &[u8]) -> Result<Self, StoreError> {
        let (block, used) = match Block::deserialize_with_type(b) {
            Ok(Some(x)) => x,
            Ok(None) => return Err(corrupt("blocks", "not_a_block type")),
            Err(e) => return Err(corrupt("blocks", e.to_string())),
        };
        let sideband = BlockSideband::decode_for(block.block_type(), &b[1..used], &b[used..])?;
        Ok(StoredBlock { block, sideband })
    }
    /// Reads only the block's type and its `previous` field (zero for an open block),
    /// skipping the rest: what a walk down a chain needs at each step.
    pub fn decode_type_and_previous(b: &[u8]) -> Result<(BlockType, BlockHash), StoreError> {
        let t = stored_type(b)?;
        if b.len() < successor_offset(t) {
            return Err(corrupt("blocks", format!("value of {} bytes", b.len())));
        }
        // Where `previous` sits in each type's wire body (after the type byte).
        let at = match t {
            BlockType::Open => return Ok((t, BlockHash::ZERO)),
            BlockType::State => 1 + 32,
            _ => 1,
        };
        Ok((t, BlockHash(arr(b, at))))
    }
    /// Reads only the sideband, skipping block decoding.
    pub fn decode_sideband(b: &[u8]) -> Result<BlockSideband, StoreError> {
        let t = stored_type(b)?;
        let at = successor_offset(t);
        if b.len() < at {
            return Err(corrupt("blocks", format!("value of {} bytes", b.len())));
        }
        BlockSideband::decode_for(t, &b[1..at], &b[at..])
    }
}

/// Peers are keyed by IPv6 address (IPv4 mapped) and port, as the wire carries them.
pub(crate) fn encode_endpoint(ep: &SocketAddrV6) -> [u8; 18] {
    let mut b = [0u8; 18];
    b[..16].copy_from_slice(&ep.ip().octets());
    b[16..].copy_from_slice(&ep.port().to_be_bytes());
    b
}

pub(crate) fn decode_endpoint(b: &[u8]) -> Result<SocketAddrV6, StoreError> {
    if b.len() != 18 {
        return Err(corrupt("peers", format!("key of {} bytes", b.len())));
    }
    let ip = Ipv6Addr::from(arr::<16>(b, 0));
    Ok(SocketAddrV6::new(ip, u16::from_be_bytes(arr(b, 16)), 0, 0))
}

pub(crate) fn decode_u64(table: &'static str, b: &[u8]) -> Result<u64, StoreError> {
    if b.len() != 8 {
        return Err(corrupt(table, format!("u64 of {} bytes", b.len())));
    }
    Ok(u64::from_be_bytes(arr(b, 0)))
}

pub(crate) fn decode_amount(table: &'static str, b: &[u8]) -> Result<Amount, StoreError> {
    if b.len() != 16 {
        return Err(corrupt(table, format!("amount of {} bytes", b.len())));
    }
    Ok(Amount::from_be_bytes(arr(b, 0)))
}

pub(crate) fn decode_hash(table: &'static str, b: &[u8]) -> Result<BlockHash, StoreError> {
    if b.len() != 32 {
        return Err(corrupt(table, format!("hash of {} bytes", b.len())));
    }
    Ok(BlockHash(arr(b, 0)))
}

pub(crate) fn decode_account(table: &'static str, b: &[u8]) -> Result<Account, StoreError> {
    decode_hash(table, b).map(|h| Account::from_bytes(h.0))
}

pub(crate) fn decode_qualified_root(b: &[u8]) -> Result<QualifiedRoot, StoreError> {
    if b.len() != 64 {
        return Err(corrupt("final_votes", format!("key of {} bytes", b.len())));
    }
    Ok(QualifiedRoot::from_bytes(&arr(b, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_core::Network;

    #[test]
    fn account_info_round_trip() {
        let i = AccountInfo {
            head: BlockHash([1; 32]),
            representative: Account::from_bytes([2; 32]),
            open_block: BlockHash([3; 32]),
            balance: Amount(12345678901234567890),
            modified: 77,
            block_count: 9,
            epoch: Epoch::Epoch2,
        };
        assert_eq!(AccountInfo::decode(&i.encode()).unwrap(), i);
        assert!(AccountInfo::decode(&[0u8; 10]).is_err());
        let mut bad = i.encode();
        bad[128] = 99;
        assert!(AccountInfo::decode(&bad).is_err());
    }

    #[test]
    fn details_byte_matches_reference_packing() {
        let d = BlockDetails {
            epoch: Epoch::Epoch1,
            is_send: true,
            is_receive: false,
            is_epoch: false,
        };
        assert_eq!(d.to_byte(), 0x83);
        assert_eq!(BlockDetails::from_byte(0x83).unwrap(), d);
    }

    #[test]
    fn stored_block_round_trip_and_sideband_only() {
        let p = Network::Dev.params();
        // An open block stores successor, balance and timestamp only: the account comes
        // from the body and the height is 1.
        let sb = BlockSideband {
            successor: BlockHash([5; 32]),
            account: p.genesis_account,
            height: 1,
            timestamp: 4,
            balance: Amount(5),
            details: BlockDetails::default(),
            source_epoch: Epoch::Epoch0,
        };
        let sbk = StoredBlock {
            block: p.genesis.clone(),
            sideband: sb,
        };
        let enc = sbk.encode();
        assert_eq!(enc.len(), 225, "open: 1 + 168 + 56 bytes");
        assert_eq!(StoredBlock::decode(&enc).unwrap(), sbk);
        assert_eq!(StoredBlock::decode_sideband(&enc).unwrap(), sb);
        assert!(StoredBlock::decode(&enc[..enc.len() - 1]).is_err());
        assert!(StoredBlock::decode_sideband(&enc[..enc.len() - 1]).is_err());
    }

    #[test]
    fn type_and_previous_are_read_without_the_block() {
        use nano_core::{
            ChangeBlock, Link, OpenBlock, PublicKey, ReceiveBlock, SendBlock, Signature, StateBlock,
        };
        let (prev, key) = (BlockHash([7; 32]), PublicKey([8; 32]));
        let sig = Signature([9; 64]);
        let blocks = [
            Block::Send(SendBlock {
                previous: prev,
                destination: key,
                balance: Amount(3),
                signature: sig,
                work: 1,
            }),
            Block::Receive(ReceiveBlock {
                previous: prev,
                source: BlockHash([6; 32]),
                signature: sig,
                work: 1,
            }),
            Block::Open(OpenBlock {
                source: BlockHash([6; 32]),
                representative: key,
                account: PublicKey([5; 32]),
                signature: sig,
                work: 1,
            }),
            Block::Change(ChangeBlock {
                previous: prev,
                representative: key,
                signature: sig,
                work: 1,
            }),
            Block::State(StateBlock {
                account: PublicKey([5; 32]),
                previous: prev,
                representative: key,
                balance: Amount(3),
                link: Link([4; 32]),
                signature: sig,
                work: 1,
            }),
        ];
        for block in blocks {
            let sb = BlockSideband {
                successor: BlockHash([2; 32]),
                account: PublicKey([5; 32]),
                height: 2,
                timestamp: 4,
                balance: Amount(3),
                details: BlockDetails::default(),
                source_epoch: Epoch::Epoch0,
            };
            let enc = StoredBlock::encode_parts(&block, &sb);
            let expected = (block.block_type(), block.previous());
            assert_eq!(
                StoredBlock::decode_type_and_previous(&enc).unwrap(),
                expected
            );
            let body_end = successor_offset(block.block_type());
            assert!(StoredBlock::decode_type_and_previous(&enc[..body_end]).is_ok());
            assert!(StoredBlock::decode_type_and_previous(&enc[..body_end - 1]).is_err());
        }
        assert!(StoredBlock::decode_type_and_previous(&[]).is_err());
        assert!(StoredBlock::decode_type_and_previous(&[0; 300]).is_err());
    }

    #[test]
    fn endpoint_round_trip() {
        let ep: SocketAddrV6 = "[::ffff:127.0.0.1]:7075".parse().unwrap();
        assert_eq!(decode_endpoint(&encode_endpoint(&ep)).unwrap(), ep);
    }
}
