//! Actions that need no ledger: key and address helpers, unit conversion, block hashing,
//! offline block creation and signing (the cold-wallet half of the workflow), and work
//! generation and validation.

use std::sync::atomic::Ordering;

use nano_core::amount::NANO_RATIO;
use nano_core::blocks::parse_work_hex;
use nano_core::keys::{KeyPair, RawKey};
use nano_core::work::{from_multiplier, work_value};
use nano_core::{
    Amount, Block, BlockHash, ChangeBlock, Link, OpenBlock, PublicKey, ReceiveBlock, Root,
    SendBlock, Signature, StateBlock,
};
use serde_json::Value;

use super::obj;
use crate::context::ApiContext;
use crate::error::{err, msg, RpcError};
use crate::json::{self, block_out, opt_text, req_str, Req};
use crate::work_generation::{self, multiplier_text, WorkError, Workers};

fn pair_json(kp: &KeyPair) -> Value {
    obj([
        ("private", kp.private().encode_hex().into()),
        ("public", kp.public().encode_hex().into()),
        ("account", kp.public().encode_account().into()),
    ])
}

pub fn key_create(_: &ApiContext, _: &Req) -> Result<Value, RpcError> {
    Ok(pair_json(&KeyPair::random()))
}

pub fn key_expand(_: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let key = json::hex256(req_str(r, "key")?, RawKey::from_bytes, msg::BAD_PRIVATE_KEY)?;
    Ok(pair_json(&KeyPair::from_private(key)))
}

pub fn account_get(_: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let key = json::hex256(
        req_str(r, "key")?,
        PublicKey::from_bytes,
        msg::BAD_PUBLIC_KEY,
    )?;
    Ok(obj([("account", key.encode_account().into())]))
}

pub fn account_key(_: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let a = json::account(r, "account")?;
    Ok(obj([("key", a.encode_hex().into())]))
}

pub fn deterministic_key(_: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let seed = json::hex256(req_str(r, "seed")?, RawKey::from_bytes, msg::BAD_SEED)?;
    let index = opt_text(r, "index")
        .ok_or_else(|| RpcError::new(msg::UNABLE_TO_PARSE_JSON))?
        .parse::<u32>()
        .map_err(|_| RpcError::new(msg::INVALID_INDEX))?;
    Ok(pair_json(&KeyPair::from_private(seed.derive(index))))
}

pub fn validate_account_number(_: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let ok = PublicKey::decode_account(req_str(r, "account")?).is_ok();
    Ok(obj([("valid", if ok { "1" } else { "0" }.into())]))
}

pub fn nano_to_raw(_: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let a = json::amount(r, "amount")?;
    // The reference refuses any product not above the amount, which includes zero.
    let raw =
        a.0.checked_mul(NANO_RATIO)
            .filter(|&x| x > a.0)
            .ok_or_else(|| RpcError::new("Amount too big"))?;
    Ok(obj([("amount", raw.to_string().into())]))
}

pub fn raw_to_nano(_: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let a = json::amount(r, "amount")?;
    // The reference divides as integers: fractions of a nano are dropped.
    Ok(obj([("amount", (a.0 / NANO_RATIO).to_string().into())]))
}

pub fn block_hash(_: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let b = json::block_in(r)?;
    Ok(obj([("hash", b.hash().encode_hex().into())]))
}

fn hex_u64(s: &str, bad: &str) -> Result<u64, RpcError> {
    parse_work_hex(s).map_err(|_| RpcError::new(bad))
}

/// The difficulty a request asks for: `difficulty` (hex) wins, then `multiplier`
/// (against the network base), else `default`.
/// The difficulty asked for: `difficulty` (hex), then `multiplier` (relative to the base
/// threshold), which wins when both are given, as in the reference.
fn requested_difficulty(ctx: &ApiContext, r: &Req, default: u64) -> Result<u64, RpcError> {
    let mut difficulty = default;
    if let Some(d) = opt_text(r, "difficulty") {
        difficulty = hex_u64(&d, msg::BAD_DIFFICULTY)?;
    }
    if let Some(m) = opt_text(r, "multiplier") {
        let m: f64 = m.parse().map_err(|_| RpcError::new(msg::BAD_MULTIPLIER))?;
        if m.is_nan() || m <= 0.0 || !m.is_finite() {
            return err(msg::BAD_MULTIPLIER);
        }
        difficulty = from_multiplier(m, ctx.params.work.base);
    }
    Ok(difficulty)
}

fn check_version(r: &Req) -> Result<(), RpcError> {
    match opt_text(r, "version").as_deref() {
        None | Some("work_1") => Ok(()),
        Some(_) => err(msg::BAD_WORK_VERSION),
    }
}

pub fn work_validate(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let root: Root = json::hash(r, "hash")?.into();
    // `work` is optional in the reference (a missing one is validated as 0).
    let w = match opt_text(r, "work") {
        Some(w) => hex_u64(&w, msg::BAD_WORK)?,
        None => 0,
    };
    check_version(r)?;
    let t = &ctx.params.work;
    let asked = requested_difficulty(ctx, r, t.base)?;
    // `valid` only answers an explicit difficulty (not a multiplier), as the reference.
    let asked = r.contains_key("difficulty").then_some(asked);
    let value = work_value(&root, w);
    let mut out = serde_json::Map::new();
    if let Some(d) = asked {
        out.insert("valid".into(), if value >= d { "1" } else { "0" }.into());
    }
    out.insert(
        "valid_all".into(),
        if value >= t.base { "1" } else { "0" }.into(),
    );
    out.insert(
        "valid_receive".into(),
        if value >= t.epoch_2_receive { "1" } else { "0" }.into(),
    );
    out.insert("difficulty".into(), format!("{value:016x}").into());
    out.insert("multiplier".into(), multiplier_text(value, t.base).into());
    Ok(Value::Object(out))
}

/// The ledger difficulty for an optional `block` of work_generate (the reference's
/// difficulty_ledger): the threshold of its epoch and kind when the previous block or the
/// receivable it links to is known, else the base threshold.
fn ledger_difficulty(ctx: &ApiContext, block: &Block) -> Result<u64, RpcError> {
    let t = &ctx.params.work;
    let Ok(l) = ctx.ledger() else {
        return Ok(t.base);
    };
    let txn = l.read_txn().map_err(super::internal)?;
    let mut epoch = nano_core::Epoch::Epoch0;
    let mut is_send = false;
    let mut is_receive = false;
    let mut found = false;
    let previous = block.previous();
    if !previous.is_zero() {
        if let Some(prev) = l.block_info(&txn, &previous).map_err(super::internal)? {
            let balance = block.balance_field().unwrap_or_default();
            is_send = prev.balance() > balance;
            epoch = prev.sideband.details.epoch;
            found = true;
        }
    }
    if let (Some(link), Some(account)) = (block.link_field(), block.account_field()) {
        if !link.is_zero() && !is_send {
            let src = link.as_block_hash();
            let source = l.block_info(&txn, &src).map_err(super::internal)?;
            if let Some(source) = source {
                if l.pending_info(&txn, &account, &src)
                    .map_err(super::internal)?
                    .is_some()
                {
                    epoch = epoch.max(source.sideband.details.epoch);
                    is_receive = true;
                    found = true;
                }
            }
        }
    }
    Ok(if found {
        t.threshold(epoch, is_receive)
    } else {
        t.base
    })
}

pub fn work_generate(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    check_version(r)?;
    if let Some(a) = opt_text(r, "account") {
        PublicKey::decode_account(&a).map_err(|_| RpcError::new(msg::BAD_ACCOUNT))?;
    }
    let hash = json::hash(r, "hash")?;
    let t = &ctx.params.work;
    let mut difficulty = requested_difficulty(ctx, r, t.base)?;
    let max = from_multiplier(ctx.max_work_generate_multiplier, t.base);
    if difficulty > max || difficulty < t.entry {
        return err(msg::DIFFICULTY_LIMIT);
    }
    if r.contains_key("block") {
        let block = json::block_in(r)?;
        if block.root().0 != hash.0 {
            return err("Root mismatch for block");
        }
        if !r.contains_key("difficulty") && !r.contains_key("multiplier") {
            difficulty = ledger_difficulty(ctx, &block)?;
        }
        if work_value(&block.root(), block.work()) >= difficulty {
            return err(msg::BLOCK_WORK_ENOUGH);
        }
    }
    let root: Root = hash.into();
    let workers = if json::opt_bool(r, "use_peers", false)? {
        Workers::WithPeers
    } else {
        Workers::LocalOnly
    };
    let w = work_generation::generate(ctx, root, difficulty, workers).map_err(|e| match e {
        // The reference answers a generation that ends without work "Cancelled".
        WorkError::Failed => RpcError::new("Cancelled"),
        e => e.to_rpc(),
    })?;
    let value = work_value(&root, w);
    Ok(obj([
        ("hash", hash.encode_hex().into()),
        ("work", format!("{w:016x}").into()),
        ("difficulty", format!("{value:016x}").into()),
        ("multiplier", multiplier_text(value, t.base).into()),
    ]))
}

pub fn work_cancel(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let root: Root = json::hash(r, "hash")?.into();
    if let Some(c) = ctx
        .work_in_progress
        .lock()
        .map_err(|_| RpcError::new(msg::INTERNAL))?
        .get(&root)
    {
        c.store(true, Ordering::Relaxed);
    }
    Ok(obj([("success", "".into())]))
}

fn opt_hash(r: &Req, k: &str, bad: &str) -> Result<Option<BlockHash>, RpcError> {
    match opt_text(r, k) {
        None => Ok(None),
        Some(s) => json::hex256(&s, BlockHash::from_bytes, bad).map(Some),
    }
}

fn opt_account(r: &Req, k: &str, bad: &str) -> Result<Option<PublicKey>, RpcError> {
    match opt_text(r, k) {
        None => Ok(None),
        Some(s) => PublicKey::decode_account(&s)
            .map(Some)
            .map_err(|_| RpcError::new(bad)),
    }
}

fn opt_amount(r: &Req, k: &str, bad: &str) -> Result<Option<Amount>, RpcError> {
    match opt_text(r, k) {
        None => Ok(None),
        Some(s) => Amount::decode_dec(&s)
            .map(Some)
            .map_err(|_| RpcError::new(bad)),
    }
}

/// `block_create` with a private key: builds, signs and (unless `work` is given) works a
/// block without touching the ledger, as an offline signing node needs. Wallet-based
/// creation (wallet + account) needs the node's wallets.
pub fn block_create(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let kind = opt_text(r, "type").ok_or_else(|| RpcError::new(msg::INVALID_BLOCK_TYPE))?;
    let key = match opt_text(r, "key") {
        Some(k) => {
            KeyPair::from_private(json::hex256(&k, RawKey::from_bytes, msg::BAD_PRIVATE_KEY)?)
        }
        None => return err(msg::KEY_REQUIRED),
    };
    if let Some(a) = opt_account(r, "account", msg::BAD_ACCOUNT)? {
        if a != key.public() {
            return err(msg::KEY_MISMATCH);
        }
    }
    let work = match opt_text(r, "work") {
        Some(w) => Some(hex_u64(&w, msg::BAD_WORK)?),
        None => None,
    };
    let previous = opt_hash(r, "previous", msg::BAD_PREVIOUS)?;
    let representative = opt_account(r, "representative", msg::BAD_REPRESENTATIVE)?;
    let mut block = match kind.as_str() {
        "state" => {
            let balance = opt_amount(r, "balance", msg::INVALID_BALANCE)?;
            let link = match opt_text(r, "link") {
                Some(l) => Some(match json::hex256(&l, Link::from_bytes, msg::BAD_LINK) {
                    Ok(l) => l,
                    Err(_) => PublicKey::decode_account(&l)
                        .map(Link::from)
                        .map_err(|_| RpcError::new(msg::BAD_LINK))?,
                }),
                None => match (opt_text(r, "destination"), opt_text(r, "source")) {
                    (Some(d), _) => Some(Link::from(
                        PublicKey::decode_account(&d)
                            .map_err(|_| RpcError::new(msg::BAD_DESTINATION))?,
                    )),
                    (None, Some(s)) => Some(Link::from(json::hex256(
                        &s,
                        BlockHash::from_bytes,
                        msg::BAD_SOURCE,
                    )?)),
                    _ => None,
                },
            };
            let (Some(previous), Some(representative), Some(balance), Some(link)) =
                (previous, representative, balance, link)
            else {
                return err(msg::REQ_STATE);
            };
            Block::State(StateBlock {
                account: key.public(),
                previous,
                representative,
                balance,
                link,
                signature: Signature::ZERO,
                work: 0,
            })
        }
        "send" => {
            let destination = opt_account(r, "destination", msg::BAD_DESTINATION)?;
            let balance = opt_amount(r, "balance", msg::INVALID_BALANCE)?;
            let amount = opt_amount(r, "amount", msg::INVALID_AMOUNT)?;
            let (Some(previous), Some(destination), Some(balance), Some(amount)) =
                (previous, destination, balance, amount)
            else {
                return err(msg::REQ_SEND);
            };
            let new_balance = balance
                .checked_sub(amount)
                .ok_or_else(|| RpcError::new("Insufficient balance"))?;
            Block::Send(SendBlock {
                previous,
                destination,
                balance: new_balance,
                signature: Signature::ZERO,
                work: 0,
            })
        }
        "receive" => {
            let source = opt_hash(r, "source", msg::BAD_SOURCE)?;
            let (Some(previous), Some(source)) = (previous, source) else {
                return err(msg::REQ_RECEIVE);
            };
            Block::Receive(ReceiveBlock {
                previous,
                source,
                signature: Signature::ZERO,
                work: 0,
            })
        }
        "open" => {
            let source = opt_hash(r, "source", msg::BAD_SOURCE)?;
            let (Some(representative), Some(source)) = (representative, source) else {
                return err(msg::REQ_OPEN);
            };
            Block::Open(OpenBlock {
                source,
                representative,
                account: key.public(),
                signature: Signature::ZERO,
                work: 0,
            })
        }
        "change" => {
            let (Some(previous), Some(representative)) = (previous, representative) else {
                return err(msg::REQ_CHANGE);
            };
            Block::Change(ChangeBlock {
                previous,
                representative,
                signature: Signature::ZERO,
                work: 0,
            })
        }
        _ => return err(msg::INVALID_BLOCK_TYPE),
    };
    block.sign(&key);
    let t = &ctx.params.work;
    // Without the ledger the subtype and epoch are unknown, so the highest threshold is
    // used: work that meets it is valid for any block.
    let difficulty =
        requested_difficulty(ctx, r, if block.is_state() { t.base } else { t.epoch_1 })?;
    let w = match work {
        Some(w) => w,
        None => work_generation::generate(ctx, block.root(), difficulty, Workers::WithPeers)
            .map_err(|e| e.to_rpc())?,
    };
    block.set_work(w);
    let as_obj = json::json_block(r)?;
    Ok(obj([
        ("hash", block.hash().encode_hex().into()),
        (
            "difficulty",
            format!("{:016x}", work_value(&block.root(), w)).into(),
        ),
        ("block", block_out(block.to_json(), as_obj)),
    ]))
}

/// `sign`: signs a block (or, when enabled, a bare hash) with a private key.
pub fn sign(ctx: &ApiContext, r: &Req) -> Result<Value, RpcError> {
    let key = match opt_text(r, "key") {
        Some(k) => {
            KeyPair::from_private(json::hex256(&k, RawKey::from_bytes, msg::BAD_PRIVATE_KEY)?)
        }
        None => return err(msg::KEY_REQUIRED),
    };
    if r.contains_key("hash") && !r.contains_key("block") {
        if !ctx.enable_sign_hash {
            return err(msg::SIGN_HASH_DISABLED);
        }
        let h = json::hash(r, "hash")?;
        return Ok(obj([("signature", key.sign(&h.0).encode_hex().into())]));
    }
    let mut block = json::block_in(r)?;
    block.sign(&key);
    let as_obj = json::json_block(r)?;
    Ok(obj([
        ("signature", block.signature().encode_hex().into()),
        ("block", block_out(block.to_json(), as_obj)),
    ]))
}
