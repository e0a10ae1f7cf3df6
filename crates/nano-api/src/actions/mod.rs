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
mod wallet_lookup;

pub use ledger::{ledger_too_many, LEDGER_MAX_COUNT};
pub use node_ops::receive_all;
use serde_json::{Map, Value};

use crate::context::{ApiContext, Origin};
use crate::error::{msg, RpcError};
use crate::json::Req;

pub type Handler = fn(&ApiContext, &Req) -> Result<Value, RpcError>;

/// Renders an action's answer straight to JSON text of at most `cap` bytes (else the
/// over-the-cap error text), without building a [`Value`] tree: for the cheapest and most
/// frequent queries, where building, walking and dropping the tree cost as much as the
/// ledger lookup. Written only by [`typed!`], so it prints exactly what the action's
/// [`Handler`] answers.
pub type TextHandler = fn(&ApiContext, &Req, usize) -> Result<Vec<u8>, RpcError>;

/// A slow action's handler bounded to reading at most the given number of entries: the
/// answer its [`Handler`] gives when that is enough, else `None` (see [`INLINE_SCAN`]).
pub type BoundedHandler = fn(&ApiContext, &Req, usize) -> Result<Option<Value>, RpcError>;

/// Entries a slow action whose cost is set by what it scans (`account_balance`: the
/// account's receivables; `accounts_balances` and `wallet_balances`: the accounts and
/// their receivables) reads on the front door's thread before the request goes to
/// the slow pool ([`crate::worker_pool`]). What such a call costs is known only by
/// scanning, and most accounts have a handful of receivables: answered inline like
/// `account_info`, the cheap call takes no turn on the pool, where under a flood of
/// scans it waited for a pool thread to wake and take it, then for a runtime thread to
/// wake and write its answer (1–4 ms on average on a loaded 2-core machine, against
/// 0.03 ms quiet). Thirty-two entries, each a cursor step and, for confirmed-only
/// answers, a confirmation lookup, cost tens of microseconds, the order of the other
/// inline lookups; a larger account goes to the pool as before, having cost the front
/// door that much more, whoever floods it.
pub const INLINE_SCAN: usize = 32;

/// One RPC action: its name, its handler, and how the front doors treat it.
#[derive(Clone, Copy)]
pub struct Action {
    pub name: &'static str,
    pub handler: Handler,
    /// Needs `enable_control = true` (the reference RPC server's control list).
    pub control: bool,
    /// A name the reference still answers, adding `"deprecated": "1"` first.
    pub deprecated: bool,
    /// May block for long (work, key derivation, waiting for the block processor,
    /// scans of receivables, chains, wallets or the ledger, wallet writes): front doors
    /// run it on the bounded [`crate::worker_pool`] pool, off the runtime that drives
    /// peering, and answer every other action (single-key lookups, in-memory state)
    /// inline, which keeps cheap queries at a few microseconds.
    pub slow: bool,
    /// The v1 front doors' direct rendering, for actions answering a typed record.
    pub text: Option<TextHandler>,
    /// For a slow action whose cost is set by what it scans: tried first on the front
    /// door's thread, bounded to [`INLINE_SCAN`] entries ([`answer`]).
    pub bounded: Option<BoundedHandler>,
}

impl Action {
    const fn new(name: &'static str, handler: Handler) -> Action {
        Action {
            name,
            handler,
            control: false,
            deprecated: false,
            slow: false,
            text: None,
            bounded: None,
        }
    }
    /// A slow action tried inline first, bounded by [`INLINE_SCAN`].
    const fn bounded(mut self, bounded: BoundedHandler) -> Action {
        self.slow = true;
        self.bounded = Some(bounded);
        self
    }
    const fn text(mut self, text: TextHandler) -> Action {
        self.text = Some(text);
        self
    }
    const fn control(mut self) -> Action {
        self.control = true;
        self
    }
    const fn deprecated(mut self) -> Action {
        self.deprecated = true;
        self
    }
    const fn slow(mut self) -> Action {
        self.slow = true;
        self
    }
}

/// An answer record that prints its own JSON text ([`crate::answer_text`]): a flat object
/// of single values, so its size is bounded.
pub trait TextAnswer {
    fn text(&self) -> Vec<u8>;
}

/// An action whose handler `$f` returns a [`TextAnswer`] record: its [`TextHandler`]
/// answers the record's text, its [`Handler`] the same text parsed into a [`Value`]; one
/// text, so both answer the same.
macro_rules! typed {
    ($name:literal, $f:path) => {
        Action::new($name, |c, r| typed_value($f(c, r))).text(|c, r, cap| typed_text($f(c, r), cap))
    };
}

fn typed_value<T: TextAnswer>(answer: Result<T, RpcError>) -> Result<Value, RpcError> {
    serde_json::from_slice(&answer?.text()).map_err(internal)
}

fn typed_text<T: TextAnswer>(answer: Result<T, RpcError>, cap: usize) -> Result<Vec<u8>, RpcError> {
    Ok(crate::response_cap::held_to_cap(answer?.text(), cap))
}

/// Every action this node answers, by subject.
pub const ACTIONS: &[Action] = &[
    // key and unit utilities
    Action::new("key_create", utility::key_create),
    Action::new("key_expand", utility::key_expand),
    Action::new("account_get", utility::account_get),
    Action::new("account_key", utility::account_key),
    Action::new("deterministic_key", utility::deterministic_key),
    Action::new("validate_account_number", utility::validate_account_number),
    Action::new("nano_to_raw", utility::nano_to_raw),
    Action::new("raw_to_nano", utility::raw_to_nano),
    // block and work utilities
    Action::new("block_hash", utility::block_hash),
    Action::new("block_create", utility::block_create)
        .control()
        .slow(),
    Action::new("sign", utility::sign),
    Action::new("work_validate", utility::work_validate),
    Action::new("work_generate", utility::work_generate)
        .control()
        .slow(),
    Action::new("work_cancel", utility::work_cancel).control(),
    // ledger queries
    typed!("account_info", ledger::account_info),
    Action::new("account_balance", ledger::account_balance).bounded(ledger::account_balance_within),
    Action::new("accounts_balances", ledger::accounts_balances)
        .bounded(ledger::accounts_balances_within),
    Action::new("accounts_frontiers", ledger::accounts_frontiers).slow(),
    Action::new("accounts_representatives", ledger::accounts_representatives).slow(),
    Action::new("account_block_count", ledger::account_block_count),
    Action::new("account_representative", ledger::account_representative),
    Action::new("account_weight", ledger::account_weight),
    Action::new("account_count", ledger::account_count),
    Action::new("frontier_count", ledger::account_count),
    Action::new("account_history", ledger::account_history).slow(),
    Action::new("available_supply", ledger::available_supply).slow(),
    Action::new("block_account", ledger::block_account),
    typed!("block_count", ledger::block_count),
    Action::new("block_info", ledger::block_info),
    Action::new("block", ledger::block_info),
    Action::new("blocks_info", ledger::blocks_info).slow(),
    Action::new("blocks", ledger::blocks).slow(),
    Action::new("chain", ledger::chain).slow(),
    Action::new("successors", ledger::successors).slow(),
    Action::new("frontiers", ledger::frontiers).slow(),
    Action::new("delegators", ledger::delegators).slow(),
    Action::new("delegators_count", ledger::delegators_count).slow(),
    Action::new("representatives", ledger::representatives).slow(),
    Action::new("receivable", ledger::receivable)
        .text(ledger::receivable_text)
        .slow(),
    Action::new("pending", ledger::receivable)
        .deprecated()
        .slow(),
    Action::new("accounts_receivable", ledger::accounts_receivable).slow(),
    Action::new("accounts_pending", ledger::accounts_receivable)
        .deprecated()
        .slow(),
    Action::new("receivable_exists", ledger::receivable_exists),
    Action::new("pending_exists", ledger::receivable_exists).deprecated(),
    Action::new("ledger", ledger::ledger_action)
        .control()
        .slow(),
    // wallets
    Action::new("wallet_create", wallet::wallet_create)
        .control()
        .slow(),
    Action::new("wallet_change_seed", wallet::wallet_change_seed)
        .control()
        .slow(),
    Action::new("wallet_destroy", wallet::wallet_destroy)
        .control()
        .slow(),
    Action::new("wallet_add", wallet::wallet_add)
        .control()
        .slow(),
    Action::new("wallet_add_watch", wallet::wallet_add_watch)
        .control()
        .slow(),
    Action::new("account_create", wallet::account_create)
        .control()
        .slow(),
    Action::new("accounts_create", wallet::accounts_create)
        .control()
        .slow(),
    Action::new("account_list", wallet::account_list).slow(),
    Action::new("account_remove", wallet::account_remove)
        .control()
        .slow(),
    Action::new("account_move", wallet::account_move)
        .control()
        .slow(),
    Action::new("wallet_contains", wallet::wallet_contains),
    Action::new("password_change", wallet::password_change)
        .control()
        .slow(),
    Action::new("password_enter", wallet::password_enter).slow(),
    Action::new("wallet_unlock", wallet::password_enter).slow(),
    Action::new("password_valid", wallet::password_valid),
    Action::new("wallet_key_valid", wallet::wallet_key_valid),
    Action::new("wallet_locked", wallet::wallet_locked),
    Action::new("wallet_lock", wallet::wallet_lock).control(),
    Action::new("wallet_seed", wallet::wallet_seed).control(),
    Action::new("wallet_representative", wallet::wallet_representative),
    Action::new(
        "wallet_representative_set",
        wallet::wallet_representative_set,
    )
    .control()
    .slow(),
    Action::new("wallet_export", wallet::wallet_export).slow(),
    Action::new("work_get", wallet::work_get).control(),
    Action::new("work_set", wallet::work_set).control(),
    Action::new("wallet_work_get", wallet::wallet_work_get)
        .control()
        .slow(),
    Action::new("wallet_info", wallet::wallet_info).slow(),
    Action::new("wallet_balance_total", wallet::wallet_info).slow(),
    Action::new("wallet_balances", wallet::wallet_balances).bounded(wallet::wallet_balances_within),
    Action::new("wallet_frontiers", wallet::wallet_frontiers).slow(),
    Action::new("wallet_receivable", wallet::wallet_receivable).slow(),
    Action::new("wallet_pending", wallet::wallet_receivable)
        .deprecated()
        .slow(),
    Action::new("wallet_ledger", wallet::wallet_ledger).slow(),
    Action::new("wallet_history", wallet::wallet_history).slow(),
    Action::new("receive_minimum", wallet::receive_minimum).control(),
    Action::new("receive_minimum_set", wallet::receive_minimum_set).control(),
    // node-backed: blocks, wallets publishing, elections, network
    Action::new("process", node_ops::process).slow(),
    Action::new("send", node_ops::send).control().slow(),
    Action::new("receive", node_ops::receive).control().slow(),
    Action::new(
        "account_representative_set",
        node_ops::account_representative_set,
    )
    .control()
    .slow(),
    Action::new("search_receivable", node_ops::search_receivable)
        .control()
        .slow(),
    Action::new("search_pending", node_ops::search_receivable)
        .control()
        .deprecated()
        .slow(),
    Action::new("search_receivable_all", node_ops::search_receivable_all)
        .control()
        .slow(),
    Action::new("search_pending_all", node_ops::search_receivable_all)
        .control()
        .deprecated()
        .slow(),
    Action::new("wallet_republish", node_ops::wallet_republish)
        .control()
        .slow(),
    Action::new("republish", node_ops::republish).slow(),
    Action::new("block_confirm", node_ops::block_confirm),
    Action::new("confirmation_quorum", node_ops::confirmation_quorum),
    Action::new("confirmation_history", node_ops::confirmation_history),
    Action::new(
        "confirmation_history_since",
        confirmation_stream::confirmation_history_since,
    ),
    Action::new("confirmation_active", node_ops::confirmation_active),
    Action::new("peers", node_ops::peers),
    Action::new("representatives_online", node_ops::representatives_online),
    Action::new("node_id", node_ops::node_id).control(),
    Action::new("telemetry", node_ops::telemetry),
    // the rest of the catalogue
    Action::new("confirmation_info", misc::confirmation_info),
    Action::new("election_statistics", misc::election_statistics),
    Action::new("pruned_exists", misc::pruned_exists),
    Action::new("database_txn_tracker", misc::database_txn_tracker).control(),
    Action::new("unchecked", misc::unchecked).slow(),
    Action::new("unchecked_keys", misc::unchecked_keys).slow(),
    Action::new("unchecked_get", misc::unchecked_get),
    Action::new("unchecked_clear", misc::unchecked_clear).control(),
    Action::new("unopened", misc::unopened).control().slow(),
    Action::new("keepalive", misc::keepalive).control(),
    Action::new("epoch_upgrade", misc::epoch_upgrade)
        .control()
        .slow(),
    Action::new("active_difficulty", misc::active_difficulty).deprecated(),
    Action::new("history", misc::history).deprecated(),
    Action::new("node_id_delete", misc::node_id_delete).deprecated(),
    Action::new("work_peers", misc::work_peers).control(),
    Action::new("work_peer_add", misc::work_peer_add).control(),
    Action::new("work_peers_clear", misc::work_peers_clear).control(),
    Action::new("populate_backlog", misc::populate_backlog).control(),
    Action::new("bootstrap", misc::bootstrap),
    Action::new("bootstrap_any", misc::bootstrap_any),
    Action::new("bootstrap_lazy", misc::bootstrap_lazy).control(),
    Action::new("bootstrap_status", misc::bootstrap_status),
    Action::new(
        "debug_bootstrap_priority_info",
        misc::debug_bootstrap_priority_info,
    ),
    // node
    Action::new("version", node::version),
    Action::new("uptime", node::uptime),
    Action::new("stop", node::stop).control(),
    Action::new("stats", node::stats),
    Action::new("stats_clear", node::stats_clear),
];

/// Names on the reference RPC server's control list that this node has no handler for:
/// without `enable_control` they are refused as control actions (the server checks its
/// list before the node sees the request), with it they are unknown commands.
const CONTROL_ONLY_NAMES: &[&str] = &["backoff_info", "confirmation_height_currently_processing"];

/// The action called `name`, found through an index built once.
pub fn action(name: &str) -> Option<&'static Action> {
    static INDEX: std::sync::OnceLock<std::collections::HashMap<&'static str, &'static Action>> =
        std::sync::OnceLock::new();
    INDEX
        .get_or_init(|| ACTIONS.iter().map(|a| (a.name, a)).collect())
        .get(name)
        .copied()
}

/// Whether `name` needs `enable_control` (also for the names only the control list has).
pub fn is_control(name: &str) -> bool {
    action(name).map_or(CONTROL_ONLY_NAMES.contains(&name), |a| a.control)
}

/// Runs one request object and returns the JSON answer (an error object on failure), in
/// the reference's v1 rendering: its property-tree writer prints an empty list or object
/// as `""`, so every empty array or object inside the answer becomes an empty string.
pub fn dispatch(ctx: &ApiContext, req: &Req, origin: Origin) -> Value {
    v1_rendering(dispatch_structured(ctx, req, origin))
}

fn v1_rendering(mut v: Value) -> Value {
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
    structured(admit(req, origin).and_then(|entry| run(ctx, entry, req)))
}

fn structured(answer: Result<Value, RpcError>) -> Value {
    match answer {
        Ok(Value::Object(m)) if m.is_empty() => RpcError::new(msg::EMPTY_RESPONSE).to_json(),
        Ok(v) => v,
        Err(e) => e.to_json(),
    }
}

/// Whether a request needs `enable_control`: a control action, `process` with `force`,
/// or `stats` of type `objects`.
pub fn is_control_request(action: &str, req: &Req) -> bool {
    is_control(action)
        || (action == "process" && crate::json::opt_bool(req, "force", false).unwrap_or(false))
        || (action == "stats" && crate::json::opt_text(req, "type").as_deref() == Some("objects"))
}

/// The request's action once the gates let it through (a known name, `enable_control`
/// for control requests, the unsafe rule of `wallet_seed`), else the error to answer.
fn admit(req: &Req, origin: Origin) -> Result<&'static Action, RpcError> {
    // The reference reads `action` with a property-tree lookup: a missing field throws,
    // which its handler answers as a parse error; any other value is a name that matches
    // no action.
    let action = match req.get("action") {
        Some(Value::String(s)) => s.as_str(),
        None => return Err(RpcError::new(msg::UNABLE_TO_PARSE_JSON)),
        Some(_) => return Err(RpcError::new(msg::UNKNOWN_COMMAND)),
    };
    let entry = self::action(action);
    let control = entry.map_or(CONTROL_ONLY_NAMES.contains(&action), |a| a.control);
    if !origin.control && control {
        return Err(RpcError::new(msg::CONTROL_DISABLED));
    }
    let Some(entry) = entry else {
        return Err(RpcError::new(msg::UNKNOWN_COMMAND));
    };
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
    Ok(entry)
}

/// The marks the reference puts before anything else in the answer.
fn marks(entry: &Action, req: &Req) -> Vec<&'static str> {
    let mut marks = Vec::new();
    if entry.deprecated {
        marks.push("deprecated");
    }
    if uses_hyphen_address(req) {
        marks.push("deprecated_account_format");
    }
    marks
}

/// Runs an admitted request's handler and puts the marks first.
fn run(ctx: &ApiContext, entry: &Action, req: &Req) -> Result<Value, RpcError> {
    with_marks(entry, req, (entry.handler)(ctx, req))
}

/// A handler's answer with the marks first.
fn with_marks(
    entry: &Action,
    req: &Req,
    answer: Result<Value, RpcError>,
) -> Result<Value, RpcError> {
    let mut answer = answer?;
    let marks = marks(entry, req);
    if let (Value::Object(m), false) = (&mut answer, marks.is_empty()) {
        let rest = std::mem::take(m);
        for k in marks {
            m.insert(k.into(), "1".into());
        }
        m.extend(rest);
    }
    Ok(answer)
}

/// An admitted request's v1 answer as JSON text of at most `cap` bytes: rendered
/// directly when the action has a [`TextHandler`] and no mark goes first, else through
/// the [`Value`] answer.
fn run_v1_text(ctx: &ApiContext, entry: &Action, req: &Req, cap: usize) -> Vec<u8> {
    use crate::response_cap::to_json_capped;
    match entry.text {
        Some(text) if marks(entry, req).is_empty() => {
            text(ctx, req, cap).unwrap_or_else(|e| to_json_capped(&e.to_json(), cap))
        }
        _ => v1_text(entry, req, (entry.handler)(ctx, req), cap),
    }
}

/// A handler's answer as v1 JSON text of at most `cap` bytes.
fn v1_text(entry: &Action, req: &Req, answer: Result<Value, RpcError>, cap: usize) -> Vec<u8> {
    let answer = structured(with_marks(entry, req, answer));
    crate::response_cap::to_json_capped(&v1_rendering(answer), cap)
}

/// A request of the plainest form of the most frequent queries: `action` and, for
/// `account_info`, `account` and the flags that keep it cheap, nothing else, every value
/// a string (a flag may also be a boolean or null). Read from the text without building
/// a map.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainQuery<'a> {
    #[serde(borrow)]
    action: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    account: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    representative: Option<PlainFlag>,
    #[serde(default)]
    weight: Option<PlainFlag>,
    #[serde(default)]
    include_confirmed: Option<PlainFlag>,
}

/// A flag as [`crate::json::opt_bool`] reads a boolean or a string: `Some` for the texts
/// it knows, `None` (the default) for any other text; numbers and the rest do not
/// deserialize, which sends the request the general way.
struct PlainFlag(Option<bool>);

impl<'de> serde::Deserialize<'de> for PlainFlag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = PlainFlag;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a boolean or a string")
            }
            fn visit_bool<E>(self, b: bool) -> Result<PlainFlag, E> {
                Ok(PlainFlag(Some(b)))
            }
            fn visit_str<E>(self, s: &str) -> Result<PlainFlag, E> {
                Ok(PlainFlag(match s {
                    "true" | "1" => Some(true),
                    "false" | "0" => Some(false),
                    _ => None,
                }))
            }
        }
        d.deserialize_any(V)
    }
}

fn flag(f: &Option<PlainFlag>) -> bool {
    f.as_ref().and_then(|f| f.0).unwrap_or(false)
}

/// The v1 answer text to a request in the [`PlainQuery`] form of `block_count` or
/// `account_info` (neither control, slow nor marked), the same text [`answer`] gives it
/// through the request map; `None` for every other request, which then goes that way.
pub fn plain_query(ctx: &ApiContext, body: &[u8], max_depth: usize) -> Option<Vec<u8>> {
    use crate::response_cap::to_json_capped;
    // An array would also deserialize into the struct (by position).
    // What this form reads is one flat object (every value a string, a boolean or null,
    // a nested value refused as its first token is read, without recursing): depth 1,
    // too deep only under a limit of 0, so the text needs no depth scan.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') || max_depth == 0 {
        return None;
    }
    let q: PlainQuery<'_> = serde_json::from_slice(body).ok()?;
    let cap = ctx.max_response_size;
    let no_flags =
        q.representative.is_none() && q.weight.is_none() && q.include_confirmed.is_none();
    let answer = match q.action.as_ref() {
        "block_count" if q.account.is_none() && no_flags => {
            typed_text(ledger::block_count(ctx, &Req::new()), cap)
        }
        "account_info" => {
            let account = q.account.as_deref()?;
            // The deprecated address forms put a mark first: the general way.
            if account.starts_with("nano-") || account.starts_with("xrb-") {
                return None;
            }
            let query = ledger::AccountInfoQuery {
                account: Some(account),
                representative: flag(&q.representative),
                weight: flag(&q.weight),
                receivable: false,
                include_confirmed: flag(&q.include_confirmed),
            };
            typed_text(ledger::account_info_of(ctx, &query), cap)
        }
        _ => return None,
    };
    Some(answer.unwrap_or_else(|e| to_json_capped(&e.to_json(), cap)))
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

/// Whether the request's action is [`Action::slow`], or `account_info` asking for the
/// receivable total (which sums every receivable of the account).
pub fn is_slow(req: &Req) -> bool {
    match req.get("action") {
        Some(Value::String(a)) => action(a).is_some_and(|e| slow_request(e, req)),
        _ => false,
    }
}

fn slow_request(entry: &Action, req: &Req) -> bool {
    if entry.name == "account_info" {
        return ["receivable", "pending"]
            .iter()
            .any(|k| crate::json::opt_bool(req, k, false).unwrap_or(true));
    }
    entry.slow
}

/// Answers one parsed request as JSON text, for the RPC v1 front doors (HTTP, IPC): a
/// refusal by the gates and any action that is not slow inline, a slow one on the
/// context's bounded pool in `client`'s queue (or the pool's refusal when it or that
/// queue is full), unless its bounded handler answers it inline within [`INLINE_SCAN`]
/// entries; the text capped at the context's `max_response_size`.
pub async fn answer(
    ctx: &std::sync::Arc<ApiContext>,
    req: Req,
    origin: Origin,
    client: crate::worker_pool::Client,
) -> Answer {
    use crate::worker_pool::{PoolError, BUSY};
    let cap = ctx.max_response_size;
    let entry = match admit(&req, origin) {
        Ok(entry) => entry,
        Err(e) => return crate::response_cap::to_json_capped(&e.to_json(), cap).into(),
    };
    if !slow_request(entry, &req) {
        return run_v1_text(ctx, entry, &req, cap).into();
    }
    if let Some(bounded) = entry.bounded {
        if let Some(answer) = bounded(ctx, &req, INLINE_SCAN).transpose() {
            return v1_text(entry, &req, answer, cap).into();
        }
    }
    let c = ctx.clone();
    let job = move || run_v1_text(&c, entry, &req, cap);
    let refusal = |text: &str| RpcError::new(text).to_json().to_string().into_bytes();
    match ctx.slow_actions.run_answer(client, job).await {
        Ok((text, held)) => Answer {
            text,
            held: Some(held),
        },
        Err(PoolError::Busy) => {
            ctx.stats.inc("rpc", "slow_action_busy", "in");
            refusal(BUSY).into()
        }
        Err(PoolError::Failed) => refusal(msg::INTERNAL).into(),
    }
}

/// An RPC v1 answer as JSON text, with, for a slow action's, its place in the pool's
/// answer memory ([`crate::worker_pool::HeldAnswer`]): the front door keeps `held` until
/// the text has been handed to the socket.
#[derive(Debug)]
pub struct Answer {
    pub text: Vec<u8>,
    pub held: Option<crate::worker_pool::HeldAnswer>,
}

impl From<Vec<u8>> for Answer {
    fn from(text: Vec<u8>) -> Answer {
        Answer { text, held: None }
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
        .ok_or_else(|| RpcError::new(msg::NODE_NOT_ATTACHED))
}

/// Builds a response object from key/value pairs, preserving order.
pub(crate) fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.insert(k.to_string(), v);
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_each_action_once() {
        let mut names: Vec<&str> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len());
        for n in CONTROL_ONLY_NAMES {
            assert!(action(n).is_none() && is_control(n), "{n}");
        }
        assert!(is_control("stop") && !is_control("block_count"));
        assert!(action("pending").unwrap().deprecated);
        assert!(!action("receivable").unwrap().deprecated);
        let slow = |a: &str| {
            is_slow(
                &serde_json::json!({"action": a})
                    .as_object()
                    .unwrap()
                    .clone(),
            )
        };
        assert!(slow("work_generate") && !slow("block_count") && !slow("no_such_action"));
    }
}
