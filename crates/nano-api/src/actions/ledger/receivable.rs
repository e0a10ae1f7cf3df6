//! Receivable actions (receivable, accounts_receivable, receivable_exists and their
//! deprecated `pending` names) and the confirmation filter they share with the wallet
//! actions.

use nano_core::{Account, Amount, Block, BlockHash, PublicKey};
use nano_ledger::{BlockSubtype, Ledger, ReadTxn};
use serde_json::{Map, Value};

use super::{accounts_list, epoch_version, opt_threshold, read};
use crate::actions::{internal, obj};
use crate::context::ApiContext;
use crate::error::{msg, RpcError};
use crate::json::{self, opt_bool, opt_u64, Req};

/// Receivable total, optionally counting only sends that are confirmed.
pub(super) fn receivable_sum(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    only_confirmed: bool,
) -> Result<Amount, RpcError> {
    let mut total = Amount::ZERO;
    for (hash, info) in l
        .receivable(t, a, Amount::ZERO, usize::MAX)
        .map_err(internal)?
    {
        if only_confirmed && !l.block_confirmed(t, &hash).map_err(internal)? {
            continue;
        }
        total = total.checked_add(info.amount).unwrap_or(Amount::MAX);
    }
    Ok(total)
}

/// One receivable entry beyond the plain hash: the amount alone, or an object with the
/// amount and the asked-for `source` / `min_version`.
pub(crate) fn receivable_value(
    info: &nano_ledger::PendingInfo,
    source: bool,
    min_version: bool,
) -> Value {
    if !source && !min_version {
        return info.amount.encode_dec().into();
    }
    let mut m = Map::new();
    m.insert("amount".into(), info.amount.encode_dec().into());
    if source {
        m.insert("source".into(), info.source.encode_account().into());
    }
    if min_version {
        m.insert("min_version".into(), epoch_version(info.epoch).into());
    }
    Value::Object(m)
}

/// The reference's block_confirmed filter of the receivable actions, from
/// `include_only_confirmed` (default true) and `include_active` (default false):
/// confirmed sends always pass; with include_only_confirmed false, so do sends not in an
/// active election, or every send when include_active is also set.
pub(crate) struct ConfirmedFilter {
    only_confirmed: bool,
    include_active: bool,
    /// Qualified roots of the active elections, when they matter.
    active: std::collections::HashSet<nano_core::QualifiedRoot>,
}

impl ConfirmedFilter {
    pub(crate) fn new(ctx: &ApiContext, r: &Req) -> Result<Self, RpcError> {
        let only_confirmed = opt_bool(r, "include_only_confirmed", true)?;
        let include_active = opt_bool(r, "include_active", false)?;
        let active = match &ctx.node {
            Some(n) if !only_confirmed && !include_active => n
                .active_elections()
                .into_iter()
                .map(|e| e.qualified_root)
                .collect(),
            _ => Default::default(),
        };
        Ok(ConfirmedFilter {
            only_confirmed,
            include_active,
            active,
        })
    }

    pub(crate) fn passes(
        &self,
        l: &Ledger,
        t: &ReadTxn<'_>,
        hash: &BlockHash,
    ) -> Result<bool, RpcError> {
        if self.include_active && !self.only_confirmed {
            return Ok(true);
        }
        if l.block_confirmed(t, hash).map_err(internal)? {
            return Ok(true);
        }
        if self.only_confirmed {
            return Ok(false);
        }
        Ok(match l.block(t, hash).map_err(internal)? {
            Some(b) => !self.active.contains(&b.block.qualified_root()),
            None => false,
        })
    }
}

/// The receivable sends of `a` that pass the confirmation filter, in the store's order
/// (by send hash).
fn receivable_confirmed(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    filter: &ConfirmedFilter,
) -> Result<Vec<(BlockHash, nano_ledger::PendingInfo)>, RpcError> {
    let mut out = Vec::new();
    for (hash, info) in l
        .receivable(t, a, Amount::ZERO, usize::MAX)
        .map_err(internal)?
    {
        if filter.passes(l, t, &hash)? {
            out.push((hash, info));
        }
    }
    Ok(out)
}

/// The `blocks` of receivable / pending, as the reference builds it: a list of hashes
/// unless a non-zero threshold, source, min_version or sorting asks for hash → amount (or
/// hash → {amount, source, min_version}). Without sorting, `offset` skips receivables
/// before the threshold filter and `count` limits what is listed; with sorting, both
/// apply to the list sorted by amount.
fn receivable_for(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    r: &Req,
    filter: &ConfirmedFilter,
) -> Result<Value, RpcError> {
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let offset = opt_u64(r, "offset", "Invalid offset")?.unwrap_or(0);
    let threshold = opt_threshold(r)?;
    let source = opt_bool(r, "source", false)?;
    let min_version = opt_bool(r, "min_version", false)?;
    let sorting = opt_bool(r, "sorting", false)?;
    let simple = threshold.is_zero() && !source && !min_version && !sorting;
    let entries = receivable_confirmed(l, t, a, filter)?;
    if simple {
        let list = entries
            .into_iter()
            .skip(offset.min(usize::MAX as u64) as usize)
            .take(count.min(usize::MAX as u64) as usize)
            .map(|(h, _)| Value::String(h.encode_hex()))
            .collect();
        return Ok(Value::Array(list));
    }
    let mut m = Map::new();
    if sorting {
        let mut kept: Vec<_> = entries
            .into_iter()
            .filter(|(_, i)| i.amount >= threshold)
            .collect();
        // Stable: equal amounts keep the store's order, as the reference's stable_sort.
        kept.sort_by_key(|x| std::cmp::Reverse(x.1.amount));
        for (h, info) in kept
            .into_iter()
            .skip(offset.min(usize::MAX as u64) as usize)
            .take(count.min(usize::MAX as u64) as usize)
        {
            m.insert(h.encode_hex(), receivable_value(&info, source, min_version));
        }
    } else {
        for (h, info) in entries
            .into_iter()
            .skip(offset.min(usize::MAX as u64) as usize)
        {
            if m.len() as u64 >= count {
                break;
            }
            if info.amount >= threshold {
                m.insert(h.encode_hex(), receivable_value(&info, source, min_version));
            }
        }
    }
    Ok(Value::Object(m))
}

pub fn receivable(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let t = read(l)?;
    let filter = ConfirmedFilter::new(ctx, r)?;
    Ok(obj([("blocks", receivable_for(l, &t, &a, r, &filter)?)]))
}

/// accounts_receivable / accounts_pending: like receivable per account but without
/// offset and min_version; `count` limits each account's list before sorting (the
/// reference sorts only what it collected); accounts without receivables are left out
/// and the others are keyed by their `nano_` address.
pub fn accounts_receivable(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let threshold = opt_threshold(r)?;
    let source = opt_bool(r, "source", false)?;
    let sorting = opt_bool(r, "sorting", false)?;
    let simple = threshold.is_zero() && !source && !sorting;
    let filter = ConfirmedFilter::new(ctx, r)?;
    let t = read(l)?;
    let mut blocks = Map::new();
    for s in accounts_list(r)? {
        let a = PublicKey::decode_account(&s).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))?;
        let entries = receivable_confirmed(l, &t, &a, &filter)?;
        let v = if simple {
            let list: Vec<Value> = entries
                .into_iter()
                .take(count.min(usize::MAX as u64) as usize)
                .map(|(h, _)| Value::String(h.encode_hex()))
                .collect();
            if list.is_empty() {
                continue;
            }
            Value::Array(list)
        } else {
            let mut kept = Vec::new();
            for (h, info) in entries {
                if kept.len() as u64 >= count {
                    break;
                }
                if info.amount >= threshold {
                    kept.push((h, info));
                }
            }
            if kept.is_empty() {
                continue;
            }
            if sorting {
                kept.sort_by_key(|x| std::cmp::Reverse(x.1.amount));
            }
            let mut m = Map::new();
            for (h, info) in kept {
                m.insert(h.encode_hex(), receivable_value(&info, source, false));
            }
            Value::Object(m)
        };
        blocks.insert(a.encode_account(), v);
    }
    Ok(obj([("blocks", Value::Object(blocks))]))
}

pub fn receivable_exists(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let h = json::hash(r, "hash")?;
    let filter = ConfirmedFilter::new(ctx, r)?;
    let t = read(l)?;
    let info = l
        .block_info(&t, &h)
        .map_err(internal)?
        .ok_or_else(|| RpcError::new(msg::BLOCK_NOT_FOUND))?;
    let dest = match (&info.block, info.subtype) {
        (Block::Send(b), _) => Some(b.destination),
        (Block::State(b), BlockSubtype::Send) => Some(b.link.as_account()),
        _ => None,
    };
    let mut exists = false;
    if let Some(dest) = dest {
        exists = l.pending_info(&t, &dest, &h).map_err(internal)?.is_some();
        exists = exists && filter.passes(l, &t, &h)?;
    }
    Ok(obj([("exists", if exists { "1" } else { "0" }.into())]))
}
