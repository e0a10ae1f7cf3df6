//! The remaining catalogue actions: election statistics, unchecked blocks, unopened
//! accounts, keepalive, epoch upgrades, work peers, and the deprecated aliases. Where
//! this node has no such state (pruning, transaction tracking) they answer the same error
//! the reference node gives when that feature is off.

use std::net::SocketAddr;

use nano_core::{
    Account, Amount, Block, BlockHash, KeyPair, QualifiedRoot, RawKey, Signature, StateBlock,
};
use nano_node::bootstrap::LegacyRequest;
use nano_node::consensus::Behavior;
use serde_json::{Map, Value};

use super::{internal, node, obj};
use crate::context::ApiContext;
use crate::error::{err, msg, RpcError};
use crate::json::{self, opt_bool, opt_text, opt_u64, req_str, Req};

/// `confirmation_info`: the running, unconfirmed election for `root` with each
/// candidate's tally, optionally its contents and the representatives voting for it
/// (with their ledger weight, heaviest first).
pub fn confirmation_info(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let representatives = opt_bool(r, "representatives", false)?;
    let contents = opt_bool(r, "contents", true)?;
    let as_obj = json::json_block(r)?;
    let text = req_str(r, "root")?;
    let mut bytes = [0u8; 64];
    // A 512-bit number as the reference reads it: 1 to 128 hex digits.
    nano_core::numbers::decode_number_hex_into(text, &mut bytes)
        .map_err(|_| RpcError::new("Invalid root hash"))?;
    let qr = QualifiedRoot::from_bytes(&bytes);
    let not_found = || RpcError::new("Active confirmation not found");
    let (e, candidates) = n.election(&qr).ok_or_else(not_found)?;
    if e.confirmed {
        return Err(not_found());
    }
    let weight = |a: &Account| ctx.ledger.as_ref().map_or(Amount::ZERO, |l| l.weight(a));
    let mut blocks = Map::new();
    let mut total = Amount::ZERO;
    for t in &e.tallies {
        let mut entry = Map::new();
        entry.insert("tally".into(), t.tally.encode_dec().into());
        total = total.checked_add(t.tally).unwrap_or(Amount::MAX);
        if contents {
            if let Some(b) = candidates.iter().find(|b| b.hash() == t.hash) {
                entry.insert("contents".into(), json::block_out(b.to_json(), as_obj));
            }
        }
        if representatives {
            let mut voters: Vec<(Amount, Account)> = e
                .votes
                .iter()
                .filter(|(_, h, _, _)| *h == t.hash)
                .map(|(rep, _, _, _)| (weight(rep), *rep))
                .collect();
            voters.sort_by_key(|v| std::cmp::Reverse(v.0));
            let mut reps = Map::new();
            for (w, rep) in voters {
                reps.insert(rep.encode_account(), w.encode_dec().into());
            }
            entry.insert("representatives".into(), Value::Object(reps));
        }
        blocks.insert(t.hash.encode_hex(), Value::Object(entry));
    }
    Ok(obj([
        ("announcements", e.request_count.to_string().into()),
        ("voters", e.voters.to_string().into()),
        ("last_winner", e.winner.encode_hex().into()),
        ("total_tally", total.encode_dec().into()),
        ("final_tally", e.final_tally.encode_dec().into()),
        ("blocks", Value::Object(blocks)),
    ]))
}

/// `election_statistics`: running elections by how they started, their share of the
/// election container, and their ages.
pub fn election_statistics(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let elections = n.active_elections();
    let total = elections.len();
    let ages: Vec<u64> = elections
        .iter()
        .map(|e| u64::try_from(e.duration.as_millis()).unwrap_or(u64::MAX))
        .collect();
    let max = ages.iter().copied().max().unwrap_or(0);
    let avg = if total > 0 {
        ages.iter().fold(0u64, |a, x| a.saturating_add(*x)) / total as u64
    } else {
        0
    };
    let utilization = total as f64 * 100.0 / n.max_elections().max(1) as f64;
    let count = |b: Behavior| {
        elections
            .iter()
            .filter(|e| e.behavior == b)
            .count()
            .to_string()
    };
    Ok(obj([
        ("manual", count(Behavior::Manual).into()),
        ("priority", count(Behavior::Priority).into()),
        ("hinted", count(Behavior::Hinted).into()),
        ("optimistic", count(Behavior::Optimistic).into()),
        ("total", total.to_string().into()),
        (
            "aec_utilization_percentage",
            format!("{utilization:.2}").into(),
        ),
        ("max_election_age", max.to_string().into()),
        ("average_election_age", avg.to_string().into()),
    ]))
}

pub fn pruned_exists(_ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    json::hash(r, "hash")?;
    err("Pruning is disabled")
}

pub fn database_txn_tracker(_ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    err("Database transaction tracking is not enabled in the config")
}

pub fn unchecked_clear(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    node(ctx)?.unchecked_clear();
    Ok(obj([("success", "".into())]))
}

/// `unchecked`: gap blocks (kept in memory by the hash they wait for) as
/// `{hash: contents}`, in the reference's key order.
pub fn unchecked(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let as_obj = json::json_block(r)?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let entries = node(ctx)?.unchecked_entries(&BlockHash::ZERO, to_usize(count));
    let mut blocks = Map::new();
    for e in entries {
        blocks.insert(
            e.hash.encode_hex(),
            json::block_out(e.block.to_json(), as_obj),
        );
    }
    Ok(obj([("blocks", Value::Object(blocks))]))
}

/// `unchecked_keys`: gap blocks from dependency `key` on, each with its key (the hash
/// it waits for), hash, arrival time and contents.
pub fn unchecked_keys(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let as_obj = json::json_block(r)?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let start = match opt_text(r, "key") {
        Some(k) => json::hex256(&k, BlockHash::from_bytes, msg::BAD_KEY)?,
        None => BlockHash::ZERO,
    };
    let entries = node(ctx)?.unchecked_entries(&start, to_usize(count));
    let list: Vec<Value> = entries
        .into_iter()
        .map(|e| {
            obj([
                ("key", e.dependency.encode_hex().into()),
                ("hash", e.hash.encode_hex().into()),
                ("modified_timestamp", e.arrived.to_string().into()),
                ("contents", json::block_out(e.block.to_json(), as_obj)),
            ])
        })
        .collect();
    Ok(obj([("unchecked", Value::Array(list))]))
}

/// `unchecked_get`: one waiting block; "Block not found" as the current reference node
/// answers (older nodes said "Unchecked block not found").
pub fn unchecked_get(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let hash = json::hash(r, "hash")?;
    let as_obj = json::json_block(r)?;
    let e = node(ctx)?
        .unchecked_entry(&hash)
        .ok_or_else(|| RpcError::new(msg::BLOCK_NOT_FOUND))?;
    Ok(obj([
        ("modified_timestamp", e.arrived.to_string().into()),
        ("contents", json::block_out(e.block.to_json(), as_obj)),
    ]))
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// `unopened`: receivable totals of accounts that have no blocks yet, from `account` on
/// (the burn account, all zeros, is skipped unless asked for), at most `count`, totals
/// below `threshold` left out.
pub fn unopened(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let l = ctx.ledger()?;
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let threshold = match opt_text(r, "threshold") {
        Some(s) => Amount::decode_dec(&s).map_err(|_| RpcError::new(msg::BAD_THRESHOLD))?,
        None => Amount::ZERO,
    };
    let start = match opt_text(r, "account") {
        Some(s) => {
            nano_core::PublicKey::decode_account(&s).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))?
        }
        None => Account::from_bytes(one_bytes()),
    };
    let t = l.read_txn().map_err(internal)?;
    let mut m = Map::new();
    let mut next = Some(start);
    // One pending-table seek per account: an opened account is skipped whole.
    while let Some(account) = next.take() {
        if m.len() as u64 >= count {
            break;
        }
        let mut total = Amount::ZERO;
        let mut current = None;
        for item in l.receivables_from(&t, &account).map_err(internal)? {
            let (k, v) = item.map_err(internal)?;
            match current {
                None if l.account_info(&t, &k.account).map_err(internal)?.is_some() => {
                    // Opened: jump to the accounts after it.
                    next = successor(&k.account);
                    break;
                }
                None => current = Some(k.account),
                Some(c) if c != k.account => {
                    next = Some(k.account);
                    break;
                }
                Some(_) => {}
            }
            total = total.checked_add(v.amount).unwrap_or(Amount::MAX);
        }
        if let Some(a) = current {
            if total > Amount::ZERO && total >= threshold {
                m.insert(a.encode_account(), total.encode_dec().into());
            }
        }
    }
    Ok(obj([("accounts", Value::Object(m))]))
}

/// The 32-byte big-endian number 1: the first account after the burn account.
fn one_bytes() -> [u8; 32] {
    let mut b = [0u8; 32];
    b[31] = 1;
    b
}

/// The account numerically after `a`, `None` after the last one.
fn successor(a: &Account) -> Option<Account> {
    let mut b = *a.as_bytes();
    for byte in b.iter_mut().rev() {
        if *byte == u8::MAX {
            *byte = 0;
        } else {
            *byte += 1;
            return Some(Account::from_bytes(b));
        }
    }
    None
}

pub fn keepalive(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let (Some(address), Some(port)) = (opt_text(r, "address"), opt_text(r, "port")) else {
        return err("Both port and address required");
    };
    let port: u16 = port.parse().map_err(|_| RpcError::new("Invalid port"))?;
    let ip: std::net::IpAddr = address
        .trim_matches(['[', ']'])
        .parse()
        .map_err(|_| RpcError::new("Invalid IP address"))?;
    n.connect(SocketAddr::new(ip, port));
    Ok(obj([("started", "1".into())]))
}

/// `epoch_upgrade`: signs an epoch block for every opened account below `epoch` (one step
/// at a time, as the ledger requires) with the epoch signer's key, in the background.
/// Unopened accounts with receivables (epoch opens) are not upgraded by this node yet.
pub fn epoch_upgrade(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = ctx
        .node
        .clone()
        .ok_or_else(|| RpcError::new(msg::NODE_NOT_ATTACHED))?;
    let l = ctx.ledger()?.clone();
    let epoch = match opt_text(r, "epoch").as_deref() {
        Some("1") => nano_core::Epoch::Epoch1,
        Some("2") => nano_core::Epoch::Epoch2,
        _ => return err("Invalid epoch number"),
    };
    let key = KeyPair::from_private(json::hex256(
        req_str(r, "key")?,
        RawKey::from_bytes,
        msg::BAD_PRIVATE_KEY,
    )?);
    if ctx.params.epoch_signer(epoch) != Some(key.public()) {
        return err("Incorrect epoch signer");
    }
    let count = opt_u64(r, "count", msg::INVALID_COUNT)?.unwrap_or(u64::MAX);
    let link = ctx
        .params
        .epoch_link(epoch)
        .ok_or_else(|| RpcError::new("Invalid epoch number"))?;
    let threshold = ctx.params.work.threshold(epoch, true);
    let params = ctx.params;
    let threads = ctx.work_threads;
    std::thread::spawn(move || {
        let Ok(t) = l.read_txn() else { return };
        let accounts = l
            .frontiers(&t, &Account::ZERO, usize::MAX)
            .unwrap_or_default();
        let mut todo = Vec::new();
        for (a, _) in accounts {
            if let Ok(Some(info)) = l.account_info(&t, &a) {
                if info.epoch.next() == Some(epoch) {
                    todo.push((a, info));
                }
            }
        }
        drop(t);
        for (a, info) in todo.into_iter().take(count.min(usize::MAX as u64) as usize) {
            let cancel = std::sync::atomic::AtomicBool::new(false);
            let root: nano_core::Root = info.head.into();
            let Some(work) = nano_core::work::generate(&root, threshold, threads, &cancel) else {
                continue;
            };
            let mut b = Block::State(StateBlock {
                account: a,
                previous: info.head,
                representative: info.representative,
                balance: info.balance,
                link,
                signature: Signature::ZERO,
                work,
            });
            b.sign(&key);
            if let Err(status) = n.process(b, false) {
                tracing::info!("epoch upgrade of {}: {status}", a.encode_account());
            }
        }
        let _ = params;
    });
    Ok(obj([("started", "1".into())]))
}

pub fn active_difficulty(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let t = &ctx.params.work;
    // No congestion tracking: current difficulty equals the minimum, multiplier 1.
    let mut m = Map::new();
    m.insert("network_minimum".into(), format!("{:016x}", t.base).into());
    m.insert(
        "network_receive_minimum".into(),
        format!("{:016x}", t.epoch_2_receive).into(),
    );
    m.insert("network_current".into(), format!("{:016x}", t.base).into());
    m.insert(
        "network_receive_current".into(),
        format!("{:016x}", t.epoch_2_receive).into(),
    );
    m.insert("multiplier".into(), "1".into());
    if opt_bool(r, "include_trend", false)? {
        // The reference's fixed backwards-compatible trend entry.
        let trend = vec!["1.000000000000000".into()];
        m.insert("difficulty_trend".into(), Value::Array(trend));
    }
    Ok(Value::Object(m))
}

pub fn history(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let mut req = r.clone();
    let head = req_str(r, "hash")?.to_string();
    req.insert("head".into(), head.into());
    // The reference runs account_history with head = hash, "account" included.
    super::ledger::account_history(ctx, &req)
}

pub fn node_id_delete(_ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    Ok(obj([("deprecated", "1".into())]))
}

pub fn work_peers(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let peers = ctx
        .work_peers
        .lock()
        .map_err(|_| RpcError::new(msg::INTERNAL))?;
    let list: Vec<Value> = peers
        .iter()
        .map(|(h, p)| format!("{h}:{p}").into())
        .collect();
    Ok(obj([(
        "work_peers",
        if list.is_empty() {
            Value::String(String::new())
        } else {
            Value::Array(list)
        },
    )]))
}

pub fn work_peer_add(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let (Some(address), Some(port)) = (opt_text(r, "address"), opt_text(r, "port")) else {
        return err("Both port and address required");
    };
    let port: u16 = port.parse().map_err(|_| RpcError::new("Invalid port"))?;
    ctx.work_peers
        .lock()
        .map_err(|_| RpcError::new(msg::INTERNAL))?
        .push((address, port));
    Ok(obj([("success", "".into())]))
}

pub fn work_peers_clear(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    ctx.work_peers
        .lock()
        .map_err(|_| RpcError::new(msg::INTERNAL))?
        .clear();
    Ok(obj([("success", "".into())]))
}

fn peer_addr(r: &Req) -> Result<Option<SocketAddr>, RpcError> {
    match (opt_text(r, "address"), opt_text(r, "port")) {
        (Some(a), Some(p)) => {
            let port: u16 = p.parse().map_err(|_| RpcError::new("Invalid port"))?;
            let ip: std::net::IpAddr = a
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| RpcError::new("Invalid IP address"))?;
            Ok(Some(SocketAddr::new(ip, port)))
        }
        (None, None) => Ok(None),
        _ => err("Both port and address required"),
    }
}

/// `bootstrap`: a legacy bootstrap from the given peer, ending any running attempt.
pub fn bootstrap(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let peer = peer_addr(r)?.ok_or_else(|| RpcError::new("Both port and address required"))?;
    let request = LegacyRequest {
        peer: Some(peer),
        id: opt_text(r, "id"),
        ..LegacyRequest::default()
    };
    if !n.bootstrap_legacy(request) {
        return err(BOOTSTRAP_LEGACY_DISABLED);
    }
    Ok(obj([("success", "".into())]))
}

/// `bootstrap_any`: a legacy bootstrap from random peers whose frontier scan starts at
/// `account` (the first account without it); `force` ends a running attempt first,
/// without it the request is dropped while a legacy attempt runs (as the reference).
pub fn bootstrap_any(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let n = node(ctx)?;
    let force = json::opt_bool(r, "force", false)?;
    let start = if r.contains_key("account") {
        json::account(r, "account")?
    } else {
        nano_core::Account::ZERO
    };
    let request = LegacyRequest {
        peer: None,
        id: opt_text(r, "id"),
        start,
        force,
    };
    if !n.bootstrap_legacy(request) {
        return err(BOOTSTRAP_LEGACY_DISABLED);
    }
    Ok(obj([("success", "".into())]))
}

/// The reference's answer when legacy bootstrap cannot run (here: the node runs
/// without network or with its bootstrap client off).
const BOOTSTRAP_LEGACY_DISABLED: &str = "Legacy bootstrap is disabled";

pub fn bootstrap_lazy(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    node(ctx)?;
    json::hash(r, "hash")?;
    err("Lazy bootstrap is disabled")
}

pub fn bootstrap_status(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    node(ctx)?
        .bootstrap_status()
        .ok_or_else(|| RpcError::new("Bootstrap is not running on this node (no network)"))
}

pub fn debug_bootstrap_priority_info(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    let (priorities, blocking) = node(ctx)?
        .bootstrap_priorities()
        .ok_or_else(|| RpcError::new("Bootstrap is not running on this node (no network)"))?;
    let mut p = Map::new();
    for (a, priority) in priorities {
        p.insert(a.encode_account(), priority.to_string().into());
    }
    let mut b = Map::new();
    for (a, dep) in blocking {
        b.insert(a.encode_account(), dep.encode_hex().into());
    }
    Ok(obj([
        ("priorities", Value::Object(p)),
        ("blocking", Value::Object(b)),
    ]))
}

pub fn populate_backlog(ctx: &ApiContext, _r: &Req) -> Result<Value, RpcError> {
    node(ctx)?.populate_backlog();
    Ok(obj([("success", "".into())]))
}
