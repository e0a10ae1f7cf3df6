//! The legacy bootstrap client: one connection asks a peer for all its frontiers
//! (frontier_req); each account whose head we lack becomes a pull, served by
//! `legacy_connections` further connections with bulk_pull in ascending mode from our
//! head (or the account, for a new account) so blocks arrive oldest first and nothing
//! we hold is sent again. Frontiers are read only as fast as pulls are taken, and blocks
//! only as fast as the block processor takes them, so memory stays bounded.
//!
//! A stream that does not chain from where we asked, or whose blocks fail signature or
//! work checks, ends the attempt with that peer and excludes it; the next pass uses
//! another peer. Passes repeat (at most a few) while they make progress, which picks up
//! receives that had to wait for sources pulled later in the same pass.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use nano_core::{Account, BlockHash};
use nano_ledger::BlockStatus;
use nano_messages::{
    BlockStreamCodec, BulkPull, FrontierReq, FrontierStreamCodec, HashOrAccount, Message,
    StreamItem,
};
use rand::seq::SliceRandom;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex as AsyncMutex};
use tokio_util::codec::Decoder;

use tokio_util::sync::CancellationToken;

use super::{AttemptInfo, Gauge, ProgressLog, Settle, Shared};

const MAX_PASSES: usize = 4;
const FRONTIER_BATCH: usize = 512;
/// Pulls waiting for a pull connection: the frontier reader pauses when this many are
/// queued, so a peer announcing millions of frontiers costs no more memory than this.
const PULL_QUEUE: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Pull {
    account: Account,
    head: Option<BlockHash>,
}

/// State shared by the pulls of one pass.
struct Pass {
    peer: SocketAddr,
    bad: AtomicBool,
    /// The attempt's: cancelled when the node stops or a forced request replaces it.
    cancel: CancellationToken,
}

/// Runs a legacy attempt: with `peer`, or with a random good peer per pass.
pub(crate) async fn run(sh: &Arc<Shared>, attempt: &AttemptInfo, peer: Option<SocketAddr>) {
    let mut log = ProgressLog::new();
    for _ in 0..MAX_PASSES {
        if attempt.cancel.is_cancelled() {
            return;
        }
        let Some(ep) = peer
            .filter(|p| !sh.endpoint_bad(p))
            .or_else(|| pick_peer(sh))
        else {
            tracing::info!("bootstrap legacy: no usable peer");
            return;
        };
        let before = sh.processed();
        let pulls = match pass(sh, attempt, ep, &mut log).await {
            Ok(n) => n,
            Err(e) => {
                tracing::info!("bootstrap legacy: pass with {ep} failed: {e}");
                if peer.is_some() && !sh.endpoint_bad(&ep) {
                    return;
                }
                continue;
            }
        };
        // Let the processor finish what it has before comparing again.
        wait_idle(sh, &attempt.cancel).await;
        if pulls == 0 || sh.processed() == before {
            return;
        }
    }
}

async fn wait_idle(sh: &Shared, cancel: &CancellationToken) {
    let mut settle = Settle::new();
    for _ in 0..6000 {
        if settle.settled(sh) || cancel.is_cancelled() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

/// A random peer with a known peering endpoint that is not excluded.
fn pick_peer(sh: &Shared) -> Option<SocketAddr> {
    let mut eps: Vec<SocketAddr> = sh
        .network
        .peers()
        .into_iter()
        .filter_map(|p| p.peering_endpoint)
        .map(SocketAddr::V6)
        .filter(|e| !sh.endpoint_bad(e))
        .collect();
    eps.shuffle(&mut rand::rng());
    eps.into_iter().next()
}

/// An outbound bootstrap connection, counted in `bootstrap_status` while open.
struct Client<'a> {
    stream: TcpStream,
    _open: Gauge<'a>,
    _counted: Gauge<'a>,
}

async fn connect<'a>(
    sh: &'a Shared,
    ep: SocketAddr,
    cancel: &CancellationToken,
) -> std::io::Result<Client<'a>> {
    let counted = Gauge::hold(&sh.counters.connections);
    let s = tokio::select! {
        _ = cancel.cancelled() => return Err(std::io::Error::other("attempt cancelled")),
        r = tokio::time::timeout(sh.config.io_timeout, TcpStream::connect(ep)) => {
            r.map_err(|_| std::io::Error::other("connect timeout"))??
        }
    };
    let _ = s.set_nodelay(true);
    Ok(Client {
        stream: s,
        _open: Gauge::hold(&sh.counters.clients),
        _counted: counted,
    })
}

async fn send_msg(sh: &Shared, s: &mut TcpStream, m: &Message) -> std::io::Result<()> {
    let bytes = m
        .to_bytes(sh.ledger.network())
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    tokio::time::timeout(sh.config.io_timeout, s.write_all(&bytes))
        .await
        .map_err(|_| std::io::Error::other("write timeout"))?
}

async fn read_more(
    sh: &Shared,
    cancel: &CancellationToken,
    s: &mut TcpStream,
    buf: &mut BytesMut,
) -> std::io::Result<()> {
    let n = tokio::select! {
        _ = cancel.cancelled() => return Err(std::io::Error::other("attempt cancelled")),
        r = tokio::time::timeout(sh.config.io_timeout * 4, s.read_buf(buf)) => {
            r.map_err(|_| std::io::Error::other("read timeout"))??
        }
    };
    if n == 0 {
        return Err(std::io::Error::other("peer closed the stream"));
    }
    Ok(())
}

/// One frontier scan with `ep` and the pulls it implies; returns the number of pulls.
async fn pass(
    sh: &Arc<Shared>,
    attempt: &AttemptInfo,
    ep: SocketAddr,
    log: &mut ProgressLog,
) -> std::io::Result<usize> {
    let mut client = connect(sh, ep, &attempt.cancel).await?;
    let fs = &mut client.stream;
    send_msg(
        sh,
        fs,
        &Message::FrontierReq(FrontierReq {
            start: attempt.start,
            age: u32::MAX,
            count: u32::MAX,
            only_confirmed: false,
        }),
    )
    .await?;
    let state = Arc::new(Pass {
        peer: ep,
        bad: AtomicBool::new(false),
        cancel: attempt.cancel.clone(),
    });
    let (tx, rx) = mpsc::channel::<Pull>(PULL_QUEUE);
    let rx = Arc::new(AsyncMutex::new(rx));
    let mut workers = Vec::new();
    for _ in 0..sh.config.legacy_connections.max(1) {
        let (sh, rx, state) = (sh.clone(), rx.clone(), state.clone());
        workers.push(tokio::spawn(async move {
            if let Err(e) = pull_worker(&sh, &state, rx).await {
                tracing::debug!("bootstrap legacy: pull connection ended: {e}");
            }
        }));
    }
    let mut codec = FrontierStreamCodec::new();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut batch = Vec::with_capacity(FRONTIER_BATCH);
    let mut pulls = 0usize;
    let mut last: Option<Account> = None;
    let mut result = Ok(());
    let mut ended = false;
    'read: loop {
        if state.cancel.is_cancelled() || state.bad.load(Ordering::Acquire) {
            break;
        }
        // Decode what is buffered.
        while let Ok(Some(item)) = codec.decode(&mut buf) {
            match item {
                StreamItem::Item(f) => {
                    sh.counters.frontiers_started.store(true, Ordering::Relaxed);
                    if last.is_some_and(|l| f.account <= l) {
                        sh.punish_endpoint(ep, "frontiers out of order");
                        state.bad.store(true, Ordering::Release);
                        break 'read;
                    }
                    last = Some(f.account);
                    batch.push((f.account, f.head));
                }
                StreamItem::End => {
                    ended = true;
                    break;
                }
            }
            if batch.len() >= FRONTIER_BATCH {
                break;
            }
        }
        if !batch.is_empty() {
            sh.counters
                .frontiers
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            let wanted = differences(sh, &batch);
            batch.clear();
            for p in wanted {
                pulls += 1;
                sh.counters.legacy_pulls.fetch_add(1, Ordering::Relaxed);
                if tx.send(p).await.is_err() {
                    break 'read;
                }
            }
            log.tick(sh, attempt);
            continue;
        }
        if ended {
            break;
        }
        if let Err(e) = read_more(sh, &state.cancel, fs, &mut buf).await {
            result = Err(e);
            break;
        }
    }
    drop(tx);
    drop(client);
    for w in workers {
        let _ = w.await;
    }
    // Pulls left in the queue when the pass ended early are not served.
    sh.counters.legacy_pulls.store(0, Ordering::Relaxed);
    if state.bad.load(Ordering::Acquire) {
        return Err(std::io::Error::other("peer excluded"));
    }
    result.map(|_| pulls)
}

/// The accounts of `batch` whose head we do not have, with our head for each.
fn differences(sh: &Shared, batch: &[(Account, BlockHash)]) -> Vec<Pull> {
    let Ok(txn) = sh.ledger.read_txn() else {
        return Vec::new();
    };
    batch
        .iter()
        .filter(|(_, head)| !sh.ledger.block_exists(&txn, head).unwrap_or(true))
        .map(|(account, _)| Pull {
            account: *account,
            head: sh.ledger.latest(&txn, account).ok().flatten(),
        })
        .collect()
}

async fn pull_worker(
    sh: &Arc<Shared>,
    state: &Arc<Pass>,
    rx: Arc<AsyncMutex<mpsc::Receiver<Pull>>>,
) -> std::io::Result<()> {
    let mut conn: Option<Client> = None;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        if state.cancel.is_cancelled() || state.bad.load(Ordering::Acquire) {
            return Ok(());
        }
        let next = {
            let _idle = conn.as_ref().map(|_| Gauge::hold(&sh.counters.idle));
            let mut rx = rx.lock().await;
            tokio::select! {
                _ = state.cancel.cancelled() => None,
                p = rx.recv() => p,
            }
        };
        let Some(p) = next else {
            return Ok(());
        };
        let r = pull(sh, state, &mut conn, &mut buf, p).await;
        sh.counters.legacy_pulls.fetch_sub(1, Ordering::Relaxed);
        if r? {
            return Ok(());
        }
    }
}

/// Serves one pull on the worker's connection (opened if needed); true when the pass
/// is over for this worker (the peer is excluded).
async fn pull<'a>(
    sh: &'a Arc<Shared>,
    state: &Arc<Pass>,
    conn: &mut Option<Client<'a>>,
    buf: &mut BytesMut,
    p: Pull,
) -> std::io::Result<bool> {
    {
        if conn.is_none() {
            *conn = Some(connect(sh, state.peer, &state.cancel).await?);
            buf.clear();
        }
        let Some(s) = conn.as_mut().map(|c| &mut c.stream) else {
            return Ok(false);
        };
        let start = match p.head {
            Some(h) => HashOrAccount(h.0),
            None => HashOrAccount(p.account.0),
        };
        let req = Message::BulkPull(BulkPull {
            start,
            end: BlockHash::ZERO,
            count: None,
            ascending: true,
        });
        sh.counters.requests.fetch_add(1, Ordering::Relaxed);
        send_msg(sh, s, &req).await?;
        let mut codec = BlockStreamCodec::new();
        let mut expected = p.head.unwrap_or(BlockHash::ZERO);
        loop {
            let item = codec
                .decode(buf)
                .map_err(|e| std::io::Error::other(e.to_string()));
            match item {
                Err(e) => {
                    sh.punish_endpoint(state.peer, "malformed block stream");
                    state.bad.store(true, Ordering::Release);
                    return Err(e);
                }
                Ok(Some(StreamItem::End)) => break,
                Ok(Some(StreamItem::Item(b))) => {
                    let chains = b.previous() == expected
                        && (!expected.is_zero() || b.account_field() == Some(p.account))
                        && b.account_field().is_none_or(|a| a == p.account);
                    if !chains {
                        sh.punish_endpoint(state.peer, "bulk_pull blocks do not chain");
                        state.bad.store(true, Ordering::Release);
                        return Err(std::io::Error::other("blocks do not chain"));
                    }
                    expected = b.hash();
                    sh.counters.received.fetch_add(1, Ordering::Relaxed);
                    sh.submitter.throttle().await;
                    let (sh2, st2) = (sh.clone(), state.clone());
                    sh.submitter
                        .submit(b, Some(Box::new(move |r| outcome(&sh2, &st2, r))));
                    if state.bad.load(Ordering::Acquire) {
                        return Ok(true);
                    }
                }
                Ok(None) => read_more(sh, &state.cancel, s, buf).await?,
            }
        }
    }
    Ok(false)
}

fn outcome(sh: &Shared, state: &Pass, r: crate::consensus::ProcessStatus) {
    let c = &sh.counters;
    match r {
        Ok(BlockStatus::Progress) => {
            c.processed.fetch_add(1, Ordering::Relaxed);
        }
        Ok(BlockStatus::Old) => {
            c.duplicate.fetch_add(1, Ordering::Relaxed);
        }
        Ok(
            BlockStatus::GapSource | BlockStatus::GapPrevious | BlockStatus::GapEpochOpenPending,
        ) => {}
        Ok(st @ (BlockStatus::BadSignature | BlockStatus::InsufficientWork)) => {
            c.rejected.fetch_add(1, Ordering::Relaxed);
            if !state.bad.swap(true, Ordering::AcqRel) {
                sh.punish_endpoint(state.peer, st.as_str());
            }
        }
        Ok(_) => {
            c.rejected.fetch_add(1, Ordering::Relaxed);
        }
        Err(_) => {}
    }
}
