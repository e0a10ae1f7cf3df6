//! proptest strategies for every message and stream item, shared by the test files.
#![allow(dead_code)]

use std::net::{Ipv6Addr, SocketAddrV6};

use nano_core::{
    Amount, Block, BlockHash, ChangeBlock, Link, OpenBlock, PublicKey, ReceiveBlock, Root,
    SendBlock, Signature, StateBlock,
};
use nano_messages::stream::{BulkPullAccountItem, Frontier, PendingEntry};
use nano_messages::*;
use proptest::collection::vec;
use proptest::prelude::*;

pub fn b32() -> impl Strategy<Value = [u8; 32]> {
    prop::array::uniform32(any::<u8>())
}
pub fn nonzero32() -> impl Strategy<Value = [u8; 32]> {
    b32().prop_filter("non-zero", |b| b.iter().any(|x| *x != 0))
}
pub fn key() -> impl Strategy<Value = PublicKey> {
    b32().prop_map(PublicKey)
}
pub fn hash() -> impl Strategy<Value = BlockHash> {
    b32().prop_map(BlockHash)
}
pub fn sig() -> impl Strategy<Value = Signature> {
    (b32(), b32()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}
pub fn amount() -> impl Strategy<Value = Amount> {
    any::<u128>().prop_map(Amount::raw)
}

pub fn block() -> impl Strategy<Value = Block> {
    prop_oneof![
        (hash(), key(), amount(), sig(), any::<u64>()).prop_map(|(p, d, b, s, w)| Block::Send(
            SendBlock {
                previous: p,
                destination: d,
                balance: b,
                signature: s,
                work: w
            }
        )),
        (hash(), hash(), sig(), any::<u64>()).prop_map(|(p, src, s, w)| Block::Receive(
            ReceiveBlock {
                previous: p,
                source: src,
                signature: s,
                work: w
            }
        )),
        (hash(), key(), key(), sig(), any::<u64>()).prop_map(|(src, r, a, s, w)| Block::Open(
            OpenBlock {
                source: src,
                representative: r,
                account: a,
                signature: s,
                work: w
            }
        )),
        (hash(), key(), sig(), any::<u64>()).prop_map(|(p, r, s, w)| Block::Change(ChangeBlock {
            previous: p,
            representative: r,
            signature: s,
            work: w
        })),
        (key(), hash(), key(), amount(), b32(), sig(), any::<u64>()).prop_map(
            |(a, p, r, b, l, s, w)| Block::State(StateBlock {
                account: a,
                previous: p,
                representative: r,
                balance: b,
                link: Link(l),
                signature: s,
                work: w
            })
        ),
    ]
}

pub fn vote(max_hashes: usize) -> impl Strategy<Value = Vote> {
    (key(), sig(), any::<u64>(), vec(hash(), 0..=max_hashes)).prop_map(|(a, s, t, h)| Vote {
        account: a,
        signature: s,
        timestamp: t,
        hashes: h,
    })
}

fn endpoint() -> impl Strategy<Value = SocketAddrV6> {
    (any::<[u8; 16]>(), any::<u16>())
        .prop_map(|(ip, port)| SocketAddrV6::new(Ipv6Addr::from(ip), port, 0, 0))
}

pub fn telemetry() -> impl Strategy<Value = TelemetryData> {
    (
        (
            sig(),
            key(),
            any::<[u64; 5]>(),
            any::<u32>(),
            any::<u8>(),
            any::<u64>(),
        ),
        (hash(), any::<[u8; 5]>(), any::<u64>(), any::<u64>()),
        vec(any::<u8>(), 0..=TelemetryData::MAX_UNKNOWN_DATA),
    )
        .prop_map(
            |((s, n, c, pc, pv, up), (g, v, ts, ad), unknown)| TelemetryData {
                signature: s,
                node_id: n,
                block_count: c[0],
                cemented_count: c[1],
                unchecked_count: c[2],
                account_count: c[3],
                bandwidth_cap: c[4],
                peer_count: pc,
                protocol_version: pv,
                uptime: up,
                genesis_block: g,
                major_version: v[0],
                minor_version: v[1],
                patch_version: v[2],
                pre_release_version: v[3],
                maker: v[4],
                timestamp: ts,
                active_difficulty: ad,
                unknown_data: unknown,
            },
        )
}

pub fn handshake() -> impl Strategy<Value = NodeIdHandshake> {
    let response = prop::option::of((
        key(),
        sig(),
        prop::option::of((b32(), hash()).prop_map(|(salt, genesis)| HandshakeV2 { salt, genesis })),
    ))
    .prop_map(|r| {
        r.map(|(node_id, signature, v2)| HandshakeResponse {
            node_id,
            signature,
            v2,
        })
    });
    (prop::option::of(b32()), response, any::<bool>()).prop_map(|(query, response, v2)| {
        let v2 = response.as_ref().map_or(v2, |r| r.v2.is_some());
        NodeIdHandshake {
            query,
            response,
            v2,
        }
    })
}

pub fn hash_type() -> impl Strategy<Value = HashType> {
    prop_oneof![Just(HashType::Account), Just(HashType::Block)]
}

pub fn bpa_flags() -> impl Strategy<Value = BulkPullAccountFlags> {
    prop_oneof![
        Just(BulkPullAccountFlags::PendingHashAndAmount),
        Just(BulkPullAccountFlags::PendingAddressOnly),
        Just(BulkPullAccountFlags::PendingHashAmountAndAddress),
    ]
}

pub fn asc_pull_req() -> impl Strategy<Value = AscPullReq> {
    let payload = prop_oneof![
        (b32(), any::<u8>(), hash_type()).prop_map(|(s, c, t)| AscPullReqPayload::Blocks {
            start: HashOrAccount(s),
            count: c,
            start_type: t
        }),
        (b32(), hash_type()).prop_map(|(s, t)| AscPullReqPayload::AccountInfo {
            target: HashOrAccount(s),
            target_type: t
        }),
        (key(), any::<u16>())
            .prop_map(|(s, c)| AscPullReqPayload::Frontiers { start: s, count: c }),
    ];
    (any::<u64>(), payload).prop_map(|(id, payload)| AscPullReq { id, payload })
}

pub fn asc_pull_ack(max_blocks: usize, max_frontiers: usize) -> impl Strategy<Value = AscPullAck> {
    let payload = prop_oneof![
        vec(block(), 0..=max_blocks).prop_map(AscPullAckPayload::Blocks),
        (key(), hash(), hash(), any::<u64>(), hash(), any::<u64>()).prop_map(
            |(account, open, head, block_count, conf_frontier, conf_height)| {
                AscPullAckPayload::AccountInfo(AccountInfoAck {
                    account,
                    open,
                    head,
                    block_count,
                    conf_frontier,
                    conf_height,
                })
            }
        ),
        vec((nonzero32(), nonzero32()), 0..=max_frontiers).prop_map(|f| {
            AscPullAckPayload::Frontiers(
                f.into_iter()
                    .map(|(a, h)| (PublicKey(a), BlockHash(h)))
                    .collect(),
            )
        }),
    ];
    (any::<u64>(), payload).prop_map(|(id, payload)| AscPullAck { id, payload })
}

/// Any message of protocol 0x15 that can be encoded.
pub fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        prop::array::uniform8(endpoint())
            .prop_map(|peers| Message::Keepalive(Box::new(Keepalive { peers }))),
        (block(), any::<bool>()).prop_map(|(block, originator)| Message::Publish(Box::new(
            Publish { block, originator }
        ))),
        vec((nonzero32(), b32()), 1..=255).prop_map(|p| Message::ConfirmReq(ConfirmReq {
            pairs: p
                .into_iter()
                .map(|(h, r)| (BlockHash(h), Root(r)))
                .collect()
        })),
        vec((b32(), nonzero32()), 1..=3).prop_map(|p| Message::ConfirmReq(ConfirmReq {
            pairs: p
                .into_iter()
                .map(|(h, r)| (BlockHash(h), Root(r)))
                .collect()
        })),
        (vote(255), any::<bool>()).prop_map(|(vote, rebroadcast)| Message::ConfirmAck(Box::new(
            ConfirmAck { vote, rebroadcast }
        ))),
        (b32(), hash(), prop::option::of(any::<u32>()), any::<bool>()).prop_map(|(s, e, c, a)| {
            Message::BulkPull(BulkPull {
                start: HashOrAccount(s),
                end: e,
                count: c,
                ascending: a,
            })
        }),
        Just(Message::BulkPush),
        (key(), any::<u32>(), any::<u32>(), any::<bool>()).prop_map(
            |(start, age, count, only_confirmed)| Message::FrontierReq(FrontierReq {
                start,
                age,
                count,
                only_confirmed
            })
        ),
        handshake().prop_map(|h| Message::NodeIdHandshake(Box::new(h))),
        (key(), amount(), bpa_flags()).prop_map(|(account, minimum_amount, flags)| {
            Message::BulkPullAccount(BulkPullAccount {
                account,
                minimum_amount,
                flags,
            })
        }),
        Just(Message::TelemetryReq),
        prop::option::of(telemetry()).prop_map(|t| Message::TelemetryAck(t.map(Box::new))),
        asc_pull_req().prop_map(Message::AscPullReq),
        asc_pull_ack(8, 40).prop_map(Message::AscPullAck),
    ]
}

pub fn frontier() -> impl Strategy<Value = Frontier> {
    (nonzero32(), nonzero32()).prop_map(|(a, h)| Frontier {
        account: PublicKey(a),
        head: BlockHash(h),
    })
}

pub fn pending_entry(flags: BulkPullAccountFlags) -> BoxedStrategy<PendingEntry> {
    let e = match flags {
        BulkPullAccountFlags::PendingHashAndAmount => (hash(), amount())
            .prop_map(|(hash, amount)| PendingEntry::HashAndAmount { hash, amount })
            .boxed(),
        BulkPullAccountFlags::PendingAddressOnly => key().prop_map(PendingEntry::Source).boxed(),
        BulkPullAccountFlags::PendingHashAmountAndAddress => (hash(), amount(), key())
            .prop_map(|(hash, amount, source)| PendingEntry::HashAmountAndSource {
                hash,
                amount,
                source,
            })
            .boxed(),
    };
    e.prop_filter("non-zero entry", |e| {
        let mut v = Vec::new();
        nano_messages::stream::encode_pending_entry(e, &mut v);
        v.iter().any(|b| *b != 0)
    })
    .boxed()
}

pub fn bpa_stream() -> impl Strategy<Value = (BulkPullAccountFlags, Vec<BulkPullAccountItem>)> {
    bpa_flags().prop_flat_map(|flags| {
        (hash(), amount(), vec(pending_entry(flags), 0..20)).prop_map(
            move |(frontier, balance, entries)| {
                let mut items = vec![BulkPullAccountItem::Head { frontier, balance }];
                items.extend(entries.into_iter().map(BulkPullAccountItem::Entry));
                (flags, items)
            },
        )
    })
}
