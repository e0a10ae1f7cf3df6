//! The JSON every client receives: notification envelopes per topic, acks and errors.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use nano_core::{Amount, BlockHash, NetworkParams, PublicKey};
use nano_node::confirmation_history::HistoryError;
use nano_node::events::{ConfirmationType, NodeEvent};
use serde_json::{Map, Value};

use super::topics::ConfirmationOptions;

/// Milliseconds since the Unix epoch as the reference prints them in `time`.
pub(super) fn now_ms() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        .to_string()
}

pub(super) fn envelope(topic: &str, time: &str, message: &Value) -> Utf8Bytes {
    let body = serde_json::to_string(message).unwrap_or_else(|_| "{}".into());
    Utf8Bytes::from(format!(
        "{{\"topic\":\"{topic}\",\"time\":\"{time}\",\"message\":{body}}}"
    ))
}

pub(super) fn ack_message(action: &str, id: Option<String>) -> Utf8Bytes {
    let mut m = Map::new();
    m.insert("ack".into(), action.into());
    m.insert("time".into(), now_ms().into());
    if let Some(id) = id {
        m.insert("id".into(), id.into());
    }
    Utf8Bytes::from(Value::Object(m).to_string())
}

pub(super) fn error_message(text: &str) -> Utf8Bytes {
    let mut m = Map::new();
    m.insert("error".into(), text.into());
    m.insert("time".into(), now_ms().into());
    Utf8Bytes::from(Value::Object(m).to_string())
}

/// The answer to a `from_sequence` the history cannot serve; names the oldest sequence
/// still available (also as `oldest_sequence`) so the client can decide what to do.
pub(super) fn history_error_message(e: &HistoryError) -> Utf8Bytes {
    let mut m = Map::new();
    m.insert("error".into(), e.to_string().into());
    if let HistoryError::TooOld { oldest, .. } = e {
        m.insert("oldest_sequence".into(), oldest.to_string().into());
    }
    m.insert("time".into(), now_ms().into());
    Utf8Bytes::from(Value::Object(m).to_string())
}

pub(super) struct Confirmed<'a> {
    pub(super) hash: &'a BlockHash,
    pub(super) account: &'a PublicKey,
    pub(super) amount: &'a Amount,
    pub(super) block: &'a Value,
    pub(super) confirmation_type: ConfirmationType,
    pub(super) height: u64,
    pub(super) local_timestamp: u64,
    pub(super) election: Option<&'a Value>,
    pub(super) sequence: Option<u64>,
}

impl<'a> Confirmed<'a> {
    /// The confirmation a `BlockConfirmed` event reports; `None` for other events.
    pub(super) fn of(event: &'a NodeEvent) -> Option<Confirmed<'a>> {
        let NodeEvent::BlockConfirmed {
            hash,
            account,
            amount,
            block,
            confirmation_type,
            height,
            local_timestamp,
            election,
            sequence,
            ..
        } = event
        else {
            return None;
        };
        Some(Confirmed {
            hash,
            account,
            amount,
            block,
            confirmation_type: *confirmation_type,
            height: *height,
            local_timestamp: *local_timestamp,
            election: election.as_ref(),
            sequence: *sequence,
        })
    }

    /// The destination account of a send (`link_as_account`), which account filters
    /// match besides the block's own account.
    pub(super) fn link_as(&self) -> Option<PublicKey> {
        self.block
            .get("link_as_account")
            .and_then(Value::as_str)
            .and_then(|s| PublicKey::decode_account(s).ok())
    }
}

/// The `confirmation` message in the reference field order: account, amount, hash,
/// confirmation_type, election_info, block, sideband; then this node's confirmation
/// `sequence` (an extension, a decimal string like the reference's other numbers).
pub(super) fn confirmation_message(
    c: &Confirmed<'_>,
    o: &ConfirmationOptions,
    time: &str,
) -> Utf8Bytes {
    let mut m = Map::new();
    m.insert("account".into(), c.account.encode_account().into());
    m.insert("amount".into(), c.amount.encode_dec().into());
    m.insert("hash".into(), c.hash.encode_hex().into());
    m.insert(
        "confirmation_type".into(),
        c.confirmation_type.as_str().into(),
    );
    if o.election_info > 0 {
        if let Some(Value::Object(e)) = c.election {
            let info: Map<String, Value> = e
                .iter()
                .filter(|(k, _)| o.election_info == 2 || k.as_str() != "votes")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            m.insert("election_info".into(), Value::Object(info));
        }
    }
    if o.include_block {
        m.insert("block".into(), c.block.clone());
    }
    if o.include_sideband {
        let mut s = Map::new();
        s.insert("height".into(), c.height.to_string().into());
        s.insert(
            "local_timestamp".into(),
            c.local_timestamp.to_string().into(),
        );
        m.insert("sideband".into(), Value::Object(s));
    }
    if let Some(seq) = c.sequence {
        m.insert("sequence".into(), seq.to_string().into());
    }
    envelope("confirmation", time, &Value::Object(m))
}

pub(super) fn active_difficulty_message(
    params: &NetworkParams,
    current: u64,
    time: &str,
) -> Utf8Bytes {
    let base = params.work.base;
    let current = current.max(base);
    let multiplier = nano_core::work::to_multiplier(current, base);
    let mut m = Map::new();
    m.insert("network_minimum".into(), format!("{base:016x}").into());
    m.insert("network_current".into(), format!("{current:016x}").into());
    m.insert("multiplier".into(), format!("{multiplier}").into());
    envelope("active_difficulty", time, &Value::Object(m))
}

pub(super) fn hash_message(hash: &BlockHash) -> Value {
    let mut m = Map::new();
    m.insert("hash".into(), hash.encode_hex().into());
    Value::Object(m)
}
