//! The UDP receive budget: how many datagrams one source address and one subnetwork may
//! have the receive loop handle per window, and how many node_id handshakes one address
//! may send per window, whatever number of source ports they come from.
//!
//! All UDP peers share one socket and one receive loop. A channel's inbound rate bounds
//! what one source port's channel may make the node process, but a host with many ports
//! (or ports that never become channels: handshakes refused at a cap, datagrams from
//! unknown endpoints) could take the loop's time from every other peer. The budget counts
//! every datagram against its address and subnetwork before anything is decoded; past
//! the budget the rest of the window's datagrams are dropped, and the address or
//! subnetwork is listed for the kernel filter on the UDP socket (`kernel_filter`) until
//! the window ends, so they stop costing the node a receive at all.
//!
//! A datagram's source address can be forged: whoever forges another address's
//! datagrams spends that address's budgets too (cheaply for handshakes: 16 a second on
//! live). What it buys is that address's UDP traffic with this node for the window, not
//! its TCP channels, and no strike or exclusion.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nano_messages::MessageType;

/// The budget's window: the per-channel inbound rate is per second, and so is this.
/// Counts start again at every window; what was listed over budget is heard again.
pub(super) const WINDOW: Duration = Duration::from_secs(1);

/// An address's datagrams per window are at most one channel's inbound rate (its
/// `inbound_messages_per_sec`) per second, as the send side gives all of an address's
/// channels one channel's share of the queue: a network may allow many channels per
/// address (dev: 256, live: 4), and each would otherwise bring its own rate.
/// A subnetwork (IPv4 /24, IPv6 /64, as the channel caps count them) may send this many
/// addresses' budgets, so one operator's block of addresses is held as the send queue
/// holds it.
pub(super) const SUBNET_ADDRESSES: u64 = 2;

/// node_id handshake datagrams one address may send per window, per channel it may hold
/// (`max_peers_per_ip`): a handshake is two datagrams from the peer (its query and its
/// answer to ours), and twice that leaves room for retries, so an address can fill its
/// channel cap within one window. Past it, more handshakes from the address are refused
/// work (a new channel would be over the cap anyway) that costs a decode and a channel
/// table lookup each, and would spend the node's handshake rate that others need.
pub(super) const HANDSHAKES_PER_CHANNEL_SLOT: u64 = 4;

/// Addresses, and separately subnetworks, counted within one window. An IPv6 host can
/// send from a new address every datagram; past this many, an unseen address is held by
/// its subnetwork's budget alone, and an unseen subnetwork shares one subnetwork's budget
/// with every other unseen one, so the counts stay bounded (under 2 MiB) while every
/// datagram is still charged somewhere.
pub(super) const MAX_TRACKED: usize = 16_384;

/// What the budget says about one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Pass,
    /// Its address has used its datagrams for this window.
    OverAddress,
    /// Its subnetwork (or, when too many were seen, the shared overflow) has.
    OverSubnet,
    /// It is a node_id handshake and its address has used its handshakes.
    OverHandshakes,
}

impl Verdict {
    /// The stat detail a drop is counted under.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::OverAddress => "udp_address_budget",
            Verdict::OverSubnet => "udp_subnet_budget",
            Verdict::OverHandshakes => "udp_handshake_budget",
        }
    }
}

/// Who is over budget in the current window, for the kernel filter.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct OverBudget {
    /// Addresses all of whose datagrams are dropped.
    pub addresses: Vec<Ipv6Addr>,
    /// Subnetworks (network addresses) all of whose datagrams are dropped.
    pub subnets: Vec<Ipv6Addr>,
    /// Addresses whose node_id handshakes are dropped.
    pub handshakes: Vec<Ipv6Addr>,
    /// When the window ends and these are heard again (None when nothing is listed).
    pub ends: Option<Instant>,
}

#[derive(Default, Clone, Copy)]
struct Counts {
    datagrams: u64,
    handshakes: u64,
}

struct Window {
    start: Instant,
    addresses: HashMap<Ipv6Addr, Counts>,
    subnets: HashMap<[u8; 16], u64>,
    /// Datagrams of subnetworks not tracked (past [`MAX_TRACKED`]).
    overflow: u64,
    over: OverBudget,
}

impl Window {
    fn new(start: Instant) -> Window {
        Window {
            start,
            addresses: HashMap::new(),
            subnets: HashMap::new(),
            overflow: 0,
            over: OverBudget::default(),
        }
    }
}

/// The budget of one node's UDP socket.
pub(super) struct ReceiveBudget {
    /// Datagrams per address per window; 0 leaves addresses and subnetworks unlimited.
    per_address: u64,
    per_subnet: u64,
    handshakes: u64,
    window: Mutex<Window>,
    /// Woken when an address or subnetwork goes over budget, so the kernel filter
    /// follows within its rebuild spacing.
    pub changed: tokio::sync::Notify,
}

impl ReceiveBudget {
    /// `per_address`: datagrams per window from one address (0 = unlimited);
    /// `channels_per_ip`: the channels one address may hold.
    pub(super) fn new(per_address: u64, channels_per_ip: usize) -> ReceiveBudget {
        ReceiveBudget {
            per_address,
            per_subnet: per_address.saturating_mul(SUBNET_ADDRESSES),
            handshakes: (channels_per_ip as u64).saturating_mul(HANDSHAKES_PER_CHANNEL_SLOT),
            window: Mutex::new(Window::new(Instant::now())),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges one datagram from `ip` whose bytes are `data` (only its header's message
    /// type is looked at, as the kernel filter does) against the window of `now`.
    pub(super) fn charge(&self, ip: &Ipv6Addr, data: &[u8], now: Instant) -> Verdict {
        let handshake = is_handshake(data);
        let mut w = self.lock();
        if now.saturating_duration_since(w.start) >= WINDOW {
            *w = Window::new(now);
        }
        let limited = self.per_address > 0;
        let tracked = w.addresses.len() < MAX_TRACKED || w.addresses.contains_key(ip);
        let counts = if tracked {
            w.addresses.get(ip).copied().unwrap_or_default()
        } else {
            Counts::default()
        };
        if limited && counts.datagrams >= self.per_address {
            return Verdict::OverAddress;
        }
        if handshake && counts.handshakes >= self.handshakes {
            return Verdict::OverHandshakes;
        }
        let subnet = super::subnetwork(ip);
        let subnet_tracked = w.subnets.len() < MAX_TRACKED || w.subnets.contains_key(&subnet);
        let net = if subnet_tracked {
            w.subnets.get(&subnet).copied().unwrap_or(0)
        } else {
            w.overflow
        };
        if limited && net >= self.per_subnet {
            return Verdict::OverSubnet;
        }
        if subnet_tracked {
            w.subnets.insert(subnet, net + 1);
        } else {
            w.overflow += 1;
        }
        let mut listed = false;
        if limited && subnet_tracked && net + 1 == self.per_subnet {
            w.over.subnets.push(Ipv6Addr::from(subnet));
            listed = true;
        }
        if tracked {
            let c = Counts {
                datagrams: counts.datagrams + 1,
                handshakes: counts.handshakes + u64::from(handshake),
            };
            w.addresses.insert(*ip, c);
            if limited && c.datagrams == self.per_address {
                w.over.addresses.push(*ip);
                listed = true;
            } else if handshake && c.handshakes == self.handshakes {
                w.over.handshakes.push(*ip);
                listed = true;
            }
        }
        if listed {
            w.over.ends = Some(w.start + WINDOW);
            drop(w);
            self.changed.notify_one();
        }
        Verdict::Pass
    }

    /// Who is over budget now (nothing once the window has ended).
    pub(super) fn over_budget(&self, now: Instant) -> OverBudget {
        let w = self.lock();
        if now.saturating_duration_since(w.start) >= WINDOW {
            return OverBudget::default();
        }
        w.over.clone()
    }
}

/// Whether `data` is a node_id handshake by its header's message type byte (the byte
/// the kernel filter compares; a datagram this misjudges fails header decoding anyway).
pub(super) fn is_handshake(data: &[u8]) -> bool {
    data.get(MESSAGE_TYPE_OFFSET) == Some(&(MessageType::NodeIdHandshake as u8))
}

/// Where the message type is in a message header: after the magic, the network byte
/// and the three version bytes.
pub(super) const MESSAGE_TYPE_OFFSET: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use nano_core::Network;
    use nano_messages::{Header, Message, NodeIdHandshake};

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv6Addr {
        std::net::Ipv4Addr::new(a, b, c, d).to_ipv6_mapped()
    }

    fn keepalive() -> Vec<u8> {
        Header::new(Network::Dev, MessageType::Keepalive, 0)
            .encode()
            .to_vec()
    }

    fn handshake() -> Vec<u8> {
        Message::NodeIdHandshake(Box::new(NodeIdHandshake::query([7; 32])))
            .to_bytes(Network::Dev)
            .unwrap()
    }

    #[test]
    fn the_header_byte_tells_a_handshake() {
        assert!(is_handshake(&handshake()));
        assert!(!is_handshake(&keepalive()));
        assert!(!is_handshake(b"R"));
    }

    #[test]
    fn an_address_gets_its_budget_per_window_whatever_its_ports() {
        let b = ReceiveBudget::new(100, 4);
        let t0 = Instant::now();
        let host = v4(192, 0, 2, 7);
        let ka = keepalive();
        let passed = (0..1_000)
            .filter(|_| b.charge(&host, &ka, t0) == Verdict::Pass)
            .count();
        assert_eq!(passed, 100);
        assert_eq!(b.charge(&host, &ka, t0), Verdict::OverAddress);
        let over = b.over_budget(t0);
        assert_eq!(over.addresses, vec![host]);
        // Listed until the window (begun when the budget was made) ends.
        let ends = over.ends.expect("an end");
        assert!(ends > t0 && ends <= t0 + WINDOW, "{ends:?}");
        // Another address of the same subnetwork still has its own budget.
        let neighbour = v4(192, 0, 2, 8);
        assert_eq!(b.charge(&neighbour, &ka, t0), Verdict::Pass);
        // The next window starts afresh and lists nothing.
        let t1 = t0 + WINDOW;
        assert_eq!(b.over_budget(t1), OverBudget::default());
        assert_eq!(b.charge(&host, &ka, t1), Verdict::Pass);
    }

    #[test]
    fn a_subnetwork_holds_two_addresses_budgets() {
        let b = ReceiveBudget::new(10, 4);
        let t0 = Instant::now();
        let ka = keepalive();
        let mut passed = 0;
        for d in 1..=50 {
            for _ in 0..10 {
                if b.charge(&v4(198, 51, 100, d), &ka, t0) == Verdict::Pass {
                    passed += 1;
                }
            }
        }
        assert_eq!(passed, 10 * SUBNET_ADDRESSES as usize);
        assert_eq!(
            b.charge(&v4(198, 51, 100, 200), &ka, t0),
            Verdict::OverSubnet
        );
        let over = b.over_budget(t0);
        assert_eq!(
            over.subnets,
            vec![Ipv6Addr::from(super::super::subnetwork(&v4(
                198, 51, 100, 0
            )))]
        );
        // The next /24 is another subnetwork.
        assert_eq!(b.charge(&v4(198, 51, 101, 1), &ka, t0), Verdict::Pass);
    }

    #[test]
    fn handshakes_have_a_budget_of_their_own() {
        let b = ReceiveBudget::new(10_000, 4);
        let t0 = Instant::now();
        let host = v4(203, 0, 113, 5);
        let hs = handshake();
        let passed = (0..100)
            .filter(|_| b.charge(&host, &hs, t0) == Verdict::Pass)
            .count();
        assert_eq!(passed as u64, 4 * HANDSHAKES_PER_CHANNEL_SLOT);
        assert_eq!(b.charge(&host, &hs, t0), Verdict::OverHandshakes);
        // Its other messages still pass, and only its handshakes are listed.
        assert_eq!(b.charge(&host, &keepalive(), t0), Verdict::Pass);
        let over = b.over_budget(t0);
        assert_eq!(over.handshakes, vec![host]);
        assert!(over.addresses.is_empty() && over.subnets.is_empty());
    }

    #[test]
    fn unlimited_rate_still_bounds_handshakes() {
        let b = ReceiveBudget::new(0, 1);
        let t0 = Instant::now();
        let host = v4(203, 0, 113, 5);
        let ka = keepalive();
        assert!((0..100_000).all(|_| b.charge(&host, &ka, t0) == Verdict::Pass));
        assert_eq!(b.over_budget(t0), OverBudget::default());
        let hs = handshake();
        let passed = (0..10)
            .filter(|_| b.charge(&host, &hs, t0) == Verdict::Pass)
            .count();
        assert_eq!(passed as u64, HANDSHAKES_PER_CHANNEL_SLOT);
    }

    #[test]
    fn many_addresses_are_bounded_and_still_charged() {
        let b = ReceiveBudget::new(3, 4);
        let t0 = Instant::now();
        let ka = keepalive();
        // Distinct IPv6 addresses in distinct /64s, far past what is tracked.
        let n = MAX_TRACKED + 1_000;
        let mut passed = 0usize;
        for i in 0..n as u64 {
            let ip = Ipv6Addr::from(((0x2001_0db8u128 << 96) | ((i as u128) << 64)) | 1);
            if b.charge(&ip, &ka, t0) == Verdict::Pass {
                passed += 1;
            }
        }
        let w = b.lock();
        assert!(w.addresses.len() <= MAX_TRACKED);
        assert!(w.subnets.len() <= MAX_TRACKED);
        drop(w);
        // The untracked ones shared one subnetwork's budget.
        assert_eq!(passed, MAX_TRACKED + 3 * SUBNET_ADDRESSES as usize);
    }
}
