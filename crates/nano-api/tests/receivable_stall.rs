//! The stall test: `receivable` on an account with 200,000 receivables, served by
//! node A (voting with the dev genesis key) while peer B keeps publishing sends that A
//! confirms. The call runs on the slow-action pool, so A keeps receiving B's traffic and
//! B keeps receiving A's votes during it. The longest gap between two messages A
//! receives is printed for the call and for a quiet window of the same length (not
//! asserted: timings depend on the machine); the test asserts that traffic flowed in both
//! directions while the call ran. Real nodes on 127.0.0.1, real HTTP.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{messages_in, post, wait_until};
use nano_ledger::test_support::{test_key, Chain};
use nano_node::stats::Stats;
use serde_json::json;

const RECEIVABLES: u64 = 200_000;
/// Calls made, so the measured window is long enough to see traffic on a fast machine.
const CALLS: usize = 3;
/// Gap between two sends B publishes.
const SEND_EVERY: Duration = Duration::from_millis(20);
/// Upper bound on the sends B publishes (the loop's bound; failure only).
const MAX_SENDS: usize = 5_000;

/// Samples A's received-message count every millisecond while `busy` holds and returns
/// the longest time it stayed unchanged.
fn longest_gap(stats: &Stats, window: impl Fn() -> bool) -> Duration {
    let mut last = messages_in(stats, None);
    let mut since = Instant::now();
    let mut longest = Duration::ZERO;
    while window() {
        let now = messages_in(stats, None);
        if now != last {
            last = now;
            longest = longest.max(since.elapsed());
            since = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    longest.max(since.elapsed())
}

#[test]
fn receivable_over_200k_blocks_leaves_peer_traffic_flowing() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pair = common::node_pair(&rt, true);
    let (a, b) = (pair.a.clone(), pair.b.clone());

    // 200,000 receivables of one unopened account, written as rows (sends that A never
    // saw, so nothing else in the node touches them; the call lists them all with
    // include_active, which skips the per-block confirmation lookup the rows cannot
    // answer).
    let target = test_key(77).public();
    common::put_receivable_rows(&a.ledger, target, RECEIVABLES);

    let (rpc, _ctx) = pair.serve_a(&rt, false, |_| {});

    // B publishes a send every SEND_EVERY; A (the voting representative) confirms them.
    let stop = Arc::new(AtomicBool::new(false));
    let producer = {
        let (b, stop) = (b.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut genesis = Chain::dev_genesis();
            let dest = test_key(78).public();
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) && sent < MAX_SENDS {
                let s = genesis.send(&dest, 1);
                let _ = b.process_local_blocking(s, Duration::from_secs(5));
                sent += 1;
                std::thread::sleep(SEND_EVERY);
            }
            sent
        })
    };
    assert!(
        wait_until(|| messages_in(&b.stats, Some("confirm_ack")) > 0),
        "B hears no votes from A"
    );

    let call = json!({"action": "receivable", "account": target.encode_account(),
        "include_only_confirmed": "false", "include_active": "true"});
    let (a_before, votes_before) = (
        messages_in(&a.stats, None),
        messages_in(&b.stats, Some("confirm_ack")),
    );
    let calling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (stats, calling) = (a.stats.clone(), calling.clone());
        std::thread::spawn(move || longest_gap(&stats, || calling.load(Ordering::Relaxed)))
    };
    let started = Instant::now();
    for _ in 0..CALLS {
        let r = post(rpc, call.clone());
        let blocks = r["blocks"].as_array().map(Vec::len);
        assert_eq!(
            blocks,
            Some(RECEIVABLES as usize),
            "{}",
            &r.to_string()[..200.min(r.to_string().len())]
        );
    }
    let busy = started.elapsed();
    calling.store(false, Ordering::Relaxed);
    let stall = sampler.join().unwrap();
    let (a_during, votes_during) = (
        messages_in(&a.stats, None) - a_before,
        messages_in(&b.stats, Some("confirm_ack")) - votes_before,
    );
    // The same window without the calls.
    let quiet_until = Instant::now() + busy;
    let quiet = longest_gap(&a.stats, || Instant::now() < quiet_until);
    stop.store(true, Ordering::Relaxed);
    let sent = producer.join().unwrap();
    println!(
        "{CALLS} receivable calls over {RECEIVABLES} blocks took {busy:?}; during them A received {a_during} messages and B {votes_during} votes; longest gap between messages at A: {stall:?} during the calls, {quiet:?} quiet ({sent} sends published)"
    );
    assert!(a_during > 0, "A received nothing from B during the calls");
    assert!(
        votes_during > 0,
        "B received no vote from A during the calls"
    );

    drop((a, b));
    pair.stop(&rt);
}
