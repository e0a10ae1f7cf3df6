//! `confirmation_history_since`: pages through this node's confirmation log by sequence
//! number (an extension; the reference node has no durable confirmation stream). The same
//! rows feed WebSocket `from_sequence` and the HTTP callback.

use std::collections::HashSet;

use nano_core::PublicKey;
use nano_node::confirmation_history::{ConfirmationHistory, HistoryError};
use nano_node::events::NodeEvent;
use serde_json::{Map, Value};

use super::{internal, obj};
use crate::context::ApiContext;
use crate::error::{msg, RpcError};
use crate::json::{opt_bool, opt_u64, Req};

/// Default and largest `count`: a page of block JSON stays around a megabyte.
const DEFAULT_COUNT: u64 = 100;
const MAX_COUNT: u64 = 4096;
/// Rows one request examines at most when filtering by account, so a filter that
/// matches nothing still answers quickly; `next` says where to continue.
const SCAN_LIMIT: usize = 65_536;
/// Rows read from the log at a time while scanning.
const PAGE: usize = 1024;

fn accounts_filter(r: &Req) -> Result<Option<HashSet<PublicKey>>, RpcError> {
    let Some(v) = r.get("accounts") else {
        return Ok(None);
    };
    let list = v
        .as_array()
        .ok_or_else(|| RpcError::new(msg::UNABLE_TO_PARSE_JSON))?;
    let mut set = HashSet::with_capacity(list.len());
    for a in list {
        let s = a
            .as_str()
            .ok_or_else(|| RpcError::new(msg::UNABLE_TO_PARSE_JSON))?;
        set.insert(PublicKey::decode_account(s).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))?);
    }
    Ok(Some(set))
}

/// The block's own account and, for sends, the destination (`link_as_account`), as the
/// WebSocket account filter matches them.
fn matches(event: &NodeEvent, set: &HashSet<PublicKey>) -> bool {
    let NodeEvent::BlockConfirmed { account, block, .. } = event else {
        return false;
    };
    if set.contains(account) {
        return true;
    }
    block
        .get("link_as_account")
        .and_then(Value::as_str)
        .and_then(|s| PublicKey::decode_account(s).ok())
        .is_some_and(|d| set.contains(&d))
}

fn entry(event: &NodeEvent, include_block: bool) -> Option<Value> {
    let NodeEvent::BlockConfirmed {
        hash,
        account,
        amount,
        block,
        subtype,
        confirmation_type,
        height,
        local_timestamp,
        sequence: Some(sequence),
        ..
    } = event
    else {
        return None;
    };
    let mut m = Map::new();
    m.insert("sequence".into(), sequence.to_string().into());
    m.insert("hash".into(), hash.encode_hex().into());
    m.insert("account".into(), account.encode_account().into());
    m.insert("amount".into(), amount.encode_dec().into());
    m.insert("subtype".into(), subtype.as_str().into());
    m.insert(
        "confirmation_type".into(),
        confirmation_type.as_str().into(),
    );
    m.insert("height".into(), height.to_string().into());
    m.insert("local_timestamp".into(), local_timestamp.to_string().into());
    if include_block {
        m.insert("block".into(), block.clone());
    }
    Some(Value::Object(m))
}

/// `{"action":"confirmation_history_since","sequence":"<n>","count":"<c>",
/// "accounts":[...],"include_block":"true"}` answers `head`, `oldest`, up to `count`
/// confirmations from `n` in sequence order, and `next` (where the following page
/// starts).
pub fn confirmation_history_since(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let history = ConfirmationHistory::new(ctx.ledger()?.clone());
    let from = opt_u64(r, "sequence", "Invalid sequence")?
        .ok_or_else(|| RpcError::new(msg::UNABLE_TO_PARSE_JSON))?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(DEFAULT_COUNT);
    if count == 0 || count > MAX_COUNT {
        return Err(RpcError::new(format!(
            "count must be between 1 and {MAX_COUNT}"
        )));
    }
    let filter = accounts_filter(r)?;
    let include_block = opt_bool(r, "include_block", false)?;
    let mut out = Vec::new();
    let mut next = from.max(1);
    let mut scanned = 0usize;
    // Bounded by SCAN_LIMIT rows and by `count` results.
    loop {
        let want = match &filter {
            None => count as usize - out.len(),
            Some(_) => PAGE.min(SCAN_LIMIT - scanned),
        };
        let page = history.read_page(next, want).map_err(|e| match e {
            HistoryError::TooOld { .. } => RpcError::new(e.to_string()),
            HistoryError::Store(s) => internal(s),
        })?;
        scanned += (page.next - next) as usize;
        for e in &page.events {
            if out.len() as u64 == count {
                break;
            }
            if filter.as_ref().is_none_or(|f| matches(e, f)) {
                out.extend(entry(e, include_block));
            }
            if let NodeEvent::BlockConfirmed {
                sequence: Some(s), ..
            } = e
            {
                next = s + 1;
            }
        }
        if out.len() as u64 == count || page.complete || scanned >= SCAN_LIMIT {
            if out.len() as u64 != count {
                next = next.max(page.next);
            }
            break;
        }
        next = page.next;
    }
    let head = history.head().map_err(internal)?;
    let oldest = history.oldest().map_err(internal)?;
    Ok(obj([
        ("head", head.to_string().into()),
        ("oldest", oldest.to_string().into()),
        ("history_limit", history.limit().to_string().into()),
        ("next", next.to_string().into()),
        ("confirmations", Value::Array(out)),
    ]))
}
