//! An in-memory transport connecting several consensus instances in one process, for
//! deterministic tests and benchmarks without sockets. Each member's [`Outbound`] hands
//! messages straight to the other members' [`Inbound`] (which only enqueue). Members can
//! be detached (a stopped node) and re-attached.

use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::{Arc, RwLock};

use nano_core::PublicKey;
use nano_messages::Message;

use crate::interfaces::{ChannelId, ChannelInfo, Inbound, Outbound, TrafficType};

/// The shared medium: slot `i` is member `i` (its channel id as others see it).
#[derive(Default)]
pub struct LoopbackHub {
    members: RwLock<Vec<Option<Arc<dyn Inbound>>>>,
}

impl LoopbackHub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Reserves a slot and returns the member's outbound side.
    pub fn join(self: &Arc<Self>) -> Arc<LoopbackOutbound> {
        let mut m = self.members.write().unwrap_or_else(|e| e.into_inner());
        m.push(None);
        Arc::new(LoopbackOutbound {
            me: m.len() - 1,
            hub: self.clone(),
        })
    }

    /// Connects (or reconnects) member `slot`'s receiving side.
    pub fn attach(&self, slot: usize, inbound: Arc<dyn Inbound>) {
        let mut m = self.members.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = m.get_mut(slot) {
            *s = Some(inbound);
        }
    }

    /// Disconnects member `slot` (messages to it are dropped).
    pub fn detach(&self, slot: usize) {
        let mut m = self.members.write().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = m.get_mut(slot) {
            *s = None;
        }
    }

    fn info(slot: usize) -> ChannelInfo {
        ChannelInfo {
            id: slot as ChannelId,
            endpoint: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 1000 + slot as u16, 0, 0),
            node_id: PublicKey::from_bytes([slot as u8; 32]),
            protocol_version: nano_core::network::PROTOCOL_VERSION,
        }
    }

    fn targets(&self, me: usize) -> Vec<(usize, Arc<dyn Inbound>)> {
        let m = self.members.read().unwrap_or_else(|e| e.into_inner());
        m.iter()
            .enumerate()
            .filter(|(i, _)| *i != me)
            .filter_map(|(i, s)| s.clone().map(|s| (i, s)))
            .collect()
    }
}

/// One member's sending side.
pub struct LoopbackOutbound {
    me: usize,
    hub: Arc<LoopbackHub>,
}

impl LoopbackOutbound {
    pub fn slot(&self) -> usize {
        self.me
    }
}

impl Outbound for LoopbackOutbound {
    fn send(&self, channel: ChannelId, msg: &Message, _traffic: TrafficType) -> bool {
        let target = {
            let m = self.hub.members.read().unwrap_or_else(|e| e.into_inner());
            m.get(channel as usize).cloned().flatten()
        };
        match target {
            Some(t) if channel as usize != self.me => {
                t.on_message(&LoopbackHub::info(self.me), msg.clone());
                true
            }
            _ => false,
        }
    }

    /// Every other member: the hub stands for a network small enough that any fan-out
    /// reaches all of it.
    fn flood(&self, msg: &Message, _scale: f32) -> usize {
        let t = self.hub.targets(self.me);
        let from = LoopbackHub::info(self.me);
        for (_, inbound) in &t {
            inbound.on_message(&from, msg.clone());
        }
        t.len()
    }

    fn broadcast(&self, msg: &Message) -> usize {
        self.flood(msg, f32::MAX)
    }

    fn channels(&self) -> Vec<ChannelInfo> {
        self.hub
            .targets(self.me)
            .into_iter()
            .map(|(i, _)| LoopbackHub::info(i))
            .collect()
    }
}

impl LoopbackOutbound {
    /// The outbound side of an existing slot (a member that restarts reuses its slot).
    pub fn for_slot(hub: &Arc<LoopbackHub>, slot: usize) -> LoopbackOutbound {
        LoopbackOutbound {
            me: slot,
            hub: hub.clone(),
        }
    }
}
