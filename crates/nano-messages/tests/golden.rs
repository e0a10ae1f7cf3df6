//! Golden bytes written by hand from the fact sheet's layouts (sections 4, 5 and 11): each
//! is decoded, checked field by field, and re-encoded byte for byte.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};

use bytes::BytesMut;
use nano_core::network::DEV_GENESIS_PRIVATE_KEY;
use nano_core::{Amount, Block, BlockHash, KeyPair, Network, PublicKey, RawKey};
use nano_messages::stream::*;
use nano_messages::*;
use tokio_util::codec::Decoder;

/// Hex with any whitespace; `{XX*n}` repeats byte XX n times.
fn h(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(stripped) = rest.strip_prefix('{') {
            let end = stripped.find('}').unwrap();
            let (byte, n) = stripped[..end].split_once('*').unwrap();
            let b = u8::from_str_radix(byte, 16).unwrap();
            out.extend(std::iter::repeat_n(b, n.parse().unwrap()));
            rest = &stripped[end + 1..];
            continue;
        }
        let c = rest.chars().next().unwrap();
        if c.is_whitespace() {
            rest = &rest[1..];
            continue;
        }
        out.push(u8::from_str_radix(&rest[..2], 16).unwrap());
        rest = &rest[2..];
    }
    out
}

/// Decodes as datagram and through the stream codec, re-encodes, compares.
fn golden(bytes: &[u8]) -> (Header, Message) {
    let (header, msg) = decode_datagram(bytes, Some(Network::Live)).expect("decodes");
    assert_eq!(
        msg.to_bytes(Network::Live).unwrap(),
        bytes,
        "re-encode {msg:?}"
    );
    let mut codec = MessageCodec::new(Network::Live);
    let mut buf = BytesMut::from(bytes);
    let frame = codec.decode(&mut buf).unwrap().expect("one frame");
    assert_eq!(frame.message.as_ref().unwrap(), &msg);
    assert_eq!(&frame.payload[..], &bytes[8..]);
    assert!(buf.is_empty());
    (header, msg)
}

fn key(b: u8) -> PublicKey {
    PublicKey([b; 32])
}
fn hash(b: u8) -> BlockHash {
    BlockHash([b; 32])
}

#[test]
fn header_examples_of_the_fact_sheet() {
    let hd = Header::decode(&h("52 43 15 15 14 02 00 00")).unwrap();
    assert_eq!(hd.network, Network::Live);
    assert_eq!(hd.message_type, MessageType::Keepalive);
    assert_eq!(
        (hd.version_max, hd.version_using, hd.version_min),
        (0x15, 0x15, 0x14)
    );
    assert_eq!(hd.payload_size(), 144);
    let cases: &[(&str, MessageType, u16, usize)] = &[
        ("52 43 15 15 14 03 04 06", MessageType::Publish, 0x0604, 216),
        (
            "52 43 15 15 14 04 00 11",
            MessageType::ConfirmReq,
            0x1100,
            64,
        ),
        (
            "52 43 15 15 14 05 01 11",
            MessageType::ConfirmAck,
            0x1101,
            104 + 16 * 32,
        ),
        (
            "52 43 15 15 14 05 F1 F1",
            MessageType::ConfirmAck,
            0xF1F1,
            104 + 255 * 32,
        ),
        (
            "52 43 15 15 14 0a 05 00",
            MessageType::NodeIdHandshake,
            0x0005,
            32,
        ),
        (
            "52 43 15 15 14 0a 07 00",
            MessageType::NodeIdHandshake,
            0x0007,
            192,
        ),
        (
            "52 43 15 15 14 0a 06 00",
            MessageType::NodeIdHandshake,
            0x0006,
            160,
        ),
        (
            "52 43 15 15 14 0d CA 00",
            MessageType::TelemetryAck,
            0x00CA,
            202,
        ),
    ];
    for (hex, t, e, size) in cases {
        let hd = Header::decode(&h(hex)).unwrap();
        assert_eq!(
            (hd.message_type, hd.extensions, hd.payload_size()),
            (*t, *e, *size)
        );
        assert_eq!(hd.encode().to_vec(), h(hex));
    }
    // Other networks' magic.
    assert_eq!(
        Header::decode(&h("52 41 15 15 14 02 00 00"))
            .unwrap()
            .network,
        Network::Dev
    );
    assert_eq!(
        Header::decode(&h("52 42 15 15 14 02 00 00"))
            .unwrap()
            .network,
        Network::Beta
    );
    assert_eq!(
        Header::decode(&h("52 58 15 15 14 02 00 00"))
            .unwrap()
            .network,
        Network::Test
    );
}

#[test]
fn header_rejections() {
    use HeaderError::*;
    assert_eq!(Header::decode(&h("52 43 15 15 14 02 00")), Err(TooShort(7)));
    assert_eq!(
        Header::decode(&h("52 44 15 15 14 02 00 00")),
        Err(UnknownNetwork([0x52, 0x44]))
    );
    assert_eq!(
        Header::decode_for(&h("52 41 15 15 14 02 00 00"), Network::Live),
        Err(WrongNetwork {
            expected: Network::Live,
            got: [0x52, 0x41]
        })
    );
    assert_eq!(
        Header::decode(&h("52 43 15 13 14 02 00 00")),
        Err(VersionTooOld(0x13))
    );
    // version_max / version_min are not checked, version_using 0x14 is accepted.
    assert!(Header::decode(&h("52 43 01 14 99 02 00 00")).is_ok());
    for t in [0x00u8, 0x01, 0x09, 0x10, 0xFF] {
        let mut b = h("52 43 15 15 14 02 00 00");
        b[5] = t;
        assert_eq!(Header::decode(&b), Err(InvalidType(t)));
    }
    // Order: network before version before type.
    assert!(matches!(
        Header::decode_for(&h("52 41 01 01 01 00 00 00"), Network::Live),
        Err(WrongNetwork { .. })
    ));
    assert_eq!(
        Header::decode(&h("52 43 01 01 01 00 00 00")),
        Err(VersionTooOld(1))
    );
    // The largest computable payload (asc_pull with ext 0xFFFF) is within the limit.
    let hd = Header::decode(&h("52 43 15 15 14 0e FF FF")).unwrap();
    assert_eq!(hd.payload_size(), 9 + 0xFFFF);
    assert!(hd.payload_size() <= MAX_PAYLOAD_SIZE);
    assert_eq!(MAX_PAYLOAD_SIZE, 66_560);
}

#[test]
fn keepalive() {
    let bytes = h("52 43 15 15 14 02 00 00
        00000000000000000000FFFF01020304 A31B
        00000000000000000000000000000001 F0D2
        {00*108}");
    let (_, msg) = golden(&bytes);
    let Message::Keepalive(k) = msg else { panic!() };
    let eps = k.endpoints();
    assert_eq!(
        eps[0],
        SocketAddr::new(Ipv4Addr::new(1, 2, 3, 4).into(), 7075)
    );
    assert_eq!(eps[1], SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 54000));
    assert_eq!(
        k.peers[2],
        SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 0, 0, 0)
    );
    let built = Keepalive::from_peers([eps[0], eps[1]]);
    assert_eq!(*k, built);
}

const STATE_BODY: &str =
    "{11*32} {22*32} {33*32} 000000000000000000000000000003E8 {44*32} {55*64} 0102030405060708";

#[test]
fn publish_state_originator() {
    let bytes = h(&format!("52 43 15 15 14 03 04 06 {STATE_BODY}"));
    let (_, msg) = golden(&bytes);
    let Message::Publish(p) = msg else { panic!() };
    assert!(p.originator);
    let Block::State(s) = &p.block else { panic!() };
    assert_eq!(s.account, key(0x11));
    assert_eq!(s.balance, Amount::raw(1000));
    assert_eq!(s.work, 0x0102030405060708, "state work is big-endian");
}

#[test]
fn publish_legacy_blocks() {
    // send: previous, destination, balance BE, signature, work LE.
    let send = h("52 43 15 15 14 03 00 02 {01*32} {02*32} {00*15}05 {03*64} 0807060504030201");
    let (_, msg) = golden(&send);
    let Message::Publish(p) = msg else { panic!() };
    assert!(!p.originator);
    assert_eq!(
        p.block.work(),
        0x0102030405060708,
        "legacy work is little-endian"
    );
    assert_eq!(p.block.balance_field(), Some(Amount::raw(5)));
    golden(&h("52 43 15 15 14 03 00 03 {01*32} {02*32} {03*64} {04*8}")); // receive
    golden(&h(
        "52 43 15 15 14 03 00 04 {01*32} {02*32} {05*32} {03*64} {04*8}",
    )); // open
    golden(&h("52 43 15 15 14 03 00 05 {01*32} {02*32} {03*64} {04*8}")); // change
}

#[test]
fn publish_with_a_non_block_type_is_a_payload_error() {
    for nibble in ["00", "01", "07", "0F"] {
        let bytes = h(&format!("52 43 15 15 14 03 00 {nibble}"));
        let hd = Header::decode(&bytes).unwrap();
        assert_eq!(hd.payload_size(), 0);
        assert!(matches!(
            decode_datagram(&bytes, None),
            Err(DatagramError::Message(MessageError::InvalidBlockType(_)))
        ));
    }
}

#[test]
fn confirm_req() {
    let one = h("52 43 15 15 14 04 00 11 {AA*32} {BB*32}");
    let (_, msg) = golden(&one);
    let Message::ConfirmReq(c) = msg else {
        panic!()
    };
    assert_eq!(c.pairs, vec![(hash(0xAA), hash(0xBB).into())]);

    // 16 pairs need the v2 count: ext 0x1101.
    let mut sixteen = h("52 43 15 15 14 04 01 11");
    for i in 1..=16u8 {
        sixteen.extend([i; 32]);
        sixteen.extend([i + 100; 32]);
    }
    let (_, msg) = golden(&sixteen);
    let Message::ConfirmReq(c) = msg else {
        panic!()
    };
    assert_eq!(c.pairs.len(), 16);
    assert_eq!(c.pairs[15].0, hash(16));

    // 15 pairs stay v1: ext 0xF100.
    let mut fifteen = h("52 43 15 15 14 04 00 F1");
    for i in 1..=15u8 {
        fifteen.extend([i; 64]);
    }
    golden(&fifteen);

    // An all-zero pair invalidates the message; a count of 0 too.
    let zero = h("52 43 15 15 14 04 00 21 {AA*64} {00*64}");
    assert_eq!(
        decode_datagram(&zero, None),
        Err(DatagramError::Message(MessageError::ZeroPair { index: 1 }))
    );
    let none = h("52 43 15 15 14 04 00 01");
    assert_eq!(
        decode_datagram(&none, None),
        Err(DatagramError::Message(MessageError::NoPairs))
    );
    // Half-zero pairs are fine.
    golden(&h("52 43 15 15 14 04 00 11 {00*32} {BB*32}"));
}

#[test]
fn confirm_ack_and_vote_vectors() {
    // Section 10: final vote by the dev genesis key for the dev genesis hash.
    let kp = KeyPair::from_private(RawKey::decode_hex(DEV_GENESIS_PRIVATE_KEY).unwrap());
    let genesis = Network::Dev.params().genesis_hash;
    let vote = Vote::new_final(&kp, vec![genesis]);
    assert_eq!(
        vote.hash().encode_hex(),
        "8F69B4C42480A18B566E576DC40657115EF30C8813F5EB108F1B7A10FB017184"
    );
    assert_eq!(
        vote.signature.encode_hex(),
        "E663703C1A78D901F4AEE2A3FDE68E7AE477706F91FBA9C252BEFA2944E007F17391C645412E615665209D426C74BB5437A28668D70842433456E73B56E87D06"
    );
    assert!(vote.verify());
    let normal = Vote::new_signed(&kp, 1_700_000_000_000, 9, vec![genesis]);
    assert_eq!(normal.timestamp, 0x0000018BCFE56809);
    assert_eq!(
        normal.hash().encode_hex(),
        "96533E290E047FAB8445621B2E669888ED7D118B635CB7A872AA3CBB612D2194"
    );
    assert_eq!(normal.duration_ms(), 8192);
    assert_eq!(normal.timestamp_ms(), 1_700_000_000_000 & !0xF);

    // The wire form of that final vote, written by hand.
    let bytes = h(&format!(
        "52 41 15 15 14 05 00 11 {} {} FFFFFFFFFFFFFFFF {}",
        kp.public().encode_hex(),
        vote.signature.encode_hex(),
        genesis.encode_hex()
    ));
    let (_, msg) = decode_datagram(&bytes, Some(Network::Dev)).unwrap();
    assert_eq!(msg.to_bytes(Network::Dev).unwrap(), bytes);
    let Message::ConfirmAck(a) = msg else {
        panic!()
    };
    assert!(a.vote.is_final() && a.vote.verify() && !a.rebroadcast);

    // Timestamp is little-endian; rebroadcast flag bit 2 → ext 0x1104.
    let rb = h("52 43 15 15 14 05 04 11 {01*32} {02*64} 0968E5CF8B010000 {03*32}");
    let (_, msg) = golden(&rb);
    let Message::ConfirmAck(a) = msg else {
        panic!()
    };
    assert!(a.rebroadcast);
    assert_eq!(a.vote.timestamp, 0x0000018BCFE56809);
    assert_eq!(a.vote.duration_code(), 9);

    // 16 hashes: 0x1101; 255 hashes: 0xF1F1.
    let sixteen = h("52 43 15 15 14 05 01 11 {01*32} {02*64} {FF*8} {07*512}");
    let (_, msg) = golden(&sixteen);
    let Message::ConfirmAck(a) = msg else {
        panic!()
    };
    assert_eq!(a.vote.hashes.len(), 16);
    let max = h("52 43 15 15 14 05 F1 F1 {01*32} {02*64} {FF*8} {07*8160}");
    let (_, msg) = golden(&max);
    let Message::ConfirmAck(a) = msg else {
        panic!()
    };
    assert_eq!(a.vote.hashes.len(), 255);

    // RsNano leaves the not_a_block nibble 0: accepted, re-encoded with nano-node's 1.
    let rs = h("52 43 15 15 14 05 00 10 {01*32} {02*64} {FF*8} {07*32}");
    let (_, msg) = decode_datagram(&rs, None).unwrap();
    let mut expected = rs.clone();
    expected[7] = 0x11;
    assert_eq!(msg.to_bytes(Network::Live).unwrap(), expected);
}

#[test]
fn node_id_handshake() {
    // query only, v2 flag (as nano-node sends).
    let (_, msg) = golden(&h("52 43 15 15 14 0a 05 00 {C0*32}"));
    assert_eq!(
        msg,
        Message::NodeIdHandshake(Box::new(NodeIdHandshake::query([0xC0; 32])))
    );
    // query only, v1.
    golden(&h("52 43 15 15 14 0a 01 00 {C0*32}"));
    // query + v2 response: cookie, node_id, salt, genesis, signature.
    let (_, msg) = golden(&h(
        "52 43 15 15 14 0a 07 00 {C0*32} {D1*32} {5A*32} {6E*32} {51*64}",
    ));
    let Message::NodeIdHandshake(hs) = msg else {
        panic!()
    };
    let r = hs.response.as_ref().unwrap();
    assert_eq!(r.node_id, key(0xD1));
    assert_eq!(
        r.v2,
        Some(HandshakeV2 {
            salt: [0x5A; 32],
            genesis: hash(0x6E)
        })
    );
    // response only, v2 and v1.
    golden(&h(
        "52 43 15 15 14 0a 06 00 {D1*32} {5A*32} {6E*32} {51*64}",
    ));
    let (_, msg) = golden(&h("52 43 15 15 14 0a 02 00 {D1*32} {51*64}"));
    let Message::NodeIdHandshake(hs) = msg else {
        panic!()
    };
    assert!(hs.query.is_none() && hs.response.as_ref().unwrap().v2.is_none());
    // Signing helpers: v1 signs the cookie, v2 cookie ‖ salt ‖ genesis.
    let kp = KeyPair::from_private(RawKey([9; 32]));
    let cookie = [0x42; 32];
    let v1 = HandshakeResponse::sign_v1(&cookie, &kp);
    assert!(v1.verify(&cookie) && !v1.verify(&[0x43; 32]));
    assert!(nano_core::keys::verify(
        &kp.public(),
        &cookie,
        &v1.signature
    ));
    let v2 = HandshakeResponse::sign_v2(&cookie, [7; 32], hash(8), &kp);
    assert!(v2.verify(&cookie));
    let mut signed = cookie.to_vec();
    signed.extend([7; 32]);
    signed.extend([8; 32]);
    assert!(nano_core::keys::verify(
        &kp.public(),
        &signed,
        &v2.signature
    ));
    let mut forged = v2.clone();
    forged.v2.as_mut().unwrap().genesis = hash(9);
    assert!(!forged.verify(&cookie));
}

const TELEMETRY: &str = "{AA*64} {BB*32}
    0000000000000001 0000000000000002 0000000000000003 0000000000000004 0000000000000005
    00000006 15 0000000000000007 {CC*32} 1B 02 03 04 03 0000018BCFE56800 FFFFFFC000000000";

#[test]
fn telemetry() {
    golden(&h("52 43 15 15 14 0c 00 00"));
    let bytes = h(&format!("52 43 15 15 14 0d CA 00 {TELEMETRY}"));
    let (_, msg) = golden(&bytes);
    let Message::TelemetryAck(Some(t)) = msg else {
        panic!()
    };
    assert_eq!(
        (
            t.block_count,
            t.cemented_count,
            t.unchecked_count,
            t.account_count,
            t.bandwidth_cap
        ),
        (1, 2, 3, 4, 5)
    );
    assert_eq!((t.peer_count, t.protocol_version, t.uptime), (6, 0x15, 7));
    assert_eq!(t.genesis_block, hash(0xCC));
    assert_eq!(
        (
            t.major_version,
            t.minor_version,
            t.patch_version,
            t.pre_release_version
        ),
        (27, 2, 3, 4)
    );
    assert_eq!(
        t.maker,
        telemetry::maker::RSNANO,
        "RsNano's maker 3 is accepted"
    );
    assert_eq!(t.timestamp, 0x18BCFE56800);
    assert_eq!(t.active_difficulty, 0xFFFFFFC000000000);
    assert!(t.unknown_data.is_empty());
    // Unknown trailing fields are kept (ext 0x00CD = 205).
    let bytes = h(&format!("52 43 15 15 14 0d CD 00 {TELEMETRY} 010203"));
    let (_, msg) = golden(&bytes);
    let Message::TelemetryAck(Some(mut t)) = msg else {
        panic!()
    };
    assert_eq!(t.unknown_data, vec![1, 2, 3]);
    // Upper extension bits are not part of the size.
    let (_, m2) = decode_datagram(
        &h(&format!("52 43 15 15 14 0d CD FC {TELEMETRY} 010203")),
        None,
    )
    .unwrap();
    assert_eq!(m2, Message::TelemetryAck(Some(t.clone())));
    // Signature over bytes 64..end, unknown data included.
    let kp = KeyPair::from_private(RawKey([3; 32]));
    t.sign(&kp);
    assert!(t.verify_signature());
    let bytes = Message::TelemetryAck(Some(t.clone()))
        .to_bytes(Network::Live)
        .unwrap();
    assert!(nano_core::keys::verify(
        &kp.public(),
        &bytes[8 + 64..],
        &t.signature
    ));
    t.unknown_data[0] ^= 1;
    assert!(!t.verify_signature());
    // Empty ack, and a too-short one.
    assert_eq!(
        golden(&h("52 43 15 15 14 0d 00 00")).1,
        Message::TelemetryAck(None)
    );
    assert!(matches!(
        decode_datagram(&h("52 43 15 15 14 0d 01 00 00"), None),
        Err(DatagramError::Message(MessageError::Truncated { .. }))
    ));
}

#[test]
fn legacy_bootstrap_requests() {
    let (_, msg) = golden(&h("52 43 15 15 14 08 02 00 {11*32} FFFFFFFF E8030000"));
    assert_eq!(
        msg,
        Message::FrontierReq(FrontierReq {
            start: key(0x11),
            age: u32::MAX,
            count: 1000,
            only_confirmed: true
        })
    );
    let (_, msg) = golden(&h("52 43 15 15 14 06 00 00 {11*32} {22*32}"));
    assert_eq!(
        msg,
        Message::BulkPull(BulkPull {
            start: HashOrAccount([0x11; 32]),
            end: hash(0x22),
            count: None,
            ascending: false
        })
    );
    let (_, msg) = golden(&h(
        "52 43 15 15 14 06 03 00 {11*32} {22*32} 00 0A000000 000000",
    ));
    assert_eq!(
        msg,
        Message::BulkPull(BulkPull {
            start: HashOrAccount([0x11; 32]),
            end: hash(0x22),
            count: Some(10),
            ascending: true
        })
    );
    assert_eq!(
        decode_datagram(
            &h("52 43 15 15 14 06 01 00 {11*32} {22*32} 01 0A000000 000000"),
            None
        ),
        Err(DatagramError::Message(MessageError::ExtendedCountPrefix(1)))
    );
    let (_, msg) = golden(&h(
        "52 43 15 15 14 0b 00 00 {11*32} 000000000000000000000000000F4240 02",
    ));
    assert_eq!(
        msg,
        Message::BulkPullAccount(BulkPullAccount {
            account: key(0x11),
            minimum_amount: Amount::raw(1_000_000),
            flags: BulkPullAccountFlags::PendingHashAmountAndAddress
        })
    );
    assert_eq!(
        decode_datagram(&h("52 43 15 15 14 0b 00 00 {11*32} {00*16} 03"), None),
        Err(DatagramError::Message(MessageError::BulkPullAccountFlags(
            3
        )))
    );
    assert_eq!(golden(&h("52 43 15 15 14 07 00 00")).1, Message::BulkPush);
}

#[test]
fn asc_pull() {
    let (_, msg) = golden(&h(
        "52 43 15 15 14 0e 22 00 01 0000000000000007 {11*32} 80 00",
    ));
    assert_eq!(
        msg,
        Message::AscPullReq(AscPullReq {
            id: 7,
            payload: AscPullReqPayload::Blocks {
                start: HashOrAccount([0x11; 32]),
                count: 128,
                start_type: HashType::Account
            }
        })
    );
    golden(&h("52 43 15 15 14 0e 21 00 02 0102030405060708 {11*32} 01"));
    let (_, msg) = golden(&h(
        "52 43 15 15 14 0e 22 00 03 0000000000000001 {11*32} 03E8",
    ));
    let Message::AscPullReq(AscPullReq {
        payload: AscPullReqPayload::Frontiers { count, .. },
        ..
    }) = msg
    else {
        panic!()
    };
    assert_eq!(count, 1000);

    let (_, msg) = golden(&h("52 43 15 15 14 0f 90 00 02 0000000000000009 {01*32} {02*32} {03*32} 000000000000000A {04*32} 0000000000000008"));
    let Message::AscPullAck(AscPullAck {
        id: 9,
        payload: AscPullAckPayload::AccountInfo(ai),
    }) = msg
    else {
        panic!()
    };
    assert_eq!((ai.block_count, ai.conf_height, ai.head), (10, 8, hash(3)));

    // One state block then the not_a_block terminator: 1 + 216 + 1 = 218 = 0xDA.
    let (_, msg) = golden(&h(&format!(
        "52 43 15 15 14 0f DA 00 01 0000000000000009 06 {STATE_BODY} 01"
    )));
    let Message::AscPullAck(AscPullAck {
        payload: AscPullAckPayload::Blocks(b),
        ..
    }) = msg
    else {
        panic!()
    };
    assert_eq!(b.len(), 1);
    golden(&h("52 43 15 15 14 0f 01 00 01 0000000000000009 01"));

    let (_, msg) = golden(&h(
        "52 43 15 15 14 0f 80 00 03 0000000000000009 {11*32} {22*32} {00*64}",
    ));
    let Message::AscPullAck(AscPullAck {
        payload: AscPullAckPayload::Frontiers(f),
        ..
    }) = &msg
    else {
        panic!()
    };
    assert_eq!(f, &vec![(key(0x11), hash(0x22))]);
    // RsNano-style and nano-node-style terminators: zero account or zero hash ends the list.
    for term in ["{00*32} {22*32}", "{11*32} {00*32}"] {
        let (_, m) = decode_datagram(
            &h(&format!(
                "52 43 15 15 14 0f 80 00 03 0000000000000009 {{11*32}} {{22*32}} {term}"
            )),
            None,
        )
        .unwrap();
        assert_eq!(m, msg);
    }
    // Trailing bytes are allowed for asc_pull_* (ext says 3 more bytes than used).
    let (_, m) = decode_datagram(
        &h("52 43 15 15 14 0e 25 00 03 0000000000000001 {11*32} 03E8 AABBCC"),
        None,
    )
    .unwrap();
    assert!(matches!(m, Message::AscPullReq(_)));
    // Unknown type, bad hash type, missing terminators.
    assert_eq!(
        decode_datagram(&h("52 43 15 15 14 0e 00 00 04 0000000000000001"), None),
        Err(DatagramError::Message(MessageError::AscPullType(4)))
    );
    assert_eq!(
        decode_datagram(
            &h("52 43 15 15 14 0e 21 00 02 0000000000000001 {11*32} 02"),
            None
        ),
        Err(DatagramError::Message(MessageError::HashType(2)))
    );
    assert!(decode_datagram(&h("52 43 15 15 14 0f 00 00 01 0000000000000009"), None).is_err());
    assert!(decode_datagram(
        &h("52 43 15 15 14 0f 40 00 03 0000000000000009 {11*32} {22*32}"),
        None
    )
    .is_err());
}

#[test]
fn frontier_stream() {
    let bytes = h("{11*32} {22*32} {33*32} {44*32} {00*64} 52");
    let mut c = FrontierStreamCodec::new();
    let mut buf = BytesMut::from(&bytes[..]);
    assert_eq!(
        c.decode(&mut buf).unwrap(),
        Some(StreamItem::Item(Frontier {
            account: key(0x11),
            head: hash(0x22)
        }))
    );
    assert_eq!(
        c.decode(&mut buf).unwrap(),
        Some(StreamItem::Item(Frontier {
            account: key(0x33),
            head: hash(0x44)
        }))
    );
    assert_eq!(c.decode(&mut buf).unwrap(), Some(StreamItem::End));
    assert_eq!(c.decode(&mut buf).unwrap(), None);
    assert_eq!(
        &buf[..],
        &[0x52],
        "bytes after the terminator are left alone"
    );
    let mut out = Vec::new();
    encode_frontier(
        &Frontier {
            account: key(0x11),
            head: hash(0x22),
        },
        &mut out,
    );
    encode_frontier(
        &Frontier {
            account: key(0x33),
            head: hash(0x44),
        },
        &mut out,
    );
    encode_frontiers_end(&mut out);
    assert_eq!(out, bytes[..bytes.len() - 1]);
    // Either half zero terminates.
    assert_eq!(
        decode_frontier(&h("{00*32} {22*32}")),
        Next::Ready(StreamItem::End, 64)
    );
    assert_eq!(
        decode_frontier(&h("{11*32} {00*32}")),
        Next::Ready(StreamItem::End, 64)
    );
    assert_eq!(decode_frontier(&h("{11*63}")), Next::NeedMore(64));
}

#[test]
fn bulk_pull_block_stream() {
    let bytes = h(&format!(
        "06 {STATE_BODY} 05 {{01*32}} {{02*32}} {{03*64}} {{04*8}} 01"
    ));
    let mut c = BlockStreamCodec::new();
    let mut buf = BytesMut::from(&bytes[..]);
    let mut blocks = Vec::new();
    while let Some(StreamItem::Item(b)) = c.decode(&mut buf).unwrap() {
        blocks.push(b);
    }
    assert!(c.is_finished() && buf.is_empty());
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].work(), 0x0102030405060708);
    let mut out = Vec::new();
    for b in &blocks {
        encode_stream_block(b, &mut out);
    }
    encode_blocks_end(&mut out);
    assert_eq!(out, bytes);
    assert!(matches!(
        decode_stream_block(&[0]),
        Err(StreamError::BlockType(0))
    ));
    assert!(matches!(
        decode_stream_block(&[7]),
        Err(StreamError::BlockType(7))
    ));
    assert_eq!(decode_stream_block(&[6, 0]).unwrap(), Next::NeedMore(217));
}

#[test]
fn bulk_pull_account_stream() {
    use BulkPullAccountFlags::*;
    let cases = [
        (PendingHashAndAmount, "{AA*32} 00000000000000000000000000000064 {BB*32} 0000000000000000000000000000000A {00*48}"),
        (PendingAddressOnly, "{AA*32} 00000000000000000000000000000064 {CC*32} {00*32}"),
        (PendingHashAmountAndAddress, "{AA*32} 00000000000000000000000000000064 {BB*32} 0000000000000000000000000000000A {CC*32} {00*80}"),
    ];
    for (flags, hex) in cases {
        let bytes = h(hex);
        let mut c = BulkPullAccountStreamCodec::new(flags);
        let mut buf = BytesMut::from(&bytes[..]);
        let head = c.decode(&mut buf).unwrap().unwrap();
        assert_eq!(
            head,
            StreamItem::Item(BulkPullAccountItem::Head {
                frontier: hash(0xAA),
                balance: Amount::raw(100)
            })
        );
        let entry = c.decode(&mut buf).unwrap().unwrap();
        let expected = match flags {
            PendingHashAndAmount => PendingEntry::HashAndAmount {
                hash: hash(0xBB),
                amount: Amount::raw(10),
            },
            PendingAddressOnly => PendingEntry::Source(key(0xCC)),
            PendingHashAmountAndAddress => PendingEntry::HashAmountAndSource {
                hash: hash(0xBB),
                amount: Amount::raw(10),
                source: key(0xCC),
            },
        };
        assert_eq!(
            entry,
            StreamItem::Item(BulkPullAccountItem::Entry(expected))
        );
        assert_eq!(c.decode(&mut buf).unwrap(), Some(StreamItem::End));
        assert!(buf.is_empty());
        let mut out = Vec::new();
        encode_pending_head(&hash(0xAA), &Amount::raw(100), &mut out);
        encode_pending_entry(&expected, &mut out);
        encode_pending_end(flags, &mut out);
        assert_eq!(out, bytes);
    }
}

#[test]
fn trailing_and_truncated_datagrams() {
    let mut b = h("52 43 15 15 14 07 00 00 00");
    assert_eq!(
        decode_datagram(&b, None),
        Err(DatagramError::TrailingBytes { count: 1 })
    );
    b = h("52 43 15 15 14 08 00 00 {11*39}");
    assert_eq!(
        decode_datagram(&b, None),
        Err(DatagramError::Truncated {
            expected: 40,
            got: 39
        })
    );
    // telemetry_ack may carry bytes past its announced size in a datagram.
    let t = h(&format!("52 43 15 15 14 0d CA 00 {TELEMETRY} FFFF"));
    assert!(decode_datagram(&t, None).is_ok());
}
