//! Synthetic captures import to exactly the expected rows: realtime traffic with split,
//! coalesced, retransmitted and reordered segments; every link type in pcap and pcapng;
//! IPv6; UDP; legacy bootstrap streams and ascending bootstrap.

mod common;

use std::net::SocketAddr;

use common::{count, import_bytes, rows, strings};
use nano_core::{Amount, BlockHash, PublicKey};
use nano_messages::stream::{
    encode_blocks_end, encode_frontier, encode_frontiers_end, encode_pending_end,
    encode_pending_entry, encode_pending_head, encode_stream_block, Frontier, PendingEntry,
};
use nano_messages::{
    AscPullAck, AscPullAckPayload, AscPullReq, AscPullReqPayload, BulkPull, BulkPullAccount,
    BulkPullAccountFlags, FrontierReq, HashOrAccount, Message, NodeIdHandshake, TelemetryData,
};
use nanocap::net::linktype;
use nanocap::synth::{self, CaptureBuilder, TcpConn};

fn ep(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn realtime_split_coalesced_retransmitted_and_reordered() {
    let mut b = CaptureBuilder::new(linktype::ETHERNET);
    let mut c = TcpConn::new(ep("10.0.0.1:40000"), ep("10.0.0.2:7075"));
    c.open(&mut b);
    // Handshake first: the connection is realtime.
    let hs = synth::encode(&Message::NodeIdHandshake(Box::new(NodeIdHandshake::query(
        synth::bytes32(7),
    ))));
    c.send(&mut b, true, &hs, &[]);
    // One keepalive split over three segments.
    let ka = synth::keepalive(3);
    c.send(&mut b, true, &ka, &[5, 100]);
    // Two publishes coalesced in one segment, plus the head of a third.
    let (p1, p2, p3) = (synth::publish(1), synth::publish(2), synth::publish(3));
    let mut co = Vec::new();
    co.extend_from_slice(&p1);
    co.extend_from_slice(&p2);
    co.extend_from_slice(&p3[..10]);
    c.send_at(&mut b, true, 0, &co);
    c.send_at(&mut b, true, co.len() as u32, &p3[10..]);
    c.skip(true, (co.len() + p3.len() - 10) as u32);
    // A retransmitted segment (same bytes again) and an overlapping one.
    let p4 = synth::publish(4);
    c.send_at(&mut b, true, 0, &p4);
    c.send_at(&mut b, true, 0, &p4);
    c.send_at(&mut b, true, 50, &p4[50..100]);
    c.skip(true, p4.len() as u32);
    // Out of order: the second half arrives first.
    let p5 = synth::publish(5);
    c.send_at(&mut b, true, 100, &p5[100..]);
    c.send_at(&mut b, true, 0, &p5[..100]);
    c.skip(true, p5.len() as u32);
    // The server answers with telemetry.
    let tel = synth::encode(&Message::TelemetryAck(Some(Box::new(TelemetryData {
        block_count: 42,
        peer_count: 3,
        ..TelemetryData::default()
    }))));
    c.send(&mut b, false, &tel, &[1]);
    c.close(&mut b);

    let imp = import_bytes(&b.to_pcap(), "rt.pcap");
    let db = &imp.db;
    assert_eq!(
        rows(db, "decode_error"),
        0,
        "{:?}",
        strings(db, "select error from decode_error")
    );
    assert_eq!(rows(db, "packet"), 8);
    assert_eq!(
        count(db, "select count(*) from packet where msg_type = 3"),
        5
    );
    assert_eq!(rows(db, "block_state"), 5);
    assert_eq!(rows(db, "keepalive_host"), 3);
    assert_eq!(rows(db, "nodeid_query"), 1);
    assert_eq!(count(db, "select blockcount from telemetry"), 42);
    assert_eq!(
        count(db, "select count(*) from packet where channel = 'realtime'"),
        8
    );
    // open + 8 message events + close
    assert_eq!(rows(db, "connection"), 10);
    assert_eq!(
        strings(db, "select event from connection order by id limit 1"),
        vec!["open connection"]
    );
    assert_eq!(
        strings(db, "select event from connection order by id desc limit 1"),
        vec!["close connection"]
    );
    // The message events are the packets themselves, in capture order, linked by id.
    let mut want_events = vec!["open connection", "node_id_handshake", "keepalive"];
    want_events.extend(["publish"; 5]);
    want_events.extend(["telemetry_ack", "close connection"]);
    assert_eq!(
        strings(db, "select event from connection order by id"),
        want_events
    );
    assert_eq!(
        count(
            db,
            "select count(*) from connection c join packet p on p.id = c.packet_id \
             where c.event = p.msg_name and c.flowkey = p.flow_key and c.time = p.time"
        ),
        8
    );
    // Hashes are the blocks' own.
    let want = synth::state_block(3).hash().encode_hex();
    assert_eq!(
        count(
            db,
            &format!("select count(*) from block_state where hash = '{want}'")
        ),
        1
    );
    // Ids of run 1 start at 1e9 and links resolve.
    assert_eq!(
        count(db, "select count(*) from packet p join block_state b on p.content_table = 'block_state' and b.id = p.content_id"),
        5
    );
    assert!(count(db, "select min(id) from packet") > 1_000_000_000);
    assert_eq!(imp.report.packets as usize, b.len());
    assert_eq!(imp.report.messages, 8);
}

fn small_conversation(link: u32) -> CaptureBuilder {
    let mut b = CaptureBuilder::new(link);
    let mut c = TcpConn::new(ep("[2001:db8::1]:50000"), ep("[2001:db8::2]:7075"));
    c.open(&mut b);
    c.send(&mut b, true, &synth::keepalive(8), &[20]);
    c.close(&mut b);
    b.udp(
        ep("192.0.2.1:7075"),
        ep("192.0.2.2:7075"),
        &synth::publish(9),
    );
    b
}

#[test]
fn every_link_type_in_pcap_and_pcapng_with_ipv6_and_udp() {
    for link in [
        linktype::ETHERNET,
        linktype::LINUX_SLL,
        linktype::LINUX_SLL2,
        linktype::RAW,
        linktype::NULL,
        linktype::LOOP,
    ] {
        let b = small_conversation(link);
        for (name, bytes) in [("x.pcap", b.to_pcap()), ("x.pcapng", b.to_pcapng())] {
            let imp = import_bytes(&bytes, name);
            let db = &imp.db;
            let ctx = format!("link {link} {name}");
            assert_eq!(rows(db, "decode_error"), 0, "{ctx}");
            assert_eq!(rows(db, "packet"), 2, "{ctx}");
            assert_eq!(
                count(
                    db,
                    "select count(*) from packet where ipv = 6 and protocol = 'tcp'"
                ),
                1,
                "{ctx}"
            );
            assert_eq!(
                count(
                    db,
                    "select count(*) from packet where ipv = 4 and protocol = 'udp'"
                ),
                1,
                "{ctx}"
            );
            assert_eq!(rows(db, "keepalive_host"), 8, "{ctx}");
            assert_eq!(
                strings(db, "select srcip from packet where protocol = 'tcp'"),
                vec!["2001:db8::1"],
                "{ctx}"
            );
            // 2024-01-01 00:00:00 UTC plus a few ms.
            assert_eq!(
                strings(db, "select substr(time, 1, 16) from packet limit 1"),
                vec!["2024-01-01 00:00"],
                "{ctx}"
            );
        }
    }
}

#[test]
fn legacy_bootstrap_streams_and_ascending_bootstrap() {
    let mut b = CaptureBuilder::new(linktype::ETHERNET);

    // bulk_pull: request, then 3 blocks and the terminator, cut at awkward places.
    let mut c = TcpConn::new(ep("10.0.0.5:41000"), ep("10.0.0.6:7075"));
    c.open(&mut b);
    let req = synth::encode(&Message::BulkPull(BulkPull {
        start: HashOrAccount(synth::bytes32(100)),
        end: BlockHash::default(),
        count: Some(3),
        ascending: false,
    }));
    c.send(&mut b, true, &req, &[]);
    let mut resp = Vec::new();
    for i in 0..3 {
        encode_stream_block(&synth::state_block(200 + i), &mut resp);
    }
    encode_blocks_end(&mut resp);
    c.send(&mut b, false, &resp, &[1, 217, 300, 650]);
    // The same connection then asks for frontiers.
    let fr = synth::encode(&Message::FrontierReq(FrontierReq {
        start: PublicKey::default(),
        age: u32::MAX,
        count: 10,
        only_confirmed: false,
    }));
    c.send(&mut b, true, &fr, &[]);
    let mut fresp = Vec::new();
    for i in 0..2u64 {
        encode_frontier(
            &Frontier {
                account: PublicKey(synth::bytes32(300 + i)),
                head: BlockHash(synth::bytes32(400 + i)),
            },
            &mut fresp,
        );
    }
    encode_frontiers_end(&mut fresp);
    c.send(&mut b, false, &fresp, &[63, 64, 65]);
    c.close(&mut b);

    // bulk_pull_account with hash+amount+source entries.
    let mut c2 = TcpConn::new(ep("10.0.0.5:41001"), ep("10.0.0.6:7075"));
    c2.open(&mut b);
    let flags = BulkPullAccountFlags::PendingHashAmountAndAddress;
    c2.send(
        &mut b,
        true,
        &synth::encode(&Message::BulkPullAccount(BulkPullAccount {
            account: PublicKey(synth::bytes32(500)),
            minimum_amount: Amount(1),
            flags,
        })),
        &[],
    );
    let mut presp = Vec::new();
    encode_pending_head(&BlockHash(synth::bytes32(501)), &Amount(99), &mut presp);
    for i in 0..2u64 {
        encode_pending_entry(
            &PendingEntry::HashAmountAndSource {
                hash: BlockHash(synth::bytes32(510 + i)),
                amount: Amount(5 + u128::from(i)),
                source: PublicKey(synth::bytes32(520 + i)),
            },
            &mut presp,
        );
    }
    encode_pending_end(flags, &mut presp);
    c2.send(&mut b, false, &presp, &[10]);
    c2.close(&mut b);

    // bulk_push: header, two blocks, terminator, all in one segment.
    let mut c3 = TcpConn::new(ep("10.0.0.5:41002"), ep("10.0.0.6:7075"));
    c3.open(&mut b);
    let mut push = synth::encode(&Message::BulkPush);
    encode_stream_block(&synth::state_block(600), &mut push);
    encode_stream_block(&synth::state_block(601), &mut push);
    encode_blocks_end(&mut push);
    c3.send(&mut b, true, &push, &[]);
    c3.close(&mut b);

    // Ascending bootstrap over a realtime connection.
    let mut c4 = TcpConn::new(ep("10.0.0.7:41003"), ep("10.0.0.6:7075"));
    c4.open(&mut b);
    c4.send(
        &mut b,
        true,
        &synth::encode(&Message::AscPullReq(AscPullReq {
            id: 77,
            payload: AscPullReqPayload::Frontiers {
                start: PublicKey::default(),
                count: 2,
            },
        })),
        &[],
    );
    c4.send(
        &mut b,
        false,
        &synth::encode(&Message::AscPullAck(AscPullAck {
            id: 77,
            payload: AscPullAckPayload::Frontiers(vec![
                (
                    PublicKey(synth::bytes32(700)),
                    BlockHash(synth::bytes32(701)),
                ),
                (
                    PublicKey(synth::bytes32(702)),
                    BlockHash(synth::bytes32(703)),
                ),
            ]),
        })),
        &[30],
    );
    c4.send(
        &mut b,
        false,
        &synth::encode(&Message::AscPullAck(AscPullAck {
            id: 78,
            payload: AscPullAckPayload::Blocks(vec![synth::state_block(800)]),
        })),
        &[],
    );
    c4.close(&mut b);

    let imp = import_bytes(&b.to_pcapng(), "boot.pcapng");
    let db = &imp.db;
    assert_eq!(
        rows(db, "decode_error"),
        0,
        "{:?}",
        strings(db, "select error from decode_error")
    );
    assert_eq!(rows(db, "bulk_pull_request"), 1);
    assert_eq!(count(db, "select extended_count from bulk_pull_request"), 3);
    assert_eq!(rows(db, "bulk_pull_response"), 3);
    assert_eq!(
        count(db, "select count(*) from bulk_pull_response r join bulk_pull_request q on q.id = r.bulk_pull_request_id join block_state s on s.id = r.content_id"),
        3
    );
    assert_eq!(rows(db, "frontier_request"), 1);
    assert_eq!(rows(db, "frontier_response"), 2);
    assert_eq!(rows(db, "bulk_pull_account_request"), 1);
    assert_eq!(rows(db, "bulk_pull_account_response"), 1);
    assert_eq!(
        strings(db, "select balance from bulk_pull_account_response"),
        vec!["99"]
    );
    assert_eq!(rows(db, "bulk_pull_account_response_entry"), 2);
    assert_eq!(rows(db, "bulk_push_entry"), 2);
    assert_eq!(rows(db, "asc_pull_req"), 1);
    assert_eq!(rows(db, "asc_pull_ack"), 2);
    assert_eq!(rows(db, "asc_pull_ack_frontier"), 2);
    assert_eq!(rows(db, "asc_pull_ack_block"), 1);
    // 3 + 2 bulk blocks + 1 asc block
    assert_eq!(rows(db, "block_state"), 6);
    // Requests are packets; stream entries are not.
    assert_eq!(rows(db, "packet"), 2 + 1 + 1 + 3);
    assert_eq!(
        count(
            db,
            "select count(*) from packet where channel = 'bootstrap'"
        ),
        4
    );
    assert_eq!(
        count(db, "select count(*) from packet where channel = 'realtime'"),
        3
    );
    assert_eq!(
        count(
            db,
            "select count(*) from connection where event like 'end of %'"
        ),
        4
    );
    assert_eq!(imp.report.stream_entries, 3 + 2 + 3 + 2);
}
