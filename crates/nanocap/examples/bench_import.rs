//! Macro benchmark: generates a pcap of N packets (default one million) of realtime
//! traffic over 32 TCP connections (votes, publishes, keepalives, telemetry, one message
//! per segment), imports it with the default config, and prints packets/s and database
//! bytes per packet.
//!
//! `cargo run --release -p nanocap --example bench_import -- [packets]`
//! (`NANOCAP_BENCH_KEEP_PCAP=path` keeps a copy of the generated file.)

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use nano_core::{BlockHash, PublicKey, Signature};
use nano_messages::message::ConfirmAck;
use nano_messages::{Message, TelemetryData, Vote};
use nanocap::config::Config;
use nanocap::engine::Engine;
use nanocap::net::linktype;
use nanocap::status::Status;
use nanocap::synth::{self, CaptureBuilder, TcpConn};

fn vote(seed: u64, hashes: usize) -> Vec<u8> {
    let v = Vote {
        account: PublicKey(synth::bytes32(seed % 64)),
        signature: Signature([seed as u8; 64]),
        timestamp: Vote::pack_timestamp(1_704_067_200_000 + seed, 9),
        hashes: (0..hashes as u64)
            .map(|i| BlockHash(synth::bytes32(seed * 16 + i)))
            .collect(),
    };
    synth::encode(&Message::ConfirmAck(Box::new(ConfirmAck {
        vote: v,
        rebroadcast: false,
    })))
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let pcap = dir.path().join("bench.pcap");
    let db = dir.path().join("bench.db");

    // A pool of distinct messages, reused round-robin (decoding cost does not depend on
    // uniqueness; building a million distinct ones would dominate the setup time).
    let mut pool = Vec::new();
    for i in 0..512u64 {
        pool.push(match i % 20 {
            0..=9 => vote(i, 1 + (i as usize % 12)),
            10..=16 => synth::publish(i),
            17..=18 => synth::keepalive(8),
            _ => synth::encode(&Message::TelemetryAck(Some(Box::new(TelemetryData {
                block_count: i,
                ..TelemetryData::default()
            })))),
        });
    }
    let t = Instant::now();
    let mut b = CaptureBuilder::new(linktype::ETHERNET);
    let mut conns: Vec<TcpConn> = (0..32u16)
        .map(|i| {
            TcpConn::new(
                SocketAddr::from(([10, 9, 0, 1], 40000 + i)),
                SocketAddr::from(([10, 9, 1, i as u8], 7075)),
            )
        })
        .collect();
    for c in conns.iter_mut() {
        c.open(&mut b);
    }
    let mut i = 0usize;
    while b.len() < n {
        let c = &mut conns[i % 32];
        c.send(&mut b, i % 3 != 0, &pool[i % pool.len()], &[]);
        i += 1;
    }
    std::fs::write(&pcap, b.to_pcap())?;
    let file_size = std::fs::metadata(&pcap)?.len();
    eprintln!(
        "generated {} packets ({file_size} bytes) in {:.1?}",
        b.len(),
        t.elapsed()
    );
    drop(b);
    // Keep a copy for other tools (e.g. `tshark -r`) to decode the same file.
    if let Ok(keep) = std::env::var("NANOCAP_BENCH_KEEP_PCAP") {
        std::fs::copy(&pcap, &keep)?;
    }

    let status = Arc::new(Status::default());
    let started = Instant::now();
    let mut engine = Engine::new(
        Config::default(),
        &db,
        "bench",
        status,
        Arc::new(AtomicBool::new(false)),
        true,
    )?;
    let report = engine.import(&pcap, false, None)?;
    engine.close();
    let elapsed = started.elapsed();
    let db_size = std::fs::metadata(&db)?.len();
    print!("{}", report.render());
    println!(
        "import incl. final commit: {:.3} s, {:.0} packets/s; database {} bytes, {:.1} bytes/packet",
        elapsed.as_secs_f64(),
        report.packets as f64 / elapsed.as_secs_f64(),
        db_size,
        db_size as f64 / report.packets as f64
    );
    Ok(())
}
