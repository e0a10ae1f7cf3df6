//! Actions that need the running node: publishing blocks (`process`), wallet sends,
//! receives and representative changes (which build, work, sign and publish a block),
//! elections (`block_confirm`, `confirmation_*`) and the network (`peers`, `telemetry`,
//! `representatives_online`, `republish`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nano_core::{Account, Amount, Block, BlockHash, Epoch, KeyPair, Link, Signature, StateBlock};
use nano_ledger::Ledger;
use nano_wallet::WalletId;
use serde_json::{json, Map, Value};

use super::wallet_lookup::{wallet_id, werr};
use super::{internal, node, obj};
use crate::context::ApiContext;
use crate::error::{err, msg, RpcError};
use crate::json::{self, opt_bool, opt_text, opt_u64, req_str, Req};
use crate::work_generation::{self, WorkEnv, Workers};

/// Checks a state block against the `subtype` the caller claims, as the reference does
/// before publishing: a wrong claim is refused instead of silently published.
/// The reference's `subtype` check for state blocks: against the account's current
/// balance (not the previous block's), after a gap check on `previous`; legacy blocks
/// are not checked.
fn check_subtype(ctx: &ApiContext, block: &Block, subtype: &str) -> Result<(), RpcError> {
    let Block::State(b) = block else {
        return Ok(());
    };
    let l = ctx.ledger()?;
    let t = l.read_txn().map_err(internal)?;
    if !b.previous.is_zero() && l.block(&t, &b.previous).map_err(internal)?.is_none() {
        return err("Gap previous block");
    }
    let balance = l.account_balance(&t, &b.account).map_err(internal)?;
    match subtype {
        "send" if balance <= b.balance => err(msg::INVALID_SUBTYPE_BALANCE),
        "receive" if balance > b.balance => err(msg::INVALID_SUBTYPE_BALANCE),
        "open" if !b.previous.is_zero() => err(msg::INVALID_SUBTYPE_PREVIOUS),
        "change" | "epoch" if balance != b.balance => err(msg::INVALID_SUBTYPE_BALANCE),
        "change" if b.previous.is_zero() => err(msg::INVALID_SUBTYPE_PREVIOUS),
        "epoch" if ctx.params.epoch_of_link(&b.link).is_none() => {
            err(msg::INVALID_SUBTYPE_EPOCH_LINK)
        }
        "send" | "receive" | "open" | "change" | "epoch" => Ok(()),
        _ => err(msg::INVALID_SUBTYPE),
    }
}

pub fn process(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let block = json::block_in(r)?;
    let force = opt_bool(r, "force", false)?;
    let is_async = opt_bool(r, "async", false)?;
    // The reference checks the subtype first, then the work.
    if let Some(st) = opt_text(r, "subtype").filter(|s| !s.is_empty()) {
        check_subtype(ctx, &block, &st)?;
    }
    if !ctx
        .params
        .work
        .validate_entry(&block.root(), block.work(), block.is_state())
    {
        return err("Block work is less than threshold");
    }
    if is_async {
        if !block.is_state() {
            return err("Must be a state block");
        }
        node(ctx)?;
        let Some(n) = ctx.node.clone() else {
            return err(msg::INTERNAL);
        };
        // Queue it and answer at once; the outcome reaches the block processor's stats.
        let job = move || {
            if let Err(refusal) = n.process(block, force) {
                tracing::debug!("async process: {refusal}");
            }
        };
        return match ctx.async_process.submit(job) {
            Ok(()) => Ok(obj([("started", "1".into())])),
            Err(crate::async_process::QueueError::Full) => {
                err("Too many asynchronous process requests queued; try again later")
            }
            Err(crate::async_process::QueueError::Unavailable) => err(msg::INTERNAL),
        };
    }
    match node(ctx)?.process(block, force) {
        Ok(hash) => Ok(obj([("hash", hash.encode_hex().into())])),
        Err(refusal) => Err(refusal.rpc_error()),
    }
}

/// Work for `root` at `threshold`: the wallet's cached value when it is good enough,
/// else freshly generated.
fn work_for(
    ctx: &ApiContext,
    id: WalletId,
    account: &Account,
    root: nano_core::Root,
    threshold: u64,
    given: Option<u64>,
) -> Result<u64, RpcError> {
    if let Some(w) = given {
        if nano_core::work::work_value(&root, w) < threshold {
            return err("Invalid work");
        }
        return Ok(w);
    }
    if let Some(ws) = &ctx.wallets {
        if let Ok(w) = ws.work_get(id, account) {
            if w != 0 && nano_core::work::work_value(&root, w) >= threshold {
                return Ok(w);
            }
        }
    }
    work_generation::generate(ctx, root, threshold, Workers::WithPeers).map_err(|e| e.to_rpc())
}

fn given_work(r: &Req) -> Result<Option<u64>, RpcError> {
    match opt_text(r, "work") {
        Some(w) => Ok(Some(
            nano_core::blocks::parse_work_hex(&w).map_err(|_| RpcError::new(msg::BAD_WORK))?,
        )),
        None => Ok(None),
    }
}

fn signer(ctx: &ApiContext, id: WalletId, account: &Account) -> Result<KeyPair, RpcError> {
    let w = ctx.wallets()?;
    if !w.contains(id, account).map_err(werr)? {
        return err("Account not found in wallet");
    }
    w.key_pair(id, account).map_err(werr)
}

/// Builds, works, signs and publishes one state block for a wallet account.
#[allow(clippy::too_many_arguments)]
fn publish_state(
    ctx: &ApiContext,
    id: WalletId,
    key: &KeyPair,
    previous: BlockHash,
    representative: Account,
    balance: Amount,
    link: Link,
    threshold: u64,
    given: Option<u64>,
) -> Result<Block, RpcError> {
    let account = key.public();
    let root: nano_core::Root = if previous.is_zero() {
        account.into()
    } else {
        previous.into()
    };
    let work = work_for(ctx, id, &account, root, threshold, given)?;
    let mut block = Block::State(StateBlock {
        account,
        previous,
        representative,
        balance,
        link,
        signature: Signature::ZERO,
        work,
    });
    block.sign(key);
    Ok(block)
}

/// Pre-computes work for the next block of a wallet account in the background (at the
/// network's highest threshold so it fits any next block, with the node's work peers),
/// so the next send or receive from that account is immediate. `root` is the account's
/// head, or the account itself before its first block. Goes through the context's
/// bounded precompute queue; when it is full the precomputation is dropped and counted,
/// never waited for.
pub(crate) fn precompute_next(
    ctx: &ApiContext,
    id: WalletId,
    account: Account,
    root: nano_core::Root,
) {
    let Some(w) = ctx.wallets.clone() else { return };
    let threshold = ctx.params.work.base;
    let env = WorkEnv::new(ctx, Workers::WithPeers);
    let queued = ctx
        .precompute
        .try_spawn(crate::worker_pool::Client::Unnamed, move || {
            let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
            if let Ok(work) = env.generate(root, threshold, cancel) {
                let _ = w.work_set(id, &account, work);
            }
        });
    if queued.is_err() {
        ctx.stats.inc("work", "precompute_dropped", "");
    }
}

fn submit(ctx: &ApiContext, block: Block) -> Result<BlockHash, RpcError> {
    node(ctx)?.process(block, false).map_err(|r| r.rpc_error())
}

pub fn send(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    // The reference's order and texts: a zero amount is invalid (state blocks cannot
    // send nothing), a bad source is "Bad source".
    let amount = json::amount(r, "amount")?;
    if amount.is_zero() {
        return err(msg::INVALID_AMOUNT);
    }
    let source = nano_core::PublicKey::decode_account(req_str(r, "source")?)
        .map_err(|_| RpcError::new(msg::BAD_SOURCE))?;
    let destination = nano_core::PublicKey::decode_account(req_str(r, "destination")?)
        .map_err(|_| RpcError::new(msg::BAD_DESTINATION))?;
    let given = given_work(r)?;
    node(ctx)?;
    let key = signer(ctx, id, &source)?;
    let build = || -> Result<(BlockHash, Vec<u8>), RpcError> {
        let t = l.read_txn().map_err(internal)?;
        let info = l
            .account_info(&t, &source)
            .map_err(internal)?
            .ok_or_else(|| RpcError::new(msg::ACCOUNT_NOT_FOUND))?;
        drop(t);
        let balance = info
            .balance
            .checked_sub(amount)
            .ok_or_else(|| RpcError::new("Insufficient balance"))?;
        let threshold = ctx.params.work.threshold(info.epoch, false);
        let block = publish_state(
            ctx,
            id,
            &key,
            info.head,
            info.representative,
            balance,
            destination.into(),
            threshold,
            given,
        )?;
        Ok((block.hash(), block.to_bytes()))
    };
    let (hash, bytes, fresh) = match opt_text(r, "id") {
        Some(send_id) => {
            let once = w
                .send_once(id, &send_id, || build().map_err(SendErr::Rpc))
                .map_err(|e| match e {
                    SendErr::Rpc(e) => e,
                    SendErr::Wallet(e) => werr(e),
                })?;
            (once.hash, once.payload, once.fresh)
        }
        None => {
            let (h, b) = build()?;
            (h, b, true)
        }
    };
    let block = Block::deserialize(nano_core::BlockType::State, &bytes).map_err(internal)?;
    if fresh {
        submit(ctx, block)?;
        precompute_next(ctx, id, source, hash.into());
    } else {
        // A repeated id: the block was built before; make sure it reached the ledger.
        let known = l
            .read_txn()
            .ok()
            .map(|t| l.block_exists(&t, &hash).unwrap_or(false))
            .unwrap_or(false);
        if !known {
            submit(ctx, block)?;
        }
    }
    Ok(obj([("block", hash.encode_hex().into())]))
}

/// `send_once` needs an error type that wallet errors convert into.
enum SendErr {
    Rpc(RpcError),
    Wallet(nano_wallet::WalletError),
}
impl From<nano_wallet::WalletError> for SendErr {
    fn from(e: nano_wallet::WalletError) -> Self {
        SendErr::Wallet(e)
    }
}

/// Receives one receivable send into a wallet account (opening it if needed).
fn receive_one(
    ctx: &ApiContext,
    l: &Ledger,
    id: WalletId,
    account: &Account,
    send_hash: BlockHash,
    given: Option<u64>,
) -> Result<BlockHash, RpcError> {
    let key = signer(ctx, id, account)?;
    let t = l.read_txn().map_err(internal)?;
    let pending = l
        .pending_info(&t, account, &send_hash)
        .map_err(internal)?
        .ok_or_else(|| RpcError::new("Unreceivable"))?;
    let info = l.account_info(&t, account).map_err(internal)?;
    drop(t);
    let (previous, rep, balance, epoch) = match info {
        Some(i) => (i.head, i.representative, i.balance, i.epoch),
        None => (
            BlockHash::ZERO,
            ctx.wallets()?.representative(id).map_err(werr)?,
            Amount::ZERO,
            Epoch::Epoch0,
        ),
    };
    let new_balance = balance
        .checked_add(pending.amount)
        .ok_or_else(|| RpcError::new(msg::INTERNAL))?;
    let threshold = ctx.params.work.threshold(epoch.max(pending.epoch), true);
    let block = publish_state(
        ctx,
        id,
        &key,
        previous,
        rep,
        new_balance,
        send_hash.into(),
        threshold,
        given,
    )?;
    let hash = submit(ctx, block)?;
    precompute_next(ctx, id, *account, hash.into());
    Ok(hash)
}

pub fn receive(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    let account = json::account(r, "account")?;
    let send_hash = json::hash(r, "block")?;
    // As the reference: the wallet account is checked before the block.
    signer(ctx, id, &account)?;
    node(ctx)?;
    {
        let t = l.read_txn().map_err(internal)?;
        if !l.block_exists(&t, &send_hash).map_err(internal)? {
            return err(msg::BLOCK_NOT_FOUND);
        }
    }
    let hash = receive_one(ctx, l, id, &account, send_hash, given_work(r)?)?;
    Ok(obj([("block", hash.encode_hex().into())]))
}

pub fn account_representative_set(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    node(ctx)?;
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    let account = json::account(r, "account")?;
    let rep = nano_core::PublicKey::decode_account(req_str(r, "representative")?)
        .map_err(|_| RpcError::new(msg::BAD_REPRESENTATIVE))?;
    let hash = change_representative(ctx, id, &account, rep, given_work(r)?)?;
    Ok(obj([("block", hash.encode_hex().into())]))
}

/// Publishes a change (state) block moving `account`'s weight to `rep`.
fn change_representative(
    ctx: &ApiContext,
    id: WalletId,
    account: &Account,
    rep: Account,
    work: Option<u64>,
) -> Result<BlockHash, RpcError> {
    let l = ctx.ledger()?;
    let key = signer(ctx, id, account)?;
    let t = l.read_txn().map_err(internal)?;
    let info = l
        .account_info(&t, account)
        .map_err(internal)?
        .ok_or_else(|| RpcError::new(msg::ACCOUNT_NOT_FOUND))?;
    drop(t);
    let threshold = ctx.params.work.threshold(info.epoch, false);
    let block = publish_state(
        ctx,
        id,
        &key,
        info.head,
        rep,
        info.balance,
        Link::ZERO,
        threshold,
        work,
    )?;
    let hash = submit(ctx, block)?;
    precompute_next(ctx, id, *account, hash.into());
    Ok(hash)
}

/// `wallet_representative_set` with `update_existing_accounts`: every opened account of
/// the wallet whose ledger representative differs gets a change block, as the reference
/// node does. A failure on one account is logged and the others still change (the
/// reference queues them and ignores failures too). Returns how many blocks were
/// published.
pub(crate) fn change_wallet_representatives(
    ctx: &ApiContext,
    id: WalletId,
    rep: Account,
) -> Result<usize, RpcError> {
    node(ctx)?;
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let mut todo = Vec::new();
    {
        let t = l.read_txn().map_err(internal)?;
        for a in w.accounts(id).map_err(werr)? {
            if let Some(info) = l.account_info(&t, &a).map_err(internal)? {
                if info.representative != rep {
                    todo.push(a);
                }
            }
        }
    }
    let mut changed = 0;
    for a in todo {
        match change_representative(ctx, id, &a, rep, None) {
            Ok(_) => changed += 1,
            Err(e) => tracing::warn!(
                "wallet_representative_set: changing {} failed: {}",
                a.encode_account(),
                e.0
            ),
        }
    }
    Ok(changed)
}

/// Receives every confirmed receivable at or above the receive minimum for the wallet's
/// accounts; returns how many blocks were created.
pub fn receive_all(ctx: &ApiContext, id: WalletId) -> Result<usize, RpcError> {
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let minimum = *ctx
        .receive_minimum
        .lock()
        .map_err(|_| RpcError::new(msg::INTERNAL))?;
    if w.locked(id).map_err(werr)? {
        return err("Wallet is locked");
    }
    let mut todo = Vec::new();
    {
        let t = l.read_txn().map_err(internal)?;
        for a in w.accounts(id).map_err(werr)? {
            for (h, _) in l
                .receivable(&t, &a, minimum, usize::MAX)
                .map_err(internal)?
            {
                if l.block_confirmed(&t, &h).map_err(internal)? {
                    todo.push((a, h));
                }
            }
        }
    }
    let mut done = 0;
    for (a, h) in todo {
        if receive_one(ctx, l, id, &a, h, None).is_ok() {
            done += 1;
        }
    }
    Ok(done)
}

/// Background receivable searches at once, node-wide.
const MAX_SEARCHES_RUNNING: usize = 4;
static SEARCHES_RUNNING: AtomicUsize = AtomicUsize::new(0);

/// `search_receivable`: answers at once whether the search started (not when the
/// wallet is locked, as the reference) and receives in the background.
pub fn search_receivable(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    node(ctx)?;
    let w = ctx.wallets()?;
    let id = wallet_id(w, r)?;
    ctx.ledger()?;
    let shared = ctx.shared().ok_or_else(|| RpcError::new(msg::INTERNAL))?;
    let started = !w.locked(id).map_err(werr)?;
    if started {
        // A search already running will see the same receivables; more threads than
        // this would only compete for the same wallet lock and block processor.
        if SEARCHES_RUNNING.fetch_add(1, Ordering::AcqRel) >= MAX_SEARCHES_RUNNING {
            SEARCHES_RUNNING.fetch_sub(1, Ordering::AcqRel);
            return err("Too many receivable searches running; try again later");
        }
        std::thread::spawn(move || {
            if let Err(e) = receive_all(&shared, id) {
                tracing::info!("search_receivable: {}", e.0);
            }
            SEARCHES_RUNNING.fetch_sub(1, Ordering::AcqRel);
        });
    }
    // The reference writes this flag as a boolean, which its JSON writer prints as
    // "true" or "false".
    Ok(obj([("started", started.to_string().into())]))
}

pub fn search_receivable_all(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    node(ctx)?;
    let w = ctx.wallets()?;
    for id in w.wallet_ids().map_err(werr)? {
        let _ = receive_all(ctx, id);
    }
    Ok(obj([("success", "".into())]))
}

pub fn wallet_republish(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let w = ctx.wallets()?;
    let l = ctx.ledger()?;
    let id = wallet_id(w, r)?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?
        .ok_or_else(|| RpcError::new(msg::INVALID_COUNT))?;
    let t = l.read_txn().map_err(internal)?;
    let mut hashes = Vec::new();
    let mut blocks = Vec::new();
    for a in w.accounts(id).map_err(werr)? {
        for info in l
            .history(&t, &a, None, count as usize, false)
            .map_err(internal)?
        {
            hashes.push(Value::String(info.hash.encode_hex()));
            blocks.push(info.block);
        }
    }
    n.republish(blocks);
    Ok(obj([("blocks", Value::Array(hashes))]))
}

pub fn republish(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let l = ctx.ledger()?;
    let start = json::hash(r, "hash")?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(1024);
    let t = l.read_txn().map_err(internal)?;
    let mut cur = start;
    let mut hashes = Vec::new();
    let mut blocks = Vec::new();
    if !l.block_exists(&t, &start).map_err(internal)? {
        return err(msg::BLOCK_NOT_FOUND);
    }
    while !cur.is_zero() && (blocks.len() as u64) < count {
        let Some(b) = l.block(&t, &cur).map_err(internal)? else {
            break;
        };
        hashes.push(Value::String(cur.encode_hex()));
        cur = b.sideband.successor;
        blocks.push(b.block);
    }
    n.republish(blocks);
    Ok(obj([
        ("success", "".into()),
        ("blocks", Value::Array(hashes)),
    ]))
}

pub fn block_confirm(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let h = json::hash(r, "hash")?;
    if !n.block_confirm(h) {
        return err(msg::BLOCK_NOT_FOUND);
    }
    Ok(obj([("started", "1".into())]))
}

pub fn confirmation_quorum(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let mut v = n.confirmation_quorum();
    if opt_bool(r, "peer_details", false)? {
        let l = ctx.ledger()?;
        let peers: Vec<Value> = n
            .representative_peers()
            .into_iter()
            .map(|(a, ip)| {
                let w = l.weight(&a).encode_dec();
                json!({"account": a.encode_account(), "ip": ip, "weight": w})
            })
            .collect();
        if let Value::Object(m) = &mut v {
            m.insert("peers".into(), Value::Array(peers));
        }
    }
    Ok(v)
}

pub fn confirmation_history(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let filter = match opt_text(r, "hash") {
        Some(h) => Some(json::hash_text(&h)?.encode_hex()),
        None => None,
    };
    let list: Vec<Value> = n
        .confirmation_history()
        .into_iter()
        .filter(|e| filter.as_ref().is_none_or(|f| e["hash"] == f.as_str()))
        .collect();
    let count = list.len();
    let mut stats = Map::new();
    stats.insert("count".into(), count.to_string().into());
    // The reference sums the durations of every recent election, filtered or not, and
    // gives an average only when something is listed.
    if count > 0 {
        let total: u64 = n
            .confirmation_history()
            .iter()
            .filter_map(|e| e["duration"].as_str().and_then(|d| d.parse::<u64>().ok()))
            .sum();
        stats.insert("average".into(), (total / count as u64).to_string().into());
    }
    Ok(obj([
        ("confirmation_stats", Value::Object(stats)),
        (
            "confirmations",
            if list.is_empty() {
                Value::String(String::new())
            } else {
                Value::Array(list)
            },
        ),
    ]))
}

/// `confirmation_active`: the unconfirmed elections that sent at least `announcements`
/// confirmation requests, and how many such elections are already confirmed.
pub fn confirmation_active(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    // The reference reads the number with strtoul, so text that is not a number counts
    // as 0 rather than being refused.
    let announcements: u64 = opt_text(r, "announcements")
        .map(|t| leading_decimal(&t))
        .unwrap_or(0);
    let mut roots = Vec::new();
    let mut confirmed = 0u64;
    for e in n.active_elections() {
        if u64::from(e.request_count) < announcements {
            continue;
        }
        if e.confirmed {
            confirmed += 1;
        } else {
            roots.push(Value::String(e.qualified_root.encode_hex()));
        }
    }
    let unconfirmed = roots.len();
    Ok(obj([
        ("confirmations", Value::Array(roots)),
        ("unconfirmed", unconfirmed.to_string().into()),
        ("confirmed", confirmed.to_string().into()),
    ]))
}

/// The number `strtoul` reads from the start of `text` (leading spaces and an optional
/// `+` allowed; stops at the first non-digit; saturates instead of wrapping).
fn leading_decimal(text: &str) -> u64 {
    let t = text.trim_start();
    let t = t.strip_prefix('+').unwrap_or(t);
    t.bytes().take_while(u8::is_ascii_digit).fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })
}

pub fn peers(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let details = opt_bool(r, "peer_details", false)?;
    let mut m = Map::new();
    for p in n.peers() {
        let v = if details {
            obj([
                ("protocol_version", p.protocol_version.to_string().into()),
                ("node_id", p.node_id.encode_node_id().into()),
                ("type", p.transport.into()),
                ("peering", p.peering.into()),
            ])
        } else {
            p.protocol_version.to_string().into()
        };
        m.insert(p.endpoint, v);
    }
    Ok(obj([(
        "peers",
        if m.is_empty() {
            Value::String(String::new())
        } else {
            Value::Object(m)
        },
    )]))
}

pub fn representatives_online(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let weight = opt_bool(r, "weight", false)?;
    let filter: Option<Vec<Account>> = match r.get("accounts") {
        Some(Value::Array(a)) => Some(
            a.iter()
                .map(|v| {
                    nano_core::PublicKey::decode_account(v.as_str().unwrap_or_default())
                        .map_err(|_| RpcError::new(msg::BAD_ACCOUNT))
                })
                .collect::<Result<_, _>>()?,
        ),
        _ => None,
    };
    let reps: Vec<(Account, Amount)> = n
        .representatives_online()
        .into_iter()
        .filter(|(a, _)| filter.as_ref().is_none_or(|f| f.contains(a)))
        .collect();
    if weight {
        let mut m = Map::new();
        for (a, w) in reps {
            // The reference reports the ledger's current weight.
            let w = ctx.ledger.as_ref().map(|l| l.weight(&a)).unwrap_or(w);
            m.insert(a.encode_account(), obj([("weight", w.encode_dec().into())]));
        }
        return Ok(obj([("representatives", Value::Object(m))]));
    }
    Ok(obj([(
        "representatives",
        Value::Array(
            reps.into_iter()
                .map(|(a, _)| a.encode_account().into())
                .collect(),
        ),
    )]))
}

pub fn node_id(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let id = node(ctx)?.node_id();
    Ok(obj([
        ("public", id.encode_hex().into()),
        ("as_account", id.encode_account().into()),
        ("node_id", id.encode_node_id().into()),
    ]))
}

/// telemetry as the reference answers it: by default this node's own telemetry; with
/// `raw`, every peer's entry with its address and port; with `address` and `port`, that
/// peer's telemetry (without address and port).
pub fn telemetry(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let address = opt_text(r, "address");
    let port = opt_text(r, "port");
    if address.is_some() || port.is_some() {
        let (Some(a), Some(p)) = (&address, &port) else {
            return err("Both port and address required");
        };
        let port: u16 = p.parse().map_err(|_| RpcError::new("Invalid port"))?;
        let ip: std::net::IpAddr = a
            .trim_matches(['[', ']'])
            .parse()
            .map_err(|_| RpcError::new("Invalid IP address"))?;
        // A loopback address with this node's peering port asks for our own telemetry.
        if ip.is_loopback() && n.peering_port() == Some(port) {
            return n
                .local_telemetry()
                .ok_or_else(|| RpcError::new(msg::EMPTY_RESPONSE));
        }
        let v6 = match ip {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            std::net::IpAddr::V6(v6) => v6,
        };
        let found = n.telemetry().into_iter().find(|e| {
            let same_ip = e["address"]
                .as_str()
                .and_then(|x| x.parse::<std::net::Ipv6Addr>().ok())
                .is_some_and(|x| x == v6);
            same_ip && e["port"] == port.to_string().as_str()
        });
        let Some(Value::Object(mut m)) = found else {
            return err("Peer not found");
        };
        m.shift_remove("address");
        m.shift_remove("port");
        return Ok(Value::Object(m));
    }
    if opt_bool(r, "raw", false)? {
        return Ok(obj([("metrics", Value::Array(n.telemetry()))]));
    }
    n.local_telemetry()
        .ok_or_else(|| RpcError::new(msg::EMPTY_RESPONSE))
}
