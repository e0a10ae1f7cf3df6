//! Slow actions run on the bounded pool, off the runtime that drives peering: with the
//! pool (2 workers, 2 queued) full of work generations that never finish on their own,
//! the next slow request is refused at once, cheap requests still answer, and the node
//! keeps receiving messages (keepalives, telemetry) from its peer on the same runtime.
//! Real node pair on 127.0.0.1, real HTTP.

mod common;

use std::time::{Duration, Instant};

use common::{post, wait_until};
use nano_api::worker_pool::{WorkerPool, BUSY};
use serde_json::json;

const THREADS: usize = 2;
const QUEUE: usize = 2;
/// A work multiplier no CPU reaches in a test's lifetime (about 10^11 hashes on dev):
/// each such generation holds its worker until `work_cancel`.
const ENDLESS: &str = "1000000000";

fn hash(i: usize) -> String {
    format!("{:064X}", i + 1)
}

#[test]
fn a_full_pool_refuses_slow_calls_while_peering_and_cheap_calls_go_on() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pair = common::node_pair(&rt, false);
    let a = pair.a.clone();
    let (rpc, ctx) = pair.serve_a(&rt, true, |ctx| {
        ctx.work_threads = 1;
        ctx.max_work_generate_multiplier = ENDLESS.parse().unwrap();
        ctx.slow_actions = WorkerPool::new(THREADS, QUEUE);
    });

    // Fill the workers and the queue.
    let held: Vec<_> = (0..THREADS + QUEUE)
        .map(|i| {
            std::thread::spawn(move || {
                post(
                    rpc,
                    json!({"action": "work_generate", "hash": hash(i), "multiplier": ENDLESS}),
                )
            })
        })
        .collect();
    assert!(
        wait_until(|| ctx.slow_actions.in_flight() == THREADS + QUEUE),
        "in flight: {}",
        ctx.slow_actions.in_flight()
    );

    // The next slow call is refused at once, further ones a refusal spacing apart
    // (`refusal_pace`); none is queued.
    for i in 0..3 {
        // More accounts than are answered inline (`actions::INLINE_SCAN`): a pool call.
        let refused = post(
            rpc,
            common::pooled_balances(
                "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
            ),
        );
        assert_eq!(refused["error"], BUSY, "call {i}: {refused}");
    }
    assert_eq!(ctx.slow_actions.in_flight(), THREADS + QUEUE);
    assert_eq!(a.stats.get("rpc", "slow_action_busy", "in"), 3);

    // Cheap actions answer inline, and peering on the same runtime keeps going.
    let count = post(rpc, json!({"action": "block_count"}));
    assert_eq!(count["count"], "1", "{count}");
    let received = || common::messages_in(&a.stats, None);
    let before = received();
    let flowing = wait_until(|| received() > before);
    println!(
        "messages received from the peer while the pool was full: {} (before: {before})",
        received() - before
    );
    assert!(flowing, "no message received while the pool was full");
    assert_eq!(ctx.slow_actions.in_flight(), THREADS + QUEUE);

    // Cancel: the running ones end, the queued ones start and are cancelled in turn.
    let mut remaining = held;
    let deadline = Instant::now() + common::WAIT;
    while !remaining.is_empty() && Instant::now() < deadline {
        for i in 0..THREADS + QUEUE {
            post(rpc, json!({"action": "work_cancel", "hash": hash(i)}));
        }
        std::thread::sleep(Duration::from_millis(50));
        let (done, rest): (Vec<_>, Vec<_>) = remaining.into_iter().partition(|h| h.is_finished());
        for h in done {
            let answer = h.join().unwrap();
            assert_eq!(answer["error"], "Cancelled", "{answer}");
        }
        remaining = rest;
    }
    assert!(remaining.is_empty(), "generations not cancelled");
    assert!(wait_until(|| ctx.slow_actions.in_flight() == 0));
    let balance = post(
        rpc,
        json!({"action": "account_balance", "account":
        "nano_1111111111111111111111111111111111111111111111111111hifc8npp"}),
    );
    assert_eq!(balance["balance"], "0", "{balance}");

    pair.stop(&rt);
}
