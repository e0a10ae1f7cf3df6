//! account_history and the history entry it shares with wallet_history.

use nano_core::{Account, Block, BlockHash, PublicKey};
use nano_ledger::{BlockInfo, BlockSubtype, Ledger, ReadTxn};
use serde_json::{Map, Value};

use super::blocks::linked_account;
use super::{read, required_count, tf};
use crate::actions::internal;
use crate::context::ApiContext;
use crate::error::{err, msg, RpcError};
use crate::json::{self, opt_bool, opt_text, opt_u64, Req};

/// One account_history entry as the reference's history visitor writes it; `None` when
/// the visitor writes nothing (change and epoch blocks outside raw mode, blocks whose
/// counterparty the account filter excludes), which the history skips. Raw entries carry
/// the block's own fields in the reference's order, not the block JSON.
pub(crate) fn history_entry(
    l: &Ledger,
    t: &ReadTxn<'_>,
    info: &BlockInfo,
    raw: bool,
    filter: &[Account],
) -> Result<Option<Map<String, Value>>, RpcError> {
    let p = l.params();
    let ignored = |a: &Account| !filter.is_empty() && !filter.contains(a);
    let mut m = Map::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.into(), Value::String(v));
    };
    let amount = info.amount.encode_dec();
    match (&info.block, info.subtype) {
        (Block::Send(b), _) => {
            if ignored(&b.destination) {
                return Ok(None);
            }
            put("type", "send".into());
            put("account", b.destination.encode_account());
            put("amount", amount);
            if raw {
                put("destination", b.destination.encode_account());
                put("balance", b.balance.encode_dec());
                put("previous", b.previous.encode_hex());
            }
        }
        // The reference does not filter legacy receive and open blocks.
        (Block::Receive(b), _) => {
            put("type", "receive".into());
            if let Some(src) = l.block_account(t, &b.source).map_err(internal)? {
                put("account", src.encode_account());
            }
            put("amount", amount);
            if raw {
                put("source", b.source.encode_hex());
                put("previous", b.previous.encode_hex());
            }
        }
        (Block::Open(b), _) => {
            if raw {
                put("type", "open".into());
                put("representative", b.representative.encode_account());
                put("source", b.source.encode_hex());
                put("opened", b.account.encode_account());
            } else {
                put("type", "receive".into());
            }
            if info.hash == p.genesis_hash {
                put("account", p.genesis_account.encode_account());
                put("amount", p.genesis_amount.encode_dec());
            } else {
                if let Some(src) = l.block_account(t, &b.source).map_err(internal)? {
                    put("account", src.encode_account());
                }
                put("amount", amount);
            }
        }
        (Block::Change(b), _) => {
            if !raw || !filter.is_empty() {
                return Ok(None);
            }
            put("type", "change".into());
            put("representative", b.representative.encode_account());
            put("previous", b.previous.encode_hex());
        }
        (Block::State(b), subtype) => {
            let kind = if raw { "subtype" } else { "type" };
            let mut fields: Vec<(&str, String)> = Vec::new();
            if raw {
                fields.push(("type", "state".into()));
                fields.push(("representative", b.representative.encode_account()));
                fields.push(("link", b.link.encode_hex()));
                fields.push(("balance", b.balance.encode_dec()));
                fields.push(("previous", b.previous.encode_hex()));
            }
            match subtype {
                BlockSubtype::Send => {
                    let dest = b.link.as_account();
                    if ignored(&dest) {
                        return Ok(None);
                    }
                    fields.push((kind, "send".into()));
                    fields.push(("account", dest.encode_account()));
                    fields.push(("amount", amount));
                }
                BlockSubtype::Change => {
                    if raw && filter.is_empty() {
                        fields.push(("subtype", "change".into()));
                    }
                }
                BlockSubtype::Epoch => {
                    if raw && filter.is_empty() {
                        fields.push(("subtype", "epoch".into()));
                        let signer = p.epoch_of_link(&b.link).and_then(|e| p.epoch_signer(e));
                        if let Some(signer) = signer {
                            fields.push(("account", signer.encode_account()));
                        }
                    }
                }
                BlockSubtype::Receive | BlockSubtype::Open => {
                    let src = l
                        .block_account(t, &b.link.as_block_hash())
                        .map_err(internal)?;
                    if src.as_ref().is_some_and(&ignored) {
                        return Ok(None);
                    }
                    fields.push((kind, "receive".into()));
                    if let Some(src) = src {
                        fields.push(("account", src.encode_account()));
                    }
                    fields.push(("amount", amount));
                }
            }
            if fields.is_empty() {
                return Ok(None);
            }
            for (k, v) in fields {
                put(k, v);
            }
        }
    }
    m.insert(
        "local_timestamp".into(),
        info.sideband.timestamp.to_string().into(),
    );
    m.insert("height".into(), info.height().to_string().into());
    m.insert("hash".into(), info.hash.encode_hex().into());
    m.insert("confirmed".into(), tf(info.confirmed));
    if raw {
        m.insert("work".into(), format!("{:016x}", info.block.work()).into());
        m.insert(
            "signature".into(),
            info.block.signature().encode_hex().into(),
        );
    }
    Ok(Some(m))
}

/// account_history: `offset` skips blocks (whether or not they would be listed), `count`
/// limits listed entries; `previous` (or `next` when reversed) names the block after the
/// last one visited.
pub fn account_history(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let t = read(l)?;
    let raw = opt_bool(r, "raw", false)?;
    let reverse = opt_bool(r, "reverse", false)?;
    let linked = opt_bool(r, "include_linked_account", false)?;
    let filter: Vec<Account> = match r.get("account_filter") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                PublicKey::decode_account(v.as_str().unwrap_or_default())
                    .map_err(|_| RpcError::new(msg::BAD_ACCOUNT))
            })
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let mut count = required_count(r)?;
    let mut offset = opt_u64(r, "offset", "Invalid offset")?.unwrap_or(0);
    let (account, start) = if let Some(head) = opt_text(r, "head") {
        let h = json::hash_text(&head)?;
        let a = l
            .block_account(&t, &h)
            .map_err(internal)?
            .ok_or_else(|| RpcError::new(msg::BLOCK_NOT_FOUND))?;
        (a, h)
    } else {
        let a = json::account(r, "account")?;
        match l.account_info(&t, &a).map_err(internal)? {
            Some(info) => (a, if reverse { info.open_block } else { info.head }),
            None if reverse => return err(msg::ACCOUNT_NOT_FOUND),
            None => (a, BlockHash::ZERO),
        }
    };
    let mut history = Vec::new();
    let mut cur = start;
    while count > 0 && !cur.is_zero() {
        let Some(info) = l.block_info(&t, &cur).map_err(internal)? else {
            break;
        };
        if offset > 0 {
            offset -= 1;
        } else if let Some(mut entry) = history_entry(l, &t, &info, raw, &filter)? {
            if linked {
                entry.insert("linked_account".into(), linked_account(l, &t, &info)?);
            }
            history.push(Value::Object(entry));
            count -= 1;
        }
        cur = if reverse {
            info.sideband.successor
        } else {
            info.block.previous()
        };
    }
    let mut m = Map::new();
    m.insert("account".into(), account.encode_account().into());
    m.insert("history".into(), Value::Array(history));
    if !cur.is_zero() {
        m.insert(
            if reverse { "next" } else { "previous" }.into(),
            cur.encode_hex().into(),
        );
    }
    Ok(Value::Object(m))
}
