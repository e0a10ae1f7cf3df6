//! Event payloads the consensus parts publish about blocks.

use nano_core::Block;
use nano_ledger::BlockSubtype;

use crate::events::{ConfirmationType, NodeEvent};

/// Block JSON with `subtype` for state blocks, as notifications carry it.
pub(crate) fn block_json(block: &Block, subtype: BlockSubtype) -> serde_json::Value {
    let mut v = block.to_json();
    if block.is_state() {
        if let Some(m) = v.as_object_mut() {
            m.insert("subtype".into(), subtype.as_str().into());
        }
    }
    v
}

pub(crate) fn confirmed_event(
    info: &nano_ledger::BlockInfo,
    kind: ConfirmationType,
    election: Option<serde_json::Value>,
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
    }
}
