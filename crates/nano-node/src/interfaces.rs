//! The seams between the node's services, so transports, consensus and bootstrap can be
//! built and tested apart and wired together in [`crate::node`]:
//!
//! * the network layer implements [`Outbound`] (send to one peer, flood to many) and
//!   calls an [`Inbound`] for each realtime message it receives from a handshaken peer;
//! * consensus and the bootstrap server implement [`Inbound`] and use [`Outbound`].

use std::net::SocketAddrV6;
use std::sync::Arc;

use nano_core::PublicKey;
use nano_messages::Message;

/// A live channel to a peer (TCP realtime connection, or a UDP peer).
pub type ChannelId = u64;

/// What the receiver of a message knows about where it came from.
#[derive(Debug, Clone)]
pub struct ChannelInfo {
    pub id: ChannelId,
    /// Remote endpoint (IPv4 as IPv4-mapped IPv6).
    pub endpoint: SocketAddrV6,
    /// The peer's node id from the handshake.
    pub node_id: PublicKey,
    pub protocol_version: u8,
}

/// Traffic classes for the bounded per-channel send queues: votes and blocks are
/// never starved by keepalives or bootstrap traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrafficType {
    /// Votes, confirm_req, publish.
    Realtime,
    /// asc_pull and other bootstrap traffic on realtime channels.
    Bootstrap,
    /// keepalive, telemetry.
    Background,
}

/// How many peers a flood of `scale` reaches among `channels`: ceil(scale·sqrt(channels)),
/// the reference's `network::fanout` (its simulation found sqrt(peers) random peers enough
/// to reach everyone with high probability). Counted over every channel, principal
/// representatives included, as the reference's `size_sqrt`.
pub fn fanout(channels: usize, scale: f32) -> usize {
    ((scale * (channels as f32).sqrt()).ceil() as usize).min(channels)
}

/// Scale of the flood of a block or vote that is re-sent on behalf of others (an
/// election's winner, a relayed vote): half the plain fan-out, as the reference's
/// `confirmation_solicitor::broadcast` and its vote relay (`flood_vote (vote, 0.5f)`).
pub const RELAY_FLOOD_SCALE: f32 = 0.5;

/// Scale of the random part of the flood of this node's own votes: twice the plain
/// fan-out, as the reference's `vote_generator::broadcast_action` (`flood_vote (vote,
/// 2.0f)`), on top of every principal representative.
pub const OWN_VOTE_FLOOD_SCALE: f32 = 2.0;

/// Scale of a plain flood: the random part of the flood of this node's own blocks
/// (`flood_block_initial`), and the RPC republish (`flood_block`).
pub const PLAIN_FLOOD_SCALE: f32 = 1.0;

/// A principal representative as the representative crawler knows it: the account the
/// elections tally, and the channel its votes came on (the reference's `representative`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalRep {
    pub account: PublicKey,
    pub channel: ChannelId,
}

/// Sending side of the network, as seen by consensus and bootstrap.
pub trait Outbound: Send + Sync {
    /// Queues `msg` on one channel; false when the channel is gone or its queue is full.
    fn send(&self, channel: ChannelId, msg: &Message, traffic: TrafficType) -> bool;
    /// Sends to [`fanout`]`(channels, scale)` random channels, dropped over the bandwidth
    /// limit (the reference's `flood_message`); returns how many were queued.
    fn flood(&self, msg: &Message, scale: f32) -> usize;
    /// Sends to every channel; returns how many were queued.
    fn broadcast(&self, msg: &Message) -> usize;
    /// Sends a block this node originates: to every principal representative's channel,
    /// and to [`fanout`]`(channels, 1.0)` random channels that are not one (the
    /// reference's `flood_block_initial`), whatever the bandwidth limit. Without
    /// representative knowledge this is a plain flood.
    fn flood_initial(&self, msg: &Message) -> usize {
        self.flood(msg, PLAIN_FLOOD_SCALE)
    }
    /// Sends a vote this node made: to every principal representative's channel whatever
    /// the bandwidth limit (`flood_vote_pr`), and to [`fanout`]`(channels, 2.0)` random
    /// channels (`flood_vote (vote, 2.0f)`), each channel once.
    fn flood_own_vote(&self, msg: &Message) -> usize {
        self.flood(msg, OWN_VOTE_FLOOD_SCALE)
    }
    /// The principal representatives (at least 0.1% of the trended online weight) on
    /// open channels, heaviest first, as the reference's
    /// `rep_crawler::principal_representatives`. Empty without representative knowledge.
    fn principal_representatives(&self) -> Vec<PrincipalRep> {
        Vec::new()
    }
    /// Snapshot of the live realtime channels.
    fn channels(&self) -> Vec<ChannelInfo>;
}

/// Receiving side: called by the network for realtime messages from handshaken peers
/// (publish, confirm_req, confirm_ack, asc_pull_req, asc_pull_ack). Must not block for
/// long: heavy work goes to queues.
pub trait Inbound: Send + Sync {
    fn on_message(&self, from: &ChannelInfo, msg: Message);
    /// Whether [`Inbound::on_message`] does anything with `msg`; a fan-out copies a
    /// message only for the handlers that want it (a vote flood then costs no copy
    /// for the bootstrap client).
    fn wants(&self, _msg: &Message) -> bool {
        true
    }
}

/// An [`Inbound`] that drops everything; the default before consensus is attached.
pub struct NullInbound;
impl Inbound for NullInbound {
    fn on_message(&self, _from: &ChannelInfo, _msg: Message) {}
}

/// Fan-out to several inbound handlers (consensus, bootstrap server, rep crawler).
pub struct InboundFanout(pub Vec<Arc<dyn Inbound>>);
impl Inbound for InboundFanout {
    fn on_message(&self, from: &ChannelInfo, msg: Message) {
        let mut wanting = self.0.iter().filter(|h| h.wants(&msg)).peekable();
        while let Some(h) = wanting.next() {
            if wanting.peek().is_none() {
                h.on_message(from, msg);
                return;
            }
            h.on_message(from, msg.clone());
        }
    }
}
