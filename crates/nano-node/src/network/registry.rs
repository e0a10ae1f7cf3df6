//! The table of live channels: every channel by id, plus an index of the UDP channels by
//! remote endpoint with their counts per address, per subnetwork and in all. The index is
//! kept in step with every insert and removal, so a datagram finds its channel and a UDP
//! handshake learns whether its source is already at a cap without a scan over all
//! channels (a flood of datagrams from thousands of source ports costs a hash lookup
//! each, not a walk of the table). It also keeps the list of distinct peers (one channel
//! per node id) between changes, as every block and vote this node floods picks its
//! recipients from it: rebuilding it per message cost the consensus thread a hash map of
//! every channel each time.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::Arc;

use super::admission::decrement;
use nano_core::PublicKey;

use super::channel::{Channel, Transport};
use super::subnetwork;
use crate::interfaces::ChannelId;

/// UDP channels held from one source, as the UDP caps count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UdpLoad {
    pub per_ip: usize,
    pub per_subnetwork: usize,
    pub total: usize,
}

#[derive(Default)]
pub(crate) struct ChannelTable {
    by_id: HashMap<ChannelId, Arc<Channel>>,
    /// The newest UDP channel of each endpoint (an older one may linger, closed, until
    /// its writer removes it).
    udp_by_endpoint: HashMap<SocketAddrV6, Arc<Channel>>,
    udp_per_ip: HashMap<Ipv6Addr, usize>,
    udp_per_subnetwork: HashMap<[u8; 16], usize>,
    udp_total: usize,
    /// One channel per node id, built on demand and dropped at every insert or removal.
    distinct: Option<Arc<[Arc<Channel>]>>,
}

impl ChannelTable {
    pub fn get(&self, id: &ChannelId) -> Option<&Arc<Channel>> {
        self.by_id.get(id)
    }

    pub fn values(&self) -> impl Iterator<Item = &Arc<Channel>> {
        self.by_id.values()
    }

    pub fn insert(&mut self, ch: Arc<Channel>) {
        self.distinct = None;
        if ch.transport == Transport::Udp {
            let ep = ch.info.endpoint;
            self.udp_total += 1;
            *self.udp_per_ip.entry(*ep.ip()).or_default() += 1;
            *self
                .udp_per_subnetwork
                .entry(subnetwork(ep.ip()))
                .or_default() += 1;
            self.udp_by_endpoint.insert(ep, ch.clone());
        }
        if let Some(old) = self.by_id.insert(ch.info.id, ch) {
            // Ids are unique; were one reused, the old entry's counts must go.
            self.unindex(&old);
        }
    }

    pub fn remove(&mut self, id: &ChannelId) -> Option<Arc<Channel>> {
        let ch = self.by_id.remove(id)?;
        self.distinct = None;
        self.unindex(&ch);
        Some(ch)
    }

    fn unindex(&mut self, ch: &Channel) {
        if ch.transport != Transport::Udp {
            return;
        }
        let ep = ch.info.endpoint;
        self.udp_total = self.udp_total.saturating_sub(1);
        decrement(&mut self.udp_per_ip, ep.ip());
        decrement(&mut self.udp_per_subnetwork, &subnetwork(ep.ip()));
        if self
            .udp_by_endpoint
            .get(&ep)
            .is_some_and(|c| c.info.id == ch.info.id)
        {
            self.udp_by_endpoint.remove(&ep);
        }
    }

    pub fn clear(&mut self) {
        *self = ChannelTable::default();
    }

    /// One open channel per node id, TCP preferred, then the older. A channel closed
    /// since the list was built stays in it until removed (moments later: every close
    /// removes the channel); sending to it is refused, as to any closed channel.
    pub fn distinct(&mut self) -> Arc<[Arc<Channel>]> {
        if let Some(d) = &self.distinct {
            return d.clone();
        }
        let mut by_node: HashMap<PublicKey, Arc<Channel>> = HashMap::new();
        let rank = |c: &Channel| (c.transport == Transport::Udp, c.info.id);
        for c in self.by_id.values() {
            if c.is_closed() {
                continue;
            }
            let better = by_node
                .get(&c.info.node_id)
                .is_none_or(|e| rank(c) < rank(e));
            if better {
                by_node.insert(c.info.node_id, c.clone());
            }
        }
        let d: Arc<[Arc<Channel>]> = by_node.into_values().collect();
        self.distinct = Some(d.clone());
        d
    }

    /// The UDP channel of `ep`, if any.
    pub fn udp(&self, ep: &SocketAddrV6) -> Option<&Arc<Channel>> {
        self.udp_by_endpoint.get(ep)
    }

    /// UDP channels from `ip`, its subnetwork and in all (closed ones not yet removed
    /// included, so the count can only err on the side of the cap).
    pub fn udp_load(&self, ip: &Ipv6Addr) -> UdpLoad {
        UdpLoad {
            per_ip: self.udp_per_ip.get(ip).copied().unwrap_or(0),
            per_subnetwork: self
                .udp_per_subnetwork
                .get(&subnetwork(ip))
                .copied()
                .unwrap_or(0),
            total: self.udp_total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interfaces::ChannelInfo;
    use nano_core::PublicKey;
    use tokio_util::sync::CancellationToken;

    fn channel(id: ChannelId, ip: [u8; 4], port: u16, transport: Transport) -> Arc<Channel> {
        let ip = std::net::Ipv4Addr::from(ip).to_ipv6_mapped();
        Arc::new(Channel::new(
            ChannelInfo {
                id,
                endpoint: SocketAddrV6::new(ip, port, 0, 0),
                node_id: PublicKey([id as u8; 32]),
                protocol_version: 0x15,
            },
            transport,
            false,
            None,
            CancellationToken::new(),
            0,
            0,
        ))
    }

    #[test]
    fn counts_udp_channels_per_ip_subnetwork_and_in_all() {
        let mut t = ChannelTable::default();
        t.insert(channel(1, [10, 0, 0, 1], 1000, Transport::Udp));
        t.insert(channel(2, [10, 0, 0, 1], 1001, Transport::Udp));
        t.insert(channel(3, [10, 0, 0, 2], 1000, Transport::Udp));
        t.insert(channel(4, [10, 0, 0, 1], 1002, Transport::Tcp));
        let ip = |last| std::net::Ipv4Addr::new(10, 0, 0, last).to_ipv6_mapped();
        assert_eq!(
            t.udp_load(&ip(1)),
            UdpLoad {
                per_ip: 2,
                per_subnetwork: 3,
                total: 3
            }
        );
        let ep = SocketAddrV6::new(ip(1), 1001, 0, 0);
        assert_eq!(t.udp(&ep).map(|c| c.info.id), Some(2));
        assert!(
            t.udp(&SocketAddrV6::new(ip(1), 1002, 0, 0)).is_none(),
            "TCP channels are not in the UDP index"
        );
        t.remove(&2);
        assert!(t.udp(&ep).is_none());
        assert_eq!(t.udp_load(&ip(1)).per_ip, 1);
        assert_eq!(t.udp_load(&ip(1)).total, 2);
        t.remove(&1);
        t.remove(&3);
        assert_eq!(
            t.udp_load(&ip(1)),
            UdpLoad {
                per_ip: 0,
                per_subnetwork: 0,
                total: 0
            }
        );
        assert!(t.udp_per_ip.is_empty() && t.udp_per_subnetwork.is_empty());
        assert_eq!(t.values().count(), 1);
    }

    #[test]
    fn distinct_peers_prefer_tcp_and_follow_every_change() {
        let mut t = ChannelTable::default();
        let same_node = |id, transport| {
            let c = channel(id, [10, 0, 0, id as u8], 1000, transport);
            let mut info = c.info.clone();
            info.node_id = PublicKey([0xaa; 32]);
            Arc::new(Channel::new(
                info,
                transport,
                false,
                None,
                CancellationToken::new(),
                0,
                0,
            ))
        };
        t.insert(same_node(1, Transport::Udp));
        let ids = |t: &mut ChannelTable| {
            let mut v: Vec<ChannelId> = t.distinct().iter().map(|c| c.info.id).collect();
            v.sort();
            v
        };
        assert_eq!(ids(&mut t), vec![1]);
        t.insert(same_node(2, Transport::Tcp));
        assert_eq!(ids(&mut t), vec![2], "TCP preferred for the same node id");
        t.insert(channel(3, [10, 0, 0, 3], 1000, Transport::Udp));
        assert_eq!(ids(&mut t), vec![2, 3]);
        t.remove(&2);
        assert_eq!(
            ids(&mut t),
            vec![1, 3],
            "the UDP channel again once TCP is gone"
        );
        let closed = channel(4, [10, 0, 0, 4], 1000, Transport::Tcp);
        closed.closed.cancel();
        t.insert(closed);
        assert_eq!(ids(&mut t), vec![1, 3], "closed channels are not listed");
    }

    #[test]
    fn a_lingering_older_channel_of_the_same_endpoint_does_not_unindex_the_newer() {
        let mut t = ChannelTable::default();
        let old = channel(1, [10, 0, 0, 1], 1000, Transport::Udp);
        old.closed.cancel();
        t.insert(old.clone());
        t.insert(channel(2, [10, 0, 0, 1], 1000, Transport::Udp));
        let ep = old.info.endpoint;
        assert_eq!(t.udp(&ep).map(|c| c.info.id), Some(2));
        assert_eq!(
            t.udp_load(ep.ip()).per_ip,
            2,
            "both are counted until removed"
        );
        t.remove(&1);
        assert_eq!(t.udp(&ep).map(|c| c.info.id), Some(2));
        assert_eq!(t.udp_load(ep.ip()).per_ip, 1);
    }
}
