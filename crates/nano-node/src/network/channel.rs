//! Channels: one per live peer connection (TCP realtime) or UDP peer, each with its
//! bounded, prioritised send queue, activity clocks for keepalive and idle timeout, and
//! the peer's learned peering endpoint.

use std::collections::VecDeque;
use std::net::SocketAddrV6;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use nano_core::PublicKey;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::interfaces::{ChannelInfo, TrafficType};

/// How a channel reaches its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    /// The name the `peers` RPC prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// What the `peers` RPC shows about one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    pub channel: u64,
    /// Remote endpoint of the connection (IPv4 as IPv4-mapped).
    pub endpoint: SocketAddrV6,
    /// Where the peer accepts connections, once known (keepalive or dialled address).
    pub peering_endpoint: Option<SocketAddrV6>,
    pub protocol_version: u8,
    pub node_id: PublicKey,
    pub transport: Transport,
}

/// Queue bounds per traffic class of one channel: votes and blocks get room, chatter
/// does not.
const QUEUE_LIMITS: [usize; 3] = [8192, 1024, 256];

fn class(t: TrafficType) -> usize {
    match t {
        TrafficType::Realtime => 0,
        TrafficType::Bootstrap => 1,
        TrafficType::Background => 2,
    }
}

/// A send queue drained in priority order: realtime first, then bootstrap, then
/// background. Full classes refuse new items instead of growing. A TCP channel queues
/// encoded messages; the UDP sender queues datagrams with their destination.
pub struct SendQueue<T = Bytes> {
    queues: Mutex<[VecDeque<T>; 3]>,
    limits: [usize; 3],
    notify: Notify,
}

impl Default for SendQueue<Bytes> {
    fn default() -> Self {
        SendQueue::with_limits(QUEUE_LIMITS)
    }
}

impl<T> SendQueue<T> {
    /// A queue holding at most `limits[c]` items of each traffic class (realtime,
    /// bootstrap, background).
    pub fn with_limits(limits: [usize; 3]) -> Self {
        SendQueue {
            queues: Mutex::new([VecDeque::new(), VecDeque::new(), VecDeque::new()]),
            limits,
            notify: Notify::new(),
        }
    }

    /// False when that class is full (the caller counts the drop).
    pub fn push(&self, item: T, traffic: TrafficType) -> bool {
        let c = class(traffic);
        {
            let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
            if q[c].len() >= self.limits[c] {
                return false;
            }
            q[c].push_back(item);
        }
        self.notify.notify_one();
        true
    }

    /// The next item by priority, if any.
    pub fn try_pop(&self) -> Option<T> {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.iter_mut().find_map(|q| q.pop_front())
    }

    /// Moves up to `max` items, in priority order, into `out` under one lock; how many.
    pub fn pop_into(&self, out: &mut Vec<T>, max: usize) -> usize {
        let mut q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        let mut moved = 0;
        for class in q.iter_mut() {
            let n = class.len().min(max - moved);
            out.extend(class.drain(..n));
            moved += n;
        }
        moved
    }

    /// Waits for the next item; None once `closed` is cancelled.
    pub async fn pop(&self, closed: &CancellationToken) -> Option<T> {
        loop {
            let notified = self.notify.notified();
            if let Some(b) = self.try_pop() {
                return Some(b);
            }
            tokio::select! {
                _ = notified => {}
                _ = closed.cancelled() => return None,
            }
        }
    }

    pub fn len(&self) -> usize {
        let q = self.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.iter().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One live peer. Shared between the registry, its reader and its writer task.
pub struct Channel {
    pub info: ChannelInfo,
    pub transport: Transport,
    /// True when this node opened the connection (decides which of two duplicate
    /// connections survives).
    pub dialled: bool,
    pub queue: SendQueue,
    /// Cancelled when the channel is closed for any reason; its tasks stop.
    pub closed: CancellationToken,
    peering: Mutex<Option<SocketAddrV6>>,
    last_sent_ms: AtomicU64,
    last_recv_ms: AtomicU64,
    inbound: InboundLimiter,
    /// This channel's datagrams waiting in the node's shared UDP queue (UDP only),
    /// held to its share of that queue.
    pub(crate) udp_queued: std::sync::atomic::AtomicUsize,
}

/// What to do with one received message under the channel's inbound rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Accept,
    /// Over the rate: drop this message.
    Drop,
    /// Over the rate by more than a second's worth within one second: a flood.
    Disconnect,
}

/// Per-channel inbound message rate: a token bucket of `rate` messages per second, and
/// a one-second window counting the drops so a sustained flood ends the channel.
struct InboundLimiter {
    rate: u64,
    state: Mutex<LimiterState>,
}

struct LimiterState {
    tokens: f64,
    last_ms: u64,
    window_start_ms: u64,
    drops: u64,
}

impl InboundLimiter {
    fn admit(&self, now_ms: u64) -> Admit {
        if self.rate == 0 {
            return Admit::Accept;
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rate = self.rate as f64;
        s.tokens = (s.tokens + now_ms.saturating_sub(s.last_ms) as f64 * rate / 1000.0).min(rate);
        s.last_ms = now_ms;
        if s.tokens >= 1.0 {
            s.tokens -= 1.0;
            return Admit::Accept;
        }
        if now_ms.saturating_sub(s.window_start_ms) >= 1000 {
            s.window_start_ms = now_ms;
            s.drops = 0;
        }
        s.drops += 1;
        if s.drops > self.rate {
            Admit::Disconnect
        } else {
            Admit::Drop
        }
    }
}

impl Channel {
    /// A channel to `ep` that no socket backs, for unit tests of what queues on channels.
    #[cfg(test)]
    pub(crate) fn for_test(
        id: u64,
        ep: SocketAddrV6,
        transport: Transport,
    ) -> std::sync::Arc<Channel> {
        std::sync::Arc::new(Channel::new(
            ChannelInfo {
                id,
                endpoint: ep,
                node_id: PublicKey([id as u8; 32]),
                protocol_version: 0x15,
            },
            transport,
            false,
            Some(ep),
            CancellationToken::new(),
            0,
            0,
        ))
    }

    /// `inbound_rate`: messages per second accepted from this peer (0 = unlimited).
    pub fn new(
        info: ChannelInfo,
        transport: Transport,
        dialled: bool,
        peering: Option<SocketAddrV6>,
        closed: CancellationToken,
        now_ms: u64,
        inbound_rate: u64,
    ) -> Channel {
        Channel {
            info,
            transport,
            dialled,
            queue: SendQueue::default(),
            closed,
            peering: Mutex::new(peering),
            last_sent_ms: AtomicU64::new(now_ms),
            last_recv_ms: AtomicU64::new(now_ms),
            udp_queued: std::sync::atomic::AtomicUsize::new(0),
            inbound: InboundLimiter {
                rate: inbound_rate,
                state: Mutex::new(LimiterState {
                    tokens: inbound_rate as f64,
                    last_ms: now_ms,
                    window_start_ms: now_ms,
                    drops: 0,
                }),
            },
        }
    }

    /// Applies the inbound rate to one received message.
    pub fn admit(&self, now_ms: u64) -> Admit {
        self.inbound.admit(now_ms)
    }

    pub fn peering_endpoint(&self) -> Option<SocketAddrV6> {
        *self.peering.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_peering_endpoint(&self, ep: SocketAddrV6) {
        *self.peering.lock().unwrap_or_else(|e| e.into_inner()) = Some(ep);
    }

    pub fn touch_sent(&self, now_ms: u64) {
        self.last_sent_ms.store(now_ms, Ordering::Relaxed);
    }

    pub fn touch_recv(&self, now_ms: u64) {
        self.last_recv_ms.store(now_ms, Ordering::Relaxed);
    }

    pub fn last_sent_ms(&self) -> u64 {
        self.last_sent_ms.load(Ordering::Relaxed)
    }

    pub fn last_recv_ms(&self) -> u64 {
        self.last_recv_ms.load(Ordering::Relaxed)
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    pub fn peer_info(&self) -> PeerInfo {
        PeerInfo {
            channel: self.info.id,
            endpoint: self.info.endpoint,
            peering_endpoint: self.peering_endpoint(),
            protocol_version: self.info.protocol_version,
            node_id: self.info.node_id,
            transport: self.transport,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_prioritises_and_bounds() {
        let q = SendQueue::default();
        assert!(q.push(Bytes::from_static(b"bg"), TrafficType::Background));
        assert!(q.push(Bytes::from_static(b"bs"), TrafficType::Bootstrap));
        assert!(q.push(Bytes::from_static(b"rt"), TrafficType::Realtime));
        assert_eq!(q.try_pop().unwrap(), "rt");
        assert_eq!(q.try_pop().unwrap(), "bs");
        assert_eq!(q.try_pop().unwrap(), "bg");
        assert!(q.try_pop().is_none());
        for _ in 0..QUEUE_LIMITS[2] {
            assert!(q.push(Bytes::new(), TrafficType::Background));
        }
        assert!(!q.push(Bytes::new(), TrafficType::Background));
        assert!(q.push(Bytes::new(), TrafficType::Realtime));
    }
}
