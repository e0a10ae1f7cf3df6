//! Helpers shared by the WebSocket and callback tests: a server on 127.0.0.1 with an
//! OS-assigned port, a real tokio-tungstenite client, and synthetic node events.
#![allow(dead_code)]

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use nano_api::websocket::{WebsocketServer, WebsocketSettings};
use nano_core::{Amount, BlockHash, Network, PublicKey};
use nano_node::events::{ConfirmationType, EventBus, NodeEvent};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Generous: the suite runs on a loaded 2-core machine. Only failures wait this long.
pub const DEADLINE: Duration = Duration::from_secs(20);

pub fn settings() -> WebsocketSettings {
    WebsocketSettings::new(Network::Dev.params())
}

pub async fn server(bus: &EventBus, settings: WebsocketSettings) -> WebsocketServer {
    WebsocketServer::bind("127.0.0.1", 0, bus, settings)
        .await
        .expect("bind websocket server")
}

pub async fn connect(server: &WebsocketServer) -> Ws {
    let url = format!("ws://{}/", server.local_addr());
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("websocket connect");
    ws
}

pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

pub async fn send_raw(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text.to_string()))
        .await
        .expect("send");
}

/// The next JSON text frame, or `None` when the connection ended or the deadline passed.
pub async fn recv(ws: &mut Ws) -> Option<Value> {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.ok()??;
        match frame.ok()? {
            Message::Text(t) => return serde_json::from_str(t.as_str()).ok(),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

/// Subscribes with an ack and waits for it, so the subscription is in force afterwards.
pub async fn subscribe(ws: &mut Ws, topic: &str, options: Option<Value>) {
    let mut req = json!({"action": "subscribe", "topic": topic, "ack": true, "id": topic});
    if let Some(o) = options {
        req["options"] = o;
    }
    send(ws, req).await;
    let ack = recv(ws).await.expect("subscribe ack");
    assert_eq!(ack["ack"], "subscribe", "{ack}");
    assert_eq!(ack["id"], topic);
}

/// Every message queued for this client before a fence: sends a ping and collects what
/// arrives before its pong. Call it only once the events of interest have been
/// dispatched (another client saw a later event), so no timing is involved.
pub async fn drain(ws: &mut Ws) -> Vec<Value> {
    send(ws, json!({"action": "ping", "id": "fence"})).await;
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let m = recv(ws).await.expect("message before fence pong");
        if m["ack"] == "pong" && m["id"] == "fence" {
            return out;
        }
        out.push(m);
    }
    panic!("no fence pong");
}

/// Reads until a message satisfies `pred`, returning everything read (it included).
pub async fn until(ws: &mut Ws, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..100_000 {
        let m = recv(ws).await.expect("expected message");
        let done = pred(&m);
        out.push(m);
        if done {
            return out;
        }
    }
    panic!("message never came");
}

pub fn key(n: u8) -> PublicKey {
    let mut b = [0u8; 32];
    b[0] = n;
    b[31] = 0x5a;
    PublicKey::from_bytes(b)
}

pub fn hash(n: u64) -> BlockHash {
    let mut b = [0u8; 32];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b[31] = 1;
    BlockHash::from_bytes(b)
}

/// A state block JSON shaped like the node's, `subtype` included.
pub fn state_block(account: &PublicKey, link: &PublicKey, subtype: &str, padding: usize) -> Value {
    let mut b = json!({
        "type": "state",
        "account": account.encode_account(),
        "previous": "0".repeat(64),
        "representative": account.encode_account(),
        "balance": "1000",
        "link": link.encode_hex(),
        "link_as_account": link.encode_account(),
        "signature": "A".repeat(128),
        "work": "0000000000000000",
        "subtype": subtype,
    });
    if padding > 0 {
        b["padding"] = Value::String("x".repeat(padding));
    }
    b
}

/// A legacy send block JSON (no link_as_account).
pub fn legacy_send(destination: &PublicKey) -> Value {
    json!({
        "type": "send",
        "previous": "0".repeat(64),
        "destination": destination.encode_account(),
        "balance": "000000000000000000000000000003E8",
        "work": "0000000000000000",
        "signature": "A".repeat(128),
    })
}

pub fn confirmed(
    n: u64,
    account: &PublicKey,
    block: Value,
    confirmation_type: ConfirmationType,
) -> NodeEvent {
    let subtype = block["subtype"].as_str().unwrap_or("").to_string();
    NodeEvent::BlockConfirmed {
        hash: hash(n),
        account: *account,
        amount: Amount::raw(n as u128),
        is_send: subtype == "send",
        subtype,
        block,
        confirmation_type,
        height: n,
        local_timestamp: 1_700_000_000 + n,
        election: Some(json!({
            "duration": "10", "time": "1700000000000", "tally": "5", "final": "5",
            "blocks": "1", "voters": "1", "request_count": "1",
            "votes": [{"representative": account.encode_account(), "timestamp": "1",
                        "hash": hash(n).encode_hex(), "weight": "5"}]
        })),
        sequence: None,
    }
}

pub fn simple(n: u64, account: &PublicKey, ct: ConfirmationType) -> NodeEvent {
    confirmed(
        n,
        account,
        state_block(account, &key(200), "receive", 0),
        ct,
    )
}

/// Hashes of the confirmation messages in `msgs`, in order.
pub fn conf_hashes(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .filter(|m| m["topic"] == "confirmation")
        .map(|m| m["message"]["hash"].as_str().unwrap_or("").to_string())
        .collect()
}

pub fn h(n: u64) -> String {
    hash(n).encode_hex()
}

/// A dev ledger whose confirmation log the tests fill by cementing sends from genesis.
pub struct LedgerFixture {
    _dir: tempfile::TempDir,
    pub ledger: std::sync::Arc<nano_ledger::Ledger>,
    genesis: nano_ledger::test_support::Chain,
}

impl LedgerFixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let ledger = std::sync::Arc::new(
            nano_ledger::Ledger::open(&dir.path().join("data.ldb"), Network::Dev)
                .expect("open ledger"),
        );
        LedgerFixture {
            _dir: dir,
            ledger,
            genesis: nano_ledger::test_support::Chain::dev_genesis(),
        }
    }

    pub fn history(&self) -> nano_node::confirmation_history::ConfirmationHistory {
        nano_node::confirmation_history::ConfirmationHistory::new(self.ledger.clone())
    }

    /// Sends 1 raw from genesis to each destination, each processed and cemented in
    /// its own transaction (one sequence number each); returns their hashes in order.
    pub fn cement_sends(&mut self, destinations: &[PublicKey]) -> Vec<BlockHash> {
        let mut out = Vec::with_capacity(destinations.len());
        for d in destinations {
            let b = self.genesis.send(d, 1);
            let mut txn = self.ledger.write_txn().expect("write txn");
            self.ledger.process(&mut txn, &b).expect("process");
            let cemented = self.ledger.confirm(&mut txn, &b.hash()).expect("confirm");
            assert_eq!(cemented, vec![b.hash()]);
            txn.commit().expect("commit");
            out.push(b.hash());
        }
        out
    }
}

/// Distinct destination accounts for [`LedgerFixture::cement_sends`].
pub fn dest(i: u32) -> PublicKey {
    let mut b = [0u8; 32];
    b[..4].copy_from_slice(&i.to_be_bytes());
    b[31] = 0xd5;
    PublicKey::from_bytes(b)
}

/// An endpoint that keeps each connection open for any number of requests; counts
/// connections and records bodies.
/// Shared with the confirmation-stream bench.
pub type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

pub async fn keep_alive_server() -> (u16, Shared<Vec<String>>, Shared<usize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let bodies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let conns = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let (b, c) = (bodies.clone(), conns.clone());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            *c.lock().unwrap() += 1;
            let b = b.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|x| x.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() < end + 4 + len {
                            break;
                        }
                        let body =
                            String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
                        b.lock().unwrap().push(body);
                        buf.drain(..end + 4 + len);
                        let resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                        if tokio::io::AsyncWriteExt::write_all(&mut s, resp.as_bytes())
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    match tokio::io::AsyncReadExt::read(&mut s, &mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
            });
        }
    });
    (port, bodies, conns)
}
