//! Framing: the tokio-util codec for TCP streams and the one-message-per-datagram path
//! for UDP.
//!
//! The codec separates the two kinds of failure a receiver must treat differently:
//! a bad header (wrong network, old version, unknown type, oversize payload) is returned
//! as `Err` and ends the stream, because nothing after it can be framed; a bad payload
//! is framed correctly, so it is reported inside the [`Frame`] item
//! (`frame.message` is `Err`) and the next call decodes the next message.

use bytes::{Buf, Bytes, BytesMut};
use nano_core::Network;
use tokio_util::codec::{Decoder, Encoder};

use crate::error::MessageError;
use crate::error::{CodecError, DatagramError, EncodeError};
use crate::header::{Header, HEADER_SIZE};
use crate::message::Message;

/// One framed message from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: Header,
    /// The raw payload: the duplicate filter hashes these bytes, and the analyzer stores
    /// them. Shares the read buffer, no copy.
    pub payload: Bytes,
    /// The parsed message, or why this one message must be dropped.
    pub message: Result<Message, MessageError>,
}

/// Decoder and encoder of realtime and bootstrap-request messages on a TCP stream.
///
/// The payload size is computed from the header and checked against the protocol
/// maximum before the read buffer is asked to grow, so a hostile header cannot make us
/// allocate. Bootstrap response streams (frontiers, blocks, pending entries) are not
/// messages: switch to the decoders of [`crate::stream`] for them, keeping the buffer.
#[derive(Debug, Clone)]
pub struct MessageCodec {
    network: Network,
    any_network: bool,
    pending: Option<Header>,
    scratch: Vec<u8>,
}

impl MessageCodec {
    /// A codec that sends on `network` and refuses messages from any other network.
    pub fn new(network: Network) -> MessageCodec {
        MessageCodec {
            network,
            any_network: false,
            pending: None,
            scratch: Vec::new(),
        }
    }

    /// Also accepts messages of the other known networks (the analyzer reads captures
    /// of any network); encoding still uses the codec's own network.
    pub fn accept_any_network(mut self) -> MessageCodec {
        self.any_network = true;
        self
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// The header read but whose payload has not fully arrived yet, if any.
    pub fn pending_header(&self) -> Option<&Header> {
        self.pending.as_ref()
    }
}

impl Decoder for MessageCodec {
    type Item = Frame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        let header = match self.pending {
            Some(h) => h,
            None => {
                if src.len() < HEADER_SIZE {
                    src.reserve(HEADER_SIZE - src.len());
                    return Ok(None);
                }
                let expected = (!self.any_network).then_some(self.network);
                let h = Header::decode_inner(&src[..HEADER_SIZE], expected)?;
                src.advance(HEADER_SIZE);
                self.pending = Some(h);
                h
            }
        };
        // Bounded by MAX_PAYLOAD_SIZE: decode_inner refused anything larger.
        let size = header.payload_size();
        if src.len() < size {
            src.reserve(size - src.len());
            return Ok(None);
        }
        self.pending = None;
        let payload = src.split_to(size).freeze();
        let message = Message::decode(&header, &payload);
        Ok(Some(Frame {
            header,
            payload,
            message,
        }))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, CodecError> {
        match self.decode(buf)? {
            Some(frame) => Ok(Some(frame)),
            None if buf.is_empty() && self.pending.is_none() => Ok(None),
            None => Err(CodecError::TruncatedAtEof(
                buf.len() + self.pending.map_or(0, |_| HEADER_SIZE),
            )),
        }
    }
}

impl Encoder<&Message> for MessageCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.scratch.clear();
        item.encode(self.network, &mut self.scratch)?;
        dst.extend_from_slice(&self.scratch);
        Ok(())
    }
}

impl Encoder<Message> for MessageCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        <Self as Encoder<&Message>>::encode(self, &item, dst)
    }
}

/// Decodes one UDP datagram holding exactly one message. `network = None` accepts any
/// known network. Bytes after the message are refused, except after telemetry_ack and
/// asc_pull_* whose formats allow trailing data.
pub fn decode_datagram(
    datagram: &[u8],
    network: Option<Network>,
) -> Result<(Header, Message), DatagramError> {
    let header = Header::decode_inner(datagram, network)?;
    let size = header.payload_size();
    let body = &datagram[HEADER_SIZE..];
    if body.len() < size {
        return Err(DatagramError::Truncated {
            expected: size,
            got: body.len(),
        });
    }
    if body.len() > size && !header.message_type.allows_trailing_bytes() {
        return Err(DatagramError::TrailingBytes {
            count: body.len() - size,
        });
    }
    let message = Message::decode(&header, &body[..size])?;
    Ok((header, message))
}

/// Encodes a message into a fresh datagram.
pub fn encode_datagram(message: &Message, network: Network) -> Result<Vec<u8>, EncodeError> {
    message.to_bytes(network)
}
