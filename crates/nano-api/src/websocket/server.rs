//! The listener, the server's counters as operators read them, and the dispatcher that
//! fans node events out to the sessions that subscribed to them.

use std::collections::HashSet;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::ws::{Utf8Bytes, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use nano_core::PublicKey;
use nano_node::config::WebsocketConfig;
use nano_node::events::{EventBus, NodeEvent};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::bounded_http::HttpLimits;

use super::hub::{Counters, RecentElections, Session, Shared, WebsocketSettings, KILL_SHUTDOWN};
use super::messages::{
    active_difficulty_message, confirmation_message, envelope, hash_message, now_ms, Confirmed,
};
use super::session::{replay, run_session};

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

impl Shared {
    /// Fans `event` out; returns the resuming sessions that missed a confirmation (the
    /// dispatcher fell behind the bus) and must be replayed from the log.
    fn dispatch(&self, event: &NodeEvent) -> Vec<Arc<Session>> {
        let time = now_ms();
        match event {
            NodeEvent::BlockConfirmed { .. } => {
                if let Some(c) = Confirmed::of(event) {
                    return self.dispatch_confirmation(&c, &time);
                }
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
        Vec::new()
    }

    fn dispatch_confirmation(&self, c: &Confirmed<'_>, time: &str) -> Vec<Arc<Session>> {
        if let (Some(seq), Some(info)) = (c.sequence, c.election) {
            self.elections
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(seq, info.clone());
        }
        // One message per distinct shape, built on first use.
        let mut cache: [Option<Utf8Bytes>; 12] = Default::default();
        let link_as = c.link_as();
        let mut local: Option<HashSet<PublicKey>> = None;
        let mut gone = Vec::new();
        let mut behind = Vec::new();
        {
            let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
            for s in sessions.iter() {
                let mut subs = s.subs.lock().unwrap_or_else(|e| e.into_inner());
                let Some(o) = &mut subs.confirmation else {
                    continue;
                };
                if let (Some(r), Some(seq)) = (&mut o.resume, c.sequence) {
                    // A resuming session takes each sequence exactly once, in order.
                    if r.replaying || seq < r.next {
                        continue;
                    }
                    if seq > r.next {
                        r.replaying = true;
                        behind.push(s.clone());
                        continue;
                    }
                    r.next = seq + 1;
                }
                if !self.confirmation_passes(o, c, link_as.as_ref(), &mut local) {
                    continue;
                }
                let slot = &mut cache[o.shape().min(11)];
                let msg = slot.get_or_insert_with(|| confirmation_message(c, o, time));
                if let (Some(r), Some(seq)) = (&mut o.resume, c.sequence) {
                    // A resuming session never loses one to a full queue: it goes back
                    // to the log from this sequence and waits for room there instead.
                    match s.tx.try_send(msg.clone()) {
                        Ok(()) => {
                            self.counters
                                .messages_queued
                                .fetch_add(1, Ordering::Relaxed);
                        }
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            r.next = seq;
                            r.replaying = true;
                            behind.push(s.clone());
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => gone.push(s.id),
                    }
                    continue;
                }
                drop(subs);
                gone.extend(self.offer(s, msg));
            }
        }
        self.remove_all(&gone);
        behind
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
}

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

/// The listener limits `[node.websocket]` configures (0 idle timeout: none).
fn ws_limits(config: &WebsocketConfig) -> HttpLimits {
    let header = Duration::from_secs(config.header_timeout.max(1));
    HttpLimits {
        max_connections: config.connections_max.max(1) as usize,
        header_timeout: header,
        read_timeout: header,
        idle_timeout: (config.idle_timeout > 0).then(|| Duration::from_secs(config.idle_timeout)),
        max_body: 64 * 1024,
        large_answer: Some(crate::bounded_http::LARGE_ANSWER),
        slow_request: Some(crate::bounded_http::SLOW_REQUEST),
    }
}

async fn bind_listener(address: &str, port: u16) -> io::Result<TcpListener> {
    let mut last = io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid websocket address {address:?}"),
    );
    for a in bind_candidates(address, port) {
        match nano_http::bind_listener(a) {
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
        let mut settings = settings;
        settings.limits = ws_limits(config);
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
            elections: Mutex::new(RecentElections::default()),
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
        let limits = shared.settings.limits;
        let (serve, _) = crate::bounded_http::spawn_serve(listener, app, limits, async move {
            let _ = serve_stop.wait_for(|v| *v).await;
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
                Ok(e) => {
                    for s in shared.dispatch(&e) {
                        tokio::spawn(replay(shared.clone(), s));
                    }
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_candidates_fall_back_to_ipv4() {
        let c = bind_candidates("::1", 0);
        assert_eq!(c.len(), 2);
        assert!(bind_candidates("not an ip", 0).is_empty());
    }
}
