//! `nano-messages` owns the Nano wire protocol (version 0x15, accepting peers from 0x14):
//! the 8-byte header and its checks, every message type, votes and telemetry signing,
//! the bootstrap response streams, a tokio-util codec for TCP and datagram decoding for
//! UDP. The node and the `nanocap` analyzer both decode with this crate.
//!
//! Decoding is total: any byte sequence yields a value or a typed error, never a panic,
//! and no buffer is sized from a length field before that length has been checked
//! against the protocol maximum. Decoding accepts both variants where the reference
//! node and RsNano differ; encoding produces the reference node's bytes.
//!
//! Layers, from bytes up:
//! * [`header`] — header, message types, extension bits, payload length rule.
//! * [`message`] — the [`Message`] enum, publish/confirm_req/confirm_ack, dispatch;
//!   [`keepalive`], [`vote`], [`handshake`], [`telemetry`], [`bootstrap`] and
//!   [`asc_pull`] hold the other payloads.
//! * [`codec`] — TCP framing ([`MessageCodec`], per-message errors in [`Frame`]) and UDP
//!   ([`decode_datagram`]).
//! * [`stream`] — frontier, block and pending-entry streams of legacy bootstrap.

pub mod asc_pull;
pub mod bootstrap;
pub mod codec;
pub mod error;
pub mod handshake;
pub mod header;
pub mod keepalive;
pub mod message;
pub mod stream;
pub mod telemetry;
pub mod vote;
mod wire;

pub use asc_pull::{
    AccountInfoAck, AscPullAck, AscPullAckPayload, AscPullReq, AscPullReqPayload, HashType,
};
pub use bootstrap::{BulkPull, BulkPullAccount, BulkPullAccountFlags, FrontierReq, HashOrAccount};
pub use codec::{decode_datagram, encode_datagram, Frame, MessageCodec};
pub use error::{CodecError, DatagramError, EncodeError, MessageError};
pub use handshake::{Cookie, HandshakeResponse, HandshakeV2, NodeIdHandshake};
pub use header::{Header, HeaderError, MessageType, HEADER_SIZE, MAX_PAYLOAD_SIZE};
pub use keepalive::Keepalive;
pub use message::{ConfirmAck, ConfirmReq, Message, Publish};
pub use stream::{
    BlockStreamCodec, BulkPullAccountItem, BulkPullAccountStreamCodec, Frontier,
    FrontierStreamCodec, Next, PendingEntry, StreamError, StreamItem,
};
pub use telemetry::TelemetryData;
pub use vote::Vote;
