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

pub struct ApiContext {
    pub network: Network,
    pub params: &'static NetworkParams,
    pub enable_sign_hash: bool,
    pub work_threads: usize,
    pub max_work_generate_multiplier: f64,
    pub started: Instant,
    pub stats: Arc<Stats>,
    /// Notified by the `stop` action; the daemon waits on it to shut down cleanly.
    pub stop: Arc<Notify>,
    /// Cancel flags of work being generated, by root, for `work_cancel`.
    pub work_in_progress: Mutex<HashMap<Root, Arc<AtomicBool>>>,
    /// The ledger, when this API serves a running node (absent for a bare utility
    /// server); ledger actions answer a clear error without it.
    pub ledger: Option<Arc<Ledger>>,
    /// The node's wallets (`wallets.ldb`), for the wallet actions.
    pub wallets: Option<Arc<Wallets>>,
    /// Node-wide receive minimum (raw) for `receive_minimum(_set)` and auto-receive.
    pub receive_minimum: Mutex<nano_core::Amount>,
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
            stop: Arc::new(Notify::new()),
            work_in_progress: Mutex::new(HashMap::new()),
            ledger: None,
            wallets: None,
            receive_minimum: Mutex::new(nano_core::Amount::raw(10u128.pow(24))),
        }
    }
}

impl ApiContext {
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

/// Where a request came from decides what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// `enable_control` of the front door (config-rpc.toml for HTTP).
    pub control: bool,
    /// Unsafe actions (`wallet_seed`): only the unsafe IPC encoding on an allow_unsafe
    /// transport, or the dev network.
    pub allow_unsafe: bool,
}
