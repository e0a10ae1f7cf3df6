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

/// Sending side of the network, as seen by consensus and bootstrap.
pub trait Outbound: Send + Sync {
    /// Queues `msg` on one channel; false when the channel is gone or its queue is full.
    fn send(&self, channel: ChannelId, msg: &Message, traffic: TrafficType) -> bool;
    /// Sends to a random subset of about sqrt(peers) channels (at least `min`), skipping
    /// `exclude`; returns how many were queued.
    fn flood(&self, msg: &Message, min: usize, exclude: Option<ChannelId>) -> usize;
    /// Sends to every channel; returns how many were queued.
    fn broadcast(&self, msg: &Message) -> usize;
    /// Sends what this node originates (its own blocks and votes): to every channel of a
    /// known principal representative (at least 0.1% of the trended online weight), and
    /// to about sqrt of the other channels (as the reference's `flood_block_initial` /
    /// `flood_vote_pr`), so peers that are not principal representatives
    /// cannot crowd representatives out of the fan-out or of the bandwidth budget. The
    /// default (no representative knowledge) floods to at least 16 channels.
    fn flood_initial(&self, msg: &Message) -> usize {
        self.flood(msg, 16, None)
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
