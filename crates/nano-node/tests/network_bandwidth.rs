//! Outbound bandwidth limits per traffic type (`bandwidth_limit`, `bootstrap_bandwidth_limit`
//! and their burst ratios): bytes counted on the wire by a peer stay under
//! `burst + rate × elapsed` for each type while far more is offered, droppable messages
//! are dropped and counted, and what the node originates is sent regardless.

mod network_support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use nano_core::{KeyPair, Network};
use nano_messages::{AscPullAck, AscPullAckPayload, Message, MessageType, Publish};
use nano_node::interfaces::{Outbound, TrafficType};
use nano_node::network::NetworkFlags;
use network_support::*;

const GENERIC_RATE: u64 = 20_000;
const GENERIC_BURST: f64 = 2.0;
const BOOTSTRAP_RATE: u64 = 8_000;
const BOOTSTRAP_BURST: f64 = 1.0;
/// Rounds of sending, each offering more than a second's budget of both types.
const ROUNDS: u32 = 30;

#[derive(Default)]
struct WireBytes {
    generic: AtomicU64,
    bootstrap: AtomicU64,
    publish: AtomicU64,
}

/// A node with `cfg`'s limits (UDP, rep crawler and telemetry off) and one peer
/// handshaken by hand: the node, that peer's channel and the peer's side of it.
async fn node_with_one_peer(
    dir: &std::path::Path,
    mut cfg: nano_node::NodeConfig,
) -> (TestNode, u64, RawConn) {
    cfg.enable_udp = false;
    let flags = NetworkFlags {
        disable_rep_crawler: true,
        disable_telemetry: true,
        ..NetworkFlags::default()
    };
    let node = start_node(dir, cfg, flags).await;
    let port = node.net.local_port();
    let genesis = Network::Dev.params().genesis_hash;
    let conn = raw_handshake(port, &KeyPair::random(), genesis)
        .await
        .expect("handshake");
    assert!(wait_until(Duration::from_secs(10), || node.net.channels().len() == 1).await);
    let ch = node.net.channels()[0].id;
    (node, ch, conn)
}

/// Reads the peer's side until `stop`, handing each frame's type and wire size to `count`.
fn read_frames(
    conn: RawConn,
    stop: tokio_util::sync::CancellationToken,
    mut count: impl FnMut(MessageType, u64) + Send + 'static,
) -> tokio::task::JoinHandle<RawConn> {
    tokio::spawn(async move {
        let mut conn = conn;
        loop {
            let f = tokio::select! {
                _ = stop.cancelled() => break,
                f = conn.next() => match f {
                    Some(Ok(f)) => f,
                    _ => break,
                },
            };
            count(f.header.message_type, (8 + f.payload.len()) as u64);
        }
        conn
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_bytes_per_traffic_type_stay_under_their_limits() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.bandwidth_limit = GENERIC_RATE;
    cfg.bandwidth_limit_burst_ratio = GENERIC_BURST;
    cfg.bootstrap_bandwidth_limit = BOOTSTRAP_RATE;
    cfg.bootstrap_bandwidth_burst_ratio = BOOTSTRAP_BURST;
    // The buckets start full when the node is built: the time budget counts from here.
    let t0 = Instant::now();
    let (node, ch, conn) = node_with_one_peer(dir.path(), cfg).await;

    // The peer counts every frame's bytes by traffic type (the handshake is done).
    let wire = Arc::new(WireBytes::default());
    let w = wire.clone();
    let stop = tokio_util::sync::CancellationToken::new();
    let reader = read_frames(conn, stop.clone(), move |kind, n| {
        match kind {
            MessageType::AscPullAck | MessageType::AscPullReq => {
                w.bootstrap.fetch_add(n, Ordering::Relaxed)
            }
            MessageType::Publish => {
                w.publish.fetch_add(n, Ordering::Relaxed);
                w.generic.fetch_add(n, Ordering::Relaxed)
            }
            _ => w.generic.fetch_add(n, Ordering::Relaxed),
        };
    });

    let publish = |i: u32| {
        Message::Publish(Box::new(Publish {
            block: dev_block(i),
            originator: false,
        }))
    };
    let blocks: Vec<_> = (0..8).map(dev_block).collect();
    let ack = Message::AscPullAck(AscPullAck {
        id: 7,
        payload: AscPullAckPayload::Blocks(blocks),
    });
    let publish_len = publish(0).to_bytes(Network::Dev).unwrap().len() as u64;
    let ack_len = ack.to_bytes(Network::Dev).unwrap().len() as u64;
    let (mut offered_generic, mut offered_bootstrap) = (0u64, 0u64);
    let (mut passed_generic, mut passed_bootstrap) = (0u64, 0u64);
    for round in 0..ROUNDS {
        // Each round offers about 1.5 s of generic and 2 s of bootstrap budget.
        for i in 0..(GENERIC_RATE * 3 / 2 / publish_len) as u32 {
            offered_generic += publish_len;
            if node
                .net
                .send(ch, &publish(round * 1000 + i), TrafficType::Realtime)
            {
                passed_generic += publish_len;
            }
        }
        for _ in 0..(BOOTSTRAP_RATE * 2 / ack_len) {
            offered_bootstrap += ack_len;
            if node.net.send(ch, &ack, TrafficType::Bootstrap) {
                passed_bootstrap += ack_len;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // With the generic budget spent, this node's own block is still sent (the
    // reference's `no_limiter_drop` for what a node originates).
    let dropped_before = node.stats.get("drop", "bandwidth_limit", "out");
    let own = Message::Publish(Box::new(Publish {
        block: dev_block(999_999),
        originator: true,
    }));
    assert_eq!(node.net.flood_initial(&own), 1, "own block queued");
    // Everything that passed is on its way; wait until it arrived, then stop counting.
    let arrived = wait_until(Duration::from_secs(10), || {
        wire.publish.load(Ordering::Relaxed) == passed_generic + publish_len
            && wire.bootstrap.load(Ordering::Relaxed) == passed_bootstrap
    })
    .await;
    stop.cancel();
    let conn = reader.await.unwrap();
    // Bytes can only have passed a limiter before now.
    let elapsed = t0.elapsed().as_secs_f64();
    drop(conn);
    assert!(
        arrived,
        "every message that passed the limiter reached the peer"
    );

    let generic_bound = GENERIC_RATE as f64 * (GENERIC_BURST + elapsed);
    let bootstrap_bound = BOOTSTRAP_RATE as f64 * (BOOTSTRAP_BURST + elapsed);
    let generic = wire.generic.load(Ordering::Relaxed);
    let bootstrap = wire.bootstrap.load(Ordering::Relaxed);
    println!(
        "elapsed {elapsed:.2}s generic {generic} B (bound {generic_bound:.0}, offered \
         {offered_generic}) bootstrap {bootstrap} B (bound {bootstrap_bound:.0}, offered \
         {offered_bootstrap})"
    );
    // The own block went out over the limit: allow it on top.
    assert!(
        generic as f64 <= generic_bound + publish_len as f64,
        "generic {generic} > {generic_bound}"
    );
    assert!(
        bootstrap as f64 <= bootstrap_bound,
        "bootstrap {bootstrap} > {bootstrap_bound}"
    );
    // Each bucket let at least its burst through (it started full and was offered
    // more), and what passed the limiter is what reached the wire.
    assert!(passed_generic as f64 >= GENERIC_RATE as f64 * GENERIC_BURST - publish_len as f64);
    assert!(passed_bootstrap as f64 >= BOOTSTRAP_RATE as f64 * BOOTSTRAP_BURST - ack_len as f64);
    assert_eq!(bootstrap, passed_bootstrap);
    assert_eq!(
        wire.publish.load(Ordering::Relaxed),
        passed_generic + publish_len,
        "every publish that passed, and the own block, reached the peer"
    );
    // Far more was offered than the limits allow: the rest was dropped and counted.
    assert!(offered_generic as f64 > 2.0 * generic_bound);
    assert!(offered_bootstrap as f64 > 2.0 * bootstrap_bound);
    assert!(dropped_before > 0);
    assert!(node.stats.get("drop", "publish", "out") > 0);
    assert!(node.stats.get("drop", "asc_pull_ack", "out") > 0);
    assert_eq!(
        node.stats.get("drop", "bandwidth_limit", "out"),
        dropped_before,
        "the own block was not dropped"
    );
    node.shutdown().await;
}

/// Bootstrap budget of the pacing test: 20 kB of answers may wait for it (100 ms of it),
/// 10 kB of them for one channel.
const PACED_RATE: u64 = 200_000;
/// Bound on the test's sending loops (each ends long before by what it waits for).
const OFFERS_MAX: usize = 10_000;

/// Over the bootstrap budget, answers wait for it (up to the pacer's bound) instead of
/// being dropped, and every one that waited reaches the peer within the limit; past the
/// channel's share of the bound an answer is dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_answers_over_the_budget_wait_for_it_up_to_a_bound() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = dev_config(0, vec![]);
    cfg.bootstrap_bandwidth_limit = PACED_RATE;
    cfg.bootstrap_bandwidth_burst_ratio = 1.0;
    let t0 = Instant::now();
    let (node, ch, conn) = node_with_one_peer(dir.path(), cfg).await;

    let acks = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let (a, b) = (acks.clone(), bytes.clone());
    let stop = tokio_util::sync::CancellationToken::new();
    let reader = read_frames(conn, stop.clone(), move |kind, n| {
        if kind == MessageType::AscPullAck {
            a.fetch_add(1, Ordering::Relaxed);
            b.fetch_add(n, Ordering::Relaxed);
        }
    });

    let blocks: Vec<_> = (0..8).map(dev_block).collect();
    let ack = Message::AscPullAck(AscPullAck {
        id: 9,
        payload: AscPullAckPayload::Blocks(blocks),
    });
    // The bucket's burst passes at once; the answer after it waits for the budget.
    let paced = || node.stats.get("bandwidth", "paced", "out");
    let mut accepted = 0u64;
    for _ in 0..OFFERS_MAX {
        assert!(
            node.net.send(ch, &ack, TrafficType::Bootstrap),
            "an answer was dropped before any waited"
        );
        accepted += 1;
        if paced() > 0 {
            break;
        }
    }
    assert_eq!(paced(), 1, "the burst ran out within {OFFERS_MAX} answers");
    // More answers at once: they wait behind it until the channel's share is taken.
    let mut refused = false;
    for _ in 0..OFFERS_MAX {
        if !node.net.send(ch, &ack, TrafficType::Bootstrap) {
            refused = true;
            break;
        }
        accepted += 1;
    }
    assert!(refused, "the pacer held {OFFERS_MAX} answers");
    assert!(paced() >= 3, "only {} answers waited", paced());
    assert_eq!(node.stats.get("drop", "paced_channel_full", "out"), 1);
    assert_eq!(node.stats.get("drop", "asc_pull_ack", "out"), 1);

    // Every answer accepted, those that waited included, reaches the peer.
    let arrived = wait_until(Duration::from_secs(10), || {
        acks.load(Ordering::Relaxed) == accepted
    })
    .await;
    stop.cancel();
    let _conn = reader.await.unwrap();
    let elapsed = t0.elapsed().as_secs_f64();
    assert!(
        arrived,
        "{} of {accepted} accepted answers arrived",
        acks.load(Ordering::Relaxed)
    );
    // Waiting did not stretch the limit: what reached the wire fits the budget.
    let bound = PACED_RATE as f64 * (1.0 + elapsed);
    let on_wire = bytes.load(Ordering::Relaxed);
    assert!(on_wire as f64 <= bound, "{on_wire} B > {bound:.0}");
    node.shutdown().await;
}
