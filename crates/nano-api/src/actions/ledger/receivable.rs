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

/// Receivable total, optionally counting only sends that are confirmed: read as it is
/// summed, so the scan holds one entry at a time however many the account has.
pub(super) fn receivable_sum(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    only_confirmed: bool,
) -> Result<Amount, RpcError> {
    // No account has usize::MAX receivables: the sum always ends.
    let mut unbounded = usize::MAX;
    receivable_sum_within(l, t, a, only_confirmed, &mut unbounded)?
        .ok_or_else(|| internal("receivable scan without a bound stopped"))
}

/// [`receivable_sum`] if the account's receivables fit in `budget` entries, which the
/// entries read are taken from (so that one budget can bound the scans of several
/// accounts); None, the budget spent, if they do not.
pub(crate) fn receivable_sum_within(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    only_confirmed: bool,
    budget: &mut usize,
) -> Result<Option<Amount>, RpcError> {
    let mut total = Amount::ZERO;
    for entry in l.receivables_from(t, a).map_err(internal)? {
        let (key, info) = entry.map_err(internal)?;
        if key.account != *a {
            break;
        }
        if *budget == 0 {
            return Ok(None);
        }
        *budget -= 1;
        if only_confirmed && !l.block_confirmed(t, &key.hash).map_err(internal)? {
            continue;
        }
        total = total.checked_add(info.amount).unwrap_or(Amount::MAX);
    }
    Ok(Some(total))
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
/// (by send hash), handed to `each` one at a time while it answers true.
fn each_confirmed(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    filter: &ConfirmedFilter,
    mut each: impl FnMut(BlockHash, nano_ledger::PendingInfo) -> bool,
) -> Result<(), RpcError> {
    for entry in l.receivables_from(t, a).map_err(internal)? {
        let (key, info) = entry.map_err(internal)?;
        if key.account != *a {
            break;
        }
        if filter.passes(l, t, &key.hash)? && !each(key.hash, info) {
            break;
        }
    }
    Ok(())
}

/// The options of receivable / pending that decide what its `blocks` lists.
struct ListOptions {
    count: usize,
    offset: usize,
    threshold: Amount,
    source: bool,
    min_version: bool,
    sorting: bool,
}

impl ListOptions {
    fn read(r: &Req) -> Result<ListOptions, RpcError> {
        let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
        let offset = opt_u64(r, "offset", "Invalid offset")?.unwrap_or(0);
        Ok(ListOptions {
            count: usize::try_from(count).unwrap_or(usize::MAX),
            offset: usize::try_from(offset).unwrap_or(usize::MAX),
            threshold: opt_threshold(r)?,
            source: opt_bool(r, "source", false)?,
            min_version: opt_bool(r, "min_version", false)?,
            sorting: opt_bool(r, "sorting", false)?,
        })
    }

    /// A plain list of hashes, as the reference answers unless a non-zero threshold,
    /// source, min_version or sorting asks for hash → amount (or hash → {amount, source,
    /// min_version}).
    fn simple(&self) -> bool {
        self.threshold.is_zero() && !self.source && !self.min_version && !self.sorting
    }
}

/// The entries of receivable's `blocks` in answer order, handed to `each` while it
/// answers true. Without sorting, `offset` skips receivables before the threshold filter
/// and the scan stops once `count` are listed, as the reference's loop does; with
/// sorting, every receivable at or above the threshold is read and sorted by amount,
/// then `offset` and `count` apply to the sorted list.
fn each_listed(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    o: &ListOptions,
    filter: &ConfirmedFilter,
    mut each: impl FnMut(&BlockHash, &nano_ledger::PendingInfo) -> bool,
) -> Result<(), RpcError> {
    if o.sorting {
        let mut kept = Vec::new();
        each_confirmed(l, t, a, filter, |h, info| {
            if info.amount >= o.threshold {
                kept.push((h, info));
            }
            true
        })?;
        // Stable: equal amounts keep the store's order, as the reference's stable_sort.
        kept.sort_by_key(|x| std::cmp::Reverse(x.1.amount));
        for (h, info) in kept.iter().skip(o.offset).take(o.count) {
            if !each(h, info) {
                break;
            }
        }
        return Ok(());
    }
    let (mut skip, mut listed) = (o.offset, 0usize);
    each_confirmed(l, t, a, filter, |h, info| {
        if listed >= o.count {
            return false;
        }
        if skip > 0 {
            skip -= 1;
        } else if info.amount >= o.threshold {
            listed += 1;
            return each(&h, &info) && listed < o.count;
        }
        true
    })
}

/// The `blocks` of receivable / pending: a list of hashes when [`ListOptions::simple`],
/// else an object of hash → [`receivable_value`].
fn receivable_for(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    o: &ListOptions,
    filter: &ConfirmedFilter,
) -> Result<Value, RpcError> {
    if o.simple() {
        let mut list = Vec::new();
        each_listed(l, t, a, o, filter, |h, _| {
            list.push(Value::String(h.encode_hex()));
            true
        })?;
        return Ok(Value::Array(list));
    }
    let mut m = Map::new();
    each_listed(l, t, a, o, filter, |h, info| {
        m.insert(
            h.encode_hex(),
            receivable_value(info, o.source, o.min_version),
        );
        true
    })?;
    Ok(Value::Object(m))
}

pub fn receivable(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let t = read(l)?;
    let filter = ConfirmedFilter::new(ctx, r)?;
    let o = ListOptions::read(r)?;
    Ok(obj([("blocks", receivable_for(l, &t, &a, &o, &filter)?)]))
}

/// [`receivable`]'s RPC v1 answer written straight to text of at most `cap` bytes: the
/// same bytes as its [`Value`] in the v1 rendering (an empty `blocks` as `""`), without a
/// [`Value`] per entry, and the scan stopped as soon as the text passes the cap. An
/// answer of 200,000 hashes is the largest a client can ask of one account, so this is
/// what a flood of such calls costs the slow-action pool.
pub fn receivable_text(ctx: &ApiContext, r: &Req, cap: usize) -> Result<Vec<u8>, RpcError> {
    use crate::answer_text::PlainText;
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let t = read(l)?;
    let filter = ConfirmedFilter::new(ctx, r)?;
    let o = ListOptions::read(r)?;
    let simple = o.simple();
    let mut out = Vec::with_capacity(RECEIVABLE_TEXT_START.min(cap));
    out.extend_from_slice(b"{\"blocks\":");
    let opening = out.len();
    each_listed(l, &t, &a, &o, &filter, |h, info| {
        out.push(match (out.len() == opening, simple) {
            (true, true) => b'[',
            (true, false) => b'{',
            (false, _) => b',',
        });
        out.push(b'"');
        h.write_plain(&mut out);
        out.push(b'"');
        if !simple {
            out.push(b':');
            if !o.source && !o.min_version {
                out.push(b'"');
                info.amount.write_plain(&mut out);
                out.push(b'"');
            } else {
                // receivable_value's fields, in its order.
                out.extend_from_slice(b"{\"amount\":\"");
                info.amount.write_plain(&mut out);
                if o.source {
                    out.extend_from_slice(b"\",\"source\":\"");
                    out.extend_from_slice(info.source.encode_account().as_bytes());
                }
                if o.min_version {
                    out.extend_from_slice(b"\",\"min_version\":\"");
                    out.extend_from_slice(epoch_version(info.epoch).as_bytes());
                }
                out.extend_from_slice(b"\"}");
            }
        }
        out.len() <= cap
    })?;
    match (out.len() == opening, simple) {
        (true, _) => out.extend_from_slice(b"\"\""),
        (false, true) => out.push(b']'),
        (false, false) => out.push(b'}'),
    }
    out.push(b'}');
    Ok(crate::response_cap::held_to_cap(out, cap))
}

/// The first allocation of [`receivable_text`]'s answer: a few thousand hashes without
/// regrowing; larger answers grow it by doubling.
const RECEIVABLE_TEXT_START: usize = 256 * 1024;

/// accounts_receivable / accounts_pending: like receivable per account but without
/// offset and min_version; `count` limits each account's list before sorting (the
/// reference sorts only what it collected); accounts without receivables are left out
/// and the others are keyed by their `nano_` address.
pub fn accounts_receivable(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let threshold = opt_threshold(r)?;
    let source = opt_bool(r, "source", false)?;
    let sorting = opt_bool(r, "sorting", false)?;
    let simple = threshold.is_zero() && !source && !sorting;
    let filter = ConfirmedFilter::new(ctx, r)?;
    let t = read(l)?;
    let mut blocks = Map::new();
    for s in accounts_list(r)? {
        let a = PublicKey::decode_account(&s).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))?;
        // Each account's list is read up to `count` entries, then sorted if asked.
        let mut kept = Vec::new();
        each_confirmed(l, &t, &a, &filter, |h, info| {
            if kept.len() >= count {
                return false;
            }
            if info.amount >= threshold {
                kept.push((h, info));
            }
            kept.len() < count
        })?;
        if kept.is_empty() {
            continue;
        }
        let v = if simple {
            Value::Array(
                kept.into_iter()
                    .map(|(h, _)| Value::String(h.encode_hex()))
                    .collect(),
            )
        } else {
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
