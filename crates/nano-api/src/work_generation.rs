//! Every proof-of-work the API layer computes goes through here: RPC `work_generate`,
//! `block_create` and the wallet's sends, receives and precomputed work. This module owns
//! the choice of workers (the local CPU when `work_threads > 0`, the work peers when
//! asked), the cancel flag `work_cancel` sets, and the WebSocket `work` topic event each
//! generation publishes when it ends.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_core::work::{to_multiplier, work_value};
use nano_core::Root;
use nano_node::events::NodeEvent;
use serde_json::{json, Value};

use crate::context::ApiContext;
use crate::error::{msg, RpcError};
use crate::work_peers::Outcome;

/// How long a work peer may take to answer before it counts as a bad peer.
const PEER_TIMEOUT: Duration = Duration::from_secs(60);

/// Which workers a generation may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workers {
    /// The local CPU only (`work_generate` without `use_peers`).
    LocalOnly,
    /// The local CPU and the node's work peers (`node.work_peers`, `work_peer_add`):
    /// wallet blocks, and `work_generate` with `use_peers`.
    WithPeers,
}

/// Why no work came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkError {
    /// No worker may run: `work_threads = 0` and (for [`Workers::WithPeers`]) no peers.
    Disabled(Workers),
    Cancelled,
    Failed,
}

impl WorkError {
    /// The reference's error texts.
    pub fn to_rpc(&self) -> RpcError {
        RpcError::new(match self {
            WorkError::Disabled(Workers::LocalOnly) => "Local work generation is disabled",
            WorkError::Disabled(Workers::WithPeers) => "Work generation is disabled",
            WorkError::Cancelled => "Cancelled",
            WorkError::Failed => msg::WORK_FAILURE,
        })
    }
}

/// What a generation needs from the context, owned so a background generation
/// (precomputed wallet work) can take it to another thread.
#[derive(Clone)]
pub struct WorkEnv {
    threads: usize,
    peers: Vec<(String, u16)>,
    events: Option<nano_node::events::EventBus>,
    base: u64,
    workers: Workers,
}

impl WorkEnv {
    pub fn new(ctx: &ApiContext, workers: Workers) -> WorkEnv {
        let peers = match workers {
            Workers::LocalOnly => Vec::new(),
            Workers::WithPeers => ctx.work_peers.lock().map(|p| p.clone()).unwrap_or_default(),
        };
        WorkEnv {
            threads: ctx.work_threads,
            peers,
            events: ctx.events.clone(),
            base: ctx.params.work.base,
            workers,
        }
    }

    /// Generates work for `root` at `difficulty` until found or `cancel` is set, and
    /// publishes the outcome on the node's event bus.
    pub fn generate(
        &self,
        root: Root,
        difficulty: u64,
        cancel: Arc<AtomicBool>,
    ) -> Result<u64, WorkError> {
        if self.threads == 0 && self.peers.is_empty() {
            return Err(WorkError::Disabled(self.workers));
        }
        let started = Instant::now();
        let g = crate::work_peers::generate(
            root,
            difficulty,
            self.threads,
            &self.peers,
            cancel,
            PEER_TIMEOUT,
        );
        if let Some(bus) = &self.events {
            bus.publish(NodeEvent::Work {
                message: message(root, difficulty, self.base, started.elapsed(), &g),
            });
        }
        match g.outcome {
            Outcome::Found { work, .. } => Ok(work),
            Outcome::Cancelled => Err(WorkError::Cancelled),
            Outcome::Failed => Err(WorkError::Failed),
        }
    }
}

/// Generates work for `root` at `difficulty` with a cancel flag registered for
/// `work_cancel`.
pub fn generate(
    ctx: &ApiContext,
    root: Root,
    difficulty: u64,
    workers: Workers,
) -> Result<u64, WorkError> {
    let env = WorkEnv::new(ctx, workers);
    if env.threads == 0 && env.peers.is_empty() {
        return Err(WorkError::Disabled(workers));
    }
    let cancel = Arc::new(AtomicBool::new(false));
    if let Ok(mut m) = ctx.work_in_progress.lock() {
        m.insert(root, cancel.clone());
    }
    let result = env.generate(root, difficulty, cancel.clone());
    if let Ok(mut m) = ctx.work_in_progress.lock() {
        if m.get(&root).is_some_and(|c| Arc::ptr_eq(c, &cancel)) {
            m.remove(&root);
        }
    }
    result
}

/// The multiplier as the reference prints it in work answers.
pub fn multiplier_text(difficulty: u64, base: u64) -> String {
    format!("{:.15}", to_multiplier(difficulty, base))
}

/// The WebSocket `work` message: success, reason, duration (ms), the request, the result
/// (only on success) and the peers that failed.
fn message(
    root: Root,
    difficulty: u64,
    base: u64,
    duration: Duration,
    g: &crate::work_peers::Generated,
) -> Value {
    let (success, reason) = match &g.outcome {
        Outcome::Found { .. } => ("true", ""),
        Outcome::Cancelled => ("false", "cancelled"),
        Outcome::Failed => ("false", "failure"),
    };
    let mut m = json!({
        "success": success,
        "reason": reason,
        "duration": duration.as_millis().to_string(),
        "request": {
            "version": "work_1",
            "hash": root.encode_hex(),
            "difficulty": format!("{difficulty:016x}"),
            "multiplier": multiplier_text(difficulty, base),
        },
    });
    if let Outcome::Found { work, source } = &g.outcome {
        let value = work_value(&root, *work);
        m["result"] = json!({
            "source": source,
            "work": format!("{work:016x}"),
            "difficulty": format!("{value:016x}"),
            "multiplier": multiplier_text(value, base),
        });
    }
    m["bad_peers"] = Value::Array(g.bad_peers.iter().cloned().map(Value::from).collect());
    m
}
