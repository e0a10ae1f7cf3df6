//! Event payloads the consensus parts publish about blocks (built in [`crate::events`],
//! which the confirmation history's replay shares).

use crate::events::{ConfirmationType, NodeEvent};

pub(crate) use crate::events::block_json;

pub(crate) fn confirmed_event(
    info: &nano_ledger::BlockInfo,
    kind: ConfirmationType,
    election: Option<serde_json::Value>,
    sequence: Option<u64>,
) -> NodeEvent {
    NodeEvent::confirmed(info, kind, election, sequence)
}
