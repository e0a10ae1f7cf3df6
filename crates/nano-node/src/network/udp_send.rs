//! The UDP send path: every datagram for a UDP channel goes into one bounded,
//! prioritised queue, and one task drains it into the peering socket in batches, one
//! `sendmmsg` system call per batch on Linux (one `send_to` per datagram elsewhere).
//!
//! All UDP peers share one socket and one kernel send buffer, so a queue and a task per
//! peer bounded nothing the shared socket does not, and cost a system call and a task
//! wake-up per datagram: a block flooded to 16 peers was 16 of each.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use tokio::net::UdpSocket;

use super::channel::{Channel, SendQueue};
use super::Inner;
use crate::interfaces::TrafficType;

/// Realtime datagrams waiting for the socket, for all UDP channels together: one
/// block-processor batch (256 blocks) flooded to 64 channels (the square root of a
/// 2,048-channel UDP cap, plus representatives) fits, with its votes behind it. A sender
/// further behind than that is past what the socket can take: newer datagrams are
/// dropped and counted rather than delayed.
const REALTIME_LIMIT: usize = 16_384;
/// Bootstrap datagrams waiting (UDP carries none today): as one TCP channel's queue.
const BOOTSTRAP_LIMIT: usize = 1_024;
/// Background datagrams (keepalives, telemetry) waiting, per UDP channel the node may
/// hold: the keepalive tick queues one for every channel at once, and a telemetry round
/// may be behind it.
const BACKGROUND_PER_CHANNEL: usize = 2;

/// Most datagrams one channel may have waiting in the shared queue, all classes
/// together: an eighth of the realtime bound. A peer that makes the node answer it a
/// lot (queries, telemetry, a flood of its own channel's traffic) would otherwise fill
/// the queue every UDP peer shares and have honest peers' datagrams dropped; with the
/// share it loses its own newest ones, and seven eighths stay for everyone else.
pub(super) const CHANNEL_SHARE: usize = REALTIME_LIMIT / 8;

/// Most datagrams the channels of one IP address may have waiting together: one
/// channel's share. A network may allow many channels per address (dev: 256; live: 4),
/// and each would otherwise bring its own share, so that one host with many source ports
/// could fill the queue with datagrams for itself as many hosts would.
pub(super) const ADDRESS_SHARE: usize = CHANNEL_SHARE;

/// Most datagrams the channels of one subnetwork (IPv4 /24, IPv6 /64, as the channel
/// caps count them) may have waiting together: two addresses' shares, so one operator's
/// block of addresses holds at most a quarter of the realtime bound and at least four
/// subnetworks are needed to fill it.
pub(super) const SUBNET_SHARE: usize = 2 * ADDRESS_SHARE;

/// Datagrams handed to the kernel in one system call: enough to spread the call's cost
/// over a whole flood, few enough that one call holds a runtime worker only for about a
/// tenth of a millisecond.
const SEND_BATCH: usize = 64;

/// One datagram waiting in the queue.
pub(super) struct Queued {
    pub ch: Arc<Channel>,
    pub to: SocketAddr,
    pub bytes: Bytes,
}

/// Why a datagram was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refused {
    /// Its channel already holds [`CHANNEL_SHARE`] waiting datagrams.
    ChannelShare,
    /// Its channel's address holds [`ADDRESS_SHARE`], or its subnetwork
    /// [`SUBNET_SHARE`], waiting datagrams.
    AddressShare,
    /// Its traffic class is full for all channels together.
    Full,
}

/// The node's one queue of datagrams for UDP channels, with each channel's, address's and
/// subnetwork's share.
pub(super) struct UdpQueue {
    queue: SendQueue<Queued>,
    share: usize,
    /// Waiting datagrams per address and per subnetwork. Only addresses with a datagram
    /// waiting have an entry, so each map holds at most as many as the queue.
    held: std::sync::Mutex<Held>,
}

#[derive(Default)]
struct Held {
    per_address: HashMap<Ipv6Addr, usize>,
    per_subnet: HashMap<[u8; 16], usize>,
}

impl Held {
    /// Counts one more datagram for `ip` unless its address or subnetwork is at its
    /// share.
    fn take(&mut self, ip: &Ipv6Addr) -> bool {
        let subnet = super::subnetwork(ip);
        let address = self.per_address.get(ip).copied().unwrap_or(0);
        let net = self.per_subnet.get(&subnet).copied().unwrap_or(0);
        if address >= ADDRESS_SHARE || net >= SUBNET_SHARE {
            return false;
        }
        self.per_address.insert(*ip, address + 1);
        self.per_subnet.insert(subnet, net + 1);
        true
    }

    /// Gives back one datagram's place of `ip`.
    fn give(&mut self, ip: &Ipv6Addr) {
        fn less<K: std::hash::Hash + Eq>(m: &mut HashMap<K, usize>, k: &K) {
            if let Some(n) = m.get_mut(k) {
                *n -= 1;
                if *n == 0 {
                    m.remove(k);
                }
            }
        }
        less(&mut self.per_address, ip);
        less(&mut self.per_subnet, &super::subnetwork(ip));
    }
}

/// The queue for a node holding at most `channel_cap` UDP channels.
pub(super) fn new_queue(channel_cap: usize) -> UdpQueue {
    UdpQueue {
        queue: SendQueue::with_limits([
            REALTIME_LIMIT,
            BOOTSTRAP_LIMIT,
            (channel_cap * BACKGROUND_PER_CHANNEL).max(256),
        ]),
        share: CHANNEL_SHARE,
        held: Default::default(),
    }
}

impl UdpQueue {
    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `d` unless its channel, address or subnetwork is at its share or its class
    /// is full.
    pub(super) fn push(&self, d: Queued, traffic: TrafficType) -> Result<(), Refused> {
        let ch = d.ch.clone();
        let ip = *ch.info.endpoint.ip();
        if ch.udp_queued.fetch_add(1, Ordering::Relaxed) >= self.share {
            ch.udp_queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Refused::ChannelShare);
        }
        if !self.held().take(&ip) {
            ch.udp_queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Refused::AddressShare);
        }
        if self.queue.push(d, traffic) {
            Ok(())
        } else {
            self.held().give(&ip);
            ch.udp_queued.fetch_sub(1, Ordering::Relaxed);
            Err(Refused::Full)
        }
    }

    /// Waits for the next datagram; None once `token` is cancelled.
    async fn pop(&self, token: &tokio_util::sync::CancellationToken) -> Option<Queued> {
        let d = self.queue.pop(token).await?;
        self.given_back(std::slice::from_ref(&d));
        Some(d)
    }

    /// Moves up to `max` waiting datagrams, by priority, into `out`; how many.
    fn pop_into(&self, out: &mut Vec<Queued>, max: usize) -> usize {
        let from = out.len();
        let n = self.queue.pop_into(out, max);
        self.given_back(&out[from..]);
        n
    }

    /// Returns the places of datagrams taken from the queue.
    fn given_back(&self, taken: &[Queued]) {
        let mut held = self.held();
        for d in taken {
            d.ch.udp_queued.fetch_sub(1, Ordering::Relaxed);
            held.give(d.ch.info.endpoint.ip());
        }
    }
}

/// Drains the node's UDP queue into `sock` until the node stops. Datagrams of channels
/// closed while queued are not sent.
pub(super) async fn send_loop(inner: Arc<Inner>, sock: Arc<UdpSocket>) {
    let mut batch: Vec<Queued> = Vec::with_capacity(SEND_BATCH);
    while let Some(first) = inner.udp_out.pop(&inner.token).await {
        batch.push(first);
        inner.udp_out.pop_into(&mut batch, SEND_BATCH - 1);
        let before = batch.len();
        batch.retain(|d| !d.ch.is_closed());
        let closed = (before - batch.len()) as u64;
        if closed > 0 {
            inner.stats.add("drop", "udp_channel_closed", "out", closed);
        }
        let to: Vec<SocketAddr> = batch.iter().map(|d| d.to).collect();
        let payloads: Vec<&[u8]> = batch.iter().map(|d| &d.bytes[..]).collect();
        let now = inner.now_ms();
        let calls = send_datagrams(&sock, &to, &payloads, |i, ok| {
            let d = &batch[i];
            if ok {
                d.ch.touch_sent(now);
                if let Some(c) = inner.capture.get() {
                    c.udp(super::udp::local(&inner), d.ch.info.endpoint, &d.bytes);
                }
            } else {
                inner.stats.inc("error", "udp_send", "out");
            }
        })
        .await;
        inner.stats.add("udp", "send_calls", "out", calls as u64);
        batch.clear();
    }
}

/// Sends `payloads[i]` to `to[i]` for every i, waiting while the socket buffer is full;
/// `done(i, sent)` is called once per datagram, in order. A datagram the kernel refuses
/// (unreachable, too large) is reported unsent and the rest go on. Returns the number of
/// system calls made.
pub(super) async fn send_datagrams(
    sock: &UdpSocket,
    to: &[SocketAddr],
    payloads: &[&[u8]],
    mut done: impl FnMut(usize, bool),
) -> usize {
    debug_assert_eq!(to.len(), payloads.len());
    let mut calls = 0;
    let mut next = 0;
    #[cfg(target_os = "linux")]
    {
        let addrs: Vec<socket2::SockAddr> = to.iter().map(|a| (*a).into()).collect();
        while next < payloads.len() {
            let end = payloads.len().min(next + SEND_BATCH);
            calls += 1;
            let r = sock
                .async_io(tokio::io::Interest::WRITABLE, || {
                    linux::sendmmsg(sock, &addrs[next..end], &payloads[next..end])
                })
                .await;
            match r {
                Ok(n) if n > 0 => {
                    for i in next..next + n {
                        done(i, true);
                    }
                    next += n;
                }
                // The first datagram was refused (a refusal further on shows up as a
                // shorter count, then as this error on the next call).
                _ => {
                    done(next, false);
                    next += 1;
                }
            }
        }
    }
    while next < payloads.len() {
        calls += 1;
        let sent = sock.send_to(payloads[next], to[next]).await.is_ok();
        done(next, sent);
        next += 1;
    }
    calls
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::AsRawFd;

    use tokio::net::UdpSocket;

    /// One `sendmmsg(2)` of `payloads[i]` to `addrs[i]`: how many were sent (from the
    /// first), or the error of the first when none was. `WouldBlock` when the socket
    /// buffer is full, so tokio waits for it to drain and calls again.
    pub(super) fn sendmmsg(
        sock: &UdpSocket,
        addrs: &[socket2::SockAddr],
        payloads: &[&[u8]],
    ) -> io::Result<usize> {
        let mut iovs: Vec<libc::iovec> = payloads
            .iter()
            .map(|p| libc::iovec {
                iov_base: p.as_ptr() as *mut libc::c_void,
                iov_len: p.len(),
            })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .zip(addrs)
            .map(|(iov, addr)| {
                // SAFETY: mmsghdr is a plain C struct for which all-zero bytes are a
                // valid value (null pointers, zero lengths and flags).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = addr.as_ptr() as *mut libc::c_void;
                h.msg_hdr.msg_namelen = addr.len();
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        // SAFETY: every header points at an address and an iovec that live until this
        // function returns, and every iovec at a payload borrowed for as long; the kernel
        // only reads them (and writes each header's msg_len).
        let n = unsafe {
            libc::sendmmsg(
                sock.as_raw_fd(),
                headers.as_mut_ptr(),
                headers.len() as libc::c_uint,
                0,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

/// How many datagrams `send_datagrams` hands the kernel per call (for tests).
#[cfg(test)]
pub(super) const fn batch_size() -> usize {
    SEND_BATCH
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn sends_every_datagram_to_its_address_in_batches() {
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut peers = Vec::new();
        for _ in 0..3 {
            peers.push(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        }
        let n = 300;
        let to: Vec<SocketAddr> = (0..n).map(|i| peers[i % 3].local_addr().unwrap()).collect();
        let bodies: Vec<Vec<u8>> = (0..n).map(|i| (i as u32).to_be_bytes().to_vec()).collect();
        let payloads: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
        let mut reported = Vec::new();
        let calls = send_datagrams(&sender, &to, &payloads, |i, ok| reported.push((i, ok))).await;
        assert_eq!(reported, (0..n).map(|i| (i, true)).collect::<Vec<_>>());
        if cfg!(target_os = "linux") {
            assert!(
                calls >= n.div_ceil(batch_size()) && calls < n,
                "{calls} system calls for {n} datagrams"
            );
        }
        for (k, peer) in peers.iter().enumerate() {
            let mut buf = [0u8; 16];
            let mut got = Vec::new();
            for _ in 0..n / 3 {
                let (len, from) =
                    tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
                        .await
                        .expect("datagram arrives")
                        .unwrap();
                assert_eq!(from, sender.local_addr().unwrap());
                assert_eq!(len, 4);
                got.push(u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize);
            }
            let want: Vec<usize> = (0..n).filter(|i| i % 3 == k).collect();
            assert_eq!(got, want, "peer {k} gets its datagrams, in order");
        }
    }

    #[tokio::test]
    async fn a_refused_datagram_is_reported_and_the_rest_are_sent() {
        let sender = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // An IPv6 destination from an IPv4 socket: the kernel refuses that one.
        let v6: SocketAddr = "[::1]:9".parse().unwrap();
        let to = [peer.local_addr().unwrap(), v6, peer.local_addr().unwrap()];
        let payloads: [&[u8]; 3] = [b"a", b"b", b"c"];
        let mut reported = Vec::new();
        send_datagrams(&sender, &to, &payloads, |i, ok| reported.push((i, ok))).await;
        assert_eq!(reported, vec![(0, true), (1, false), (2, true)]);
        let mut buf = [0u8; 4];
        for want in [b'a', b'c'] {
            let (len, _) = tokio::time::timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
                .await
                .expect("datagram arrives")
                .unwrap();
            assert_eq!(&buf[..len], &[want]);
        }
    }

    fn udp_channel(id: u64, port: u16) -> Arc<Channel> {
        udp_channel_at(id, std::net::Ipv4Addr::new(10, 0, id as u8, 1), port)
    }

    fn udp_channel_at(id: u64, ip: std::net::Ipv4Addr, port: u16) -> Arc<Channel> {
        let ep = std::net::SocketAddrV6::new(ip.to_ipv6_mapped(), port, 0, 0);
        Channel::for_test(id, ep, super::super::channel::Transport::Udp)
    }

    fn datagram(ch: &Arc<Channel>) -> Queued {
        Queued {
            ch: ch.clone(),
            to: SocketAddr::V6(ch.info.endpoint),
            bytes: Bytes::from_static(b"d"),
        }
    }

    #[test]
    fn one_channel_cannot_take_the_shared_queue() {
        let q = new_queue(16);
        let attacker = udp_channel(1, 1000);
        let honest = udp_channel(2, 2000);
        // The attacker's channel asks for the whole realtime queue and more.
        let mut refused_share = 0;
        for _ in 0..REALTIME_LIMIT + 100 {
            match q.push(datagram(&attacker), TrafficType::Realtime) {
                Ok(()) => {}
                Err(Refused::ChannelShare) => refused_share += 1,
                Err(Refused::Full) => panic!("the shared queue filled"),
                Err(Refused::AddressShare) => panic!("the channel's share comes first"),
            }
        }
        assert_eq!(attacker.udp_queued.load(Ordering::Relaxed), CHANNEL_SHARE);
        assert_eq!(refused_share, REALTIME_LIMIT + 100 - CHANNEL_SHARE);
        // The honest peer keeps its datagrams: its own share is all there.
        for _ in 0..CHANNEL_SHARE {
            assert_eq!(q.push(datagram(&honest), TrafficType::Realtime), Ok(()));
        }
        assert_eq!(
            q.push(datagram(&honest), TrafficType::Realtime),
            Err(Refused::ChannelShare)
        );
        // Sending gives the share back.
        let mut out = Vec::new();
        assert_eq!(q.pop_into(&mut out, 10), 10);
        assert!(out.iter().all(|d| d.ch.info.id == 1), "in queue order");
        assert_eq!(
            attacker.udp_queued.load(Ordering::Relaxed),
            CHANNEL_SHARE - 10
        );
        assert_eq!(q.push(datagram(&attacker), TrafficType::Realtime), Ok(()));
    }

    #[test]
    fn the_shared_bound_still_holds_below_every_share() {
        let q = new_queue(16);
        let channels: Vec<_> = (0..9).map(|i| udp_channel(i, 1000 + i as u16)).collect();
        let mut queued = 0;
        let mut full = 0;
        for ch in &channels {
            for _ in 0..CHANNEL_SHARE {
                match q.push(datagram(ch), TrafficType::Realtime) {
                    Ok(()) => queued += 1,
                    Err(Refused::Full) => full += 1,
                    Err(Refused::ChannelShare | Refused::AddressShare) => {
                        panic!("below the share")
                    }
                }
            }
        }
        assert_eq!(queued, REALTIME_LIMIT);
        assert_eq!(full, CHANNEL_SHARE);
        assert_eq!(
            channels[8].udp_queued.load(Ordering::Relaxed),
            0,
            "a refused datagram holds no share"
        );
    }

    /// Pushes `n` realtime datagrams round-robin over `channels`: (queued, refused by an
    /// address or subnetwork share).
    fn flood(q: &UdpQueue, channels: &[Arc<Channel>], n: usize) -> (usize, usize) {
        let (mut queued, mut address) = (0, 0);
        for i in 0..n {
            match q.push(
                datagram(&channels[i % channels.len()]),
                TrafficType::Realtime,
            ) {
                Ok(()) => queued += 1,
                Err(Refused::AddressShare) => address += 1,
                Err(e) => panic!("{e:?} before the address share"),
            }
        }
        (queued, address)
    }

    #[test]
    fn many_source_ports_of_one_address_hold_one_address_share() {
        let q = new_queue(512);
        let host = std::net::Ipv4Addr::new(192, 0, 2, 7);
        let ports: Vec<_> = (0..256)
            .map(|i| udp_channel_at(100 + i, host, 10_000 + i as u16))
            .collect();
        // Each of the 256 channels stays far below its own share; together they hold
        // one address's.
        assert_eq!(
            flood(&q, &ports, REALTIME_LIMIT),
            (ADDRESS_SHARE, REALTIME_LIMIT - ADDRESS_SHARE)
        );
        let honest = udp_channel(1, 1000);
        for _ in 0..CHANNEL_SHARE {
            assert_eq!(q.push(datagram(&honest), TrafficType::Realtime), Ok(()));
        }
        // Sending gives the address's places back.
        let mut out = Vec::new();
        q.pop_into(&mut out, 10);
        assert!(out
            .iter()
            .all(|d| d.ch.info.endpoint.ip() == &host.to_ipv6_mapped()));
        assert_eq!(flood(&q, &ports, 20), (10, 10));
    }

    #[test]
    fn the_addresses_of_one_subnetwork_hold_one_subnetwork_share() {
        let q = new_queue(512);
        // 16 addresses of 198.51.100.0/24, 8 ports each.
        let block: Vec<_> = (0..128u64)
            .map(|i| {
                let ip = std::net::Ipv4Addr::new(198, 51, 100, (i / 8) as u8 + 1);
                udp_channel_at(100 + i, ip, 20_000 + i as u16)
            })
            .collect();
        assert_eq!(
            flood(&q, &block, REALTIME_LIMIT),
            (SUBNET_SHARE, REALTIME_LIMIT - SUBNET_SHARE)
        );
        // The next /24 is another subnetwork: an address there has its whole share.
        let next = std::net::Ipv4Addr::new(198, 51, 101, 1);
        let ports = [udp_channel_at(1, next, 1000), udp_channel_at(2, next, 1001)];
        assert_eq!(flood(&q, &ports, ADDRESS_SHARE + 2), (ADDRESS_SHARE, 2));
    }

    #[test]
    fn the_queue_refuses_past_its_bound() {
        let q: SendQueue<u32> = SendQueue::with_limits([2, 1, 1]);
        use crate::interfaces::TrafficType::*;
        assert!(q.push(1, Realtime) && q.push(2, Realtime));
        assert!(!q.push(3, Realtime), "realtime full");
        assert!(q.push(4, Background), "another class has its own room");
        let mut out = Vec::new();
        assert_eq!(q.pop_into(&mut out, 2), 2);
        assert_eq!(out, vec![1, 2], "priority order, at most the asked number");
        assert_eq!(q.pop_into(&mut out, 8), 1);
        assert_eq!(out, vec![1, 2, 4]);
    }
}
