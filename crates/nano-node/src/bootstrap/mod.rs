//! Bootstrap owns getting the ledger from peers and giving it to them:
//!
//! * [`server`]: the legacy bootstrap server (frontier_req, bulk_pull, bulk_pull_account,
//!   bulk_push) on connections the network layer classified as bootstrap. asc_pull_req
//!   on realtime channels is answered by consensus (`ConsensusConfig::serve_asc_pull`),
//!   the single implementation of that side.
//! * [`ascending`]: the main client: a frontier scan over asc_pull (which accounts does a
//!   peer have ahead of us), a priority queue of accounts pulled forward from the local
//!   head 128 blocks at a time over many peers, a dependency walker for receives whose
//!   source is missing, throttled on the block processor, with its queue and scan
//!   position persisted in the data directory.
//! * [`legacy`]: the legacy client (frontier_req then ascending bulk_pull per differing
//!   account over several connections), selectable by config or on request (RPC).
//! * `test_ledger` (feature `test-utils`): a deterministic ledger generator for tests and
//!   the benchmark.
//!
//! Every block goes through the block processor (work, signature, ledger rules); a peer
//! whose blocks fail those checks, or whose answers do not chain, is excluded from
//! bootstrap. A round runs at start and then periodically while peers exist; progress
//! shows in the log (blocks/s, remaining estimate), on the event bus
//! ([`NodeEvent::Bootstrap`], the reference WebSocket `bootstrap` shape) and in
//! [`BootstrapStatus`].

mod account_heads;
mod answer_timer;
pub mod ascending;
mod blocked;
pub mod legacy;
mod missing_source;
mod pull_queue;
mod pull_stats;
mod recheck;
pub mod server;
mod shrink;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_ledger;
mod unblock;
mod unblock_stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use nano_core::{Account, Block, BlockHash, Network, Root};
use nano_ledger::Ledger;
use nano_messages::{AscPullAck, Message};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Notify};
use tokio_util::sync::CancellationToken;

use crate::config::NodeConfig;
use crate::consensus::{BlockSource, Consensus, Done};
use crate::events::{EventBus, NodeEvent};
use crate::interfaces::{ChannelId, ChannelInfo, Inbound};
use crate::network::NetworkService;
use crate::stats::Stats;

/// Which client strategy runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapMode {
    Ascending,
    Legacy,
}

impl BootstrapMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BootstrapMode::Ascending => "ascending",
            BootstrapMode::Legacy => "legacy",
        }
    }
}

/// Tunables; reference keys in brackets (`[node.bootstrap_ascending]` unless noted).
#[derive(Debug, Clone)]
pub struct BootstrapConfig {
    /// `enable`: ascending bootstrap is the periodic strategy; off → legacy.
    pub enable_ascending: bool,
    /// Run client rounds at all (off: serve only).
    pub enable_client: bool,
    /// `channel_limit`: unanswered requests per channel.
    pub channel_limit: usize,
    /// `max_requests`: requests in flight overall.
    pub max_requests: usize,
    /// `max_pull_count`: blocks per asc_pull_req (1..=128).
    pub max_pull_count: u8,
    /// `request_timeout`.
    pub request_timeout: Duration,
    /// `block_processor_threshold`: blocks submitted and not yet processed above which
    /// clients wait. (The reference pauses at 1000 queued; our processor takes large
    /// batches, so the default is higher.)
    pub block_processor_threshold: usize,
    /// `throttle_wait`.
    pub throttle_wait: Duration,
    /// `account_sets.cooldown`: before asking again for the same dependency.
    pub cooldown: Duration,
    /// `account_sets.priorities_max`.
    pub priorities_max: usize,
    /// `account_sets.blocking_max`.
    pub blocking_max: usize,
    /// How often a round starts when none runs (10 s on dev, 60 s else).
    pub interval: Duration,
    /// `[node] bootstrap_connections`: legacy pull connections.
    pub legacy_connections: usize,
    /// `[node] bootstrap_connections_max`: inbound bootstrap connections served.
    pub connections_max: usize,
    /// `[node] tcp_io_timeout`.
    pub io_timeout: Duration,
}

impl BootstrapConfig {
    pub fn for_network(network: Network) -> Self {
        let dev = network == Network::Dev;
        BootstrapConfig {
            enable_ascending: true,
            enable_client: true,
            channel_limit: 16,
            max_requests: 1024,
            max_pull_count: 128,
            request_timeout: Duration::from_secs(5),
            block_processor_threshold: 8192,
            throttle_wait: Duration::from_millis(100),
            cooldown: Duration::from_secs(3),
            priorities_max: 262_144,
            blocking_max: 262_144,
            interval: Duration::from_secs(if dev { 10 } else { 60 }),
            legacy_connections: 4,
            connections_max: 64,
            io_timeout: Duration::from_secs(if dev { 5 } else { 15 }),
        }
    }

    /// Defaults for `network` with the typed `[node]` settings applied.
    pub fn from_node_config(cfg: &NodeConfig, network: Network) -> Self {
        let mut c = Self::for_network(network);
        c.io_timeout = Duration::from_secs(cfg.tcp_io_timeout.max(1));
        c.legacy_connections = (cfg.bootstrap_connections as usize).clamp(1, 64);
        c.connections_max = cfg.bootstrap_connections_max as usize;
        let a = &cfg.bootstrap_ascending;
        c.enable_ascending = a.enable;
        c.channel_limit = (a.channel_limit as usize).max(1);
        c.max_requests = (a.max_requests as usize).max(1);
        c.max_pull_count = a.max_pull_count.clamp(1, 128) as u8;
        c.request_timeout = Duration::from_millis(a.request_timeout.max(100));
        c.block_processor_threshold = (a.block_processor_threshold as usize).max(128);
        c.throttle_wait = Duration::from_millis(a.throttle_wait);
        c.cooldown = Duration::from_millis(a.account_sets.cooldown);
        c.priorities_max = crate::config::bound(a.account_sets.priorities_max);
        c.blocking_max = crate::config::bound(a.account_sets.blocking_max);
        c
    }
}

/// What RPC `bootstrap_status` shows.
#[derive(Debug, Clone, Default)]
pub struct BootstrapStatus {
    pub running: bool,
    pub mode: Option<BootstrapMode>,
    /// The running attempt's id.
    pub id: Option<String>,
    pub attempt_duration: Duration,
    /// Blocks added to the ledger by the running (or last) attempt.
    pub attempt_blocks: u64,
    pub attempts_total: u64,
    /// Blocks received from peers (since start), excluding re-sent heads we asked from.
    pub blocks_received: u64,
    /// Bootstrap blocks the ledger accepted.
    pub blocks_processed: u64,
    /// Bootstrap blocks the ledger already had.
    pub blocks_duplicate: u64,
    /// Bootstrap blocks refused (bad signature, work, rules).
    pub blocks_rejected: u64,
    pub requests_sent: u64,
    pub requests_timed_out: u64,
    pub frontiers_received: u64,
    /// Accounts waiting to be pulled.
    pub priorities: usize,
    /// Accounts waiting for a dependency.
    pub blocked: usize,
    pub requests_in_flight: usize,
    /// Submitted to the block processor and not yet answered.
    pub processor_outstanding: usize,
    /// Over the running (or last) attempt.
    pub blocks_per_second: f64,
    /// Peers' best block count minus ours, when peers report telemetry.
    pub remaining_estimate: Option<u64>,
    /// Peers excluded for bad answers (endpoints).
    pub bad_peers: Vec<String>,
    /// Inbound legacy bootstrap connections being served.
    pub serving_connections: usize,
    /// Outbound legacy bootstrap connections open (frontier scan and pulls).
    pub clients: usize,
    /// Outbound legacy bootstrap connections open or being opened.
    pub connections: usize,
    /// Open pull connections waiting for a pull.
    pub idle: usize,
    /// Outbound connections the running attempt uses: one frontier scan and
    /// `bootstrap_connections` pull connections for a legacy attempt; none for an
    /// ascending one (it asks over the realtime channels).
    pub target_connections: usize,
    /// Pulls queued or being served: legacy pulls from the frontier scan, or ascending
    /// requests in flight.
    pub pulls: usize,
    /// Where the legacy frontier scan starts (`bootstrap_any`'s `account`).
    pub start_account: Option<Account>,
    /// Whether the legacy frontier scan has received its first frontiers.
    pub frontiers_started: bool,
}

/// Tasks the client runs attempts on: one loop, one attempt at a time.
const BOOTSTRAP_THREADS: usize = 1;

impl BootstrapStatus {
    /// RPC `bootstrap_status` (numbers as strings, like the reference).
    pub fn to_json(&self) -> Value {
        let mut attempt = json!({
            "id": self.id.clone().unwrap_or_default(),
            "mode": self.mode.map(|m| m.as_str()).unwrap_or(""),
            "started": "true",
            "pulling": self.pulls.to_string(),
            "total_blocks": self.attempt_blocks.to_string(),
            "requeued_pulls": self.requests_timed_out.to_string(),
            "duration": self.attempt_duration.as_secs().to_string(),
            "blocks_per_second": format!("{:.0}", self.blocks_per_second),
            "remaining": self.remaining_estimate.map(|r| r.to_string()).unwrap_or_default(),
            "priorities": self.priorities.to_string(),
            "blocked": self.blocked.to_string(),
        });
        if let (Some(BootstrapMode::Legacy), Value::Object(m)) = (self.mode, &mut attempt) {
            // The reference's legacy attempt details (its frontier age is always "all").
            m.insert("frontier_pulls".into(), self.pulls.to_string().into());
            m.insert(
                "frontiers_received".into(),
                self.frontiers_started.to_string().into(),
            );
            m.insert("frontiers_age".into(), u32::MAX.to_string().into());
            m.insert(
                "last_account".into(),
                self.start_account
                    .unwrap_or(Account::ZERO)
                    .encode_account()
                    .into(),
            );
        }
        json!({
            "bootstrap_threads": BOOTSTRAP_THREADS.to_string(),
            "running_attempts_count": if self.running { "1" } else { "0" },
            "total_attempts_count": self.attempts_total.to_string(),
            "connections": {
                "clients": self.clients.to_string(),
                "connections": self.connections.to_string(),
                "idle": self.idle.to_string(),
                "target_connections": self.target_connections.to_string(),
                "pulls": self.pulls.to_string(),
            },
            "attempts": if self.running { json!([attempt]) } else { json!([]) },
            "serving_connections": self.serving_connections.to_string(),
            "blocks_received": self.blocks_received.to_string(),
            "blocks_processed": self.blocks_processed.to_string(),
            "blocks_duplicate": self.blocks_duplicate.to_string(),
            "blocks_rejected": self.blocks_rejected.to_string(),
            "bad_peers": self.bad_peers,
        })
    }
}

/// Names of [`Counters::sets`].
pub(crate) const CLIENT_SETS: [&str; 8] = [
    "targets",
    "pulled_to",
    "outstanding",
    "recheck",
    "dep_asked",
    "tries",
    "done",
    "blocked_order",
];

/// Cumulative counters (since the node started).
#[derive(Default)]
pub(crate) struct Counters {
    pub received: AtomicU64,
    pub processed: AtomicU64,
    pub duplicate: AtomicU64,
    pub rejected: AtomicU64,
    pub requests: AtomicU64,
    pub timeouts: AtomicU64,
    pub frontiers: AtomicU64,
    pub attempts: AtomicU64,
    /// Gauges set by the running client.
    pub priorities: AtomicUsize,
    pub blocked: AtomicUsize,
    pub in_flight: AtomicUsize,
    /// Sizes of the ascending client's other per-account and per-dependency sets, in
    /// the order of [`Bootstrap::client_sets`].
    pub sets: [AtomicUsize; CLIENT_SETS.len()],
    /// Legacy client connections: open, open or opening, and open but waiting for a
    /// pull; pulls queued or being served.
    pub clients: AtomicUsize,
    pub connections: AtomicUsize,
    pub idle: AtomicUsize,
    pub legacy_pulls: AtomicUsize,
    /// Whether the running legacy scan has received frontiers.
    pub frontiers_started: AtomicBool,
    /// What the ascending client's pulls brought, by why they were sent.
    pub pulls: pull_stats::PullStats,
    /// How the ascending client's blocked accounts got free, and their waits.
    pub unblock: unblock_stats::UnblockStats,
}

/// Holds one unit of a gauge while alive (a connection open, a worker idle), so every
/// exit path gives it back.
pub(crate) struct Gauge<'a>(&'a AtomicUsize);

impl<'a> Gauge<'a> {
    pub fn hold(g: &'a AtomicUsize) -> Self {
        g.fetch_add(1, Ordering::Relaxed);
        Gauge(g)
    }
}

impl Drop for Gauge<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Submits bootstrap blocks to the block processor and counts the unanswered ones, so
/// clients and the push server can wait while the processor is behind.
#[derive(Clone)]
pub(crate) struct Submitter {
    consensus: Arc<Consensus>,
    outstanding: Arc<AtomicUsize>,
    threshold: usize,
    wait: Duration,
}

impl Submitter {
    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Nothing of ours unanswered and nothing queued in the block processor (blocks
    /// released from the gap table included).
    pub fn processor_idle(&self) -> bool {
        self.outstanding() == 0 && self.consensus.queue_len() == 0
    }

    /// What the gap block built on `root` waits for (see
    /// [`Consensus::unchecked_dependency_at`]).
    pub fn waiting_at(&self, root: &Root) -> Option<BlockHash> {
        self.consensus.unchecked_dependency_at(root)
    }

    /// Parks `chain` behind `dependency` (see [`Consensus::park_chain`]).
    pub fn park_chain(&self, dependency: BlockHash, chain: Vec<Block>) {
        self.consensus.park_chain(dependency, chain)
    }

    /// Whether the block `hash` waits in the gap table.
    pub fn parked(&self, hash: &BlockHash) -> bool {
        self.consensus.unchecked_contains(hash)
    }

    /// Starts or stops keeping the sends the processor inserts (see
    /// [`Consensus::watch_inserted_sends`]).
    pub fn watch_sends(&self, on: bool) {
        self.consensus.watch_inserted_sends(on)
    }

    /// The sends inserted since the last call; true if some were not kept.
    pub fn take_sends(&self, into: &mut Vec<(BlockHash, Account)>) -> bool {
        self.consensus.take_inserted_sends(into)
    }

    pub fn saturated(&self) -> bool {
        self.outstanding() >= self.threshold
    }

    /// Waits (bounded) until the processor has room.
    pub async fn throttle(&self) {
        let step = (self.wait / 10).max(Duration::from_millis(2));
        for _ in 0..30_000 {
            if !self.saturated() {
                return;
            }
            tokio::time::sleep(step).await;
        }
    }

    pub fn submit(&self, block: Block, done: Option<Done>) -> bool {
        self.outstanding.fetch_add(1, Ordering::AcqRel);
        let o = self.outstanding.clone();
        self.consensus.submit(
            block,
            BlockSource::Bootstrap,
            Some(Box::new(move |r| {
                o.fetch_sub(1, Ordering::AcqRel);
                if let Some(d) = done {
                    d(r);
                }
            })),
        )
    }
}

/// Tells when the block processor has settled: nothing of ours unanswered, nothing
/// queued, and the block count unchanged for a while (a batch in the writer may still
/// release gap blocks even when the queue looks empty).
pub(crate) struct Settle {
    count: u64,
    changed: Instant,
}

impl Settle {
    pub const QUIET: Duration = Duration::from_millis(300);

    pub fn new() -> Self {
        Settle {
            count: 0,
            changed: Instant::now(),
        }
    }

    /// Samples the ledger; true when settled.
    pub fn settled(&mut self, sh: &Shared) -> bool {
        let n = sh
            .ledger
            .read_txn()
            .ok()
            .and_then(|t| sh.ledger.block_count(&t).ok())
            .unwrap_or(0);
        if n != self.count {
            self.count = n;
            self.changed = Instant::now();
        }
        sh.submitter.processor_idle() && self.changed.elapsed() >= Self::QUIET
    }
}

/// The account after `a` in key order (`None` after the last).
pub(crate) fn next_account(a: &Account) -> Option<Account> {
    let mut b = a.0;
    for i in (0..32).rev() {
        let (v, carry) = b[i].overflowing_add(1);
        b[i] = v;
        if !carry {
            return Some(Account::from_bytes(b));
        }
    }
    None
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The running attempt, as status and events show it.
#[derive(Clone)]
pub(crate) struct AttemptInfo {
    pub id: String,
    pub mode: BootstrapMode,
    pub started: Instant,
    pub processed_at_start: u64,
    /// Where a legacy frontier scan starts.
    pub start: Account,
    /// Cancelled when the node stops or a forced request replaces this attempt.
    pub cancel: CancellationToken,
}

/// A manual request (RPC `bootstrap`, `bootstrap_any`).
#[derive(Debug, Clone)]
struct Request {
    mode: BootstrapMode,
    peer: Option<SocketAddr>,
    id: Option<String>,
    start: Account,
}

/// RPC `bootstrap` / `bootstrap_any`: what a legacy attempt should do.
#[derive(Debug, Clone, Default)]
pub struct LegacyRequest {
    /// Bootstrap from this peer (RPC `bootstrap`); `None`: from random peers.
    pub peer: Option<SocketAddr>,
    /// The attempt id reported by `bootstrap_status` and the WebSocket topic.
    pub id: Option<String>,
    /// The first account of the frontier scan (`bootstrap_any`'s `account`).
    pub start: Account,
    /// End a running attempt first; without it a request made while a legacy attempt
    /// runs is dropped, as in the reference. A request with a peer always forces.
    pub force: bool,
}

pub(crate) struct Shared {
    pub config: BootstrapConfig,
    pub ledger: Arc<Ledger>,
    pub stats: Arc<Stats>,
    pub events: EventBus,
    pub network: NetworkService,
    pub data_dir: PathBuf,
    pub submitter: Submitter,
    pub server: Arc<server::LegacyServer>,
    pub counters: Counters,
    pub cancel: CancellationToken,
    ack_tx: mpsc::Sender<(ChannelId, AscPullAck)>,
    ack_rx: Mutex<Option<mpsc::Receiver<(ChannelId, AscPullAck)>>>,
    trigger: Notify,
    requested: Mutex<Option<Request>>,
    pub attempt: Mutex<Option<AttemptInfo>>,
    last_attempt: Mutex<Option<(AttemptInfo, Duration, u64)>>,
    /// Peers excluded from bootstrap: channel or endpoint → when.
    pub bad_channels: Mutex<HashMap<ChannelId, Instant>>,
    pub bad_endpoints: Mutex<HashMap<SocketAddr, Instant>>,
    pub priority_snapshot: Mutex<PrioritySnapshot>,
    running: AtomicBool,
}

/// Accounts queued for pulling with their priority (higher is pulled sooner), and
/// accounts blocked on a dependency.
pub type PrioritySnapshot = (Vec<(Account, u64)>, Vec<(Account, BlockHash)>);

/// How long a misbehaving peer stays excluded.
pub(crate) const BAN: Duration = Duration::from_secs(600);
/// Excluded channels (and endpoints) remembered at once. An entry only matters during
/// its [`BAN`]; expired ones are dropped whenever one is added, and past this many the
/// oldest gives way, so peers that keep misbehaving on new connections cannot grow the
/// tables for the node's lifetime (admission already caps connections per address).
const BAD_PEERS_MAX: usize = 4096;

/// Records `key` as excluded now, forgetting exclusions that ended and, past
/// [`BAD_PEERS_MAX`], the oldest.
fn remember_bad<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, Instant>, key: K) {
    map.retain(|_, t| t.elapsed() < BAN);
    if map.len() >= BAD_PEERS_MAX && !map.contains_key(&key) {
        if let Some(oldest) = map.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) {
            map.remove(&oldest);
        }
    }
    map.insert(key, Instant::now());
}

impl Shared {
    pub fn channels(&self) -> Vec<ChannelInfo> {
        use crate::interfaces::Outbound;
        let now = Instant::now();
        let bad = lock(&self.bad_channels);
        self.network
            .channels()
            .into_iter()
            .filter(|c| bad.get(&c.id).is_none_or(|t| now.duration_since(*t) >= BAN))
            .collect()
    }

    pub fn punish_channel(&self, ch: ChannelId, why: &str) {
        let endpoint = self
            .network
            .peers()
            .into_iter()
            .find(|p| p.channel == ch)
            .map(|p| p.endpoint);
        tracing::warn!("bootstrap: excluding peer {endpoint:?} (channel {ch}): {why}");
        self.stats.inc("bootstrap", "bad_peer", "in");
        remember_bad(&mut lock(&self.bad_channels), ch);
        if let Some(e) = endpoint {
            remember_bad(&mut lock(&self.bad_endpoints), SocketAddr::V6(e));
        }
    }

    pub fn punish_endpoint(&self, ep: SocketAddr, why: &str) {
        tracing::warn!("bootstrap: excluding peer {ep}: {why}");
        self.stats.inc("bootstrap", "bad_peer", "in");
        remember_bad(&mut lock(&self.bad_endpoints), ep);
    }

    pub fn endpoint_bad(&self, ep: &SocketAddr) -> bool {
        let canon = canonical(ep);
        lock(&self.bad_endpoints)
            .iter()
            .any(|(e, t)| canonical(e) == canon && t.elapsed() < BAN)
    }

    /// Blocks the ledger accepted through bootstrap, since start.
    pub fn processed(&self) -> u64 {
        self.counters.processed.load(Ordering::Relaxed)
    }

    /// Best block count reported by peers minus ours.
    pub fn remaining_estimate(&self) -> Option<u64> {
        let best = self
            .network
            .telemetry()
            .iter()
            .map(|t| t.data.block_count)
            .max()?;
        let ours = self
            .ledger
            .read_txn()
            .ok()
            .and_then(|t| self.ledger.block_count(&t).ok())?;
        Some(best.saturating_sub(ours))
    }

    fn begin(&self, mode: BootstrapMode, id: Option<String>, start: Account) -> AttemptInfo {
        let id = id.unwrap_or_else(|| format!("{:016X}", rand::random::<u64>()));
        let a = AttemptInfo {
            id,
            mode,
            started: Instant::now(),
            processed_at_start: self.processed(),
            start,
            cancel: self.cancel.child_token(),
        };
        self.counters
            .frontiers_started
            .store(false, Ordering::Relaxed);
        self.counters.attempts.fetch_add(1, Ordering::Relaxed);
        *lock(&self.attempt) = Some(a.clone());
        self.running.store(true, Ordering::Release);
        self.submitter.consensus.set_gap_fetch_paused(true);
        tracing::info!("bootstrap: {} attempt {} started", mode.as_str(), a.id);
        self.events.publish(NodeEvent::Bootstrap {
            message: json!({"reason": "started", "id": a.id, "mode": mode.as_str()}),
        });
        a
    }

    fn end(&self, a: &AttemptInfo) {
        let total = self.processed() - a.processed_at_start;
        let dur = a.started.elapsed();
        tracing::info!(
            "bootstrap: {} attempt {} exited: {} blocks in {:.1} s ({:.0} blocks/s)",
            a.mode.as_str(),
            a.id,
            total,
            dur.as_secs_f64(),
            total as f64 / dur.as_secs_f64().max(1e-3)
        );
        self.events.publish(NodeEvent::Bootstrap {
            message: json!({
                "reason": "exited",
                "id": a.id,
                "mode": a.mode.as_str(),
                "total_blocks": total.to_string(),
                "duration": dur.as_secs().to_string(),
            }),
        });
        *lock(&self.attempt) = None;
        *lock(&self.last_attempt) = Some((a.clone(), dur, total));
        self.running.store(false, Ordering::Release);
        self.submitter.consensus.set_gap_fetch_paused(false);
        self.counters.in_flight.store(0, Ordering::Relaxed);
    }
}

/// Logs progress of an attempt every few seconds.
pub(crate) struct ProgressLog {
    last: Instant,
    every: Duration,
}

impl ProgressLog {
    pub fn new() -> Self {
        ProgressLog {
            last: Instant::now(),
            every: Duration::from_secs(5),
        }
    }
    pub fn tick(&mut self, sh: &Shared, a: &AttemptInfo) {
        if self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let done = sh.processed() - a.processed_at_start;
        let rate = done as f64 / a.started.elapsed().as_secs_f64().max(1e-3);
        let remaining = sh.remaining_estimate();
        let eta = remaining
            .filter(|_| rate > 0.0)
            .map(|r| format!(", ~{:.0} s to go", r as f64 / rate))
            .unwrap_or_default();
        tracing::info!(
            "bootstrap {}: {} blocks, {:.0} blocks/s, remaining {}{}",
            a.mode.as_str(),
            done,
            rate,
            remaining
                .map(|r| r.to_string())
                .unwrap_or_else(|| "unknown".into()),
            eta
        );
    }
}

/// The bootstrap service of one node: the legacy server, and the client rounds.
pub struct Bootstrap {
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Bootstrap {
    pub fn new(
        config: BootstrapConfig,
        ledger: Arc<Ledger>,
        consensus: Arc<Consensus>,
        network: NetworkService,
        stats: Arc<Stats>,
        events: EventBus,
        data_dir: PathBuf,
    ) -> Arc<Bootstrap> {
        let submitter = Submitter {
            consensus,
            outstanding: Arc::new(AtomicUsize::new(0)),
            threshold: config.block_processor_threshold,
            wait: config.throttle_wait,
        };
        let server = Arc::new(server::LegacyServer {
            ledger: ledger.clone(),
            network: ledger.network(),
            stats: stats.clone(),
            submitter: submitter.clone(),
            max_connections: config.connections_max,
            io_timeout: config.io_timeout,
            active: AtomicUsize::new(0),
        });
        let (ack_tx, ack_rx) = mpsc::channel(4096);
        Arc::new(Bootstrap {
            shared: Arc::new(Shared {
                config,
                ledger,
                stats,
                events,
                network,
                data_dir,
                submitter,
                server,
                counters: Counters::default(),
                cancel: CancellationToken::new(),
                ack_tx,
                ack_rx: Mutex::new(Some(ack_rx)),
                trigger: Notify::new(),
                requested: Mutex::new(None),
                attempt: Mutex::new(None),
                last_attempt: Mutex::new(None),
                bad_channels: Mutex::new(HashMap::new()),
                bad_endpoints: Mutex::new(HashMap::new()),
                priority_snapshot: Mutex::new((Vec::new(), Vec::new())),
                running: AtomicBool::new(false),
            }),
            task: Mutex::new(None),
        })
    }

    /// The legacy server, to give to [`NetworkService::set_bootstrap_server`].
    pub fn server(&self) -> Arc<dyn crate::network::BootstrapServer> {
        Arc::new(server::ServerHandle(self.shared.server.clone()))
    }

    /// Starts the client loop (a round now if peers exist, then periodically). Must
    /// run inside a tokio runtime.
    pub fn start(&self) {
        let mut t = lock(&self.task);
        if t.is_some() || !self.shared.config.enable_client {
            return;
        }
        let sh = self.shared.clone();
        *t = Some(tokio::spawn(async move { run(sh).await }));
    }

    /// Stops the client (the running attempt ends, its state is saved).
    pub async fn stop(&self) {
        self.shared.cancel.cancel();
        let t = lock(&self.task).take();
        if let Some(t) = t {
            let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
        }
    }

    /// RPC `bootstrap` / `bootstrap_any`: a legacy attempt as soon as no other attempt
    /// runs (at once when forced). False when the client is stopped.
    pub fn bootstrap_legacy(&self, r: LegacyRequest) -> bool {
        if !self.accepting() {
            return false;
        }
        let running = lock(&self.shared.attempt).clone();
        if let Some(a) = running {
            if r.force || r.peer.is_some() {
                a.cancel.cancel();
            } else if a.mode == BootstrapMode::Legacy {
                // The reference starts no second legacy attempt.
                return true;
            }
        }
        self.request(Request {
            mode: BootstrapMode::Legacy,
            peer: r.peer,
            id: r.id,
            start: r.start,
        })
    }

    /// An ascending round as soon as no other attempt runs.
    pub fn bootstrap_ascending(&self) -> bool {
        self.accepting()
            && self.request(Request {
                mode: BootstrapMode::Ascending,
                peer: None,
                id: None,
                start: Account::ZERO,
            })
    }

    fn accepting(&self) -> bool {
        !self.shared.cancel.is_cancelled() && lock(&self.task).is_some()
    }

    fn request(&self, r: Request) -> bool {
        *lock(&self.shared.requested) = Some(r);
        self.shared.trigger.notify_one();
        true
    }

    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::Acquire)
    }

    /// RPC `bootstrap_status`.
    /// Entry counts of the ascending client's sets besides the queue and the blocked
    /// accounts (RPC `stats` `objects`), zero when no round runs.
    pub fn client_sets(&self) -> Vec<(&'static str, usize)> {
        let c = &self.shared.counters;
        CLIENT_SETS
            .iter()
            .zip(&c.sets)
            .map(|(n, v)| (*n, v.load(Ordering::Relaxed)))
            .collect()
    }

    /// What the ascending client's pulls brought, by why each was sent (non-zero
    /// counters as `reason.what`, since the node started): for the bootstrap bench.
    /// With them, how blocked accounts got free and the accounts blocked now
    /// (`unblock.*`, see `unblock_stats`).
    pub fn pull_counts(&self) -> Vec<(String, u64)> {
        let c = &self.shared.counters;
        let mut out = c.pulls.list();
        out.extend(c.unblock.list());
        out.push((
            "unblock.blocked_now".to_string(),
            c.blocked.load(Ordering::Relaxed) as u64,
        ));
        out
    }

    pub fn status(&self) -> BootstrapStatus {
        let sh = &self.shared;
        let c = &sh.counters;
        let attempt = lock(&sh.attempt).clone();
        let last = lock(&sh.last_attempt).clone();
        let (mode, id, dur, blocks) = match (&attempt, &last) {
            (Some(a), _) => (
                Some(a.mode),
                Some(a.id.clone()),
                a.started.elapsed(),
                sh.processed() - a.processed_at_start,
            ),
            (None, Some((a, d, t))) => (Some(a.mode), Some(a.id.clone()), *d, *t),
            _ => (None, None, Duration::ZERO, 0),
        };
        let now = Instant::now();
        BootstrapStatus {
            running: attempt.is_some(),
            mode,
            id,
            attempt_duration: dur,
            attempt_blocks: blocks,
            attempts_total: c.attempts.load(Ordering::Relaxed),
            blocks_received: c.received.load(Ordering::Relaxed),
            blocks_processed: c.processed.load(Ordering::Relaxed),
            blocks_duplicate: c.duplicate.load(Ordering::Relaxed),
            blocks_rejected: c.rejected.load(Ordering::Relaxed),
            requests_sent: c.requests.load(Ordering::Relaxed),
            requests_timed_out: c.timeouts.load(Ordering::Relaxed),
            frontiers_received: c.frontiers.load(Ordering::Relaxed),
            priorities: c.priorities.load(Ordering::Relaxed),
            blocked: c.blocked.load(Ordering::Relaxed),
            requests_in_flight: c.in_flight.load(Ordering::Relaxed),
            processor_outstanding: sh.submitter.outstanding(),
            blocks_per_second: blocks as f64 / dur.as_secs_f64().max(1e-3),
            remaining_estimate: if attempt.is_some() {
                sh.remaining_estimate()
            } else {
                None
            },
            bad_peers: lock(&sh.bad_endpoints)
                .iter()
                .filter(|(_, t)| now.duration_since(**t) < BAN)
                .map(|(e, _)| e.to_string())
                .collect(),
            serving_connections: sh.server.active.load(Ordering::Relaxed),
            clients: c.clients.load(Ordering::Relaxed),
            connections: c.connections.load(Ordering::Relaxed),
            idle: c.idle.load(Ordering::Relaxed),
            target_connections: match attempt.as_ref().map(|a| a.mode) {
                Some(BootstrapMode::Legacy) => 1 + sh.config.legacy_connections.max(1),
                _ => 0,
            },
            pulls: match mode {
                Some(BootstrapMode::Legacy) => c.legacy_pulls.load(Ordering::Relaxed),
                _ => c.in_flight.load(Ordering::Relaxed),
            },
            start_account: attempt.as_ref().map(|a| a.start),
            frontiers_started: c.frontiers_started.load(Ordering::Relaxed),
        }
    }

    /// RPC `debug_bootstrap_priority_info`: accounts queued for pulling and accounts
    /// blocked on a dependency (as the running round saw them at most 100 ms ago, or as
    /// the last round left them; at most a few thousand of each).
    pub fn priority_info(&self) -> PrioritySnapshot {
        lock(&self.shared.priority_snapshot).clone()
    }
}

impl Inbound for Bootstrap {
    fn wants(&self, msg: &Message) -> bool {
        matches!(msg, Message::AscPullAck(_))
    }

    fn on_message(&self, from: &ChannelInfo, msg: Message) {
        if let Message::AscPullAck(ack) = msg {
            // Only while a round listens; a full queue drops (the request times out).
            if self.shared.running.load(Ordering::Acquire) {
                let _ = self.shared.ack_tx.try_send((from.id, ack));
            }
        }
    }
}

/// Canonical form for comparing endpoints (IPv4-mapped IPv6 → IPv4).
pub(crate) fn canonical(a: &SocketAddr) -> SocketAddr {
    match a {
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(v4.into(), v6.port()),
            None => *a,
        },
        _ => *a,
    }
}

/// The client loop: waits for a trigger (start, interval, manual request) and runs one
/// attempt at a time.
async fn run(sh: Arc<Shared>) {
    let Some(mut acks) = lock(&sh.ack_rx).take() else {
        return;
    };
    let mut next_auto = Instant::now();
    loop {
        tokio::select! {
            _ = sh.cancel.cancelled() => break,
            _ = sh.trigger.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        let req = lock(&sh.requested).take();
        let due = Instant::now() >= next_auto;
        if req.is_none() && !due {
            continue;
        }
        let has_peers = !sh.channels().is_empty();
        let explicit_peer = req.as_ref().is_some_and(|r| r.peer.is_some());
        if !has_peers && !explicit_peer {
            if let Some(r) = req {
                // Keep a manual request until a peer shows up.
                *lock(&sh.requested) = Some(r);
            }
            continue;
        }
        let mode = req
            .as_ref()
            .map(|r| r.mode)
            .unwrap_or(if sh.config.enable_ascending {
                BootstrapMode::Ascending
            } else {
                BootstrapMode::Legacy
            });
        let id = req.as_ref().and_then(|r| r.id.clone());
        let peer = req.as_ref().and_then(|r| r.peer);
        let start = req.as_ref().map_or(Account::ZERO, |r| r.start);
        let attempt = sh.begin(mode, id, start);
        // Drop acks left over from an earlier round.
        while acks.try_recv().is_ok() {}
        match mode {
            BootstrapMode::Ascending => ascending::run(&sh, &mut acks, &attempt).await,
            BootstrapMode::Legacy => legacy::run(&sh, &attempt, peer).await,
        }
        sh.end(&attempt);
        next_auto = Instant::now() + sh.config.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusions_are_bounded_and_forget_the_oldest() {
        let mut m: HashMap<u64, Instant> = HashMap::new();
        for k in 0..(BAD_PEERS_MAX as u64 + 100) {
            remember_bad(&mut m, k);
        }
        assert_eq!(m.len(), BAD_PEERS_MAX);
        assert!(
            m.contains_key(&(BAD_PEERS_MAX as u64 + 99)),
            "the newest is kept"
        );
        // Again for a key already present: no eviction, its time renewed.
        remember_bad(&mut m, BAD_PEERS_MAX as u64 + 99);
        assert_eq!(m.len(), BAD_PEERS_MAX);
        // Ended exclusions are dropped when the next one is added.
        let past = Instant::now()
            .checked_sub(BAN + Duration::from_secs(1))
            .expect("the monotonic clock runs longer than BAN");
        for t in m.values_mut() {
            *t = past;
        }
        remember_bad(&mut m, 1);
        assert_eq!(m.len(), 1);
    }
}
