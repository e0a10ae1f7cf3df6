//! The legacy bootstrap server: serves connections the network layer classified as
//! bootstrap (first message frontier_req, bulk_pull, bulk_pull_account or bulk_push),
//! one request after another until the peer closes or idles.
//!
//! Work per connection is bounded: responses are read from the ledger in chunks, each
//! chunk under its own short read transaction (never held across an `.await`), and
//! written before the next chunk is read, so a slow reader holds back the server (TCP
//! backpressure) instead of making it buffer the ledger. Pushed blocks go to the block
//! processor like any other bootstrap block, throttled on its queue.
//!
//! asc_pull_req on realtime channels is answered by consensus (`serve_asc_pull`), the
//! one implementation of that side.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use nano_core::{Account, Block, BlockHash, Network};
use nano_ledger::Ledger;
use nano_messages::stream::{
    encode_blocks_end, encode_frontier, encode_frontiers_end, encode_pending_end,
    encode_pending_entry, encode_pending_head, encode_stream_block,
};
use nano_messages::{
    BlockStreamCodec, BulkPull, BulkPullAccount, BulkPullAccountFlags, Frontier, FrontierReq,
    Message, MessageCodec, PendingEntry, StreamItem,
};
use nano_store::PendingKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio_util::codec::Decoder;

use super::{next_account, Submitter};
use crate::network::{BootstrapConnection, BootstrapServer};
use crate::stats::Stats;

/// Entries read per read transaction.
const CHUNK: usize = 512;
/// Accounts looked at per read transaction (bounds a frontier scan whose filter skips
/// most accounts).
const SCAN_CHUNK: usize = 4096;

pub(crate) struct LegacyServer {
    pub ledger: Arc<Ledger>,
    pub network: Network,
    pub stats: Arc<Stats>,
    pub submitter: Submitter,
    pub max_connections: usize,
    pub io_timeout: Duration,
    pub active: AtomicUsize,
}

/// Holds one connection slot until dropped.
struct Slot(Arc<LegacyServer>);
impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The server as the network sees it (a newtype so the Arc can implement the trait).
pub(crate) struct ServerHandle(pub Arc<LegacyServer>);

impl BootstrapServer for ServerHandle {
    fn serve(&self, conn: BootstrapConnection) {
        let s = self.0.clone();
        if s.active.fetch_add(1, Ordering::AcqRel) >= s.max_connections {
            s.active.fetch_sub(1, Ordering::AcqRel);
            s.stats.inc("bootstrap_server", "refused", "in");
            return;
        }
        let slot = Slot(s.clone());
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        handle.spawn(async move {
            let _slot = slot;
            if let Err(e) = s.run(conn).await {
                tracing::debug!("bootstrap server connection ended: {e}");
            }
        });
    }
}

type IoResult = std::io::Result<()>;

fn err(msg: impl Into<String>) -> std::io::Error {
    std::io::Error::other(msg.into())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl LegacyServer {
    async fn run(self: &Arc<Self>, conn: BootstrapConnection) -> IoResult {
        let BootstrapConnection {
            stream,
            read_buf,
            first,
            remote,
            ticket: _ticket,
        } = conn;
        let _ = stream.set_nodelay(true);
        let (mut rd, mut wr) = stream.into_split();
        let mut buf = read_buf;
        let mut codec = MessageCodec::new(self.network);
        let mut next = Some(first);
        // Bounded: each turn serves one request or ends the connection.
        loop {
            let msg = match next.take() {
                Some(m) => m,
                None => match self.read_message(&mut rd, &mut buf, &mut codec).await? {
                    Some(m) => m,
                    None => return Ok(()),
                },
            };
            match msg {
                Message::FrontierReq(r) => {
                    self.stats.inc("bootstrap_server", "frontier_req", "in");
                    self.frontiers(&mut wr, r).await?
                }
                Message::BulkPull(r) => {
                    self.stats.inc("bootstrap_server", "bulk_pull", "in");
                    self.bulk_pull(&mut wr, r).await?
                }
                Message::BulkPullAccount(r) => {
                    self.stats
                        .inc("bootstrap_server", "bulk_pull_account", "in");
                    self.bulk_pull_account(&mut wr, r).await?
                }
                Message::BulkPush => {
                    self.stats.inc("bootstrap_server", "bulk_push", "in");
                    self.bulk_push(&mut rd, &mut buf).await?
                }
                // Realtime messages on a bootstrap connection are ignored.
                _ => self.stats.inc("bootstrap_server", "ignored", "in"),
            }
            tracing::trace!("bootstrap request from {remote} served");
        }
    }

    /// The next message, `None` on a clean close. Malformed input ends the connection.
    async fn read_message(
        &self,
        rd: &mut OwnedReadHalf,
        buf: &mut BytesMut,
        codec: &mut MessageCodec,
    ) -> std::io::Result<Option<Message>> {
        loop {
            match codec.decode(buf) {
                Ok(Some(frame)) => {
                    return frame
                        .message
                        .map(Some)
                        .map_err(|e| err(format!("bad message: {e}")))
                }
                Ok(None) => {}
                Err(e) => return Err(err(format!("bad frame: {e}"))),
            }
            // Idle peers are closed after the I/O timeout (scaled: a client may think
            // between requests).
            let n = tokio::time::timeout(self.io_timeout * 4, rd.read_buf(buf))
                .await
                .map_err(|_| err("idle"))??;
            if n == 0 {
                return Ok(None);
            }
        }
    }

    async fn write(&self, wr: &mut OwnedWriteHalf, data: &[u8]) -> IoResult {
        self.stats
            .add("bootstrap_server", "bytes", "out", data.len() as u64);
        tokio::time::timeout(self.io_timeout, wr.write_all(data))
            .await
            .map_err(|_| err("write timeout"))?
    }

    async fn frontiers(&self, wr: &mut OwnedWriteHalf, r: FrontierReq) -> IoResult {
        let mut cursor = Some(r.start);
        let mut left = if r.count == 0 { u32::MAX } else { r.count } as u64;
        let now = now_secs();
        let mut out = Vec::with_capacity(CHUNK * 64);
        while let (Some(start), true) = (cursor, left > 0) {
            let (entries, next) = self.frontier_chunk(&start, &r, now, left as usize)?;
            left -= entries.len() as u64;
            cursor = next;
            out.clear();
            for (account, head) in entries {
                encode_frontier(&Frontier { account, head }, &mut out);
            }
            if !out.is_empty() {
                self.write(wr, &out).await?;
            }
        }
        out.clear();
        encode_frontiers_end(&mut out);
        self.write(wr, &out).await
    }

    /// Up to `CHUNK` frontiers at or after `start` passing the request's filters, and
    /// where to continue (`None` when the table is exhausted).
    #[allow(clippy::type_complexity)]
    fn frontier_chunk(
        &self,
        start: &Account,
        r: &FrontierReq,
        now: u64,
        left: usize,
    ) -> std::io::Result<(Vec<(Account, BlockHash)>, Option<Account>)> {
        let txn = self.ledger.read_txn().map_err(|e| err(e.to_string()))?;
        let store = self.ledger.store();
        let want = left.min(CHUNK);
        let mut out = Vec::new();
        let mut last = None;
        let mut scanned = 0;
        let age_ok =
            |modified: u64| r.age == u32::MAX || now.saturating_sub(modified) <= r.age as u64;
        if r.only_confirmed {
            let iter = store
                .confirmation_heights_from(&txn, start)
                .map_err(|e| err(e.to_string()))?;
            for item in iter {
                let (account, conf) = item.map_err(|e| err(e.to_string()))?;
                last = Some(account);
                scanned += 1;
                if conf.height > 0 && !conf.frontier.is_zero() {
                    let pass = r.age == u32::MAX
                        || store
                            .account(&txn, &account)
                            .ok()
                            .flatten()
                            .is_some_and(|i| age_ok(i.modified));
                    if pass {
                        out.push((account, conf.frontier));
                    }
                }
                if out.len() >= want || scanned >= SCAN_CHUNK {
                    break;
                }
            }
        } else {
            let iter = store
                .accounts_from(&txn, start)
                .map_err(|e| err(e.to_string()))?;
            for item in iter {
                let (account, info) = item.map_err(|e| err(e.to_string()))?;
                last = Some(account);
                scanned += 1;
                if age_ok(info.modified) {
                    out.push((account, info.head));
                }
                if out.len() >= want || scanned >= SCAN_CHUNK {
                    break;
                }
            }
        }
        let exhausted = out.len() < want && scanned < SCAN_CHUNK;
        let next = if exhausted {
            None
        } else {
            last.and_then(|a| next_account(&a))
        };
        Ok((out, next))
    }

    async fn bulk_pull(&self, wr: &mut OwnedWriteHalf, r: BulkPull) -> IoResult {
        let plan = self.pull_plan(&r)?;
        let mut out = Vec::with_capacity(CHUNK * 220);
        if let Some((mut cur, end)) = plan {
            let mut left = match r.count {
                Some(n) if n > 0 => n as u64,
                _ => u64::MAX,
            };
            while let (Some(h), true) = (cur, left > 0) {
                let (blocks, next) =
                    self.pull_chunk(h, end, r.ascending, left.min(CHUNK as u64) as usize)?;
                left -= blocks.len() as u64;
                cur = next;
                out.clear();
                for b in &blocks {
                    encode_stream_block(b, &mut out);
                }
                self.stats
                    .add("bootstrap_server", "blocks", "out", blocks.len() as u64);
                if !out.is_empty() {
                    self.write(wr, &out).await?;
                }
            }
        }
        out.clear();
        encode_blocks_end(&mut out);
        self.write(wr, &out).await
    }

    /// Where a bulk_pull starts and its exclusive end (zero: none); `None` when nothing
    /// is to be sent.
    #[allow(clippy::type_complexity)]
    fn pull_plan(&self, r: &BulkPull) -> std::io::Result<Option<(Option<BlockHash>, BlockHash)>> {
        let txn = self.ledger.read_txn().map_err(|e| err(e.to_string()))?;
        let store = self.ledger.store();
        let e = |x: nano_store::StoreError| err(x.to_string());
        let as_hash = r.start.as_block_hash();
        let (account, first) = match store.block_sideband(&txn, &as_hash).map_err(e)? {
            Some(sb) => {
                let first = if r.ascending {
                    Some(sb.successor).filter(|s| !s.is_zero())
                } else {
                    Some(as_hash)
                };
                (sb.account, first)
            }
            None => {
                let account = r.start.as_account();
                match store.account(&txn, &account).map_err(e)? {
                    Some(info) => (
                        account,
                        Some(if r.ascending {
                            info.open_block
                        } else {
                            info.head
                        }),
                    ),
                    None => return Ok(None),
                }
            }
        };
        let mut end = BlockHash::ZERO;
        if !r.end.is_zero() {
            match store.block_sideband(&txn, &r.end).map_err(e)? {
                Some(sb) if sb.account != account => return Ok(None),
                Some(_) => end = r.end,
                None => {}
            }
        }
        Ok(Some((first, end)))
    }

    fn pull_chunk(
        &self,
        start: BlockHash,
        end: BlockHash,
        ascending: bool,
        max: usize,
    ) -> std::io::Result<(Vec<Block>, Option<BlockHash>)> {
        let txn = self.ledger.read_txn().map_err(|e| err(e.to_string()))?;
        let mut out = Vec::new();
        let mut cur = Some(start);
        while let Some(h) = cur {
            if out.len() >= max || h == end {
                break;
            }
            let Some(sb) = self
                .ledger
                .block(&txn, &h)
                .map_err(|e| err(e.to_string()))?
            else {
                cur = None;
                break;
            };
            cur = if ascending {
                Some(sb.sideband.successor)
            } else {
                Some(sb.block.previous())
            }
            .filter(|x| !x.is_zero() && *x != end);
            out.push(sb.block);
        }
        Ok((out, cur))
    }

    async fn bulk_pull_account(&self, wr: &mut OwnedWriteHalf, r: BulkPullAccount) -> IoResult {
        let mut out = Vec::with_capacity(CHUNK * 80);
        let (head, balance) = {
            let txn = self.ledger.read_txn().map_err(|e| err(e.to_string()))?;
            match self.ledger.account_info(&txn, &r.account) {
                Ok(Some(i)) => (i.head, i.balance),
                _ => (BlockHash::ZERO, nano_core::Amount::ZERO),
            }
        };
        encode_pending_head(&head, &balance, &mut out);
        self.write(wr, &out).await?;
        let mut cursor = Some(BlockHash::ZERO);
        let mut seen: HashSet<Account> = HashSet::new();
        while let Some(from) = cursor {
            let (entries, next) = self.pending_chunk(&r, from)?;
            cursor = next;
            out.clear();
            for (hash, amount, source) in entries {
                let entry = match r.flags {
                    BulkPullAccountFlags::PendingHashAndAmount => {
                        PendingEntry::HashAndAmount { hash, amount }
                    }
                    BulkPullAccountFlags::PendingAddressOnly => {
                        // Bounded by this account's receivables.
                        if !seen.insert(source) {
                            continue;
                        }
                        PendingEntry::Source(source)
                    }
                    BulkPullAccountFlags::PendingHashAmountAndAddress => {
                        PendingEntry::HashAmountAndSource {
                            hash,
                            amount,
                            source,
                        }
                    }
                };
                encode_pending_entry(&entry, &mut out);
            }
            if !out.is_empty() {
                self.write(wr, &out).await?;
            }
        }
        out.clear();
        encode_pending_end(r.flags, &mut out);
        self.write(wr, &out).await
    }

    #[allow(clippy::type_complexity)]
    fn pending_chunk(
        &self,
        r: &BulkPullAccount,
        from: BlockHash,
    ) -> std::io::Result<(
        Vec<(BlockHash, nano_core::Amount, Account)>,
        Option<BlockHash>,
    )> {
        let txn = self.ledger.read_txn().map_err(|e| err(e.to_string()))?;
        let key = PendingKey {
            account: r.account,
            hash: from,
        };
        let iter = self
            .ledger
            .store()
            .pending_from(&txn, &key)
            .map_err(|e| err(e.to_string()))?;
        let mut out = Vec::new();
        let mut next = None;
        for (scanned, item) in iter.enumerate() {
            let (k, v) = item.map_err(|e| err(e.to_string()))?;
            if k.account != r.account {
                break;
            }
            if scanned >= SCAN_CHUNK {
                next = Some(k.hash);
                break;
            }
            if v.amount >= r.minimum_amount {
                out.push((k.hash, v.amount, v.source));
            }
        }
        Ok((out, next))
    }

    /// Reads pushed blocks until the terminator and queues them for processing.
    async fn bulk_push(&self, rd: &mut OwnedReadHalf, buf: &mut BytesMut) -> IoResult {
        let mut codec = BlockStreamCodec::new();
        loop {
            match codec.decode(buf) {
                Ok(Some(StreamItem::End)) => return Ok(()),
                Ok(Some(StreamItem::Item(block))) => {
                    self.stats.inc("bootstrap_server", "pushed_block", "in");
                    self.submitter.throttle().await;
                    self.submitter.submit(block, None);
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Err(err(format!("bad pushed block: {e}"))),
            }
            let n = tokio::time::timeout(self.io_timeout * 4, rd.read_buf(buf))
                .await
                .map_err(|_| err("idle"))??;
            if n == 0 {
                return Err(err("closed during bulk_push"));
            }
        }
    }
}
