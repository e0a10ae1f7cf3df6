//! The WebSocket notification server (`[node.websocket]`): sessions, their per-topic
//! subscriptions and options, the acknowledgement protocol, and the fan-out of node events
//! from the [`EventBus`] to every interested session in the reference node's JSON shapes.
//!
//! Shape of the fan-out: one dispatcher task reads the bus, builds each outgoing message
//! at most once per distinct option set, and hands it to every session's bounded queue with
//! a non-blocking `try_send`. Each session has its own writer task. A session whose queue
//! is full loses messages (counted); one whose queue stays full longer than
//! [`WebsocketSettings::stall_timeout`], or whose socket write does not complete within it,
//! is disconnected. So a slow client never slows the node or the other clients.
//!
//! Deliberate differences from the reference node, both additive:
//! - a frame that is not JSON is answered with `{"error":"Unable to parse JSON"}` and the
//!   session keeps reading (the reference silently stops reading from that session);
//! - `active_difficulty` (removed from the reference in V22) is still served in its V21
//!   shape, periodically, so older clients keep working.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use nano_core::{Amount, BlockHash, NetworkParams, PublicKey};
use nano_node::config::WebsocketConfig;
use nano_node::events::{ConfirmationType, EventBus, NodeEvent};
use nano_node::stats::Stats;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

/// The accounts held in this node's wallets, for the `all_local_accounts` confirmation
/// option. A trait (with a blanket impl for closures) because wallets are wired in by the
/// daemon, and the API layer must not depend on how they are stored.
pub trait LocalAccounts: Send + Sync {
    fn local_accounts(&self) -> Vec<PublicKey>;
}

impl<F> LocalAccounts for F
where
    F: Fn() -> Vec<PublicKey> + Send + Sync,
{
    fn local_accounts(&self) -> Vec<PublicKey> {
        self()
    }
}

/// The current network difficulty (for `active_difficulty`); the node supplies it when it
/// tracks congestion, otherwise the network base threshold is reported with multiplier 1.
pub type DifficultySource = Arc<dyn Fn() -> u64 + Send + Sync>;

/// Server tuning and the hooks into the rest of the node.
#[derive(Clone)]
pub struct WebsocketSettings {
    /// Gives the `active_difficulty` minimum (the base threshold).
    pub params: &'static NetworkParams,
    pub local_accounts: Option<Arc<dyn LocalAccounts>>,
    pub difficulty: Option<DifficultySource>,
    /// When present, drops and disconnects are also counted under the `websocket` kind.
    pub stats: Option<Arc<Stats>>,
    /// Messages buffered per session before that session starts losing messages.
    pub queue_capacity: usize,
    /// How long a session's queue may stay full, or one socket write may take, before
    /// the session is disconnected.
    pub stall_timeout: Duration,
    /// Period of `active_difficulty` messages.
    pub active_difficulty_interval: Duration,
    /// Largest accepted client frame; requests are small JSON objects.
    pub max_message_size: usize,
}

impl WebsocketSettings {
    pub fn new(params: &'static NetworkParams) -> Self {
        WebsocketSettings {
            params,
            local_accounts: None,
            difficulty: None,
            stats: None,
            queue_capacity: 8192,
            stall_timeout: Duration::from_secs(10),
            active_difficulty_interval: Duration::from_secs(10),
            max_message_size: 64 * 1024,
        }
    }
}

/// Counters of the server's life so far, for tests, `stats` and operators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebsocketMetrics {
    pub sessions_active: usize,
    pub sessions_opened: u64,
    /// Messages handed to a session queue (notifications and acks).
    pub messages_queued: u64,
    /// Messages lost because a session's queue was full.
    pub messages_dropped: u64,
    /// Sessions disconnected because they stopped reading.
    pub stalled_disconnects: u64,
    /// Bus events this server missed because the dispatcher fell behind.
    pub bus_lagged: u64,
    pub invalid_json: u64,
}

#[derive(Default)]
struct Counters {
    sessions_opened: AtomicU64,
    messages_queued: AtomicU64,
    messages_dropped: AtomicU64,
    stalled_disconnects: AtomicU64,
    bus_lagged: AtomicU64,
    invalid_json: AtomicU64,
}

/// Milliseconds since the Unix epoch as the reference prints them in `time`.
fn now_ms() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
        .to_string()
}

// ---------------------------------------------------------------------------------------
// Topics and options
// ---------------------------------------------------------------------------------------

/// A subscribable topic name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Confirmation,
    Vote,
    StartedElection,
    StoppedElection,
    Work,
    Bootstrap,
    Telemetry,
    NewUnconfirmedBlock,
    ActiveDifficulty,
    /// Acks are always delivered; subscribing to them is accepted and changes nothing.
    Ack,
}

impl Topic {
    pub fn parse(s: &str) -> Option<Topic> {
        Some(match s {
            "confirmation" => Topic::Confirmation,
            "vote" => Topic::Vote,
            "started_election" => Topic::StartedElection,
            "stopped_election" => Topic::StoppedElection,
            "work" => Topic::Work,
            "bootstrap" => Topic::Bootstrap,
            "telemetry" => Topic::Telemetry,
            "new_unconfirmed_block" => Topic::NewUnconfirmedBlock,
            "active_difficulty" => Topic::ActiveDifficulty,
            "ack" => Topic::Ack,
            _ => return None,
        })
    }
}

/// Reads a boolean the way boost property_tree does: JSON booleans and the strings
/// "true"/"false"/"1"/"0"; anything else is treated as absent.
fn opt_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => match s.as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Value::Number(n) => n.as_u64().map(|x| x != 0),
        _ => None,
    }
}

/// Valid addresses of a JSON array; invalid entries are skipped (the reference logs them).
fn parse_accounts(v: &Value) -> impl Iterator<Item = PublicKey> + '_ {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str())
        .filter_map(|s| PublicKey::decode_account(s).ok())
}

#[derive(Debug, Clone, PartialEq)]
struct ConfirmationOptions {
    active_quorum: bool,
    active_confirmation_height: bool,
    inactive: bool,
    include_block: bool,
    /// 0: none, 1: election_info, 2: election_info with votes.
    election_info: u8,
    include_sideband: bool,
    all_local_accounts: bool,
    has_account_filter: bool,
    accounts: HashSet<PublicKey>,
}

impl Default for ConfirmationOptions {
    fn default() -> Self {
        ConfirmationOptions {
            active_quorum: true,
            active_confirmation_height: true,
            inactive: true,
            include_block: true,
            election_info: 0,
            include_sideband: false,
            all_local_accounts: false,
            has_account_filter: false,
            accounts: HashSet::new(),
        }
    }
}

impl ConfirmationOptions {
    fn parse(opts: Option<&Value>) -> Self {
        let mut o = ConfirmationOptions::default();
        let Some(opts) = opts else { return o };
        let get = |k: &str| opts.get(k);
        if let Some(t) = get("confirmation_type").and_then(Value::as_str) {
            let (q, h, i) = match t.to_ascii_lowercase().as_str() {
                "active" => (true, true, false),
                "active_quorum" => (true, false, false),
                "active_confirmation_height" => (false, true, false),
                "inactive" => (false, false, true),
                _ => (true, true, true),
            };
            o.active_quorum = q;
            o.active_confirmation_height = h;
            o.inactive = i;
        }
        o.include_block = opt_bool(get("include_block")).unwrap_or(true);
        if opt_bool(get("include_election_info_with_votes")).unwrap_or(false) {
            o.election_info = 2;
        } else if opt_bool(get("include_election_info")).unwrap_or(false) {
            o.election_info = 1;
        }
        o.include_sideband = opt_bool(get("include_sideband_info")).unwrap_or(false);
        if opt_bool(get("all_local_accounts")).unwrap_or(false) {
            o.all_local_accounts = true;
            o.has_account_filter = true;
        }
        if let Some(list) = get("accounts") {
            o.has_account_filter = true;
            o.accounts.extend(parse_accounts(list));
        }
        if o.has_account_filter && !o.include_block {
            tracing::warn!("websocket: account filtering needs include_block; nothing will pass");
        }
        o
    }

    fn update(&mut self, opts: &Value) {
        if let Some(add) = opts.get("accounts_add") {
            self.has_account_filter = true;
            self.accounts.extend(parse_accounts(add));
        }
        if let Some(del) = opts.get("accounts_del") {
            self.has_account_filter = true;
            for a in parse_accounts(del) {
                self.accounts.remove(&a);
            }
        }
        if self.has_account_filter && !self.all_local_accounts && self.accounts.is_empty() {
            tracing::warn!("websocket: confirmation account filter is empty; nothing will pass");
        }
    }

    fn type_passes(&self, t: ConfirmationType) -> bool {
        match t {
            ConfirmationType::ActiveQuorum => self.active_quorum,
            ConfirmationType::ActiveConfirmationHeight => self.active_confirmation_height,
            ConfirmationType::Inactive => self.inactive,
        }
    }

    /// Index into the per-event message cache: one slot per distinct message shape.
    fn shape(&self) -> usize {
        (self.include_block as usize) | ((self.include_sideband as usize) << 1) | {
            (self.election_info.min(2) as usize) << 2
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
struct VoteOptions {
    representatives: HashSet<PublicKey>,
    include_replays: bool,
    include_indeterminate: bool,
}

impl VoteOptions {
    fn parse(opts: Option<&Value>) -> Self {
        match opts {
            // Reference quirk: without an options object nothing is filtered.
            None => VoteOptions {
                representatives: HashSet::new(),
                include_replays: true,
                include_indeterminate: true,
            },
            Some(o) => VoteOptions {
                representatives: o
                    .get("representatives")
                    .map(|r| parse_accounts(r).collect())
                    .unwrap_or_default(),
                include_replays: opt_bool(o.get("include_replays")).unwrap_or(false),
                include_indeterminate: opt_bool(o.get("include_indeterminate")).unwrap_or(false),
            },
        }
    }

    fn passes(&self, rep: &PublicKey, kind: &str) -> bool {
        if kind == "replay" && !self.include_replays {
            return false;
        }
        if kind == "indeterminate" && !self.include_indeterminate {
            return false;
        }
        self.representatives.is_empty() || self.representatives.contains(rep)
    }
}

/// One session's subscriptions: at most one per topic.
#[derive(Debug, Default)]
struct Subscriptions {
    confirmation: Option<ConfirmationOptions>,
    vote: Option<VoteOptions>,
    started_election: bool,
    stopped_election: bool,
    work: bool,
    bootstrap: bool,
    telemetry: bool,
    new_unconfirmed_block: bool,
    active_difficulty: bool,
}

impl Subscriptions {
    fn flag(&mut self, t: Topic) -> Option<&mut bool> {
        Some(match t {
            Topic::StartedElection => &mut self.started_election,
            Topic::StoppedElection => &mut self.stopped_election,
            Topic::Work => &mut self.work,
            Topic::Bootstrap => &mut self.bootstrap,
            Topic::Telemetry => &mut self.telemetry,
            Topic::NewUnconfirmedBlock => &mut self.new_unconfirmed_block,
            Topic::ActiveDifficulty => &mut self.active_difficulty,
            _ => return None,
        })
    }

    /// Subscribing again replaces the options.
    fn subscribe(&mut self, t: Topic, opts: Option<&Value>) {
        match t {
            Topic::Confirmation => self.confirmation = Some(ConfirmationOptions::parse(opts)),
            Topic::Vote => self.vote = Some(VoteOptions::parse(opts)),
            Topic::Ack => {}
            other => {
                if let Some(f) = self.flag(other) {
                    *f = true;
                }
            }
        }
    }

    fn unsubscribe(&mut self, t: Topic) {
        match t {
            Topic::Confirmation => self.confirmation = None,
            Topic::Vote => self.vote = None,
            Topic::Ack => {}
            other => {
                if let Some(f) = self.flag(other) {
                    *f = false;
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Message building
// ---------------------------------------------------------------------------------------

fn envelope(topic: &str, time: &str, message: &Value) -> Utf8Bytes {
    let body = serde_json::to_string(message).unwrap_or_else(|_| "{}".into());
    Utf8Bytes::from(format!(
        "{{\"topic\":\"{topic}\",\"time\":\"{time}\",\"message\":{body}}}"
    ))
}

fn ack_message(action: &str, id: Option<String>) -> Utf8Bytes {
    let mut m = Map::new();
    m.insert("ack".into(), action.into());
    m.insert("time".into(), now_ms().into());
    if let Some(id) = id {
        m.insert("id".into(), id.into());
    }
    Utf8Bytes::from(Value::Object(m).to_string())
}

fn error_message(text: &str) -> Utf8Bytes {
    let mut m = Map::new();
    m.insert("error".into(), text.into());
    m.insert("time".into(), now_ms().into());
    Utf8Bytes::from(Value::Object(m).to_string())
}

struct Confirmed<'a> {
    hash: &'a BlockHash,
    account: &'a PublicKey,
    amount: &'a Amount,
    block: &'a Value,
    confirmation_type: ConfirmationType,
    height: u64,
    local_timestamp: u64,
    election: Option<&'a Value>,
}

/// The `confirmation` message in the reference field order: account, amount, hash,
/// confirmation_type, election_info, block, sideband.
fn confirmation_message(c: &Confirmed<'_>, o: &ConfirmationOptions, time: &str) -> Utf8Bytes {
    let mut m = Map::new();
    m.insert("account".into(), c.account.encode_account().into());
    m.insert("amount".into(), c.amount.encode_dec().into());
    m.insert("hash".into(), c.hash.encode_hex().into());
    m.insert(
        "confirmation_type".into(),
        c.confirmation_type.as_str().into(),
    );
    if o.election_info > 0 {
        if let Some(Value::Object(e)) = c.election {
            let info: Map<String, Value> = e
                .iter()
                .filter(|(k, _)| o.election_info == 2 || k.as_str() != "votes")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            m.insert("election_info".into(), Value::Object(info));
        }
    }
    if o.include_block {
        m.insert("block".into(), c.block.clone());
    }
    if o.include_sideband {
        let mut s = Map::new();
        s.insert("height".into(), c.height.to_string().into());
        s.insert(
            "local_timestamp".into(),
            c.local_timestamp.to_string().into(),
        );
        m.insert("sideband".into(), Value::Object(s));
    }
    envelope("confirmation", time, &Value::Object(m))
}

fn active_difficulty_message(params: &NetworkParams, current: u64, time: &str) -> Utf8Bytes {
    let base = params.work.base;
    let current = current.max(base);
    let multiplier = nano_core::work::to_multiplier(current, base);
    let mut m = Map::new();
    m.insert("network_minimum".into(), format!("{base:016x}").into());
    m.insert("network_current".into(), format!("{current:016x}").into());
    m.insert("multiplier".into(), format!("{multiplier}").into());
    envelope("active_difficulty", time, &Value::Object(m))
}

// ---------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------

const RUNNING: u8 = 0;
const KILL_SHUTDOWN: u8 = 1;
const KILL_CLOSE: u8 = 2;

struct Session {
    id: u64,
    tx: mpsc::Sender<Utf8Bytes>,
    subs: Mutex<Subscriptions>,
    /// Set while the queue is full; `full_since` holds when it became full.
    is_full: AtomicBool,
    full_since: Mutex<Option<Instant>>,
    kill: watch::Sender<u8>,
}

enum Delivery {
    Queued,
    Dropped,
    Stalled,
    Closed,
}

impl Session {
    /// Never waits: the dispatcher serves every session from one task.
    fn deliver(&self, msg: &Utf8Bytes, stall: Duration) -> Delivery {
        match self.tx.try_send(msg.clone()) {
            Ok(()) => {
                if self.is_full.load(Ordering::Relaxed) {
                    self.is_full.store(false, Ordering::Relaxed);
                    *self.full_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
                }
                Delivery::Queued
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.is_full.store(true, Ordering::Relaxed);
                let mut since = self.full_since.lock().unwrap_or_else(|e| e.into_inner());
                match *since {
                    None => {
                        *since = Some(Instant::now());
                        Delivery::Dropped
                    }
                    Some(t) if t.elapsed() > stall => Delivery::Stalled,
                    Some(_) => Delivery::Dropped,
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Delivery::Closed,
        }
    }

    /// Returns whether this call is the one that stopped the session.
    fn stop(&self, how: u8) -> bool {
        self.kill.send_if_modified(|v| {
            if *v == RUNNING {
                *v = how;
                true
            } else {
                false
            }
        })
    }
}

struct Shared {
    settings: WebsocketSettings,
    sessions: RwLock<Vec<Arc<Session>>>,
    next_id: AtomicU64,
    counters: Counters,
    shutting_down: AtomicBool,
}

impl Shared {
    fn stat(&self, detail: &str, n: u64) {
        if let Some(s) = &self.settings.stats {
            s.add("websocket", detail, "out", n);
        }
    }

    fn remove(&self, id: u64) {
        let mut s = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        s.retain(|x| x.id != id);
    }

    /// Hands `msg` to one session, accounting for drops and stalls. Returns the session
    /// id when it must be disconnected.
    fn offer(&self, session: &Session, msg: &Utf8Bytes) -> Option<u64> {
        match session.deliver(msg, self.settings.stall_timeout) {
            Delivery::Queued => {
                self.counters
                    .messages_queued
                    .fetch_add(1, Ordering::Relaxed);
                None
            }
            Delivery::Dropped => {
                self.counters
                    .messages_dropped
                    .fetch_add(1, Ordering::Relaxed);
                self.stat("dropped", 1);
                None
            }
            Delivery::Stalled => {
                self.counters
                    .messages_dropped
                    .fetch_add(1, Ordering::Relaxed);
                self.stall(session);
                Some(session.id)
            }
            Delivery::Closed => Some(session.id),
        }
    }

    /// Disconnects a session that stopped reading; counted once per session.
    fn stall(&self, session: &Session) {
        if !session.stop(KILL_CLOSE) {
            return;
        }
        self.counters
            .stalled_disconnects
            .fetch_add(1, Ordering::Relaxed);
        self.stat("stalled_disconnect", 1);
        tracing::info!(
            session = session.id,
            "websocket: disconnecting a client that stopped reading"
        );
    }

    fn remove_all(&self, ids: &[u64]) {
        if !ids.is_empty() {
            let mut s = self.sessions.write().unwrap_or_else(|e| e.into_inner());
            s.retain(|x| !ids.contains(&x.id));
        }
    }

    /// Sends `msg` to every session whose subscriptions `wants` it.
    fn broadcast(&self, msg: impl Fn() -> Utf8Bytes, wants: impl Fn(&Subscriptions) -> bool) {
        let mut built: Option<Utf8Bytes> = None;
        let mut gone = Vec::new();
        {
            let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
            for s in sessions.iter() {
                let want = wants(&s.subs.lock().unwrap_or_else(|e| e.into_inner()));
                if want {
                    let m = built.get_or_insert_with(&msg);
                    gone.extend(self.offer(s, m));
                }
            }
        }
        self.remove_all(&gone);
    }

    fn dispatch(&self, event: &NodeEvent) {
        let time = now_ms();
        match event {
            NodeEvent::BlockConfirmed {
                hash,
                account,
                amount,
                block,
                confirmation_type,
                height,
                local_timestamp,
                election,
                ..
            } => {
                let c = Confirmed {
                    hash,
                    account,
                    amount,
                    block,
                    confirmation_type: *confirmation_type,
                    height: *height,
                    local_timestamp: *local_timestamp,
                    election: election.as_ref(),
                };
                self.dispatch_confirmation(&c, &time);
            }
            NodeEvent::Vote {
                vote,
                representative,
                kind,
            } => self.broadcast(
                || {
                    let mut v = vote.clone();
                    if let Value::Object(m) = &mut v {
                        if !m.contains_key("type") {
                            m.insert("type".into(), kind.clone().into());
                        }
                    }
                    envelope("vote", &time, &v)
                },
                |s| s.vote.as_ref().is_some_and(|o| o.passes(representative, kind)),
            ),
            NodeEvent::ElectionStarted { hash } => self.broadcast(
                || envelope("started_election", &time, &hash_message(hash)),
                |s| s.started_election,
            ),
            NodeEvent::ElectionStopped { hash } => self.broadcast(
                || envelope("stopped_election", &time, &hash_message(hash)),
                |s| s.stopped_election,
            ),
            NodeEvent::NewUnconfirmedBlock { block, hash } => self.broadcast(
                || {
                    let body = serde_json::to_string(block).unwrap_or_else(|_| "{}".into());
                    Utf8Bytes::from(format!(
                        "{{\"topic\":\"new_unconfirmed_block\",\"time\":\"{time}\",\"hash\":\"{}\",\"message\":{body}}}",
                        hash.encode_hex()
                    ))
                },
                |s| s.new_unconfirmed_block,
            ),
            NodeEvent::Telemetry { message } => {
                self.broadcast(|| envelope("telemetry", &time, message), |s| s.telemetry)
            }
            NodeEvent::Bootstrap { message } => {
                self.broadcast(|| envelope("bootstrap", &time, message), |s| s.bootstrap)
            }
            NodeEvent::Work { message } => {
                self.broadcast(|| envelope("work", &time, message), |s| s.work)
            }
        }
    }

    fn dispatch_confirmation(&self, c: &Confirmed<'_>, time: &str) {
        // One message per distinct shape, built on first use.
        let mut cache: [Option<Utf8Bytes>; 12] = Default::default();
        let link_as = c
            .block
            .get("link_as_account")
            .and_then(Value::as_str)
            .and_then(|s| PublicKey::decode_account(s).ok());
        let mut local: Option<HashSet<PublicKey>> = None;
        let mut gone = Vec::new();
        {
            let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
            for s in sessions.iter() {
                let subs = s.subs.lock().unwrap_or_else(|e| e.into_inner());
                let Some(o) = &subs.confirmation else {
                    continue;
                };
                if !o.type_passes(c.confirmation_type) {
                    continue;
                }
                if o.has_account_filter {
                    // The reference filters on the built message: without the block (and
                    // its link_as_account) nothing passes.
                    let Some(dest) = link_as.as_ref().filter(|_| o.include_block) else {
                        continue;
                    };
                    let mut pass = o.accounts.contains(c.account) || o.accounts.contains(dest);
                    if !pass && o.all_local_accounts {
                        let set = local.get_or_insert_with(|| {
                            self.settings
                                .local_accounts
                                .as_ref()
                                .map(|l| l.local_accounts().into_iter().collect())
                                .unwrap_or_default()
                        });
                        pass = set.contains(c.account) || set.contains(dest);
                    }
                    if !pass {
                        continue;
                    }
                }
                let slot = &mut cache[o.shape().min(11)];
                let msg = slot.get_or_insert_with(|| confirmation_message(c, o, time));
                drop(subs);
                gone.extend(self.offer(s, msg));
            }
        }
        self.remove_all(&gone);
    }

    /// Disconnects sessions whose queue has stayed full past the stall timeout even when
    /// no new event arrives to notice it.
    fn sweep(&self) {
        let stall = self.settings.stall_timeout;
        let mut gone = Vec::new();
        {
            let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
            for s in sessions
                .iter()
                .filter(|s| s.is_full.load(Ordering::Relaxed))
            {
                let mut since = s.full_since.lock().unwrap_or_else(|e| e.into_inner());
                if s.tx.capacity() > 0 {
                    *since = None;
                    s.is_full.store(false, Ordering::Relaxed);
                } else if since.is_some_and(|t| t.elapsed() > stall) {
                    drop(since);
                    self.stall(s);
                    gone.push(s.id);
                }
            }
        }
        self.remove_all(&gone);
    }

    fn send_active_difficulty(&self) {
        let current = self
            .settings
            .difficulty
            .as_ref()
            .map(|f| f())
            .unwrap_or(self.settings.params.work.base);
        let time = now_ms();
        self.broadcast(
            || active_difficulty_message(self.settings.params, current, &time),
            |s| s.active_difficulty,
        );
    }

    /// Applies one client frame; returns the reply (ack or error) to queue, if any.
    fn handle_request(&self, session: &Session, frame: &[u8]) -> Option<Utf8Bytes> {
        let v: Value = match serde_json::from_slice(frame) {
            Ok(v) => v,
            Err(e) => {
                self.counters.invalid_json.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(session = session.id, "websocket: invalid JSON: {e}");
                return Some(error_message("Unable to parse JSON"));
            }
        };
        let obj = v.as_object()?;
        let action = obj.get("action")?.as_str()?;
        let ack = opt_bool(obj.get("ack")).unwrap_or(false);
        let id = match obj.get("id") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        };
        let topic = obj
            .get("topic")
            .and_then(Value::as_str)
            .and_then(Topic::parse);
        let options = obj.get("options");
        let succeeded = {
            let mut subs = session.subs.lock().unwrap_or_else(|e| e.into_inner());
            match (action, topic) {
                ("ping", _) => return Some(ack_message("pong", id)),
                ("subscribe", Some(t)) => {
                    subs.subscribe(t, options);
                    true
                }
                ("unsubscribe", Some(t)) => {
                    subs.unsubscribe(t);
                    true
                }
                ("update", Some(Topic::Confirmation)) => match (&mut subs.confirmation, options) {
                    (Some(c), Some(o)) => {
                        c.update(o);
                        true
                    }
                    _ => false,
                },
                _ => false,
            }
        };
        (succeeded && ack).then(|| ack_message(action, id))
    }
}

fn hash_message(hash: &BlockHash) -> Value {
    let mut m = Map::new();
    m.insert("hash".into(), hash.encode_hex().into());
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------

/// A running WebSocket server. Dropping it does not stop it; call [`Self::shutdown`].
pub struct WebsocketServer {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    serve: JoinHandle<()>,
    dispatcher: JoinHandle<()>,
}

/// Addresses to try for a configured bind address: IPv6 loopback (the reference default)
/// falls back to IPv4 loopback on hosts without IPv6.
fn bind_candidates(address: &str, port: u16) -> Vec<SocketAddr> {
    let v4_loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let ips: Vec<IpAddr> = match address.trim() {
        "" | "localhost" => vec![IpAddr::V6(std::net::Ipv6Addr::LOCALHOST), v4_loopback],
        a => match a
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            Ok(ip @ IpAddr::V6(v6)) if v6.is_loopback() => vec![ip, v4_loopback],
            Ok(ip @ IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => vec![ip, IpAddr::V4(v4)],
                None => vec![ip],
            },
            Ok(ip) => vec![ip],
            Err(_) => vec![],
        },
    };
    ips.into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect()
}

async fn bind_listener(address: &str, port: u16) -> io::Result<TcpListener> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid websocket address {address:?}"),
    );
    for a in bind_candidates(address, port) {
        match TcpListener::bind(a).await {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

impl WebsocketServer {
    /// Starts the server described by `[node.websocket]`; `Ok(None)` when disabled.
    pub async fn start(
        config: &WebsocketConfig,
        bus: &EventBus,
        settings: WebsocketSettings,
    ) -> io::Result<Option<WebsocketServer>> {
        if !config.enable {
            return Ok(None);
        }
        Self::bind(&config.address, config.port, bus, settings)
            .await
            .map(Some)
    }

    /// Binds `address:port` (port 0: OS-assigned, see [`Self::local_addr`]) and starts
    /// serving. The bus subscription is taken before returning, so every event published
    /// afterwards is seen.
    pub async fn bind(
        address: &str,
        port: u16,
        bus: &EventBus,
        settings: WebsocketSettings,
    ) -> io::Result<WebsocketServer> {
        let listener = bind_listener(address, port).await?;
        let local_addr = listener.local_addr()?;
        let events = bus.subscribe();
        let shared = Arc::new(Shared {
            settings,
            sessions: RwLock::new(Vec::new()),
            next_id: AtomicU64::new(1),
            counters: Counters::default(),
            shutting_down: AtomicBool::new(false),
        });
        let (stop, stop_rx) = watch::channel(false);
        let app = Router::new()
            .route("/", any(upgrade))
            .route("/{*path}", any(upgrade))
            .with_state(shared.clone());
        let mut serve_stop = stop_rx.clone();
        let serve = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = serve_stop.wait_for(|v| *v).await;
                })
                .await;
        });
        let dispatcher = tokio::spawn(run_dispatcher(shared.clone(), events, stop_rx));
        tracing::info!("websocket server listening on {local_addr}");
        Ok(WebsocketServer {
            local_addr,
            shared,
            stop,
            serve,
            dispatcher,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn metrics(&self) -> WebsocketMetrics {
        let c = &self.shared.counters;
        WebsocketMetrics {
            sessions_active: self
                .shared
                .sessions
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .len(),
            sessions_opened: c.sessions_opened.load(Ordering::Relaxed),
            messages_queued: c.messages_queued.load(Ordering::Relaxed),
            messages_dropped: c.messages_dropped.load(Ordering::Relaxed),
            stalled_disconnects: c.stalled_disconnects.load(Ordering::Relaxed),
            bus_lagged: c.bus_lagged.load(Ordering::Relaxed),
            invalid_json: c.invalid_json.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, closes every session with "Shutting down" (as the reference
    /// node does), and waits a bounded time for sessions to finish.
    pub async fn shutdown(self) {
        self.shared.shutting_down.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        let sessions: Vec<Arc<Session>> = self
            .shared
            .sessions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for s in &sessions {
            s.stop(KILL_SHUTDOWN);
        }
        let _ = self.dispatcher.await;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline
            && !self.shared.sessions.read().map_or(true, |s| s.is_empty())
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.serve).await;
    }
}

async fn run_dispatcher(
    shared: Arc<Shared>,
    mut events: nano_node::events::EventReceiver,
    mut stop: watch::Receiver<bool>,
) {
    let stall = shared.settings.stall_timeout;
    let sweep_every = (stall / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let mut sweep = tokio::time::interval(sweep_every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut difficulty = tokio::time::interval(
        shared
            .settings
            .active_difficulty_interval
            .max(Duration::from_millis(10)),
    );
    difficulty.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|v| *v) => break,
            r = events.recv() => match r {
                Ok(e) => shared.dispatch(&e),
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    shared.counters.bus_lagged.fetch_add(n, Ordering::Relaxed);
                    shared.stat("bus_lagged", n);
                    tracing::warn!("websocket: fell behind the event bus, {n} events lost");
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = sweep.tick() => shared.sweep(),
            _ = difficulty.tick() => shared.send_active_difficulty(),
        }
    }
}

async fn upgrade(State(shared): State<Arc<Shared>>, ws: WebSocketUpgrade) -> Response {
    let max = shared.settings.max_message_size;
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| run_session(shared, socket))
}

async fn run_session(shared: Arc<Shared>, socket: WebSocket) {
    if shared.shutting_down.load(Ordering::SeqCst) {
        return;
    }
    let (sink, stream) = socket.split();
    let (tx, rx) = mpsc::channel(shared.settings.queue_capacity.max(1));
    let (kill, kill_rx) = watch::channel(RUNNING);
    let session = Arc::new(Session {
        id: shared.next_id.fetch_add(1, Ordering::Relaxed),
        tx,
        subs: Mutex::new(Subscriptions::default()),
        is_full: AtomicBool::new(false),
        full_since: Mutex::new(None),
        kill,
    });
    shared
        .sessions
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .push(session.clone());
    shared
        .counters
        .sessions_opened
        .fetch_add(1, Ordering::Relaxed);
    let writer = tokio::spawn(write_loop(
        shared.clone(),
        session.clone(),
        sink,
        rx,
        kill_rx.clone(),
        shared.settings.stall_timeout,
    ));
    read_loop(&shared, &session, stream, kill_rx).await;
    session.stop(KILL_CLOSE);
    let _ = writer.await;
    shared.remove(session.id);
}

async fn read_loop(
    shared: &Shared,
    session: &Session,
    mut stream: SplitStream<WebSocket>,
    mut kill: watch::Receiver<u8>,
) {
    loop {
        let frame = tokio::select! {
            _ = kill.wait_for(|v| *v != RUNNING) => return,
            f = stream.next() => f,
        };
        let reply = match frame {
            Some(Ok(Message::Text(t))) => shared.handle_request(session, t.as_bytes()),
            Some(Ok(Message::Binary(b))) => shared.handle_request(session, &b),
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
            Some(Ok(_)) => None,
        };
        if let Some(reply) = reply {
            // Waiting here only holds up this client's own requests.
            tokio::select! {
                _ = kill.wait_for(|v| *v != RUNNING) => return,
                r = session.tx.send(reply) => {
                    if r.is_err() {
                        return;
                    }
                    shared.counters.messages_queued.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Most messages written before one flush.
const WRITE_BATCH: usize = 256;

async fn write_loop(
    shared: Arc<Shared>,
    session: Arc<Session>,
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Utf8Bytes>,
    mut kill: watch::Receiver<u8>,
    stall: Duration,
) {
    loop {
        let first = tokio::select! {
            biased;
            _ = kill.wait_for(|v| *v != RUNNING) => break,
            m = rx.recv() => match m {
                Some(m) => m,
                None => break,
            },
        };
        let batch = async {
            sink.feed(Message::Text(first)).await?;
            for _ in 0..WRITE_BATCH {
                match rx.try_recv() {
                    Ok(m) => sink.feed(Message::Text(m)).await?,
                    Err(_) => break,
                }
            }
            sink.flush().await
        };
        let outcome = tokio::select! {
            _ = kill.wait_for(|v| *v != RUNNING) => None,
            r = tokio::time::timeout(stall, batch) => Some(r),
        };
        match outcome {
            None | Some(Ok(Err(_))) => break,
            Some(Ok(Ok(()))) => {}
            Some(Err(_)) => {
                shared.stall(&session);
                break;
            }
        }
    }
    if *kill.borrow() == KILL_SHUTDOWN {
        let close = Message::Close(Some(CloseFrame {
            code: 1000,
            reason: Utf8Bytes::from_static("Shutting down"),
        }));
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(close)).await;
    }
    session.stop(KILL_CLOSE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_type_parsing() {
        let o =
            ConfirmationOptions::parse(Some(&serde_json::json!({"confirmation_type": "ACTIVE"})));
        assert!(o.active_quorum && o.active_confirmation_height && !o.inactive);
        let o =
            ConfirmationOptions::parse(Some(&serde_json::json!({"confirmation_type": "bogus"})));
        assert!(o.active_quorum && o.active_confirmation_height && o.inactive);
        let o = ConfirmationOptions::parse(Some(&serde_json::json!({"include_block": "false"})));
        assert!(!o.include_block);
    }

    #[test]
    fn vote_defaults_depend_on_options_presence() {
        let bare = VoteOptions::parse(None);
        assert!(bare.passes(&PublicKey::ZERO, "replay"));
        let with = VoteOptions::parse(Some(&serde_json::json!({})));
        assert!(!with.passes(&PublicKey::ZERO, "replay"));
        assert!(with.passes(&PublicKey::ZERO, "vote"));
        let bad = VoteOptions::parse(Some(&serde_json::json!({"representatives": ["x"]})));
        assert!(bad.passes(&PublicKey::ZERO, "vote"));
    }

    #[test]
    fn bind_candidates_fall_back_to_ipv4() {
        let c = bind_candidates("::1", 0);
        assert_eq!(c.len(), 2);
        assert!(bind_candidates("not an ip", 0).is_empty());
    }
}
