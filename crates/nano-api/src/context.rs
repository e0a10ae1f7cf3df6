//! What actions can reach: the network, the RPC switches, the node's statistics and stop
//! signal, and (once attached) the ledger and wallets. Built once per server and shared
//! by every request.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use nano_core::{Network, NetworkParams, Root};
use nano_ledger::Ledger;
use nano_node::stats::Stats;
use nano_wallet::Wallets;
use tokio::sync::Notify;

/// Wallet work precomputations that may wait for the precompute worker
/// ([`ApiContext::precompute`]). Each is a convenience (the next send or receive of an
/// account finds its work ready); a burst beyond this (`accounts_create` of 10,000
/// accounts, a flood of sends) drops the excess, counted as stat
/// `work`/`precompute_dropped`, and those blocks get their work when they are built. One
/// worker runs them: each generation already uses `work_threads` CPU threads and the
/// work peers.
pub const PRECOMPUTE_QUEUE: usize = 64;

pub struct ApiContext {
    pub network: Network,
    pub params: &'static NetworkParams,
    pub enable_sign_hash: bool,
    /// CPU threads for local work; 0 disables local work generation (work peers only).
    pub work_threads: usize,
    pub max_work_generate_multiplier: f64,
    pub started: Instant,
    pub stats: Arc<Stats>,
    /// When `stats_clear` last ran; `stat_duration_seconds` counts from it (or from start).
    pub stats_reset: Mutex<Option<Instant>>,
    /// Notified by the `stop` action; the daemon waits on it to shut down cleanly.
    pub stop: Arc<Notify>,
    /// Cancel flags of work being generated, by root, for `work_cancel`.
    pub work_in_progress: Mutex<HashMap<Root, Arc<AtomicBool>>>,
    /// The ledger, when this API serves a running node (absent for a bare utility
    /// server); ledger actions answer a clear error without it.
    pub ledger: Option<Arc<Ledger>>,
    /// The node's wallets (`wallets.ldb`), for the wallet actions.
    pub wallets: Option<Arc<Wallets>>,
    /// The running node (block processing, network, elections), when attached.
    pub node: Option<Arc<dyn NodeHandle>>,
    /// Latency of every RPC request, for `/metrics`.
    pub rpc_latency: crate::latency::LatencyHistogram,
    /// Work servers for `work_generate` with `use_peers` (`node.work_peers`, RPC
    /// `work_peer_add`).
    pub work_peers: Mutex<Vec<(String, u16)>>,
    /// Node-wide receive minimum (raw) for `receive_minimum(_set)` and auto-receive.
    pub receive_minimum: Mutex<nano_core::Amount>,
    /// The node's event bus, where work generation publishes the WebSocket `work` topic
    /// events (absent for a bare utility server).
    pub events: Option<nano_node::events::EventBus>,
    /// `node.preconfigured_representatives`: a new wallet's representative is one of
    /// these, picked at random (the network's list until the daemon sets the config's).
    pub preconfigured_representatives: Vec<nano_core::Account>,
    /// This context itself, once a front door shares it: actions that answer at once and
    /// finish in the background (`search_receivable`) take a strong reference from it.
    shared: std::sync::OnceLock<std::sync::Weak<ApiContext>>,
    /// The bounded queue of `process` with `async`.
    pub async_process: crate::async_process::AsyncProcessor,
    /// Where slow actions run, off the runtime that drives peering
    /// (`slow_action_threads`, `slow_action_queue` of config-rpc.toml).
    pub slow_actions: crate::worker_pool::WorkerPool,
    /// Largest RPC v1 answer in bytes (`max_response_size` of config-rpc.toml).
    pub max_response_size: usize,
    /// Wallet work precomputed in the background: one worker, [`PRECOMPUTE_QUEUE`]
    /// waiting, all queued as one client (the node's own wallets).
    pub precompute: crate::worker_pool::WorkerPool,
}

impl ApiContext {
    pub fn new(network: Network) -> Self {
        ApiContext {
            network,
            params: network.params(),
            enable_sign_hash: false,
            work_threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            max_work_generate_multiplier: 64.0,
            started: Instant::now(),
            stats: Arc::new(Stats::new()),
            stats_reset: Mutex::new(None),
            stop: Arc::new(Notify::new()),
            work_in_progress: Mutex::new(HashMap::new()),
            ledger: None,
            wallets: None,
            node: None,
            rpc_latency: Default::default(),
            work_peers: Mutex::new(Vec::new()),
            receive_minimum: Mutex::new(nano_core::Amount::raw(10u128.pow(24))),
            events: None,
            preconfigured_representatives: network.params().preconfigured_representatives.clone(),
            shared: std::sync::OnceLock::new(),
            async_process: Default::default(),
            slow_actions: Default::default(),
            max_response_size: crate::response_cap::DEFAULT_MAX_RESPONSE,
            precompute: crate::worker_pool::WorkerPool::with_client_queue(
                1,
                PRECOMPUTE_QUEUE,
                PRECOMPUTE_QUEUE,
            ),
        }
    }
}

impl ApiContext {
    /// Records where the shared context lives; every front door calls this when it
    /// starts serving (through [`crate::api_v2::V2Service::new`]).
    pub fn remember_shared(this: &Arc<ApiContext>) {
        let _ = this.shared.set(Arc::downgrade(this));
    }

    /// The shared context, for work that outlives the request.
    pub(crate) fn shared(&self) -> Option<Arc<ApiContext>> {
        self.shared.get().and_then(std::sync::Weak::upgrade)
    }

    /// Requests served over HTTP so far (tests and diagnostics).
    pub fn rpc_latency_count(&self) -> u64 {
        self.rpc_latency.count()
    }

    /// The wallets or the error wallet actions give when none are attached.
    pub fn wallets(&self) -> Result<&Arc<Wallets>, crate::error::RpcError> {
        self.wallets.as_ref().ok_or_else(|| {
            crate::error::RpcError::new("This action needs the node's wallets, which are not open")
        })
    }

    /// The ledger or the error actions give when none is attached.
    pub fn ledger(&self) -> Result<&Arc<Ledger>, crate::error::RpcError> {
        self.ledger
            .as_ref()
            .ok_or_else(|| crate::error::RpcError::new(crate::error::msg::NODE_UNAVAILABLE))
    }
}

/// Accounts queued for bootstrap with their priority (higher is pulled sooner), and
/// blocked (account, missing dependency) pairs.
pub type BootstrapPriorities = nano_node::bootstrap::PrioritySnapshot;

/// A summary of the node's moving parts for `/metrics` and status actions.
#[derive(Debug, Clone, Default)]
pub struct NodeStatus {
    pub peers: usize,
    pub active_elections: usize,
    pub block_queue: usize,
}

/// One connected peer as `peers` shows it: the channel's remote endpoint (the key, in the
/// reference's `[ip]:port` form) and where the peer accepts connections (`peering`, the
/// remote endpoint until the peer has told its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerEntry {
    pub endpoint: String,
    pub peering: String,
    pub protocol_version: u8,
    pub node_id: nano_core::PublicKey,
    pub transport: &'static str,
}

/// What the API needs from a running node beyond the ledger and wallets. Implemented by
/// the node glue so this crate's actions stay testable without a network.
pub trait NodeHandle: Send + Sync {
    fn status(&self) -> NodeStatus;
    /// Runs a block through the block processor (waiting for the result) and publishes
    /// it on success; `Err` says why it was not (the ledger's status, or no verdict).
    fn process(
        &self,
        block: nano_core::Block,
        force: bool,
    ) -> Result<nano_core::BlockHash, crate::error::ProcessRefusal>;
    /// Starts (or reports) an election for a block in the ledger.
    fn block_confirm(&self, hash: nano_core::BlockHash) -> bool;
    /// `peers` entries, sorted by remote endpoint as the reference lists them.
    fn peers(&self) -> Vec<PeerEntry>;
    /// Representatives seen voting recently, with weight.
    fn representatives_online(&self) -> Vec<(nano_core::PublicKey, nano_core::Amount)>;
    /// Representatives with the remote endpoint of their channel (`confirmation_quorum`
    /// peer details).
    fn representative_peers(&self) -> Vec<(nano_core::PublicKey, String)>;
    /// The `confirmation_quorum` answer.
    fn confirmation_quorum(&self) -> serde_json::Value;
    /// Telemetry of peers as reference JSON entries (with address and port).
    fn telemetry(&self) -> Vec<serde_json::Value>;
    /// This node's own telemetry as the reference JSON (without address and port), which
    /// `telemetry` answers by default; `None` without networking.
    fn local_telemetry(&self) -> Option<serde_json::Value>;
    fn node_id(&self) -> nano_core::PublicKey;
    /// Re-sends blocks to peers.
    fn republish(&self, blocks: Vec<nano_core::Block>);
    /// `confirmation_history` entries (most recent first).
    fn confirmation_history(&self) -> Vec<serde_json::Value>;
    /// Snapshots of the running elections (`confirmation_active`, `election_statistics`).
    fn active_elections(&self) -> Vec<nano_node::consensus::ElectionSummary>;
    /// The running election for a qualified root, with its candidate blocks
    /// (`confirmation_info`).
    fn election(
        &self,
        root: &nano_core::QualifiedRoot,
    ) -> Option<(nano_node::consensus::ElectionSummary, Vec<nano_core::Block>)>;
    /// How many elections may run at once (`aec_utilization_percentage`).
    fn max_elections(&self) -> usize;
    /// The port this node accepts peers on; `telemetry` for a loopback address with this
    /// port answers the local telemetry. `None` without networking.
    fn peering_port(&self) -> Option<u16>;
    /// Dials a peer (RPC `keepalive`).
    fn connect(&self, endpoint: std::net::SocketAddr);
    /// Number of blocks waiting for a dependency, and clearing them.
    fn unchecked_count(&self) -> usize;
    /// Waiting blocks from dependency `start` on, in key order (`unchecked`,
    /// `unchecked_keys`), and one by hash (`unchecked_get`).
    fn unchecked_entries(
        &self,
        start: &nano_core::BlockHash,
        max: usize,
    ) -> Vec<nano_node::consensus::UncheckedEntry>;
    fn unchecked_entry(
        &self,
        hash: &nano_core::BlockHash,
    ) -> Option<nano_node::consensus::UncheckedEntry>;
    fn unchecked_clear(&self);
    /// Starts a legacy bootstrap (from one peer, or from any); false without bootstrap.
    fn bootstrap_legacy(&self, request: nano_node::bootstrap::LegacyRequest) -> bool;
    /// Starts an ascending bootstrap round; false without bootstrap.
    fn bootstrap_ascending(&self) -> bool;
    /// The `bootstrap_status` answer, `None` without bootstrap.
    fn bootstrap_status(&self) -> Option<serde_json::Value>;
    /// Prioritised accounts and blocked (account, dependency) pairs.
    fn bootstrap_priorities(&self) -> Option<BootstrapPriorities>;
    /// Rescans the ledger for uncemented chains to start elections for.
    fn populate_backlog(&self);
    /// The node's containers with their entry counts and sizes (`stats` of type
    /// `objects`), as the reference's JSON tree under `"node"`.
    fn container_info(&self) -> serde_json::Value;
}

/// Where a request came from decides what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// `enable_control` of the front door (config-rpc.toml for HTTP).
    pub control: bool,
    /// Unsafe actions (`wallet_seed`): only the unsafe IPC encoding on an allow_unsafe
    /// transport, or the dev network.
    pub allow_unsafe: bool,
}
