//! The crate's error types, split by what the caller must do about them:
//! [`HeaderError`] (in `header`, next to the rule it reports) means the byte stream can
//! no longer be framed (close the connection), [`MessageError`] means one message was
//! malformed (drop it, keep reading), [`EncodeError`] means a value cannot be expressed
//! on the wire, and [`crate::StreamError`] (in `stream`) / [`CodecError`] wrap these for
//! the stream decoders and the tokio-util codec.

use nano_core::BlockError;

use crate::header::{HeaderError, MessageType};

/// Why the payload of one correctly framed message was refused. The connection may
/// continue: the next message starts right after this payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("{message_type:?} payload must be {expected} bytes, got {got}")]
    PayloadSize {
        message_type: MessageType,
        expected: usize,
        got: usize,
    },
    #[error("payload truncated: needed {needed} bytes at offset {offset}, {available} left")]
    Truncated {
        offset: usize,
        needed: usize,
        available: usize,
    },
    #[error("{count} unexpected trailing bytes")]
    TrailingBytes { count: usize },
    #[error("header block type {0} is not a block")]
    InvalidBlockType(u8),
    #[error("block: {0}")]
    Block(#[from] BlockError),
    #[error("confirm_req carries no hash/root pairs")]
    NoPairs,
    #[error("confirm_req pair {index} is all zero")]
    ZeroPair { index: usize },
    #[error("bulk_pull extended count must start with a zero byte, got {0:#04x}")]
    ExtendedCountPrefix(u8),
    #[error("unknown bulk_pull_account flags {0:#04x}")]
    BulkPullAccountFlags(u8),
    #[error("unknown asc_pull type {0:#04x}")]
    AscPullType(u8),
    #[error("unknown hash type {0:#04x} (expected 0 account or 1 block)")]
    HashType(u8),
    #[error("too many {what}: more than {max}")]
    TooMany { what: &'static str, max: usize },
    #[error("{0} list is missing its terminator")]
    MissingTerminator(&'static str),
    #[error("block type {0} cannot appear in a block list")]
    ListBlockType(u8),
}

/// Why a value cannot be written: a count that the header or protocol cannot express.
/// Checked before anything is written, so a failed encode leaves the output untouched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("{what}: {count} exceeds the maximum of {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("{0}: an all-zero entry would read as a terminator or be refused")]
    ZeroEntry(&'static str),
}

/// Errors of the tokio-util [`crate::MessageCodec`]. Per-message payload problems are not
/// here: they are reported inside each decoded [`crate::Frame`].
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("header: {0}")]
    Header(#[from] HeaderError),
    #[error("encode: {0}")]
    Encode(#[from] EncodeError),
    #[error("connection closed in the middle of a message ({0} bytes left over)")]
    TruncatedAtEof(usize),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a UDP datagram was refused; there is no stream to keep, so one type covers all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    #[error("header: {0}")]
    Header(#[from] HeaderError),
    #[error("datagram truncated: payload needs {expected} bytes, got {got}")]
    Truncated { expected: usize, got: usize },
    #[error("{count} bytes after the message in the datagram")]
    TrailingBytes { count: usize },
    #[error("message: {0}")]
    Message(#[from] MessageError),
}
