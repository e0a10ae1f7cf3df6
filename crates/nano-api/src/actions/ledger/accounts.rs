//! Account actions: account_info, balances, frontiers, block counts per account, the
//! `ledger` listing and available_supply.

use nano_core::{Account, Amount, BlockHash, PublicKey};
use nano_ledger::{Ledger, ReadTxn};
use serde_json::{Map, Value};

use super::receivable::{receivable_sum, receivable_sum_within};
use super::{accounts_list, epoch_version, opt_threshold, read, required_count};
use crate::actions::{internal, obj, TextAnswer};
use crate::answer_text::ObjectText;
use crate::context::ApiContext;
use crate::error::{err, msg, RpcError};
use crate::json::{self, opt_bool, opt_text, opt_u64, Req};

/// Balance at the account's confirmed frontier (zero when nothing is confirmed).
fn confirmed_balance(l: &Ledger, t: &ReadTxn<'_>, a: &Account) -> Result<Amount, RpcError> {
    let ch = l.confirmation_height(t, a).map_err(internal)?;
    if ch.height == 0 {
        return Ok(Amount::ZERO);
    }
    Ok(l.balance_at(t, &ch.frontier)
        .map_err(internal)?
        .unwrap_or_default())
}

/// The hash of the nearest block at or before `hash` that names a representative: the
/// reference's `representative_block`.
fn representative_block(
    l: &Ledger,
    t: &ReadTxn<'_>,
    hash: &BlockHash,
) -> Result<BlockHash, RpcError> {
    use nano_core::BlockType;
    let mut cur = *hash;
    // Bounded by the chain length; each step moves to an older block. Only the type and
    // `previous` are read: the types that carry a representative end the walk.
    while !cur.is_zero() {
        let (kind, previous) = l
            .block_type_and_previous(t, &cur)
            .map_err(internal)?
            .ok_or_else(|| RpcError::new(msg::INTERNAL))?;
        if matches!(kind, BlockType::Open | BlockType::Change | BlockType::State) {
            return Ok(cur);
        }
        cur = previous;
    }
    Err(RpcError::new(msg::INTERNAL))
}

/// The `account_info` answer; the optional fields are present as the request's flags ask.
pub struct AccountInfo {
    frontier: BlockHash,
    open_block: BlockHash,
    representative_block: BlockHash,
    balance: Amount,
    confirmed_balance: Option<Amount>,
    modified_timestamp: u64,
    block_count: u64,
    account_version: &'static str,
    confirmed_height: Option<u64>,
    confirmed_frontier: Option<BlockHash>,
    confirmation_height: Option<u64>,
    confirmation_height_frontier: Option<BlockHash>,
    representative: Option<String>,
    confirmed_representative: Option<String>,
    weight: Option<Amount>,
    /// Printed as both `pending` and `receivable`.
    receivable: Option<Amount>,
    /// Printed as both `confirmed_pending` and `confirmed_receivable`.
    confirmed_receivable: Option<Amount>,
}

impl TextAnswer for AccountInfo {
    /// The fields in the reference's order.
    fn text(&self) -> Vec<u8> {
        let mut o = ObjectText::default();
        o.field("frontier", &self.frontier)
            .field("open_block", &self.open_block)
            .field("representative_block", &self.representative_block)
            .field("balance", &self.balance)
            .field_if("confirmed_balance", &self.confirmed_balance)
            .field("modified_timestamp", &self.modified_timestamp)
            .field("block_count", &self.block_count)
            .field("account_version", &self.account_version)
            .field_if("confirmed_height", &self.confirmed_height)
            .field_if("confirmed_frontier", &self.confirmed_frontier)
            .field_if("confirmation_height", &self.confirmation_height)
            .field_if(
                "confirmation_height_frontier",
                &self.confirmation_height_frontier,
            )
            .field_if("representative", &self.representative)
            .field_if("confirmed_representative", &self.confirmed_representative)
            .field_if("weight", &self.weight)
            .field_if("pending", &self.receivable)
            .field_if("receivable", &self.receivable)
            .field_if("confirmed_pending", &self.confirmed_receivable)
            .field_if("confirmed_receivable", &self.confirmed_receivable);
        o.finish()
    }
}

/// What an `account_info` request asks.
pub struct AccountInfoQuery<'a> {
    /// `None` when the field is missing or not a string.
    pub account: Option<&'a str>,
    pub representative: bool,
    pub weight: bool,
    /// `pending` or `receivable`.
    pub receivable: bool,
    pub include_confirmed: bool,
}

pub fn account_info(ctx: &ApiContext, r: &Req) -> Result<AccountInfo, RpcError> {
    let q = AccountInfoQuery {
        account: r.get("account").and_then(Value::as_str),
        representative: opt_bool(r, "representative", false)?,
        weight: opt_bool(r, "weight", false)?,
        receivable: opt_bool(r, "pending", false)? || opt_bool(r, "receivable", false)?,
        include_confirmed: opt_bool(r, "include_confirmed", false)?,
    };
    account_info_of(ctx, &q)
}

/// The `account_info` answer to a query read from a request map or straight from the
/// request text ([`crate::actions::plain_query`]).
pub fn account_info_of(
    ctx: &ApiContext,
    q: &AccountInfoQuery<'_>,
) -> Result<AccountInfo, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account_text(q.account)?;
    let (representative, weight) = (q.representative, q.weight);
    let (pending, include_confirmed) = (q.receivable, q.include_confirmed);
    let t = read(l)?;
    let Some(info) = l.account_info(&t, &a).map_err(internal)? else {
        return err(msg::ACCOUNT_NOT_FOUND);
    };
    let ch = l.confirmation_height(&t, &a).map_err(internal)?;
    let confirmed_representative = if representative && include_confirmed {
        // Nothing confirmed: the reference prints the zero account.
        Some(if ch.height == 0 {
            Account::ZERO.encode_account()
        } else {
            l.representative_at(&t, &ch.frontier)
                .map_err(internal)?
                .encode_account()
        })
    } else {
        None
    };
    let (receivable, confirmed_receivable) = if pending {
        let total = receivable_sum(l, &t, &a, false)?;
        let confirmed = if include_confirmed {
            Some(receivable_sum(l, &t, &a, true)?)
        } else {
            None
        };
        (Some(total), confirmed)
    } else {
        (None, None)
    };
    Ok(AccountInfo {
        frontier: info.head,
        open_block: info.open_block,
        representative_block: representative_block(l, &t, &info.head)?,
        balance: info.balance,
        confirmed_balance: if include_confirmed {
            Some(confirmed_balance(l, &t, &a)?)
        } else {
            None
        },
        modified_timestamp: info.modified,
        block_count: info.block_count,
        account_version: epoch_version(info.epoch),
        confirmed_height: include_confirmed.then_some(ch.height),
        confirmed_frontier: include_confirmed.then_some(ch.frontier),
        confirmation_height: (!include_confirmed).then_some(ch.height),
        confirmation_height_frontier: (!include_confirmed).then_some(ch.frontier),
        representative: representative.then(|| info.representative.encode_account()),
        confirmed_representative,
        weight: weight.then(|| l.weight(&a)),
        receivable,
        confirmed_receivable,
    })
}

fn balance_entry(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    only_confirmed: bool,
) -> Result<Value, RpcError> {
    // No account has usize::MAX receivables: the entry is always complete.
    let mut unbounded = usize::MAX;
    balance_entry_within(l, t, a, only_confirmed, &mut unbounded)?
        .ok_or_else(|| internal("receivable scan without a bound stopped"))
}

/// [`balance_entry`] if the account's receivables fit in `budget` entries (taken from
/// it), else None.
fn balance_entry_within(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    only_confirmed: bool,
    budget: &mut usize,
) -> Result<Option<Value>, RpcError> {
    let balance = if only_confirmed {
        confirmed_balance(l, t, a)?
    } else {
        l.account_balance(t, a).map_err(internal)?
    };
    let Some(recv) = receivable_sum_within(l, t, a, only_confirmed, budget)? else {
        return Ok(None);
    };
    let recv = recv.encode_dec();
    Ok(Some(obj([
        ("balance", balance.encode_dec().into()),
        ("pending", recv.clone().into()),
        ("receivable", recv.into()),
    ])))
}

pub fn account_balance(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let only_confirmed = opt_bool(r, "include_only_confirmed", true)?;
    let t = read(l)?;
    balance_entry(l, &t, &a, only_confirmed)
}

/// [`account_balance`] when the account has at most `most` receivables (the answer is
/// then the same), else None: what it costs is known only by scanning, and this scan
/// stops early.
pub fn account_balance_within(
    ctx: &ApiContext,
    r: &Req,
    most: usize,
) -> Result<Option<Value>, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let only_confirmed = opt_bool(r, "include_only_confirmed", true)?;
    let t = read(l)?;
    let mut budget = most;
    balance_entry_within(l, &t, &a, only_confirmed, &mut budget)
}

pub fn accounts_balances(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    // No request names usize::MAX entries: the answer is always complete.
    accounts_balances_within(ctx, r, usize::MAX)?
        .ok_or_else(|| internal("accounts_balances without a bound stopped"))
}

/// [`accounts_balances`] when the named accounts and their receivables come to at most
/// `most` entries (each account counts one, for its lookups, and each receivable read
/// one), else None: a few accounts with a handful of receivables are answered like one
/// `account_balance`, a long list or a large account goes to the pool.
pub fn accounts_balances_within(
    ctx: &ApiContext,
    r: &Req,
    most: usize,
) -> Result<Option<Value>, RpcError> {
    let l = ctx.ledger()?;
    let only_confirmed = opt_bool(r, "include_only_confirmed", true)?;
    if r.get("accounts")
        .and_then(Value::as_array)
        .is_some_and(|list| list.len() > most)
    {
        return Ok(None);
    }
    let t = read(l)?;
    let mut budget = most;
    let mut balances = Map::new();
    let mut errors = Map::new();
    for s in accounts_list(r)? {
        let Some(left) = budget.checked_sub(1) else {
            return Ok(None);
        };
        budget = left;
        match PublicKey::decode_account(&s) {
            Ok(a) => match balance_entry_within(l, &t, &a, only_confirmed, &mut budget)? {
                Some(entry) => {
                    balances.insert(s, entry);
                }
                None => return Ok(None),
            },
            Err(_) => {
                errors.insert(s, msg::BAD_ACCOUNT.into());
            }
        }
    }
    let mut out = Map::new();
    if !balances.is_empty() {
        out.insert("balances".into(), Value::Object(balances));
    }
    if !errors.is_empty() {
        out.insert("errors".into(), Value::Object(errors));
    }
    Ok(Some(Value::Object(out)))
}

/// Shared by accounts_frontiers and accounts_representatives: one value per account, with
/// errors for bad or unknown accounts.
/// `normalized_keys`: key found entries by the `nano_` address (accounts_frontiers) rather
/// than by the text of the request (accounts_representatives); errors always use the text.
fn per_account(
    ctx: &ApiContext,
    r: &Req,
    key: &str,
    normalized_keys: bool,
    f: impl Fn(&nano_ledger::AccountInfo) -> Value,
) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let t = read(l)?;
    let mut found = Map::new();
    let mut errors = Map::new();
    for s in accounts_list(r)? {
        match PublicKey::decode_account(&s) {
            Ok(a) => match l.account_info(&t, &a).map_err(internal)? {
                Some(info) => {
                    let k = if normalized_keys {
                        a.encode_account()
                    } else {
                        s
                    };
                    found.insert(k, f(&info));
                }
                None => {
                    errors.insert(s, msg::ACCOUNT_NOT_FOUND.into());
                }
            },
            Err(_) => {
                errors.insert(s, msg::BAD_ACCOUNT.into());
            }
        }
    }
    let mut out = Map::new();
    if !found.is_empty() {
        out.insert(key.into(), Value::Object(found));
    }
    if !errors.is_empty() {
        out.insert("errors".into(), Value::Object(errors));
    }
    Ok(Value::Object(out))
}

pub fn accounts_frontiers(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    per_account(ctx, r, "frontiers", true, |i| i.head.encode_hex().into())
}

pub fn accounts_representatives(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    per_account(ctx, r, "representatives", false, |i| {
        i.representative.encode_account().into()
    })
}

/// The `account` parameter's ledger entry, or the reference's "Account not found".
fn opened_account_info(ctx: &ApiContext, r: &Req) -> Result<nano_ledger::AccountInfo, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let t = read(l)?;
    l.account_info(&t, &a)
        .map_err(internal)?
        .ok_or_else(|| RpcError::new(msg::ACCOUNT_NOT_FOUND))
}

pub fn account_block_count(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let info = opened_account_info(ctx, r)?;
    Ok(obj([("block_count", info.block_count.to_string().into())]))
}

pub fn account_representative(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let info = opened_account_info(ctx, r)?;
    Ok(obj([(
        "representative",
        info.representative.encode_account().into(),
    )]))
}

pub fn account_count(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let t = read(l)?;
    Ok(obj([(
        "count",
        l.account_count(&t).map_err(internal)?.to_string().into(),
    )]))
}

pub fn frontiers(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let start = json::account(r, "account")?;
    let count = required_count(r)?;
    let t = read(l)?;
    let mut m = Map::new();
    for (a, h) in l
        .frontiers(&t, &start, count.min(usize::MAX as u64) as usize)
        .map_err(internal)?
    {
        m.insert(a.encode_account(), h.encode_hex().into());
    }
    Ok(obj([("frontiers", Value::Object(m))]))
}

/// The live network's "landing" and faucet accounts, which the reference's
/// available_supply also counts as unavailable.
const UNAVAILABLE_ACCOUNTS: [&str; 2] = [
    "059F68AAB29DE0D3A27443625C7EA9CDDB6517A8B76FE37727EF6A4D76832AD5",
    "8E319CE6F3025E5B2DF66DA7AB1467FE48F1679C13DD43BFDB29FA2E9FC40D3B",
];

pub fn available_supply(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let p = ctx.params;
    let t = read(l)?;
    // Supply minus what genesis, the landing and faucet accounts hold and what was sent
    // to the burn account (its receivable), as the reference computes it.
    let mut unavailable = l
        .account_balance(&t, &p.genesis_account)
        .map_err(internal)?;
    for hex in UNAVAILABLE_ACCOUNTS {
        let a = PublicKey::decode_hex(hex).map_err(internal)?;
        let b = l.account_balance(&t, &a).map_err(internal)?;
        unavailable = unavailable.checked_add(b).unwrap_or(Amount::MAX);
    }
    let burned = receivable_sum(l, &t, &Account::ZERO, false)?;
    let available = p
        .genesis_amount
        .checked_sub(unavailable)
        .and_then(|v| v.checked_sub(burned))
        .unwrap_or_default();
    Ok(obj([("available", available.encode_dec().into())]))
}

/// Most accounts one `ledger` answer holds. An extension: the reference answers every
/// account it is asked for, and `count` -1 on the live ledger (tens of millions of
/// accounts) builds gigabytes. At about 600 bytes per account with every option, this
/// many stay under the default `max_response_size`; `account` (the start) pages through
/// any ledger.
pub const LEDGER_MAX_COUNT: u64 = 50_000;

/// The refusal of a `ledger` call that asks for, or would answer, more accounts.
pub fn ledger_too_many() -> String {
    format!(
        "ledger answers at most {LEDGER_MAX_COUNT} accounts; give a count up to {LEDGER_MAX_COUNT} and page with account"
    )
}

/// `count` of `ledger`: absent is `None`; "-1" is the largest count, as the reference's
/// unsigned parse makes it (so it is refused as too large, not as malformed).
fn ledger_count(r: &Req) -> Result<Option<u64>, RpcError> {
    if opt_text(r, "count").as_deref() == Some("-1") {
        return Ok(Some(u64::MAX));
    }
    opt_u64(r, "count", msg::INVALID_COUNT)
}

/// ledger: accounts from `account` on in key order, or by balance (descending) with
/// `sorting`; with `receivable` the threshold applies to balance + receivable. At most
/// [`LEDGER_MAX_COUNT`] accounts: a larger `count` is refused, and so is a call without
/// `count` that would answer more. Memory stays bounded by the answer: the key-order walk
/// stops at `count`, the sorted one keeps only the `count` largest balances seen.
pub fn ledger_action(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let given = ledger_count(r)?;
    if given.is_some_and(|c| c > LEDGER_MAX_COUNT) {
        return Err(RpcError::new(ledger_too_many()));
    }
    // Without a count, one more than the maximum tells a too-large answer apart.
    let limit = given.unwrap_or(LEDGER_MAX_COUNT + 1) as usize;
    let threshold = opt_threshold(r)?;
    let start = match opt_text(r, "account") {
        Some(s) => PublicKey::decode_account(&s).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))?,
        None => Account::ZERO,
    };
    let modified_since = opt_u64(r, "modified_since", "Invalid timestamp")?.unwrap_or(0);
    let sorting = opt_bool(r, "sorting", false)?;
    let representative = opt_bool(r, "representative", false)?;
    let weight = opt_bool(r, "weight", false)?;
    let receivable = opt_bool(r, "pending", false)? || opt_bool(r, "receivable", false)?;
    let t = read(l)?;
    // Whether an account belongs in the answer (its receivable total when asked for).
    let qualifies = |a: &Account, info: &nano_ledger::AccountInfo| -> Result<bool, RpcError> {
        if info.modified < modified_since {
            return Ok(false);
        }
        if !receivable || threshold.is_zero() {
            return Ok(receivable || info.balance >= threshold);
        }
        let total = receivable_sum(l, &t, a, false)?;
        Ok(info.balance.checked_add(total).unwrap_or(Amount::MAX) >= threshold)
    };
    let mut chosen: Vec<(Account, nano_ledger::AccountInfo)> = Vec::new();
    if limit > 0 {
        let accounts = l.accounts_from(&t, &start).map_err(internal)?;
        if sorting {
            // The reference sorts (balance, account) pairs and reverses them: keep the
            // `limit` largest in a min-heap.
            let mut top = std::collections::BinaryHeap::new();
            for item in accounts {
                let (a, info) = item.map_err(internal)?;
                if qualifies(&a, &info)? {
                    top.push(std::cmp::Reverse((info.balance, a)));
                    if top.len() > limit {
                        top.pop();
                    }
                }
            }
            let mut order: Vec<(Amount, Account)> = top.into_iter().map(|x| x.0).collect();
            order.sort_by(|x, y| y.cmp(x));
            for (_, a) in order {
                if let Some(info) = l.account_info(&t, &a).map_err(internal)? {
                    chosen.push((a, info));
                }
            }
        } else {
            for item in accounts {
                let (a, info) = item.map_err(internal)?;
                if qualifies(&a, &info)? {
                    chosen.push((a, info));
                    if chosen.len() >= limit {
                        break;
                    }
                }
            }
        }
    }
    if given.is_none() && chosen.len() as u64 > LEDGER_MAX_COUNT {
        return Err(RpcError::new(ledger_too_many()));
    }
    let mut m = Map::new();
    for (a, info) in chosen {
        let mut e = Map::new();
        // `ledger` (unlike wallet_ledger) puts the receivable total first.
        if receivable {
            let total = receivable_sum(l, &t, &a, false)?;
            e.insert("pending".into(), total.encode_dec().into());
            e.insert("receivable".into(), total.encode_dec().into());
        }
        if let Value::Object(rest) = ledger_entry(l, &t, &a, &info, representative, weight, false)?
        {
            e.extend(rest);
        }
        m.insert(a.encode_account(), Value::Object(e));
    }
    Ok(obj([("accounts", Value::Object(m))]))
}

/// One account of the `ledger` and `wallet_ledger` answers.
pub(crate) fn ledger_entry(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    info: &nano_ledger::AccountInfo,
    representative: bool,
    weight: bool,
    receivable: bool,
) -> Result<Value, RpcError> {
    let mut e = Map::new();
    e.insert("frontier".into(), info.head.encode_hex().into());
    e.insert("open_block".into(), info.open_block.encode_hex().into());
    let rb = representative_block(l, t, &info.head)?;
    e.insert("representative_block".into(), rb.encode_hex().into());
    e.insert("balance".into(), info.balance.encode_dec().into());
    e.insert(
        "modified_timestamp".into(),
        info.modified.to_string().into(),
    );
    e.insert("block_count".into(), info.block_count.to_string().into());
    if representative {
        e.insert(
            "representative".into(),
            info.representative.encode_account().into(),
        );
    }
    if weight {
        e.insert("weight".into(), l.weight(a).encode_dec().into());
    }
    if receivable {
        let total = receivable_sum(l, t, a, false)?.encode_dec();
        e.insert("pending".into(), total.clone().into());
        e.insert("receivable".into(), total.into());
    }
    Ok(Value::Object(e))
}
