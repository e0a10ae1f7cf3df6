//! The ascending bootstrap client (asc_pull over realtime channels).
//!
//! One round: a frontier scan asks a peer for 1000 (account, head) pairs at a time and
//! queues every account whose head we do not have; queued accounts are pulled forward
//! from our head 128 blocks per request, a full answer being followed at once by the
//! next request from its last block (an account new to the ledger is first asked for
//! two blocks from its open block, and continued once those went in), spread over all good
//! channels (at most `channel_limit` unanswered per channel, `max_requests` overall),
//! and only while the block processor has room. An answer is submitted only up to its
//! first receive whose source is neither in the ledger nor submitted (`missing_source`);
//! that receive and the rest of the answer, which the processor would only find waiting
//! and park, go to its gap table directly (signatures and work checked here), so the
//! processor takes each block once, when it can go in. A receive whose source is missing
//! blocks its account; the dependency walker asks a peer which account holds the source
//! (account_info by block hash) and queues that account; once the source is in the
//! ledger the block processor releases what waited for it in its gap table, and the
//! account is looked at again when that has landed (the processor reports the sends it
//! inserts, which free their receivers at once; a slow pass over the blocked accounts
//! catches what no report covers, see `unblock.rs`). Blocks received once are not asked
//! for again while they are on their way: a chain whose released blocks stopped at a
//! further receive with a missing source (its next block parked on the ledger head)
//! blocks on that source; the scan skips accounts the walker already pulled; only a
//! chain whose last block received is nowhere (the bounded gap table dropped it) is
//! pulled from its ledger head again, once the processor has settled or its head stood
//! still through the recheck list's backoff (`recheck.rs`).
//!
//! Answers are checked before anything is submitted: they must start where asked and
//! chain (each block's previous is the one before). A peer that breaks that, or whose
//! blocks fail the signature or work checks, is excluded.
//!
//! The scan position and the queued/blocked accounts are saved to
//! `<data_dir>/bootstrap_ascending.json` every few seconds and when the round ends, so a
//! restarted node continues the scan where it stopped; pulls always start from the
//! local head, so nothing the ledger holds is fetched again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::{Account, Block, BlockHash, Root};
use nano_ledger::BlockStatus;
use nano_messages::{
    AscPullAck, AscPullAckPayload, AscPullReq, AscPullReqPayload, HashOrAccount, HashType, Message,
};
use tokio::sync::mpsc;

use super::account_heads::{AccountHeads, Head};
use super::answer_timer::{AnswerKind, AnswerTimer};
use super::blocked::BlockedSet;
use super::missing_source::{first_missing_source, signed_by};
use super::pull_queue::{Pull, PullQueue};
use super::pull_stats::Why;
use super::recheck::RecheckList;
use super::shrink::shrink_sparse;
use super::unblock::{fallback_pass, free_by_sends, FALLBACK_WINDOW, FULL_WINDOW};
use super::unblock_stats::BlockTimes;
use super::{lock, next_account, AttemptInfo, ProgressLog, Settle, Shared};
use crate::consensus::{ProcessStatus, SubmitError};
use crate::hash_churn::reclaim_deleted;
use crate::interfaces::{ChannelId, ChannelInfo, Outbound, TrafficType};
use crate::recent_map::RecentMap;
use crate::recent_set::RecentSet;

const FRONTIERS_PER_REQUEST: u16 = 1000;
/// The scan pauses while this many accounts wait to be pulled.
const QUEUE_HIGH: usize = 16_384;
/// A round ends when nothing moved for this long (peers gone, dependencies unknown).
const IDLE_END: Duration = Duration::from_secs(30);
/// Blocked accounts may wait this long without progress before the round ends.
const BLOCKED_GRACE: Duration = Duration::from_secs(4);
const STATE_FILE: &str = "bootstrap_ascending.json";
/// Pull retries for an account whose pulls end short of the scanned head.
const MAX_TRIES: u8 = 4;
/// Dependencies queued to be looked up (`asc_pull_req` account info) at once; more
/// wait for their account to be pulled or asked again after the cooldown.
const DEPS_MAX: usize = 4096;
/// Dependencies remembered as asked (for the cooldown), the oldest forgotten first: one
/// forgotten early is at most asked again before its cooldown ends. 64 Ki entries
/// (~4 MB) cover far more than the requests sent within one cooldown (3 s), which the
/// per-channel request limit paces.
const DEP_ASKED_MAX: usize = 65_536;
/// Blocks asked for in an account's first pull (from its open block): the reference's
/// initial account priority (2), which sizes its pulls. Most accounts open with a
/// receive; one whose source is not in the ledger yet blocks, and everything pulled
/// after that receive waits in the bounded gap table, where most of it is dropped and
/// fetched again once the source arrives. A first pull of two blocks risks little;
/// the account's next pull (full size) waits until these are processed.
const FIRST_PULL_COUNT: u8 = 2;
/// Requests presumed lost remembered with their channel and send time, so an answer that
/// still comes teaches the channel's answer timer (`answer_timer`); the oldest forgotten
/// first (~200 kB; forgetting one loses a round-trip sample, nothing else).
const LATE_MAX: usize = 4096;
/// Accounts of each list `debug_bootstrap_priority_info` shows: a diagnostic answer of
/// bounded size (a few hundred kB of JSON), however long the queue.
const PRIORITY_INFO_MAX: usize = 4096;
/// Accounts saved with the scan position (queued, being pulled, blocked) and read back
/// at start: enough to resume where a round stopped (the rest are found again by the
/// scan), in a file of a few MB.
const SAVED_ACCOUNTS_MAX: usize = 65_536;
/// The reported sends' buffer keeps its allocation up to this many (256 kB): far more
/// than are reported in one 10 ms turn of the loop, so only a burst frees it.
const SENDS_BUFFER_KEPT: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Account,
    Hash(BlockHash),
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Blocks {
        account: Account,
        start: Start,
        /// Blocks asked for.
        count: u8,
        why: Why,
    },
    /// Which account holds `dep`.
    Info {
        dep: BlockHash,
    },
    Frontiers {
        start: Account,
    },
}

/// What the client keeps per channel it asks.
#[derive(Default)]
struct PerChannel {
    /// Requests sent and neither answered nor presumed lost (at most `channel_limit`).
    in_flight: usize,
    /// When an unanswered request on this channel is presumed lost.
    timer: AnswerTimer,
}

struct Req {
    channel: ChannelId,
    kind: Kind,
    sent: Instant,
}

impl Kind {
    fn answer_kind(&self) -> AnswerKind {
        match self {
            Kind::Blocks { .. } => AnswerKind::Blocks,
            Kind::Info { .. } => AnswerKind::AccountInfo,
            Kind::Frontiers { .. } => AnswerKind::Frontiers,
        }
    }
}

struct Outcome {
    account: Account,
    channel: ChannelId,
    /// What a receive of this block needs (link / source), for gap_source.
    dep: Option<BlockHash>,
    /// Set on the last block of a full first pull: the block the account's pull
    /// continues from once this one has gone in.
    next: Option<BlockHash>,
    status: ProcessStatus,
    why: Why,
    /// The block's hash (it leaves `submitted`).
    hash: BlockHash,
}

struct Asc<'a> {
    sh: &'a Arc<Shared>,
    queue: PullQueue,
    busy: HashSet<Account>,
    /// Per account being pulled: the head a peer reported (`Head::Target`; a forgotten
    /// target only costs the retries from another peer) and the last block received
    /// (`Head::PulledTo`: after a dependency arrives, the block processor releases what
    /// waited for it by itself, so the pull continues from here instead of fetching
    /// those blocks again; a forgotten entry costs a pull from the ledger head, blocks
    /// fetched twice, never a block missed). Each bounded by [`accounts_max`].
    heads: AccountHeads,
    /// The pulls that ended short of the target.
    tries: RecentMap<Account, u8>,
    /// The blocked accounts, each with the block it waits for, in the order they are
    /// looked at again.
    blocked: BlockedSet,
    /// Blocks submitted and not yet answered, per account. `Head::PulledTo` is kept while
    /// any are out: a gap answer may still block the account.
    outstanding: HashMap<Account, u32>,
    /// The blocks submitted and not yet answered: a receive of one of them goes in
    /// after it, so a chain is not cut there (see [`Asc::cut_at_missing_source`]). As
    /// many as the processor holds of ours: pulls stop at `block_processor_threshold`
    /// blocks, and at most `max_requests` answers come in beyond that.
    submitted: HashSet<BlockHash>,
    /// Unblocked accounts to look at again once released blocks had time to land.
    recheck: RecheckList,
    /// The sends the processor reported inserted since the last look (reused buffer).
    sends: Vec<(BlockHash, Account)>,
    /// Reports were missed (the processor's list was full): the next fallback pass looks
    /// at a full window.
    sends_missed: bool,
    /// When the timed blocked accounts blocked (for the bench's `unblock.*` counters).
    block_times: BlockTimes,
    deps: VecDeque<BlockHash>,
    /// Full first pulls whose last block has not been answered yet: their accounts
    /// continue after that, so the round is not over while any are out.
    continuing: usize,
    settle: Settle,
    settled: bool,
    /// Accounts pulled to the end this round: the dependency walker leaves them alone
    /// (their blocks may still be on the way through the processor).
    done: RecentSet<Account>,
    dep_asked: RecentMap<BlockHash, Instant>,
    requests: HashMap<u64, Req>,
    per_channel: HashMap<ChannelId, PerChannel>,
    /// Requests presumed lost: id → (channel, kind, sent).
    late: RecentMap<u64, (ChannelId, AnswerKind, Instant)>,
    channels: Vec<ChannelInfo>,
    channels_at: Instant,
    rr: usize,
    cursor: Option<Account>,
    frontier_inflight: bool,
    out_tx: mpsc::UnboundedSender<Outcome>,
    out_rx: mpsc::UnboundedReceiver<Outcome>,
    last_activity: Instant,
    last_progress: Instant,
    last_maintain: Instant,
    last_unblock: Instant,
    last_save: Instant,
    next_id: u64,
}

/// Runs one ascending round until it has nothing left to do, is idle, or is cancelled.
pub(crate) async fn run(
    sh: &Arc<Shared>,
    acks: &mut mpsc::Receiver<(ChannelId, AscPullAck)>,
    attempt: &AttemptInfo,
) {
    let (out_tx, out_rx) = mpsc::unbounded_channel();
    let now = Instant::now();
    let mut a = Asc {
        sh,
        queue: PullQueue::new(),
        busy: HashSet::new(),
        heads: AccountHeads::new(accounts_max(&sh.config)),
        tries: RecentMap::new(accounts_max(&sh.config)),
        blocked: BlockedSet::new(sh.config.blocking_max),
        outstanding: HashMap::new(),
        submitted: HashSet::new(),
        recheck: RecheckList::new(sh.config.blocking_max),
        sends: Vec::new(),
        sends_missed: false,
        block_times: BlockTimes::new(),
        deps: VecDeque::new(),
        continuing: 0,
        settle: Settle::new(),
        settled: false,
        // Accounts remembered as pulled to the end this round. The memory only spares
        // a second pull of an account whose blocks are still on their way (the
        // dependency walker and the frontier scan skip it); forgetting the oldest costs
        // at most such a pull, while an unbounded set would hold every account of the
        // ledger (tens of millions on the live network) for a whole round. Every such
        // account was queued first, so the queue's bound (`priorities_max`, 256 Ki by
        // default: ~10 MB) bounds it too, far more than the block processor and the
        // gap table hold on the way at once.
        done: RecentSet::new(sh.config.priorities_max),
        dep_asked: RecentMap::new(DEP_ASKED_MAX),
        requests: HashMap::new(),
        per_channel: HashMap::new(),
        late: RecentMap::new(LATE_MAX),
        channels: Vec::new(),
        channels_at: now - Duration::from_secs(10),
        rr: 0,
        cursor: Some(Account::ZERO),
        frontier_inflight: false,
        out_tx,
        out_rx,
        last_activity: now,
        last_progress: now,
        last_maintain: now,
        last_unblock: now,
        last_save: now,
        next_id: rand::random::<u64>() | 1,
    };
    a.load_state();
    sh.submitter.watch_sends(true);
    let mut log = ProgressLog::new();
    loop {
        tokio::select! {
            _ = attempt.cancel.cancelled() => break,
            m = acks.recv() => match m {
                Some((ch, ack)) => a.on_ack(ch, ack),
                None => break,
            },
            o = a.out_rx.recv() => if let Some(o) = o { a.on_outcome(o) },
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        for _ in 0..1024 {
            match acks.try_recv() {
                Ok((ch, ack)) => a.on_ack(ch, ack),
                Err(_) => break,
            }
        }
        // The reported sends are taken before the outcomes are read: the processor
        // reports a batch's sends after its outcomes, so an account one of those
        // outcomes blocks is blocked before its send is looked for.
        a.sends_missed |= sh.submitter.take_sends(&mut a.sends);
        for _ in 0..65_536 {
            match a.out_rx.try_recv() {
                Ok(o) => a.on_outcome(o),
                Err(_) => break,
            }
        }
        a.free_by_sends();
        a.maintain();
        a.dispatch();
        log.tick(sh, attempt);
        if a.finished() {
            break;
        }
    }
    sh.submitter.watch_sends(false);
    a.save_state();
    sh.counters.priorities.store(0, Ordering::Relaxed);
    sh.counters.blocked.store(0, Ordering::Relaxed);
    for gauge in &sh.counters.sets {
        gauge.store(0, Ordering::Relaxed);
    }
}

/// Accounts the client remembers a pull target, retry count or last received block
/// for: as many as can be queued (`priorities_max`) and blocked (`blocking_max`) at
/// once, the accounts it can be working on.
fn accounts_max(c: &super::BootstrapConfig) -> usize {
    c.priorities_max.saturating_add(c.blocking_max)
}

/// The dependency a receive (or open) names.
fn dependency_of(b: &Block) -> Option<BlockHash> {
    match b {
        Block::State(s) => Some(s.link.as_block_hash()),
        _ => b.source_field(),
    }
}

impl Asc<'_> {
    /// A request that got no usable answer is asked again first, from the same start,
    /// so the account does not lose its turn to a peer's failure.
    fn requeue_request(&mut self, account: Account, start: Start) {
        let from = match start {
            Start::Hash(h) => Some(h),
            Start::Account => None,
        };
        let pull = Pull {
            account,
            from,
            why: Why::Requeue,
        };
        self.enqueue(pull, true);
    }

    fn enqueue(&mut self, p: Pull, front: bool) {
        if self.busy.contains(&p.account) {
            return;
        }
        // Already queued: a continuation wins over a fresh start.
        self.queue.push(p, front, self.sh.config.priorities_max);
    }

    fn new_id(&mut self) -> u64 {
        self.next_id = self.next_id.wrapping_add(2);
        self.next_id
    }

    fn refresh_channels(&mut self) {
        if self.channels_at.elapsed() >= Duration::from_millis(500) {
            self.channels = self.sh.channels();
            self.channels_at = Instant::now();
            let live: HashSet<ChannelId> = self.channels.iter().map(|c| c.id).collect();
            self.per_channel.retain(|c, _| live.contains(c));
        }
    }

    /// A good channel with room, round robin.
    fn pick_channel(&mut self) -> Option<ChannelId> {
        let n = self.channels.len();
        for _ in 0..n {
            self.rr = (self.rr + 1) % n;
            let c = self.channels[self.rr].id;
            let in_flight = self.per_channel.get(&c).map_or(0, |p| p.in_flight);
            if in_flight < self.sh.config.channel_limit {
                return Some(c);
            }
        }
        None
    }

    fn send(&mut self, ch: ChannelId, payload: AscPullReqPayload, kind: Kind) -> bool {
        let id = self.new_id();
        let msg = Message::AscPullReq(AscPullReq { id, payload });
        if !self.sh.network.send(ch, &msg, TrafficType::Bootstrap) {
            return false;
        }
        self.sh.counters.requests.fetch_add(1, Ordering::Relaxed);
        self.per_channel.entry(ch).or_default().in_flight += 1;
        self.requests.insert(
            id,
            Req {
                channel: ch,
                kind,
                sent: Instant::now(),
            },
        );
        true
    }

    fn dispatch(&mut self) {
        self.refresh_channels();
        if self.channels.is_empty() {
            return;
        }
        let max = self.sh.config.max_requests;
        // The frontier scan, one request at a time, paced by the queue.
        if let (Some(start), false) = (self.cursor, self.frontier_inflight) {
            if self.queue.len() < QUEUE_HIGH {
                if let Some(ch) = self.pick_channel() {
                    let p = AscPullReqPayload::Frontiers {
                        start,
                        count: FRONTIERS_PER_REQUEST,
                    };
                    if self.send(ch, p, Kind::Frontiers { start }) {
                        self.frontier_inflight = true;
                    }
                }
            }
        }
        // Dependencies: which account holds a missing source.
        while self.requests.len() < max {
            let Some(dep) = self.deps.pop_front() else {
                break;
            };
            let Some(ch) = self.pick_channel() else {
                self.deps.push_front(dep);
                break;
            };
            let p = AscPullReqPayload::AccountInfo {
                target: HashOrAccount(dep.0),
                target_type: HashType::Block,
            };
            self.send(ch, p, Kind::Info { dep });
        }
        // Pulls, while the block processor keeps up.
        let txn = match self.sh.ledger.read_txn() {
            Ok(t) => t,
            Err(_) => return,
        };
        while self.requests.len() < max && !self.sh.submitter.saturated() {
            let Some(p) = self.queue.pop_front() else {
                break;
            };
            if self.busy.contains(&p.account) || self.blocked.contains_key(&p.account) {
                continue;
            }
            let start = match p.from {
                Some(h) => Start::Hash(h),
                None => match self.sh.ledger.account_info(&txn, &p.account) {
                    Ok(Some(info)) => Start::Hash(info.head),
                    _ => Start::Account,
                },
            };
            if let (Start::Hash(h), Some(t)) = (start, self.heads.get(Head::Target, &p.account)) {
                if h == *t {
                    self.heads.remove(Head::Target, &p.account);
                    self.tries.remove(&p.account);
                    continue;
                }
            }
            let Some(ch) = self.pick_channel() else {
                self.queue.put_back(p);
                break;
            };
            let (s, ty) = match start {
                Start::Hash(h) => (HashOrAccount(h.0), HashType::Block),
                Start::Account => (HashOrAccount(p.account.0), HashType::Account),
            };
            let count = match start {
                Start::Account => FIRST_PULL_COUNT.min(self.sh.config.max_pull_count),
                Start::Hash(_) => self.sh.config.max_pull_count,
            };
            let payload = AscPullReqPayload::Blocks {
                start: s,
                count,
                start_type: ty,
            };
            let kind = Kind::Blocks {
                account: p.account,
                start,
                count,
                why: p.why,
            };
            if self.send(ch, payload, kind) {
                self.sh.counters.pulls.pull(p.why);
                self.busy.insert(p.account);
            } else {
                self.queue.put_back(p);
                break;
            }
        }
        let c = &self.sh.counters;
        c.priorities.store(self.queue.len(), Ordering::Relaxed);
        c.blocked.store(self.blocked.len(), Ordering::Relaxed);
        c.in_flight.store(self.requests.len(), Ordering::Relaxed);
        let sizes = [
            self.heads.len(Head::Target),
            self.heads.len(Head::PulledTo),
            self.outstanding.len(),
            self.recheck.len(),
            self.dep_asked.len(),
            self.tries.len(),
            self.done.len(),
            self.blocked.len(),
        ];
        for (gauge, n) in c.sets.iter().zip(sizes) {
            gauge.store(n, Ordering::Relaxed);
        }
    }

    fn punish(&mut self, ch: ChannelId, why: &str) {
        self.sh.punish_channel(ch, why);
        self.channels.retain(|c| c.id != ch);
        // Everything asked of that peer is asked again elsewhere.
        let ids: Vec<u64> = self
            .requests
            .iter()
            .filter(|(_, r)| r.channel == ch)
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(r) = self.requests.remove(&id) {
                self.retry(r.kind);
            }
        }
        self.per_channel.remove(&ch);
    }

    /// Puts the work of a lost request back.
    fn retry(&mut self, kind: Kind) {
        match kind {
            Kind::Blocks { account, start, .. } => {
                self.busy.remove(&account);
                self.requeue_request(account, start);
            }
            Kind::Frontiers { .. } => self.frontier_inflight = false,
            Kind::Info { .. } => {}
        }
    }

    fn on_ack(&mut self, ch: ChannelId, ack: AscPullAck) {
        let Some(req) = self.requests.remove(&ack.id) else {
            self.on_late_ack(ch, ack.id);
            return;
        };
        if req.channel != ch {
            // Someone else echoed our id: not an answer.
            self.requests.insert(ack.id, req);
            return;
        }
        let round_trip = req.sent.elapsed();
        if let Some(p) = self.per_channel.get_mut(&ch) {
            p.in_flight = p.in_flight.saturating_sub(1);
            p.timer.observe(req.kind.answer_kind(), round_trip);
        }
        let timeout_ms =
            i64::try_from(self.sh.config.request_timeout.as_millis()).unwrap_or(i64::MAX);
        let round_trip_ms = i64::try_from(round_trip.as_millis()).unwrap_or(i64::MAX);
        self.sh
            .stats
            .sample("bootstrap_tag_duration", round_trip_ms, (0, timeout_ms));
        self.last_activity = Instant::now();
        match (req.kind, ack.payload) {
            (
                Kind::Blocks {
                    account,
                    start,
                    count,
                    why,
                },
                AscPullAckPayload::Blocks(blocks),
            ) => self.on_blocks(ch, account, start, (count, why), blocks),
            (Kind::Info { dep }, AscPullAckPayload::AccountInfo(info)) => {
                let pulling =
                    self.busy.contains(&info.account) || self.queue.contains(&info.account);
                let pulled = self.done.contains(&info.account)
                    || self.heads.contains_key(Head::PulledTo, &info.account);
                // Pulled this round, yet the block asked for is neither in the ledger nor
                // parked in the gap table, and nothing moves: the bounded gap table
                // dropped it, so that chain is fetched again from the ledger head.
                let lost = || {
                    self.settled
                        && !self.blocked.contains_key(&info.account)
                        && !self.sh.submitter.parked(&dep)
                        && self
                            .sh
                            .ledger
                            .read_txn()
                            .ok()
                            .and_then(|t| self.sh.ledger.block_exists(&t, &dep).ok())
                            == Some(false)
                };
                if !info.account.is_zero() && !pulling && (!pulled || lost()) {
                    let have = self
                        .sh
                        .ledger
                        .read_txn()
                        .ok()
                        .and_then(|t| self.sh.ledger.block_exists(&t, &info.head).ok())
                        .unwrap_or(false);
                    if !have && !info.head.is_zero() {
                        self.heads
                            .get_or_insert_with(Head::Target, info.account, || info.head);
                        self.enqueue(
                            Pull {
                                account: info.account,
                                from: None,
                                why: Why::Dependency,
                            },
                            true,
                        );
                    }
                }
            }
            (Kind::Frontiers { start }, AscPullAckPayload::Frontiers(list)) => {
                self.on_frontiers(ch, start, list)
            }
            (kind, _) => {
                self.retry(kind);
                self.punish(ch, "answer of the wrong type");
            }
        }
    }

    /// An answer to a request presumed lost: too late to use (it was asked again), but
    /// its round trip tells the channel's timer to wait longer.
    fn on_late_ack(&mut self, ch: ChannelId, id: u64) {
        let Some((asked, kind, sent)) = self.late.get(&id).copied() else {
            return;
        };
        if asked != ch {
            return;
        }
        self.late.remove(&id);
        self.sh
            .stats
            .inc("bootstrap_ascending", "answered_late", "");
        if let Some(p) = self.per_channel.get_mut(&ch) {
            p.timer.observe(kind, sent.elapsed());
        }
    }

    fn on_frontiers(&mut self, ch: ChannelId, start: Account, list: Vec<(Account, BlockHash)>) {
        self.frontier_inflight = false;
        let ordered = list.first().is_none_or(|(a, _)| *a >= start)
            && list.windows(2).all(|w| w[0].0 < w[1].0)
            && list.len() <= FRONTIERS_PER_REQUEST as usize;
        if !ordered {
            self.punish(ch, "frontiers out of order");
            return;
        }
        self.sh
            .counters
            .frontiers
            .fetch_add(list.len() as u64, Ordering::Relaxed);
        if let Ok(txn) = self.sh.ledger.read_txn() {
            for (account, head) in &list {
                if self.sh.ledger.block_exists(&txn, head).unwrap_or(true) {
                    continue;
                }
                // Pulled already this round (found as a dependency before the scan
                // got here) and its blocks are on their way or parked: pulling again
                // from the ledger head would fetch them twice. (When the last block
                // received is nowhere, the gap table dropped it: pull again.)
                if self.on_the_way(account) {
                    continue;
                }
                self.heads.insert(Head::Target, *account, *head);
                self.enqueue(
                    Pull {
                        account: *account,
                        from: None,
                        why: Why::Scan,
                    },
                    false,
                );
            }
        }
        self.cursor = if list.len() >= FRONTIERS_PER_REQUEST as usize {
            list.last().and_then(|(a, _)| next_account(a))
        } else {
            None
        };
        // Shown at once: with two-block first pulls a scanned batch of accounts can be
        // pulled within one maintenance period, and RPC would never see it queued.
        self.publish_priorities();
    }

    fn on_blocks(
        &mut self,
        ch: ChannelId,
        account: Account,
        start: Start,
        (count, why): (u8, Why),
        blocks: Vec<Block>,
    ) {
        self.busy.remove(&account);
        let max = count as usize;
        let mut skip = 0;
        let mut ok = blocks.len() <= max;
        match start {
            Start::Hash(h) => {
                if let Some(first) = blocks.first() {
                    ok &= first.hash() == h;
                    skip = 1;
                }
            }
            Start::Account => {
                if let Some(first) = blocks.first() {
                    ok &= first.previous().is_zero() && first.account_field() == Some(account);
                }
            }
        }
        ok &= blocks.windows(2).all(|w| w[1].previous() == w[0].hash());
        ok &= blocks
            .iter()
            .all(|b| b.account_field().is_none_or(|a| a == account));
        if !ok {
            self.requeue_request(account, start);
            self.punish(ch, "blocks do not chain from the requested start");
            return;
        }
        let received = blocks.len().saturating_sub(skip);
        let full = blocks.len() >= max;
        let last = blocks.last().map(|b| b.hash()).or(match start {
            Start::Hash(h) => Some(h),
            Start::Account => None,
        });
        let mut blocks = blocks;
        let cut = self.cut_at_missing_source(account, start, &mut blocks, skip);
        let fresh = blocks.len().saturating_sub(skip);
        if let (true, Some(l)) = (received > 0, last) {
            self.heads.insert(Head::PulledTo, account, l);
        }
        if fresh > 0 {
            *self.outstanding.entry(account).or_default() += fresh as u32;
        }
        self.sh
            .counters
            .received
            .fetch_add(received as u64, Ordering::Relaxed);
        self.sh.counters.pulls.cut(why, (received - fresh) as u64);
        let parked = blocks
            .iter()
            .skip(skip)
            .filter(|b| self.sh.submitter.parked(&b.hash()))
            .count();
        self.sh
            .counters
            .pulls
            .received(why, fresh as u64, parked as u64);
        // A full first pull continues once its last block has been processed, and only
        // if that went in: a first block blocked on its source stops the account there.
        let wait = full && start == Start::Account && fresh > 0 && cut.is_none();
        reclaim_deleted(&mut self.submitted);
        for (i, b) in blocks.into_iter().skip(skip).enumerate() {
            let dep = dependency_of(&b);
            let hash = b.hash();
            self.submitted.insert(hash);
            let next = if wait && i + 1 == fresh { last } else { None };
            self.continuing += usize::from(next.is_some());
            let tx = self.out_tx.clone();
            self.sh.submitter.submit(
                b,
                Some(Box::new(move |status| {
                    let _ = tx.send(Outcome {
                        account,
                        channel: ch,
                        dep,
                        next,
                        status,
                        why,
                        hash,
                    });
                })),
            );
        }
        if let Some((dep, tail)) = cut {
            // After the blocks before it were submitted: the account's blocks go to the
            // processor in chain order.
            self.sh.submitter.park_chain(dep, tail);
            return;
        }
        if wait {
            return;
        }
        if full {
            if !self.blocked.contains_key(&account) {
                self.enqueue(
                    Pull {
                        account,
                        from: last,
                        why: Why::Continue,
                    },
                    true,
                );
            }
            return;
        }
        // The peer has nothing beyond `last`.
        match self.heads.get(Head::Target, &account) {
            Some(t) if Some(*t) != last => {
                let tries = self.tries.get_or_insert_with(account, || 0);
                *tries += 1;
                if *tries < MAX_TRIES {
                    // Maybe another peer has more.
                    self.enqueue(
                        Pull {
                            account,
                            from: last,
                            why: Why::Retry,
                        },
                        false,
                    );
                } else {
                    self.forget(&account);
                }
            }
            _ => self.forget(&account),
        }
    }

    /// Cuts `blocks` (a checked answer for `account`, the first `skip` of them already
    /// in the ledger) before its first receive whose source is neither in the ledger
    /// nor submitted and unanswered (see [`super::missing_source`]), blocks the account
    /// on that source and returns the source and the blocks cut off, to be parked in
    /// the gap table directly: submitted, the processor would check each of them (the
    /// signature, a ledger lookup) only to park it, and check it again when it is
    /// released (on the 10M bench ledger that was half its time per block). Nothing is
    /// cut while the blocked set is full, or when a block cut off fails the checks the
    /// processor would make (it goes to the processor, which excludes its peer).
    fn cut_at_missing_source(
        &mut self,
        account: Account,
        start: Start,
        blocks: &mut Vec<Block>,
        skip: usize,
    ) -> Option<(BlockHash, Vec<Block>)> {
        let txn = self.sh.ledger.read_txn().ok()?;
        let params = self.sh.ledger.params();
        let start_balance = match start {
            Start::Hash(_) => blocks.first().and_then(|b| b.balance_field()),
            Start::Account => None,
        };
        let submitted = &self.submitted;
        let ledger = &self.sh.ledger;
        let k = first_missing_source(
            blocks,
            skip,
            start_balance,
            |l| params.epoch_of_link(l).is_some(),
            |h| submitted.contains(h) || ledger.block_exists(&txn, h).unwrap_or(true),
        )?;
        drop(txn);
        let dep = dependency_of(&blocks[k])?;
        // Checked here as the processor would (it parks them unchecked): a peer sending
        // forged blocks is excluded for them (they go to the processor), not left to
        // fill the gap table. Epoch blocks (another signer) are not parked.
        let valid = blocks[k..].iter().all(|b| {
            b.link_field()
                .is_none_or(|l| params.epoch_of_link(&l).is_none())
                && params
                    .work
                    .validate_entry(&b.root(), b.work(), b.is_state())
        }) && signed_by(&blocks[k..], &account);
        if !valid || !self.block_on(account, dep) {
            return None;
        }
        self.ask_dependency(dep);
        Some((dep, blocks.split_off(k)))
    }

    /// The last block of `account`'s full first pull was processed with `status`.
    fn continue_first_pull(&mut self, account: Account, from: BlockHash, status: &ProcessStatus) {
        if self.blocked.contains_key(&account) {
            // Continues once its dependency arrives (`unblock`).
            return;
        }
        match status {
            Ok(BlockStatus::Progress | BlockStatus::Old) => self.enqueue(
                Pull {
                    account,
                    from: Some(from),
                    why: Why::AfterFirst,
                },
                true,
            ),
            // Parked behind its first block, which could not be blocked (the blocked
            // set is full): the guard puts it in the recheck list, to be looked at
            // again as an unblocked account is. With that list full too it is pulled
            // again later from the start (two blocks fetched twice at worst).
            Ok(BlockStatus::GapPrevious | BlockStatus::GapSource)
                if !self.recheck.push_new(account, Instant::now()) =>
            {
                self.enqueue(
                    Pull {
                        account,
                        from: None,
                        why: Why::Requeue,
                    },
                    false,
                );
            }
            // Refused by a full processor (queued again from the ledger head by
            // `count_outcome`), rejected, or the node stopping.
            _ => {}
        }
    }

    /// Whether the blocks pulled for `account` this round are still to come: some
    /// unanswered, or the last one received parked in the gap table.
    fn on_the_way(&self, account: &Account) -> bool {
        self.outstanding.contains_key(account)
            || self
                .heads
                .get(Head::PulledTo, account)
                .is_some_and(|p| self.sh.submitter.parked(p))
    }

    /// The account is as complete as peers can make it.
    fn forget(&mut self, account: &Account) {
        self.heads.remove(Head::Target, account);
        self.tries.remove(account);
        self.done.insert(*account);
        if !self.blocked.contains_key(account) && !self.outstanding.contains_key(account) {
            self.heads.remove(Head::PulledTo, account);
        }
    }

    /// Every block submitted for `account` has been answered.
    fn all_answered(&mut self, account: &Account) {
        let idle = !self.blocked.contains_key(account)
            && !self.busy.contains(account)
            && !self.queue.contains(account);
        if idle && self.done.contains(account) {
            self.heads.remove(Head::PulledTo, account);
        }
    }

    fn on_outcome(&mut self, o: Outcome) {
        self.submitted.remove(&o.hash);
        self.count_outcome(&o);
        if let Some(from) = o.next {
            self.continuing = self.continuing.saturating_sub(1);
            self.continue_first_pull(o.account, from, &o.status);
        }
        if let Some(n) = self.outstanding.get_mut(&o.account) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.outstanding.remove(&o.account);
                self.all_answered(&o.account);
            }
        }
    }

    fn count_outcome(&mut self, o: &Outcome) {
        let c = &self.sh.counters;
        c.pulls.outcome(o.why, &o.status);
        match &o.status {
            Ok(BlockStatus::Progress) => {
                c.processed.fetch_add(1, Ordering::Relaxed);
                self.last_progress = Instant::now();
                self.last_activity = self.last_progress;
            }
            Ok(BlockStatus::Old) => {
                c.duplicate.fetch_add(1, Ordering::Relaxed);
            }
            Ok(BlockStatus::GapSource) => {
                if let Some(dep) = o.dep {
                    self.block_on_gap(o.account, dep);
                }
            }
            Ok(BlockStatus::GapPrevious) | Ok(BlockStatus::GapEpochOpenPending) => {}
            Ok(st @ (BlockStatus::BadSignature | BlockStatus::InsufficientWork)) => {
                c.rejected.fetch_add(1, Ordering::Relaxed);
                self.punish(o.channel, st.as_str());
            }
            Ok(_) => {
                c.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Err(SubmitError::Overloaded) => {
                self.enqueue(
                    Pull {
                        account: o.account,
                        from: None,
                        why: Why::Requeue,
                    },
                    false,
                );
            }
            Err(_) => {}
        }
    }

    fn ask_dependency(&mut self, dep: BlockHash) {
        let now = Instant::now();
        if self
            .dep_asked
            .get(&dep)
            .is_some_and(|t| now.duration_since(*t) < self.sh.config.cooldown)
        {
            return;
        }
        self.dep_asked.insert(dep, now);
        if self.deps.len() < DEPS_MAX {
            self.deps.push_back(dep);
        }
    }

    fn maintain(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_maintain) >= Duration::from_millis(100) {
            self.last_maintain = now;
            self.publish_priorities();
            self.shrink_sets();
            let was_settled = self.settled;
            self.settled = self.settle.settled(self.sh);
            if self.settled && !was_settled {
                // The backoff was for while the processor was busy: what still waits
                // is decided now.
                self.recheck.flush();
            }
            // A request is given up after its channel's answer timer (a few of that
            // channel's round trips, at most `request_timeout`): see `answer_timer`.
            let timeout = self.sh.config.request_timeout;
            let per_channel = &self.per_channel;
            let expired: Vec<u64> = self
                .requests
                .iter()
                .filter(|(_, r)| {
                    let wait = per_channel.get(&r.channel).map_or(timeout, |p| {
                        p.timer.lost_after(r.kind.answer_kind(), timeout)
                    });
                    now.duration_since(r.sent) > wait
                })
                .map(|(id, _)| *id)
                .collect();
            for id in expired {
                if let Some(r) = self.requests.remove(&id) {
                    self.sh.counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    let kind = r.kind.answer_kind();
                    if now.duration_since(r.sent) <= timeout {
                        self.sh
                            .stats
                            .inc("bootstrap_ascending", "presumed_lost", "");
                        self.late.insert(id, (r.channel, kind, r.sent));
                    }
                    if let Some(p) = self.per_channel.get_mut(&r.channel) {
                        p.in_flight = p.in_flight.saturating_sub(1);
                        p.timer.lost(kind, r.sent, now);
                    }
                    self.retry(r.kind);
                }
            }
        }
        if now.duration_since(self.last_unblock) >= Duration::from_millis(250) {
            self.last_unblock = now;
            self.unblock();
            self.recheck_due();
        }
        if now.duration_since(self.last_save) >= Duration::from_secs(5) {
            self.last_save = now;
            self.save_state();
        }
    }

    /// Gives back the memory of sets that held far more than they do now (see
    /// [`shrink_sparse`]): in a sync of millions of accounts each of them passes its
    /// bound's worth of accounts, and without this the round would keep every set at
    /// the most it ever held.
    fn shrink_sets(&mut self) {
        shrink_sparse(&mut self.queue);
        shrink_sparse(&mut self.busy);
        shrink_sparse(&mut self.outstanding);
        shrink_sparse(&mut self.submitted);
        self.recheck.shrink();
        shrink_sparse(&mut self.deps);
        shrink_sparse(&mut self.requests);
    }

    /// Blocks `account` on `dep`; false when `blocking_max` accounts are blocked already.
    fn block_on(&mut self, account: Account, dep: BlockHash) -> bool {
        self.block_on_seen(account, dep, false)
    }

    /// As [`Asc::block_on`]; `send_in`: `dep` was in the ledger when looked at.
    fn block_on_seen(&mut self, account: Account, dep: BlockHash, send_in: bool) -> bool {
        let new = !self.blocked.contains_key(&account);
        if !self.blocked.block(account, dep) {
            return false;
        }
        if new {
            let stats = &self.sh.counters.unblock;
            self.block_times
                .blocked(stats, account, send_in, Instant::now());
        }
        true
    }

    /// The processor answered a block of `account` as waiting for its source `dep`.
    /// The answer comes after the processor's batch, so `dep` could have been inserted
    /// (and reported) since; that would leave the account to the fallback pass. It
    /// does not happen (the processor reports a batch's sends after its answers, and
    /// the client reads the answers before it looks at the reports: `unblock.
    /// blocked_send_in` stayed 0 in the first 2M of the 10M bench), and the one lookup
    /// here counts it for the bench should that order change.
    fn block_on_gap(&mut self, account: Account, dep: BlockHash) {
        let ledger = &self.sh.ledger;
        let send_in = ledger
            .read_txn()
            .is_ok_and(|t| ledger.block_exists(&t, &dep).unwrap_or(false));
        self.block_on_seen(account, dep, send_in);
        self.ask_dependency(dep);
    }

    /// Accounts whose send the processor reported inserted are looked at again.
    fn free_by_sends(&mut self) {
        if self.sends.is_empty() {
            return;
        }
        let now = Instant::now();
        let (times, stats) = (&mut self.block_times, &self.sh.counters.unblock);
        let freed = |a: &Account| times.freed(stats, a, false, now);
        free_by_sends(
            &mut self.blocked,
            &mut self.recheck,
            &self.sends,
            now,
            freed,
        );
        self.sends.clear();
        // A burst the client fell behind on leaves a large buffer (it goes back to the
        // processor's list at the next take).
        if self.sends.capacity() > SENDS_BUFFER_KEPT {
            self.sends = Vec::new();
        }
    }

    /// The fallback pass (see `unblock.rs`): accounts whose dependency is in the ledger
    /// are looked at again; the others ask again. A full window once the processor has
    /// settled or reports were missed, a small one while reports free the accounts.
    fn unblock(&mut self) {
        if self.blocked.is_empty() {
            return;
        }
        let Ok(mut txn) = self.sh.ledger.read_txn() else {
            return;
        };
        let window = if self.settled || std::mem::take(&mut self.sends_missed) {
            FULL_WINDOW
        } else {
            FALLBACK_WINDOW
        };
        let ledger = &self.sh.ledger;
        let mut looked = 0;
        let exists = |dep: &BlockHash| {
            looked += 1;
            // A fresh snapshot now and then (see `SCAN_LOOKUPS_PER_TXN`).
            if looked % nano_store::SCAN_LOOKUPS_PER_TXN == 0 {
                if let Ok(fresh) = ledger.read_txn() {
                    txn = fresh;
                }
            }
            ledger.block_exists(&txn, dep).unwrap_or(false)
        };
        let now = Instant::now();
        let (times, stats) = (&mut self.block_times, &self.sh.counters.unblock);
        let freed = |a: &Account| times.freed(stats, a, true, now);
        let waiting = fallback_pass(
            &mut self.blocked,
            &mut self.recheck,
            window,
            exists,
            now,
            freed,
        );
        for d in waiting {
            self.ask_dependency(d);
        }
    }

    /// Unblocked accounts whose released blocks had time to be processed: continue
    /// from the last block received if it landed; while the head still moves, wait;
    /// otherwise pull from the local head (once the processor settled, or once the
    /// head stood still through every wait of the backoff, see [`super::recheck`]).
    fn recheck_due(&mut self) {
        let now = Instant::now();
        if !self.recheck.any_due(now) {
            return;
        }
        let Ok(mut txn) = self.sh.ledger.read_txn() else {
            return;
        };
        let idle = self.settled;
        let mut later = Vec::new();
        let mut pulls = Vec::new();
        let mut waits = Vec::new();
        for (looked, r) in self.recheck.take_due(now).into_iter().enumerate() {
            // A fresh snapshot now and then (see `SCAN_LOOKUPS_PER_TXN`).
            if (looked + 1) % nano_store::SCAN_LOOKUPS_PER_TXN == 0 {
                if let Ok(fresh) = self.sh.ledger.read_txn() {
                    txn = fresh;
                }
            }
            let account = r.account;
            if self.blocked.contains_key(&account) || self.busy.contains(&account) {
                continue;
            }
            let head = self.sh.ledger.latest(&txn, &account).ok().flatten();
            let seen_now = Some(head.unwrap_or(BlockHash::ZERO));
            // The released blocks stopped at a receive whose source is missing too: its
            // block waits in the gap table on the head. Wait for that source rather than
            // pull again what the gap table holds.
            let root: Root = head.map(Root::from).unwrap_or(account.into());
            if let Some(dep) = self.sh.submitter.waiting_at(&root) {
                if self.sh.ledger.block_exists(&txn, &dep).unwrap_or(false) {
                    // Being released: look again once it landed.
                    later.push((r, seen_now));
                } else {
                    waits.push((r, seen_now, dep));
                }
                continue;
            }
            let landed = self
                .heads
                .get(Head::PulledTo, &account)
                .copied()
                .filter(|p| self.sh.ledger.block_exists(&txn, p).unwrap_or(false));
            match landed {
                Some(p) => {
                    if self
                        .heads
                        .get(Head::Target, &account)
                        .is_some_and(|t| *t != p)
                    {
                        pulls.push(Pull {
                            account,
                            from: Some(p),
                            why: Why::Landed,
                        });
                    } else {
                        self.forget(&account);
                    }
                }
                // First look, or the head moved since the last look, or the processor
                // is still busy and the backoff has not run out: give it time.
                None if r.seen != seen_now || (!idle && !r.exhausted(seen_now)) => {
                    later.push((r, seen_now));
                }
                // Nothing waits on the head, nothing moves and the last block
                // received is not in the ledger: what was parked has been dropped
                // (the gap table is bounded), so fetch it again.
                None => pulls.push(Pull {
                    account,
                    from: None,
                    why: Why::Refetch,
                }),
            }
        }
        drop(txn);
        // Their sources are asked for by `unblock` in turn, not all at once here: that
        // pulls many more accounts early, whose own receives then crowd the gap table
        // (at 1M blocks: about a third more blocks dropped and fetched again).
        for (r, seen_now, dep) in waits {
            if !self.block_on(r.account, dep) {
                later.push((r, seen_now));
            }
        }
        for p in pulls {
            self.enqueue(p, true);
        }
        for (r, seen_now) in later {
            self.recheck.again(r, seen_now, now);
        }
    }

    fn finished(&self) -> bool {
        if self.last_activity.elapsed() > IDLE_END {
            return true;
        }
        let drained = self.cursor.is_none()
            && !self.frontier_inflight
            && self.queue.is_empty()
            && self.recheck.is_empty()
            && self.requests.is_empty()
            && self.continuing == 0
            && self.sh.submitter.outstanding() == 0;
        drained
            && (self.blocked.is_empty() || self.last_progress.elapsed() > BLOCKED_GRACE)
            && self.deps.is_empty()
    }

    fn state_path(&self) -> std::path::PathBuf {
        self.sh.data_dir.join(STATE_FILE)
    }

    /// Saves the scan position and the accounts still to pull (bounded).
    fn save_state(&self) {
        let accounts = self
            .queue
            .iter()
            .map(|p| p.account)
            .chain(self.busy.iter().copied())
            .chain(self.blocked.iter().map(|(a, _)| a))
            .take(SAVED_ACCOUNTS_MAX);
        // The JSON text written straight out (hex needs no escaping): built as a list
        // of strings and a JSON value, the state took ~20 MB for a moment every five
        // seconds, a tenth of the syncing node's heap at 1.5M blocks.
        let cursor = self.cursor.map(|c| c.encode_hex());
        let mut text = String::with_capacity(
            64 + 67
                * SAVED_ACCOUNTS_MAX.min(self.queue.len() + self.busy.len() + self.blocked.len()),
        );
        text.push_str("{\"cursor\":");
        match &cursor {
            Some(c) => {
                text.push('"');
                text.push_str(c);
                text.push('"');
            }
            None => text.push_str("null"),
        }
        text.push_str(",\"pending\":[");
        for (i, a) in accounts.enumerate() {
            if i > 0 {
                text.push(',');
            }
            text.push('"');
            text.push_str(&a.encode_hex());
            text.push('"');
        }
        text.push_str("]}");
        let path = self.state_path();
        let tmp = path.with_extension("json.tmp");
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, &path);
        }
        self.publish_priorities();
    }

    /// Shows the queue and the blocked accounts to RPC `debug_bootstrap_priority_info`.
    /// Accounts are pulled in queue order, so an account's priority is its rank: the
    /// next one pulled has the highest.
    fn publish_priorities(&self) {
        let n = self.queue.len();
        let snapshot = (
            self.queue
                .iter()
                .take(PRIORITY_INFO_MAX)
                .enumerate()
                .map(|(i, p)| (p.account, (n - i) as u64))
                .collect(),
            self.blocked.iter().take(PRIORITY_INFO_MAX).collect(),
        );
        *lock(&self.sh.priority_snapshot) = snapshot;
    }

    /// Continues an interrupted scan: its position and queued accounts.
    fn load_state(&mut self) {
        let Ok(text) = std::fs::read_to_string(self.state_path()) else {
            return;
        };
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
            return;
        };
        let cursor = v
            .get("cursor")
            .and_then(|c| c.as_str())
            .and_then(|s| Account::decode_hex(s).ok());
        let pending: Vec<Account> = v
            .get("pending")
            .and_then(|p| p.as_array())
            .map(|a| {
                a.iter()
                    .take(SAVED_ACCOUNTS_MAX)
                    .filter_map(|x| x.as_str().and_then(|s| Account::decode_hex(s).ok()))
                    .collect()
            })
            .unwrap_or_default();
        if cursor.is_none() && pending.is_empty() {
            // The last round finished: scan everything again.
            return;
        }
        tracing::info!(
            "bootstrap: continuing the previous round ({} accounts queued)",
            pending.len()
        );
        self.cursor = cursor;
        for account in pending {
            self.enqueue(
                Pull {
                    account,
                    from: None,
                    why: Why::Resume,
                },
                false,
            );
        }
    }
}
