//! Read-only ledger actions (account_info, block_info, history, receivables, counts ...)
//! with the reference node's answer shapes: every number a decimal string, hashes upper
//! hex, accounts as `nano_` addresses, `"true"`/`"false"` for flags.

use nano_core::{Account, Amount, Block, BlockHash, PublicKey};
use nano_ledger::{BlockInfo, BlockSubtype, Ledger, ReadTxn};
use serde_json::{Map, Value};

use super::{internal, obj};
use crate::context::ApiContext;
use crate::error::{err, msg, RpcError};
use crate::json::{self, block_out, opt_bool, opt_text, opt_u64, Req};

fn read(ledger: &Ledger) -> Result<ReadTxn<'_>, RpcError> {
    ledger.read_txn().map_err(internal)
}

fn tf(b: bool) -> Value {
    Value::String(if b { "true" } else { "false" }.into())
}

fn epoch_version(e: nano_core::Epoch) -> &'static str {
    match e {
        nano_core::Epoch::Epoch1 => "1",
        nano_core::Epoch::Epoch2 => "2",
        _ => "0",
    }
}

fn accounts_list(r: &Req) -> Result<Vec<String>, RpcError> {
    match r.get("accounts") {
        Some(Value::Array(a)) => Ok(a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()),
        _ => err(msg::UNABLE_TO_PARSE_JSON),
    }
}

fn hashes_list(r: &Req) -> Result<Vec<String>, RpcError> {
    match r.get("hashes") {
        Some(Value::Array(a)) => Ok(a
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .collect()),
        _ => err(msg::UNABLE_TO_PARSE_JSON),
    }
}

/// Balance at the account's confirmed frontier (zero when nothing is confirmed).
fn confirmed_balance(l: &Ledger, t: &ReadTxn<'_>, a: &Account) -> Result<Amount, RpcError> {
    let ch = l.store().confirmation_height(t, a).map_err(internal)?;
    if ch.height == 0 {
        return Ok(Amount::ZERO);
    }
    Ok(l.balance_at(t, &ch.frontier)
        .map_err(internal)?
        .unwrap_or_default())
}

/// Receivable total, optionally counting only sends that are confirmed.
fn receivable_sum(
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

/// The hash of the nearest block at or before `hash` that names a representative: the
/// reference's `representative_block`.
fn representative_block(
    l: &Ledger,
    t: &ReadTxn<'_>,
    hash: &BlockHash,
) -> Result<BlockHash, RpcError> {
    let mut cur = *hash;
    // Bounded by the chain length; each step moves to an older block.
    while !cur.is_zero() {
        let b = l
            .block(t, &cur)
            .map_err(internal)?
            .ok_or_else(|| RpcError::new(msg::INTERNAL))?;
        if b.block.representative_field().is_some() {
            return Ok(cur);
        }
        cur = b.block.previous();
    }
    Err(RpcError::new(msg::INTERNAL))
}

pub fn account_info(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let representative = opt_bool(r, "representative", false)?;
    let weight = opt_bool(r, "weight", false)?;
    let pending = opt_bool(r, "pending", false)? || opt_bool(r, "receivable", false)?;
    let include_confirmed = opt_bool(r, "include_confirmed", false)?;
    let t = read(l)?;
    let Some(info) = l.account_info(&t, &a).map_err(internal)? else {
        return err(msg::ACCOUNT_NOT_FOUND);
    };
    let ch = l.store().confirmation_height(&t, &a).map_err(internal)?;
    let mut m = Map::new();
    m.insert("frontier".into(), info.head.encode_hex().into());
    m.insert("open_block".into(), info.open_block.encode_hex().into());
    let rep_block = representative_block(l, &t, &info.head)?;
    m.insert("representative_block".into(), rep_block.encode_hex().into());
    m.insert("balance".into(), info.balance.encode_dec().into());
    if include_confirmed {
        m.insert(
            "confirmed_balance".into(),
            confirmed_balance(l, &t, &a)?.encode_dec().into(),
        );
    }
    m.insert(
        "modified_timestamp".into(),
        info.modified.to_string().into(),
    );
    m.insert("block_count".into(), info.block_count.to_string().into());
    m.insert("account_version".into(), epoch_version(info.epoch).into());
    if include_confirmed {
        m.insert("confirmed_height".into(), ch.height.to_string().into());
        m.insert("confirmed_frontier".into(), ch.frontier.encode_hex().into());
    } else {
        m.insert("confirmation_height".into(), ch.height.to_string().into());
        m.insert(
            "confirmation_height_frontier".into(),
            ch.frontier.encode_hex().into(),
        );
    }
    if representative {
        m.insert(
            "representative".into(),
            info.representative.encode_account().into(),
        );
        if include_confirmed {
            // Nothing confirmed: the reference prints the zero account.
            let rep = if ch.height == 0 {
                Account::ZERO.encode_account().into()
            } else {
                let rep = l.representative_at(&t, &ch.frontier).map_err(internal)?;
                rep.encode_account().into()
            };
            m.insert("confirmed_representative".into(), rep);
        }
    }
    if weight {
        m.insert("weight".into(), l.weight(&a).encode_dec().into());
    }
    if pending {
        let total = receivable_sum(l, &t, &a, false)?.encode_dec();
        m.insert("pending".into(), total.clone().into());
        m.insert("receivable".into(), total.into());
        if include_confirmed {
            let c = receivable_sum(l, &t, &a, true)?.encode_dec();
            m.insert("confirmed_pending".into(), c.clone().into());
            m.insert("confirmed_receivable".into(), c.into());
        }
    }
    Ok(Value::Object(m))
}

fn balance_entry(
    l: &Ledger,
    t: &ReadTxn<'_>,
    a: &Account,
    only_confirmed: bool,
) -> Result<Value, RpcError> {
    let balance = if only_confirmed {
        confirmed_balance(l, t, a)?
    } else {
        l.account_balance(t, a).map_err(internal)?
    };
    let recv = receivable_sum(l, t, a, only_confirmed)?.encode_dec();
    Ok(obj([
        ("balance", balance.encode_dec().into()),
        ("pending", recv.clone().into()),
        ("receivable", recv.into()),
    ]))
}

pub fn account_balance(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let only_confirmed = opt_bool(r, "include_only_confirmed", true)?;
    let t = read(l)?;
    balance_entry(l, &t, &a, only_confirmed)
}

pub fn accounts_balances(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let only_confirmed = opt_bool(r, "include_only_confirmed", true)?;
    let t = read(l)?;
    let mut balances = Map::new();
    let mut errors = Map::new();
    for s in accounts_list(r)? {
        match PublicKey::decode_account(&s) {
            Ok(a) => {
                balances.insert(s, balance_entry(l, &t, &a, only_confirmed)?);
            }
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
    Ok(Value::Object(out))
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
    f: impl Fn(&nano_store::AccountInfo) -> Value,
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

pub fn account_block_count(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let t = read(l)?;
    let info = l
        .account_info(&t, &a)
        .map_err(internal)?
        .ok_or_else(|| RpcError::new(msg::ACCOUNT_NOT_FOUND))?;
    Ok(obj([("block_count", info.block_count.to_string().into())]))
}

pub fn account_representative(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    let t = read(l)?;
    let info = l
        .account_info(&t, &a)
        .map_err(internal)?
        .ok_or_else(|| RpcError::new(msg::ACCOUNT_NOT_FOUND))?;
    Ok(obj([(
        "representative",
        info.representative.encode_account().into(),
    )]))
}

pub fn account_weight(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let a = json::account(r, "account")?;
    Ok(obj([("weight", l.weight(&a).encode_dec().into())]))
}

pub fn account_count(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let t = read(l)?;
    Ok(obj([(
        "count",
        l.account_count(&t).map_err(internal)?.to_string().into(),
    )]))
}

pub fn block_count(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let t = read(l)?;
    // Unchecked blocks wait in the running node's memory, as in the reference (the
    // ledger file has no unchecked table): without a node, none wait.
    let unchecked = ctx.node.as_ref().map_or(0, |n| n.unchecked_count() as u64);
    Ok(obj([
        (
            "count",
            l.block_count(&t).map_err(internal)?.to_string().into(),
        ),
        ("unchecked", unchecked.to_string().into()),
        ("cemented", l.cemented_count().to_string().into()),
    ]))
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
fn linked_account(l: &Ledger, t: &ReadTxn<'_>, info: &BlockInfo) -> Result<Value, RpcError> {
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
        let h = BlockHash::decode_hex(&s).map_err(|_| RpcError::new(msg::BAD_HASH))?;
        match l.block_info(&t, &h).map_err(internal)? {
            Some(info) => {
                let mut m = block_info_fields(&info, jb);
                if want_receivable || want_receive_hash {
                    let dest = match (&info.block, info.subtype) {
                        (Block::Send(b), _) => Some(b.destination),
                        (Block::State(b), BlockSubtype::Send) => Some(b.link.as_account()),
                        _ => None,
                    };
                    let key = dest.map(|account| nano_store::PendingKey { account, hash: h });
                    let receivable = match &key {
                        Some(k) => l.store().pending(&t, k).map_err(internal)?.is_some(),
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
        let h = BlockHash::decode_hex(&s).map_err(|_| RpcError::new(msg::BAD_HASH))?;
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

pub fn delegators(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let rep = json::account(r, "account")?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(1024);
    let threshold = match opt_text(r, "threshold") {
        Some(s) => Amount::decode_dec(&s).map_err(|_| RpcError::new(msg::BAD_THRESHOLD))?,
        None => Amount::ZERO,
    };
    let start = match opt_text(r, "start") {
        Some(s) => {
            Some(PublicKey::decode_account(&s).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))?)
        }
        None => None,
    };
    let t = read(l)?;
    let mut m = Map::new();
    for (a, bal) in l.delegators(&t, &rep).map_err(internal)? {
        if m.len() as u64 >= count {
            break;
        }
        if start.is_some_and(|s| a <= s) || bal < threshold {
            continue;
        }
        m.insert(a.encode_account(), bal.encode_dec().into());
    }
    Ok(obj([("delegators", Value::Object(m))]))
}

pub fn delegators_count(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let rep = json::account(r, "account")?;
    let t = read(l)?;
    let n = l.delegators(&t, &rep).map_err(internal)?.len();
    Ok(obj([("count", n.to_string().into())]))
}

pub fn representatives(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let sorting = opt_bool(r, "sorting", false)?;
    let t = read(l)?;
    let mut reps: std::collections::BTreeMap<Account, Amount> = Default::default();
    for (a, _) in l
        .frontiers(&t, &Account::ZERO, usize::MAX)
        .map_err(internal)?
    {
        if let Some(info) = l.account_info(&t, &a).map_err(internal)? {
            reps.entry(info.representative).or_default();
        }
    }
    let mut list: Vec<(Account, Amount)> = reps
        .into_keys()
        .map(|a| (a, l.weight(&a)))
        .filter(|(_, w)| !w.is_zero())
        .collect();
    if sorting {
        list.sort_by_key(|x| std::cmp::Reverse(x.1));
    }
    let mut m = Map::new();
    for (a, w) in list.into_iter().take(count.min(usize::MAX as u64) as usize) {
        m.insert(a.encode_account(), w.encode_dec().into());
    }
    Ok(obj([("representatives", Value::Object(m))]))
}

/// One receivable entry beyond the plain hash: the amount alone, or an object with the
/// amount and the asked-for `source` / `min_version`.
pub(crate) fn receivable_value(
    info: &nano_store::PendingInfo,
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
) -> Result<Vec<(BlockHash, nano_store::PendingInfo)>, RpcError> {
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

fn opt_threshold(r: &Req) -> Result<Amount, RpcError> {
    match opt_text(r, "threshold") {
        Some(s) => Amount::decode_dec(&s).map_err(|_| RpcError::new(msg::BAD_THRESHOLD)),
        None => Ok(Amount::ZERO),
    }
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
        exists = l
            .store()
            .pending(
                &t,
                &nano_store::PendingKey {
                    account: dest,
                    hash: h,
                },
            )
            .map_err(internal)?
            .is_some();
        exists = exists && filter.passes(l, &t, &h)?;
    }
    Ok(obj([("exists", if exists { "1" } else { "0" }.into())]))
}

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

/// A required count as the reference reads it: missing, malformed or zero is
/// "Invalid count".
fn required_count(r: &Req) -> Result<u64, RpcError> {
    match opt_u64(r, "count", msg::INVALID_COUNT)? {
        Some(n) if n > 0 => Ok(n),
        _ => err(msg::INVALID_COUNT),
    }
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
        let h = BlockHash::decode_hex(&head).map_err(|_| RpcError::new(msg::BAD_HASH))?;
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

/// ledger: accounts from `account` on in key order, or by balance (descending) with
/// `sorting`; with `receivable` the threshold applies to balance + receivable.
pub fn ledger_action(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
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
    let mut candidates = Vec::new();
    for (a, _) in l.frontiers(&t, &start, usize::MAX).map_err(internal)? {
        if let Some(info) = l.account_info(&t, &a).map_err(internal)? {
            if info.modified >= modified_since {
                candidates.push((a, info));
            }
        }
    }
    if sorting {
        // The reference sorts (balance, account) pairs and reverses them.
        candidates.sort_by_key(|x| std::cmp::Reverse((x.1.balance, x.0)));
    }
    let mut m = Map::new();
    for (a, info) in candidates {
        if m.len() as u64 >= count {
            break;
        }
        if !receivable && info.balance < threshold {
            continue;
        }
        let mut e = Map::new();
        // `ledger` (unlike wallet_ledger) puts the receivable total first.
        if receivable {
            let total = receivable_sum(l, &t, &a, false)?;
            if info.balance.checked_add(total).unwrap_or(Amount::MAX) < threshold {
                continue;
            }
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
    info: &nano_store::AccountInfo,
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
