//! The flow table: one entry per TCP connection (a UDP datagram is a flow of one
//! message), opened on the first segment, fed with each direction's reassembled bytes,
//! told about capture gaps, closed on FIN/RST or at the end of input, and pruned of
//! closed flows past a bound; open flows are bounded too (count, idle age, out-of-order
//! bytes across all flows), evicted as gaps rather than held.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nano_messages::{decode_datagram, HEADER_SIZE};

use super::{Analyzer, Channel, Ctx, Dir, Emitter, Flow, Mode};
use crate::db::Val;
use crate::tcp::{Chunk, Stream};

impl Channel {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Channel::Undefined => "undefined",
            Channel::Realtime => "realtime",
            Channel::Bootstrap => "bootstrap",
        }
    }
}

impl Default for Dir {
    fn default() -> Self {
        Dir {
            stream: Stream::default(),
            buf: Vec::new(),
            mode: Mode::Messages,
            resync: false,
            valid: 0,
            invalid: 0,
        }
    }
}

impl Flow {
    pub(super) fn new(client: SocketAddr, server: SocketAddr, protocol: &'static str) -> Flow {
        Flow {
            key: flow_key(client, server),
            ips: [
                Arc::from(client.ip().to_string()),
                Arc::from(server.ip().to_string()),
            ],
            client,
            server,
            dirs: [Dir::default(), Dir::default()],
            channel: Channel::Undefined,
            closed: false,
            protocol,
            last_usec: 0,
        }
    }

    /// Source and destination IP text of direction `d`.
    pub(super) fn ip_texts(&self, d: usize) -> (Val, Val) {
        (
            Val::Shared(self.ips[d].clone()),
            Val::Shared(self.ips[1 - d].clone()),
        )
    }

    pub(super) fn endpoints(&self, d: usize) -> (SocketAddr, SocketAddr) {
        if d == 0 {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        }
    }
}

/// A stable 63-bit key for an unordered address pair (the same in both directions), so
/// `packet.flow_key` and `connection.flowkey` join.
pub fn flow_key(a: SocketAddr, b: SocketAddr) -> i64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &x in bytes {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for ep in [lo, hi] {
        match ep.ip() {
            std::net::IpAddr::V4(v4) => feed(&v4.octets()),
            std::net::IpAddr::V6(v6) => feed(&v6.octets()),
        }
        feed(&ep.port().to_be_bytes());
    }
    (h & (i64::MAX as u64)) as i64
}

pub(super) fn canonical(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Closed flows kept to recognise late retransmissions before the table is pruned.
const MAX_CLOSED_FLOWS: usize = 100_000;
/// Open TCP flows tracked at once. A busy node has a few thousand connections; past
/// this (a SYN flood, a port scan in the capture) the least recently active sixteenth
/// is closed, so memory stays bounded by the cap, not by the traffic.
pub const MAX_OPEN_FLOWS: usize = 65_536;
/// A flow without a segment for this long (capture time) is closed: a node's realtime
/// channels carry keepalives far more often, so only dead or abandoned flows go.
pub const FLOW_IDLE_USEC: i64 = 300_000_000;
/// Out-of-order bytes buffered across all flows (each direction alone is held to
/// [`crate::tcp::MAX_OUT_OF_ORDER`]). Past it the flows holding the most release their
/// buffers with gaps until a quarter is free: capture loss costs decoded data, never
/// unbounded memory.
pub const MAX_BUFFERED_TOTAL: usize = 64 << 20;
/// How often (capture time) idle flows are looked for.
const SWEEP_EVERY_USEC: i64 = 1_000_000;

impl Analyzer {
    pub(super) fn udp(&mut self, ctx: &Ctx, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        let mut flow = Flow::new(src, dst, "udp");
        match decode_datagram(payload, None) {
            Ok((h, m)) => {
                let size = HEADER_SIZE + h.payload_size();
                self.em.message(ctx, &mut flow, 0, &h, &m, size)
            }
            Err(e) => self
                .em
                .error(ctx, Some(&flow), 0, "datagram", e.to_string()),
        }
    }

    pub(super) fn tcp(
        &mut self,
        ctx: &Ctx,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        flags: crate::net::TcpFlags,
        payload: &[u8],
    ) {
        self.sweep_idle(ctx);
        let key = canonical(src, dst);
        let fresh_syn = flags.syn && self.flows.get(&key).is_none_or(|f| f.closed);
        if fresh_syn {
            if let Some(old) = self.flows.remove(&key) {
                if old.closed {
                    self.closed_flows = self.closed_flows.saturating_sub(1);
                }
            }
        }
        if !self.flows.contains_key(&key) {
            if payload.is_empty() && !flags.syn {
                return;
            }
            // The SYN sender is the client; a SYN+ACK's sender is the server; otherwise
            // (midstream pickup) the first sender seen is taken as the client.
            let (client, server) = if flags.syn && flags.ack {
                (dst, src)
            } else {
                (src, dst)
            };
            if self.flows.len() - self.closed_flows >= MAX_OPEN_FLOWS {
                self.evict_oldest(ctx);
            }
            let flow = Flow::new(client, server, "tcp");
            self.em
                .connection_event(ctx, &flow, 0, Val::Str("open connection"), None);
            self.flows.insert(key, flow);
        }
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        if flow.closed {
            return;
        }
        let d = if src == flow.client { 0 } else { 1 };
        flow.last_usec = ctx.at_usec;
        if flags.rst {
            self.buffered -= Self::held(flow);
            Self::close(&mut self.em, ctx, flow, d, "close connection (reset)");
            self.closed_flows += 1;
            self.prune();
            return;
        }
        let before = flow.dirs[d].stream.buffered();
        let delivery = flow.dirs[d].stream.push(seq, flags.syn, flags.fin, payload);
        self.buffered = self.buffered + flow.dirs[d].stream.buffered() - before;
        Self::deliver(&mut self.em, ctx, flow, d, &delivery.chunks);
        if flags.ack {
            // What this side acknowledged of the other direction's bytes.
            let other = 1 - d;
            let before = flow.dirs[other].stream.buffered();
            let delivery = flow.dirs[other].stream.acked(flags.ack_no);
            self.buffered = self.buffered + flow.dirs[other].stream.buffered() - before;
            Self::deliver(&mut self.em, ctx, flow, other, &delivery.chunks);
        }
        if flow.dirs[0].stream.is_finished() && flow.dirs[1].stream.is_finished() {
            self.buffered -= Self::held(flow);
            Self::close(&mut self.em, ctx, flow, d, "close connection");
            self.closed_flows += 1;
            self.prune();
        }
        if self.buffered > MAX_BUFFERED_TOTAL {
            self.release_buffers(ctx);
        }
    }

    /// Feeds the reassembled chunks of direction `d` to the framing.
    fn deliver(em: &mut Emitter, ctx: &Ctx, flow: &mut Flow, d: usize, chunks: &[Chunk<'_>]) {
        for chunk in chunks {
            match chunk {
                Chunk::Data(b) => Self::feed(em, ctx, flow, d, b),
                Chunk::Owned(b) => Self::feed(em, ctx, flow, d, b),
                Chunk::Gap(n) => Self::gap(em, ctx, flow, d, *n),
            }
        }
    }

    /// Out-of-order bytes a flow holds in both directions.
    fn held(flow: &Flow) -> usize {
        flow.dirs[0].stream.buffered() + flow.dirs[1].stream.buffered()
    }

    /// Closes the open flows in `keys` as evicted (`why` goes into the event).
    fn evict(&mut self, ctx: &Ctx, keys: Vec<(SocketAddr, SocketAddr)>, why: &'static str) {
        for k in keys {
            let Some(flow) = self.flows.get_mut(&k) else {
                continue;
            };
            if flow.closed {
                continue;
            }
            self.buffered -= Self::held(flow);
            Self::close(&mut self.em, ctx, flow, 0, why);
            self.closed_flows += 1;
            self.em.status.flows_evicted.fetch_add(1, Ordering::Relaxed);
        }
        self.prune();
    }

    /// Closes flows idle for [`FLOW_IDLE_USEC`] of capture time (checked once a second).
    fn sweep_idle(&mut self, ctx: &Ctx) {
        if ctx.at_usec < self.next_sweep_usec {
            return;
        }
        self.next_sweep_usec = ctx.at_usec.saturating_add(SWEEP_EVERY_USEC);
        let idle: Vec<_> = self
            .flows
            .iter()
            .filter(|(_, f)| !f.closed && ctx.at_usec.saturating_sub(f.last_usec) > FLOW_IDLE_USEC)
            .map(|(k, _)| *k)
            .collect();
        if !idle.is_empty() {
            self.evict(ctx, idle, "close connection (evicted: idle)");
        }
    }

    /// Closes the least recently active sixteenth of the open flows.
    fn evict_oldest(&mut self, ctx: &Ctx) {
        let mut open: Vec<(i64, (SocketAddr, SocketAddr))> = self
            .flows
            .iter()
            .filter(|(_, f)| !f.closed)
            .map(|(k, f)| (f.last_usec, *k))
            .collect();
        let n = (open.len() / 16).max(1).min(open.len());
        if n == 0 {
            return;
        }
        open.select_nth_unstable(n - 1);
        let oldest = open[..n].iter().map(|(_, k)| *k).collect();
        self.evict(ctx, oldest, "close connection (evicted: flow table full)");
    }

    /// Releases the out-of-order buffers of the flows holding the most, with gaps for
    /// their holes, until a quarter of [`MAX_BUFFERED_TOTAL`] is free again.
    fn release_buffers(&mut self, ctx: &Ctx) {
        let mut holders: Vec<(usize, (SocketAddr, SocketAddr))> = self
            .flows
            .iter()
            .filter(|(_, f)| !f.closed && Self::held(f) > 0)
            .map(|(k, f)| (Self::held(f), *k))
            .collect();
        holders.sort_unstable_by_key(|h| std::cmp::Reverse(h.0));
        for (_, k) in holders {
            if self.buffered <= MAX_BUFFERED_TOTAL / 4 * 3 {
                break;
            }
            let Some(flow) = self.flows.get_mut(&k) else {
                continue;
            };
            self.buffered -= Self::held(flow);
            for d in 0..2 {
                let delivery = flow.dirs[d].stream.flush();
                Self::deliver(&mut self.em, ctx, flow, d, &delivery.chunks);
            }
            self.em
                .status
                .flow_buffers_released
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Open flows and the out-of-order bytes they hold (for tests and the status).
    pub fn open_flows(&self) -> (usize, usize) {
        (self.flows.len() - self.closed_flows, self.buffered)
    }

    pub(super) fn feed(em: &mut Emitter, ctx: &Ctx, flow: &mut Flow, d: usize, data: &[u8]) {
        if flow.dirs[d].buf.is_empty() {
            let n = em.parse(ctx, flow, d, data);
            flow.dirs[d].buf.extend_from_slice(&data[n..]);
        } else {
            let mut buf = std::mem::take(&mut flow.dirs[d].buf);
            buf.extend_from_slice(data);
            let n = em.parse(ctx, flow, d, &buf);
            buf.drain(..n);
            flow.dirs[d].buf = buf;
        }
    }

    pub(super) fn gap(em: &mut Emitter, ctx: &Ctx, flow: &mut Flow, d: usize, missing: u64) {
        let dir = &mut flow.dirs[d];
        dir.buf.clear();
        let was = dir.mode.stream_name();
        dir.mode = Mode::Messages;
        dir.resync = true;
        em.error(
            ctx,
            Some(flow),
            d,
            "tcp",
            format!("{missing} bytes missing from the capture ({was})"),
        );
    }

    pub(super) fn close(
        em: &mut Emitter,
        ctx: &Ctx,
        flow: &mut Flow,
        d: usize,
        event: &'static str,
    ) {
        for dd in 0..2 {
            let delivery = flow.dirs[dd].stream.flush();
            Self::deliver(em, ctx, flow, dd, &delivery.chunks);
            Self::leftover(em, ctx, flow, dd);
        }
        flow.closed = true;
        em.connection_event(ctx, flow, d, Val::Str(event), None);
    }

    /// Bytes left in a direction when it ends are an incomplete message.
    pub(super) fn leftover(em: &mut Emitter, ctx: &Ctx, flow: &mut Flow, d: usize) {
        let n = flow.dirs[d].buf.len();
        if n > 0 && !flow.dirs[d].resync {
            let what = flow.dirs[d].mode.stream_name();
            em.error(
                ctx,
                Some(flow),
                d,
                "tcp",
                format!("{n} bytes of an incomplete {what} entry at end of stream"),
            );
        }
        flow.dirs[d].buf = Vec::new();
    }

    pub(super) fn prune(&mut self) {
        if self.closed_flows > MAX_CLOSED_FLOWS {
            self.flows.retain(|_, f| !f.closed);
            self.closed_flows = 0;
        }
    }

    /// End of input: releases out-of-order data and reports incomplete messages.
    pub fn finish(&mut self, ts_usec: i64) {
        let ctx = self.em.ctx(ts_usec);
        for flow in self.flows.values_mut() {
            if flow.closed {
                continue;
            }
            for d in 0..2 {
                let delivery = flow.dirs[d].stream.flush();
                Self::deliver(&mut self.em, &ctx, flow, d, &delivery.chunks);
                Self::leftover(&mut self.em, &ctx, flow, d);
            }
        }
    }
}
