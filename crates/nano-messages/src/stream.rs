//! Bootstrap response streams, which follow a request on the same TCP connection without
//! any message header: frontiers (after frontier_req), typed blocks (after bulk_pull, and
//! what a bulk_push sends), and pending entries (after bulk_pull_account).
//!
//! Each stream has a slice-level decoder (`decode_*`: look at the front of a buffer and
//! say "need more bytes" or "here is an item, it took n bytes"), a stateful codec usable
//! with `tokio_util::codec::FramedRead`/`FramedWrite`, and encoders. A codec yields
//! [`StreamItem::End`] once for the terminator and afterwards consumes nothing, so the
//! caller can hand the rest of the buffer back to the message codec.

use bytes::{Buf, BufMut, BytesMut};
use nano_core::{Amount, Block, BlockError, BlockHash, BlockType, PublicKey};
use tokio_util::codec::{Decoder, Encoder};

use crate::bootstrap::BulkPullAccountFlags;

/// Why a bootstrap response stream could not be decoded. Fatal for that stream: after a
/// bad item there is no way to find the next one.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("invalid block type {0} in block stream")]
    BlockType(u8),
    #[error("block: {0}")]
    Block(#[from] BlockError),
    #[error("stream ended in the middle of an item ({0} bytes left over)")]
    TruncatedAtEof(usize),
    #[error("pending entry does not match the stream's flags {0:?}")]
    EntryKind(BulkPullAccountFlags),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// An item of a stream, or its terminator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem<T> {
    Item(T),
    End,
}

/// What the front of a buffer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next<T> {
    /// The buffer must grow to at least this many bytes before anything can be decided.
    NeedMore(usize),
    /// One item (or the terminator) and how many bytes it took.
    Ready(StreamItem<T>, usize),
}

/// One entry of a frontier stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frontier {
    pub account: PublicKey,
    pub head: BlockHash,
}

pub const FRONTIER_ENTRY_SIZE: usize = 64;

/// Decodes the next frontier entry. An entry with a zero account or a zero hash ends the
/// stream: the reference node sends 64 zero bytes, and either zero half is accepted as
/// the terminator (nano-node stops on either, RsNano on both).
pub fn decode_frontier(buf: &[u8]) -> Next<Frontier> {
    let Some(entry) = buf.get(..FRONTIER_ENTRY_SIZE) else {
        return Next::NeedMore(FRONTIER_ENTRY_SIZE);
    };
    let account = PublicKey::from_slice(&entry[..32]).unwrap_or_default();
    let head = BlockHash::from_slice(&entry[32..]).unwrap_or_default();
    let item = if account.is_zero() || head.is_zero() {
        StreamItem::End
    } else {
        StreamItem::Item(Frontier { account, head })
    };
    Next::Ready(item, FRONTIER_ENTRY_SIZE)
}

pub fn encode_frontier(f: &Frontier, out: &mut impl BufMut) {
    out.put_slice(&f.account.0);
    out.put_slice(&f.head.0);
}

pub fn encode_frontiers_end(out: &mut impl BufMut) {
    out.put_slice(&[0u8; FRONTIER_ENTRY_SIZE]);
}

/// Decodes the next `type ‖ body` of a block stream; a lone `not_a_block` byte ends it.
pub fn decode_stream_block(buf: &[u8]) -> Result<Next<Block>, StreamError> {
    let Some(&code) = buf.first() else {
        return Ok(Next::NeedMore(1));
    };
    let bt = BlockType::from_u8(code).ok_or(StreamError::BlockType(code))?;
    if bt == BlockType::NotABlock {
        return Ok(Next::Ready(StreamItem::End, 1));
    }
    let size = bt.body_size().ok_or(StreamError::BlockType(code))?;
    match buf.get(1..1 + size) {
        None => Ok(Next::NeedMore(1 + size)),
        Some(body) => Ok(Next::Ready(
            StreamItem::Item(Block::deserialize(bt, body)?),
            1 + size,
        )),
    }
}

pub fn encode_stream_block(block: &Block, out: &mut impl BufMut) {
    let mut v = Vec::with_capacity(1 + block.size());
    block.serialize_with_type(&mut v);
    out.put_slice(&v);
}

pub fn encode_blocks_end(out: &mut impl BufMut) {
    out.put_u8(BlockType::NotABlock as u8);
}

/// One receivable entry of a bulk_pull_account response; the variant follows the
/// request's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingEntry {
    HashAndAmount {
        hash: BlockHash,
        amount: Amount,
    },
    Source(PublicKey),
    HashAmountAndSource {
        hash: BlockHash,
        amount: Amount,
        source: PublicKey,
    },
}

impl PendingEntry {
    pub fn flags(&self) -> BulkPullAccountFlags {
        match self {
            PendingEntry::HashAndAmount { .. } => BulkPullAccountFlags::PendingHashAndAmount,
            PendingEntry::Source(_) => BulkPullAccountFlags::PendingAddressOnly,
            PendingEntry::HashAmountAndSource { .. } => {
                BulkPullAccountFlags::PendingHashAmountAndAddress
            }
        }
    }
}

/// Items of a bulk_pull_account response: first the head, then pending entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkPullAccountItem {
    /// The account's head block and balance (zero when the account is unknown).
    Head {
        frontier: BlockHash,
        balance: Amount,
    },
    Entry(PendingEntry),
}

pub const PENDING_HEAD_SIZE: usize = 48;

/// Decodes the head entry that opens a bulk_pull_account response.
pub fn decode_pending_head(buf: &[u8]) -> Next<BulkPullAccountItem> {
    let Some(b) = buf.get(..PENDING_HEAD_SIZE) else {
        return Next::NeedMore(PENDING_HEAD_SIZE);
    };
    let frontier = BlockHash::from_slice(b).unwrap_or_default();
    let balance = amount_at(b, 32);
    Next::Ready(
        StreamItem::Item(BulkPullAccountItem::Head { frontier, balance }),
        PENDING_HEAD_SIZE,
    )
}

fn amount_at(b: &[u8], at: usize) -> Amount {
    let mut a = [0u8; 16];
    if let Some(s) = b.get(at..at + 16) {
        a.copy_from_slice(s);
    }
    Amount::from_be_bytes(a)
}

/// Decodes one pending entry of the width `flags` implies; an all-zero entry ends the
/// stream.
pub fn decode_pending_entry(buf: &[u8], flags: BulkPullAccountFlags) -> Next<PendingEntry> {
    let n = flags.entry_size();
    let Some(b) = buf.get(..n) else {
        return Next::NeedMore(n);
    };
    if b.iter().all(|&x| x == 0) {
        return Next::Ready(StreamItem::End, n);
    }
    let entry = match flags {
        BulkPullAccountFlags::PendingHashAndAmount => PendingEntry::HashAndAmount {
            hash: BlockHash::from_slice(b).unwrap_or_default(),
            amount: amount_at(b, 32),
        },
        BulkPullAccountFlags::PendingAddressOnly => {
            PendingEntry::Source(PublicKey::from_slice(b).unwrap_or_default())
        }
        BulkPullAccountFlags::PendingHashAmountAndAddress => PendingEntry::HashAmountAndSource {
            hash: BlockHash::from_slice(b).unwrap_or_default(),
            amount: amount_at(b, 32),
            source: PublicKey::from_slice(&b[48..]).unwrap_or_default(),
        },
    };
    Next::Ready(StreamItem::Item(entry), n)
}

pub fn encode_pending_head(frontier: &BlockHash, balance: &Amount, out: &mut impl BufMut) {
    out.put_slice(&frontier.0);
    out.put_slice(&balance.to_be_bytes());
}

pub fn encode_pending_entry(entry: &PendingEntry, out: &mut impl BufMut) {
    match entry {
        PendingEntry::HashAndAmount { hash, amount } => {
            out.put_slice(&hash.0);
            out.put_slice(&amount.to_be_bytes());
        }
        PendingEntry::Source(s) => out.put_slice(&s.0),
        PendingEntry::HashAmountAndSource {
            hash,
            amount,
            source,
        } => {
            out.put_slice(&hash.0);
            out.put_slice(&amount.to_be_bytes());
            out.put_slice(&source.0);
        }
    }
}

pub fn encode_pending_end(flags: BulkPullAccountFlags, out: &mut impl BufMut) {
    out.put_bytes(0, flags.entry_size());
}

/// Shared tail of the stream codecs: apply a slice decoder to a `BytesMut`.
fn take<T>(src: &mut BytesMut, next: Next<T>, ended: &mut bool) -> Option<StreamItem<T>> {
    match next {
        Next::NeedMore(n) => {
            src.reserve(n.saturating_sub(src.len()));
            None
        }
        Next::Ready(item, used) => {
            src.advance(used);
            if matches!(item, StreamItem::End) {
                *ended = true;
            }
            Some(item)
        }
    }
}

fn eof<T>(ended: bool, buf: &BytesMut, item: Option<T>) -> Result<Option<T>, StreamError> {
    match item {
        Some(i) => Ok(Some(i)),
        None if ended || buf.is_empty() => Ok(None),
        None => Err(StreamError::TruncatedAtEof(buf.len())),
    }
}

/// Frontier stream codec (the response to frontier_req).
#[derive(Debug, Clone, Default)]
pub struct FrontierStreamCodec {
    ended: bool,
}

impl FrontierStreamCodec {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn is_finished(&self) -> bool {
        self.ended
    }
    /// Slice form of [`Decoder::decode`]: never consumes after the terminator.
    pub fn decode_from(&mut self, buf: &[u8]) -> Next<Frontier> {
        if self.ended {
            return Next::NeedMore(usize::MAX);
        }
        let next = decode_frontier(buf);
        if matches!(next, Next::Ready(StreamItem::End, _)) {
            self.ended = true;
        }
        next
    }
}

impl Decoder for FrontierStreamCodec {
    type Item = StreamItem<Frontier>;
    type Error = StreamError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, StreamError> {
        if self.ended {
            return Ok(None);
        }
        Ok(take(src, decode_frontier(src), &mut self.ended))
    }
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, StreamError> {
        let item = self.decode(buf)?;
        eof(self.ended, buf, item)
    }
}

impl Encoder<StreamItem<Frontier>> for FrontierStreamCodec {
    type Error = StreamError;
    fn encode(
        &mut self,
        item: StreamItem<Frontier>,
        dst: &mut BytesMut,
    ) -> Result<(), StreamError> {
        match item {
            StreamItem::Item(f) => encode_frontier(&f, dst),
            StreamItem::End => encode_frontiers_end(dst),
        }
        Ok(())
    }
}

/// Typed block stream codec (bulk_pull responses and bulk_push uploads).
#[derive(Debug, Clone, Default)]
pub struct BlockStreamCodec {
    ended: bool,
}

impl BlockStreamCodec {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn is_finished(&self) -> bool {
        self.ended
    }
    /// Slice form of [`Decoder::decode`]: never consumes after the terminator.
    pub fn decode_from(&mut self, buf: &[u8]) -> Result<Next<Block>, StreamError> {
        if self.ended {
            return Ok(Next::NeedMore(usize::MAX));
        }
        let next = decode_stream_block(buf)?;
        if matches!(next, Next::Ready(StreamItem::End, _)) {
            self.ended = true;
        }
        Ok(next)
    }
}

impl Decoder for BlockStreamCodec {
    type Item = StreamItem<Block>;
    type Error = StreamError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, StreamError> {
        if self.ended {
            return Ok(None);
        }
        let next = decode_stream_block(src)?;
        Ok(take(src, next, &mut self.ended))
    }
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, StreamError> {
        let item = self.decode(buf)?;
        eof(self.ended, buf, item)
    }
}

impl Encoder<StreamItem<Block>> for BlockStreamCodec {
    type Error = StreamError;
    fn encode(&mut self, item: StreamItem<Block>, dst: &mut BytesMut) -> Result<(), StreamError> {
        self.encode(&item, dst)
    }
}

impl Encoder<&StreamItem<Block>> for BlockStreamCodec {
    type Error = StreamError;
    fn encode(&mut self, item: &StreamItem<Block>, dst: &mut BytesMut) -> Result<(), StreamError> {
        match item {
            StreamItem::Item(b) => encode_stream_block(b, dst),
            StreamItem::End => encode_blocks_end(dst),
        }
        Ok(())
    }
}

/// bulk_pull_account response codec: the head entry, then entries of the width the
/// request's flags imply, then an all-zero entry.
#[derive(Debug, Clone)]
pub struct BulkPullAccountStreamCodec {
    flags: BulkPullAccountFlags,
    head_seen: bool,
    ended: bool,
}

impl BulkPullAccountStreamCodec {
    pub fn new(flags: BulkPullAccountFlags) -> Self {
        BulkPullAccountStreamCodec {
            flags,
            head_seen: false,
            ended: false,
        }
    }
    pub fn flags(&self) -> BulkPullAccountFlags {
        self.flags
    }
    pub fn is_finished(&self) -> bool {
        self.ended
    }
    /// Slice form of [`Decoder::decode`]: never consumes after the terminator.
    pub fn decode_from(&mut self, buf: &[u8]) -> Next<BulkPullAccountItem> {
        if self.ended {
            return Next::NeedMore(usize::MAX);
        }
        if !self.head_seen {
            let next = decode_pending_head(buf);
            if matches!(next, Next::Ready(..)) {
                self.head_seen = true;
            }
            return next;
        }
        match decode_pending_entry(buf, self.flags) {
            Next::NeedMore(n) => Next::NeedMore(n),
            Next::Ready(StreamItem::End, n) => {
                self.ended = true;
                Next::Ready(StreamItem::End, n)
            }
            Next::Ready(StreamItem::Item(e), n) => {
                Next::Ready(StreamItem::Item(BulkPullAccountItem::Entry(e)), n)
            }
        }
    }
}

impl Decoder for BulkPullAccountStreamCodec {
    type Item = StreamItem<BulkPullAccountItem>;
    type Error = StreamError;
    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Self::Item>, StreamError> {
        if self.ended {
            return Ok(None);
        }
        match self.decode_from(src) {
            Next::NeedMore(n) => {
                src.reserve(n.saturating_sub(src.len()));
                Ok(None)
            }
            Next::Ready(item, used) => {
                src.advance(used);
                Ok(Some(item))
            }
        }
    }
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, StreamError> {
        let item = self.decode(buf)?;
        eof(self.ended, buf, item)
    }
}

impl Encoder<StreamItem<BulkPullAccountItem>> for BulkPullAccountStreamCodec {
    type Error = StreamError;
    fn encode(
        &mut self,
        item: StreamItem<BulkPullAccountItem>,
        dst: &mut BytesMut,
    ) -> Result<(), StreamError> {
        match item {
            StreamItem::Item(BulkPullAccountItem::Head { frontier, balance }) => {
                encode_pending_head(&frontier, &balance, dst)
            }
            StreamItem::Item(BulkPullAccountItem::Entry(e)) => {
                if e.flags() != self.flags {
                    return Err(StreamError::EntryKind(self.flags));
                }
                encode_pending_entry(&e, dst)
            }
            StreamItem::End => encode_pending_end(self.flags, dst),
        }
        Ok(())
    }
}
