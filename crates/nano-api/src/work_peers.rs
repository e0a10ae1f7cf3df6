//! Work generation across `work_peers`: each peer (another node or a work server) gets
//! the RPC `work_generate` request over HTTP while the local CPU works too; the first
//! valid answer wins and the others are cancelled (`work_cancel` to peers, the local
//! cancel flag here). An invalid answer from a peer is ignored and logged.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use nano_core::work::work_value;
use nano_core::Root;

fn post(host: &str, port: u16, body: &str, timeout: Duration) -> Option<serde_json::Value> {
    let addr = (host.trim_matches(['[', ']']), port)
        .to_socket_addrs()
        .ok()?
        .next()?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    s.set_write_timeout(Some(timeout)).ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = Vec::new();
    // Bounded: a work answer is tiny; refuse anything larger than 64 KiB.
    s.take(64 * 1024).read_to_end(&mut out).ok()?;
    let text = String::from_utf8_lossy(&out);
    serde_json::from_str(text.split("\r\n\r\n").nth(1)?).ok()
}

/// Asks one peer; `Some(work)` only when the answer is valid for `difficulty`.
fn ask(host: &str, port: u16, root: Root, difficulty: u64, timeout: Duration) -> Option<u64> {
    let body = serde_json::json!({
        "action": "work_generate",
        "hash": root.encode_hex(),
        "difficulty": format!("{difficulty:016x}"),
    })
    .to_string();
    let v = post(host, port, &body, timeout)?;
    let w = nano_core::blocks::parse_work_hex(v["work"].as_str()?).ok()?;
    if work_value(&root, w) >= difficulty {
        Some(w)
    } else {
        tracing::warn!("work peer {host}:{port} returned invalid work");
        None
    }
}

/// How one generation across the local CPU and the work peers ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Valid work, and who found it: `local` or the peer's `host:port`.
    Found { work: u64, source: String },
    /// The cancel flag was set first.
    Cancelled,
    /// Every worker gave up (peers failed or answered invalid work, no local CPU).
    Failed,
}

/// The outcome plus the peers that failed or answered invalid work (the WebSocket
/// `work` topic's `bad_peers`).
#[derive(Debug, Clone)]
pub struct Generated {
    pub outcome: Outcome,
    pub bad_peers: Vec<String>,
}

/// How often a wait for answers checks the cancel flag, so `work_cancel` stops a
/// generation that only waits for peers promptly.
const CANCEL_POLL: Duration = Duration::from_millis(50);

/// Generates work with the local CPU (when `threads > 0`) and every peer at once;
/// returns the first valid result, or why there is none.
pub fn generate(
    root: Root,
    difficulty: u64,
    threads: usize,
    peers: &[(String, u16)],
    cancel: Arc<AtomicBool>,
    peer_timeout: Duration,
) -> Generated {
    // Each worker sends exactly one answer: (source, work if valid).
    let (tx, rx) = mpsc::channel::<(String, Option<u64>)>();
    let local = (threads > 0).then(|| {
        let local_cancel = cancel.clone();
        let ltx = tx.clone();
        std::thread::spawn(move || {
            let w = nano_core::work::generate(&root, difficulty, threads, &local_cancel);
            let _ = ltx.send(("local".to_string(), w));
        })
    });
    for (host, port) in peers.iter().cloned() {
        let ptx = tx.clone();
        std::thread::spawn(move || {
            let w = ask(&host, port, root, difficulty, peer_timeout);
            let _ = ptx.send((format!("{host}:{port}"), w));
        });
    }
    drop(tx);
    let mut outcome = Outcome::Failed;
    let mut bad_peers = Vec::new();
    // Ends after at most peers + 1 answers, or when cancelled.
    loop {
        if cancel.load(Ordering::Relaxed) {
            outcome = Outcome::Cancelled;
            break;
        }
        match rx.recv_timeout(CANCEL_POLL) {
            Ok((source, Some(work))) => {
                outcome = Outcome::Found { work, source };
                break;
            }
            Ok((source, None)) => {
                if source != "local" {
                    bad_peers.push(source);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    cancel.store(true, Ordering::Relaxed);
    if let Some(l) = local {
        let _ = l.join();
    }
    for (host, port) in peers {
        let body =
            serde_json::json!({"action": "work_cancel", "hash": root.encode_hex()}).to_string();
        let (h, p) = (host.clone(), *port);
        std::thread::spawn(move || {
            let _ = post(&h, p, &body, Duration::from_secs(2));
        });
    }
    Generated { outcome, bad_peers }
}
