//! What the dispatcher and every session share: the server's settings, the list of
//! sessions with each one's queue handle and kill switch, the counters, the recent
//! elections kept for replays, and the rules every delivery follows (offer to a bounded
//! queue, disconnect a stalled client, filter a confirmation by the subscription's
//! options). [`super::server`] fans node events out through it; [`super::session`] runs
//! one connection against it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::ws::Utf8Bytes;
use nano_core::{NetworkParams, PublicKey};
use nano_node::confirmation_history::ConfirmationHistory;
use nano_node::stats::Stats;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::bounded_http::HttpLimits;

use super::messages::Confirmed;
use super::topics::{ConfirmationOptions, Subscriptions};

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
    /// The node's confirmation log, for `from_sequence`; without it that option is
    /// answered with an error.
    pub history: Option<ConfirmationHistory>,
    /// Connection cap and timeouts of the listener (`[node.websocket]`
    /// `connections_max`, `header_timeout`, `idle_timeout`).
    pub limits: HttpLimits,
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
            history: None,
            limits: HttpLimits {
                max_connections: 1024,
                header_timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(10),
                idle_timeout: None,
                // The upgrade request has no body.
                max_body: 64 * 1024,
                large_answer: Some(crate::bounded_http::LARGE_ANSWER),
                slow_request: Some(crate::bounded_http::SLOW_REQUEST),
            },
        }
    }
}

#[derive(Default)]
pub(super) struct Counters {
    pub(super) sessions_opened: AtomicU64,
    pub(super) messages_queued: AtomicU64,
    pub(super) messages_dropped: AtomicU64,
    pub(super) stalled_disconnects: AtomicU64,
    pub(super) bus_lagged: AtomicU64,
    pub(super) invalid_json: AtomicU64,
}

/// Live confirmations whose `election_info` is kept for replays (the log does not store
/// it): 16,384 entries of a few hundred bytes (more with votes) is a few MB, and covers
/// the last minutes of confirmations at the reference network's usual rates.
const ELECTIONS_KEPT: usize = 16_384;

/// `election_info` of recent live confirmations by sequence, oldest evicted first.
#[derive(Default)]
pub(super) struct RecentElections {
    by_sequence: HashMap<u64, Value>,
    order: VecDeque<u64>,
}

impl RecentElections {
    pub(super) fn insert(&mut self, sequence: u64, info: Value) {
        if self.by_sequence.insert(sequence, info).is_none() {
            self.order.push_back(sequence);
            if self.order.len() > ELECTIONS_KEPT {
                if let Some(old) = self.order.pop_front() {
                    self.by_sequence.remove(&old);
                }
            }
        }
    }

    pub(super) fn get(&self, sequence: u64) -> Option<&Value> {
        self.by_sequence.get(&sequence)
    }
}

pub(super) struct Shared {
    pub(super) settings: WebsocketSettings,
    pub(super) elections: Mutex<RecentElections>,
    pub(super) sessions: RwLock<Vec<Arc<Session>>>,
    pub(super) next_id: AtomicU64,
    pub(super) counters: Counters,
    pub(super) shutting_down: AtomicBool,
}

impl Shared {
    pub(super) fn stat(&self, detail: &str, n: u64) {
        if let Some(s) = &self.settings.stats {
            s.add("websocket", detail, "out", n);
        }
    }

    pub(super) fn remove(&self, id: u64) {
        let mut s = self.sessions.write().unwrap_or_else(|e| e.into_inner());
        s.retain(|x| x.id != id);
    }

    /// Hands `msg` to one session, accounting for drops and stalls. Returns the session
    /// id when it must be disconnected.
    pub(super) fn offer(&self, session: &Session, msg: &Utf8Bytes) -> Option<u64> {
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
    pub(super) fn stall(&self, session: &Session) {
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

    pub(super) fn remove_all(&self, ids: &[u64]) {
        if !ids.is_empty() {
            let mut s = self.sessions.write().unwrap_or_else(|e| e.into_inner());
            s.retain(|x| !ids.contains(&x.id));
        }
    }

    /// Sends `msg` to every session whose subscriptions `wants` it.
    pub(super) fn broadcast(
        &self,
        msg: impl Fn() -> Utf8Bytes,
        wants: impl Fn(&Subscriptions) -> bool,
    ) {
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

    /// Whether confirmation `c` passes a subscription's type and account filters.
    /// `local` caches the wallet accounts across sessions for one confirmation.
    pub(super) fn confirmation_passes(
        &self,
        o: &ConfirmationOptions,
        c: &Confirmed<'_>,
        link_as: Option<&PublicKey>,
        local: &mut Option<HashSet<PublicKey>>,
    ) -> bool {
        if !o.type_passes(c.confirmation_type) {
            return false;
        }
        if !o.has_account_filter {
            return true;
        }
        // The reference filters on the built message: without the block (and its
        // link_as_account) nothing passes.
        let Some(dest) = link_as.filter(|_| o.include_block) else {
            return false;
        };
        if o.accounts.contains(c.account) || o.accounts.contains(dest) {
            return true;
        }
        if !o.all_local_accounts {
            return false;
        }
        let set = local.get_or_insert_with(|| {
            self.settings
                .local_accounts
                .as_ref()
                .map(|l| l.local_accounts().into_iter().collect())
                .unwrap_or_default()
        });
        set.contains(c.account) || set.contains(dest)
    }
}

pub(super) const RUNNING: u8 = 0;
pub(super) const KILL_SHUTDOWN: u8 = 1;
pub(super) const KILL_CLOSE: u8 = 2;

pub(super) struct Session {
    pub(super) id: u64,
    pub(super) tx: mpsc::Sender<Utf8Bytes>,
    pub(super) subs: Mutex<Subscriptions>,
    /// Set while the queue is full; `full_since` holds when it became full.
    pub(super) is_full: AtomicBool,
    pub(super) full_since: Mutex<Option<Instant>>,
    pub(super) kill: watch::Sender<u8>,
}

pub(super) enum Delivery {
    Queued,
    Dropped,
    Stalled,
    Closed,
}

impl Session {
    /// Never waits: the dispatcher serves every session from one task.
    pub(super) fn deliver(&self, msg: &Utf8Bytes, stall: Duration) -> Delivery {
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
    pub(super) fn stop(&self, how: u8) -> bool {
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
