//! The running node: opens the ledger (`<data_dir>/data.ldb`) and wallets
//! (`<data_dir>/wallets.ldb`), builds consensus and the network service, wires them
//! together (network → consensus as its [`crate::interfaces::Inbound`], consensus →
//! network as its [`crate::interfaces::Outbound`], the rep crawler's online weight into
//! the quorum, wallet keys as voting representatives), and offers the operations the
//! RPC layer calls. It owns the start and stop order: consensus starts after the ledger
//! and stops before it; the network stops first so nothing new arrives while the
//! processor drains.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::{Amount, Block, BlockHash, Network, NetworkParams, QualifiedRoot};
use nano_ledger::{Ledger, StoreOptions};
use nano_wallet::{Wallets, WalletsConfig};

use crate::bootstrap::{Bootstrap, BootstrapConfig};
use crate::config::NodeConfig;
use crate::consensus::{
    ActiveElectionInfo, BlockConfirmOutcome, Consensus, ConsensusConfig, ConsensusError,
    ElectionSummary, OnlineWeightSource, ProcessStatus, QuorumInfo,
};
use crate::events::EventBus;
use crate::interfaces::{InboundFanout, NullInbound};
use crate::network::{
    load_or_create_node_id, NetworkFlags, NetworkInit, NetworkService, PeerInfo, PeerTelemetry,
    Representative,
};
use crate::stats::Stats;

/// Why the node could not start.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("cannot open the ledger: {0}")]
    Ledger(#[from] nano_ledger::StoreError),
    #[error("cannot open the wallets: {0}")]
    Wallets(#[from] nano_wallet::WalletError),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Adjusts consensus tunables before the node starts.
pub type ConsensusTuner = Arc<dyn Fn(&mut ConsensusConfig) + Send + Sync>;

/// How to start a node beyond `config-node.toml`: for tests and tools.
#[derive(Clone)]
pub struct NodeOptions {
    pub config: NodeConfig,
    pub network: Network,
    pub data_dir: PathBuf,
    /// Start the peering service (off: consensus only, e.g. offline tools).
    pub enable_network: bool,
    pub network_flags: NetworkFlags,
    /// Overrides of consensus tunables (applied after the config's values).
    pub tune: Option<ConsensusTuner>,
    /// Bootstrap settings, from `[node]`'s bootstrap keys (`bootstrap_ascending.*`,
    /// `bootstrap_connections`, `bootstrap_connections_max`, `tcp_io_timeout`).
    pub bootstrap: BootstrapConfig,
}

impl NodeOptions {
    pub fn new(config: NodeConfig, network: Network, data_dir: &Path) -> Self {
        NodeOptions {
            network,
            data_dir: data_dir.to_path_buf(),
            enable_network: true,
            network_flags: NetworkFlags::default(),
            tune: None,
            bootstrap: BootstrapConfig::from_node_config(&config, network),
            config,
        }
    }
}

/// The network's representative crawler as a source of online weight.
struct NetworkOnline(NetworkService);

impl OnlineWeightSource for NetworkOnline {
    fn peers_weight(&self) -> Option<Amount> {
        Some(self.0.representatives().iter().fold(Amount::ZERO, |a, r| {
            a.checked_add(r.weight).unwrap_or(Amount::MAX)
        }))
    }
}

/// A running node.
pub struct Node {
    pub config: NodeConfig,
    pub params: &'static NetworkParams,
    pub data_dir: PathBuf,
    pub ledger: Arc<Ledger>,
    pub wallets: Arc<Wallets>,
    pub stats: Arc<Stats>,
    pub events: EventBus,
    pub consensus: Arc<Consensus>,
    /// The peering service (absent when started without network).
    pub network: Option<NetworkService>,
    /// Bootstrap client and server (absent when started without network).
    pub bootstrap: Option<Arc<Bootstrap>>,
    pub started: Instant,
}

/// Upgrade and migration steps of the ledger file go to the node log under the store's
/// target, so the `lmdb` logger of `config-log.toml` governs them; an operator watching
/// a long upgrade of a large snapshot sees where it is.
pub fn store_progress_to_log() -> nano_store::Progress {
    nano_store::Progress(Arc::new(
        |line: &str| tracing::info!(target: "nano_store", "{line}"),
    ))
}

impl Node {
    /// Opens the data directory and starts consensus and the network. Must run inside a
    /// tokio runtime (the network's tasks are spawned on it).
    pub async fn start(
        config: &NodeConfig,
        network: Network,
        data_dir: &Path,
    ) -> Result<Arc<Node>, NodeError> {
        Self::start_with(NodeOptions::new(config.clone(), network, data_dir)).await
    }

    pub async fn start_with(options: NodeOptions) -> Result<Arc<Node>, NodeError> {
        let NodeOptions {
            config,
            network,
            data_dir,
            enable_network,
            network_flags,
            tune,
            bootstrap: bootstrap_config,
        } = options;
        std::fs::create_dir_all(&data_dir)?;
        let params = network.params();
        let store_options = StoreOptions {
            progress: Some(store_progress_to_log()),
            // Only representatives whose votes count stay in memory, as in the reference.
            rep_weight_cache_minimum: Amount::decode_dec(
                &config.representative_vote_weight_minimum,
            )
            .unwrap_or_default(),
            ..config.lmdb.store_options()
        };
        let ledger = Arc::new(Ledger::open_with(
            &data_dir.join("data.ldb"),
            network,
            &store_options,
        )?);
        tracing::info!(
            target: "nano_store",
            "ledger {}: sync {}, map size {} bytes",
            ledger.store().path().display(),
            ledger.store().sync_mode()?.as_str(),
            ledger.store().map_size()
        );
        ledger
            .store()
            .set_confirmation_history_limit(config.confirmation_history_size)?;
        let wallets_config = if network == Network::Dev {
            WalletsConfig::dev()
        } else {
            WalletsConfig::default()
        };
        let wallets = Arc::new(Wallets::open(&data_dir, wallets_config)?);
        let stats = Arc::new(Stats::new());
        let events = EventBus::default();

        let mut cc = ConsensusConfig::from_node_config(&config, network);
        if let Some(t) = &tune {
            t(&mut cc);
        }
        let vote_minimum = cc.vote_minimum;
        let consensus = Consensus::new(ledger.clone(), cc, stats.clone(), events.clone());
        {
            let wallets = wallets.clone();
            let ledger = ledger.clone();
            consensus.set_rep_provider(Arc::new(move || {
                wallets
                    .unlocked_key_pairs(|a| ledger.weight(a) >= vote_minimum)
                    .unwrap_or_default()
            }));
        }

        let net = if enable_network {
            let node_id = load_or_create_node_id(&data_dir)?;
            let service = NetworkService::new(NetworkInit {
                params,
                config: config.clone(),
                node_id,
                ledger: ledger.clone(),
                stats: stats.clone(),
                events: events.clone(),
                flags: network_flags,
            });
            let bootstrap = Bootstrap::new(
                bootstrap_config,
                ledger.clone(),
                consensus.clone(),
                service.clone(),
                stats.clone(),
                events.clone(),
                data_dir.clone(),
            );
            service.set_inbound(Arc::new(InboundFanout(vec![
                consensus.clone(),
                bootstrap.clone(),
            ])));
            service.set_bootstrap_server(bootstrap.server());
            consensus.set_outbound(Arc::new(service.clone()));
            consensus.set_online_weight_source(Arc::new(NetworkOnline(service.clone())));
            let waiting = consensus.clone();
            service.set_unchecked_count_source(Arc::new(move || waiting.unchecked_len() as u64));
            Some((service, bootstrap))
        } else {
            None
        };
        let (net, bootstrap) = match net {
            Some((n, b)) => (Some(n), Some(b)),
            None => (None, None),
        };
        consensus.start()?;
        if let Some(n) = &net {
            if let Err(e) = n.start().await {
                consensus.stop();
                return Err(e.into());
            }
        }
        if let Some(b) = &bootstrap {
            b.start();
        }
        Ok(Arc::new(Node {
            config,
            params,
            data_dir,
            ledger,
            wallets,
            stats,
            events,
            consensus,
            network: net,
            bootstrap,
            started: Instant::now(),
        }))
    }

    /// Stops the network (no new messages), then consensus (queued submissions are
    /// answered "stopped"), then flushes the ledger.
    pub async fn stop(&self) {
        if let Some(b) = &self.bootstrap {
            b.stop().await;
        }
        if let Some(n) = &self.network {
            n.stop().await;
            n.set_inbound(Arc::new(NullInbound));
        }
        let c = self.consensus.clone();
        let _ = tokio::task::spawn_blocking(move || c.stop()).await;
        self.consensus.detach();
        let _ = self.ledger.store().sync();
    }

    /// Processes a locally created block (RPC `process`, wallet sends) ahead of peer
    /// traffic; on `progress` it is published with the originator flag. Resolves once the
    /// block is durable (or refused).
    pub fn process_local(
        &self,
        block: Block,
    ) -> impl Future<Output = ProcessStatus> + Send + 'static {
        self.consensus.process_local(block)
    }

    /// Blocking form of [`Node::process_local`] (not from an async context).
    pub fn process_local_blocking(&self, block: Block, timeout: Duration) -> ProcessStatus {
        self.consensus.process_local_blocking(block, timeout)
    }

    /// RPC `process` with `"force": "true"`: rolls back what holds the block's root.
    pub fn process_forced(
        &self,
        block: Block,
    ) -> impl Future<Output = ProcessStatus> + Send + 'static {
        self.consensus.process_forced(block)
    }

    /// RPC `block_confirm`.
    pub fn block_confirm(&self, hash: &BlockHash) -> Result<BlockConfirmOutcome, ConsensusError> {
        self.consensus.block_confirm(hash)
    }

    /// RPC `confirmation_active`.
    pub fn active_elections(&self) -> Vec<ActiveElectionInfo> {
        self.consensus.active_elections()
    }

    /// RPC `confirmation_info` (by root).
    pub fn election(&self, root: &QualifiedRoot) -> Option<ActiveElectionInfo> {
        self.consensus.election(root)
    }

    /// RPC `confirmation_quorum`.
    pub fn confirmation_quorum(&self) -> QuorumInfo {
        self.consensus.confirmation_quorum()
    }

    /// RPC `confirmation_history`: recently confirmed elections, oldest first.
    pub fn confirmation_history(&self) -> Vec<ElectionSummary> {
        self.consensus.confirmation_history()
    }

    /// RPC `peers`.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.network.as_ref().map(|n| n.peers()).unwrap_or_default()
    }

    /// RPC `telemetry`.
    pub fn telemetry(&self) -> Vec<PeerTelemetry> {
        self.network
            .as_ref()
            .map(|n| n.telemetry())
            .unwrap_or_default()
    }

    /// RPC `representatives_online`.
    pub fn representatives_online(&self) -> Vec<Representative> {
        self.network
            .as_ref()
            .map(|n| n.representatives())
            .unwrap_or_default()
    }

    /// The keys this node votes with.
    pub fn local_representatives(&self) -> Vec<nano_core::Account> {
        self.consensus.representatives()
    }

    /// Where peers (and tests) reach this node: `[::1]:port`.
    pub fn local_endpoint(&self) -> Option<std::net::SocketAddrV6> {
        self.network.as_ref().map(|n| n.local_endpoint())
    }

    /// Seconds since start (RPC `uptime`).
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }
}
