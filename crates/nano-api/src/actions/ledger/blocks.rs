//! Block actions: block_info / blocks_info / blocks, block_account, block_count and the
//! chain / successors walks.

use nano_core::{Account, Block, BlockHash};
use nano_ledger::{BlockInfo, BlockSubtype, Ledger, ReadTxn};
use serde_json::{Map, Value};

use super::{hashes_list, read, required_count, tf};
use crate::actions::{internal, obj, TextAnswer};
use crate::answer_text::ObjectText;
use crate::context::ApiContext;
use crate::error::{err, msg, RpcError};
use crate::json::{self, block_out, opt_bool, opt_u64, Req};

/// The `block_count` answer.
pub struct BlockCount {
    count: u64,
    unchecked: u64,
    cemented: u64,
}

impl TextAnswer for BlockCount {
    fn text(&self) -> Vec<u8> {
        let mut o = ObjectText::default();
        o.field("count", &self.count)
            .field("unchecked", &self.unchecked)
            .field("cemented", &self.cemented);
        o.finish()
    }
}

pub fn block_count(ctx: &ApiContext, _r: &Req) -> Result<BlockCount, RpcError> {
    let l = ctx.ledger()?;
    let t = read(l)?;
    // Unchecked blocks wait in the running node's memory, as in the reference (the
    // ledger file has no unchecked table): without a node, none wait.
    let unchecked = ctx.node.as_ref().map_or(0, |n| n.unchecked_count() as u64);
    Ok(BlockCount {
        count: l.block_count(&t).map_err(internal)?,
        unchecked,
        cemented: l.cemented_count(),
    })
}

pub fn block_account(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let h = json::hash(r, "hash")?;
    let t = read(l)?;
    let a = l
        .block_account(&t, &h)
        .map_err(internal)?
        .ok_or_else(|| RpcError::new(msg::BLOCK_NOT_FOUND))?;
    Ok(obj([("account", a.encode_account().into())]))
}

fn block_info_fields(info: &BlockInfo, json_block: bool) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "block_account".into(),
        info.account().encode_account().into(),
    );
    m.insert("amount".into(), info.amount.encode_dec().into());
    m.insert("balance".into(), info.balance().encode_dec().into());
    m.insert("height".into(), info.height().to_string().into());
    m.insert(
        "local_timestamp".into(),
        info.sideband.timestamp.to_string().into(),
    );
    m.insert(
        "successor".into(),
        info.sideband.successor.encode_hex().into(),
    );
    m.insert("confirmed".into(), tf(info.confirmed));
    m.insert(
        "contents".into(),
        block_out(info.block.to_json(), json_block),
    );
    if info.block.is_state() {
        m.insert("subtype".into(), info.subtype.as_str().into());
    }
    m
}

/// The `linked_account` of the documented `include_linked_account` option (v28): the
/// destination of a send, the sender of a receive, "0" otherwise or when unknown.
pub(super) fn linked_account(
    l: &Ledger,
    t: &ReadTxn<'_>,
    info: &BlockInfo,
) -> Result<Value, RpcError> {
    let a = match (&info.block, info.subtype) {
        (Block::Send(b), _) => Some(b.destination),
        (Block::State(b), BlockSubtype::Send) => Some(b.link.as_account()),
        (Block::Receive(b), _) => l.block_account(t, &b.source).map_err(internal)?,
        (Block::Open(b), _) => l.block_account(t, &b.source).map_err(internal)?,
        (Block::State(b), BlockSubtype::Receive | BlockSubtype::Open) => l
            .block_account(t, &b.link.as_block_hash())
            .map_err(internal)?,
        _ => None,
    };
    Ok(a.map(|a| a.encode_account())
        .unwrap_or_else(|| "0".into())
        .into())
}

pub fn block_info(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let h = json::hash(r, "hash")?;
    let jb = json::json_block(r)?;
    let t = read(l)?;
    let info = l
        .block_info(&t, &h)
        .map_err(internal)?
        .ok_or_else(|| RpcError::new(msg::BLOCK_NOT_FOUND))?;
    let mut m = block_info_fields(&info, jb);
    if opt_bool(r, "include_linked_account", false)? {
        m.insert("linked_account".into(), linked_account(l, &t, &info)?);
    }
    Ok(Value::Object(m))
}

/// The block of `account` that received the send `send`, walking its chain from the head
/// (the reference's find_receive_block_by_send_hash).
fn receive_block_of(
    l: &Ledger,
    t: &ReadTxn<'_>,
    account: &Account,
    send: &BlockHash,
) -> Result<Option<BlockHash>, RpcError> {
    let Some(info) = l.account_info(t, account).map_err(internal)? else {
        return Ok(None);
    };
    let mut cur = info.head;
    // Bounded by the chain length; each step moves to an older block.
    while !cur.is_zero() {
        let Some(b) = l.block_info(t, &cur).map_err(internal)? else {
            break;
        };
        let source = match (&b.block, b.subtype) {
            (Block::Receive(x), _) => Some(x.source),
            (Block::Open(x), _) => Some(x.source),
            (Block::State(x), BlockSubtype::Receive | BlockSubtype::Open) => {
                Some(x.link.as_block_hash())
            }
            _ => None,
        };
        if source == Some(*send) {
            return Ok(Some(cur));
        }
        cur = b.block.previous();
    }
    Ok(None)
}

pub fn blocks_info(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let jb = json::json_block(r)?;
    let include_not_found = opt_bool(r, "include_not_found", false)?;
    let want_receivable = opt_bool(r, "pending", false)? || opt_bool(r, "receivable", false)?;
    let want_source = opt_bool(r, "source", false)?;
    let want_receive_hash = opt_bool(r, "receive_hash", false)?;
    let want_linked = opt_bool(r, "include_linked_account", false)?;
    let t = read(l)?;
    let mut blocks = Map::new();
    let mut not_found = Vec::new();
    for s in hashes_list(r)? {
        let h = json::hash_text(&s)?;
        match l.block_info(&t, &h).map_err(internal)? {
            Some(info) => {
                let mut m = block_info_fields(&info, jb);
                if want_receivable || want_receive_hash {
                    let dest = match (&info.block, info.subtype) {
                        (Block::Send(b), _) => Some(b.destination),
                        (Block::State(b), BlockSubtype::Send) => Some(b.link.as_account()),
                        _ => None,
                    };
                    let receivable = match &dest {
                        Some(d) => l.pending_info(&t, d, &h).map_err(internal)?.is_some(),
                        None => false,
                    };
                    if want_receivable {
                        let v = if receivable { "1" } else { "0" };
                        m.insert("pending".into(), v.into());
                        m.insert("receivable".into(), v.into());
                    }
                    if want_receive_hash {
                        let found = match dest {
                            Some(d) if !receivable => receive_block_of(l, &t, &d, &h)?,
                            _ => None,
                        };
                        let rh = found.unwrap_or(BlockHash::ZERO);
                        m.insert("receive_hash".into(), rh.encode_hex().into());
                    }
                }
                if want_source {
                    let src = match (&info.block, info.subtype) {
                        (Block::State(b), BlockSubtype::Receive | BlockSubtype::Open) => l
                            .block_account(&t, &b.link.as_block_hash())
                            .map_err(internal)?,
                        (Block::Receive(b), _) => {
                            l.block_account(&t, &b.source).map_err(internal)?
                        }
                        (Block::Open(b), _) => l.block_account(&t, &b.source).map_err(internal)?,
                        _ => None,
                    };
                    m.insert(
                        "source_account".into(),
                        src.map(|a| a.encode_account())
                            .unwrap_or_else(|| "0".into())
                            .into(),
                    );
                }
                if want_linked {
                    m.insert("linked_account".into(), linked_account(l, &t, &info)?);
                }
                blocks.insert(s, Value::Object(m));
            }
            None if include_not_found => not_found.push(Value::String(s)),
            None => return err(msg::BLOCK_NOT_FOUND),
        }
    }
    let mut out = Map::new();
    out.insert("blocks".into(), Value::Object(blocks));
    if include_not_found {
        out.insert("blocks_not_found".into(), Value::Array(not_found));
    }
    Ok(Value::Object(out))
}

pub fn blocks(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let jb = json::json_block(r)?;
    let t = read(l)?;
    let mut blocks = Map::new();
    for s in hashes_list(r)? {
        let h = json::hash_text(&s)?;
        let b = l
            .block(&t, &h)
            .map_err(internal)?
            .ok_or_else(|| RpcError::new(msg::BLOCK_NOT_FOUND))?;
        blocks.insert(s, block_out(b.block.to_json(), jb));
    }
    Ok(obj([("blocks", Value::Object(blocks))]))
}

/// chain (backwards via previous) and successors (forwards).
fn walk(ctx: &ApiContext, r: &Req, forward: bool) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let start = json::hash(r, "block")?;
    let count = required_count(r)?;
    let offset = opt_u64(r, "offset", "Invalid offset")?.unwrap_or(0);
    let reverse = opt_bool(r, "reverse", false)?;
    let forward = forward != reverse;
    let t = read(l)?;
    let mut out = Vec::new();
    let mut cur = start;
    let mut skipped = 0;
    while (out.len() as u64) < count && !cur.is_zero() {
        let Some(b) = l.block(&t, &cur).map_err(internal)? else {
            break;
        };
        if skipped < offset {
            skipped += 1;
        } else {
            out.push(Value::String(cur.encode_hex()));
        }
        cur = if forward {
            b.sideband.successor
        } else {
            b.block.previous()
        };
    }
    Ok(obj([("blocks", Value::Array(out))]))
}

pub fn chain(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    walk(ctx, r, false)
}

pub fn successors(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    walk(ctx, r, true)
}
