//! Node-wallet actions that manage keys, passwords and wallet views of the ledger, with
//! the reference node's answers and error texts. Actions that create blocks (send,
//! receive, representative changes) live with block processing.

use nano_core::{Account, Amount, PublicKey, RawKey};
use nano_ledger::{Ledger, ReadTxn};
use nano_wallet::{Restore, WalletError, WalletId};
use serde_json::{Map, Value};

use super::ledger::receivable_sum_within;
use super::wallet_lookup::{wallet_id, werr};
use super::{internal, obj};
use crate::context::ApiContext;
use crate::error::{err, msg, RpcError};
use crate::json::{self, opt_bool, opt_text, opt_u64, req_str, Req};

fn seed_of(r: &Req) -> Result<RawKey, RpcError> {
    json::hex256(req_str(r, "seed")?, RawKey::from_bytes, msg::BAD_SEED)
}

/// Whether an account has any activity (blocks or receivables): the seed-restore scan.
fn used(l: &Ledger, t: &ReadTxn<'_>, a: &Account) -> bool {
    l.account_info(t, a).ok().flatten().is_some()
        || l.receivable(t, a, Amount::ZERO, 1)
            .map(|v| !v.is_empty())
            .unwrap_or(false)
}

/// A new wallet's representative: one of `node.preconfigured_representatives` at random,
/// as the reference picks it.
fn default_rep(ctx: &ApiContext) -> Account {
    use rand::seq::IndexedRandom;
    ctx.preconfigured_representatives
        .choose(&mut rand::rng())
        .copied()
        .unwrap_or(ctx.params.genesis_account)
}

pub fn wallet_create(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    if r.contains_key("seed") {
        let seed = seed_of(r)?;
        let l = ctx.ledger()?;
        let t = l.read_txn().map_err(internal)?;
        let check = |a: &Account| used(l, &t, a);
        let (id, restored) = w
            .create_from_seed(default_rep(ctx), &seed, Restore::Scan(&check))
            .map_err(werr)?;
        return Ok(obj([
            ("wallet", id.encode_hex().into()),
            (
                "last_restored_account",
                restored
                    .last_account
                    .map(|a| a.encode_account())
                    .unwrap_or_default()
                    .into(),
            ),
            ("restored_count", restored.count.to_string().into()),
        ]));
    }
    let id = w.create(default_rep(ctx)).map_err(werr)?;
    Ok(obj([("wallet", id.encode_hex().into())]))
}

pub fn wallet_change_seed(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let seed = seed_of(r)?;
    let restored = match opt_u64(r, "count", msg::INVALID_COUNT)? {
        Some(n) => w.change_seed(id, &seed, Restore::Count(n.min(u32::MAX as u64) as u32)),
        None => {
            let l = ctx.ledger()?;
            let t = l.read_txn().map_err(internal)?;
            let check = |a: &Account| used(l, &t, a);
            w.change_seed(id, &seed, Restore::Scan(&check))
        }
    }
    .map_err(werr)?;
    Ok(obj([
        ("success", "".into()),
        (
            "last_restored_account",
            restored
                .last_account
                .map(|a| a.encode_account())
                .unwrap_or_default()
                .into(),
        ),
        ("restored_count", restored.count.to_string().into()),
    ]))
}

pub fn wallet_destroy(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    w.destroy(id).map_err(werr)?;
    Ok(obj([("destroyed", "1".into())]))
}

pub fn wallet_add(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let key = json::hex256(req_str(r, "key")?, RawKey::from_bytes, msg::BAD_PRIVATE_KEY)?;
    let a = w.insert_adhoc(id, &key).map_err(werr)?;
    precompute_if_asked(ctx, r, id, &[a])?;
    Ok(obj([("account", a.encode_account().into())]))
}

pub fn wallet_add_watch(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let accounts: Vec<Account> = match r.get("accounts") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                PublicKey::decode_account(v.as_str().unwrap_or_default())
                    .map_err(|_| RpcError::new(msg::BAD_ACCOUNT))
            })
            .collect::<Result<_, _>>()?,
        _ => return err(msg::UNABLE_TO_PARSE_JSON),
    };
    w.insert_watch(id, &accounts).map_err(werr)?;
    Ok(obj([("success", "".into())]))
}

pub fn account_create(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let a = match opt_text(r, "index") {
        Some(i) => {
            let i: u32 = i.parse().map_err(|_| RpcError::new(msg::INVALID_INDEX))?;
            w.deterministic_insert_at(id, i)
        }
        None => w.deterministic_insert(id),
    }
    .map_err(werr)?;
    precompute_if_asked(ctx, r, id, &[a])?;
    Ok(obj([("account", a.encode_account().into())]))
}

/// The `work` option of `account_create`, `accounts_create` and `wallet_add` (default
/// true): precompute work for each new account's next block (its open block, or the
/// block after its head when the ledger already has the account) in the background.
fn precompute_if_asked(
    ctx: &ApiContext,
    r: &Req,
    id: WalletId,
    accounts: &[Account],
) -> Result<(), RpcError> {
    if !json::opt_bool(r, "work", true)? {
        return Ok(());
    }
    for a in accounts {
        let head = match &ctx.ledger {
            Some(l) => {
                let t = l.read_txn().map_err(super::internal)?;
                l.account_info(&t, a)
                    .map_err(super::internal)?
                    .map(|i| i.head)
            }
            None => None,
        };
        let root: nano_core::Root = match head {
            Some(h) => h.into(),
            None => (*a).into(),
        };
        super::node_ops::precompute_next(ctx, id, *a, root);
    }
    Ok(())
}

pub fn accounts_create(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let n = opt_u64(r, "count", msg::INVALID_COUNT)?
        .ok_or_else(|| RpcError::new(msg::INVALID_COUNT))?;
    if n == 0 || n > 10_000 {
        return err(msg::INVALID_COUNT);
    }
    let list = w.deterministic_insert_many(id, n as u32).map_err(werr)?;
    precompute_if_asked(ctx, r, id, &list)?;
    Ok(obj([(
        "accounts",
        Value::Array(list.iter().map(|a| a.encode_account().into()).collect()),
    )]))
}

pub fn account_list(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let list = w.accounts(id).map_err(werr)?;
    Ok(obj([(
        "accounts",
        Value::Array(list.iter().map(|a| a.encode_account().into()).collect()),
    )]))
}

pub fn account_remove(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let a = json::account(r, "account")?;
    w.remove_account(id, &a).map_err(werr)?;
    Ok(obj([("removed", "1".into())]))
}

pub fn account_move(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let target = wallet_id(w, r)?;
    let source = json::hex256(req_str(r, "source")?, WalletId, msg::BAD_WALLET)?;
    if !w.exists(source).map_err(werr)? {
        return err("Wallet not found");
    }
    let accounts: Vec<Account> = match r.get("accounts") {
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                PublicKey::decode_account(v.as_str().unwrap_or_default())
                    .map_err(|_| RpcError::new(msg::BAD_ACCOUNT))
            })
            .collect::<Result<_, _>>()?,
        _ => return err(msg::UNABLE_TO_PARSE_JSON),
    };
    let moved = w.move_accounts(target, source, &accounts).is_ok();
    Ok(obj([("moved", if moved { "1" } else { "0" }.into())]))
}

pub fn wallet_contains(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let a = json::account(r, "account")?;
    let e = w.contains(id, &a).map_err(werr)?;
    Ok(obj([("exists", if e { "1" } else { "0" }.into())]))
}

pub fn password_change(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let pw = req_str(r, "password")?;
    let ok = w.password_change(id, pw).is_ok();
    Ok(obj([("changed", if ok { "1" } else { "0" }.into())]))
}

pub fn password_enter(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let pw = req_str(r, "password")?;
    let ok = match w.enter_password(id, pw) {
        Ok(()) => true,
        Err(WalletError::InvalidPassword) => false,
        Err(e) => return Err(werr(e)),
    };
    Ok(obj([("valid", if ok { "1" } else { "0" }.into())]))
}

pub fn password_valid(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let v = w.valid_password(id).map_err(werr)?;
    Ok(obj([("valid", if v { "1" } else { "0" }.into())]))
}

pub fn wallet_locked(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let v = w.locked(id).map_err(werr)?;
    Ok(obj([("locked", if v { "1" } else { "0" }.into())]))
}

pub fn wallet_lock(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    w.lock(id).map_err(werr)?;
    Ok(obj([("locked", "1".into())]))
}

pub fn wallet_seed(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let seed = w.seed(id).map_err(werr)?;
    Ok(obj([("seed", seed.encode_hex().into())]))
}

pub fn wallet_representative(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let rep = w.representative(id).map_err(werr)?;
    Ok(obj([("representative", rep.encode_account().into())]))
}

pub fn wallet_representative_set(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let rep = PublicKey::decode_account(req_str(r, "representative")?)
        .map_err(|_| RpcError::new(msg::BAD_REPRESENTATIVE))?;
    let update = opt_bool(r, "update_existing_accounts", false)?;
    // Changing accounts needs their keys: refuse before changing anything.
    if update && w.locked(id).map_err(werr)? {
        return err("Wallet is locked");
    }
    w.representative_set(id, &rep).map_err(werr)?;
    if update {
        super::node_ops::change_wallet_representatives(ctx, id, rep)?;
    }
    Ok(obj([("set", "1".into())]))
}

pub fn wallet_export(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    Ok(obj([("json", w.export_json(id).map_err(werr)?.into())]))
}

pub fn wallet_key_valid(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    password_valid(ctx, r)
}

pub fn work_get(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let a = json::account(r, "account")?;
    if !w.contains(id, &a).map_err(werr)? {
        return err("Account not found in wallet");
    }
    Ok(obj([(
        "work",
        format!("{:016x}", w.work_get(id, &a).map_err(werr)?).into(),
    )]))
}

pub fn work_set(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let a = json::account(r, "account")?;
    let work = nano_core::blocks::parse_work_hex(req_str(r, "work")?)
        .map_err(|_| RpcError::new(msg::BAD_WORK))?;
    if !w.contains(id, &a).map_err(werr)? {
        return err("Account not found in wallet");
    }
    w.work_set(id, &a, work).map_err(werr)?;
    Ok(obj([("success", "".into())]))
}

pub fn wallet_work_get(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let mut m = Map::new();
    for e in w.account_entries(id).map_err(werr)? {
        m.insert(
            e.account.encode_account(),
            format!("{:016x}", e.work).into(),
        );
    }
    Ok(obj([("works", Value::Object(m))]))
}

pub fn wallet_info(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    let t = l.read_txn().map_err(internal)?;
    let (mut balance, mut receivable) = (Amount::ZERO, Amount::ZERO);
    let (mut adhoc, mut det, mut blocks, mut cemented) = (0u64, 0u64, 0u64, 0u64);
    let entries = w.account_entries(id).map_err(werr)?;
    for e in &entries {
        match e.kind {
            nano_wallet::KeyKind::Adhoc => adhoc += 1,
            nano_wallet::KeyKind::Deterministic(_) => det += 1,
            _ => {}
        }
        if let Some(info) = l.account_info(&t, &e.account).map_err(internal)? {
            balance = balance.checked_add(info.balance).unwrap_or(Amount::MAX);
            blocks += info.block_count;
            cemented += l
                .confirmation_height(&t, &e.account)
                .map_err(internal)?
                .height;
        }
        receivable = receivable
            .checked_add(l.receivable_total(&t, &e.account).map_err(internal)?)
            .unwrap_or(Amount::MAX);
    }
    Ok(obj([
        ("balance", balance.encode_dec().into()),
        ("pending", receivable.encode_dec().into()),
        ("receivable", receivable.encode_dec().into()),
        ("accounts_count", entries.len().to_string().into()),
        ("accounts_block_count", blocks.to_string().into()),
        ("accounts_cemented_block_count", cemented.to_string().into()),
        ("deterministic_count", det.to_string().into()),
        ("adhoc_count", adhoc.to_string().into()),
        (
            "deterministic_index",
            w.deterministic_index(id).map_err(werr)?.to_string().into(),
        ),
    ]))
}

pub fn wallet_balances(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    // No wallet holds usize::MAX entries: the answer is always complete.
    wallet_balances_within(ctx, r, usize::MAX)?
        .ok_or_else(|| internal("wallet_balances without a bound stopped"))
}

/// [`wallet_balances`] when the wallet's accounts and their receivables come to at most
/// `most` entries (each account one, each receivable read one), else None: a small
/// wallet is answered like `account_balance`, a large one goes to the pool.
pub fn wallet_balances_within(
    ctx: &ApiContext,
    r: &Req,
    most: usize,
) -> Result<Option<Value>, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    let threshold = match opt_text(r, "threshold") {
        Some(s) => Amount::decode_dec(&s).map_err(|_| RpcError::new(msg::BAD_THRESHOLD))?,
        None => Amount::ZERO,
    };
    let t = l.read_txn().map_err(internal)?;
    let Some(accounts) = w.accounts_within(id, most).map_err(werr)? else {
        return Ok(None);
    };
    let mut budget = most - accounts.len();
    let mut m = Map::new();
    for a in accounts {
        let bal = l.account_balance(&t, &a).map_err(internal)?;
        if bal < threshold {
            continue;
        }
        let Some(recv) = receivable_sum_within(l, &t, &a, false, &mut budget)? else {
            return Ok(None);
        };
        let recv = recv.encode_dec();
        m.insert(
            a.encode_account(),
            obj([
                ("balance", bal.encode_dec().into()),
                ("pending", recv.clone().into()),
                ("receivable", recv.into()),
            ]),
        );
    }
    Ok(Some(obj([("balances", Value::Object(m))])))
}

pub fn wallet_frontiers(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    let t = l.read_txn().map_err(internal)?;
    let mut m = Map::new();
    for a in w.accounts(id).map_err(werr)? {
        if let Some(h) = l.latest(&t, &a).map_err(internal)? {
            m.insert(a.encode_account(), h.encode_hex().into());
        }
    }
    Ok(obj([("frontiers", Value::Object(m))]))
}

/// wallet_receivable / wallet_pending: per wallet account, a list of hashes unless a
/// non-zero threshold or `source` asks for hash → amount (or an object with `source` and
/// `min_version`); accounts without receivables are left out.
pub fn wallet_receivable(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let threshold = match opt_text(r, "threshold") {
        Some(s) => Amount::decode_dec(&s).map_err(|_| RpcError::new(msg::BAD_THRESHOLD))?,
        None => Amount::ZERO,
    };
    let source = opt_bool(r, "source", false)?;
    let min_version = opt_bool(r, "min_version", false)?;
    let filter = super::ledger::ConfirmedFilter::new(ctx, r)?;
    // The reference checks only threshold and source here (not min_version).
    let simple = threshold.is_zero() && !source;
    let t = l.read_txn().map_err(internal)?;
    let mut m = Map::new();
    for a in w.accounts(id).map_err(werr)? {
        let mut items = Vec::new();
        for (h, info) in l
            .receivable(&t, &a, threshold, usize::MAX)
            .map_err(internal)?
        {
            if items.len() as u64 >= count {
                break;
            }
            if !filter.passes(l, &t, &h)? {
                continue;
            }
            items.push((h, info));
        }
        if items.is_empty() {
            continue;
        }
        let v = if simple {
            Value::Array(items.iter().map(|(h, _)| h.encode_hex().into()).collect())
        } else {
            let mut o = Map::new();
            for (h, info) in items {
                let e = super::ledger::receivable_value(&info, source, min_version);
                o.insert(h.encode_hex(), e);
            }
            Value::Object(o)
        };
        m.insert(a.encode_account(), v);
    }
    Ok(obj([("blocks", Value::Object(m))]))
}

/// The leading decimal digits of `modified_since` as C's strtoul reads them (the
/// reference's wallet_ledger never rejects the value).
fn lenient_u64(r: &Req, k: &str) -> u64 {
    let text = opt_text(r, k).unwrap_or_default();
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().unwrap_or(0)
}

pub fn wallet_ledger(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    let representative = opt_bool(r, "representative", false)?;
    let weight = opt_bool(r, "weight", false)?;
    let receivable = opt_bool(r, "pending", false)? || opt_bool(r, "receivable", false)?;
    let modified_since = lenient_u64(r, "modified_since");
    let t = l.read_txn().map_err(internal)?;
    let mut m = Map::new();
    for a in w.accounts(id).map_err(werr)? {
        let Some(info) = l.account_info(&t, &a).map_err(internal)? else {
            continue;
        };
        if info.modified < modified_since {
            continue;
        }
        let e = super::ledger::ledger_entry(l, &t, &a, &info, representative, weight, receivable)?;
        m.insert(a.encode_account(), e);
    }
    Ok(obj([("accounts", Value::Object(m))]))
}

pub fn wallet_history(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    // The reference's default is 1, and a bad value is "Invalid timestamp".
    let modified_since = opt_u64(r, "modified_since", "Invalid timestamp")?.unwrap_or(1);
    let t = l.read_txn().map_err(internal)?;
    let mut entries: Vec<(u64, Value)> = Vec::new();
    for a in w.accounts(id).map_err(werr)? {
        // Bounded by each account's chain length.
        for info in l
            .history(&t, &a, None, usize::MAX, false)
            .map_err(internal)?
        {
            if info.sideband.timestamp < modified_since {
                break;
            }
            // The reference's history visitor (non-raw, no filter): type, account and
            // amount, or nothing for change and epoch blocks.
            let Some(mut e) = super::ledger::history_entry(l, &t, &info, false, &[])? else {
                continue;
            };
            let mut m = serde_json::Map::new();
            for k in ["type", "account", "amount"] {
                if let Some(v) = e.shift_remove(k) {
                    m.insert(k.into(), v);
                }
            }
            m.insert("block_account".into(), a.encode_account().into());
            m.insert("hash".into(), info.hash.encode_hex().into());
            m.insert(
                "local_timestamp".into(),
                info.sideband.timestamp.to_string().into(),
            );
            entries.push((info.sideband.timestamp, Value::Object(m)));
        }
    }
    entries.sort_by_key(|x| std::cmp::Reverse(x.0));
    Ok(obj([(
        "history",
        Value::Array(entries.into_iter().map(|(_, v)| v).collect()),
    )]))
}

pub fn receive_minimum(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let v = *ctx
        .receive_minimum
        .lock()
        .map_err(|_| RpcError::new(msg::INTERNAL))?;
    Ok(obj([("amount", v.encode_dec().into())]))
}

pub fn receive_minimum_set(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let a = json::amount(r, "amount")?;
    *ctx.receive_minimum
        .lock()
        .map_err(|_| RpcError::new(msg::INTERNAL))? = a;
    Ok(obj([("success", "".into())]))
}
