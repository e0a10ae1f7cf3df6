//! The node's event bus: what happened (block confirmed, vote received, election started
//! or stopped, telemetry, bootstrap progress, work) published for whoever listens. The API
//! layer (WebSocket, HTTP callback) subscribes; the node never imports it.

use std::sync::Arc;

use nano_ledger::{BlockInfo, BlockSubtype, ConfirmationOrigin};
use serde_json::Value;
use tokio::sync::broadcast;

/// How a block came to be confirmed, as the WebSocket `confirmation_type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmationType {
    ActiveQuorum,
    ActiveConfirmationHeight,
    Inactive,
}

impl ConfirmationType {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfirmationType::ActiveQuorum => "active_quorum",
            ConfirmationType::ActiveConfirmationHeight => "active_confirmation_height",
            ConfirmationType::Inactive => "inactive",
        }
    }

    /// The type a confirmation log row is reported with: the block cementing was asked
    /// for is confirmed by quorum; what was cemented under it, and a re-notification of
    /// a cemented block (`block_confirm`, as the reference sends it), by confirmation
    /// height.
    pub fn of_origin(origin: ConfirmationOrigin) -> ConfirmationType {
        match origin {
            ConfirmationOrigin::Elected => ConfirmationType::ActiveQuorum,
            ConfirmationOrigin::Dependency | ConfirmationOrigin::Renotified => {
                ConfirmationType::ActiveConfirmationHeight
            }
        }
    }
}

/// Block JSON with `subtype` for state blocks, as notifications carry it.
pub fn block_json(block: &nano_core::Block, subtype: BlockSubtype) -> Value {
    let mut v = block.to_json();
    if block.is_state() {
        if let Some(m) = v.as_object_mut() {
            m.insert("subtype".into(), subtype.as_str().into());
        }
    }
    v
}

/// One event. Payloads that the API forwards verbatim are carried as JSON already shaped
/// like the reference node's messages, so subscribers do not re-derive them.
#[derive(Debug, Clone)]
pub enum NodeEvent {
    BlockConfirmed {
        hash: nano_core::BlockHash,
        account: nano_core::PublicKey,
        amount: nano_core::Amount,
        /// The block JSON with `subtype` for state blocks.
        block: Value,
        subtype: String,
        is_send: bool,
        confirmation_type: ConfirmationType,
        height: u64,
        local_timestamp: u64,
        /// election_info when confirmed by an election.
        election: Option<Value>,
        /// The row of the confirmation log this notification reports (see
        /// [`nano_store::ConfirmationRecord`]); `None` only for events not written there.
        sequence: Option<u64>,
    },
    Vote {
        vote: Value,
        representative: nano_core::PublicKey,
        /// vote / replay / indeterminate / ignored
        kind: String,
    },
    ElectionStarted {
        hash: nano_core::BlockHash,
    },
    ElectionStopped {
        hash: nano_core::BlockHash,
    },
    NewUnconfirmedBlock {
        block: Value,
        hash: nano_core::BlockHash,
    },
    Telemetry {
        message: Value,
    },
    Bootstrap {
        message: Value,
    },
    Work {
        message: Value,
    },
}

impl NodeEvent {
    /// The `BlockConfirmed` event for a block, live or replayed from the log.
    pub fn confirmed(
        info: &BlockInfo,
        kind: ConfirmationType,
        election: Option<Value>,
        sequence: Option<u64>,
    ) -> NodeEvent {
        NodeEvent::BlockConfirmed {
            hash: info.hash,
            account: info.account(),
            amount: info.amount,
            block: block_json(&info.block, info.subtype),
            subtype: info.subtype.as_str().to_string(),
            is_send: info.subtype == BlockSubtype::Send,
            confirmation_type: kind,
            height: info.height(),
            local_timestamp: info.sideband.timestamp,
            election,
            sequence,
        }
    }
}

/// A broadcast bus with bounded history: a slow subscriber loses events (and learns how
/// many) instead of slowing the node down. Events travel as `Arc`s so the ring of
/// history slots costs a pointer each, not a whole event: with 65,536 slots that is the
/// difference between ~1 MB and ~20 MB of resident memory.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<Arc<NodeEvent>>,
}

/// A subscription to the [`EventBus`]; `recv` hands out owned events like a plain
/// broadcast receiver would.
pub struct EventReceiver {
    rx: broadcast::Receiver<Arc<NodeEvent>>,
}

impl EventReceiver {
    pub async fn recv(&mut self) -> Result<NodeEvent, broadcast::error::RecvError> {
        self.rx.recv().await.map(|e| (*e).clone())
    }
    pub fn try_recv(&mut self) -> Result<NodeEvent, broadcast::error::TryRecvError> {
        self.rx.try_recv().map(|e| (*e).clone())
    }
    /// Events waiting for this subscriber.
    pub fn len(&self) -> usize {
        self.rx.len()
    }
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(65536)
    }
}

impl EventBus {
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        EventBus { tx }
    }
    pub fn publish(&self, e: NodeEvent) {
        // No subscribers is fine: nobody is interested yet.
        let _ = self.tx.send(Arc::new(e));
    }
    pub fn subscribe(&self) -> EventReceiver {
        EventReceiver {
            rx: self.tx.subscribe(),
        }
    }
    /// Whether anyone listens: publishers skip building costly payloads when nobody does.
    pub fn has_subscribers(&self) -> bool {
        self.tx.receiver_count() > 0
    }
}
