//! Framing: cuts a direction's byte stream into Nano messages with `nano-messages`'
//! header rule or, after a bootstrap request, into that response stream's entries with
//! its stream decoder; one error per run of undecodable bytes, then resynchronises.

use std::sync::atomic::Ordering;

use nano_core::Block;
use nano_messages::{
    BulkPullAccountItem, Header, HeaderError, Message, Next, PendingEntry, StreamError, StreamItem,
    HEADER_SIZE,
};

use super::rows::hex;
use super::{Ctx, Emitter, Flow, Mode};
use crate::db::Val;
use crate::schema::Table;

impl Mode {
    pub(super) fn stream_name(&self) -> &'static str {
        match self {
            Mode::Messages => "messages",
            Mode::Frontiers { .. } => "frontier_req response",
            Mode::BulkPullBlocks { .. } => "bulk_pull response",
            Mode::BulkPullAccount { .. } => "bulk_pull_account response",
            Mode::BulkPushBlocks { .. } => "bulk_push",
        }
    }
}

/// What differs between the two block streams: the table their rows go to, the row's
/// second column (the request id of a bulk_pull, the packet id of a bulk_push), the
/// packet their blocks are attributed to, and the texts of their end and failure.
struct BlockStream {
    table: Table,
    owner: i64,
    packet_id: i64,
    end: &'static str,
    invalid: &'static str,
}

impl Emitter {
    /// Frames and decodes as much of `bytes` as is complete; returns bytes consumed.
    pub(super) fn parse(&mut self, ctx: &Ctx, flow: &mut Flow, d: usize, bytes: &[u8]) -> usize {
        let mut pos = 0usize;
        // Every iteration consumes at least one byte or stops.
        while pos < bytes.len() {
            let rest = &bytes[pos..];
            let taken = match &mut flow.dirs[d].mode {
                Mode::Messages => self.parse_message(ctx, flow, d, rest),
                Mode::Frontiers { codec, request_id } => {
                    let rid = *request_id;
                    match codec.decode_from(rest) {
                        Next::NeedMore(_) => None,
                        Next::Ready(StreamItem::Item(f), n) => {
                            if self.opts.bootstrap_details {
                                let id = self.id();
                                self.push(
                                    Table::FrontierResponse,
                                    vec![
                                        id.into(),
                                        rid.into(),
                                        self.accounts.get(&f.account),
                                        hex(f.head.as_bytes()),
                                    ],
                                );
                            }
                            self.stream_entry(flow, d);
                            Some(n)
                        }
                        Next::Ready(StreamItem::End, n) => {
                            self.end_stream(ctx, flow, d, "end of frontier_req response");
                            Some(n)
                        }
                    }
                }
                Mode::BulkPullBlocks {
                    codec,
                    request_id,
                    packet_id,
                } => {
                    let stream = BlockStream {
                        table: Table::BulkPullResponse,
                        owner: *request_id,
                        packet_id: *packet_id,
                        end: "end of bulk_pull response",
                        invalid: "first invalid bulk_pull response",
                    };
                    let next = codec.decode_from(rest);
                    self.block_stream(ctx, flow, d, next, &stream)
                }
                Mode::BulkPushBlocks { codec, packet_id } => {
                    let stream = BlockStream {
                        table: Table::BulkPushEntry,
                        owner: *packet_id,
                        packet_id: *packet_id,
                        end: "end of bulk_push",
                        invalid: "first invalid bulk_push entry",
                    };
                    let next = codec.decode_from(rest);
                    self.block_stream(ctx, flow, d, next, &stream)
                }
                Mode::BulkPullAccount { codec, request_id } => {
                    let rid = *request_id;
                    match codec.decode_from(rest) {
                        Next::NeedMore(_) => None,
                        Next::Ready(StreamItem::Item(item), n) => {
                            if self.opts.bootstrap_details {
                                let id = self.id();
                                match item {
                                    BulkPullAccountItem::Head { frontier, balance } => self.push(
                                        Table::BulkPullAccountResponse,
                                        vec![
                                            id.into(),
                                            rid.into(),
                                            hex(frontier.as_bytes()),
                                            Val::Text(balance.encode_dec()),
                                        ],
                                    ),
                                    BulkPullAccountItem::Entry(e) => {
                                        let (h, a, s) = match e {
                                            PendingEntry::HashAndAmount { hash, amount } => {
                                                (Some(hash), Some(amount), None)
                                            }
                                            PendingEntry::Source(src) => (None, None, Some(src)),
                                            PendingEntry::HashAmountAndSource {
                                                hash,
                                                amount,
                                                source,
                                            } => (Some(hash), Some(amount), Some(source)),
                                        };
                                        self.push(
                                            Table::BulkPullAccountResponseEntry,
                                            vec![
                                                id.into(),
                                                rid.into(),
                                                h.map(|h| h.encode_hex()).into(),
                                                a.map(|a| a.encode_dec()).into(),
                                                s.map(|s| s.encode_account()).into(),
                                            ],
                                        );
                                    }
                                }
                            }
                            self.stream_entry(flow, d);
                            Some(n)
                        }
                        Next::Ready(StreamItem::End, n) => {
                            self.end_stream(ctx, flow, d, "end of bulk_pull_account response");
                            Some(n)
                        }
                    }
                }
            };
            match taken {
                None => break,
                Some(n) => pos += n,
            }
        }
        pos
    }

    /// One decoded step of a block stream (a bulk_pull response or a bulk_push): a block
    /// becomes a row of the stream's table, the terminator ends the stream, and an
    /// undecodable entry ends it as failed. `None` when more bytes are needed.
    fn block_stream(
        &mut self,
        ctx: &Ctx,
        flow: &mut Flow,
        d: usize,
        next: Result<Next<Block>, StreamError>,
        stream: &BlockStream,
    ) -> Option<usize> {
        match next {
            Ok(Next::NeedMore(_)) => None,
            Ok(Next::Ready(StreamItem::Item(b), n)) => {
                if self.opts.bootstrap_details {
                    if let Some((t, bid)) = self.block(&b, stream.packet_id) {
                        let id = self.id();
                        self.push(
                            stream.table,
                            vec![id.into(), stream.owner.into(), bid.into(), t.into()],
                        );
                    }
                }
                self.stream_entry(flow, d);
                Some(n)
            }
            Ok(Next::Ready(StreamItem::End, n)) => {
                self.end_stream(ctx, flow, d, stream.end);
                Some(n)
            }
            Err(e) => {
                self.stream_failed(ctx, flow, d, stream.invalid, e.to_string());
                Some(0)
            }
        }
    }

    pub(super) fn stream_entry(&mut self, flow: &mut Flow, d: usize) {
        self.status.stream_entries.fetch_add(1, Ordering::Relaxed);
        flow.dirs[d].valid += 1;
    }

    pub(super) fn end_stream(&mut self, ctx: &Ctx, flow: &mut Flow, d: usize, what: &str) {
        let dir = &mut flow.dirs[d];
        let (valid, invalid) = (dir.valid, dir.invalid);
        dir.valid = 0;
        dir.invalid = 0;
        dir.mode = Mode::Messages;
        if self.opts.bootstrap_details {
            self.connection_event(
                ctx,
                flow,
                d,
                format!("{what} (valid: {valid}, invalid: {invalid})").into(),
                None,
            );
        }
    }

    pub(super) fn stream_failed(
        &mut self,
        ctx: &Ctx,
        flow: &mut Flow,
        d: usize,
        what: &'static str,
        err: String,
    ) {
        flow.dirs[d].invalid += 1;
        self.error(
            ctx,
            Some(flow),
            d,
            "bootstrap stream",
            format!("{what}: {err}"),
        );
        if self.opts.bootstrap_details {
            self.connection_event(ctx, flow, d, what.into(), None);
        }
        // The stream cannot be framed any more; look for messages again.
        let dir = &mut flow.dirs[d];
        dir.mode = Mode::Messages;
        dir.resync = true;
        dir.valid = 0;
        dir.invalid = 0;
    }

    /// One framed message at the front of `rest`, or `None` when more bytes are needed.
    pub(super) fn parse_message(
        &mut self,
        ctx: &Ctx,
        flow: &mut Flow,
        d: usize,
        rest: &[u8],
    ) -> Option<usize> {
        if rest.len() < HEADER_SIZE {
            // A short tail can still be judged if it cannot start a header.
            if rest[0] != b'R' {
                return Some(self.skip_garbage(ctx, flow, d, rest, "not a Nano header".into()));
            }
            return None;
        }
        match Header::decode(rest) {
            Err(e) => {
                let why = match e {
                    HeaderError::TooShort(_) => return None,
                    other => other.to_string(),
                };
                Some(self.skip_garbage(ctx, flow, d, rest, why))
            }
            Ok(h) => {
                let size = HEADER_SIZE + h.payload_size();
                if rest.len() < size {
                    return None;
                }
                flow.dirs[d].resync = false;
                match Message::decode(&h, &rest[HEADER_SIZE..size]) {
                    Ok(m) => self.message(ctx, flow, d, &h, &m, size),
                    Err(e) => self.error(
                        ctx,
                        Some(flow),
                        d,
                        "message",
                        format!("{}: {e}", h.message_type.as_str()),
                    ),
                }
                Some(size)
            }
        }
    }

    /// Skips to the next byte that could start a header; one error per garbage run.
    pub(super) fn skip_garbage(
        &mut self,
        ctx: &Ctx,
        flow: &mut Flow,
        d: usize,
        rest: &[u8],
        why: String,
    ) -> usize {
        if !flow.dirs[d].resync {
            flow.dirs[d].resync = true;
            self.error(ctx, Some(flow), d, "framing", why);
        }
        match rest[1..].iter().position(|&b| b == b'R') {
            Some(i) => i + 1,
            None => rest.len(),
        }
    }
}
