//! The 8-byte message header: network magic, protocol versions, message type and the
//! 16-bit extensions field, plus the rule that turns a header into a payload length.
//! Everything a receiver must check before reading (or allocating for) a payload lives
//! here, so the codec, the datagram path and the analyzer apply the same checks.

use nano_core::network::{PROTOCOL_VERSION, PROTOCOL_VERSION_MIN};
use nano_core::{BlockType, Network};

/// Size of the header on the wire.
pub const HEADER_SIZE: usize = 8;
/// Largest payload a receiver accepts (65 KiB); checked before any payload buffer is sized.
pub const MAX_PAYLOAD_SIZE: usize = 65 * 1024;
/// A keepalive payload: eight peer slots of 18 bytes (IPv6 address and port). Defined
/// here, with the other sizes the header implies, so framing needs no message module.
pub const KEEPALIVE_PAYLOAD_SIZE: usize = 8 * 18;
/// The part of a confirm_ack payload before its hashes: account, signature, timestamp.
pub const VOTE_FIXED_SIZE: usize = 32 + 64 + 8;

/// Why an 8-byte header was refused. Every variant is fatal for a TCP stream because the
/// payload length of what follows is unknown or untrusted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header needs 8 bytes, got {0}")]
    TooShort(usize),
    #[error("unknown network magic {0:02X?}")]
    UnknownNetwork([u8; 2]),
    #[error("message for another network: magic {got:02X?}, expected {expected}")]
    WrongNetwork { expected: Network, got: [u8; 2] },
    #[error("peer uses protocol version {0:#04x}, below the minimum 0x14")]
    VersionTooOld(u8),
    #[error("invalid message type {0:#04x}")]
    InvalidType(u8),
    #[error("payload of {size} bytes exceeds the protocol maximum of 66560")]
    PayloadTooLarge { size: usize },
}

/// The message types of protocol 0x15. Codes 0, 1 and 9 are not representable: a header
/// carrying them is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MessageType {
    Keepalive = 0x02,
    Publish = 0x03,
    ConfirmReq = 0x04,
    ConfirmAck = 0x05,
    BulkPull = 0x06,
    BulkPush = 0x07,
    FrontierReq = 0x08,
    NodeIdHandshake = 0x0a,
    BulkPullAccount = 0x0b,
    TelemetryReq = 0x0c,
    TelemetryAck = 0x0d,
    AscPullReq = 0x0e,
    AscPullAck = 0x0f,
}

impl MessageType {
    pub const ALL: [MessageType; 13] = [
        MessageType::Keepalive,
        MessageType::Publish,
        MessageType::ConfirmReq,
        MessageType::ConfirmAck,
        MessageType::BulkPull,
        MessageType::BulkPush,
        MessageType::FrontierReq,
        MessageType::NodeIdHandshake,
        MessageType::BulkPullAccount,
        MessageType::TelemetryReq,
        MessageType::TelemetryAck,
        MessageType::AscPullReq,
        MessageType::AscPullAck,
    ];

    pub fn from_u8(v: u8) -> Option<MessageType> {
        Some(match v {
            0x02 => MessageType::Keepalive,
            0x03 => MessageType::Publish,
            0x04 => MessageType::ConfirmReq,
            0x05 => MessageType::ConfirmAck,
            0x06 => MessageType::BulkPull,
            0x07 => MessageType::BulkPush,
            0x08 => MessageType::FrontierReq,
            0x0a => MessageType::NodeIdHandshake,
            0x0b => MessageType::BulkPullAccount,
            0x0c => MessageType::TelemetryReq,
            0x0d => MessageType::TelemetryAck,
            0x0e => MessageType::AscPullReq,
            0x0f => MessageType::AscPullAck,
            _ => return None,
        })
    }

    /// The reference node's name, as logs, stats and the analyzer print it.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageType::Keepalive => "keepalive",
            MessageType::Publish => "publish",
            MessageType::ConfirmReq => "confirm_req",
            MessageType::ConfirmAck => "confirm_ack",
            MessageType::BulkPull => "bulk_pull",
            MessageType::BulkPush => "bulk_push",
            MessageType::FrontierReq => "frontier_req",
            MessageType::NodeIdHandshake => "node_id_handshake",
            MessageType::BulkPullAccount => "bulk_pull_account",
            MessageType::TelemetryReq => "telemetry_req",
            MessageType::TelemetryAck => "telemetry_ack",
            MessageType::AscPullReq => "asc_pull_req",
            MessageType::AscPullAck => "asc_pull_ack",
        }
    }

    /// Message types whose payload may hold bytes this version does not understand
    /// (forward compatibility); all others must be consumed exactly.
    pub fn allows_trailing_bytes(self) -> bool {
        matches!(
            self,
            MessageType::TelemetryAck | MessageType::AscPullReq | MessageType::AscPullAck
        )
    }
}

/// Extension bits, named by the message that gives them meaning.
pub mod ext {
    /// publish, confirm_req, confirm_ack: block type nibble (bits 8-11).
    pub const BLOCK_TYPE_MASK: u16 = 0x0F00;
    pub const BLOCK_TYPE_SHIFT: u16 = 8;
    /// publish: first broadcast by the block's creator.
    pub const PUBLISH_ORIGINATOR: u16 = 0x0004;
    /// confirm_req / confirm_ack: count uses the split 8-bit (v2) form.
    pub const CONFIRM_V2_COUNT: u16 = 0x0001;
    /// confirm_ack: the vote is relayed, not originated by the representative.
    pub const CONFIRM_ACK_REBROADCAST: u16 = 0x0004;
    /// bulk_pull: 8 extended bytes with a count follow.
    pub const BULK_PULL_COUNT_PRESENT: u16 = 0x0001;
    /// bulk_pull: walk from the open block towards the frontier.
    pub const BULK_PULL_ASCENDING: u16 = 0x0002;
    /// frontier_req: only confirmed frontiers.
    pub const FRONTIER_REQ_CONFIRMED: u16 = 0x0002;
    /// node_id_handshake parts and version.
    pub const HANDSHAKE_QUERY: u16 = 0x0001;
    pub const HANDSHAKE_RESPONSE: u16 = 0x0002;
    pub const HANDSHAKE_V2: u16 = 0x0004;
    /// telemetry_ack: payload size.
    pub const TELEMETRY_SIZE_MASK: u16 = 0x03FF;
}

/// Number of hash/root pairs or vote hashes encoded in a confirm_req/confirm_ack header.
pub fn confirm_count(extensions: u16) -> usize {
    let high = (extensions >> 12) as usize;
    if extensions & ext::CONFIRM_V2_COUNT != 0 {
        (high << 4) | ((extensions >> 4) & 0xF) as usize
    } else {
        high
    }
}

/// Extensions carrying `count` (0..=255) the way the reference node writes them: the
/// 4-bit form below 16, the split form with the v2 flag from 16 on, and always the
/// `not_a_block` nibble for compatibility with ≤ V25.1 peers.
pub fn confirm_extensions(count: usize) -> u16 {
    let nibble = (BlockType::NotABlock as u16) << ext::BLOCK_TYPE_SHIFT;
    let count = (count & 0xFF) as u16;
    if count < 16 {
        nibble | (count << 12)
    } else {
        nibble | ext::CONFIRM_V2_COUNT | ((count >> 4) << 12) | ((count & 0xF) << 4)
    }
}

/// The block type nibble of publish headers (bits 8-11), as a raw code.
pub fn block_type_code(extensions: u16) -> u8 {
    ((extensions & ext::BLOCK_TYPE_MASK) >> ext::BLOCK_TYPE_SHIFT) as u8
}

/// A decoded header. Versions are kept as received so an analyzer can report them and a
/// re-encoded header can reproduce them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    pub network: Network,
    pub version_max: u8,
    pub version_using: u8,
    pub version_min: u8,
    pub message_type: MessageType,
    pub extensions: u16,
}

impl Header {
    /// A header as this node sends it (versions 0x15/0x15/0x14).
    pub fn new(network: Network, message_type: MessageType, extensions: u16) -> Header {
        Header {
            network,
            version_max: PROTOCOL_VERSION,
            version_using: PROTOCOL_VERSION,
            version_min: PROTOCOL_VERSION_MIN,
            message_type,
            extensions,
        }
    }

    pub fn encode(&self) -> [u8; HEADER_SIZE] {
        let m = self.network.magic();
        let e = self.extensions.to_le_bytes();
        [
            m[0],
            m[1],
            self.version_max,
            self.version_using,
            self.version_min,
            self.message_type as u8,
            e[0],
            e[1],
        ]
    }

    /// Decodes a header of any known network (the analyzer's view). Only the first 8
    /// bytes of `bytes` are read.
    pub fn decode(bytes: &[u8]) -> Result<Header, HeaderError> {
        Self::decode_inner(bytes, None)
    }

    /// Decodes a header and requires it to belong to `network` (the node's view).
    pub fn decode_for(bytes: &[u8], network: Network) -> Result<Header, HeaderError> {
        Self::decode_inner(bytes, Some(network))
    }

    /// Applies the receiver's checks in the reference order: network, version_using,
    /// type, payload length.
    pub(crate) fn decode_inner(
        bytes: &[u8],
        expected: Option<Network>,
    ) -> Result<Header, HeaderError> {
        let b: &[u8; HEADER_SIZE] = bytes
            .get(..HEADER_SIZE)
            .and_then(|s| s.try_into().ok())
            .ok_or(HeaderError::TooShort(bytes.len()))?;
        let magic = [b[0], b[1]];
        let network = match expected {
            Some(n) if n.magic() == magic => n,
            Some(n) => {
                return Err(HeaderError::WrongNetwork {
                    expected: n,
                    got: magic,
                })
            }
            None => Network::from_magic(magic).ok_or(HeaderError::UnknownNetwork(magic))?,
        };
        if b[3] < PROTOCOL_VERSION_MIN {
            return Err(HeaderError::VersionTooOld(b[3]));
        }
        let message_type = MessageType::from_u8(b[5]).ok_or(HeaderError::InvalidType(b[5]))?;
        let header = Header {
            network,
            version_max: b[2],
            version_using: b[3],
            version_min: b[4],
            message_type,
            extensions: u16::from_le_bytes([b[6], b[7]]),
        };
        let size = header.payload_size();
        if size > MAX_PAYLOAD_SIZE {
            return Err(HeaderError::PayloadTooLarge { size });
        }
        Ok(header)
    }

    /// Payload length implied by the type and extensions (table 5.2 of the fact sheet).
    ///
    /// A publish whose nibble is not a block type yields 0, as in the reference node: the
    /// stream stays framed and the empty payload then fails to parse as one message.
    pub fn payload_size(&self) -> usize {
        let e = self.extensions;
        match self.message_type {
            MessageType::Keepalive => KEEPALIVE_PAYLOAD_SIZE,
            MessageType::Publish => BlockType::from_u8(block_type_code(e))
                .and_then(BlockType::body_size)
                .unwrap_or(0),
            MessageType::ConfirmReq => confirm_count(e) * 64,
            MessageType::ConfirmAck => VOTE_FIXED_SIZE + confirm_count(e) * 32,
            MessageType::BulkPull => {
                64 + if e & ext::BULK_PULL_COUNT_PRESENT != 0 {
                    8
                } else {
                    0
                }
            }
            MessageType::BulkPush | MessageType::TelemetryReq => 0,
            MessageType::FrontierReq => 40,
            MessageType::NodeIdHandshake => {
                let query = if e & ext::HANDSHAKE_QUERY != 0 { 32 } else { 0 };
                let response = match (e & ext::HANDSHAKE_RESPONSE != 0, e & ext::HANDSHAKE_V2 != 0)
                {
                    (false, _) => 0,
                    (true, false) => 96,
                    (true, true) => 160,
                };
                query + response
            }
            MessageType::BulkPullAccount => 49,
            MessageType::TelemetryAck => (e & ext::TELEMETRY_SIZE_MASK) as usize,
            MessageType::AscPullReq | MessageType::AscPullAck => 9 + e as usize,
        }
    }
}
