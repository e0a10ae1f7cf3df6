//! Consensus owns everything between "a block arrived" and "a block is cemented". Each
//! part owns its state in a folder named for its job:
//!
//! * [`block_processor`]: the single ledger writer. A fair queue over block sources
//!   (local, each peer, unchecked, bootstrap), entry checks (work, batched signature verification) outside the write
//!   transaction, many blocks per write transaction, gap blocks parked in
//!   [`block_processor::unchecked`], forks handed to elections, cementing of confirmed
//!   elections and forced fork resolution (rollback + process).
//! * [`elections`]: one election per qualified root with vote tallies and the quorum
//!   rules ([`elections::election`]), the bounded set of running elections
//!   ([`elections::active`]) and the schedulers that start them.
//! * [`votes`]: the vote processor (batched verification, relaying), the vote generator
//!   of local representatives (normal and final votes, final votes persisted per root),
//!   the confirm_req answers ([`votes::request_aggregator`]) and the vote cache.
//! * [`online`]: online weight (representatives whose votes were verified), trended
//!   weight, the quorum delta and representative tiers.
//! * [`fair_queue`] and [`limits`]: the one per-source fair queue every intake uses and
//!   every consensus limit with its reason.
//! * `intake`: the vote queue (per representative tier and channel; votes below the
//!   vote weight minimum dropped before their signature is checked) and the confirm_req
//!   queue (per channel) the network threads fill.
//! * `consensus_loop`: the consensus thread that drives the votes and elections parts.
//!
//! Dependencies point one way: `block_processor` and `votes` use `elections` (its
//! [`elections::Effects`] carry what an election decided); neither imports the other.
//!
//! Two threads run per node: the writer and the consensus loop. Network threads only
//! enqueue ([`Inbound::on_message`] never blocks on the ledger).

pub mod block_processor;
mod consensus_loop;
pub mod elections;
pub mod fair_queue;
mod gap_fetch;
mod intake;
pub mod limits;
mod local_broadcaster;
pub mod loopback;
mod notify;
pub mod online;
pub mod votes;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nano_core::{
    Account, Amount, Block, BlockHash, KeyPair, Network, NetworkParams, QualifiedRoot, Root,
};
use nano_ledger::{BlockStatus, Ledger};
use nano_messages::{Message, Vote};

use crate::config::NodeConfig;
use crate::events::{EventBus, NodeEvent};
use crate::interfaces::{ChannelId, ChannelInfo, Inbound, Outbound};
use crate::stats::Stats;

pub(crate) use crate::recent_set::RecentSet;
pub use block_processor::unchecked::UncheckedEntry;
pub use elections::election::{Behavior, ElectionSummary, Tally};
pub use online::{OnlineWeightSource, QuorumInfo};

use block_processor::inserted_sends::InsertedSends;
use block_processor::queue::WriterQueue;
use block_processor::unchecked::Unchecked;
use elections::active::ActiveElections;
use elections::scheduler::backlog::Backlog;
use elections::scheduler::bucket::BucketLimits;
use elections::scheduler::hinted::HintedCooldowns;
use elections::scheduler::priority::PriorityScheduler;
use intake::Inbox;
use online::OnlineState;
use votes::cache::VoteCache;
use votes::generator::Generator;

/// Where a block came from; the block processor serves sources round robin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockSource {
    /// RPC / wallet: published with the originator flag on success.
    Local,
    /// A realtime peer (publish).
    Peer(ChannelId),
    /// A gap block whose dependency arrived.
    Unchecked,
    /// Bootstrap or other bulk sources.
    Bootstrap,
}

/// Why a submitted block got no ledger status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("block processor queue is full")]
    Overloaded,
    #[error("node is stopping")]
    Stopped,
    #[error("store error: {0}")]
    Store(String),
}

/// What the block processor says about a submitted block.
pub type ProcessStatus = Result<BlockStatus, SubmitError>;

/// Called once with the outcome of a submitted block.
pub type Done = Box<dyn FnOnce(ProcessStatus) + Send>;

/// Supplies the node's representative keys (wallet keys); consulted periodically.
pub type RepProvider = Arc<dyn Fn() -> Vec<KeyPair> + Send + Sync>;

/// Tunables; [`ConsensusConfig::for_network`] gives the defaults.
#[derive(Debug, Clone)]
pub struct ConsensusConfig {
    pub network: Network,
    pub enable_voting: bool,
    pub online_weight_minimum: Amount,
    /// Wallet representatives below this weight do not vote.
    pub vote_minimum: Amount,
    /// `representative_vote_weight_minimum`: votes from lighter accounts are not
    /// relayed, do not count online, start no election and take no vote-cache slot.
    pub vote_weight_minimum: Amount,
    /// Keys that always vote (config `representative_key`).
    pub representative_keys: Vec<KeyPair>,
    pub max_elections: usize,
    /// Queue bound per peer source; local submissions get `local_queue_max`,
    /// bootstrap `system_queue_max`, all sources together `queue_max`.
    pub peer_queue_max: usize,
    pub local_queue_max: usize,
    pub system_queue_max: usize,
    pub queue_max: usize,
    /// Most blocks per write transaction, and the longest one may be held.
    pub batch_max: usize,
    pub batch_max_time: Duration,
    /// Most blocks cemented per write transaction ([`limits::CEMENT_BATCH_MAX`]).
    pub cement_batch_max: usize,
    pub vote_generator_delay: Duration,
    /// How often an unconfirmed election asks representatives again.
    pub request_interval: Duration,
    /// How often an unconfirmed election's unchanged winner is published again: the
    /// reference's `block_broadcast_interval` (150 s; 500 ms on the dev network).
    pub rebroadcast_interval: Duration,
    pub election_expiry: Duration,
    pub unchecked_max: usize,
    pub vote_cache_max: usize,
    pub history_max: usize,
    /// Answer peers' asc_pull_req from the ledger (off when a bootstrap server does).
    pub serve_asc_pull: bool,
}

impl ConsensusConfig {
    pub fn for_network(network: Network) -> Self {
        let p = network.params();
        let dev = network == Network::Dev;
        ConsensusConfig {
            network,
            enable_voting: dev,
            online_weight_minimum: p.online_weight_minimum,
            vote_minimum: Amount::nano(1000).unwrap_or_default(),
            vote_weight_minimum: Amount::nano(10).unwrap_or_default(),
            representative_keys: Vec::new(),
            max_elections: limits::ACTIVE_ELECTIONS,
            peer_queue_max: limits::BLOCK_PEER_QUEUE,
            local_queue_max: limits::BLOCK_LOCAL_QUEUE,
            system_queue_max: limits::BLOCK_SYSTEM_QUEUE,
            queue_max: limits::BLOCK_QUEUE_GLOBAL,
            batch_max: limits::BLOCK_BATCH_MAX,
            batch_max_time: Duration::from_millis(limits::BLOCK_BATCH_MAX_TIME_MS),
            cement_batch_max: limits::CEMENT_BATCH_MAX,
            vote_generator_delay: Duration::from_millis(100),
            request_interval: if dev {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(5)
            },
            rebroadcast_interval: if dev {
                Duration::from_millis(500)
            } else {
                Duration::from_secs(150)
            },
            election_expiry: Duration::from_secs(300),
            unchecked_max: limits::UNCHECKED_MAX,
            vote_cache_max: limits::VOTE_CACHE_HASHES,
            history_max: limits::CONFIRMATION_HISTORY,
            serve_asc_pull: true,
        }
    }

    /// Defaults for `network` with the `[node]` settings applied. An unparsable
    /// `representative_key` is ignored (config validation reports it earlier).
    pub fn from_node_config(cfg: &NodeConfig, network: Network) -> Self {
        let mut c = Self::for_network(network);
        c.enable_voting = cfg.enable_voting;
        if let Ok(a) = Amount::decode_dec(&cfg.online_weight_minimum) {
            c.online_weight_minimum = a;
        }
        if let Ok(a) = Amount::decode_dec(&cfg.vote_minimum) {
            c.vote_minimum = a;
        }
        if let Ok(a) = Amount::decode_dec(&cfg.representative_vote_weight_minimum) {
            c.vote_weight_minimum = a;
        }
        let size = crate::config::bound;
        let b = &cfg.block_processor;
        c.peer_queue_max = size(b.max_peer_queue);
        c.system_queue_max = size(b.max_system_queue);
        c.local_queue_max = size(b.max_local_queue);
        c.queue_max = size(b.max_queue);
        c.batch_max = size(b.batch_size);
        c.cement_batch_max = size(b.cementing_batch_size);
        c.unchecked_max = size(cfg.max_unchecked_blocks);
        c.batch_max_time = Duration::from_millis(cfg.block_processor_batch_max_time.max(1));
        if !cfg.representative_key.is_empty() {
            if let Ok(k) = nano_core::RawKey::decode_hex(&cfg.representative_key) {
                c.representative_keys.push(KeyPair::from_private(k));
            }
        }
        c
    }
}

/// What `block_confirm` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockConfirmOutcome {
    /// An election was started (or was already running).
    Started,
    /// The block was already cemented; an `inactive` confirmation was reported.
    AlreadyConfirmed,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsensusError {
    #[error("Block not found")]
    BlockNotFound,
    #[error("store error: {0}")]
    Store(String),
}

/// A running election, as `confirmation_active` / `confirmation_info` show it.
pub type ActiveElectionInfo = ElectionSummary;

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by the writer thread, the consensus thread and callers.
pub(crate) struct Shared {
    pub(crate) ledger: Arc<Ledger>,
    pub(crate) params: &'static NetworkParams,
    pub(crate) config: ConsensusConfig,
    pub(crate) stats: Arc<Stats>,
    pub(crate) events: EventBus,
    pub(crate) outbound: RwLock<Option<Arc<dyn Outbound>>>,
    pub(crate) online_source: RwLock<Option<Arc<dyn OnlineWeightSource>>>,
    pub(crate) rep_provider: RwLock<Option<RepProvider>>,
    pub(crate) reps: RwLock<Arc<Vec<KeyPair>>>,
    /// Locked after `active` when both are held.
    pub(crate) active: Mutex<ActiveElections>,
    pub(crate) priority: Mutex<PriorityScheduler>,
    pub(crate) hinted: Mutex<HintedCooldowns>,
    pub(crate) vote_cache: Mutex<VoteCache>,
    pub(crate) unchecked: Mutex<Unchecked>,
    /// A leaf lock: taken alone, once per batch by the writer.
    pub(crate) inserted_sends: Mutex<InsertedSends>,
    pub(crate) queue: Mutex<WriterQueue>,
    /// Wakes the writer: checked blocks, confirmed elections or forced blocks to write.
    pub(crate) writer_cv: Condvar,
    /// Wakes the checker: blocks queued, or room for checked ones.
    pub(crate) checker_cv: Condvar,
    pub(crate) inbox: Mutex<Inbox>,
    pub(crate) inbox_cv: Condvar,
    pub(crate) generator: Mutex<Generator>,
    pub(crate) online: Mutex<OnlineState>,
    /// [`elections::principal_minimum`] of the last trended online weight, kept apart from
    /// `online` so elections can read it while holding `active`. A leaf lock: nothing is
    /// locked while it is held.
    pub(crate) principal_minimum: Mutex<Option<Amount>>,
    pub(crate) backlog: Mutex<Backlog>,
    pub(crate) seen_votes: Mutex<RecentSet>,
    pub(crate) gap_fetch: Mutex<gap_fetch::GapFetch>,
    /// Winners of elections confirmed since the last tick, which publishes them.
    pub(crate) confirmed_winners: Mutex<Vec<elections::ConfirmedWinner>>,
    /// This node's own blocks, published again until cemented.
    pub(crate) local_blocks: Mutex<local_broadcaster::LocalBlocks>,
    /// Set while a bootstrap round runs: it fetches what is missing itself, and two
    /// fetchers feeding one block processor only overfill it.
    pub(crate) gap_fetch_paused: AtomicBool,
    pub(crate) stopped: AtomicBool,
    /// The writer thread's time, faults and bytes written by phase.
    pub(crate) writer_stats: block_processor::writer_stats::WriterStats,
}

impl Shared {
    pub(crate) fn outbound(&self) -> Option<Arc<dyn Outbound>> {
        self.outbound.read().ok().and_then(|o| o.clone())
    }

    pub(crate) fn reps(&self) -> Arc<Vec<KeyPair>> {
        self.reps
            .read()
            .map(|r| r.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    pub(crate) fn publish(&self, e: NodeEvent) {
        self.events.publish(e);
    }

    /// Current quorum delta (recomputed by the consensus loop every second).
    pub(crate) fn quorum_delta(&self) -> Amount {
        lock(&self.online).info.quorum_delta
    }
}

/// The consensus service of one node. Create with [`Consensus::new`], attach the network
/// with [`Consensus::set_outbound`] and give it to the network as its [`Inbound`], then
/// [`Consensus::start`].
pub struct Consensus {
    pub(crate) shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Consensus {
    /// Restarts the backlog walk from the first account, so every account with
    /// uncemented blocks is scheduled again (RPC `populate_backlog`).
    pub fn populate_backlog(&self) {
        self.shared.restart_backlog();
    }

    /// Pauses (or resumes) fetching gap dependencies from peers; bootstrap pauses it
    /// for the length of a round.
    pub fn set_gap_fetch_paused(&self, paused: bool) {
        self.shared
            .gap_fetch_paused
            .store(paused, std::sync::atomic::Ordering::Release);
    }

    pub fn new(
        ledger: Arc<Ledger>,
        config: ConsensusConfig,
        stats: Arc<Stats>,
        events: EventBus,
    ) -> Arc<Consensus> {
        let params = ledger.params();
        let online = OnlineState::load(
            &ledger,
            config.online_weight_minimum,
            config.vote_weight_minimum,
        );
        let active = ActiveElections::new(config.max_elections, config.history_max)
            .with_stats(stats.clone());
        let shared = Shared {
            params,
            stats,
            events,
            outbound: RwLock::new(None),
            online_source: RwLock::new(None),
            rep_provider: RwLock::new(None),
            reps: RwLock::new(Arc::new(Vec::new())),
            active: Mutex::new(active),
            priority: Mutex::new(PriorityScheduler::new(BucketLimits::default())),
            hinted: Mutex::new(HintedCooldowns::default()),
            vote_cache: Mutex::new(VoteCache::new(
                config.vote_cache_max,
                limits::VOTE_CACHE_VOTERS,
            )),
            unchecked: Mutex::new(Unchecked::new(config.unchecked_max)),
            inserted_sends: Mutex::new(InsertedSends::default()),
            queue: Mutex::new(WriterQueue::new(&config)),
            writer_cv: Condvar::new(),
            checker_cv: Condvar::new(),
            inbox: Mutex::new(Inbox::default()),
            inbox_cv: Condvar::new(),
            generator: Mutex::new(Generator::default()),
            principal_minimum: Mutex::new(elections::principal_minimum(
                config.network,
                online.info.trended_stake_total,
            )),
            online: Mutex::new(online),
            backlog: Mutex::new(Backlog::default()),
            seen_votes: Mutex::new(RecentSet::new(limits::SEEN_VOTES)),
            gap_fetch: Mutex::new(gap_fetch::GapFetch::default()),
            confirmed_winners: Mutex::new(Vec::new()),
            local_blocks: Mutex::new(local_broadcaster::LocalBlocks::new(
                config.network == Network::Dev,
            )),
            gap_fetch_paused: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            writer_stats: Default::default(),
            ledger,
            config,
        };
        let shared = Arc::new(shared);
        shared.refresh_reps();
        shared.update_rep_tiers();
        Arc::new(Consensus {
            shared,
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Attaches (or replaces) the network's sending side.
    pub fn set_outbound(&self, outbound: Arc<dyn Outbound>) {
        if let Ok(mut o) = self.shared.outbound.write() {
            *o = Some(outbound);
        }
    }

    /// Drops the links to the network and wallets (they refer back to consensus; a
    /// stopped node breaks the cycle so its ledger and wallets close).
    pub fn detach(&self) {
        if let Ok(mut o) = self.shared.outbound.write() {
            *o = None;
        }
        if let Ok(mut o) = self.shared.online_source.write() {
            *o = None;
        }
        if let Ok(mut o) = self.shared.rep_provider.write() {
            *o = None;
        }
    }

    /// Adds the network's view of online weight (rep crawler).
    pub fn set_online_weight_source(&self, source: Arc<dyn OnlineWeightSource>) {
        if let Ok(mut o) = self.shared.online_source.write() {
            *o = Some(source);
        }
    }

    /// Wallet representatives: consulted now and every few seconds.
    pub fn set_rep_provider(&self, provider: RepProvider) {
        if let Ok(mut o) = self.shared.rep_provider.write() {
            *o = Some(provider);
        }
        self.shared.refresh_reps();
    }

    /// The keys this node votes with right now.
    pub fn representatives(&self) -> Vec<Account> {
        self.shared.reps().iter().map(|k| k.public()).collect()
    }

    /// Starts the checker, writer and consensus threads; the backlog walk schedules
    /// accounts with uncemented blocks left from a previous run.
    pub fn start(&self) -> std::io::Result<()> {
        let mut t = lock(&self.threads);
        if !t.is_empty() {
            return Ok(());
        }
        let s = self.shared.clone();
        t.push(
            std::thread::Builder::new()
                .name("block_checker".into())
                .spawn(move || s.run_checker())?,
        );
        let s = self.shared.clone();
        t.push(
            std::thread::Builder::new()
                .name("block_processor".into())
                .spawn(move || s.run_writer())?,
        );
        let s = self.shared.clone();
        t.push(
            std::thread::Builder::new()
                .name("consensus".into())
                .spawn(move || s.run_consensus())?,
        );
        Ok(())
    }

    /// Stops the threads; queued submissions are answered with [`SubmitError::Stopped`].
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Release);
        self.shared.writer_cv.notify_all();
        self.shared.checker_cv.notify_all();
        self.shared.inbox_cv.notify_all();
        let threads: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
        self.shared.fail_queued();
    }

    /// Queues a block; `done` (if any) receives the outcome. Returns false (after calling
    /// `done` with the reason) when the block could not be queued.
    pub fn submit(&self, block: Block, source: BlockSource, done: Option<Done>) -> bool {
        self.shared.submit(block, source, done)
    }

    /// Processes a locally created block with priority; on success it is published to
    /// peers with the originator flag. Resolves to the ledger status.
    pub fn process_local(
        &self,
        block: Block,
    ) -> impl Future<Output = ProcessStatus> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.submit(
            block,
            BlockSource::Local,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        );
        async move { rx.await.unwrap_or(Err(SubmitError::Stopped)) }
    }

    /// Blocking variant of [`Consensus::process_local`] for non-async callers.
    pub fn process_local_blocking(&self, block: Block, timeout: Duration) -> ProcessStatus {
        let (tx, rx) = std::sync::mpsc::channel();
        self.submit(
            block,
            BlockSource::Local,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
        );
        rx.recv_timeout(timeout)
            .unwrap_or(Err(SubmitError::Overloaded))
    }

    /// RPC `process` with `force`: the block replaces whatever the ledger holds at its
    /// root (which is rolled back with its dependents, unless cemented).
    pub fn process_forced(
        &self,
        block: Block,
    ) -> impl Future<Output = ProcessStatus> + Send + 'static {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared.force(
            block,
            Some(Box::new(move |r| {
                let _ = tx.send(r);
            })),
            None,
        );
        async move { rx.await.unwrap_or(Err(SubmitError::Stopped)) }
    }

    /// RPC `block_confirm`: starts an election for a block in the ledger, or reports an
    /// already cemented block as an `inactive` confirmation.
    pub fn block_confirm(&self, hash: &BlockHash) -> Result<BlockConfirmOutcome, ConsensusError> {
        self.shared.block_confirm(hash)
    }

    /// Snapshot of the running elections.
    pub fn active_elections(&self) -> Vec<ActiveElectionInfo> {
        lock(&self.shared.active)
            .iter()
            .map(|e| e.summary())
            .collect()
    }

    /// The running election for `root`, if any.
    pub fn election(&self, root: &QualifiedRoot) -> Option<ActiveElectionInfo> {
        lock(&self.shared.active).get(root).map(|e| e.summary())
    }

    /// The candidate blocks of the running election for `root` (RPC `confirmation_info`
    /// shows their contents).
    pub fn election_candidates(&self, root: &QualifiedRoot) -> Option<Vec<Block>> {
        lock(&self.shared.active)
            .get(root)
            .map(|e| e.blocks.values().cloned().collect())
    }

    /// Blocks waiting in the priority scheduler's buckets for an election, per bucket
    /// (lowest balances first).
    pub fn priority_candidates(&self) -> Vec<usize> {
        lock(&self.shared.priority).bucket_sizes()
    }

    /// How many elections may run at once.
    pub fn max_elections(&self) -> usize {
        self.shared.config.max_elections
    }

    /// Whether an election is running for `hash` (as a candidate).
    pub fn election_active(&self, hash: &BlockHash) -> bool {
        lock(&self.shared.active).contains_hash(hash)
    }

    /// Recently confirmed elections, oldest first.
    pub fn confirmation_history(&self) -> Vec<ElectionSummary> {
        lock(&self.shared.active).history()
    }

    /// The numbers behind the quorum.
    pub fn confirmation_quorum(&self) -> QuorumInfo {
        lock(&self.shared.online).info
    }

    /// Blocks waiting in the processor queue.
    pub fn queue_len(&self) -> usize {
        lock(&self.shared.queue).total()
    }

    /// The writer thread's totals since start, by phase (idle, begin, process, commit,
    /// after; each wall and CPU time, page faults, context switches, bytes written) and
    /// the commits and blocks written: for the bootstrap bench.
    pub fn writer_stats(&self) -> Vec<(String, u64)> {
        self.shared.writer_stats.snapshot()
    }

    /// Gap blocks waiting for a dependency.
    pub fn unchecked_len(&self) -> usize {
        lock(&self.shared.unchecked).len()
    }

    /// What the gap block built on `root` (a chain's head block, or an account without
    /// blocks) waits for, if one waits in the gap table.
    pub fn unchecked_dependency_at(&self, root: &Root) -> Option<BlockHash> {
        lock(&self.shared.unchecked).dependency_at(root)
    }

    /// Parks `chain` in the gap table without processing it: its first block waits for
    /// `dependency`, each later one for the block before it. For bootstrap, which has
    /// checked the blocks' signatures and work and knows the first one's source is
    /// missing: the processor would only find that and park them itself. If
    /// `dependency` went in meanwhile, what waits for it is processed at once.
    pub fn park_chain(&self, dependency: BlockHash, chain: Vec<Block>) {
        {
            let mut u = lock(&self.shared.unchecked);
            let mut dep = dependency;
            for block in chain {
                let hash = block.hash();
                u.insert(
                    dep,
                    block_processor::unchecked::UncheckedItem {
                        block,
                        source: BlockSource::Bootstrap,
                    },
                );
                dep = hash;
            }
        }
        let arrived = self.shared.ledger.read_txn().ok().is_some_and(|t| {
            self.shared
                .ledger
                .block_exists(&t, &dependency)
                .unwrap_or(false)
        });
        if arrived {
            let released = lock(&self.shared.unchecked).take(&dependency);
            for item in released {
                self.submit(item.block, BlockSource::Unchecked, None);
            }
        }
    }

    /// Starts (`true`) or stops keeping the sends the writer inserts, for
    /// [`Consensus::take_inserted_sends`] (one watcher: the ascending bootstrap client).
    pub fn watch_inserted_sends(&self, on: bool) {
        lock(&self.shared.inserted_sends).watch(on);
    }

    /// The sends (hash, destination) inserted since the last call while watched, into
    /// `into`; true if some were not kept (the list is bounded).
    pub fn take_inserted_sends(&self, into: &mut Vec<(BlockHash, Account)>) -> bool {
        lock(&self.shared.inserted_sends).take(into)
    }

    /// Whether the block `hash` waits in the gap table.
    pub fn unchecked_contains(&self, hash: &BlockHash) -> bool {
        lock(&self.shared.unchecked).contains(hash)
    }

    /// Gap blocks from dependency `start` on, in key order (RPC `unchecked`,
    /// `unchecked_keys`).
    pub fn unchecked_entries(&self, start: &BlockHash, max: usize) -> Vec<UncheckedEntry> {
        lock(&self.shared.unchecked).entries(start, max)
    }

    /// The gap block `hash`, if it waits (RPC `unchecked_get`).
    pub fn unchecked_entry(&self, hash: &BlockHash) -> Option<UncheckedEntry> {
        lock(&self.shared.unchecked).entry(hash)
    }

    /// Drops every gap block (RPC `unchecked_clear`).
    pub fn unchecked_clear(&self) {
        lock(&self.shared.unchecked).clear();
    }

    /// Accepts a vote as if it came from the network (tests, RPC tools).
    pub fn process_vote(&self, vote: Vote, from: Option<ChannelId>) {
        self.shared.enqueue_vote(vote, from);
    }
}

impl Drop for Consensus {
    fn drop(&mut self) {
        if !lock(&self.threads).is_empty() {
            self.stop();
        }
    }
}

impl Inbound for Consensus {
    fn on_message(&self, from: &ChannelInfo, msg: Message) {
        let s = &self.shared;
        match msg {
            Message::Publish(p) => {
                s.stats.inc("consensus", "publish", "in");
                s.submit(p.block, BlockSource::Peer(from.id), None);
            }
            Message::ConfirmReq(r) => {
                s.stats.inc("consensus", "confirm_req", "in");
                s.enqueue_request(from.id, r.pairs);
            }
            Message::ConfirmAck(a) => {
                s.stats.inc("consensus", "confirm_ack", "in");
                s.enqueue_vote(a.vote, Some(from.id));
            }
            Message::AscPullReq(r) => s.serve_asc_pull(from.id, r),
            Message::AscPullAck(a) => s.on_asc_pull_ack(from.id, a),
            _ => {}
        }
    }
}

impl Shared {
    /// Rebuilds the voting key list: config keys plus wallet keys with enough weight.
    pub(crate) fn refresh_reps(&self) {
        if !self.config.enable_voting {
            return;
        }
        let mut keys: Vec<KeyPair> = self.config.representative_keys.clone();
        let provider = self.rep_provider.read().ok().and_then(|p| p.clone());
        if let Some(p) = provider {
            for k in p() {
                if self.ledger.weight(&k.public()) >= self.config.vote_minimum
                    && !keys.iter().any(|x| x.public() == k.public())
                {
                    keys.push(k);
                }
            }
        }
        if let Ok(mut r) = self.reps.write() {
            *r = Arc::new(keys);
        }
    }
}

/// Convenience for tests and the node: the dev network's default configuration with the
/// dev genesis key voting.
#[cfg(any(test, feature = "test-utils"))]
pub fn dev_voting_config() -> ConsensusConfig {
    let mut c = ConsensusConfig::for_network(Network::Dev);
    c.enable_voting = true;
    c.representative_keys = vec![nano_ledger::test_support::dev_genesis_key()];
    c
}

/// Waits (polling) until `f` is true or `timeout` passes; for tests and tools.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A consensus service whose threads are not started, for unit tests that drive its
/// parts step by step.
#[cfg(test)]
pub(crate) fn unstarted_for_test(
    setup: impl FnOnce(&Ledger),
    config: ConsensusConfig,
) -> (tempfile::TempDir, Arc<Consensus>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let ledger =
        Arc::new(Ledger::open(&dir.path().join("data.ldb"), Network::Dev).expect("ledger"));
    setup(&ledger);
    let c = Consensus::new(ledger, config, Arc::new(Stats::new()), EventBus::default());
    (dir, c)
}
