//! The node's IPC listeners (`[node.ipc.tcp]`, `[node.ipc.local]`) and the session loop.
//!
//! * TCP binds localhost only (`::1` and `127.0.0.1` on the configured port), as every
//!   local API of this node does; the reference binds all interfaces, which would expose
//!   unauthenticated control to the network.
//! * The Unix socket replaces a stale socket file at start (refusing if a live server
//!   answers there, or if the path is not a socket) and removes it on stop.
//! * A session waits at most `idle_timeout` for the next request (without limit once it
//!   listens to events: it is there to hear them). Once a request's first byte arrived,
//!   the rest of it (preamble, length, payload) must arrive within `io_timeout` of it, so a
//!   client trickling bytes cannot hold a session; the answer must be taken within
//!   `io_timeout` too. Bad preambles and oversized lengths close the session.
//! * A session whose request is still arriving `nano_http::SLOW_REQUEST` after its first
//!   byte moves, with its socket, to `nano_http`'s large-answer thread, off the runtime
//!   that serves every other session and the node (as the HTTP listeners do).
//! * At most `[node.ipc] connections_max` sessions are open at once (both transports);
//!   further connections are closed at accept.
//! * Slow RPC v1 requests queue in the slow-action pool per client: the source address
//!   over TCP, the connection over the Unix socket.
//! * RPC v1 requests (encodings 1, 2) run with control enabled: the HTTP front that
//!   forwards them (`nano_rpc`) enforces `enable_control`, as in the reference, and a
//!   local IPC client is as trusted as the node's operator. Unsafe actions need encoding 2
//!   on a transport with `allow_unsafe` (or the dev network, as over HTTP).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nano_http::{mark_slow, run_movable, Rebind, Rebinding, SLOW_REQUEST};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{watch, Mutex, Semaphore};
use tokio::time::timeout;

use super::{parse_preamble, response_frame, Encoding, MAX_PAYLOAD};
use crate::api_v2::{Response, SessionLink, V2Service};
use crate::context::Origin;
use crate::worker_pool::Client;

/// Per-transport settings.
#[derive(Debug, Clone, Copy)]
pub struct TransportOptions {
    pub io_timeout: Duration,
    pub allow_unsafe: bool,
    /// How long a session without event subscription may wait for its next request.
    pub idle_timeout: Duration,
}

/// Concurrent sessions per server when not configured (`[node.ipc] connections_max`);
/// further connections are closed at once.
pub const DEFAULT_MAX_SESSIONS: usize = 1024;
/// JSON nesting allowed in v1 requests over IPC (the HTTP front checks its own limit).
const IPC_MAX_JSON_DEPTH: usize = 128;
/// Payload bytes reserved before any arrive; beyond it the buffer grows as they come.
const PAYLOAD_CHUNK: usize = 64 * 1024;
/// Events queued per session before further ones are dropped.
const EVENT_QUEUE: usize = 4096;

/// Running IPC listeners. Dropping it (or [`IpcServer::stop`]) stops accepting, ends the
/// sessions and removes the Unix socket file.
pub struct IpcServer {
    v2: Arc<V2Service>,
    shutdown: watch::Sender<bool>,
    sessions: Arc<Semaphore>,
    tcp: Vec<SocketAddr>,
    unix: Option<PathBuf>,
}

impl IpcServer {
    /// A server with no listeners yet, at most [`DEFAULT_MAX_SESSIONS`] sessions.
    pub fn new(v2: Arc<V2Service>) -> IpcServer {
        Self::with_max_sessions(v2, DEFAULT_MAX_SESSIONS)
    }

    /// A server with no listeners yet, at most `max` sessions open at once.
    pub fn with_max_sessions(v2: Arc<V2Service>, max: usize) -> IpcServer {
        IpcServer {
            v2,
            shutdown: watch::channel(false).0,
            sessions: Arc::new(Semaphore::new(max.max(1))),
            tcp: Vec::new(),
            unix: None,
        }
    }

    /// Starts what `[node.ipc]` enables. Must run inside a Tokio runtime.
    pub async fn start(
        v2: Arc<V2Service>,
        cfg: &nano_node::config::IpcConfig,
    ) -> io::Result<IpcServer> {
        let mut s = IpcServer::with_max_sessions(v2, cfg.connections_max as usize);
        if cfg.tcp.enable {
            let opts = TransportOptions {
                io_timeout: Duration::from_secs(cfg.tcp.io_timeout.max(1)),
                allow_unsafe: cfg.tcp.allow_unsafe,
                idle_timeout: Duration::from_secs(cfg.tcp.idle_timeout.max(1)),
            };
            s.bind_localhost(cfg.tcp.port, opts).await?;
        }
        #[cfg(unix)]
        if cfg.local.enable {
            let opts = TransportOptions {
                io_timeout: Duration::from_secs(cfg.local.io_timeout.max(1)),
                allow_unsafe: cfg.local.allow_unsafe,
                idle_timeout: Duration::from_secs(cfg.local.idle_timeout.max(1)),
            };
            s.bind_unix(Path::new(&cfg.local.path), opts)?;
        }
        Ok(s)
    }

    /// Binds `::1` and `127.0.0.1` on `port` (0: the OS picks one, shared by both).
    /// Either family may be missing on the host; at least one must bind.
    pub async fn bind_localhost(&mut self, port: u16, opts: TransportOptions) -> io::Result<u16> {
        let v6 = self
            .bind_tcp(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port), opts)
            .await;
        let port = match &v6 {
            Ok(a) => a.port(),
            Err(_) => port,
        };
        let v4 = self
            .bind_tcp(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port), opts)
            .await;
        match (v6, v4) {
            (Ok(_), Ok(_)) => Ok(port),
            (Ok(_), Err(e)) => {
                tracing::warn!("IPC: 127.0.0.1:{port} not bound: {e}");
                Ok(port)
            }
            (Err(e), Ok(a)) => {
                tracing::debug!("IPC: [::1]:{port} not bound: {e}");
                Ok(a.port())
            }
            (Err(_), Err(e)) => Err(e),
        }
    }

    /// Listens on one TCP address; returns the bound address.
    pub async fn bind_tcp(
        &mut self,
        addr: SocketAddr,
        opts: TransportOptions,
    ) -> io::Result<SocketAddr> {
        let listener = nano_http::bind_listener(addr)?;
        let local = listener.local_addr()?;
        self.tcp.push(local);
        let (v2, sessions, mut stop) = (
            self.v2.clone(),
            self.sessions.clone(),
            self.shutdown.subscribe(),
        );
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    r = listener.accept() => r,
                    _ = stop.changed() => break,
                };
                match accepted {
                    Ok((stream, peer)) => {
                        let Ok(permit) = sessions.clone().try_acquire_owned() else {
                            continue;
                        };
                        let _ = stream.set_nodelay(true);
                        let client = Client::from_ip(peer.ip());
                        spawn_session(&v2, stream, opts, client, &stop, permit);
                    }
                    Err(e) => {
                        tracing::warn!("IPC accept: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        });
        Ok(local)
    }

    /// Listens on a Unix domain socket at `path`.
    #[cfg(unix)]
    pub fn bind_unix(&mut self, path: &Path, opts: TransportOptions) -> io::Result<()> {
        use std::os::unix::fs::FileTypeExt;
        if let Ok(meta) = std::fs::symlink_metadata(path) {
            if !meta.file_type().is_socket() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists and is not a socket", path.display()),
                ));
            }
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("another server is listening on {}", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = tokio::net::UnixListener::bind(path)?;
        self.unix = Some(path.to_path_buf());
        let (v2, sessions, mut stop) = (
            self.v2.clone(),
            self.sessions.clone(),
            self.shutdown.subscribe(),
        );
        tokio::spawn(async move {
            let mut connections: u64 = 0;
            loop {
                let accepted = tokio::select! {
                    r = listener.accept() => r,
                    _ = stop.changed() => break,
                };
                match accepted {
                    Ok((stream, _)) => {
                        let Ok(permit) = sessions.clone().try_acquire_owned() else {
                            continue;
                        };
                        // Unix peers have no address: each connection is its own client.
                        connections += 1;
                        let client = Client::Connection(connections);
                        spawn_session(&v2, stream, opts, client, &stop, permit);
                    }
                    Err(e) => {
                        tracing::warn!("IPC accept: {e}");
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        });
        Ok(())
    }

    /// The bound TCP addresses.
    pub fn tcp_addrs(&self) -> &[SocketAddr] {
        &self.tcp
    }

    pub fn unix_path(&self) -> Option<&Path> {
        self.unix.as_deref()
    }

    /// Stops listening, closes sessions at their next request boundary and removes the
    /// socket file.
    pub fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(p) = self.unix.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Drop for IpcServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Serves an accepted connection in its own task, which may move to the large-answer
/// thread ([`session`]); the session's slot is held until it ends.
fn spawn_session<S>(
    v2: &Arc<V2Service>,
    stream: S,
    opts: TransportOptions,
    client: Client,
    stop: &watch::Receiver<bool>,
    permit: tokio::sync::OwnedSemaphorePermit,
) where
    S: AsyncRead + AsyncWrite + Rebind + Unpin + Send + 'static,
{
    let (r, w) = tokio::io::split(Rebinding::new(stream));
    let (v2, stop) = (v2.clone(), stop.clone());
    let moving = Arc::new(AtomicBool::new(false));
    let flag = moving.clone();
    let work = async move {
        session(v2, r, w, opts, client, stop, flag).await;
        drop(permit);
    };
    tokio::spawn(run_movable(work, moving));
}

/// One connection: requests in turn until the peer closes, misbehaves or the server stops.
/// Its slow RPC v1 requests wait in `client`'s queue of the slow-action pool. A request
/// still arriving [`SLOW_REQUEST`] after its first byte sets `moving`, so that the session
/// run by [`run_movable`] moves to the large-answer thread (`nano_http`'s reasons: a
/// trickling client wakes the listener's runtime for every byte).
pub async fn session<R, W>(
    v2: Arc<V2Service>,
    reader: R,
    writer: W,
    opts: TransportOptions,
    client: Client,
    mut stop: watch::Receiver<bool>,
    moving: Arc<AtomicBool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let writer = Arc::new(Mutex::new(writer));
    let event_encoding = Arc::new(AtomicU8::new(Encoding::FlatBuffersJson as u8));
    let mut link: Option<SessionLink> = None;
    loop {
        let mut pre = [0u8; 4];
        // The wait for the next request: bounded unless the session listens to events.
        let first = async {
            if link.is_some() {
                Ok(reader.read_u8().await)
            } else {
                timeout(opts.idle_timeout, reader.read_u8()).await
            }
        };
        tokio::select! {
            r = first => match r {
                Ok(Ok(b)) => pre[0] = b,
                _ => break,
            },
            _ = stop.changed() => break,
        }
        // The rest of the request must follow within `io_timeout` of its first byte.
        let first_at = tokio::time::Instant::now();
        let deadline = first_at + opts.io_timeout;
        let slow_at = first_at + SLOW_REQUEST;
        let rest = mark_slow(reader.read_exact(&mut pre[1..]), slow_at, &moving);
        if !matches!(tokio::time::timeout_at(deadline, rest).await, Ok(Ok(_))) {
            break;
        }
        let enc = match parse_preamble(pre) {
            Ok(e) => e,
            Err(e) => {
                tracing::debug!("IPC: closing session, bad preamble: {e:?}");
                break;
            }
        };
        let len = mark_slow(reader.read_u32(), slow_at, &moving);
        let len = match tokio::time::timeout_at(deadline, len).await {
            Ok(Ok(n)) => n as usize,
            _ => break,
        };
        if len > MAX_PAYLOAD {
            tracing::debug!("IPC: closing session, payload of {len} bytes");
            break;
        }
        // The buffer grows with what arrives: a client that announces MAX_PAYLOAD and
        // trickles it makes the server hold what it sent, not 32 MiB reserved per session
        // (which the allocator may hand out from reused, zeroed and so resident memory).
        let mut payload = Vec::with_capacity(len.min(PAYLOAD_CHUNK));
        let mut limited = (&mut reader).take(len as u64);
        let read = mark_slow(limited.read_to_end(&mut payload), slow_at, &moving);
        if !matches!(
            tokio::time::timeout_at(deadline, read).await,
            Ok(Ok(n)) if n == len
        ) {
            break;
        }
        // A slow action's answer keeps its place in the pool's answer memory
        // (`_held`) until its frame has been written, at the end of this turn.
        let (answer, _held) = match enc {
            Encoding::JsonV1 | Encoding::JsonV1Unsafe => {
                let origin = Origin {
                    control: true,
                    allow_unsafe: v2.ctx.network == nano_core::Network::Dev
                        || (enc == Encoding::JsonV1Unsafe && opts.allow_unsafe),
                };
                let a = run_v1(&v2, payload, origin, client).await;
                (a.text, a.held)
            }
            Encoding::FlatBuffers | Encoding::FlatBuffersJson => {
                event_encoding.store(enc as u8, Ordering::Relaxed);
                let l = match &link {
                    Some(l) => l.clone(),
                    None => {
                        let (l, rx) = SessionLink::new(EVENT_QUEUE);
                        spawn_event_writer(
                            rx,
                            writer.clone(),
                            event_encoding.clone(),
                            opts.io_timeout,
                        );
                        link = Some(l.clone());
                        l
                    }
                };
                (run_v2(&v2, enc, payload, l).await, None)
            }
        };
        if answer.len() > MAX_PAYLOAD {
            break;
        }
        let frame = response_frame(&answer);
        let mut w = writer.lock().await;
        if !matches!(
            timeout(opts.io_timeout, w.write_all(&frame)).await,
            Ok(Ok(()))
        ) {
            break;
        }
    }
    if let Some(l) = link {
        v2.broker.remove_session(l.id);
    }
}

/// IPC 2.0: parsed on the session's task; only messages that may touch the ledger go to
/// the blocking pool.
async fn run_v2(
    v2: &Arc<V2Service>,
    enc: Encoding,
    payload: Vec<u8>,
    link: SessionLink,
) -> Vec<u8> {
    let fb = enc == Encoding::FlatBuffers;
    let parsed = if fb {
        crate::api_v2::Request::from_flatbuffer(&payload)
    } else {
        crate::api_v2::Request::from_json(&payload)
    };
    let encode = move |r: Response| if fb { r.to_flatbuffer() } else { r.to_json() };
    let req = match parsed {
        Ok(req) => req,
        Err((e, corr)) if !fb => return crate::api_v2::error_json(&e, corr),
        Err((e, corr)) => return encode(Response::error(&e, corr)),
    };
    if req.message_type != "AccountWeight" {
        return encode(v2.handle(&req, Some(&link)));
    }
    let v2 = v2.clone();
    tokio::task::spawn_blocking(move || encode(v2.handle(&req, Some(&link))))
        .await
        .unwrap_or_default()
}

async fn run_v1(
    v2: &Arc<V2Service>,
    payload: Vec<u8>,
    origin: Origin,
    client: Client,
) -> crate::actions::Answer {
    use crate::error::{msg, RpcError};
    if crate::json::json_depth_exceeds(&payload, IPC_MAX_JSON_DEPTH) {
        return RpcError::new(msg::MAX_DEPTH)
            .to_json()
            .to_string()
            .into_bytes()
            .into();
    }
    match serde_json::from_slice::<serde_json::Value>(&payload) {
        // Slow actions on the bounded pool, the rest on the session's task, as over HTTP.
        Ok(serde_json::Value::Object(mut req)) => {
            // A forwarding nano_rpc names the HTTP client behind the request.
            let client = match req.remove(super::FORWARDED_CLIENT) {
                Some(serde_json::Value::String(ip)) => ip
                    .parse::<std::net::IpAddr>()
                    .map_or(client, Client::from_ip),
                _ => client,
            };
            crate::actions::answer(&v2.ctx, req, origin, client).await
        }
        _ => RpcError::new(msg::UNABLE_TO_PARSE_JSON)
            .to_json()
            .to_string()
            .into_bytes()
            .into(),
    }
}

/// Writes a session's subscribed events between its answers, in the encoding of its latest
/// IPC 2.0 request. Ends when the session is gone (its link dropped by the broker).
fn spawn_event_writer<W>(
    mut rx: tokio::sync::mpsc::Receiver<Response>,
    writer: Arc<Mutex<W>>,
    encoding: Arc<AtomicU8>,
    io_timeout: Duration,
) where
    W: AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            let body = if encoding.load(Ordering::Relaxed) == Encoding::FlatBuffers as u8 {
                ev.to_flatbuffer()
            } else {
                ev.to_json()
            };
            let frame = response_frame(&body);
            let mut w = writer.lock().await;
            if !matches!(timeout(io_timeout, w.write_all(&frame)).await, Ok(Ok(()))) {
                break;
            }
        }
    });
}
