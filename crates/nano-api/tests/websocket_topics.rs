//! WebSocket protocol tests with a real client: acks, ping, invalid JSON, every
//! confirmation option, update, unsubscribe, and the other topics' shapes.

mod ws_support;

use std::sync::Arc;
use std::time::Duration;

use nano_core::PublicKey;
use nano_node::events::{ConfirmationType::*, EventBus, NodeEvent};
use serde_json::{json, Value};
use ws_support::*;

fn keys(v: &Value) -> Vec<&str> {
    v.as_object()
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn acks_ping_and_invalid_json() {
    let bus = EventBus::new(1024);
    let srv = server(&bus, settings()).await;
    let mut ws = connect(&srv).await;

    // Ping is always answered, with the id echoed.
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64
    };
    let before = now_ms();
    send(&mut ws, json!({"action": "ping", "id": "p1"})).await;
    let pong = recv(&mut ws).await.unwrap();
    let after = now_ms();
    assert_eq!(keys(&pong), ["ack", "time", "id"]);
    assert_eq!(pong["ack"], "pong");
    assert_eq!(pong["id"], "p1");
    // The answer's time is the server's clock (ms) while it answered.
    let time: u64 = pong["time"].as_str().unwrap().parse().unwrap();
    assert!(
        (before..=after).contains(&time),
        "{time} not in {before}..={after}"
    );

    // Ack without id has no id field.
    send(
        &mut ws,
        json!({"action": "subscribe", "topic": "confirmation", "ack": true}),
    )
    .await;
    let ack = recv(&mut ws).await.unwrap();
    assert_eq!(keys(&ack), ["ack", "time"]);
    assert_eq!(ack["ack"], "subscribe");

    // No ack asked, or a failed action: nothing comes back (the fence pong is next).
    send(&mut ws, json!({"action": "subscribe", "topic": "vote"})).await;
    send(
        &mut ws,
        json!({"action": "subscribe", "topic": "nonsense", "ack": true}),
    )
    .await;
    send(
        &mut ws,
        json!({"action": "update", "topic": "vote", "ack": true, "options": {}}),
    )
    .await;
    send(
        &mut ws,
        json!({"action": "update", "topic": "telemetry", "ack": true, "options": {}}),
    )
    .await;
    send(
        &mut ws,
        json!({"action": "dance", "topic": "vote", "ack": true}),
    )
    .await;
    send(&mut ws, json!(["not", "an", "object"])).await;
    assert!(drain(&mut ws).await.is_empty());

    // Unsubscribe and update acks carry their ids; "ack" as a value string works too.
    send(&mut ws, json!({"action": "update", "topic": "confirmation", "ack": "true", "id": "u", "options": {"accounts_add": []}})).await;
    let a = recv(&mut ws).await.unwrap();
    assert_eq!(
        (a["ack"].as_str(), a["id"].as_str()),
        (Some("update"), Some("u"))
    );
    send(
        &mut ws,
        json!({"action": "unsubscribe", "topic": "confirmation", "ack": true, "id": 7}),
    )
    .await;
    let a = recv(&mut ws).await.unwrap();
    assert_eq!(
        (a["ack"].as_str(), a["id"].as_str()),
        (Some("unsubscribe"), Some("7"))
    );
    // Update without a subscription fails silently.
    send(&mut ws, json!({"action": "update", "topic": "confirmation", "ack": true, "options": {"accounts_add": []}})).await;
    assert!(drain(&mut ws).await.is_empty());

    // Invalid JSON gets an error and the session keeps working.
    send_raw(&mut ws, "{this is not json").await;
    let err = recv(&mut ws).await.unwrap();
    assert_eq!(err["error"], "Unable to parse JSON");
    send(&mut ws, json!({"action": "ping"})).await;
    assert_eq!(recv(&mut ws).await.unwrap()["ack"], "pong");
    assert_eq!(srv.metrics().invalid_json, 1);
    srv.shutdown().await;
}

#[tokio::test]
async fn confirmation_options_filter_exactly() {
    let bus = EventBus::new(1024);
    let a1 = key(1);
    let a2 = key(2);
    let a3 = key(3);
    let wallet = key(9);
    let mut st = settings();
    st.local_accounts = Some(Arc::new(move || vec![wallet]));
    let srv = server(&bus, st).await;

    let mut all = connect(&srv).await;
    subscribe(&mut all, "confirmation", None).await;
    let mut by_account = connect(&srv).await;
    subscribe(
        &mut by_account,
        "confirmation",
        Some(json!({"accounts": [a1.encode_account(), "xrb_invalid"]})),
    )
    .await;
    let mut by_link = connect(&srv).await;
    // Any prefix works.
    let a2_xrb = a2.encode_account().replacen("nano_", "xrb_", 1);
    subscribe(
        &mut by_link,
        "confirmation",
        Some(json!({"accounts": [a2_xrb]})),
    )
    .await;
    let mut inactive = connect(&srv).await;
    subscribe(
        &mut inactive,
        "confirmation",
        Some(json!({"confirmation_type": "inactive"})),
    )
    .await;
    let mut active = connect(&srv).await;
    subscribe(
        &mut active,
        "confirmation",
        Some(json!({"confirmation_type": "Active"})),
    )
    .await;
    let mut quorum = connect(&srv).await;
    subscribe(
        &mut quorum,
        "confirmation",
        Some(json!({"confirmation_type": "active_quorum"})),
    )
    .await;
    let mut no_block = connect(&srv).await;
    subscribe(
        &mut no_block,
        "confirmation",
        Some(json!({"include_block": false})),
    )
    .await;
    let mut filter_no_block = connect(&srv).await;
    subscribe(
        &mut filter_no_block,
        "confirmation",
        Some(json!({"include_block": "false", "accounts": [a1.encode_account()]})),
    )
    .await;
    let mut empty_filter = connect(&srv).await;
    subscribe(
        &mut empty_filter,
        "confirmation",
        Some(json!({"accounts": []})),
    )
    .await;
    let mut local = connect(&srv).await;
    subscribe(
        &mut local,
        "confirmation",
        Some(json!({"all_local_accounts": true})),
    )
    .await;
    let mut extras = connect(&srv).await;
    subscribe(
        &mut extras,
        "confirmation",
        Some(json!({"include_election_info": true, "include_sideband_info": true})),
    )
    .await;
    let mut votes = connect(&srv).await;
    subscribe(
        &mut votes,
        "confirmation",
        Some(json!({"include_election_info_with_votes": "true", "confirmation_type": "bogus"})),
    )
    .await;

    // 1: a1 → a3, quorum. 2: a3 → a2 (link), inactive. 3: a3 → a3, height.
    // 4: legacy send from a1. 5: wallet account → a3, quorum.
    bus.publish(confirmed(
        1,
        &a1,
        state_block(&a1, &a3, "send", 0),
        ActiveQuorum,
    ));
    bus.publish(confirmed(
        2,
        &a3,
        state_block(&a3, &a2, "receive", 0),
        Inactive,
    ));
    bus.publish(confirmed(
        3,
        &a3,
        state_block(&a3, &a3, "change", 0),
        ActiveConfirmationHeight,
    ));
    bus.publish(confirmed(4, &a1, legacy_send(&a2), ActiveQuorum));
    bus.publish(confirmed(
        5,
        &wallet,
        state_block(&wallet, &a3, "send", 0),
        ActiveQuorum,
    ));

    let seen = until(&mut all, |m| m["message"]["hash"] == h(5)).await;
    assert_eq!(conf_hashes(&seen), [h(1), h(2), h(3), h(4), h(5)]);
    // Message shape: envelope order, field order, block with subtype.
    let first = &seen[0];
    assert_eq!(keys(first), ["topic", "time", "message"]);
    assert_eq!(
        keys(&first["message"]),
        ["account", "amount", "hash", "confirmation_type", "block"]
    );
    assert_eq!(first["message"]["account"], a1.encode_account());
    assert_eq!(first["message"]["amount"], "1");
    assert_eq!(first["message"]["confirmation_type"], "active_quorum");
    assert_eq!(first["message"]["block"]["subtype"], "send");
    assert_eq!(
        first["message"]["block"]["link_as_account"],
        a3.encode_account()
    );

    assert_eq!(conf_hashes(&drain(&mut by_account).await), [h(1)]);
    assert_eq!(conf_hashes(&drain(&mut by_link).await), [h(2)]);
    assert_eq!(conf_hashes(&drain(&mut inactive).await), [h(2)]);
    assert_eq!(
        conf_hashes(&drain(&mut active).await),
        [h(1), h(3), h(4), h(5)]
    );
    assert_eq!(conf_hashes(&drain(&mut quorum).await), [h(1), h(4), h(5)]);
    let nb = drain(&mut no_block).await;
    assert_eq!(conf_hashes(&nb), [h(1), h(2), h(3), h(4), h(5)]);
    assert!(nb.iter().all(|m| m["message"].get("block").is_none()));
    assert!(drain(&mut filter_no_block).await.is_empty());
    assert!(drain(&mut empty_filter).await.is_empty());
    assert_eq!(conf_hashes(&drain(&mut local).await), [h(5)]);

    let ex = drain(&mut extras).await;
    assert_eq!(ex.len(), 5);
    assert_eq!(
        keys(&ex[0]["message"]),
        [
            "account",
            "amount",
            "hash",
            "confirmation_type",
            "election_info",
            "block",
            "sideband"
        ]
    );
    assert!(ex[0]["message"]["election_info"].get("votes").is_none());
    assert_eq!(ex[0]["message"]["election_info"]["tally"], "5");
    assert_eq!(
        ex[0]["message"]["sideband"],
        json!({"height": "1", "local_timestamp": "1700000001"})
    );
    let vs = drain(&mut votes).await;
    assert_eq!(vs.len(), 5);
    assert_eq!(vs[2]["message"]["election_info"]["votes"][0]["hash"], h(3));
    assert!(vs[0]["message"].get("sideband").is_none());
    srv.shutdown().await;
}

#[tokio::test]
async fn update_unsubscribe_and_resubscribe() {
    let bus = EventBus::new(1024);
    let srv = server(&bus, settings()).await;
    let (a1, a2) = (key(1), key(2));
    let mut probe = connect(&srv).await;
    subscribe(&mut probe, "confirmation", None).await;
    let mut ws = connect(&srv).await;
    subscribe(
        &mut ws,
        "confirmation",
        Some(json!({"accounts": [a1.encode_account()]})),
    )
    .await;

    bus.publish(simple(1, &a1, ActiveQuorum));
    bus.publish(simple(2, &a2, ActiveQuorum));
    until(&mut probe, |m| m["message"]["hash"] == h(2)).await;
    assert_eq!(conf_hashes(&drain(&mut ws).await), [h(1)]);

    // accounts_add a2, accounts_del a1.
    send(
        &mut ws,
        json!({"action": "update", "topic": "confirmation", "ack": true, "id": "x",
        "options": {"accounts_add": [a2.encode_account()], "accounts_del": [a1.encode_account()]}}),
    )
    .await;
    assert_eq!(recv(&mut ws).await.unwrap()["ack"], "update");
    bus.publish(simple(3, &a1, ActiveQuorum));
    bus.publish(simple(4, &a2, ActiveQuorum));
    until(&mut probe, |m| m["message"]["hash"] == h(4)).await;
    assert_eq!(conf_hashes(&drain(&mut ws).await), [h(4)]);

    // Deleting the last account leaves an empty filter: nothing passes.
    send(&mut ws, json!({"action": "update", "topic": "confirmation", "options": {"accounts_del": [a2.encode_account()]}})).await;
    assert!(drain(&mut ws).await.is_empty());
    bus.publish(simple(5, &a2, ActiveQuorum));
    until(&mut probe, |m| m["message"]["hash"] == h(5)).await;
    assert!(drain(&mut ws).await.is_empty());

    // Subscribing again replaces the options (no duplicate subscription).
    subscribe(&mut ws, "confirmation", None).await;
    subscribe(
        &mut ws,
        "confirmation",
        Some(json!({"include_block": false})),
    )
    .await;
    bus.publish(simple(6, &a2, ActiveQuorum));
    until(&mut probe, |m| m["message"]["hash"] == h(6)).await;
    let got = drain(&mut ws).await;
    assert_eq!(conf_hashes(&got), [h(6)]);
    assert!(got[0]["message"].get("block").is_none());

    // Unsubscribe stops the flow.
    send(
        &mut ws,
        json!({"action": "unsubscribe", "topic": "confirmation"}),
    )
    .await;
    assert!(drain(&mut ws).await.is_empty());
    bus.publish(simple(7, &a1, ActiveQuorum));
    until(&mut probe, |m| m["message"]["hash"] == h(7)).await;
    assert!(drain(&mut ws).await.is_empty());
    srv.shutdown().await;
}

fn vote_event(rep: &PublicKey, kind: &str, n: u64) -> NodeEvent {
    NodeEvent::Vote {
        vote: json!({"account": rep.encode_account(), "signature": "1", "sequence": n.to_string(),
                     "timestamp": n.to_string(), "duration": "0", "blocks": [h(n)]}),
        representative: *rep,
        kind: kind.to_string(),
    }
}

#[tokio::test]
async fn vote_options() {
    let bus = EventBus::new(1024);
    let srv = server(&bus, settings()).await;
    let (r1, r2) = (key(1), key(2));
    let mut bare = connect(&srv).await;
    subscribe(&mut bare, "vote", None).await;
    let mut defaults = connect(&srv).await;
    subscribe(&mut defaults, "vote", Some(json!({}))).await;
    let mut reps = connect(&srv).await;
    subscribe(
        &mut reps,
        "vote",
        Some(json!({"representatives": [r1.encode_account()], "include_replays": true})),
    )
    .await;
    let mut invalid_reps = connect(&srv).await;
    subscribe(
        &mut invalid_reps,
        "vote",
        Some(json!({"representatives": ["nano_bad"], "include_indeterminate": true})),
    )
    .await;

    bus.publish(vote_event(&r1, "vote", 1));
    bus.publish(vote_event(&r2, "replay", 2));
    bus.publish(vote_event(&r1, "indeterminate", 3));
    bus.publish(vote_event(&r1, "replay", 4));
    bus.publish(vote_event(&r2, "ignored", 5));
    let seq = |msgs: Vec<Value>| -> Vec<(String, String)> {
        msgs.iter()
            .map(|m| {
                assert_eq!(m["topic"], "vote");
                (
                    m["message"]["sequence"].as_str().unwrap().to_string(),
                    m["message"]["type"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let all = until(&mut bare, |m| m["message"]["sequence"] == "5").await;
    let s = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        seq(all),
        s(&[
            ("1", "vote"),
            ("2", "replay"),
            ("3", "indeterminate"),
            ("4", "replay"),
            ("5", "ignored")
        ])
    );
    assert_eq!(
        seq(drain(&mut defaults).await),
        s(&[("1", "vote"), ("5", "ignored")])
    );
    assert_eq!(
        seq(drain(&mut reps).await),
        s(&[("1", "vote"), ("4", "replay")])
    );
    assert_eq!(
        seq(drain(&mut invalid_reps).await),
        s(&[("1", "vote"), ("3", "indeterminate"), ("5", "ignored")])
    );
    srv.shutdown().await;
}

#[tokio::test]
async fn simple_topics_and_active_difficulty() {
    let bus = EventBus::new(1024);
    let mut st = settings();
    st.active_difficulty_interval = Duration::from_millis(50);
    let srv = server(&bus, st).await;
    let mut ws = connect(&srv).await;
    for t in [
        "started_election",
        "stopped_election",
        "work",
        "bootstrap",
        "telemetry",
        "new_unconfirmed_block",
        "ack",
    ] {
        subscribe(&mut ws, t, None).await;
    }
    let a = key(1);
    bus.publish(simple(1, &a, ActiveQuorum)); // not subscribed: never delivered
    bus.publish(NodeEvent::ElectionStarted { hash: hash(1) });
    bus.publish(NodeEvent::ElectionStopped { hash: hash(2) });
    bus.publish(NodeEvent::Work {
        message: json!({"success": "true", "reason": "", "duration": "5"}),
    });
    bus.publish(NodeEvent::Bootstrap {
        message: json!({"reason": "started", "id": "x", "mode": "legacy"}),
    });
    bus.publish(NodeEvent::Telemetry {
        message: json!({"block_count": "1", "address": "::1", "port": "7075"}),
    });
    let block = state_block(&a, &a, "send", 0);
    bus.publish(NodeEvent::NewUnconfirmedBlock {
        block: block.clone(),
        hash: hash(3),
    });
    let got = until(&mut ws, |m| m["topic"] == "new_unconfirmed_block").await;
    let topics: Vec<&str> = got.iter().map(|m| m["topic"].as_str().unwrap()).collect();
    assert_eq!(
        topics,
        [
            "started_election",
            "stopped_election",
            "work",
            "bootstrap",
            "telemetry",
            "new_unconfirmed_block"
        ]
    );
    assert_eq!(got[0]["message"], json!({"hash": h(1)}));
    assert_eq!(got[1]["message"], json!({"hash": h(2)}));
    assert_eq!(got[2]["message"]["success"], "true");
    assert_eq!(got[3]["message"]["mode"], "legacy");
    assert_eq!(got[4]["message"]["port"], "7075");
    assert_eq!(keys(&got[5]), ["topic", "time", "hash", "message"]);
    assert_eq!(got[5]["hash"], h(3));
    assert_eq!(got[5]["message"], block);

    // active_difficulty: base threshold, multiplier 1, periodically.
    subscribe(&mut ws, "active_difficulty", None).await;
    let d = until(&mut ws, |m| m["topic"] == "active_difficulty").await;
    let d = d.last().unwrap();
    let base = format!("{:016x}", nano_core::Network::Dev.params().work.base);
    assert_eq!(
        d["message"],
        json!({"network_minimum": base, "network_current": base, "multiplier": "1"})
    );
    until(&mut ws, |m| m["topic"] == "active_difficulty").await;
    send(
        &mut ws,
        json!({"action": "unsubscribe", "topic": "active_difficulty"}),
    )
    .await;

    // Shutdown closes sessions with a close frame.
    srv.shutdown().await;
    assert!(until_end(&mut ws).await);
}

/// True when the server ended the connection (close frame, error or EOF) before the
/// deadline; false when it stayed open.
async fn until_end(ws: &mut Ws) -> bool {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
            Ok(Some(Ok(_))) => continue,
        }
    }
}
