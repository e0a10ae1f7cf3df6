//! The HTTP callback (`[node.httpcallback]` address/port/target): one HTTP/1.1 POST per
//! confirmation, with the reference node's JSON body plus `"sequence"`, sent by a small
//! hand-written client over a tokio `TcpStream`, reusing the connection while the endpoint
//! keeps it open (the reference opens one per POST).
//!
//! Delivery is at least once, in sequence order, across restarts: the client reads the
//! node's confirmation log (not the lossy event bus) from its own cursor, posts one
//! confirmation at a time, retries a failing or slow POST with doubling backoff (100 ms up
//! to `retry_max_backoff`) until the endpoint answers 200, and only then moves on. The
//! cursor is persisted in the store at least once a second and at shutdown, so after a
//! crash at most the last second of deliveries is repeated. The event bus only wakes the
//! client early; it also polls. A slow endpoint delays delivery and loses nothing, unless
//! it falls behind by more than the whole history (`node.confirmation_history_size`):
//! then the trimmed rows are skipped, counted and logged. Lag (head minus cursor) is on
//! `/metrics`.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nano_node::config::HttpCallback;
use nano_node::confirmation_history::{ConfirmationHistory, HistoryError};
use nano_node::events::{ConfirmationType, EventBus, NodeEvent};
use nano_node::stats::Stats;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The callback's cursor name in the confirmation log.
pub const CURSOR_NAME: &str = "http_callback";

/// Confirmations read from the log at once: enough to amortise the read transaction,
/// small enough that a batch of block JSON stays a few hundred kilobytes.
const READ_BATCH: usize = 256;

/// First retry delay; doubles up to the configured maximum.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Client tuning.
#[derive(Clone)]
pub struct CallbackSettings {
    /// Budget for connecting, sending and reading the status line of one POST.
    pub timeout: Duration,
    /// Longest wait between retries of a failing POST.
    pub max_backoff: Duration,
    /// How often the log is checked when no bus event wakes the client.
    pub poll: Duration,
    /// Longest time delivered progress stays unpersisted.
    pub persist_every: Duration,
    /// When present, outcomes are also counted under the `http_callback` kind.
    pub stats: Option<Arc<Stats>>,
}

impl Default for CallbackSettings {
    fn default() -> Self {
        CallbackSettings {
            timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(10),
            poll: Duration::from_millis(250),
            persist_every: Duration::from_secs(1),
            stats: None,
        }
    }
}

impl CallbackSettings {
    /// The timeouts of `[node.httpcallback]`, other values default.
    pub fn from_config(config: &HttpCallback) -> Self {
        CallbackSettings {
            timeout: Duration::from_millis(config.request_timeout.max(1)),
            max_backoff: Duration::from_millis(config.retry_max_backoff.max(1)),
            ..CallbackSettings::default()
        }
    }
}

/// Outcomes so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallbackMetrics {
    /// POST attempts, retries included.
    pub initiated: u64,
    pub succeeded: u64,
    /// Connection errors, timeouts and non-200 answers (each retried).
    pub failed: u64,
    /// Confirmations trimmed from the history before they could be delivered.
    pub skipped: u64,
    /// The last sequence delivered (the cursor).
    pub delivered: u64,
}

#[derive(Default)]
struct Counters {
    initiated: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    skipped: AtomicU64,
    delivered: AtomicU64,
}

struct Shared {
    address: String,
    port: u16,
    target: String,
    settings: CallbackSettings,
    counters: Counters,
    history: ConfirmationHistory,
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
/// sends, or `subtype` change / receive / epoch otherwise; then `sequence` (a decimal
/// string) when the confirmation is in the log.
pub fn callback_body(event: &NodeEvent) -> Option<String> {
    let NodeEvent::BlockConfirmed {
        hash,
        account,
        amount,
        block,
        subtype,
        is_send,
        confirmation_type,
        sequence,
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
    if let Some(seq) = sequence {
        m.insert("sequence".into(), seq.to_string().into());
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
    /// port is configured (the reference default: callbacks off). Delivery starts after
    /// the persisted cursor; a client that never ran starts at the current head.
    pub fn start(
        config: &HttpCallback,
        bus: &EventBus,
        history: ConfirmationHistory,
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
            history,
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
            skipped: c.skipped.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
        }
    }

    /// Stops (abandoning a POST in flight, which is retried after a restart) and
    /// persists the cursor.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(self.shared.settings.timeout * 2, self.task).await;
    }
}

/// Persists the cursor off the async threads (it is an fsynced write transaction).
async fn persist(shared: &Arc<Shared>, cursor: u64) {
    let s = shared.clone();
    let r = tokio::task::spawn_blocking(move || s.history.set_cursor(CURSOR_NAME, cursor)).await;
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!("http callback: cannot persist cursor {cursor}: {e}"),
        Err(e) => tracing::warn!("http callback: cursor task failed: {e}"),
    }
}

async fn read_batch(shared: &Arc<Shared>, from: u64) -> Result<Vec<NodeEvent>, HistoryError> {
    let s = shared.clone();
    tokio::task::spawn_blocking(move || s.history.read(from, READ_BATCH))
        .await
        .unwrap_or_else(|e| Err(HistoryError::Store(e.to_string())))
}

async fn run(
    shared: Arc<Shared>,
    mut events: nano_node::events::EventReceiver,
    mut stop: watch::Receiver<bool>,
) {
    let start = {
        let s = shared.clone();
        tokio::task::spawn_blocking(move || -> Result<(u64, bool), HistoryError> {
            match s.history.cursor(CURSOR_NAME)? {
                Some(c) => Ok((c, false)),
                None => Ok((s.history.head()?, true)),
            }
        })
        .await
    };
    let mut cursor = match start {
        Ok(Ok((c, fresh))) => {
            if fresh {
                persist(&shared, c).await;
            }
            c
        }
        Ok(Err(e)) => {
            tracing::error!("http callback: cannot read its cursor, not started: {e}");
            return;
        }
        Err(e) => {
            tracing::error!("http callback: {e}");
            return;
        }
    };
    shared.counters.delivered.store(cursor, Ordering::Relaxed);
    let mut persisted = cursor;
    let mut last_persist = Instant::now();
    let mut poll = tokio::time::interval(shared.settings.poll.max(Duration::from_millis(1)));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut bus_open = true;
    // The connection to the endpoint, kept between POSTs when it allows.
    let mut conn: Option<TcpStream> = None;
    'outer: loop {
        if *stop.borrow() {
            break;
        }
        let batch = match read_batch(&shared, cursor + 1).await {
            Ok(b) => b,
            Err(HistoryError::TooOld { oldest, .. }) => {
                let lost = oldest - 1 - cursor;
                shared.counters.skipped.fetch_add(lost, Ordering::Relaxed);
                shared.stat("skipped", lost);
                tracing::error!(
                    "http callback: {lost} confirmations were trimmed from the history before \
                     delivery (node.confirmation_history_size); continuing at {oldest}"
                );
                cursor = oldest - 1;
                continue;
            }
            Err(e) => {
                tracing::warn!("http callback: {e}");
                Vec::new()
            }
        };
        if batch.is_empty() {
            if persisted != cursor {
                persist(&shared, cursor).await;
                persisted = cursor;
                last_persist = Instant::now();
            }
            tokio::select! {
                _ = stop.wait_for(|v| *v) => break,
                r = events.recv(), if bus_open => {
                    bus_open = !matches!(r, Err(tokio::sync::broadcast::error::RecvError::Closed));
                }
                _ = poll.tick() => {}
            }
            continue;
        }
        for event in batch {
            let NodeEvent::BlockConfirmed {
                sequence: Some(seq),
                ..
            } = &event
            else {
                continue;
            };
            let seq = *seq;
            if let Some(body) = callback_body(&event) {
                if !deliver(&shared, &mut conn, &body, &mut stop).await {
                    break 'outer;
                }
            }
            cursor = seq;
            shared.counters.delivered.store(cursor, Ordering::Relaxed);
            if last_persist.elapsed() >= shared.settings.persist_every {
                persist(&shared, cursor).await;
                persisted = cursor;
                last_persist = Instant::now();
            }
        }
    }
    if persisted != cursor {
        persist(&shared, cursor).await;
    }
}

/// Posts `body` until the endpoint answers 200; false when stopped first.
async fn deliver(
    shared: &Shared,
    conn: &mut Option<TcpStream>,
    body: &str,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut backoff = FIRST_BACKOFF;
    // Bounded by the stop signal: a failing endpoint is retried until it recovers.
    loop {
        shared.counters.initiated.fetch_add(1, Ordering::Relaxed);
        shared.stat("initiate", 1);
        let attempt = tokio::time::timeout(shared.settings.timeout, post(shared, conn, body));
        let result = tokio::select! {
            _ = stop.wait_for(|v| *v) => return false,
            r = attempt => r,
        };
        let error = match result {
            Ok(Ok(200)) => None,
            Ok(Ok(status)) => Some(format!("status {status}")),
            Ok(Err(e)) => Some(e.to_string()),
            Err(_) => Some("timed out".to_string()),
        };
        let Some(e) = error else {
            shared.counters.succeeded.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        shared.counters.failed.fetch_add(1, Ordering::Relaxed);
        shared.stat("error", 1);
        tracing::warn!(
            "http callback to {}:{}{} failed ({e}); retrying in {} ms",
            shared.address,
            shared.port,
            shared.target,
            backoff.as_millis()
        );
        tokio::select! {
            _ = stop.wait_for(|v| *v) => return false,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(shared.settings.max_backoff);
    }
}

/// Longest response head (status line and headers) accepted from the callback server.
const MAX_RESPONSE_HEAD: usize = 8 * 1024;
/// Largest response body read in order to reuse the connection; a larger (or unsized)
/// answer closes it instead.
const MAX_KEPT_BODY: usize = 64 * 1024;

async fn connect(s: &Shared) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, "address did not resolve");
    for addr in tokio::net::lookup_host((s.address.as_str(), s.port)).await? {
        match TcpStream::connect(addr).await {
            Ok(c) => {
                let _ = c.set_nodelay(true);
                return Ok(c);
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// One POST; returns the HTTP status code. The connection is kept for the next POST
/// when the endpoint allows it (HTTP/1.1, a sized answer, no `Connection: close`), which
/// saves a TCP handshake per confirmation; a kept connection the endpoint has closed in
/// the meantime is replaced once, at once.
async fn post(s: &Shared, conn: &mut Option<TcpStream>, body: &str) -> io::Result<u16> {
    let host = if s.address.contains(':') {
        format!("[{}]", s.address)
    } else {
        s.address.clone()
    };
    let request = format!(
        "POST {} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
        s.target,
        body.len()
    );
    let reused = conn.is_some();
    let mut stream = match conn.take() {
        Some(c) => c,
        None => connect(s).await?,
    };
    let outcome = match exchange(&mut stream, request.as_bytes()).await {
        Err(_) if reused => {
            stream = connect(s).await?;
            exchange(&mut stream, request.as_bytes()).await?
        }
        r => r?,
    };
    let (status, keep) = outcome;
    if keep {
        *conn = Some(stream);
    }
    Ok(status)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn status_of(line: &str) -> io::Result<u16> {
    line.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u16>().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| bad("malformed status line"))
}

/// Writes one request and reads the answer; returns the status and whether the
/// connection may carry another request.
async fn exchange(stream: &mut TcpStream, request: &[u8]) -> io::Result<(u16, bool)> {
    stream.write_all(request).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        if buf.len() > MAX_RESPONSE_HEAD {
            return Err(bad("response head too long"));
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            // A status line and then the end: the status counts, the connection ends.
            let text = String::from_utf8_lossy(&buf);
            return match text.split_once("\r\n") {
                Some((line, _)) => Ok((status_of(line)?, false)),
                None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no response")),
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let status = status_of(status_line)?;
    let mut keep = status_line.starts_with("HTTP/1.1");
    let mut length = None;
    for line in lines {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_ascii_lowercase());
        match k.as_str() {
            "content-length" => length = v.parse::<usize>().ok(),
            "connection" if v.contains("close") => keep = false,
            "transfer-encoding" => keep = false,
            _ => {}
        }
    }
    let Some(length) = length.filter(|l| keep && *l <= MAX_KEPT_BODY) else {
        return Ok((status, false));
    };
    let want = head_end + 4 + length;
    while buf.len() < want {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok((status, false));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    // Bytes beyond the announced body would belong to no request of ours.
    Ok((status, buf.len() == want))
}
