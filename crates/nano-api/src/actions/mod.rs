//! The action dispatcher: one entry point for every front door (HTTP, IPC, /api/v2). It
//! applies the reference node's gates (enable_control, unsafe actions) and routes each
//! `action` name to its handler; handlers return a JSON object or an [`RpcError`].

mod confirmation_stream;
mod ledger;
mod misc;
mod node;
mod node_ops;
mod utility;
mod wallet;

pub use node_ops::receive_all;
use serde_json::{Map, Value};

use crate::context::{ApiContext, Origin};
use crate::error::{msg, RpcError};
use crate::json::Req;

/// Actions that need `enable_control = true`, as the reference RPC server lists them.
pub const CONTROL_ACTIONS: &[&str] = &[
    "account_create",
    "account_move",
    "account_remove",
    "account_representative_set",
    "accounts_create",
    "backoff_info",
    "block_create",
    "bootstrap_lazy",
    "confirmation_height_currently_processing",
    "database_txn_tracker",
    "epoch_upgrade",
    "keepalive",
    "ledger",
    "node_id",
    "password_change",
    "populate_backlog",
    "receive",
    "receive_minimum",
    "receive_minimum_set",
    "search_pending",
    "search_pending_all",
    "search_receivable",
    "search_receivable_all",
    "send",
    "stop",
    "unchecked_clear",
    "unopened",
    "wallet_add",
    "wallet_add_watch",
    "wallet_change_seed",
    "wallet_create",
    "wallet_destroy",
    "wallet_lock",
    "wallet_representative_set",
    "wallet_republish",
    "wallet_seed",
    "wallet_work_get",
    "work_cancel",
    "work_generate",
    "work_get",
    "work_peer_add",
    "work_peers",
    "work_peers_clear",
    "work_set",
];

/// Deprecated names the reference still answers, adding `"deprecated": "1"`; most are
/// aliases of their successors, so the mark is added here rather than in each handler.
pub const DEPRECATED_ACTIONS: &[&str] = &[
    "accounts_pending",
    "active_difficulty",
    "history",
    "node_id_delete",
    "pending",
    "pending_exists",
    "search_pending",
    "search_pending_all",
    "wallet_pending",
];

pub type Handler = fn(&ApiContext, &Req) -> Result<Value, RpcError>;

fn handler(action: &str) -> Option<Handler> {
    Some(match action {
        // key and unit utilities
        "key_create" => utility::key_create,
        "key_expand" => utility::key_expand,
        "account_get" => utility::account_get,
        "account_key" => utility::account_key,
        "deterministic_key" => utility::deterministic_key,
        "validate_account_number" => utility::validate_account_number,
        "nano_to_raw" => utility::nano_to_raw,
        "raw_to_nano" => utility::raw_to_nano,
        // block and work utilities
        "block_hash" => utility::block_hash,
        "block_create" => utility::block_create,
        "sign" => utility::sign,
        "work_validate" => utility::work_validate,
        "work_generate" => utility::work_generate,
        "work_cancel" => utility::work_cancel,
        // ledger queries
        "account_info" => ledger::account_info,
        "account_balance" => ledger::account_balance,
        "accounts_balances" => ledger::accounts_balances,
        "accounts_frontiers" => ledger::accounts_frontiers,
        "accounts_representatives" => ledger::accounts_representatives,
        "account_block_count" => ledger::account_block_count,
        "account_representative" => ledger::account_representative,
        "account_weight" => ledger::account_weight,
        "account_count" | "frontier_count" => ledger::account_count,
        "account_history" => ledger::account_history,
        "available_supply" => ledger::available_supply,
        "block_account" => ledger::block_account,
        "block_count" => ledger::block_count,
        "block_info" | "block" => ledger::block_info,
        "blocks_info" => ledger::blocks_info,
        "blocks" => ledger::blocks,
        "chain" => ledger::chain,
        "successors" => ledger::successors,
        "frontiers" => ledger::frontiers,
        "delegators" => ledger::delegators,
        "delegators_count" => ledger::delegators_count,
        "representatives" => ledger::representatives,
        "receivable" => ledger::receivable,
        "pending" => ledger::receivable,
        "accounts_receivable" => ledger::accounts_receivable,
        "accounts_pending" => ledger::accounts_receivable,
        "receivable_exists" => ledger::receivable_exists,
        "pending_exists" => ledger::receivable_exists,
        "ledger" => ledger::ledger_action,
        // wallets
        "wallet_create" => wallet::wallet_create,
        "wallet_change_seed" => wallet::wallet_change_seed,
        "wallet_destroy" => wallet::wallet_destroy,
        "wallet_add" => wallet::wallet_add,
        "wallet_add_watch" => wallet::wallet_add_watch,
        "account_create" => wallet::account_create,
        "accounts_create" => wallet::accounts_create,
        "account_list" => wallet::account_list,
        "account_remove" => wallet::account_remove,
        "account_move" => wallet::account_move,
        "wallet_contains" => wallet::wallet_contains,
        "password_change" => wallet::password_change,
        "password_enter" | "wallet_unlock" => wallet::password_enter,
        "password_valid" => wallet::password_valid,
        "wallet_key_valid" => wallet::wallet_key_valid,
        "wallet_locked" => wallet::wallet_locked,
        "wallet_lock" => wallet::wallet_lock,
        "wallet_seed" => wallet::wallet_seed,
        "wallet_representative" => wallet::wallet_representative,
        "wallet_representative_set" => wallet::wallet_representative_set,
        "wallet_export" => wallet::wallet_export,
        "work_get" => wallet::work_get,
        "work_set" => wallet::work_set,
        "wallet_work_get" => wallet::wallet_work_get,
        "wallet_info" | "wallet_balance_total" => wallet::wallet_info,
        "wallet_balances" => wallet::wallet_balances,
        "wallet_frontiers" => wallet::wallet_frontiers,
        "wallet_receivable" => wallet::wallet_receivable,
        "wallet_pending" => wallet::wallet_receivable,
        "wallet_ledger" => wallet::wallet_ledger,
        "wallet_history" => wallet::wallet_history,
        "receive_minimum" => wallet::receive_minimum,
        "receive_minimum_set" => wallet::receive_minimum_set,
        // node-backed: blocks, wallets publishing, elections, network
        "process" => node_ops::process,
        "send" => node_ops::send,
        "receive" => node_ops::receive,
        "account_representative_set" => node_ops::account_representative_set,
        "search_receivable" | "search_pending" => node_ops::search_receivable,
        "search_receivable_all" | "search_pending_all" => node_ops::search_receivable_all,
        "wallet_republish" => node_ops::wallet_republish,
        "republish" => node_ops::republish,
        "block_confirm" => node_ops::block_confirm,
        "confirmation_quorum" => node_ops::confirmation_quorum,
        "confirmation_history" => node_ops::confirmation_history,
        "confirmation_history_since" => confirmation_stream::confirmation_history_since,
        "confirmation_active" => node_ops::confirmation_active,
        "peers" => node_ops::peers,
        "representatives_online" => node_ops::representatives_online,
        "node_id" => node_ops::node_id,
        "telemetry" => node_ops::telemetry,
        // the rest of the catalogue
        "confirmation_info" => misc::confirmation_info,
        "election_statistics" => misc::election_statistics,
        "pruned_exists" => misc::pruned_exists,
        "database_txn_tracker" => misc::database_txn_tracker,
        "unchecked" => misc::unchecked,
        "unchecked_keys" => misc::unchecked_keys,
        "unchecked_get" => misc::unchecked_get,
        "unchecked_clear" => misc::unchecked_clear,
        "unopened" => misc::unopened,
        "keepalive" => misc::keepalive,
        "epoch_upgrade" => misc::epoch_upgrade,
        "active_difficulty" => misc::active_difficulty,
        "history" => misc::history,
        "node_id_delete" => misc::node_id_delete,
        "work_peers" => misc::work_peers,
        "work_peer_add" => misc::work_peer_add,
        "work_peers_clear" => misc::work_peers_clear,
        "populate_backlog" => misc::populate_backlog,
        "bootstrap" => misc::bootstrap,
        "bootstrap_any" => misc::bootstrap_any,
        "bootstrap_lazy" => misc::bootstrap_lazy,
        "bootstrap_status" => misc::bootstrap_status,
        "debug_bootstrap_priority_info" => misc::debug_bootstrap_priority_info,
        // node
        "version" => node::version,
        "uptime" => node::uptime,
        "stop" => node::stop,
        "stats" => node::stats,
        "stats_clear" => node::stats_clear,
        _ => return None,
    })
}

/// Runs one request object and returns the JSON answer (an error object on failure), in
/// the reference's v1 rendering: its property-tree writer prints an empty list or object
/// as `""`, so every empty array or object inside the answer becomes an empty string.
pub fn dispatch(ctx: &ApiContext, req: &Req, origin: Origin) -> Value {
    let mut v = dispatch_structured(ctx, req, origin);
    if let Value::Object(m) = &mut v {
        for x in m.values_mut() {
            empties_as_strings(x);
        }
    }
    v
}

fn empties_as_strings(v: &mut Value) {
    match v {
        Value::Array(a) if a.is_empty() => *v = Value::String(String::new()),
        Value::Object(m) if m.is_empty() => *v = Value::String(String::new()),
        Value::Array(a) => a.iter_mut().for_each(empties_as_strings),
        Value::Object(m) => m.values_mut().for_each(empties_as_strings),
        _ => {}
    }
}

/// [`dispatch`] without the v1 rendering of empty containers, for front doors (the
/// /api/v2 gateway) that convert the answer themselves.
pub fn dispatch_structured(ctx: &ApiContext, req: &Req, origin: Origin) -> Value {
    match dispatch_inner(ctx, req, origin) {
        Ok(Value::Object(m)) if m.is_empty() => RpcError::new(msg::EMPTY_RESPONSE).to_json(),
        Ok(v) => v,
        Err(e) => e.to_json(),
    }
}

/// Whether a request needs `enable_control`: a control action, `process` with `force`,
/// or `stats` of type `objects`.
pub fn is_control_request(action: &str, req: &Req) -> bool {
    CONTROL_ACTIONS.contains(&action)
        || (action == "process" && crate::json::opt_bool(req, "force", false).unwrap_or(false))
        || (action == "stats" && crate::json::opt_text(req, "type").as_deref() == Some("objects"))
}

fn dispatch_inner(ctx: &ApiContext, req: &Req, origin: Origin) -> Result<Value, RpcError> {
    let action = match req.get("action") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(RpcError::new(msg::UNKNOWN_COMMAND)),
    };
    let Some(h) = handler(action) else {
        return Err(RpcError::new(msg::UNKNOWN_COMMAND));
    };
    if !origin.control && CONTROL_ACTIONS.contains(&action) {
        return Err(RpcError::new(msg::CONTROL_DISABLED));
    }
    if action == "wallet_seed" && !origin.allow_unsafe {
        return Err(RpcError::new(msg::UNSAFE_NOT_ALLOWED));
    }
    if !origin.control && action == "process" && crate::json::opt_bool(req, "force", false)? {
        return Err(RpcError::new(msg::CONTROL_DISABLED));
    }
    if !origin.control
        && action == "stats"
        && crate::json::opt_text(req, "type").as_deref() == Some("objects")
    {
        return Err(RpcError::new(msg::CONTROL_DISABLED));
    }
    let mut answer = h(ctx, req)?;
    // The reference puts these marks before anything else in the answer.
    let mut marks = Vec::new();
    if DEPRECATED_ACTIONS.contains(&action) {
        marks.push("deprecated");
    }
    if uses_hyphen_address(req) {
        marks.push("deprecated_account_format");
    }
    if let (Value::Object(m), false) = (&mut answer, marks.is_empty()) {
        let rest = std::mem::take(m);
        for k in marks {
            m.insert(k.into(), "1".into());
        }
        m.extend(rest);
    }
    Ok(answer)
}

/// True when `account` (or an entry of `accounts`) is a valid address in the deprecated
/// `nano-` / `xrb-` form, which the reference marks with `"deprecated_account_format"`.
fn uses_hyphen_address(req: &Req) -> bool {
    let hyphen = |v: &Value| {
        v.as_str().is_some_and(|s| {
            (s.starts_with("nano-") || s.starts_with("xrb-"))
                && nano_core::PublicKey::decode_account(s).is_ok()
        })
    };
    let in_list = match req.get("accounts") {
        Some(Value::Array(a)) => a.iter().any(hyphen),
        _ => false,
    };
    req.get("account").is_some_and(hyphen) || in_list
}

/// Parses a request body (after the size and depth checks of the front door) and runs it.
pub fn dispatch_text(ctx: &ApiContext, body: &[u8], origin: Origin, max_depth: usize) -> Value {
    match parse_request(body, max_depth) {
        Ok(m) => dispatch(ctx, &m, origin),
        Err(e) => e,
    }
}

/// The request object, or the reference error answer for a body that is too deep or not
/// a JSON object.
pub fn parse_request(body: &[u8], max_depth: usize) -> Result<Req, Value> {
    if crate::json::json_depth_exceeds(body, max_depth) {
        return Err(RpcError::new(msg::MAX_DEPTH).to_json());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(RpcError::new(msg::UNABLE_TO_PARSE_JSON).to_json()),
    }
}

/// Actions that may block for long (work, key derivation, waiting for the block
/// processor, whole-ledger scans): front doors run them on the blocking pool and answer
/// everything else inline, which keeps cheap queries at a few microseconds.
pub fn is_slow(req: &Req) -> bool {
    const SLOW: &[&str] = &[
        "work_generate",
        "block_create",
        "send",
        "receive",
        "account_representative_set",
        "wallet_representative_set",
        "process",
        "search_receivable",
        "search_pending",
        "search_receivable_all",
        "search_pending_all",
        "wallet_create",
        "wallet_change_seed",
        "password_change",
        "password_enter",
        "wallet_unlock",
        "wallet_republish",
        "republish",
        "epoch_upgrade",
        "ledger",
        "representatives",
        "delegators",
        "delegators_count",
        "unopened",
        "wallet_history",
        "wallet_ledger",
        "wallet_info",
        "wallet_balances",
        "wallet_receivable",
        "wallet_pending",
        "accounts_create",
        "wallet_add",
        "account_create",
        "frontiers",
        "account_history",
        "accounts_balances",
        "accounts_receivable",
        "accounts_pending",
        "blocks_info",
        "available_supply",
    ];
    match req.get("action") {
        Some(Value::String(a)) => SLOW.contains(&a.as_str()),
        _ => false,
    }
}

/// Logs an unexpected store or ledger failure and answers the reference's generic text.
pub(crate) fn internal<E: std::fmt::Display>(e: E) -> RpcError {
    tracing::error!("error in RPC: {e}");
    RpcError::new(msg::INTERNAL)
}

/// The attached node, or the error node-backed actions answer without one.
pub(crate) fn node(ctx: &ApiContext) -> Result<&dyn crate::context::NodeHandle, RpcError> {
    ctx.node
        .as_deref()
        .ok_or_else(|| RpcError::new("This action needs the running node, which is not attached"))
}

/// Builds a response object from key/value pairs, preserving order.
pub(crate) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}
