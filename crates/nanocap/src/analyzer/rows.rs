//! Rows: turns decoded messages, blocks, connection events and errors into database
//! rows, with ids of the current run and shared address and time strings.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nano_core::{Block, BlockType, PublicKey};
use nano_messages::stream::{BlockStreamCodec, BulkPullAccountStreamCodec, FrontierStreamCodec};
use nano_messages::{
    AscPullAckPayload, AscPullReqPayload, Header, Message, MessageType, HEADER_SIZE,
};

use super::{AccountNames, Channel, Ctx, Emitter, Flow, Mode};
use crate::db::{Row, Val};
use crate::schema::Table;
use crate::timefmt;

/// Distinct keys kept; past this the cache starts over (bounded memory, no eviction
/// bookkeeping).
const ACCOUNT_CACHE: usize = 4096;

impl AccountNames {
    pub(super) fn get(&self, k: &PublicKey) -> Val {
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

pub(super) fn ipv(a: SocketAddr) -> i64 {
    if a.is_ipv4() {
        4
    } else {
        6
    }
}

/// `packet.network`: the second magic byte as a one-letter string.
pub(super) fn network_letter(b: u8) -> Val {
    match b {
        b'A' => Val::Str("A"),
        b'B' => Val::Str("B"),
        b'C' => Val::Str("C"),
        b'X' => Val::Str("X"),
        other => Val::Text((other as char).to_string()),
    }
}

pub(super) fn hex(b: &[u8]) -> Val {
    Val::Text(nano_core::numbers::encode_hex_upper(b))
}

impl Emitter {
    pub(super) fn id(&mut self) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    pub(super) fn ctx(&mut self, ts_usec: i64) -> Ctx {
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

    pub(super) fn push(&mut self, table: Table, vals: Vec<Val>) {
        self.rows.push(Row { table, vals });
    }

    pub(super) fn error(
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

    pub(super) fn connection_event(
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
    pub(super) fn block(&mut self, block: &Block, packet_id: i64) -> Option<(&'static str, i64)> {
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
    pub(super) fn message(
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
