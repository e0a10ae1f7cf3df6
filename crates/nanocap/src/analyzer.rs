//! The analyzer: keeps the TCP flow table, classifies connections (handshake/realtime vs
//! legacy bootstrap), frames each direction's byte stream into Nano messages with
//! `nano-messages`' header rule, switches a direction into a bootstrap response stream
//! after a request and decodes those with `nano-messages`' stream decoders, and turns
//! everything into database rows. It never parses protocol bytes itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nano_core::{Block, BlockType, PublicKey};
use nano_messages::stream::{BlockStreamCodec, BulkPullAccountStreamCodec, FrontierStreamCodec};
use nano_messages::{
    decode_datagram, AscPullAckPayload, AscPullReqPayload, BulkPullAccountItem, Header,
    HeaderError, Message, MessageType, Next, PendingEntry, StreamItem, HEADER_SIZE,
};

use crate::db::{Row, Val, ID_SPAN};
use crate::net::{Segment, Transport};
use crate::schema::Table;
use crate::status::Status;
use crate::tcp::{Chunk, Stream};
use crate::timefmt;

/// What to write besides packets (the reference's `capture.*_details` switches;
/// `connection_details` shapes the `connection` view instead, see
/// [`crate::schema::connection_view_sql`]).
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub block_details: bool,
    pub bootstrap_details: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            block_details: true,
            bootstrap_details: true,
        }
    }
}

/// How a TCP connection is used, decided by its first message (fact sheet §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Channel {
    Undefined,
    Realtime,
    Bootstrap,
}

impl Channel {
    fn as_str(self) -> &'static str {
        match self {
            Channel::Undefined => "undefined",
            Channel::Realtime => "realtime",
            Channel::Bootstrap => "bootstrap",
        }
    }
}

/// What the next bytes of one direction are.
#[derive(Debug)]
enum Mode {
    Messages,
    Frontiers {
        codec: FrontierStreamCodec,
        request_id: i64,
    },
    BulkPullBlocks {
        codec: BlockStreamCodec,
        request_id: i64,
        packet_id: i64,
    },
    BulkPullAccount {
        codec: BulkPullAccountStreamCodec,
        request_id: i64,
    },
    BulkPushBlocks {
        codec: BlockStreamCodec,
        packet_id: i64,
    },
}

impl Mode {
    fn stream_name(&self) -> &'static str {
        match self {
            Mode::Messages => "messages",
            Mode::Frontiers { .. } => "frontier_req response",
            Mode::BulkPullBlocks { .. } => "bulk_pull response",
            Mode::BulkPullAccount { .. } => "bulk_pull_account response",
            Mode::BulkPushBlocks { .. } => "bulk_push",
        }
    }
}

#[derive(Debug)]
struct Dir {
    stream: Stream,
    buf: Vec<u8>,
    mode: Mode,
    /// Scanning for the next header after undecodable bytes; one error per run.
    resync: bool,
    valid: u64,
    invalid: u64,
}

impl Default for Dir {
    fn default() -> Self {
        Dir {
            stream: Stream::default(),
            buf: Vec::new(),
            mode: Mode::Messages,
            resync: false,
            valid: 0,
            invalid: 0,
        }
    }
}

#[derive(Debug)]
struct Flow {
    key: i64,
    /// The initiator (SYN sender), else the first sender seen.
    client: SocketAddr,
    server: SocketAddr,
    dirs: [Dir; 2],
    channel: Channel,
    closed: bool,
    protocol: &'static str,
    /// The client's and the server's IP address as text, rendered once per flow.
    ips: [Arc<str>; 2],
    /// Capture time of the flow's last segment, for idle eviction.
    last_usec: i64,
}

impl Flow {
    fn new(client: SocketAddr, server: SocketAddr, protocol: &'static str) -> Flow {
        Flow {
            key: flow_key(client, server),
            ips: [
                Arc::from(client.ip().to_string()),
                Arc::from(server.ip().to_string()),
            ],
            client,
            server,
            dirs: [Dir::default(), Dir::default()],
            channel: Channel::Undefined,
            closed: false,
            protocol,
            last_usec: 0,
        }
    }

    /// Source and destination IP text of direction `d`.
    fn ip_texts(&self, d: usize) -> (Val, Val) {
        (
            Val::Shared(self.ips[d].clone()),
            Val::Shared(self.ips[1 - d].clone()),
        )
    }

    fn endpoints(&self, d: usize) -> (SocketAddr, SocketAddr) {
        if d == 0 {
            (self.client, self.server)
        } else {
            (self.server, self.client)
        }
    }
}

/// A stable 63-bit key for an unordered address pair (the same in both directions), so
/// `packet.flow_key` and `connection.flowkey` join.
pub fn flow_key(a: SocketAddr, b: SocketAddr) -> i64 {
    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut feed = |bytes: &[u8]| {
        for &x in bytes {
            h ^= u64::from(x);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for ep in [lo, hi] {
        match ep.ip() {
            std::net::IpAddr::V4(v4) => feed(&v4.octets()),
            std::net::IpAddr::V6(v6) => feed(&v6.octets()),
        }
        feed(&ep.port().to_be_bytes());
    }
    (h & (i64::MAX as u64)) as i64
}

fn canonical(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

/// Per-frame context for rows.
struct Ctx {
    time: Val,
    usec: i64,
    /// The whole capture timestamp (µs since the epoch), for flow ages.
    at_usec: i64,
}

/// Turns decoded things into rows; separate from the flow table so both can be borrowed.
struct Emitter {
    opts: Options,
    status: Arc<Status>,
    next_id: i64,
    rows: Vec<Row>,
    cached_sec: i64,
    cached_time: Option<Arc<str>>,
    accounts: AccountNames,
}

/// `nano_` addresses of recently seen keys. Representatives sign most votes and appear
/// in most blocks, and an address costs a BLAKE2b checksum and a base-32 encoding, so a
/// small cache of shared strings saves both the work and the allocation.
#[derive(Default)]
struct AccountNames(std::cell::RefCell<HashMap<[u8; 32], Arc<str>>>);

/// Distinct keys kept; past this the cache starts over (bounded memory, no eviction
/// bookkeeping).
const ACCOUNT_CACHE: usize = 4096;

impl AccountNames {
    fn get(&self, k: &PublicKey) -> Val {
        let mut map = self.0.borrow_mut();
        if let Some(s) = map.get(k.as_bytes()) {
            return Val::Shared(s.clone());
        }
        if map.len() >= ACCOUNT_CACHE {
            map.clear();
        }
        let s: Arc<str> = Arc::from(k.encode_account());
        map.insert(*k.as_bytes(), s.clone());
        Val::Shared(s)
    }
}

fn ipv(a: SocketAddr) -> i64 {
    if a.is_ipv4() {
        4
    } else {
        6
    }
}

/// `packet.network`: the second magic byte as a one-letter string.
fn network_letter(b: u8) -> Val {
    match b {
        b'A' => Val::Str("A"),
        b'B' => Val::Str("B"),
        b'C' => Val::Str("C"),
        b'X' => Val::Str("X"),
        other => Val::Text((other as char).to_string()),
    }
}

fn hex(b: &[u8]) -> Val {
    Val::Text(nano_core::numbers::encode_hex_upper(b))
}

impl Emitter {
    fn id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn ctx(&mut self, ts_usec: i64) -> Ctx {
        let sec = ts_usec.div_euclid(1_000_000);
        let time = match &self.cached_time {
            Some(t) if sec == self.cached_sec => t.clone(),
            _ => {
                let t: Arc<str> = Arc::from(timefmt::utc(sec));
                self.cached_sec = sec;
                self.cached_time = Some(t.clone());
                t
            }
        };
        Ctx {
            time: Val::Shared(time),
            usec: ts_usec.rem_euclid(1_000_000),
            at_usec: ts_usec,
        }
    }

    fn push(&mut self, table: Table, vals: Vec<Val>) {
        self.rows.push(Row { table, vals });
    }

    fn error(
        &mut self,
        ctx: &Ctx,
        flow: Option<&Flow>,
        d: usize,
        stage: &'static str,
        msg: String,
    ) {
        self.status.decode_errors.fetch_add(1, Ordering::Relaxed);
        let id = self.id();
        let (fk, ipvv, s, t) = match flow {
            Some(f) => {
                let (s, t) = f.endpoints(d);
                (Val::Int(f.key), Val::Int(ipv(s)), Some(s), Some(t))
            }
            None => (Val::Null, Val::Null, None, None),
        };
        self.push(
            Table::DecodeError,
            vec![
                id.into(),
                fk,
                ipvv,
                s.map(|a| a.ip().to_string()).into(),
                s.map(|a| a.port()).into(),
                t.map(|a| a.ip().to_string()).into(),
                t.map(|a| a.port()).into(),
                ctx.time.clone(),
                ctx.usec.into(),
                stage.into(),
                msg.into(),
            ],
        );
    }

    fn connection_event(
        &mut self,
        ctx: &Ctx,
        flow: &Flow,
        d: usize,
        event: Val,
        packet_id: Option<i64>,
    ) {
        let id = self.id();
        let (s, t) = flow.endpoints(d);
        let (sip, tip) = flow.ip_texts(d);
        self.push(
            Table::ConnectionEvent,
            vec![
                id.into(),
                ipv(s).into(),
                sip,
                s.port().into(),
                tip,
                t.port().into(),
                flow.key.into(),
                event,
                ctx.time.clone(),
                ctx.usec.into(),
                flow.channel.as_str().into(),
                packet_id.into(),
            ],
        );
    }

    /// Writes a block row; returns (table, id).
    fn block(&mut self, block: &Block, packet_id: i64) -> Option<(&'static str, i64)> {
        if !self.opts.block_details {
            return None;
        }
        let id = self.id();
        let hash = hex(block.hash().as_bytes());
        let sig = hex(block.signature().as_bytes());
        let work = Val::from(block.work());
        let (table, vals) = match block {
            Block::State(b) => (
                Table::BlockState,
                vec![
                    id.into(),
                    packet_id.into(),
                    hash,
                    self.accounts.get(&b.account),
                    hex(b.previous.as_bytes()),
                    self.accounts.get(&b.representative),
                    Val::Text(b.balance.encode_dec()),
                    hex(b.link.as_bytes()),
                    sig,
                    work,
                ],
            ),
            Block::Send(b) => (
                Table::BlockSend,
                vec![
                    id.into(),
                    packet_id.into(),
                    hash,
                    hex(b.previous.as_bytes()),
                    self.accounts.get(&b.destination),
                    Val::Text(b.balance.encode_dec()),
                    sig,
                    work,
                ],
            ),
            Block::Receive(b) => (
                Table::BlockReceive,
                vec![
                    id.into(),
                    packet_id.into(),
                    hash,
                    hex(b.previous.as_bytes()),
                    hex(b.source.as_bytes()),
                    sig,
                    work,
                ],
            ),
            Block::Open(b) => (
                Table::BlockOpen,
                vec![
                    id.into(),
                    packet_id.into(),
                    hash,
                    hex(b.source.as_bytes()),
                    self.accounts.get(&b.representative),
                    self.accounts.get(&b.account),
                    sig,
                    work,
                ],
            ),
            Block::Change(b) => (
                Table::BlockChange,
                vec![
                    id.into(),
                    packet_id.into(),
                    hash,
                    hex(b.previous.as_bytes()),
                    self.accounts.get(&b.representative),
                    sig,
                    work,
                ],
            ),
        };
        self.push(table, vals);
        Some((table.name(), id))
    }

    /// One decoded message: the packet row, its detail rows, and what it does to the flow.
    #[allow(clippy::too_many_arguments)]
    fn message(
        &mut self,
        ctx: &Ctx,
        flow: &mut Flow,
        d: usize,
        header: &Header,
        msg: &Message,
        size: usize,
    ) {
        let mt = header.message_type;
        self.status.messages.fetch_add(1, Ordering::Relaxed);
        self.status.per_type[mt as u8 as usize].fetch_add(1, Ordering::Relaxed);
        if flow.channel == Channel::Undefined && flow.protocol == "tcp" {
            flow.channel = match mt {
                MessageType::BulkPull
                | MessageType::BulkPullAccount
                | MessageType::BulkPush
                | MessageType::FrontierReq => Channel::Bootstrap,
                _ => Channel::Realtime,
            };
        }
        let packet_id = self.id();
        let mut content: Option<(&'static str, i64)> = None;
        let mut block_type: Option<u8> = None;
        match msg {
            Message::Keepalive(k) => {
                for (slot, ep) in k.endpoints().iter().enumerate() {
                    if ep.ip().is_unspecified() && ep.port() == 0 {
                        continue;
                    }
                    let id = self.id();
                    self.push(
                        Table::KeepaliveHost,
                        vec![
                            id.into(),
                            packet_id.into(),
                            ep.ip().to_string().into(),
                            ep.port().into(),
                            ctx.time.clone(),
                            (slot as i64).into(),
                        ],
                    );
                }
            }
            Message::Publish(p) => {
                block_type = Some(p.block.block_type() as u8);
                content = self.block(&p.block, packet_id);
            }
            Message::ConfirmReq(c) => {
                block_type = Some(BlockType::NotABlock as u8);
                for (hash, root) in &c.pairs {
                    let id = self.id();
                    content.get_or_insert(("confirm_req_pair", id));
                    self.push(
                        Table::ConfirmReqPair,
                        vec![
                            id.into(),
                            packet_id.into(),
                            hex(hash.as_bytes()),
                            hex(root.as_bytes()),
                        ],
                    );
                }
            }
            Message::ConfirmAck(a) => {
                block_type = Some(BlockType::NotABlock as u8);
                let v = &a.vote;
                let id = self.id();
                content = Some(("vote", id));
                let hashes: Vec<String> = v.hashes.iter().map(|h| h.encode_hex()).collect();
                let is_final = v.is_final();
                self.push(
                    Table::Vote,
                    vec![
                        id.into(),
                        packet_id.into(),
                        Val::Null,
                        Val::Null,
                        (v.hashes.len() as i64).into(),
                        1i64.into(),
                        self.accounts.get(&v.account),
                        hex(v.signature.as_bytes()),
                        Val::from(v.timestamp),
                        hashes.join(",").into(),
                        if is_final {
                            Val::Null
                        } else {
                            Val::from(v.timestamp_ms())
                        },
                        Val::from(v.duration_ms()),
                        is_final.into(),
                        a.rebroadcast.into(),
                    ],
                );
            }
            Message::NodeIdHandshake(h) => {
                if let Some(cookie) = &h.query {
                    let id = self.id();
                    content = Some(("nodeid_query", id));
                    self.push(
                        Table::NodeidQuery,
                        vec![id.into(), packet_id.into(), hex(cookie)],
                    );
                }
                if let Some(r) = &h.response {
                    let id = self.id();
                    content = Some(("nodeid_response", id));
                    self.push(
                        Table::NodeidResponse,
                        vec![
                            id.into(),
                            packet_id.into(),
                            hex(r.node_id.as_bytes()),
                            self.accounts.get(&r.node_id),
                            hex(r.signature.as_bytes()),
                            r.v2.as_ref()
                                .map(|v| nano_core::numbers::encode_hex_upper(&v.salt))
                                .into(),
                            r.v2.as_ref().map(|v| v.genesis.encode_hex()).into(),
                            r.v2.is_some().into(),
                        ],
                    );
                }
            }
            Message::TelemetryReq => {}
            Message::TelemetryAck(t) => {
                if let Some(t) = t {
                    let id = self.id();
                    content = Some(("telemetry", id));
                    self.push(
                        Table::Telemetry,
                        vec![
                            id.into(),
                            packet_id.into(),
                            hex(t.signature.as_bytes()),
                            hex(t.node_id.as_bytes()),
                            self.accounts.get(&t.node_id),
                            t.block_count.into(),
                            t.cemented_count.into(),
                            t.unchecked_count.into(),
                            t.account_count.into(),
                            t.bandwidth_cap.into(),
                            t.uptime.into(),
                            t.peer_count.into(),
                            t.protocol_version.into(),
                            hex(t.genesis_block.as_bytes()),
                            t.major_version.into(),
                            t.minor_version.into(),
                            t.patch_version.into(),
                            t.pre_release_version.into(),
                            t.maker.into(),
                            t.timestamp.into(),
                            t.active_difficulty.into(),
                            if t.unknown_data.is_empty() {
                                Val::Null
                            } else {
                                hex(&t.unknown_data)
                            },
                        ],
                    );
                }
            }
            Message::FrontierReq(f) => {
                let id = self.id();
                content = Some(("frontier_request", id));
                self.push(
                    Table::FrontierRequest,
                    vec![
                        id.into(),
                        packet_id.into(),
                        self.accounts.get(&f.start),
                        f.age.into(),
                        f.count.into(),
                        f.only_confirmed.into(),
                    ],
                );
                flow.dirs[1 - d].mode = Mode::Frontiers {
                    codec: FrontierStreamCodec::new(),
                    request_id: id,
                };
            }
            Message::BulkPull(b) => {
                let id = self.id();
                content = Some(("bulk_pull_request", id));
                self.push(
                    Table::BulkPullRequest,
                    vec![
                        id.into(),
                        packet_id.into(),
                        hex(&b.start.0),
                        hex(b.end.as_bytes()),
                        b.count.unwrap_or(0).into(),
                        b.ascending.into(),
                    ],
                );
                flow.dirs[1 - d].mode = Mode::BulkPullBlocks {
                    codec: BlockStreamCodec::new(),
                    request_id: id,
                    packet_id,
                };
            }
            Message::BulkPullAccount(b) => {
                let id = self.id();
                content = Some(("bulk_pull_account_request", id));
                self.push(
                    Table::BulkPullAccountRequest,
                    vec![
                        id.into(),
                        packet_id.into(),
                        self.accounts.get(&b.account),
                        Val::Text(b.minimum_amount.encode_dec()),
                        (b.flags as u8).into(),
                    ],
                );
                flow.dirs[1 - d].mode = Mode::BulkPullAccount {
                    codec: BulkPullAccountStreamCodec::new(b.flags),
                    request_id: id,
                };
            }
            Message::BulkPush => {
                flow.dirs[d].mode = Mode::BulkPushBlocks {
                    codec: BlockStreamCodec::new(),
                    packet_id,
                };
            }
            Message::AscPullReq(r) => {
                let id = self.id();
                content = Some(("asc_pull_req", id));
                let (kind, start, start_type, count): (&'static str, Val, Val, Val) =
                    match &r.payload {
                        AscPullReqPayload::Blocks {
                            start,
                            count,
                            start_type,
                        } => (
                            "blocks",
                            hex(&start.0),
                            (*start_type as u8).into(),
                            (*count).into(),
                        ),
                        AscPullReqPayload::AccountInfo {
                            target,
                            target_type,
                        } => (
                            "account_info",
                            hex(&target.0),
                            (*target_type as u8).into(),
                            Val::Null,
                        ),
                        AscPullReqPayload::Frontiers { start, count } => (
                            "frontiers",
                            self.accounts.get(start),
                            Val::Null,
                            (*count).into(),
                        ),
                    };
                self.push(
                    Table::AscPullReq,
                    vec![
                        id.into(),
                        packet_id.into(),
                        kind.into(),
                        format!("{:016X}", r.id).into(),
                        start,
                        start_type,
                        count,
                    ],
                );
            }
            Message::AscPullAck(a) => {
                let id = self.id();
                content = Some(("asc_pull_ack", id));
                let (kind, n) = match &a.payload {
                    AscPullAckPayload::Blocks(b) => ("blocks", b.len()),
                    AscPullAckPayload::AccountInfo(_) => ("account_info", 1),
                    AscPullAckPayload::Frontiers(f) => ("frontiers", f.len()),
                };
                self.push(
                    Table::AscPullAck,
                    vec![
                        id.into(),
                        packet_id.into(),
                        kind.into(),
                        format!("{:016X}", a.id).into(),
                        (n as i64).into(),
                    ],
                );
                match &a.payload {
                    AscPullAckPayload::Blocks(blocks) => {
                        for b in blocks {
                            if let Some((t, bid)) = self.block(b, packet_id) {
                                let lid = self.id();
                                self.push(
                                    Table::AscPullAckBlock,
                                    vec![lid.into(), id.into(), bid.into(), t.into()],
                                );
                            }
                        }
                    }
                    AscPullAckPayload::AccountInfo(info) => {
                        let lid = self.id();
                        self.push(
                            Table::AscPullAckAccountInfo,
                            vec![
                                lid.into(),
                                id.into(),
                                self.accounts.get(&info.account),
                                hex(info.open.as_bytes()),
                                hex(info.head.as_bytes()),
                                info.block_count.into(),
                                hex(info.conf_frontier.as_bytes()),
                                info.conf_height.into(),
                            ],
                        );
                    }
                    AscPullAckPayload::Frontiers(list) => {
                        for (acc, head) in list {
                            let lid = self.id();
                            self.push(
                                Table::AscPullAckFrontier,
                                vec![
                                    lid.into(),
                                    id.into(),
                                    self.accounts.get(acc),
                                    hex(head.as_bytes()),
                                ],
                            );
                        }
                    }
                }
            }
        }
        let (s, t) = flow.endpoints(d);
        let (sip, tip) = flow.ip_texts(d);
        let network = header.network.magic()[1];
        self.push(
            Table::Packet,
            vec![
                packet_id.into(),
                flow.key.into(),
                ipv(s).into(),
                (mt as u8).into(),
                header.version_using.into(),
                header.version_min.into(),
                block_type.into(),
                header.extensions.into(),
                content.map(|c| c.0).into(),
                content.map(|c| c.1).into(),
                sip,
                s.port().into(),
                tip,
                t.port().into(),
                ctx.time.clone(),
                ctx.usec.into(),
                header.version_max.into(),
                network_letter(network),
                mt.as_str().into(),
                flow.protocol.into(),
                if flow.protocol == "udp" {
                    Val::Str("udp")
                } else {
                    flow.channel.as_str().into()
                },
                ((size - HEADER_SIZE) as i64).into(),
            ],
        );
    }

    /// Frames and decodes as much of `bytes` as is complete; returns bytes consumed.
    fn parse(&mut self, ctx: &Ctx, flow: &mut Flow, d: usize, bytes: &[u8]) -> usize {
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
                    let (rid, pid) = (*request_id, *packet_id);
                    match codec.decode_from(rest) {
                        Ok(Next::NeedMore(_)) => None,
                        Ok(Next::Ready(StreamItem::Item(b), n)) => {
                            if self.opts.bootstrap_details {
                                if let Some((t, bid)) = self.block(&b, pid) {
                                    let id = self.id();
                                    self.push(
                                        Table::BulkPullResponse,
                                        vec![id.into(), rid.into(), bid.into(), t.into()],
                                    );
                                }
                            }
                            self.stream_entry(flow, d);
                            Some(n)
                        }
                        Ok(Next::Ready(StreamItem::End, n)) => {
                            self.end_stream(ctx, flow, d, "end of bulk_pull response");
                            Some(n)
                        }
                        Err(e) => {
                            self.stream_failed(
                                ctx,
                                flow,
                                d,
                                "first invalid bulk_pull response",
                                e.to_string(),
                            );
                            Some(0)
                        }
                    }
                }
                Mode::BulkPushBlocks { codec, packet_id } => {
                    let pid = *packet_id;
                    match codec.decode_from(rest) {
                        Ok(Next::NeedMore(_)) => None,
                        Ok(Next::Ready(StreamItem::Item(b), n)) => {
                            if self.opts.bootstrap_details {
                                if let Some((t, bid)) = self.block(&b, pid) {
                                    let id = self.id();
                                    self.push(
                                        Table::BulkPushEntry,
                                        vec![id.into(), pid.into(), bid.into(), t.into()],
                                    );
                                }
                            }
                            self.stream_entry(flow, d);
                            Some(n)
                        }
                        Ok(Next::Ready(StreamItem::End, n)) => {
                            self.end_stream(ctx, flow, d, "end of bulk_push");
                            Some(n)
                        }
                        Err(e) => {
                            self.stream_failed(
                                ctx,
                                flow,
                                d,
                                "first invalid bulk_push entry",
                                e.to_string(),
                            );
                            Some(0)
                        }
                    }
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

    fn stream_entry(&mut self, flow: &mut Flow, d: usize) {
        self.status.stream_entries.fetch_add(1, Ordering::Relaxed);
        flow.dirs[d].valid += 1;
    }

    fn end_stream(&mut self, ctx: &Ctx, flow: &mut Flow, d: usize, what: &str) {
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

    fn stream_failed(
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
    fn parse_message(
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
    fn skip_garbage(
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

/// Totals for the end-of-run summary.
#[derive(Debug, Default, Clone)]
pub struct Summary {
    pub packets: u64,
    pub messages: u64,
    pub stream_entries: u64,
    pub decode_errors: u64,
}

/// The decoding engine: feed frames, take rows.
pub struct Analyzer {
    flows: HashMap<(SocketAddr, SocketAddr), Flow>,
    em: Emitter,
    closed_flows: usize,
    /// Out-of-order bytes held by all open flows together.
    buffered: usize,
    /// Capture time of the next idle sweep.
    next_sweep_usec: i64,
}

/// Closed flows kept to recognise late retransmissions before the table is pruned.
const MAX_CLOSED_FLOWS: usize = 100_000;
/// Open TCP flows tracked at once. A busy node has a few thousand connections; past
/// this (a SYN flood, a port scan in the capture) the least recently active sixteenth
/// is closed, so memory stays bounded by the cap, not by the traffic.
pub const MAX_OPEN_FLOWS: usize = 65_536;
/// A flow without a segment for this long (capture time) is closed: a node's realtime
/// channels carry keepalives far more often, so only dead or abandoned flows go.
pub const FLOW_IDLE_USEC: i64 = 300_000_000;
/// Out-of-order bytes buffered across all flows (each direction alone is held to
/// [`crate::tcp::MAX_OUT_OF_ORDER`]). Past it the flows holding the most release their
/// buffers with gaps until a quarter is free: capture loss costs decoded data, never
/// unbounded memory.
pub const MAX_BUFFERED_TOTAL: usize = 64 << 20;
/// How often (capture time) idle flows are looked for.
const SWEEP_EVERY_USEC: i64 = 1_000_000;

impl Analyzer {
    /// A new analyzer writing ids of run `run`.
    pub fn new(opts: Options, status: Arc<Status>, run: i64) -> Analyzer {
        Analyzer {
            flows: HashMap::new(),
            em: Emitter {
                opts,
                status,
                next_id: run * ID_SPAN + 1,
                rows: Vec::new(),
                cached_sec: i64::MIN,
                cached_time: None,
                accounts: AccountNames::default(),
            },
            closed_flows: 0,
            buffered: 0,
            next_sweep_usec: i64::MIN,
        }
    }

    /// Restarts ids for a new run (after "destroy") and forgets all flows.
    pub fn reset(&mut self, run: i64) {
        self.flows.clear();
        self.closed_flows = 0;
        self.buffered = 0;
        self.em.next_id = run * ID_SPAN + 1;
        self.em.rows.clear();
    }

    /// Rows produced since the last call.
    pub fn take_rows(&mut self) -> Vec<Row> {
        std::mem::take(&mut self.em.rows)
    }

    /// Rows waiting to be taken.
    pub fn pending_rows(&self) -> usize {
        self.em.rows.len()
    }

    /// A frame that could not be parsed below the Nano layer.
    pub fn frame_error(&mut self, ts_usec: i64, stage: &'static str, msg: String) {
        let ctx = self.em.ctx(ts_usec);
        self.em.error(&ctx, None, 0, stage, msg);
    }

    /// Feeds one parsed frame.
    pub fn segment(&mut self, ts_usec: i64, seg: &Segment<'_>) {
        let ctx = self.em.ctx(ts_usec);
        match seg.transport {
            Transport::Udp { payload } => self.udp(&ctx, seg.src, seg.dst, payload),
            Transport::Tcp {
                seq,
                flags,
                payload,
            } => self.tcp(&ctx, seg.src, seg.dst, seq, flags, payload),
        }
    }

    fn udp(&mut self, ctx: &Ctx, src: SocketAddr, dst: SocketAddr, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        let mut flow = Flow::new(src, dst, "udp");
        match decode_datagram(payload, None) {
            Ok((h, m)) => {
                let size = HEADER_SIZE + h.payload_size();
                self.em.message(ctx, &mut flow, 0, &h, &m, size)
            }
            Err(e) => self
                .em
                .error(ctx, Some(&flow), 0, "datagram", e.to_string()),
        }
    }

    fn tcp(
        &mut self,
        ctx: &Ctx,
        src: SocketAddr,
        dst: SocketAddr,
        seq: u32,
        flags: crate::net::TcpFlags,
        payload: &[u8],
    ) {
        self.sweep_idle(ctx);
        let key = canonical(src, dst);
        let fresh_syn = flags.syn && self.flows.get(&key).is_none_or(|f| f.closed);
        if fresh_syn {
            if let Some(old) = self.flows.remove(&key) {
                if old.closed {
                    self.closed_flows = self.closed_flows.saturating_sub(1);
                }
            }
        }
        if !self.flows.contains_key(&key) {
            if payload.is_empty() && !flags.syn {
                return;
            }
            // The SYN sender is the client; a SYN+ACK's sender is the server; otherwise
            // (midstream pickup) the first sender seen is taken as the client.
            let (client, server) = if flags.syn && flags.ack {
                (dst, src)
            } else {
                (src, dst)
            };
            if self.flows.len() - self.closed_flows >= MAX_OPEN_FLOWS {
                self.evict_oldest(ctx);
            }
            let flow = Flow::new(client, server, "tcp");
            self.em
                .connection_event(ctx, &flow, 0, Val::Str("open connection"), None);
            self.flows.insert(key, flow);
        }
        let Some(flow) = self.flows.get_mut(&key) else {
            return;
        };
        if flow.closed {
            return;
        }
        let d = if src == flow.client { 0 } else { 1 };
        flow.last_usec = ctx.at_usec;
        if flags.rst {
            self.buffered -= Self::held(flow);
            Self::close(&mut self.em, ctx, flow, d, "close connection (reset)");
            self.closed_flows += 1;
            self.prune();
            return;
        }
        let before = flow.dirs[d].stream.buffered();
        let delivery = flow.dirs[d].stream.push(seq, flags.syn, flags.fin, payload);
        self.buffered = self.buffered + flow.dirs[d].stream.buffered() - before;
        for chunk in &delivery.chunks {
            match chunk {
                Chunk::Data(b) => Self::feed(&mut self.em, ctx, flow, d, b),
                Chunk::Owned(b) => Self::feed(&mut self.em, ctx, flow, d, b),
                Chunk::Gap(n) => Self::gap(&mut self.em, ctx, flow, d, *n),
            }
        }
        if flow.dirs[0].stream.is_finished() && flow.dirs[1].stream.is_finished() {
            self.buffered -= Self::held(flow);
            Self::close(&mut self.em, ctx, flow, d, "close connection");
            self.closed_flows += 1;
            self.prune();
        }
        if self.buffered > MAX_BUFFERED_TOTAL {
            self.release_buffers(ctx);
        }
    }

    /// Out-of-order bytes a flow holds in both directions.
    fn held(flow: &Flow) -> usize {
        flow.dirs[0].stream.buffered() + flow.dirs[1].stream.buffered()
    }

    /// Closes the open flows in `keys` as evicted (`why` goes into the event).
    fn evict(&mut self, ctx: &Ctx, keys: Vec<(SocketAddr, SocketAddr)>, why: &'static str) {
        for k in keys {
            let Some(flow) = self.flows.get_mut(&k) else {
                continue;
            };
            if flow.closed {
                continue;
            }
            self.buffered -= Self::held(flow);
            Self::close(&mut self.em, ctx, flow, 0, why);
            self.closed_flows += 1;
            self.em.status.flows_evicted.fetch_add(1, Ordering::Relaxed);
        }
        self.prune();
    }

    /// Closes flows idle for [`FLOW_IDLE_USEC`] of capture time (checked once a second).
    fn sweep_idle(&mut self, ctx: &Ctx) {
        if ctx.at_usec < self.next_sweep_usec {
            return;
        }
        self.next_sweep_usec = ctx.at_usec.saturating_add(SWEEP_EVERY_USEC);
        let idle: Vec<_> = self
            .flows
            .iter()
            .filter(|(_, f)| !f.closed && ctx.at_usec.saturating_sub(f.last_usec) > FLOW_IDLE_USEC)
            .map(|(k, _)| *k)
            .collect();
        if !idle.is_empty() {
            self.evict(ctx, idle, "close connection (evicted: idle)");
        }
    }

    /// Closes the least recently active sixteenth of the open flows.
    fn evict_oldest(&mut self, ctx: &Ctx) {
        let mut open: Vec<(i64, (SocketAddr, SocketAddr))> = self
            .flows
            .iter()
            .filter(|(_, f)| !f.closed)
            .map(|(k, f)| (f.last_usec, *k))
            .collect();
        let n = (open.len() / 16).max(1).min(open.len());
        if n == 0 {
            return;
        }
        open.select_nth_unstable(n - 1);
        let oldest = open[..n].iter().map(|(_, k)| *k).collect();
        self.evict(ctx, oldest, "close connection (evicted: flow table full)");
    }

    /// Releases the out-of-order buffers of the flows holding the most, with gaps for
    /// their holes, until a quarter of [`MAX_BUFFERED_TOTAL`] is free again.
    fn release_buffers(&mut self, ctx: &Ctx) {
        let mut holders: Vec<(usize, (SocketAddr, SocketAddr))> = self
            .flows
            .iter()
            .filter(|(_, f)| !f.closed && Self::held(f) > 0)
            .map(|(k, f)| (Self::held(f), *k))
            .collect();
        holders.sort_unstable_by_key(|h| std::cmp::Reverse(h.0));
        for (_, k) in holders {
            if self.buffered <= MAX_BUFFERED_TOTAL / 4 * 3 {
                break;
            }
            let Some(flow) = self.flows.get_mut(&k) else {
                continue;
            };
            self.buffered -= Self::held(flow);
            for d in 0..2 {
                let delivery = flow.dirs[d].stream.flush();
                for chunk in &delivery.chunks {
                    match chunk {
                        Chunk::Data(b) => Self::feed(&mut self.em, ctx, flow, d, b),
                        Chunk::Owned(b) => Self::feed(&mut self.em, ctx, flow, d, b),
                        Chunk::Gap(n) => Self::gap(&mut self.em, ctx, flow, d, *n),
                    }
                }
            }
            self.em
                .status
                .flow_buffers_released
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Open flows and the out-of-order bytes they hold (for tests and the status).
    pub fn open_flows(&self) -> (usize, usize) {
        (self.flows.len() - self.closed_flows, self.buffered)
    }

    fn feed(em: &mut Emitter, ctx: &Ctx, flow: &mut Flow, d: usize, data: &[u8]) {
        if flow.dirs[d].buf.is_empty() {
            let n = em.parse(ctx, flow, d, data);
            flow.dirs[d].buf.extend_from_slice(&data[n..]);
        } else {
            let mut buf = std::mem::take(&mut flow.dirs[d].buf);
            buf.extend_from_slice(data);
            let n = em.parse(ctx, flow, d, &buf);
            buf.drain(..n);
            flow.dirs[d].buf = buf;
        }
    }

    fn gap(em: &mut Emitter, ctx: &Ctx, flow: &mut Flow, d: usize, missing: u64) {
        let dir = &mut flow.dirs[d];
        dir.buf.clear();
        let was = dir.mode.stream_name();
        dir.mode = Mode::Messages;
        dir.resync = true;
        em.error(
            ctx,
            Some(flow),
            d,
            "tcp",
            format!("{missing} bytes missing from the capture ({was})"),
        );
    }

    fn close(em: &mut Emitter, ctx: &Ctx, flow: &mut Flow, d: usize, event: &'static str) {
        for dd in 0..2 {
            let delivery = flow.dirs[dd].stream.flush();
            for chunk in &delivery.chunks {
                match chunk {
                    Chunk::Data(b) => Self::feed(em, ctx, flow, dd, b),
                    Chunk::Owned(b) => Self::feed(em, ctx, flow, dd, b),
                    Chunk::Gap(n) => Self::gap(em, ctx, flow, dd, *n),
                }
            }
            Self::leftover(em, ctx, flow, dd);
        }
        flow.closed = true;
        em.connection_event(ctx, flow, d, Val::Str(event), None);
    }

    /// Bytes left in a direction when it ends are an incomplete message.
    fn leftover(em: &mut Emitter, ctx: &Ctx, flow: &mut Flow, d: usize) {
        let n = flow.dirs[d].buf.len();
        if n > 0 && !flow.dirs[d].resync {
            let what = flow.dirs[d].mode.stream_name();
            em.error(
                ctx,
                Some(flow),
                d,
                "tcp",
                format!("{n} bytes of an incomplete {what} entry at end of stream"),
            );
        }
        flow.dirs[d].buf = Vec::new();
    }

    fn prune(&mut self) {
        if self.closed_flows > MAX_CLOSED_FLOWS {
            self.flows.retain(|_, f| !f.closed);
            self.closed_flows = 0;
        }
    }

    /// End of input: releases out-of-order data and reports incomplete messages.
    pub fn finish(&mut self, ts_usec: i64) {
        let ctx = self.em.ctx(ts_usec);
        for flow in self.flows.values_mut() {
            if flow.closed {
                continue;
            }
            for d in 0..2 {
                let delivery = flow.dirs[d].stream.flush();
                for chunk in &delivery.chunks {
                    match chunk {
                        Chunk::Data(b) => Self::feed(&mut self.em, &ctx, flow, d, b),
                        Chunk::Owned(b) => Self::feed(&mut self.em, &ctx, flow, d, b),
                        Chunk::Gap(n) => Self::gap(&mut self.em, &ctx, flow, d, *n),
                    }
                }
                Self::leftover(&mut self.em, &ctx, flow, d);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> PublicKey {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        PublicKey(b)
    }

    fn text(v: &Val) -> &str {
        match v {
            Val::Text(s) => s,
            Val::Shared(s) => s,
            Val::Str(s) => s,
            other => panic!("not text: {other:?}"),
        }
    }

    #[test]
    fn account_cache_answers_the_encoding_before_and_after_it_starts_over() {
        let names = AccountNames::default();
        for i in 0..(ACCOUNT_CACHE as u32 * 2 + 7) {
            let want = key(i).encode_account();
            assert_eq!(text(&names.get(&key(i))), want, "key {i}");
            // A second lookup is served from the cache (or re-encoded after a reset)
            // and still agrees.
            assert_eq!(text(&names.get(&key(i))), want);
        }
        assert!(names.0.borrow().len() <= ACCOUNT_CACHE);
    }
}
