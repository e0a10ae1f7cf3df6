//! The HTTP callback against a local HTTP server: each election-confirmed block is posted
//! exactly once with the reference body; failures are counted; nothing blocks the bus.

mod ws_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nano_api::callback::{callback_body, CallbackSettings, HttpCallbackClient};
use nano_node::config::HttpCallback;
use nano_node::events::{ConfirmationType::*, EventBus, NodeEvent};
use nano_node::stats::Stats;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use ws_support::*;

#[derive(Debug, Clone)]
struct Request {
    head: String,
    body: String,
}

/// A minimal HTTP/1.1 server recording every request and answering with `status`.
async fn http_server(status: u16) -> (u16, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let l = log.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let l = l.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len = head
                            .lines()
                            .find_map(|x| {
                                let (k, v) = x.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let body =
                                String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                            l.lock().unwrap().push(Request { head, body });
                            let resp = format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n");
                            let _ = s.write_all(resp.as_bytes()).await;
                            return;
                        }
                    }
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (port, log)
}

fn config(port: u16) -> HttpCallback {
    HttpCallback {
        address: "127.0.0.1".into(),
        port,
        target: "/callback".into(),
    }
}

async fn wait_for(mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

#[test]
fn body_matches_reference_shape() {
    let a = key(1);
    let d = key(2);
    let send = confirmed(1, &a, state_block(&a, &d, "send", 0), ActiveQuorum);
    let body = callback_body(&send).unwrap();
    // boost write_json layout: 4-space indentation, trailing newline.
    assert!(body.starts_with("{\n    \"account\": \""), "{body}");
    assert!(body.ends_with("}\n"));
    let v: Value = serde_json::from_str(&body).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["account", "hash", "block", "amount", "is_send", "subtype"]
    );
    assert_eq!(v["account"], a.encode_account());
    assert_eq!(v["hash"], h(1));
    assert_eq!(v["amount"], "1");
    assert_eq!(v["is_send"], "true");
    assert_eq!(v["subtype"], "send");
    // The block is a JSON string, without subtype.
    let block: Value = serde_json::from_str(v["block"].as_str().unwrap()).unwrap();
    let mut expected = state_block(&a, &d, "send", 0);
    expected.as_object_mut().unwrap().shift_remove("subtype");
    assert_eq!(block, expected);

    let recv = callback_body(&confirmed(
        2,
        &a,
        state_block(&a, &d, "receive", 0),
        ActiveConfirmationHeight,
    ))
    .unwrap();
    let v: Value = serde_json::from_str(&recv).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["account", "hash", "block", "amount", "subtype"]);
    assert_eq!(v["subtype"], "receive");

    // Legacy blocks: no is_send, no subtype.
    let legacy = callback_body(&confirmed(3, &a, legacy_send(&d), ActiveQuorum)).unwrap();
    let v: Value = serde_json::from_str(&legacy).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["account", "hash", "block", "amount"]);

    // Not posted: blocks cemented without an election, and other events.
    assert!(callback_body(&confirmed(4, &a, state_block(&a, &d, "send", 0), Inactive)).is_none());
    assert!(callback_body(&NodeEvent::ElectionStarted { hash: hash(1) }).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_confirmation_posted_exactly_once() {
    const N: u64 = 300;
    let (port, log) = http_server(200).await;
    let bus = EventBus::new(8192);
    let stats = Arc::new(Stats::new());
    let settings = CallbackSettings {
        stats: Some(stats.clone()),
        ..CallbackSettings::default()
    };
    let client = HttpCallbackClient::start(&config(port), &bus, settings).expect("enabled");
    let a = key(1);
    for n in 0..N {
        let block = if n % 2 == 0 {
            state_block(&a, &key(2), "send", 0)
        } else {
            state_block(&a, &key(2), "receive", 0)
        };
        bus.publish(confirmed(
            n,
            &a,
            block,
            if n % 3 == 0 {
                ActiveConfirmationHeight
            } else {
                ActiveQuorum
            },
        ));
        // Never posted.
        bus.publish(confirmed(
            N + n,
            &a,
            state_block(&a, &key(2), "send", 0),
            Inactive,
        ));
        bus.publish(NodeEvent::ElectionStopped { hash: hash(n) });
    }
    assert!(
        wait_for(|| client.metrics().succeeded == N).await,
        "{:?}",
        client.metrics()
    );
    let requests = log.lock().unwrap().clone();
    assert_eq!(requests.len() as u64, N);
    let mut by_hash: HashMap<String, Value> = HashMap::new();
    for r in &requests {
        assert!(
            r.head.starts_with("POST /callback HTTP/1.1\r\n"),
            "{}",
            r.head
        );
        assert!(r
            .head
            .to_ascii_lowercase()
            .contains("content-type: application/json"));
        let v: Value = serde_json::from_str(&r.body).unwrap();
        let hash = v["hash"].as_str().unwrap().to_string();
        assert!(by_hash.insert(hash, v).is_none(), "posted twice");
    }
    for n in 0..N {
        let v = &by_hash[&h(n)];
        assert_eq!(v["account"], a.encode_account());
        assert_eq!(v["amount"], n.to_string());
        if n % 2 == 0 {
            assert_eq!(
                (v["is_send"].as_str(), v["subtype"].as_str()),
                (Some("true"), Some("send"))
            );
        } else {
            assert_eq!(v.get("is_send"), None);
            assert_eq!(v["subtype"], "receive");
        }
        let block: Value = serde_json::from_str(v["block"].as_str().unwrap()).unwrap();
        assert_eq!(block["link_as_account"], key(2).encode_account());
    }
    let m = client.metrics();
    assert_eq!((m.initiated, m.failed, m.dropped), (N, 0, 0));
    assert_eq!(stats.get("http_callback", "initiate", "out"), N);
    client.shutdown().await;
}

#[tokio::test]
async fn failures_are_counted_not_fatal() {
    let stats = Arc::new(Stats::new());
    let settings = CallbackSettings {
        stats: Some(stats.clone()),
        timeout: Duration::from_secs(5),
        ..CallbackSettings::default()
    };
    // A server answering 500, and a port nobody listens on.
    let (port, log) = http_server(500).await;
    let closed = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let bus = EventBus::new(1024);
    let c500 = HttpCallbackClient::start(&config(port), &bus, settings.clone()).unwrap();
    let cdead = HttpCallbackClient::start(&config(closed), &bus, settings).unwrap();
    let a = key(1);
    for n in 0..5 {
        bus.publish(confirmed(
            n,
            &a,
            state_block(&a, &key(2), "send", 0),
            ActiveQuorum,
        ));
    }
    assert!(wait_for(|| c500.metrics().failed == 5 && cdead.metrics().failed == 5).await);
    assert_eq!(log.lock().unwrap().len(), 5);
    assert_eq!(stats.get("http_callback", "error", "out"), 10);
    c500.shutdown().await;
    cdead.shutdown().await;

    // Disabled when no address or port is configured.
    let none = HttpCallback {
        address: String::new(),
        port: 0,
        target: String::new(),
    };
    assert!(HttpCallbackClient::start(&none, &bus, CallbackSettings::default()).is_none());
}
