//! Finding and keeping peers: keepalives on channels idle for sending (slot 0 tells the
//! peer our listening port), learning peering endpoints from received keepalives, a
//! bounded and throttled dial queue, idle-timeout cleanup, preconfigured peers resolved
//! by DNS, and the peers table of the store (saved periodically and at stop, re-dialled
//! at start).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddrV6;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nano_messages::{Keepalive, Message};
use rand::seq::SliceRandom;

use super::channel::{Channel, Transport};
use super::endpoint::{self, EMPTY_ENDPOINT};
use super::{tcp, udp, wall_ms, DropPolicy, Inner};
use crate::interfaces::TrafficType;

/// Most endpoints waiting to be dialled; more are dropped (peers repeat themselves, and
/// a peer advertising endless addresses must not grow the queue).
const DIAL_QUEUE_MAX: usize = 256;
/// Stored peers not seen for this long are forgotten.
const PEER_RETENTION_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Default)]
pub(super) struct PeeringState {
    queue: Mutex<VecDeque<SocketAddrV6>>,
    /// Last dial attempt per endpoint, for the retry cooldown.
    attempts: Mutex<HashMap<SocketAddrV6, Instant>>,
    in_progress: Mutex<HashSet<SocketAddrV6>>,
    preconfigured: Mutex<Vec<SocketAddrV6>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl PeeringState {
    pub(super) fn finished(&self, ep: &SocketAddrV6) {
        lock(&self.in_progress).remove(ep);
    }
}

fn merge_period(inner: &Inner) -> Duration {
    if inner.params.network == nano_core::Network::Dev {
        Duration::from_millis(25)
    } else {
        Duration::from_millis(250)
    }
}

fn keepalive_period(inner: &Inner) -> Duration {
    Duration::from_millis(inner.params.keepalive_period_ms.max(100))
}

fn retry_cooldown(inner: &Inner) -> Duration {
    keepalive_period(inner) * 2
}

fn max_outbound(inner: &Inner) -> usize {
    if inner.params.network == nano_core::Network::Dev {
        128
    } else {
        2048
    }
}

/// Queues `ep` for dialling; `forced` skips the retry cooldown (explicit requests).
pub(super) fn enqueue(inner: &Inner, ep: SocketAddrV6, forced: bool) {
    if !endpoint::is_acceptable_endpoint(&ep, inner.config.allow_local_peers) {
        return;
    }
    if forced {
        lock(&inner.peering.attempts).remove(&ep);
    }
    let mut q = lock(&inner.peering.queue);
    if q.contains(&ep) {
        return;
    }
    if q.len() < DIAL_QUEUE_MAX {
        q.push_back(ep);
    } else {
        inner.stats.inc("drop", "dial_queue_full", "out");
    }
}

fn is_self(inner: &Inner, ep: &SocketAddrV6) -> bool {
    let port = inner.port.load(Ordering::Relaxed);
    (ep.port() == port && (endpoint::is_loopback(ep.ip()) || ep.ip().is_unspecified()))
        || *ep == inner.self_endpoint()
}

/// Whether some channel of `transport` already reaches `ep`.
fn connected(inner: &Inner, ep: &SocketAddrV6, transport: Transport) -> bool {
    inner.all_channels().iter().any(|c| {
        c.transport == transport
            && !c.is_closed()
            && (c.info.endpoint == *ep || c.peering_endpoint() == Some(*ep))
    })
}

/// Dials the next queued endpoints that pass every check.
fn dial_some(inner: &Arc<Inner>) {
    for _ in 0..4 {
        let Some(ep) = lock(&inner.peering.queue).pop_front() else {
            return;
        };
        if is_self(inner, &ep) {
            continue;
        }
        if inner.admission.is_excluded(ep.ip()) {
            inner.stats.inc("tcp", "excluded", "out");
            continue;
        }
        {
            let mut attempts = lock(&inner.peering.attempts);
            if attempts
                .get(&ep)
                .is_some_and(|t| t.elapsed() < retry_cooldown(inner))
            {
                continue;
            }
            attempts.insert(ep, Instant::now());
        }
        udp::initiate(inner, ep);
        if inner.flags.disable_tcp_realtime || connected(inner, &ep, Transport::Tcp) {
            continue;
        }
        if inner.outbound_attempts.load(Ordering::Relaxed) >= max_outbound(inner) {
            inner.stats.inc("tcp", "refused_outbound_limit", "out");
            continue;
        }
        let per_ip = inner
            .all_channels()
            .iter()
            .filter(|c| c.transport == Transport::Tcp && c.info.endpoint.ip() == ep.ip())
            .count();
        if per_ip >= inner.params.max_peers_per_ip {
            continue;
        }
        if !lock(&inner.peering.in_progress).insert(ep) {
            continue;
        }
        tcp::spawn_dial(inner, ep);
    }
}

/// A keepalive in the "self" form: slot 0 our listening endpoint (unspecified address
/// unless an external address is configured), slot 1 empty, then up to six random
/// known peering endpoints.
pub(super) fn build_keepalive(inner: &Inner, exclude: Option<u64>) -> Keepalive {
    let mut known: Vec<SocketAddrV6> = inner
        .all_channels()
        .iter()
        .filter(|c| Some(c.info.id) != exclude)
        .filter_map(|c| c.peering_endpoint())
        .collect();
    known.sort();
    known.dedup();
    known.shuffle(&mut rand::rng());
    let mut k = Keepalive::default();
    k.peers[0] = inner.self_endpoint();
    k.peers[1] = EMPTY_ENDPOINT;
    for (slot, ep) in k.peers[2..].iter_mut().zip(known) {
        *slot = ep;
    }
    k
}

pub(super) fn send_keepalive(inner: &Inner, ch: &Arc<Channel>) {
    let k = build_keepalive(inner, Some(ch.info.id));
    if let Some(bytes) = inner.encode(&Message::Keepalive(Box::new(k))) {
        if inner.push(
            ch,
            bytes,
            "keepalive",
            TrafficType::Background,
            DropPolicy::Limiter,
        ) {
            // Counted as activity now so the next tick does not queue another.
            ch.touch_sent(inner.now_ms());
        }
    }
}

pub(super) fn on_keepalive(inner: &Inner, ch: &Channel, k: &Keepalive) {
    let first = k.peers[0];
    let learn = first.ip().is_unspecified()
        && first.port() != 0
        && ch.transport == Transport::Tcp
        && !ch.dialled;
    if learn {
        let ep = SocketAddrV6::new(*ch.info.endpoint.ip(), first.port(), 0, 0);
        if ch.peering_endpoint() != Some(ep) {
            ch.set_peering_endpoint(ep);
            // Newly learned: offer UDP as well (dialled channels did so on creation).
            udp::initiate(inner, ep);
        }
    }
    for ep in k.peers.iter().skip(1) {
        if !ep.ip().is_unspecified() {
            enqueue(inner, *ep, false);
        }
    }
    if first.port() != 0 && !first.ip().is_unspecified() {
        enqueue(inner, first, false);
    }
}

/// Starts the peering tasks: resolves preconfigured peers, loads stored peers, then
/// runs the dial and keepalive loops.
pub(super) fn start(inner: &Arc<Inner>) {
    let i = inner.clone();
    inner.tracker.spawn(async move {
        load_stored_peers(&i).await;
        resolve_preconfigured(&i).await;
        let mut tick = tokio::time::interval(merge_period(&i));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = i.token.cancelled() => break,
                _ = tick.tick() => dial_some(&i),
            }
        }
    });
    let i = inner.clone();
    inner
        .tracker
        .spawn(async move { maintenance_loop(i).await });
}

async fn resolve_preconfigured(inner: &Arc<Inner>) {
    let mut all = Vec::new();
    for entry in &inner.config.preconfigured_peers {
        let resolved = tokio::select! {
            _ = inner.token.cancelled() => return,
            r = tokio::time::timeout(Duration::from_secs(10), endpoint::resolve_peer(entry, inner.params.default_peering_port)) => r.unwrap_or_default(),
        };
        all.extend(resolved);
    }
    for ep in &all {
        enqueue(inner, *ep, true);
    }
    *lock(&inner.peering.preconfigured) = all;
}

async fn load_stored_peers(inner: &Arc<Inner>) {
    let ledger = inner.ledger.clone();
    let now = wall_ms();
    let loaded = inner
        .tracker
        .spawn_blocking(move || -> Vec<SocketAddrV6> {
            let Ok(txn) = ledger.store().read_txn() else {
                return Vec::new();
            };
            let Ok(iter) = ledger.store().iter_peers(&txn) else {
                return Vec::new();
            };
            iter.filter_map(Result::ok)
                .filter(|(_, seen)| now.saturating_sub(*seen) < PEER_RETENTION_MS)
                .map(|(ep, _)| ep)
                .collect()
        })
        .await
        .unwrap_or_default();
    tracing::debug!(count = loaded.len(), "dialling stored peers");
    for ep in loaded {
        enqueue(inner, ep, true);
    }
}

/// Writes the peering endpoints of live channels to the peers table and forgets
/// entries older than the retention period.
pub(super) async fn save_peers(inner: &Arc<Inner>) {
    let eps: Vec<SocketAddrV6> = inner
        .all_channels()
        .iter()
        .filter(|c| !c.is_closed())
        .filter_map(|c| c.peering_endpoint())
        .collect();
    let ledger = inner.ledger.clone();
    let now = wall_ms();
    let r = tokio::task::spawn_blocking(move || -> Result<(), nano_store::StoreError> {
        let store = ledger.store();
        let stale: Vec<SocketAddrV6> = {
            let txn = store.read_txn()?;
            let v = store
                .iter_peers(&txn)?
                .filter_map(Result::ok)
                .filter(|(_, seen)| now.saturating_sub(*seen) >= PEER_RETENTION_MS)
                .map(|(ep, _)| ep)
                .collect();
            v
        };
        if eps.is_empty() && stale.is_empty() {
            return Ok(());
        }
        let mut txn = store.write_txn()?;
        for ep in &eps {
            txn.put_peer(ep, now)?;
        }
        for ep in &stale {
            txn.del_peer(ep)?;
        }
        txn.commit()
    })
    .await;
    if !matches!(r, Ok(Ok(()))) {
        inner.stats.inc("error", "peer_store", "");
    }
}

/// Keepalives, idle timeout, cookie purge, re-dialling preconfigured peers and saving
/// peers, on one timer.
async fn maintenance_loop(inner: Arc<Inner>) {
    let period = keepalive_period(&inner);
    let mut tick = tokio::time::interval((period / 4).max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_redial = Instant::now();
    let mut last_save = Instant::now();
    let save_every = (period * 10).max(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = inner.token.cancelled() => break,
            _ = tick.tick() => {}
        }
        let now = inner.now_ms();
        let keepalive_ms = period.as_millis() as u64;
        for ch in inner.all_channels() {
            if now.saturating_sub(ch.last_recv_ms()) > inner.params.idle_timeout_ms {
                inner.stats.inc("channel", "idle_timeout", "closed");
                inner.remove_channel(&ch);
                continue;
            }
            if now.saturating_sub(ch.last_sent_ms()) >= keepalive_ms {
                send_keepalive(&inner, &ch);
            }
        }
        inner.tcp_cookies.purge();
        inner.admission.purge();
        inner.udp_cookies.purge();
        {
            let cooldown = retry_cooldown(&inner);
            lock(&inner.peering.attempts).retain(|_, t| t.elapsed() < cooldown);
        }
        if last_redial.elapsed() >= period * 5 {
            last_redial = Instant::now();
            let pre = lock(&inner.peering.preconfigured).clone();
            for ep in pre {
                enqueue(&inner, ep, false);
            }
        }
        if last_save.elapsed() >= save_every {
            last_save = Instant::now();
            save_peers(&inner).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use nano_core::{KeyPair, Network};

    use super::*;
    use crate::network::{NetworkFlags, NetworkInit, NetworkService};

    /// A flood of keepalives from one peer, each advertising eight fresh addresses,
    /// leaves at most `DIAL_QUEUE_MAX` endpoints waiting; the rest are counted as
    /// dropped. The service is not started, so nothing is dialled (the addresses are
    /// not loopback ones a test may reach).
    #[test]
    fn advertised_addresses_cannot_grow_the_dial_queue_past_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let ledger =
            Arc::new(nano_ledger::Ledger::open(&dir.path().join("ledger"), Network::Dev).unwrap());
        let stats = Arc::new(crate::stats::Stats::new());
        let svc = NetworkService::new(NetworkInit {
            params: Network::Dev.params(),
            config: crate::config::DaemonConfig::defaults(Network::Dev).node,
            node_id: KeyPair::random(),
            ledger,
            stats: stats.clone(),
            events: crate::events::EventBus::default(),
            flags: NetworkFlags::default(),
        });
        let inner = &svc.inner;
        let peer = SocketAddrV6::new(Ipv4Addr::new(11, 0, 0, 1).to_ipv6_mapped(), 7075, 0, 0);
        let ch = inner.new_channel(
            peer,
            KeyPair::random().public(),
            0x15,
            Transport::Udp,
            false,
            None,
        );
        const KEEPALIVES: u32 = 2_000;
        let mut advertised = 0u64;
        for i in 0..KEEPALIVES {
            let mut k = Keepalive::default();
            for (slot, ep) in k.peers.iter_mut().enumerate() {
                let n = i * 8 + slot as u32;
                let ip = Ipv4Addr::from(0x0c00_0000 + n).to_ipv6_mapped();
                *ep = SocketAddrV6::new(ip, 7075, 0, 0);
            }
            on_keepalive(inner, &ch, &k);
            advertised += 8;
        }
        assert_eq!(lock(&inner.peering.queue).len(), DIAL_QUEUE_MAX);
        assert_eq!(
            stats.get("drop", "dial_queue_full", "out"),
            advertised - DIAL_QUEUE_MAX as u64
        );
        // The same addresses again are neither queued twice nor counted as dropped.
        let before = stats.get("drop", "dial_queue_full", "out");
        let mut k = Keepalive::default();
        let queued: Vec<SocketAddrV6> =
            lock(&inner.peering.queue).iter().take(8).copied().collect();
        k.peers.copy_from_slice(&queued);
        on_keepalive(inner, &ch, &k);
        assert_eq!(lock(&inner.peering.queue).len(), DIAL_QUEUE_MAX);
        assert_eq!(stats.get("drop", "dial_queue_full", "out"), before);
    }
}
