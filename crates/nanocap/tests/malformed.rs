//! Malformed input imports what is valid, counts the rest as errors, and never panics:
//! truncated files, unknown link types, garbage payloads, random frames.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use common::{count, import_bytes, rows};
use nanocap::analyzer::{Analyzer, Options};
use nanocap::net::{linktype, parse_frame};
use nanocap::status::Status;
use nanocap::synth::{self, CaptureBuilder, TcpConn};

fn ep(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn truncated_file_keeps_the_packets_before_the_cut() {
    let mut b = CaptureBuilder::new(linktype::ETHERNET);
    for i in 0..5 {
        b.udp(ep("10.1.0.1:7075"), ep("10.1.0.2:7075"), &synth::publish(i));
    }
    let bytes = b.to_pcap();
    let cut = &bytes[..bytes.len() - 100];
    let imp = import_bytes(cut, "cut.pcap");
    assert_eq!(rows(&imp.db, "packet"), 4);
    assert_eq!(
        count(
            &imp.db,
            "select count(*) from decode_error where stage = 'file'"
        ),
        1
    );

    let ng = b.to_pcapng();
    let imp = import_bytes(&ng[..ng.len() - 30], "cut.pcapng");
    assert_eq!(rows(&imp.db, "packet"), 4);
    assert_eq!(imp.report.decode_errors, 1);
}

#[test]
fn not_a_capture_file_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        ("empty", vec![]),
        ("junk", b"hello world, not pcap".to_vec()),
    ] {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        assert!(nanocap::input::CaptureFile::open(&f).is_err());
    }
}

#[test]
fn unknown_link_type_counts_every_frame_as_an_error() {
    let mut b = CaptureBuilder::new(147);
    b.raw(vec![1, 2, 3, 4]);
    b.raw(vec![5, 6]);
    let imp = import_bytes(&b.to_pcap(), "user0.pcap");
    assert_eq!(rows(&imp.db, "packet"), 0);
    assert_eq!(imp.report.decode_errors, 2);
    assert_eq!(imp.report.packets, 2);
}

#[test]
fn garbage_between_messages_is_skipped_once_and_framing_recovers() {
    let mut b = CaptureBuilder::new(linktype::ETHERNET);
    let mut c = TcpConn::new(ep("10.0.0.1:40000"), ep("10.0.0.2:7075"));
    c.open(&mut b);
    let mut data = synth::keepalive(1);
    data.extend_from_slice(b"\x00\x01garbage garbage garbage\xff");
    data.extend_from_slice(&synth::keepalive(2));
    // A header that announces a publish but whose payload is not a valid block type.
    let mut bad = synth::publish(1);
    bad[7] = 0x0f; // block type 15: payload size 0, message refused
    data.extend_from_slice(&bad[..8]);
    data.extend_from_slice(&synth::keepalive(3));
    c.send(&mut b, true, &data, &[3, 40, 200]);
    // A truncated message at the end of the stream.
    c.send(&mut b, true, &synth::publish(2)[..50], &[]);
    c.close(&mut b);
    // Malformed frames: truncated IP header, bad UDP datagram.
    let mut short_ip = vec![0u8; 12];
    short_ip.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0]);
    b.raw(short_ip);
    b.udp(
        ep("10.0.0.3:7075"),
        ep("10.0.0.4:7075"),
        b"RC\x15\x15\x14\x02\x00\x00short",
    );
    let imp = import_bytes(&b.to_pcap(), "garbage.pcap");
    let db = &imp.db;
    assert_eq!(
        count(db, "select count(*) from packet where msg_type = 2"),
        3
    );
    assert_eq!(rows(db, "keepalive_host"), 6);
    // garbage run, refused publish, truncated tail, bad frame, bad datagram
    assert_eq!(
        rows(db, "decode_error"),
        5,
        "{:?}",
        common::strings(db, "select stage || ': ' || error from decode_error")
    );
    assert_eq!(imp.report.decode_errors, 5);
}

/// A tiny deterministic generator so the fuzz loop needs no extra crate.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

#[test]
fn random_frames_and_payloads_never_panic() {
    let status = Arc::new(Status::default());
    let mut a = Analyzer::new(Options::default(), status, 1);
    let mut rng = Lcg(42);
    let valid = synth::publish(3);
    for i in 0..3000u64 {
        let len = (rng.next() % 300) as usize;
        let mut payload: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if i % 3 == 0 && !payload.is_empty() {
            // Splice valid header bytes in so deeper decoders get exercised.
            let at = (rng.next() as usize) % payload.len();
            let n = valid.len().min(payload.len() - at);
            payload[at..at + n].copy_from_slice(&valid[..n]);
        }
        let flags = synth::Flags {
            syn: rng.next() % 17 == 0,
            ack: true,
            fin: rng.next() % 31 == 0,
            rst: rng.next() % 53 == 0,
            ack_no: rng.next() as u32,
        };
        let port = 40000 + (rng.next() % 4) as u16;
        let src = SocketAddr::from(([10, 0, 0, 1], port));
        let dst = SocketAddr::from(([10, 0, 0, 2], 7075));
        let (s, d) = if rng.next() % 2 == 0 {
            (src, dst)
        } else {
            (dst, src)
        };
        let seq = rng.next() as u32 % 2000;
        let frame = synth::frame(linktype::ETHERNET, s, d, Some((seq, flags)), &payload);
        // Random truncation of the frame itself.
        let cut = if rng.next() % 5 == 0 {
            (rng.next() as usize) % (frame.len() + 1)
        } else {
            frame.len()
        };
        for link in [
            linktype::ETHERNET,
            linktype::LINUX_SLL2,
            linktype::NULL,
            linktype::RAW,
        ] {
            match parse_frame(link, &frame[..cut]) {
                Ok(Some(seg)) => a.segment(i as i64, &seg),
                Ok(None) => {}
                Err(e) => a.frame_error(i as i64, "frame", e.to_string()),
            }
        }
        if let Ok(Some(seg)) = parse_frame(linktype::RAW, &payload) {
            a.segment(i as i64, &seg);
        }
        let _ = a.take_rows();
    }
    a.finish(0);
}
