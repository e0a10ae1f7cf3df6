//! The durable confirmation stream through WebSocket (`from_sequence`: replay from the
//! log, then live with no gap and no duplicate at the seam, filters, a history that no
//! longer reaches back) and RPC `confirmation_history_since`, on a real ledger.

mod common;
mod ws_support;

use nano_core::{BlockHash, PublicKey};
use nano_node::events::EventBus;
use serde_json::{json, Value};
use ws_support::*;

/// Cements sends to `dests` and publishes each confirmation on `bus` as the node does
/// (read back from the log, so each carries its sequence).
fn cement_and_publish(
    f: &mut LedgerFixture,
    bus: &EventBus,
    dests: &[PublicKey],
) -> Vec<BlockHash> {
    let hashes = f.cement_sends(dests);
    let history = f.history();
    let head = history.head().unwrap();
    let first = head + 1 - hashes.len() as u64;
    for e in history.read(first, hashes.len()).unwrap() {
        bus.publish(e);
    }
    hashes
}

fn with_history(f: &LedgerFixture) -> nano_api::websocket::WebsocketSettings {
    let mut s = settings();
    s.history = Some(f.history());
    s
}

/// Receives confirmation messages until `n` arrived; their sequence numbers in order.
async fn recv_sequences(ws: &mut Ws, n: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let Some(m) = recv(ws).await else {
            panic!("stream ended after {out:?}");
        };
        assert_eq!(m["topic"], "confirmation", "{m}");
        out.push(m["message"]["sequence"].as_str().unwrap().parse().unwrap());
    }
    out
}

fn dests(from: u32, n: u32) -> Vec<PublicKey> {
    (from..from + n).map(dest).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_replays_then_continues_live_without_gap_or_duplicate() {
    let mut f = LedgerFixture::new();
    let bus = EventBus::new(65_536);
    let server = server(&bus, with_history(&f)).await;
    // 300 confirmations happened while the client was away (published to nobody).
    cement_and_publish(&mut f, &bus, &dests(0, 300));
    let mut ws = connect(&server).await;
    subscribe(
        &mut ws,
        "confirmation",
        Some(json!({"from_sequence": "41", "include_block": "true"})),
    )
    .await;
    // More are cemented and published live while the replay runs.
    let writer = {
        let bus = bus.clone();
        let mut f2 = f;
        std::thread::spawn(move || {
            for i in 0..10 {
                cement_and_publish(&mut f2, &bus, &dests(1000 + i * 20, 20));
            }
            f2
        })
    };
    let got = recv_sequences(&mut ws, 260 + 200).await;
    let f = writer.join().unwrap();
    assert_eq!(got, (41..=500).collect::<Vec<_>>());
    // Nothing more (no duplicate of the seam) before a fence.
    assert!(conf_hashes(&drain(&mut ws).await).is_empty());
    // And the next live one follows.
    cement_and_publish(&mut { f }, &bus, &dests(5000, 1));
    assert_eq!(recv_sequences(&mut ws, 1).await, vec![501]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_messages_match_live_ones_and_filters_apply() {
    let mut f = LedgerFixture::new();
    let bus = EventBus::new(1024);
    let server = server(&bus, with_history(&f)).await;
    let a = dest(1);
    let b = dest(2);
    // Alternating destinations: sequences 1,3,5.. go to a, 2,4,6.. to b.
    let list: Vec<PublicKey> = (0..20).map(|i| if i % 2 == 0 { a } else { b }).collect();
    let hashes = cement_and_publish(&mut f, &bus, &list);

    let mut live = connect(&server).await;
    subscribe(&mut live, "confirmation", None).await;
    let mut filtered = connect(&server).await;
    subscribe(
        &mut filtered,
        "confirmation",
        Some(json!({"from_sequence": 1, "accounts": [a.encode_account()]})),
    )
    .await;
    let got = recv_sequences(&mut filtered, 10).await;
    assert_eq!(got, (0..10).map(|i| 1 + 2 * i).collect::<Vec<_>>());

    // A live one: the replaying and the plain client get the same message, sequence
    // included (the plain one has no resume state but still sees the field).
    let more = cement_and_publish(&mut f, &bus, &[a]);
    // The plain client subscribed while the first 20 could still be on their way through
    // the bus (seen on a loaded machine: it got sequence 18 live), so it may see the tail of
    // those first; bounded by their count.
    let mut l = recv(&mut live).await.unwrap();
    for _ in 0..20 {
        if l["message"]["sequence"] != "21" {
            let seq: u64 = l["message"]["sequence"].as_str().unwrap().parse().unwrap();
            assert!(seq <= 20, "only the first batch comes before: {l}");
            l = recv(&mut live).await.unwrap();
        }
    }
    let r = recv(&mut filtered).await.unwrap();
    assert_eq!(l["message"], r["message"]);
    assert_eq!(l["message"]["sequence"], "21");
    assert_eq!(l["message"]["hash"], more[0].encode_hex());
    assert_eq!(l["message"]["confirmation_type"], "active_quorum");
    assert_eq!(l["message"]["block"]["link_as_account"], a.encode_account());

    // A replay without the block and with a type that excludes these: nothing passes.
    let mut none = connect(&server).await;
    subscribe(
        &mut none,
        "confirmation",
        Some(json!({"from_sequence": "1", "confirmation_type": "active_confirmation_height"})),
    )
    .await;
    assert!(conf_hashes(&drain(&mut none).await).is_empty());
    // include_block false: replayed messages without the block.
    let mut bare = connect(&server).await;
    subscribe(
        &mut bare,
        "confirmation",
        Some(json!({"from_sequence": "20", "include_block": "false"})),
    )
    .await;
    let m = recv(&mut bare).await.unwrap();
    assert_eq!(m["message"]["sequence"], "20");
    assert_eq!(m["message"]["hash"], hashes[19].encode_hex());
    assert!(m["message"].get("block").is_none(), "{m}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_old_or_invalid_from_sequence_is_an_error_naming_the_oldest() {
    let mut f = LedgerFixture::new();
    f.ledger.store().set_confirmation_history_limit(5).unwrap();
    let bus = EventBus::new(1024);
    let server = server(&bus, with_history(&f)).await;
    // In steps no larger than the history, so each step can still be read back.
    for i in 0..4 {
        cement_and_publish(&mut f, &bus, &dests(i * 5, 5));
    }
    let mut ws = connect(&server).await;
    send(
        &mut ws,
        json!({"action": "subscribe", "topic": "confirmation", "ack": true,
               "options": {"from_sequence": "3"}}),
    )
    .await;
    let e = recv(&mut ws).await.unwrap();
    assert_eq!(e["oldest_sequence"], "16", "{e}");
    assert_eq!(
        e["error"], "sequence 3 is older than the confirmation history, which starts at 16",
        "{e}"
    );
    // Not subscribed: a live confirmation does not arrive.
    cement_and_publish(&mut f, &bus, &dests(100, 1));
    assert!(conf_hashes(&drain(&mut ws).await).is_empty());
    send(
        &mut ws,
        json!({"action": "subscribe", "topic": "confirmation", "options": {"from_sequence": "x"}}),
    )
    .await;
    let e = recv(&mut ws).await.unwrap();
    assert_eq!(e["error"], "Invalid from_sequence \"x\"", "{e}");
    // The oldest still available works.
    subscribe(
        &mut ws,
        "confirmation",
        Some(json!({"from_sequence": "17"})),
    )
    .await;
    assert_eq!(recv_sequences(&mut ws, 5).await, vec![17, 18, 19, 20, 21]);

    // A server without history refuses the option instead of ignoring it.
    let plain = ws_support::server(&bus, settings()).await;
    let mut ws = connect(&plain).await;
    send(
        &mut ws,
        json!({"action": "subscribe", "topic": "confirmation", "options": {"from_sequence": "1"}}),
    )
    .await;
    let e = recv(&mut ws).await.unwrap();
    assert_eq!(
        e["error"], "from_sequence is not available: this server has no confirmation history",
        "{e}"
    );
    plain.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_live_confirmation_is_replayed_from_the_log() {
    let mut f = LedgerFixture::new();
    let bus = EventBus::new(1024);
    let server = server(&bus, with_history(&f)).await;
    let mut ws = connect(&server).await;
    subscribe(&mut ws, "confirmation", Some(json!({"from_sequence": "1"}))).await;
    // Three confirmations never reach the bus (as when the dispatcher falls behind it);
    // the fourth does, and the session notices the gap.
    f.cement_sends(&dests(0, 3));
    cement_and_publish(&mut f, &bus, &dests(10, 1));
    assert_eq!(recv_sequences(&mut ws, 4).await, vec![1, 2, 3, 4]);
    cement_and_publish(&mut f, &bus, &dests(20, 1));
    assert_eq!(recv_sequences(&mut ws, 1).await, vec![5]);
    server.shutdown().await;
}

#[test]
fn rpc_confirmation_history_since_pages_and_filters() {
    let mut f = LedgerFixture::new();
    f.ledger.store().set_confirmation_history_limit(50).unwrap();
    let a = dest(1);
    let list: Vec<PublicKey> = (0..60)
        .map(|i| if i % 3 == 0 { a } else { dest(2) })
        .collect();
    let hashes = f.cement_sends(&list);
    let rpc = common::start_with(false, Some(f.ledger.clone()));
    let call = |v: Value| common::post(rpc.addr, v);
    let r = call(json!({"action": "confirmation_history_since", "sequence": "11", "count": "5"}));
    assert_eq!(r["head"], "60", "{r}");
    assert_eq!(r["oldest"], "11");
    assert_eq!(r["history_limit"], "50");
    assert_eq!(r["next"], "16");
    let c = r["confirmations"].as_array().unwrap();
    assert_eq!(c.len(), 5);
    assert_eq!(c[0]["sequence"], "11");
    assert_eq!(c[0]["hash"], hashes[10].encode_hex());
    assert_eq!(c[0]["amount"], "1");
    assert_eq!(c[0]["subtype"], "send");
    assert_eq!(c[0]["confirmation_type"], "active_quorum");
    assert!(c[0].get("block").is_none());
    // Account filter (destination of the send), with the block.
    let r = call(
        json!({"action": "confirmation_history_since", "sequence": "11",
                        "count": "3", "accounts": [a.encode_account()], "include_block": "true"}),
    );
    let seqs: Vec<&str> = r["confirmations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["sequence"].as_str().unwrap())
        .collect();
    assert_eq!(seqs, ["13", "16", "19"], "{r}");
    assert_eq!(r["next"], "20");
    assert_eq!(
        r["confirmations"][0]["block"]["link_as_account"],
        a.encode_account()
    );
    // The end of the log: fewer than asked, next is past the head.
    let r = call(json!({"action": "confirmation_history_since", "sequence": "59", "count": "10"}));
    assert_eq!(r["confirmations"].as_array().unwrap().len(), 2);
    assert_eq!(r["next"], "61");
    // Trimmed, and bad input.
    let r = call(json!({"action": "confirmation_history_since", "sequence": "10"}));
    assert_eq!(
        r["error"], "sequence 10 is older than the confirmation history, which starts at 11",
        "{r}"
    );
    let r = call(json!({"action": "confirmation_history_since", "sequence": "x"}));
    assert_eq!(r["error"], "Invalid sequence");
    let r = call(json!({"action": "confirmation_history_since", "sequence": "20", "count": "0"}));
    assert_eq!(r["error"], "count must be between 1 and 4096", "{r}");
    let r = call(
        json!({"action": "confirmation_history_since", "sequence": "20",
                        "accounts": ["nano_bad"]}),
    );
    assert_eq!(r["error"], "Bad account number");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_sends_a_resuming_session_back_to_the_log_instead_of_dropping() {
    let mut f = LedgerFixture::new();
    let bus = EventBus::new(65_536);
    let mut s = with_history(&f);
    // A queue of two: live confirmations published in a burst overflow it.
    s.queue_capacity = 2;
    let server = server(&bus, s).await;
    let mut plain = connect(&server).await;
    subscribe(&mut plain, "confirmation", None).await;
    let mut ws = connect(&server).await;
    subscribe(&mut ws, "confirmation", Some(json!({"from_sequence": "1"}))).await;
    cement_and_publish(&mut f, &bus, &dests(0, 400));
    assert_eq!(
        recv_sequences(&mut ws, 400).await,
        (1..=400).collect::<Vec<_>>()
    );
    assert!(conf_hashes(&drain(&mut ws).await).is_empty());
    // The plain session (same queue size) is allowed to lose some, and is counted.
    let _ = drain(&mut plain).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_includes_election_info_where_still_known() {
    let mut f = LedgerFixture::new();
    let bus = EventBus::new(1024);
    let server = server(&bus, with_history(&f)).await;
    // Sequence 1 cemented while the server was not running (no election info known),
    // 2 and 3 published live with their election details.
    f.cement_sends(&dests(0, 1));
    f.cement_sends(&dests(1, 2));
    // A live client: once it got both, the dispatcher has recorded their details.
    let mut live = connect(&server).await;
    subscribe(&mut live, "confirmation", None).await;
    let history = f.history();
    for mut e in history.read(2, 2).unwrap() {
        if let nano_node::events::NodeEvent::BlockConfirmed { election, .. } = &mut e {
            *election = Some(json!({"duration": "7", "tally": "9", "votes": []}));
        }
        bus.publish(e);
    }
    assert_eq!(recv_sequences(&mut live, 2).await, vec![2, 3]);
    let mut ws = connect(&server).await;
    subscribe(
        &mut ws,
        "confirmation",
        Some(json!({"from_sequence": "1", "include_election_info": "true"})),
    )
    .await;
    let m1 = recv(&mut ws).await.unwrap();
    let m2 = recv(&mut ws).await.unwrap();
    assert_eq!(m1["message"]["sequence"], "1");
    assert!(m1["message"].get("election_info").is_none(), "{m1}");
    assert_eq!(m2["message"]["sequence"], "2");
    assert_eq!(m2["message"]["election_info"]["tally"], "9", "{m2}");
    // Without votes unless asked for them.
    assert!(
        m2["message"]["election_info"].get("votes").is_none(),
        "{m2}"
    );
    server.shutdown().await;
}
