//! The [`Message`] enum over all 13 message types, the realtime payloads that need no
//! module of their own (publish, confirm_req, confirm_ack), and the dispatch that turns a
//! header plus payload into a message and back.

use nano_core::{Block, BlockHash, BlockType, Network, Root};

use crate::asc_pull::{AscPullAck, AscPullReq};
use crate::bootstrap::{BulkPull, BulkPullAccount, FrontierReq};
use crate::error::{EncodeError, MessageError};
use crate::handshake::NodeIdHandshake;
use crate::header::{
    block_type_code, confirm_count, confirm_extensions, ext, Header, MessageType, HEADER_SIZE,
};
use crate::keepalive::Keepalive;
use crate::telemetry::TelemetryData;
use crate::vote::Vote;
use crate::wire::Reader;

/// A block flooded to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    pub block: Block,
    /// Set by the block's creator on first broadcast; relays clear it.
    pub originator: bool,
}

/// Asks representatives to vote on (hash, root) pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmReq {
    pub pairs: Vec<(BlockHash, Root)>,
}

impl ConfirmReq {
    pub const MAX_PAIRS: usize = 255;
}

/// A vote, and whether it is being relayed rather than sent by its representative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmAck {
    pub vote: Vote,
    pub rebroadcast: bool,
}

/// Every message of protocol 0x15. Large payloads are boxed so the enum stays small
/// enough to move around cheaply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Keepalive(Box<Keepalive>),
    Publish(Box<Publish>),
    ConfirmReq(ConfirmReq),
    ConfirmAck(Box<ConfirmAck>),
    BulkPull(BulkPull),
    BulkPush,
    FrontierReq(FrontierReq),
    NodeIdHandshake(Box<NodeIdHandshake>),
    BulkPullAccount(BulkPullAccount),
    TelemetryReq,
    /// `None` is the empty telemetry_ack (size 0) that the reference node can send.
    TelemetryAck(Option<Box<TelemetryData>>),
    AscPullReq(AscPullReq),
    AscPullAck(AscPullAck),
}

impl Message {
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Keepalive(_) => MessageType::Keepalive,
            Message::Publish(_) => MessageType::Publish,
            Message::ConfirmReq(_) => MessageType::ConfirmReq,
            Message::ConfirmAck(_) => MessageType::ConfirmAck,
            Message::BulkPull(_) => MessageType::BulkPull,
            Message::BulkPush => MessageType::BulkPush,
            Message::FrontierReq(_) => MessageType::FrontierReq,
            Message::NodeIdHandshake(_) => MessageType::NodeIdHandshake,
            Message::BulkPullAccount(_) => MessageType::BulkPullAccount,
            Message::TelemetryReq => MessageType::TelemetryReq,
            Message::TelemetryAck(_) => MessageType::TelemetryAck,
            Message::AscPullReq(_) => MessageType::AscPullReq,
            Message::AscPullAck(_) => MessageType::AscPullAck,
        }
    }

    /// Parses a payload whose length the header fixed. `payload` must be exactly
    /// `header.payload_size()` bytes (the codec and datagram paths guarantee it).
    pub fn decode(header: &Header, payload: &[u8]) -> Result<Message, MessageError> {
        let expected = header.payload_size();
        if payload.len() != expected {
            return Err(MessageError::PayloadSize {
                message_type: header.message_type,
                expected,
                got: payload.len(),
            });
        }
        let e = header.extensions;
        let mut r = Reader::new(payload);
        let msg = match header.message_type {
            MessageType::Keepalive => Message::Keepalive(Box::new(Keepalive::decode(&mut r)?)),
            MessageType::Publish => {
                let code = block_type_code(e);
                let bt = BlockType::from_u8(code)
                    .filter(|t| t.body_size().is_some())
                    .ok_or(MessageError::InvalidBlockType(code))?;
                let block = Block::deserialize(bt, r.rest())?;
                Message::Publish(Box::new(Publish {
                    block,
                    originator: e & ext::PUBLISH_ORIGINATOR != 0,
                }))
            }
            MessageType::ConfirmReq => {
                let count = confirm_count(e);
                if count == 0 {
                    return Err(MessageError::NoPairs);
                }
                let mut pairs = Vec::with_capacity(count);
                for index in 0..count {
                    let hash = r.hash()?;
                    let root = Root(r.array()?);
                    // The reference node skips all-zero pairs and then refuses the
                    // message because one was skipped; the outcome is a refusal.
                    if hash.is_zero() && root.is_zero() {
                        return Err(MessageError::ZeroPair { index });
                    }
                    pairs.push((hash, root));
                }
                Message::ConfirmReq(ConfirmReq { pairs })
            }
            MessageType::ConfirmAck => {
                let vote = Vote::decode(&mut r, confirm_count(e))?;
                Message::ConfirmAck(Box::new(ConfirmAck {
                    vote,
                    rebroadcast: e & ext::CONFIRM_ACK_REBROADCAST != 0,
                }))
            }
            MessageType::BulkPull => Message::BulkPull(BulkPull::decode(&mut r, e)?),
            MessageType::BulkPush => Message::BulkPush,
            MessageType::FrontierReq => Message::FrontierReq(FrontierReq::decode(&mut r, e)?),
            MessageType::NodeIdHandshake => {
                Message::NodeIdHandshake(Box::new(NodeIdHandshake::decode(&mut r, e)?))
            }
            MessageType::BulkPullAccount => {
                Message::BulkPullAccount(BulkPullAccount::decode(&mut r)?)
            }
            MessageType::TelemetryReq => Message::TelemetryReq,
            MessageType::TelemetryAck => {
                if payload.is_empty() {
                    Message::TelemetryAck(None)
                } else {
                    Message::TelemetryAck(Some(Box::new(TelemetryData::decode(&mut r)?)))
                }
            }
            MessageType::AscPullReq => Message::AscPullReq(AscPullReq::decode(&mut r)?),
            MessageType::AscPullAck => Message::AscPullAck(AscPullAck::decode(&mut r)?),
        };
        if !header.message_type.allows_trailing_bytes() {
            r.finish()?;
        }
        Ok(msg)
    }

    /// Refuses values the wire cannot express, before anything is written.
    fn check(&self) -> Result<(), EncodeError> {
        let too_many = |what, count, max| {
            if count > max {
                Err(EncodeError::TooMany { what, count, max })
            } else {
                Ok(())
            }
        };
        match self {
            Message::ConfirmReq(c) => {
                if c.pairs.is_empty() {
                    return Err(EncodeError::Empty("confirm_req pairs"));
                }
                if c.pairs.iter().any(|(h, r)| h.is_zero() && r.is_zero()) {
                    return Err(EncodeError::ZeroEntry("confirm_req pair"));
                }
                too_many("confirm_req pairs", c.pairs.len(), ConfirmReq::MAX_PAIRS)
            }
            Message::ConfirmAck(a) => {
                too_many("vote hashes", a.vote.hashes.len(), Vote::MAX_HASHES)
            }
            Message::TelemetryAck(Some(t)) => too_many(
                "telemetry unknown data",
                t.unknown_data.len(),
                TelemetryData::MAX_UNKNOWN_DATA,
            ),
            Message::AscPullAck(a) => a.check(),
            _ => Ok(()),
        }
    }

    /// Header extensions as the reference node writes them for this message.
    pub fn extensions(&self) -> u16 {
        match self {
            Message::Publish(p) => {
                let mut e = (p.block.block_type() as u16) << ext::BLOCK_TYPE_SHIFT;
                if p.originator {
                    e |= ext::PUBLISH_ORIGINATOR;
                }
                e
            }
            Message::ConfirmReq(c) => confirm_extensions(c.pairs.len()),
            Message::ConfirmAck(a) => {
                let mut e = confirm_extensions(a.vote.hashes.len());
                if a.rebroadcast {
                    e |= ext::CONFIRM_ACK_REBROADCAST;
                }
                e
            }
            Message::BulkPull(b) => b.extensions(),
            Message::FrontierReq(f) => f.extensions(),
            Message::NodeIdHandshake(h) => h.extensions(),
            Message::TelemetryAck(t) => t.as_ref().map_or(0, |t| t.serialized_size() as u16),
            Message::AscPullReq(a) => a.extensions(),
            Message::AscPullAck(a) => a.extensions(),
            Message::Keepalive(_)
            | Message::BulkPush
            | Message::BulkPullAccount(_)
            | Message::TelemetryReq => 0,
        }
    }

    /// The header this node would send for this message on `network`.
    pub fn header(&self, network: Network) -> Header {
        Header::new(network, self.message_type(), self.extensions())
    }

    /// Payload size once encoded (what the header will announce).
    pub fn payload_size(&self) -> usize {
        match self {
            Message::Keepalive(_) => Keepalive::SIZE,
            Message::Publish(p) => p.block.size(),
            Message::ConfirmReq(c) => c.pairs.len() * 64,
            Message::ConfirmAck(a) => a.vote.serialized_size(),
            Message::BulkPull(b) => b.payload_size(),
            Message::BulkPush | Message::TelemetryReq => 0,
            Message::FrontierReq(_) => FrontierReq::SIZE,
            Message::NodeIdHandshake(h) => h.payload_size(),
            Message::BulkPullAccount(_) => BulkPullAccount::SIZE,
            Message::TelemetryAck(t) => t.as_ref().map_or(0, |t| t.serialized_size()),
            Message::AscPullReq(a) => 9 + a.extensions() as usize,
            Message::AscPullAck(a) => 9 + a.extensions() as usize,
        }
    }

    /// Appends only the payload (no header). On error nothing is appended.
    pub fn encode_payload(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.check()?;
        self.write_payload(out);
        Ok(())
    }

    fn write_payload(&self, out: &mut Vec<u8>) {
        match self {
            Message::Keepalive(k) => k.encode(out),
            Message::Publish(p) => p.block.serialize(out),
            Message::ConfirmReq(c) => {
                for (h, r) in &c.pairs {
                    out.extend_from_slice(&h.0);
                    out.extend_from_slice(&r.0);
                }
            }
            Message::ConfirmAck(a) => a.vote.encode(out),
            Message::BulkPull(b) => b.encode(out),
            Message::BulkPush | Message::TelemetryReq => {}
            Message::FrontierReq(f) => f.encode(out),
            Message::NodeIdHandshake(h) => h.encode(out),
            Message::BulkPullAccount(b) => b.encode(out),
            Message::TelemetryAck(t) => {
                if let Some(t) = t {
                    t.encode(out)
                }
            }
            Message::AscPullReq(a) => a.encode(out),
            Message::AscPullAck(a) => a.encode(out),
        }
    }

    /// Appends header and payload as the reference node writes them for `network`.
    /// On error nothing is appended.
    pub fn encode(&self, network: Network, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.check()?;
        out.reserve(HEADER_SIZE + self.payload_size());
        out.extend_from_slice(&self.header(network).encode());
        self.write_payload(out);
        Ok(())
    }

    pub fn to_bytes(&self, network: Network) -> Result<Vec<u8>, EncodeError> {
        let mut v = Vec::new();
        self.encode(network, &mut v)?;
        Ok(v)
    }
}
