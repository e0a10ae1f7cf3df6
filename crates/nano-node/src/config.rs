//! `config-node.toml`: the reference node's keys with per-network defaults, file loading,
//! `--config key=value` overrides (which win over the file), and the documented default
//! file that `--generate_config node` prints.
//!
//! Loading works on TOML trees: defaults for the network are serialised, the file is
//! merged over them, then the overrides, and the result is deserialised into the typed
//! structs. Unknown keys are ignored as the reference node does; a value of the wrong type
//! is an error naming the key.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use nano_core::{Amount, Network};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: invalid TOML: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid override {0:?}: expected key=value")]
    Override(String),
    #[error("invalid configuration value: {0}")]
    Invalid(String),
}

/// The whole `config-node.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DaemonConfig {
    pub rpc: RpcHostConfig,
    pub node: NodeConfig,
}

/// `[rpc]`: whether and how the node hosts the RPC server.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcHostConfig {
    pub enable: bool,
    pub enable_sign_hash: bool,
    pub child_process: RpcChildProcess,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcChildProcess {
    pub enable: bool,
    pub rpc_path: String,
}

/// `[node]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeConfig {
    /// 0 lets the OS choose.
    pub peering_port: u16,
    pub enable_voting: bool,
    pub preconfigured_peers: Vec<String>,
    pub preconfigured_representatives: Vec<String>,
    pub work_peers: Vec<String>,
    /// Raw, as a decimal string (the reference writes big numbers as strings).
    pub online_weight_minimum: String,
    pub vote_minimum: String,
    pub receive_minimum: String,
    pub representative_vote_weight_minimum: String,
    pub work_threads: u32,
    pub allow_local_peers: bool,
    pub external_address: String,
    pub external_port: u16,
    /// Outbound bytes per second of all traffic but ascending bootstrap (0: unlimited).
    pub bandwidth_limit: u64,
    /// The generic bucket holds `bandwidth_limit × this` bytes: how far a burst may go
    /// above the rate.
    pub bandwidth_limit_burst_ratio: f64,
    /// Outbound bytes per second of ascending-bootstrap traffic (0: unlimited).
    pub bootstrap_bandwidth_limit: u64,
    pub bootstrap_bandwidth_burst_ratio: f64,
    pub tcp_io_timeout: u64,
    pub tcp_incoming_connections_max: u32,
    pub max_work_generate_multiplier: f64,
    /// Extension: exchange realtime messages over UDP datagrams on the peering port too.
    pub enable_udp: bool,
    /// Extension: write the node's own traffic to this pcap file (empty: off).
    pub capture_path: String,
    /// Extension for tests and operators: a representative private key to vote with,
    /// besides wallet keys (hex; empty: none).
    pub representative_key: String,
    /// Outbound legacy bootstrap connections.
    pub bootstrap_connections: u32,
    /// Inbound legacy bootstrap connections served.
    pub bootstrap_connections_max: u32,
    pub bootstrap_ascending: BootstrapAscendingConfig,
    /// Gap blocks held in memory waiting for a dependency.
    pub max_unchecked_blocks: u64,
    /// Milliseconds the block processor may hold one write transaction.
    pub block_processor_batch_max_time: u64,
    pub block_processor: BlockProcessorConfig,
    pub httpcallback: HttpCallback,
    pub websocket: WebsocketConfig,
    pub ipc: IpcConfig,
    pub lmdb: LmdbConfig,
    /// Extension: rows of the confirmation log kept for replay (WebSocket
    /// `from_sequence`, `confirmation_history_since`, the callback's cursor).
    pub confirmation_history_size: u64,
}

/// `[node.bootstrap_ascending]`: the main sync strategy and its limits; `enable = false`
/// selects legacy bootstrap (frontier scan, then bulk_pull).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BootstrapAscendingConfig {
    pub enable: bool,
    pub channel_limit: u32,
    pub max_requests: u32,
    pub max_pull_count: u32,
    /// Milliseconds.
    pub request_timeout: u64,
    pub block_processor_threshold: u32,
    /// Milliseconds to wait while the block processor is above the threshold.
    pub throttle_wait: u64,
    pub account_sets: AccountSetsConfig,
}

/// `[node.bootstrap_ascending.account_sets]`: the accounts the ascending client keeps
/// in memory. The client's per-account memory (pull targets, retries, the last block
/// received) is bounded by the sum of the two maxima.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccountSetsConfig {
    /// Milliseconds before the same dependency is asked for again.
    pub cooldown: u64,
    pub priorities_max: u64,
    pub blocking_max: u64,
}

/// `[node.block_processor]`: the block processor's queues (the reference's keys) and,
/// as extensions, its write batches and cementing's.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct BlockProcessorConfig {
    /// Blocks queued per realtime peer.
    pub max_peer_queue: u64,
    /// Blocks queued from bootstrap.
    pub max_system_queue: u64,
    /// Extension: blocks queued from this node's own components (RPC, wallets).
    pub max_local_queue: u64,
    /// Extension: blocks queued from all sources together.
    pub max_queue: u64,
    /// Extension: most blocks written in one write transaction.
    pub batch_size: u64,
    /// Extension: most blocks cemented in one write transaction.
    pub cementing_batch_size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HttpCallback {
    pub address: String,
    pub port: u16,
    pub target: String,
    /// Extension: milliseconds one POST may take before it counts as failed and is retried.
    pub request_timeout: u64,
    /// Extension: longest wait in milliseconds between retries of a failing POST.
    pub retry_max_backoff: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebsocketConfig {
    pub enable: bool,
    pub address: String,
    pub port: u16,
    /// Extension: open connections (sessions and upgrades in progress) at once.
    pub connections_max: u32,
    /// Extension: seconds to send the upgrade request's headers.
    pub header_timeout: u64,
    /// Extension: seconds without a byte moving either way before a session is closed
    /// (0: never; subscribers may legitimately hear nothing for hours).
    pub idle_timeout: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IpcConfig {
    /// Extension: open IPC sessions at once (both transports together).
    pub connections_max: u32,
    pub tcp: IpcTcp,
    pub local: IpcLocal,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IpcTcp {
    pub enable: bool,
    pub port: u16,
    pub io_timeout: u64,
    pub allow_unsafe: bool,
    /// Extension: seconds a session may wait for its next request (sessions listening
    /// to events excepted).
    pub idle_timeout: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IpcLocal {
    pub enable: bool,
    pub path: String,
    pub allow_unsafe: bool,
    pub io_timeout: u64,
    /// Extension: as `node.ipc.tcp.idle_timeout`.
    pub idle_timeout: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LmdbConfig {
    pub map_size: u64,
    pub max_databases: u32,
    pub sync: String,
}

impl LmdbConfig {
    /// How the ledger file is opened with these settings: by the node and by every
    /// offline ledger command alike, so a map size or sync mode set for the node also
    /// holds when a command upgrades or writes the same file. Values were validated when
    /// the config loaded.
    pub fn store_options(&self) -> nano_store::StoreOptions {
        let d = nano_store::StoreOptions::default();
        nano_store::StoreOptions {
            map_size: usize::try_from(self.map_size).unwrap_or(d.map_size),
            sync: nano_store::LmdbSync::from_name(&self.sync).unwrap_or_default(),
            ..d
        }
    }
}

/// A bound from the config file as a size: [`DaemonConfig::validate`] refused 0 and
/// values beyond the address space, so this only keeps a hand-built config safe.
pub(crate) fn bound(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX).max(1)
}

/// The reference's default of `node.lmdb.max_databases`, the only value accepted (a
/// reference config file may carry it): the store's tables are fixed and it sets LMDB's
/// limit on them itself.
pub const LMDB_MAX_DATABASES: u32 = 128;

fn cores() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

impl DaemonConfig {
    /// The reference defaults for `network`. On dev, RPC, IPC (TCP) and WebSocket are on
    /// (bound to localhost) so that a bare `--daemon --network dev` is immediately usable.
    pub fn defaults(network: Network) -> DaemonConfig {
        let p = network.params();
        let dev = network == Network::Dev;
        let peers = std::env::var("NANO_DEFAULT_PEER")
            .ok()
            .or(p.default_peer_host.map(str::to_string))
            .into_iter()
            .collect();
        DaemonConfig {
            rpc: RpcHostConfig {
                enable: dev,
                enable_sign_hash: false,
                child_process: RpcChildProcess {
                    enable: false,
                    rpc_path: "nano_rpc".into(),
                },
            },
            node: NodeConfig {
                peering_port: p.default_peering_port,
                enable_voting: dev,
                preconfigured_peers: peers,
                preconfigured_representatives: p
                    .preconfigured_representatives
                    .iter()
                    .map(|k| k.encode_account())
                    .collect(),
                work_peers: vec![],
                online_weight_minimum: p.online_weight_minimum.encode_dec(),
                vote_minimum: Amount::nano(1000).unwrap_or_default().encode_dec(),
                receive_minimum: Amount::raw(10u128.pow(24)).encode_dec(),
                representative_vote_weight_minimum: Amount::nano(10)
                    .unwrap_or_default()
                    .encode_dec(),
                work_threads: cores().max(4),
                allow_local_peers: p.allow_local_peers,
                external_address: Ipv6Addr::UNSPECIFIED.to_string(),
                external_port: 0,
                bandwidth_limit: 10 * 1024 * 1024,
                bandwidth_limit_burst_ratio: 3.0,
                bootstrap_bandwidth_limit: 5 * 1024 * 1024,
                bootstrap_bandwidth_burst_ratio: 1.0,
                tcp_io_timeout: if dev { 5 } else { 15 },
                tcp_incoming_connections_max: 2048,
                max_work_generate_multiplier: 64.0,
                // No peer on live, beta or test speaks UDP since V21 (the reference
                // removed it in V25): a datagram port there is only attack surface.
                enable_udp: dev,
                capture_path: String::new(),
                representative_key: String::new(),
                bootstrap_connections: 4,
                bootstrap_connections_max: 64,
                bootstrap_ascending: BootstrapAscendingConfig {
                    enable: true,
                    channel_limit: 16,
                    max_requests: 1024,
                    max_pull_count: 128,
                    request_timeout: 5000,
                    block_processor_threshold: 8192,
                    throttle_wait: 100,
                    account_sets: AccountSetsConfig {
                        cooldown: 3000,
                        priorities_max: 262_144,
                        blocking_max: 262_144,
                    },
                },
                max_unchecked_blocks: crate::consensus::limits::UNCHECKED_MAX as u64,
                block_processor_batch_max_time: crate::consensus::limits::BLOCK_BATCH_MAX_TIME_MS,
                block_processor: BlockProcessorConfig {
                    max_peer_queue: crate::consensus::limits::BLOCK_PEER_QUEUE as u64,
                    max_system_queue: crate::consensus::limits::BLOCK_SYSTEM_QUEUE as u64,
                    max_local_queue: crate::consensus::limits::BLOCK_LOCAL_QUEUE as u64,
                    max_queue: crate::consensus::limits::BLOCK_QUEUE_GLOBAL as u64,
                    batch_size: crate::consensus::limits::BLOCK_BATCH_MAX as u64,
                    cementing_batch_size: crate::consensus::limits::CEMENT_BATCH_MAX as u64,
                },
                httpcallback: HttpCallback {
                    address: String::new(),
                    port: 0,
                    target: String::new(),
                    request_timeout: 10_000,
                    retry_max_backoff: 10_000,
                },
                websocket: WebsocketConfig {
                    enable: dev,
                    address: "::1".into(),
                    port: p.default_websocket_port,
                    connections_max: 1024,
                    header_timeout: 10,
                    idle_timeout: 0,
                },
                ipc: IpcConfig {
                    connections_max: 1024,
                    tcp: IpcTcp {
                        enable: dev,
                        port: p.default_ipc_port,
                        io_timeout: 15,
                        allow_unsafe: false,
                        idle_timeout: 300,
                    },
                    local: IpcLocal {
                        enable: false,
                        path: "/tmp/nano".into(),
                        allow_unsafe: false,
                        io_timeout: 15,
                        idle_timeout: 300,
                    },
                },
                lmdb: LmdbConfig {
                    map_size: 256 * 1024 * 1024 * 1024,
                    max_databases: LMDB_MAX_DATABASES,
                    sync: "always".into(),
                },
                confirmation_history_size: nano_ledger::DEFAULT_CONFIRMATION_HISTORY,
            },
        }
    }

    /// Defaults, then `config-node.toml` from `data_dir` if present, then `overrides`.
    pub fn load(
        network: Network,
        data_dir: &Path,
        overrides: &[String],
    ) -> Result<DaemonConfig, ConfigError> {
        let path = data_dir.join("config-node.toml");
        let file = match std::fs::read_to_string(&path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::from_sources(network, file.as_deref(), overrides)
    }

    /// Builds the config from an optional file text and override lines.
    pub fn from_sources(
        network: Network,
        file: Option<&str>,
        overrides: &[String],
    ) -> Result<DaemonConfig, ConfigError> {
        let defaults = Self::defaults(network);
        let merged = merge_sources(&defaults, file, "config-node.toml", overrides)?;
        let cfg: DaemonConfig = merged
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let n = &self.node;
        for (name, v) in [
            ("node.online_weight_minimum", &n.online_weight_minimum),
            ("node.vote_minimum", &n.vote_minimum),
            ("node.receive_minimum", &n.receive_minimum),
            (
                "node.representative_vote_weight_minimum",
                &n.representative_vote_weight_minimum,
            ),
        ] {
            Amount::decode_dec(v).map_err(|e| ConfigError::Invalid(format!("{name}: {e}")))?;
        }
        if n.confirmation_history_size == 0 {
            return Err(ConfigError::Invalid(
                "node.confirmation_history_size must be >= 1".into(),
            ));
        }
        if n.httpcallback.request_timeout == 0 || n.httpcallback.retry_max_backoff == 0 {
            return Err(ConfigError::Invalid(
                "node.httpcallback.request_timeout and retry_max_backoff must be >= 1 ms".into(),
            ));
        }
        for (name, v) in [
            (
                "node.websocket.connections_max",
                u64::from(n.websocket.connections_max),
            ),
            ("node.websocket.header_timeout", n.websocket.header_timeout),
            ("node.ipc.connections_max", u64::from(n.ipc.connections_max)),
            ("node.ipc.tcp.idle_timeout", n.ipc.tcp.idle_timeout),
            ("node.ipc.local.idle_timeout", n.ipc.local.idle_timeout),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        for (name, v) in [
            (
                "node.bandwidth_limit_burst_ratio",
                n.bandwidth_limit_burst_ratio,
            ),
            (
                "node.bootstrap_bandwidth_burst_ratio",
                n.bootstrap_bandwidth_burst_ratio,
            ),
        ] {
            // The reference reads a bucket of 0 bytes as "unlimited": a ratio of 0 would
            // lift the limit it seems to tighten, so it is refused.
            if !v.is_finite() || v <= 0.0 {
                return Err(ConfigError::Invalid(format!(
                    "{name} must be a number above 0"
                )));
            }
        }
        // Bounds of sync's memory: 0 would stop the structure they bound (no block
        // queued, no account pulled) rather than lift the bound, so it is refused.
        let b = &n.block_processor;
        let sets = &n.bootstrap_ascending.account_sets;
        for (name, v) in [
            ("node.max_unchecked_blocks", n.max_unchecked_blocks),
            (
                "node.block_processor_batch_max_time",
                n.block_processor_batch_max_time,
            ),
            ("node.block_processor.max_peer_queue", b.max_peer_queue),
            ("node.block_processor.max_system_queue", b.max_system_queue),
            ("node.block_processor.max_local_queue", b.max_local_queue),
            ("node.block_processor.max_queue", b.max_queue),
            ("node.block_processor.batch_size", b.batch_size),
            (
                "node.block_processor.cementing_batch_size",
                b.cementing_batch_size,
            ),
            (
                "node.bootstrap_ascending.account_sets.priorities_max",
                sets.priorities_max,
            ),
            (
                "node.bootstrap_ascending.account_sets.blocking_max",
                sets.blocking_max,
            ),
        ] {
            if v == 0 || usize::try_from(v).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "{name} = {v} is not a bound (at least 1, at most the address space)"
                )));
            }
        }
        if n.max_work_generate_multiplier < 1.0 {
            return Err(ConfigError::Invalid(
                "node.max_work_generate_multiplier must be >= 1".into(),
            ));
        }
        // The store opens a fixed set of named databases under its own limit (enough for
        // every table and an upgrade's old one); another value would be silently ignored.
        if n.lmdb.max_databases != LMDB_MAX_DATABASES {
            return Err(ConfigError::Invalid(format!(
                "node.lmdb.max_databases = {} is not supported: this node's ledger has a \
                 fixed set of tables and sets LMDB's limit itself (remove the key)",
                n.lmdb.max_databases
            )));
        }
        if nano_store::LmdbSync::from_name(&n.lmdb.sync).is_none() {
            return Err(ConfigError::Invalid(format!(
                "node.lmdb.sync = \"{}\" is not a sync mode (always, nosync_safe, \
                 nosync_unsafe or nosync_unsafe_large_memory)",
                n.lmdb.sync
            )));
        }
        if usize::try_from(n.lmdb.map_size).is_err() || n.lmdb.map_size == 0 {
            return Err(ConfigError::Invalid(format!(
                "node.lmdb.map_size = {} does not fit this system's address space",
                n.lmdb.map_size
            )));
        }
        if n.preconfigured_representatives.is_empty() {
            return Err(ConfigError::Invalid(
                "node.preconfigured_representatives must not be empty".into(),
            ));
        }
        for r in &n.preconfigured_representatives {
            nano_core::PublicKey::decode_account(r).map_err(|e| {
                ConfigError::Invalid(format!("node.preconfigured_representatives {r:?}: {e}"))
            })?;
        }
        if !n.representative_key.is_empty() {
            nano_core::RawKey::decode_hex(&n.representative_key)
                .map_err(|e| ConfigError::Invalid(format!("node.representative_key: {e}")))?;
        }
        Ok(())
    }

    pub fn amount(s: &str) -> Amount {
        Amount::decode_dec(s).unwrap_or_default()
    }
}

/// Merges defaults ← file ← overrides on TOML trees; shared by the node and RPC configs.
pub fn merge_sources<T: Serialize>(
    defaults: &T,
    file: Option<&str>,
    origin: &str,
    overrides: &[String],
) -> Result<toml::Value, ConfigError> {
    let mut base = toml::Value::try_from(defaults)
        .map_err(|e| ConfigError::Invalid(format!("defaults: {e}")))?;
    if let Some(text) = file {
        let v: toml::Value = toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: origin.to_string(),
            message: e.message().to_string(),
        })?;
        for key in unknown_keys(&base, &v) {
            tracing::warn!("{origin}: unknown key {key} is not used by this node");
        }
        merge(&mut base, v);
    }
    for o in overrides {
        if !o.contains('=') {
            return Err(ConfigError::Override(o.clone()));
        }
        let v: toml::Value = toml::from_str(o).map_err(|e| ConfigError::Parse {
            origin: format!("override {o:?}"),
            message: e.message().to_string(),
        })?;
        for key in unknown_keys(&base, &v) {
            tracing::warn!("override {o:?}: unknown key {key} is not used by this node");
        }
        merge(&mut base, v);
    }
    Ok(base)
}

/// Dotted paths of the keys in `given` that `known` (the defaults, which list every key
/// this node reads) does not have: settings that would otherwise be silently ignored.
pub fn unknown_keys(known: &toml::Value, given: &toml::Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_unknown(known, given, "", &mut out);
    out
}

fn collect_unknown(known: &toml::Value, given: &toml::Value, prefix: &str, out: &mut Vec<String>) {
    let (toml::Value::Table(k), toml::Value::Table(g)) = (known, given) else {
        return;
    };
    for (name, v) in g {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match k.get(name) {
            None => out.push(path),
            Some(kv) => collect_unknown(kv, v, &path, out),
        }
    }
}

fn merge(base: &mut toml::Value, over: toml::Value) {
    match (base, over) {
        (toml::Value::Table(b), toml::Value::Table(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(existing) if existing.is_table() && v.is_table() => merge(existing, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Documentation of each key, printed as comments by `--generate_config`.
const DOCS: &[(&str, &str)] = &[
    ("rpc.enable", "Enable or disable RPC.\ntype:bool"),
    (
        "rpc.enable_sign_hash",
        "Allow or disallow signing of hashes.\ntype:bool",
    ),
    (
        "rpc.child_process.enable",
        "Enable or disable RPC child process. If false, an in-process RPC server is used.\ntype:bool",
    ),
    (
        "rpc.child_process.rpc_path",
        "Path to the nano_rpc executable. Must be set if child process is enabled.\ntype:string,path",
    ),
    ("node.peering_port", "Node peering port.\ntype:uint16"),
    ("node.enable_voting", "Enable or disable voting. Enabling this option requires additional system resources, namely increased CPU, bandwidth and disk usage.\ntype:bool"),
    ("node.preconfigured_peers", "A list of \"address\" (hostname or ipv6 notation ip address) entries to identify preconfigured peers.\nThe contents of the NANO_DEFAULT_PEER environment variable are added to preconfigured_peers."),
    ("node.preconfigured_representatives", "A list of representative account addresses used when creating new accounts in internal wallets."),
    ("node.work_peers", "A list of \"address:port\" entries to identify work peers."),
    ("node.online_weight_minimum", "When calculating online weight, the node is forced to assume at least this much voting weight is online, thus setting a floor for voting weight to confirm transactions at online_weight_minimum * \"quorum delta\".\ntype:string,amount,raw"),
    ("node.vote_minimum", "Local representatives do not vote if the delegated weight is under this threshold. Saves on system resources.\ntype:string,amount,raw"),
    ("node.receive_minimum", "Minimum receive amount. Only affects node wallets. A large amount is recommended to avoid automatic work generation for tiny transactions.\ntype:string,amount,raw"),
    ("node.representative_vote_weight_minimum", "Minimum weight a representative must have for its votes to be counted.\ntype:string,amount,raw"),
    ("node.work_threads", "Number of threads dedicated to CPU generated work. Defaults to all available CPU threads.\ntype:uint64"),
    ("node.allow_local_peers", "Enable or disable local host peering.\ntype:bool"),
    ("node.external_address", "The external address of this node (NAT). If not set, the node will request this information via UPnP.\ntype:string,ip"),
    ("node.external_port", "The external port number of this node (NAT). Only used if external_address is set.\ntype:uint16"),
    ("node.bandwidth_limit", "Outbound traffic limit in bytes/sec after which messages will be dropped.\nNote: changing to unlimited bandwidth (0) is not recommended for limited connections.\ntype:uint64"),
    ("node.bandwidth_limit_burst_ratio", "Burst ratio for outbound traffic shaping.\ntype:double"),
    ("node.bootstrap_bandwidth_limit", "Outbound bootstrap traffic limit in bytes/sec. Over it, messages on TCP channels wait for the budget (at most what it sends in 100 ms, half of that per channel) and beyond that are dropped; other messages are dropped.\nNote: changing to unlimited bandwidth (0) is not recommended for limited connections.\ntype:uint64"),
    ("node.bootstrap_bandwidth_burst_ratio", "Burst ratio for outbound bootstrap traffic.\ntype:double"),
    ("node.tcp_io_timeout", "Timeout for TCP connect-, read- and write operations.\nWarning: a low value (e.g., below 5 seconds) may result in TCP connections failing.\ntype:seconds"),
    ("node.tcp_incoming_connections_max", "Maximum number of incoming TCP connections, counted from accept (before the handshake) and including bootstrap connections.\nEach address may also hold at most the network's max_peers_per_ip connections (4 on live and test, 256 on beta and dev), each subnetwork (/24 IPv4, /64 IPv6) max_peers_per_subnetwork (16 on live and test, 256 elsewhere).\nA connection that sends no handshake or bootstrap request within tcp_io_timeout (at most 30 s) is closed.\ntype:uint64"),
    ("node.max_work_generate_multiplier", "Maximum allowed difficulty multiplier for work generation.\ntype:double,[1..]"),
    ("node.enable_udp", "Also exchange realtime messages (keepalive, publish, confirm_req, confirm_ack) as UDP datagrams on the peering port (a project extension).\nOff by default on live, beta and test, where no peer has spoken UDP since V21; on by default on dev.\nUDP channels obey the same per-IP and per-subnetwork caps as TCP channels, and tcp_incoming_connections_max caps their total.\ntype:bool"),
    ("node.capture_path", "Write every message this node sends and receives to this pcap file (empty: off); readable by nanocap.\ntype:string,path"),
    ("node.representative_key", "A representative private key (hex) the node votes with in addition to wallet keys (empty: none).\ntype:string,hex"),
    ("node.bootstrap_connections", "Number of outbound legacy bootstrap connections.\ntype:uint64"),
    ("node.bootstrap_connections_max", "Maximum number of inbound bootstrap connections.\ntype:uint64"),
    ("node.bootstrap_ascending.enable", "Enable ascending bootstrap (the main sync strategy); false selects legacy bootstrap.\ntype:bool"),
    ("node.bootstrap_ascending.channel_limit", "Maximum number of un-responded requests per channel.\ntype:uint64"),
    ("node.bootstrap_ascending.max_requests", "Maximum number of requests in flight.\ntype:uint64"),
    ("node.bootstrap_ascending.max_pull_count", "Number of blocks requested per pull (1..128).\ntype:uint64"),
    ("node.bootstrap_ascending.request_timeout", "Timeout in milliseconds for an unanswered request: the longest one is waited for. A request is presumed lost sooner, after a few of its channel's round trips (at least 200 ms), since a peer over its bandwidth limit drops answers without a word.\ntype:milliseconds"),
    ("node.bootstrap_ascending.block_processor_threshold", "Pause requests while the block processor holds more than this many bootstrap blocks.\ntype:uint64"),
    ("node.bootstrap_ascending.throttle_wait", "Milliseconds to wait while the block processor holds more than block_processor_threshold bootstrap blocks.\ntype:milliseconds"),
    ("node.bootstrap_ascending.account_sets.cooldown", "Milliseconds before the same missing dependency is asked for again.\ntype:milliseconds"),
    ("node.bootstrap_ascending.account_sets.priorities_max", "Maximum number of accounts queued to be pulled; the frontier scan pauses while the queue is full.\nWith blocking_max it also bounds what the client remembers per account (pull targets, retries, last block received).\ntype:uint64,[1..]"),
    ("node.bootstrap_ascending.account_sets.blocking_max", "Maximum number of accounts waiting for a missing dependency; beyond it such an account is pulled again later instead.\ntype:uint64,[1..]"),
    ("node.max_unchecked_blocks", "Maximum number of blocks kept in memory waiting for a missing dependency (the oldest is dropped beyond it).\ntype:uint64,[1..]"),
    ("node.block_processor_batch_max_time", "Longest time in milliseconds the block processor holds one write transaction.\ntype:milliseconds,[1..]"),
    ("node.block_processor.max_peer_queue", "Maximum number of blocks to queue from each network peer.\ntype:uint64,[1..]"),
    ("node.block_processor.max_system_queue", "Maximum number of blocks to queue from bootstrap.\ntype:uint64,[1..]"),
    ("node.block_processor.max_local_queue", "Maximum number of blocks to queue from this node's own components (RPC process, wallets); further submissions are answered as overloaded (an extension).\ntype:uint64,[1..]"),
    ("node.block_processor.max_queue", "Maximum number of blocks queued from all sources together (an extension).\ntype:uint64,[1..]"),
    ("node.block_processor.batch_size", "Most blocks written in one write transaction. Larger batches sync faster on slow disks; the ledger file keeps about two batches of rewritten pages free, and LMDB keeps the largest batch's dirty pages in memory, so while the ledger file is small fewer are taken (one block per 256 of its pages, at least 64).\ntype:uint64,[1..]"),
    ("node.block_processor.cementing_batch_size", "Most blocks cemented in one write transaction (an extension): a long unconfirmed chain is cemented over as many transactions as it takes.\ntype:uint64,[1..]"),
    ("node.httpcallback.address", "Callback address.\ntype:string,ip"),
    ("node.httpcallback.port", "Callback port number.\ntype:uint16"),
    ("node.httpcallback.target", "Callback target path.\ntype:string,uri"),
    ("node.httpcallback.request_timeout", "Milliseconds one callback POST may take before it counts as failed and is retried (confirmations are delivered in sequence order, at least once).\ntype:milliseconds"),
    ("node.httpcallback.retry_max_backoff", "Longest wait in milliseconds between retries of a failing callback POST (the wait doubles from 100 ms up to this).\ntype:milliseconds"),
    ("node.websocket.enable", "Enable or disable WebSocket server.\ntype:bool"),
    ("node.websocket.address", "WebSocket server bind address.\ntype:string,ip"),
    ("node.websocket.port", "WebSocket server listening port.\ntype:uint16"),
    ("node.websocket.connections_max", "Maximum number of open WebSocket connections (sessions and upgrades in progress); further connections are closed at once.\ntype:uint32,[1..]"),
    ("node.websocket.header_timeout", "Seconds a client has to send the upgrade request's headers.\ntype:seconds,[1..]"),
    ("node.websocket.idle_timeout", "Seconds without any byte received or sent after which a connection is closed; 0 disables it (a subscriber may legitimately hear nothing for hours; connections_max bounds idle sessions).\ntype:seconds"),
    ("node.ipc.connections_max", "Maximum number of open IPC sessions (TCP and local socket together); further connections are closed at once.\ntype:uint32,[1..]"),
    ("node.ipc.tcp.enable", "Enable or disable IPC via TCP server.\ntype:bool"),
    ("node.ipc.tcp.port", "Server listening port.\ntype:uint16"),
    ("node.ipc.tcp.io_timeout", "Timeout for requests: a request (preamble, length and payload) must arrive within this time of its first byte, and its answer be taken within it.\ntype:seconds"),
    ("node.ipc.tcp.idle_timeout", "Seconds a session may wait for its next request before it is closed (sessions that listen to events excepted).\ntype:seconds,[1..]"),
    ("node.ipc.tcp.allow_unsafe", "If enabled, certain unsafe RPCs can be used. Not recommended for production systems.\ntype:bool"),
    ("node.ipc.local.enable", "Enable or disable IPC via local domain socket.\ntype:bool"),
    ("node.ipc.local.path", "Path to the local domain socket.\ntype:string"),
    ("node.ipc.local.allow_unsafe", "If enabled, certain unsafe RPCs can be used. Not recommended for production systems.\ntype:bool"),
    ("node.ipc.local.io_timeout", "Timeout for requests: a request (preamble, length and payload) must arrive within this time of its first byte, and its answer be taken within it.\ntype:seconds"),
    ("node.ipc.local.idle_timeout", "Seconds a session may wait for its next request before it is closed (sessions that listen to events excepted).\ntype:seconds,[1..]"),
    ("node.confirmation_history_size", "Confirmations kept in the confirmation log for replay (WebSocket from_sequence, RPC confirmation_history_since, the HTTP callback's cursor); older ones are deleted as new ones are cemented.\ntype:uint64,[1..]"),
    ("node.lmdb.map_size", "Maximum ledger database map size in bytes.\ntype:uint64"),
    ("node.lmdb.max_databases", "Maximum open lmdb databases. Increase default if more than 100 wallets is required.\ntype:uint32"),
    ("node.lmdb.sync", "Sync mode: always, nosync_safe, nosync_unsafe, nosync_unsafe_large_memory.\ntype:string"),
];

/// Renders a documented TOML file: every key with its comment, values commented out
/// unless `use_defaults`, in the reference node's style.
pub fn render_documented<T: Serialize>(
    value: &T,
    docs: &[(&str, &str)],
    use_defaults: bool,
) -> String {
    render_documented_with(value, docs, &|_| !use_defaults)
}

/// As [`render_documented`], with `commented(key path)` choosing for each key (such as
/// `node.ipc.tcp.port`) whether its value is commented out.
pub fn render_documented_with<T: Serialize>(
    value: &T,
    docs: &[(&str, &str)],
    commented: &dyn Fn(&str) -> bool,
) -> String {
    let tree = toml::Value::try_from(value).unwrap_or(toml::Value::Table(Default::default()));
    let mut out = String::new();
    render_table(&tree, "", docs, commented, &mut out);
    out
}

fn render_table(
    v: &toml::Value,
    prefix: &str,
    docs: &[(&str, &str)],
    commented: &dyn Fn(&str) -> bool,
    out: &mut String,
) {
    let Some(table) = v.as_table() else { return };
    let mut subtables = Vec::new();
    let mut wrote_header = false;
    for (k, val) in table {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if val.is_table() {
            subtables.push((path, val));
            continue;
        }
        if !wrote_header && !prefix.is_empty() {
            out.push_str(&format!("[{prefix}]\n\n"));
            wrote_header = true;
        }
        if let Some((_, doc)) = docs.iter().find(|(p, _)| *p == path) {
            for line in doc.lines() {
                out.push_str(&format!("# {line}\n"));
            }
        }
        let comment = if commented(&path) { "#" } else { "" };
        out.push_str(&format!("{comment}{k} = {val}\n\n"));
    }
    for (path, val) in subtables {
        render_table(val, &path, docs, commented, out);
    }
}

/// `--generate_config node` output.
pub fn generate_node_config(network: Network, use_defaults: bool) -> String {
    render_documented(&DaemonConfig::defaults(network), DOCS, use_defaults)
}

/// `config` as a documented config-node.toml (`--update_config`): `commented(key path)`
/// chooses which values are written commented out.
pub fn render_node_config(config: &DaemonConfig, commented: &dyn Fn(&str) -> bool) -> String {
    render_documented_with(config, DOCS, commented)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_defaults() {
        let live = DaemonConfig::defaults(Network::Live);
        assert_eq!(live.node.peering_port, 7075);
        assert!(!live.node.allow_local_peers);
        assert!(!live.rpc.enable);
        assert_eq!(live.node.preconfigured_representatives.len(), 8);
        let dev = DaemonConfig::defaults(Network::Dev);
        assert_eq!(dev.node.peering_port, 44000);
        assert_eq!(dev.node.websocket.port, 47000);
        assert!(dev.rpc.enable && dev.node.websocket.enable && dev.node.ipc.tcp.enable);
        assert_eq!(dev.node.websocket.address, "::1");
    }

    #[test]
    fn file_then_overrides_win() {
        let file =
            "[node]\npeering_port = 1234\nenable_voting = true\n[node.websocket]\nport = 9\n";
        let cfg = DaemonConfig::from_sources(
            Network::Live,
            Some(file),
            &["node.peering_port=4321".into(), "rpc.enable=true".into()],
        )
        .unwrap();
        assert_eq!(cfg.node.peering_port, 4321);
        assert!(cfg.node.enable_voting);
        assert_eq!(cfg.node.websocket.port, 9);
        assert!(cfg.rpc.enable);
        // Keys not mentioned keep their defaults.
        assert_eq!(cfg.node.websocket.address, "::1");
    }

    #[test]
    fn bad_values_name_the_problem() {
        let e =
            DaemonConfig::from_sources(Network::Live, Some("[node]\npeering_port = \"x\""), &[])
                .unwrap_err()
                .to_string();
        assert!(e.contains("peering_port") || e.contains("invalid"), "{e}");
        let e = DaemonConfig::from_sources(Network::Live, Some("[node"), &[]).unwrap_err();
        assert!(matches!(e, ConfigError::Parse { .. }));
        let e = DaemonConfig::from_sources(Network::Live, None, &["nokey".into()]).unwrap_err();
        assert!(matches!(e, ConfigError::Override(_)));
        let e = DaemonConfig::from_sources(
            Network::Live,
            None,
            &["node.receive_minimum=\"12x\"".into()],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("receive_minimum"), "{e}");
        // Unknown keys do not stop the node (they are reported; see below).
        assert!(
            DaemonConfig::from_sources(Network::Live, Some("[node]\nno_such_key = 1"), &[]).is_ok()
        );
        // A setting this node cannot honour is refused, naming the key.
        let e = DaemonConfig::from_sources(
            Network::Live,
            Some("[node.lmdb]\nmax_databases = 200"),
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("node.lmdb.max_databases"), "{e}");
        let e =
            DaemonConfig::from_sources(Network::Live, Some("[node.lmdb]\nsync = \"nosync\""), &[])
                .unwrap_err()
                .to_string();
        assert!(
            e.contains("node.lmdb.sync") && e.contains("nosync_safe"),
            "{e}"
        );
        let e = DaemonConfig::from_sources(Network::Live, None, &["node.lmdb.map_size=0".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("node.lmdb.map_size"), "{e}");
        // Every reference sync mode is accepted and reaches the store options.
        for (name, mode) in [
            ("always", nano_store::LmdbSync::Always),
            ("nosync_safe", nano_store::LmdbSync::NosyncSafe),
            ("nosync_unsafe", nano_store::LmdbSync::NosyncUnsafe),
            (
                "nosync_unsafe_large_memory",
                nano_store::LmdbSync::NosyncUnsafeLargeMemory,
            ),
        ] {
            let c = DaemonConfig::from_sources(
                Network::Live,
                Some(&format!(
                    "[node.lmdb]\nsync = \"{name}\"\nmap_size = 1073741824"
                )),
                &[],
            )
            .unwrap();
            let o = c.node.lmdb.store_options();
            assert_eq!(o.sync, mode);
            assert_eq!(o.map_size, 1 << 30);
        }
        for key in [
            "bandwidth_limit_burst_ratio",
            "bootstrap_bandwidth_burst_ratio",
        ] {
            let e = DaemonConfig::from_sources(
                Network::Live,
                Some(&format!("[node]\n{key} = 0.0")),
                &[],
            )
            .unwrap_err()
            .to_string();
            assert!(e.contains(&format!("node.{key}")), "{e}");
        }
        let cfg = DaemonConfig::from_sources(
            Network::Live,
            Some("[node]\nbootstrap_bandwidth_limit = 1000\nbootstrap_bandwidth_burst_ratio = 2.5"),
            &["node.bandwidth_limit_burst_ratio=1.5".into()],
        )
        .unwrap();
        assert_eq!(cfg.node.bootstrap_bandwidth_limit, 1000);
        assert_eq!(cfg.node.bootstrap_bandwidth_burst_ratio, 2.5);
        assert_eq!(cfg.node.bandwidth_limit_burst_ratio, 1.5);
        let live = DaemonConfig::defaults(Network::Live).node;
        assert_eq!(
            (
                live.bandwidth_limit,
                live.bandwidth_limit_burst_ratio,
                live.bootstrap_bandwidth_limit,
                live.bootstrap_bandwidth_burst_ratio
            ),
            (10_485_760, 3.0, 5_242_880, 1.0),
            "the reference's defaults"
        );
        assert!(DaemonConfig::from_sources(
            Network::Live,
            Some("[node.lmdb]\nmax_databases = 128"),
            &[]
        )
        .is_ok());
    }

    /// The bounds of sync's memory are config keys, honoured by the block processor
    /// and the ascending client, and a 0 (which would stop what it bounds) is refused.
    #[test]
    fn sync_memory_bounds_reach_the_node() {
        let file = "[node]\nmax_unchecked_blocks = 100\nblock_processor_batch_max_time = 50\n\
                    [node.block_processor]\nmax_peer_queue = 7\nmax_system_queue = 9\n\
                    max_local_queue = 11\nmax_queue = 13\nbatch_size = 17\n\
                    cementing_batch_size = 19\n\
                    [node.bootstrap_ascending]\nthrottle_wait = 23\n\
                    [node.bootstrap_ascending.account_sets]\ncooldown = 29\n\
                    priorities_max = 31\nblocking_max = 37\n";
        let cfg = DaemonConfig::from_sources(Network::Dev, Some(file), &[]).unwrap();
        let c = crate::consensus::ConsensusConfig::from_node_config(&cfg.node, Network::Dev);
        assert_eq!(
            (
                c.unchecked_max,
                c.batch_max_time,
                c.peer_queue_max,
                c.system_queue_max,
                c.local_queue_max,
                c.queue_max,
                c.batch_max,
                c.cement_batch_max
            ),
            (
                100,
                std::time::Duration::from_millis(50),
                7,
                9,
                11,
                13,
                17,
                19
            )
        );
        let b = crate::bootstrap::BootstrapConfig::from_node_config(&cfg.node, Network::Dev);
        assert_eq!(b.throttle_wait, std::time::Duration::from_millis(23));
        assert_eq!(b.cooldown, std::time::Duration::from_millis(29));
        assert_eq!((b.priorities_max, b.blocking_max), (31, 37));
        // Defaults: the named constants.
        let d = DaemonConfig::defaults(Network::Live);
        let c = crate::consensus::ConsensusConfig::from_node_config(&d.node, Network::Live);
        assert_eq!(
            c.system_queue_max,
            crate::consensus::limits::BLOCK_SYSTEM_QUEUE
        );
        assert_eq!(c.batch_max, crate::consensus::limits::BLOCK_BATCH_MAX);
        for key in [
            "node.max_unchecked_blocks",
            "node.block_processor.max_system_queue",
            "node.block_processor.cementing_batch_size",
            "node.bootstrap_ascending.account_sets.priorities_max",
        ] {
            let e = DaemonConfig::from_sources(Network::Dev, None, &[format!("{key}=0")])
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn unknown_keys_are_listed_with_their_path() {
        let known = toml::Value::try_from(DaemonConfig::defaults(Network::Live)).unwrap();
        let given: toml::Value = toml::from_str(
            "[node]\npeering_port = 1\nno_such_key = 1\n[node.websocket]\nprt = 2\n\
             [opencl]\nenable = false\n",
        )
        .unwrap();
        assert_eq!(
            unknown_keys(&known, &given),
            ["node.no_such_key", "node.websocket.prt", "opencl"]
        );
        let text = generate_node_config(Network::Live, true);
        assert!(unknown_keys(&known, &toml::from_str(&text).unwrap()).is_empty());
    }

    #[test]
    fn generated_file_parses_back_to_defaults() {
        for n in Network::ALL {
            let text = generate_node_config(n, true);
            let cfg = DaemonConfig::from_sources(n, Some(&text), &[]).unwrap();
            assert_eq!(cfg, DaemonConfig::defaults(n));
            let commented = generate_node_config(n, false);
            assert!(commented.contains("#peering_port = "));
            assert!(commented.contains("# Node peering port."));
            assert!(commented.contains("[node.websocket]"));
        }
    }
}
