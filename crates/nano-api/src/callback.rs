//! The HTTP callback (`[node.httpcallback]` address/port/target): one HTTP/1.1 POST per
//! block confirmed by an election, with the reference node's JSON body, sent by a small
//! hand-written client over a tokio `TcpStream` (one connection per POST, as the reference
//! does). The client reads the node's [`EventBus`], so the node never waits for it:
//! concurrency is bounded by a semaphore, and when the receiver falls behind the bus the
//! missed events are counted as dropped. Failures are logged and counted.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nano_node::config::HttpCallback;
use nano_node::events::{ConfirmationType, EventBus, NodeEvent};
use nano_node::stats::Stats;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch, Semaphore};
use tokio::task::JoinHandle;

/// Client tuning.
#[derive(Clone)]
pub struct CallbackSettings {
    /// POSTs in flight at once; beyond that, events wait on the bus (and are dropped,
    /// counted, if the bus overtakes them).
    pub max_in_flight: usize,
    /// Budget for connecting, sending and reading the status line of one POST.
    pub timeout: Duration,
    /// When present, outcomes are also counted under the `http_callback` kind.
    pub stats: Option<Arc<Stats>>,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        CallbackSettings {
            max_in_flight: 16,
            timeout: Duration::from_secs(10),
            stats: None,
        }
    }
}

/// Outcomes so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackMetrics {
    pub initiated: u64,
    pub succeeded: u64,
    /// Connection errors, timeouts and non-200 answers.
    pub failed: u64,
    /// Confirmations never posted because the client fell behind the bus.
    pub dropped: u64,
}

#[derive(Default)]
struct Counters {
    initiated: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

struct Shared {
    address: String,
    port: u16,
    target: String,
    settings: CallbackSettings,
    counters: Counters,
}

impl Shared {
    fn stat(&self, detail: &str, n: u64) {
        if let Some(s) = &self.settings.stats {
            s.add("http_callback", detail, "out", n);
        }
    }
}

/// Pretty JSON with four-space indentation and a trailing newline, the layout boost's
/// `write_json` produces, so that byte-comparing consumers see the reference shape.
fn ptree_style(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    if v.serialize(&mut ser).is_err() {
        return "{}\n".into();
    }
    let mut s = String::from_utf8(out).unwrap_or_default();
    s.push('\n');
    s
}

/// The callback body for an event, or `None` when the reference would not post it: only
/// blocks confirmed by an election (quorum or confirmation height) are posted.
///
/// Fields, in order: `account`, `hash`, `block` (the block JSON as a *string*, without
/// `subtype`), `amount`, then for state blocks `is_send: "true"` + `subtype: "send"` on
/// sends, or `subtype` change / receive / epoch otherwise.
pub fn callback_body(event: &NodeEvent) -> Option<String> {
    let NodeEvent::BlockConfirmed {
        hash,
        account,
        amount,
        block,
        subtype,
        is_send,
        confirmation_type,
        ..
    } = event
    else {
        return None;
    };
    if *confirmation_type == ConfirmationType::Inactive {
        return None;
    }
    let is_state = block.get("type").and_then(Value::as_str) == Some("state");
    let block_text = match block {
        Value::Object(m) => ptree_style(&Value::Object(
            m.iter()
                .filter(|(k, _)| k.as_str() != "subtype")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )),
        other => ptree_style(other),
    };
    let mut m = Map::new();
    m.insert("account".into(), account.encode_account().into());
    m.insert("hash".into(), hash.encode_hex().into());
    m.insert("block".into(), block_text.into());
    m.insert("amount".into(), amount.encode_dec().into());
    if is_state {
        if *is_send {
            m.insert("is_send".into(), "true".into());
            m.insert("subtype".into(), "send".into());
        } else if !subtype.is_empty() {
            m.insert("subtype".into(), subtype.as_str().into());
        }
    }
    Some(ptree_style(&Value::Object(m)))
}

/// A running callback client. Call [`Self::shutdown`] to stop it.
pub struct HttpCallbackClient {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl HttpCallbackClient {
    /// Starts posting confirmations to `[node.httpcallback]`; `None` when no address or
    /// port is configured (the reference default: callbacks off). Subscribes to the bus
    /// before returning.
    pub fn start(
        config: &HttpCallback,
        bus: &EventBus,
        settings: CallbackSettings,
    ) -> Option<HttpCallbackClient> {
        if config.address.trim().is_empty() || config.port == 0 {
            return None;
        }
        let target = if config.target.starts_with('/') {
            config.target.clone()
        } else {
            format!("/{}", config.target)
        };
        let shared = Arc::new(Shared {
            address: config
                .address
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: config.port,
            target,
            settings,
            counters: Counters::default(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(shared.clone(), bus.subscribe(), stop_rx));
        Some(HttpCallbackClient { shared, stop, task })
    }

    pub fn metrics(&self) -> CallbackMetrics {
        let c = &self.shared.counters;
        CallbackMetrics {
            initiated: c.initiated.load(Ordering::Relaxed),
            succeeded: c.succeeded.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
        }
    }

    /// Stops reading the bus and waits (at most one request timeout) for POSTs in flight.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(self.shared.settings.timeout, self.task).await;
    }
}

async fn run(
    shared: Arc<Shared>,
    mut events: nano_node::events::EventReceiver,
    mut stop: watch::Receiver<bool>,
) {
    let permits = shared.settings.max_in_flight.max(1);
    let sem = Arc::new(Semaphore::new(permits));
    loop {
        let event = tokio::select! {
            _ = stop.wait_for(|v| *v) => break,
            r = events.recv() => match r {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    shared.counters.dropped.fetch_add(n, Ordering::Relaxed);
                    shared.stat("dropped", n);
                    tracing::warn!("http callback: fell behind, {n} events not posted");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
        };
        let Some(body) = callback_body(&event) else {
            continue;
        };
        let permit = tokio::select! {
            _ = stop.wait_for(|v| *v) => break,
            p = sem.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
        };
        shared.counters.initiated.fetch_add(1, Ordering::Relaxed);
        shared.stat("initiate", 1);
        let s = shared.clone();
        tokio::spawn(async move {
            let result = tokio::time::timeout(s.settings.timeout, post(&s, &body)).await;
            let error = match result {
                Ok(Ok(200)) => None,
                Ok(Ok(status)) => Some(format!("status {status}")),
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some("timed out".to_string()),
            };
            match error {
                None => {
                    s.counters.succeeded.fetch_add(1, Ordering::Relaxed);
                }
                Some(e) => {
                    s.counters.failed.fetch_add(1, Ordering::Relaxed);
                    s.stat("error", 1);
                    tracing::warn!(
                        "http callback to {}:{}{} failed: {e}",
                        s.address,
                        s.port,
                        s.target
                    );
                }
            }
            drop(permit);
        });
    }
    // Let POSTs in flight finish.
    let _ = sem.acquire_many(permits as u32).await;
}

/// Longest status line accepted from the callback server.
const MAX_STATUS_LINE: usize = 8 * 1024;

/// One POST; returns the HTTP status code.
async fn post(s: &Shared, body: &str) -> io::Result<u16> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "address did not resolve");
    let mut stream = None;
    for addr in tokio::net::lookup_host((s.address.as_str(), s.port)).await? {
        match TcpStream::connect(addr).await {
            Ok(c) => {
                stream = Some(c);
                break;
            }
            Err(e) => last = e,
        }
    }
    let mut stream = stream.ok_or(last)?;
    let host = if s.address.contains(':') {
        format!("[{}]", s.address)
    } else {
        s.address.clone()
    };
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        s.target,
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    while !buf.windows(2).any(|w| w == b"\r\n") {
        if buf.len() > MAX_STATUS_LINE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "status line too long",
            ));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no response"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "malformed status line"))
}
