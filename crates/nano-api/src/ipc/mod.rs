//! IPC with the reference framing, over TCP and Unix domain sockets: each request is a
//! preamble `'N'`, an encoding byte, two zero bytes, then a big-endian u32 length and the
//! payload; the answer is a length and a payload in the same encoding. A connection carries
//! any number of requests in turn.
//!
//! Encodings: 1 RPC v1 JSON, 2 RPC v1 JSON with unsafe actions (if the transport allows
//! them), 3 IPC 2.0 FlatBuffers, 4 IPC 2.0 JSON envelopes. [`server`] serves them,
//! [`client`] speaks them (the `nano_rpc` process and tests), [`forward`] is the HTTP front
//! of the out-of-process RPC server, [`front_memory`] its count of the answers its
//! connections have not taken.

pub mod client;
pub mod forward;
pub mod front_memory;
pub mod server;

/// First preamble byte.
pub const MAGIC: u8 = b'N';

/// Largest payload accepted (and sent): the RPC's own 32 MiB body limit. A length above it
/// ends the session before anything is allocated.
pub const MAX_PAYLOAD: usize = 32 * 1024 * 1024;

/// Field `nano_rpc` adds to every RPC v1 request it forwards over IPC: the address of the
/// HTTP client that sent it. The node takes it as the request's client for the
/// slow-action pool ([`crate::worker_pool::Client`]) and removes it before the action
/// sees the request, so behind `nano_rpc` clients are told apart as over the node's own
/// HTTP server instead of sharing the key of `nano_rpc`'s IPC connections. Only IPC
/// honours it, whose clients the node already trusts with control actions; `nano_rpc`
/// overwrites whatever an HTTP client put there. Not part of the reference's protocol.
pub const FORWARDED_CLIENT: &str = "nano_rpc_client";

/// The payload encodings of the preamble's second byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Encoding {
    JsonV1 = 1,
    JsonV1Unsafe = 2,
    FlatBuffers = 3,
    FlatBuffersJson = 4,
}

impl Encoding {
    pub fn from_byte(b: u8) -> Option<Encoding> {
        Some(match b {
            1 => Encoding::JsonV1,
            2 => Encoding::JsonV1Unsafe,
            3 => Encoding::FlatBuffers,
            4 => Encoding::FlatBuffersJson,
            _ => return None,
        })
    }

    /// The preamble announcing a request in this encoding.
    pub fn preamble(self) -> [u8; 4] {
        [MAGIC, self as u8, 0, 0]
    }
}

/// Why a preamble was refused; the session is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreambleError {
    BadMagic,
    ReservedNotZero,
    UnknownEncoding(u8),
}

pub fn parse_preamble(p: [u8; 4]) -> Result<Encoding, PreambleError> {
    if p[0] != MAGIC {
        return Err(PreambleError::BadMagic);
    }
    if p[2] != 0 || p[3] != 0 {
        return Err(PreambleError::ReservedNotZero);
    }
    Encoding::from_byte(p[1]).ok_or(PreambleError::UnknownEncoding(p[1]))
}

/// A request frame: preamble, length, payload, in one buffer (one write).
pub fn request_frame(enc: Encoding, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + payload.len());
    v.extend_from_slice(&enc.preamble());
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// A response frame: length and payload.
pub fn response_frame(payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(4 + payload.len());
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}
