//! Serving an axum router with connection-level limits, for every HTTP listener of the
//! node (RPC and `/api/v2` in the node and in `nano_rpc`, the WebSocket upgrade port)
//! and of nanocap (its web console).
//!
//! axum's `serve` runs hyper without a timer, so a client that sends one byte of its
//! request line every few seconds, or opens thousands of connections and sends nothing,
//! is kept forever. Here each connection:
//! - needs a slot under [`HttpLimits::max_connections`]; beyond it a new connection is
//!   closed at once (a prompt refusal, not a hang in the accept backlog). The slot is held
//!   by the socket itself, so an upgraded WebSocket keeps counting;
//! - must deliver each request head within [`HttpLimits::header_timeout`], counted from
//!   when the server starts waiting for it (so an idle keep-alive connection is closed
//!   after the same time);
//! - must deliver each request body within [`HttpLimits::read_timeout`], and no more than
//!   [`HttpLimits::max_body`] bytes of it;
//! - is closed after [`HttpLimits::idle_timeout`] without a byte moving either way;
//! - is closed when a handler's [`AnswerDeadline`] for its answer passes before the
//!   connection has taken the answer (a client reading a held answer too slowly);
//! - hands the kernel at most [`MAX_WRITE`] bytes per write system call, so that a large
//!   answer's writes do not keep a core inside the kernel for milliseconds.
//!
//! Every request carries its connection's peer address as the extension
//! `ConnectInfo<SocketAddr>` (what axum's `ConnectInfo` extractor reads), so handlers can
//! treat clients apart (the RPC's slow-action pool queues per client).
//!
//! An answer of [`HttpLimits::large_answer`] bytes or more moves its connection off the
//! listener's runtime onto the one thread that writes large answers
//! ([`LARGE_ANSWER_THREADS`]), where the connection stays. Writing a 13 MB answer into a
//! loopback socket holds the thread that does it for milliseconds per system call; on the
//! listener's runtime that thread is one of the few workers every other connection needs,
//! and a cheap request arriving meanwhile waits behind the write. The large-answer thread
//! runs under `SCHED_IDLE` ([`large_answer_priority`]), so its writes do not hold a core a
//! thread of the node's other work is woken for either, and it leaves the first cores to
//! the rest of the process ([`background_cpus`]).
//!
//! A connection whose request is still arriving [`HttpLimits::slow_request`] after its
//! first byte moves to the same thread, for the same reason: a client that trickles its
//! request (a slow network, or an attacker holding connections open a byte at a time)
//! wakes the listener's runtime for every few bytes, and a thousand such clients wake it
//! in bursts that a cheap request arriving meanwhile waits behind. On the background
//! thread their bytes cost only the CPU no other thread wants; a legitimate request,
//! which arrives in one or a few segments, never moves. A moved connection's socket and
//! idle timer are registered with the large-answer thread's runtime ([`Rebind`]), so
//! its bytes no longer wake the listener's workers at all.

pub mod answer_deadline;
pub mod background_cpus;
pub mod moving;

pub use answer_deadline::{AnswerDeadline, ArmedDeadline, Closer};
pub use moving::{mark_slow, run_movable, Rebind, Rebinding};

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, Sleep};

/// The limits of one HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections at once (WebSocket sessions included).
    pub max_connections: usize,
    /// Time to receive a request head, from when the server waits for it.
    pub header_timeout: Duration,
    /// Time to receive a request body once its head arrived.
    pub read_timeout: Duration,
    /// Inactivity (no byte read or written) that closes a connection; `None`: never
    /// (WebSocket subscribers may legitimately hear nothing for hours).
    pub idle_timeout: Option<Duration>,
    /// Largest request body.
    pub max_body: usize,
    /// Answers at least this long are written from the large-answer thread
    /// ([`LargeAnswer`]); `None`: every answer from the listener's runtime.
    pub large_answer: Option<usize>,
    /// A connection whose request is still arriving this long after its first byte is
    /// served from the large-answer thread from then on ([`SLOW_REQUEST`]); `None`: never.
    pub slow_request: Option<Duration>,
}

/// The default of [`HttpLimits::slow_request`]. A legitimate request arrives in one
/// segment, or a few within a round trip when its body outgrows the client's window; the
/// slowest common round trips (a satellite or a congested mobile link) are 600 ms, a
/// continent's 150 ms. 250 ms moves a trickling client at its second or third byte (a
/// byte every second or more keeps a connection open the longest for the least work),
/// and a legitimate client that does move is still served, at the background thread's
/// priority.
pub const SLOW_REQUEST: Duration = Duration::from_millis(250);

/// Counters of one listener, for tests and operators.
#[derive(Debug, Default)]
pub struct HttpCounters {
    pub accepted: AtomicU64,
    /// Connections closed at accept because `max_connections` were open.
    pub refused: AtomicU64,
    /// Requests whose body did not arrive within `read_timeout`.
    pub body_timeouts: AtomicU64,
    /// Connections closed for inactivity.
    pub idle_closed: AtomicU64,
    /// Connections closed because an answer was not taken by its [`AnswerDeadline`].
    pub late_answers_closed: AtomicU64,
    /// Requests found still arriving `slow_request` after their first byte, at most one
    /// per connection: the connection moves to the large-answer thread unless it is there
    /// already, or has become a WebSocket (whose frames are counted alike but never move).
    pub slow_requests_moved: AtomicU64,
}

/// Serves `app` on `listener` under `limits` until `shutdown` resolves; then in-flight
/// requests get two seconds to finish.
pub fn spawn_serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (tokio::task::JoinHandle<()>, Arc<HttpCounters>) {
    let counters = Arc::new(HttpCounters::default());
    let c = counters.clone();
    let handle = tokio::spawn(serve(listener, app, limits, shutdown, c));
    (handle, counters)
}

async fn serve(
    listener: TcpListener,
    app: Router,
    limits: HttpLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    counters: Arc<HttpCounters>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let app = app.layer(axum::middleware::from_fn_with_state(
        (limits, counters.clone()),
        read_body,
    ));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and similar: back off instead of spinning.
                    tracing::debug!("http accept: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            counters.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        counters.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let large = LargeAnswer(Arc::new(AtomicBool::new(false)));
        let moving = large.clone();
        let mut io = LimitedStream::new(stream, slot, limits.idle_timeout, counters.clone());
        if let Some(after) = limits.slow_request {
            io = io.moving_when_slow(after, moving.0.clone());
        }
        let io = TokioIo::new(io);
        let app = app.clone();
        let (deadline, mut late) = AnswerDeadline::new();
        let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let mut req = req.map(Body::new);
            let ext = req.extensions_mut();
            ext.insert(axum::extract::ConnectInfo(peer));
            ext.insert(large.clone());
            ext.insert(deadline.clone());
            tower_service::Service::call(&mut app.clone(), req)
        });
        let mut stop = stop_rx.clone();
        let counters = counters.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let mut conn = Box::pin(builder.serve_connection(io, svc).with_upgrades());
            let ends = Ends {
                stop: &mut stop,
                late: &mut late,
                counters: &counters,
            };
            if drive(&mut conn, ends, Some(&moving.0)).await {
                let run = async move {
                    let ends = Ends {
                        stop: &mut stop,
                        late: &mut late,
                        counters: &counters,
                    };
                    drive(&mut conn, ends, None).await
                };
                match large_answer_runtime() {
                    Some(rt) => {
                        rt.spawn(run);
                    }
                    None => {
                        run.await;
                    }
                }
            }
        });
    }
    let _ = stop_tx.send(true);
}

/// Connections the kernel completes and queues for a listener before it accepts them.
/// tokio's `TcpListener::bind` asks for 128, and a burst of connections beyond that (500
/// slow clients opened at once, a client pool reconnecting) overflows the queue: the
/// kernel drops the next SYN, and a legitimate client that sent it waits for its
/// retransmission, a whole second. 1024 is what the node's peering listener asks for;
/// the kernel caps it at `net.core.somaxconn` (4096 by default since Linux 5.4).
pub const LISTEN_BACKLOG: u32 = 1024;

/// Binds a TCP listener for an API server as tokio's `TcpListener::bind` does (address
/// reuse, so a restarted node rebinds while old connections linger in TIME_WAIT), but
/// with [`LISTEN_BACKLOG`].
pub fn bind_listener(addr: std::net::SocketAddr) -> io::Result<tokio::net::TcpListener> {
    let socket = match addr {
        std::net::SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        std::net::SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The default of [`HttpLimits::large_answer`]: on loopback a write of this size takes
/// about as long as a cheap request's whole service (a few hundred microseconds), so
/// smaller answers are not worth the move, and larger ones would hold a listener worker
/// for longer.
pub const LARGE_ANSWER: usize = 256 * 1024;

/// Threads writing large answers, for every listener of the process: one. Their writes
/// are what takes the time (the answers are built before, on the caller's own threads),
/// and a loopback socket takes a 13 MB answer in a few milliseconds, so one thread writes
/// hundreds a second; a remote client's answer waits for its network, not for the thread.
pub const LARGE_ANSWER_THREADS: usize = 1;

/// The thread name of the large-answer runtime.
pub const LARGE_ANSWER_THREAD_NAME: &str = "http-large";

/// The CPU priority of the large-answer thread: `SCHED_IDLE` (Linux, per thread).
///
/// What the thread does is write answers a scan has already built, and under a flood of
/// scans (`receivable` of an account with 200,000 receivables, 13 MB each) those writes
/// are CPU the flood takes. At the process's priority, a runtime worker woken for a cheap
/// request on the core where the thread writes waits for the write's time slice (a few
/// milliseconds); at a lower nice value under `SCHED_OTHER` or `SCHED_BATCH` it still
/// waits for that slice, the scheduler only shortening the thread's share over time.
/// Under `SCHED_IDLE` a woken thread of any other policy takes the core at once, and the
/// kernel counts a core running only idle-policy threads as free when it places a woken
/// thread (BENCHMARKS.md, "The large-answer thread under SCHED_IDLE").
///
/// The cost, for a legitimate large answer (a wallet's or an explorer's long listing):
/// it is written only with CPU no other thread of normal policy wants, so while a flood's
/// scans or the block processor keep every core busy it waits behind them, getting the
/// idle policy's sliver (weight 3 against 1,024 at nice 0) until they pause. Such a
/// client waits for its scan already (the slow-action pool queues it behind the flood's
/// scans), and an answer that size is not a latency-critical request; the cheap requests
/// every client and the node's own peering need are.
pub mod large_answer_priority {
    /// Moves the calling thread to `SCHED_IDLE`; needs no privilege (a thread may always
    /// lower itself). Elsewhere than Linux: unsupported, the thread keeps its priority.
    pub fn lower_current_thread() -> std::io::Result<()> {
        #[cfg(target_os = "linux")]
        {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: pid 0 is the calling thread; param outlives the call.
            if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        }
        #[cfg(not(target_os = "linux"))]
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "per-thread priority is set on Linux only",
        ))
    }
}

/// Request extension set by the server: moves the request's connection, before a large
/// answer is written, to the large-answer thread, where the connection stays until it
/// closes (a client that asked one large answer is likely to ask more). The server does
/// it for answers whose body is known to be [`HttpLimits::large_answer`] bytes or more;
/// a handler streaming a large answer may call it itself.
#[derive(Clone, Debug)]
pub struct LargeAnswer(Arc<AtomicBool>);

impl LargeAnswer {
    /// Moves the connection that carries this request to the large-answer thread (once;
    /// later calls return at once). Call before returning an answer of [`LARGE_ANSWER`]
    /// bytes or more: the handler yields once, and its connection's task hands the
    /// connection over to the large-answer runtime, which finishes the request there.
    pub async fn move_connection(&self) {
        if !self.0.swap(true, Ordering::AcqRel) {
            tokio::task::yield_now().await;
        }
    }
}

/// The runtime of the large-answer thread, started on first use; `None` if its thread
/// could not be started (the connection then stays where it is).
pub(crate) fn large_answer_runtime() -> Option<&'static tokio::runtime::Handle> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Handle>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(LARGE_ANSWER_THREADS)
                .thread_name(LARGE_ANSWER_THREAD_NAME)
                .on_thread_start(|| {
                    moving::mark_large_answer_thread();
                    if let Err(e) = large_answer_priority::lower_current_thread() {
                        tracing::warn!("large-answer thread left at the process's priority: {e}");
                    }
                    let spare = background_cpus::spare_cores();
                    if let Err(e) = background_cpus::confine_current_thread(spare) {
                        tracing::warn!("large-answer thread left on every core: {e}");
                    }
                })
                .enable_all()
                .build();
            match rt {
                Ok(rt) => {
                    let handle = rt.handle().clone();
                    // Kept for the process's life: dropping a runtime from inside another
                    // runtime's task is not allowed, and listeners come and go.
                    std::mem::forget(rt);
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!("large-answer runtime not started: {e}");
                    None
                }
            }
        })
        .as_ref()
}

/// What ends a connection besides itself: the server's shutdown and its answer's
/// deadline.
struct Ends<'a> {
    stop: &'a mut watch::Receiver<bool>,
    late: &'a mut watch::Receiver<answer_deadline::Slot>,
    counters: &'a HttpCounters,
}

/// Serves `conn` until it ends (false) or, when `moving` is given, until it has been
/// asked to move and waits (true: the caller moves it). On shutdown, in-flight requests
/// get two seconds; when an armed answer deadline passes, the connection is dropped at
/// once (false), and with it the answer's unwritten rest.
async fn drive<C>(conn: &mut Pin<Box<C>>, ends: Ends<'_>, moving: Option<&AtomicBool>) -> bool
where
    C: GracefulConnection,
{
    enum Next {
        Done,
        Move,
        Stop,
        Late,
    }
    let Ends {
        stop,
        late,
        counters,
    } = ends;
    let next = {
        let run = std::future::poll_fn(|cx| match conn.as_mut().poll(cx) {
            Poll::Ready(_) => Poll::Ready(Next::Done),
            Poll::Pending if moving.is_some_and(|m| m.load(Ordering::Acquire)) => {
                Poll::Ready(Next::Move)
            }
            Poll::Pending => Poll::Pending,
        });
        tokio::select! {
            n = run => n,
            _ = async { stop.wait_for(|v| *v).await.map(|_| ()) } => Next::Stop,
            _ = answer_deadline::passed(late) => Next::Late,
        }
    };
    match next {
        Next::Done => false,
        Next::Move => true,
        Next::Late => {
            counters.late_answers_closed.fetch_add(1, Ordering::Relaxed);
            false
        }
        Next::Stop => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn.as_mut()).await;
            false
        }
    }
}

/// A served connection: a future that can be asked to finish gracefully.
trait GracefulConnection: Future {
    fn graceful_shutdown(self: Pin<&mut Self>);
}

impl<I, S, B> GracefulConnection for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<hyper::body::Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: Pin<&mut Self>) {
        hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown(self)
    }
}

/// Reads the whole body under the read timeout and size cap before the handler runs, so
/// no handler can be held by a trickling body.
async fn read_body(
    State((limits, counters)): State<(HttpLimits, Arc<HttpCounters>)>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    match tokio::time::timeout(
        limits.read_timeout,
        axum::body::to_bytes(body, limits.max_body),
    )
    .await
    {
        Ok(Ok(bytes)) => {
            let large = parts.extensions.get::<LargeAnswer>().cloned();
            let resp = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            let at_least = resp.body().size_hint().lower();
            if let (Some(large), Some(min)) = (large, limits.large_answer) {
                if at_least >= min as u64 {
                    large.move_connection().await;
                }
            }
            resp
        }
        Ok(Err(_)) => body_refused(limits.max_body),
        Err(_) => {
            counters.body_timeouts.fetch_add(1, Ordering::Relaxed);
            let mut r = (
                StatusCode::REQUEST_TIMEOUT,
                "request body not received in time",
            )
                .into_response();
            r.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            r
        }
    }
}

/// The answer to a request body over `max_body` bytes (or one that broke off), here and
/// from a handler that reads its body itself with the same cap (a router called without
/// this server in front), so both refuse alike.
pub fn body_refused(max_body: usize) -> Response {
    (
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body larger than {max_body} bytes or broken"),
    )
        .into_response()
}

/// A socket that holds its connection slot and fails with `TimedOut` after the idle
/// timeout passes without a byte read or written.
pub struct LimitedStream<S> {
    inner: Rebinding<S>,
    _slot: OwnedSemaphorePermit,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    counters: Arc<HttpCounters>,
    slow: Option<SlowRequest>,
}

/// Tells a trickling request apart: a request counts from the first byte read after the
/// last byte written (the answer to the one before), and when bytes still arrive
/// `after` that, the connection is asked to move (the flag its task watches, the one a
/// large answer sets too).
struct SlowRequest {
    after: Duration,
    since: Option<Instant>,
    moving: Arc<AtomicBool>,
}

impl SlowRequest {
    /// Bytes were read: true when this read found the request slow and asked the move.
    fn read(&mut self) -> bool {
        let now = Instant::now();
        match self.since {
            None => {
                self.since = Some(now);
                false
            }
            Some(t) if now.duration_since(t) >= self.after => {
                !self.moving.swap(true, Ordering::AcqRel)
            }
            Some(_) => false,
        }
    }
}

impl<S: Rebind + Unpin> LimitedStream<S> {
    fn new(
        inner: S,
        slot: OwnedSemaphorePermit,
        idle: Option<Duration>,
        counters: Arc<HttpCounters>,
    ) -> Self {
        LimitedStream {
            inner: Rebinding::new(inner),
            _slot: slot,
            idle: idle.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
            counters,
            slow: None,
        }
    }

    /// Sets `moving` once a request is still arriving `after` its first byte.
    fn moving_when_slow(mut self, after: Duration, moving: Arc<AtomicBool>) -> Self {
        self.slow = Some(SlowRequest {
            after,
            since: None,
            moving,
        });
        self
    }

    /// On the large-answer thread, first moves the socket's readiness ([`Rebinding`]) and
    /// the idle timer to that thread's runtime: left with the listener's, every reset of
    /// the timer could lock the listener's timer wheel from a thread that may be
    /// preempted while it holds it.
    fn inner(&mut self) -> io::Result<Pin<&mut S>> {
        if self.inner.settle()? {
            if let Some((_, sleep)) = &mut self.idle {
                *sleep = Box::pin(tokio::time::sleep_until(sleep.deadline()));
            }
        }
        self.inner.settled()
    }

    fn bytes_read(&mut self) {
        self.activity();
        if self.slow.as_mut().is_some_and(SlowRequest::read) {
            self.counters
                .slow_requests_moved
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    fn bytes_written(&mut self) {
        self.activity();
        if let Some(slow) = &mut self.slow {
            slow.since = None;
        }
    }

    fn activity(&mut self) {
        if let Some((d, sleep)) = &mut self.idle {
            sleep.as_mut().reset(Instant::now() + *d);
        }
    }

    /// Called when the inner socket is not ready: errors once the idle time is up.
    fn check_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        if let Some((_, sleep)) = &mut self.idle {
            if sleep.as_mut().poll(cx).is_ready() {
                self.counters.idle_closed.fetch_add(1, Ordering::Relaxed);
                return Poll::Ready(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"));
            }
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + Rebind + Unpin> AsyncRead for LimitedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let inner = match self.inner() {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        match inner.poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.bytes_read();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }
}

/// The most bytes handed to the kernel in one write system call. A kernel built or
/// booted without preemption of kernel code (`preempt=none`, this bench machine's and
/// many server distributions' default) lets a thread inside a system call keep its
/// core until the call returns, whatever the thread's priority, and one `writev` of a
/// 13 MB answer into a loopback socket copied up to the send buffer's 4 MiB
/// (`net.ipv4.tcp_wmem`) and held the core 1–4.3 ms, while a runtime worker woken for a
/// cheap request waited for it (BENCHMARKS.md, "The large-answer thread under
/// SCHED_IDLE"). 64 KiB takes tens of microseconds; answers below it (every cheap
/// answer) go out in one call as before, and a large one costs a system call per 64 KiB,
/// a few microseconds each against the copy's own time.
pub const MAX_WRITE: usize = 64 * 1024;

/// The first [`MAX_WRITE`] bytes of `bufs`: `None` when they are no more than that
/// already (the common case, with nothing to build).
fn capped<'a>(bufs: &'a [io::IoSlice<'a>]) -> Option<Vec<io::IoSlice<'a>>> {
    if bufs.iter().map(|b| b.len()).sum::<usize>() <= MAX_WRITE {
        return None;
    }
    let mut left = MAX_WRITE;
    let mut out = Vec::new();
    for b in bufs {
        if left == 0 {
            break;
        }
        let n = b.len().min(left);
        out.push(io::IoSlice::new(&b[..n]));
        left -= n;
    }
    Some(out)
}

impl<S: AsyncWrite + Rebind + Unpin> AsyncWrite for LimitedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let data = &data[..data.len().min(MAX_WRITE)];
        let inner = match self.inner() {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        match inner.poll_write(cx, data) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.bytes_written();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(s) => s.poll_flush(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.inner() {
            Ok(s) => s.poll_shutdown(cx),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let capped = capped(bufs);
        let bufs = capped.as_deref().unwrap_or(bufs);
        let inner = match self.inner() {
            Ok(s) => s,
            Err(e) => return Poll::Ready(Err(e)),
        };
        match inner.poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.bytes_written();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The kernel's own record of a listener's queue bound (for a listening socket,
    /// `tcpi_sacked` of `TCP_INFO` is its `sk_max_ack_backlog`).
    fn kernel_backlog(l: &tokio::net::TcpListener) -> u32 {
        use std::os::fd::AsRawFd;
        // SAFETY: `info` is a plain C struct the kernel fills up to `len` bytes; `len`
        // tells it the struct's size, and the fd is a live socket borrowed from `l`.
        unsafe {
            let mut info: libc::tcp_info = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
            let rc = libc::getsockopt(
                l.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&mut info as *mut libc::tcp_info).cast(),
                &mut len,
            );
            assert_eq!(rc, 0, "TCP_INFO: {}", io::Error::last_os_error());
            info.tcpi_sacked
        }
    }

    #[tokio::test]
    async fn api_listeners_queue_a_burst_of_connections() {
        let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .expect("somaxconn")
            .trim()
            .parse()
            .expect("somaxconn is a number");
        for addr in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = bind_listener(addr.parse().unwrap()) else {
                // A host without IPv6 loopback: the IPv4 case still checks the bound.
                assert_ne!(addr, "127.0.0.1:0", "IPv4 loopback must bind");
                continue;
            };
            assert_eq!(kernel_backlog(&l), LISTEN_BACKLOG.min(somaxconn), "{addr}");
        }
    }

    /// The calling thread's scheduling policy as the kernel reports it in
    /// `/proc/thread-self/stat` (field 41).
    fn policy_in_proc() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
        // Field 3 (the state) is the first after the comm, so field 41 is the 39th.
        after_comm
            .split_whitespace()
            .nth(41 - 3)
            .and_then(|f| f.parse().ok())
            .expect("policy field")
    }

    #[test]
    fn the_large_answer_thread_runs_under_the_idle_policy() {
        // The default spare core (no test of this binary changes it).
        let allowed = background_cpus::current_thread_cpus().unwrap();
        let rt = large_answer_runtime().expect("large-answer runtime started");
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let name = std::thread::current().name().map(str::to_string);
            // SAFETY: pid 0 is the calling thread.
            let policy = unsafe { libc::sched_getscheduler(0) };
            let cpus = background_cpus::current_thread_cpus().unwrap();
            tx.send((name, policy, policy_in_proc(), cpus)).unwrap();
        });
        let (name, policy, in_proc, cpus) = rx.recv().expect("the task ran");
        assert_eq!(name.as_deref(), Some(LARGE_ANSWER_THREAD_NAME));
        assert_eq!(policy, libc::SCHED_IDLE, "sched_getscheduler");
        assert_eq!(in_proc, libc::SCHED_IDLE, "/proc/thread-self/stat");
        let spare = background_cpus::DEFAULT_SPARE_CORES;
        let expected = if allowed.len() > spare {
            allowed[spare..].to_vec()
        } else {
            allowed
        };
        assert_eq!(cpus, expected, "the large-answer thread's cores");
    }

    /// A socket stand-in that takes whatever it is given and records each call's size.
    #[derive(Default)]
    struct Recorder {
        bytes: Vec<u8>,
        calls: Vec<usize>,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.bytes.extend_from_slice(data);
            self.calls.push(data.len());
            Poll::Ready(Ok(data.len()))
        }

        fn poll_write_vectored(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            let n = bufs.iter().map(|b| b.len()).sum();
            for b in bufs {
                self.bytes.extend_from_slice(b);
            }
            self.calls.push(n);
            Poll::Ready(Ok(n))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    impl Rebind for Recorder {
        fn rebind(self) -> io::Result<Self> {
            Ok(self)
        }
    }

    #[tokio::test]
    async fn no_write_hands_the_kernel_more_than_max_write() {
        let slot = Arc::new(Semaphore::new(1)).try_acquire_owned().unwrap();
        let mut s = LimitedStream::new(Recorder::default(), slot, None, Arc::default());
        let body = large_body();
        // Plain writes: a small one passes whole, a large one goes out in pieces.
        s.write_all(b"small").await.unwrap();
        s.write_all(&body).await.unwrap();
        // Vectored, as hyper writes a head and a body: capped across the slices.
        let head = b"HTTP/1.1 200 OK\r\n\r\n";
        let (mut at_head, mut at_body) = (0, 0);
        while at_head < head.len() || at_body < body.len() {
            let bufs = [
                io::IoSlice::new(&head[at_head..]),
                io::IoSlice::new(&body[at_body..]),
            ];
            let mut n = s.write_vectored(&bufs).await.unwrap();
            assert!(n > 0);
            let h = n.min(head.len() - at_head);
            at_head += h;
            n -= h;
            at_body += n;
        }
        let rec = s
            .inner
            .into_inner()
            .expect("never rebound off the large-answer thread");
        assert_eq!(rec.calls[0], 5, "a small write whole");
        assert!(rec.calls.iter().all(|&n| n <= MAX_WRITE), "{:?}", rec.calls);
        // Full pieces while there was more than a piece to write.
        assert_eq!(rec.calls[1], MAX_WRITE);
        assert_eq!(
            rec.calls.iter().filter(|&&n| n == MAX_WRITE).count(),
            2 * (body.len() / MAX_WRITE)
        );
        let mut want = b"small".to_vec();
        want.extend_from_slice(&body);
        want.extend_from_slice(head);
        want.extend_from_slice(&body);
        assert!(rec.bytes == want, "the same bytes in the same order");
    }

    /// The large test answer: longer than [`LARGE_ANSWER`], no two neighbouring bytes alike.
    fn large_body() -> Vec<u8> {
        (0..3 * LARGE_ANSWER + 7).map(|i| (i % 251) as u8).collect()
    }

    /// Reads one response with a `Content-Length` from `s`: (head, body).
    async fn response(s: &mut tokio::net::TcpStream) -> (String, Vec<u8>) {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the head");
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .expect("content-length");
        let mut body = buf.split_off(head_end);
        while body.len() < len {
            let mut chunk = vec![0u8; 64 * 1024];
            let n = s.read(&mut chunk).await.unwrap();
            assert!(n > 0, "closed before the body's end");
            body.extend_from_slice(&chunk[..n]);
        }
        assert_eq!(body.len(), len, "no more than the announced body");
        (head, body)
    }

    /// Waits (at most 5 s) until `counters` have moved `n` slow requests: the move
    /// happens as the read that counts it ends, so a byte sent after this arrives on
    /// the large-answer thread.
    async fn moved(counters: &HttpCounters, n: u64) {
        for _ in 0..500 {
            if counters.slow_requests_moved.load(Ordering::Relaxed) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no slow request moved");
    }

    /// Asks `GET /small` in three parts, the second over [`SLOW_REQUEST`] (the test limits')
    /// after the first, the third once the connection has moved (before its head was
    /// complete), and checks the answer.
    async fn trickle(a: &mut tokio::net::TcpStream, counters: &HttpCounters) {
        let request = b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n";
        a.write_all(&request[..7]).await.unwrap();
        tokio::time::sleep(SLOW_REQUEST + Duration::from_millis(50)).await;
        a.write_all(&request[7..12]).await.unwrap();
        moved(counters, 1).await;
        a.write_all(&request[12..]).await.unwrap();
        assert_eq!(response(a).await.1, b"small");
    }

    /// Limits no test request comes near, but for where large answers are written.
    fn test_limits(large_answer: Option<usize>) -> HttpLimits {
        HttpLimits {
            max_connections: 8,
            header_timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
            idle_timeout: Some(Duration::from_secs(30)),
            max_body: 1024,
            large_answer,
            slow_request: Some(SLOW_REQUEST),
        }
    }

    /// The thread that ran each handler, in order.
    type Threads = Arc<Mutex<Vec<String>>>;

    fn app(threads: Threads) -> Router {
        let name = || std::thread::current().name().unwrap_or("").to_string();
        let (t1, t2) = (threads.clone(), threads);
        Router::new()
            .route(
                "/small",
                get(move || async move {
                    t1.lock().unwrap().push(name());
                    "small"
                }),
            )
            .route(
                "/large",
                get(move || async move {
                    t2.lock().unwrap().push(name());
                    large_body()
                }),
            )
    }

    /// The runtime a test's listener runs on: two workers, named "listener".
    fn listener_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("listener")
            .enable_all()
            .build()
            .unwrap()
    }

    /// Serves [`app`] on `rt` under `limits`: its address and counters.
    fn serve_app(
        rt: &tokio::runtime::Runtime,
        threads: &Threads,
        limits: HttpLimits,
    ) -> (std::net::SocketAddr, Arc<HttpCounters>) {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (_, counters) = spawn_serve(
                listener,
                app(threads.clone()),
                limits,
                std::future::pending(),
            );
            (addr, counters)
        })
    }

    #[test]
    fn a_large_answer_moves_its_connection_and_arrives_whole() {
        let rt = listener_runtime();
        let threads: Threads = Arc::default();
        let (addr, _) = serve_app(&rt, &threads, test_limits(Some(LARGE_ANSWER)));
        rt.block_on(async {
            let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
            let mut a = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut b = tokio::net::TcpStream::connect(addr).await.unwrap();
            // Connection a: small, large, large, small; b: small after a moved.
            for path in ["/small", "/large", "/large", "/small"] {
                a.write_all(get(path).as_bytes()).await.unwrap();
                let (head, body) = response(&mut a).await;
                assert!(head.starts_with("http/1.1 200"), "{head}");
                if path == "/large" {
                    assert!(body == large_body(), "the large answer, byte for byte");
                } else {
                    assert_eq!(body, b"small");
                }
            }
            b.write_all(get("/small").as_bytes()).await.unwrap();
            assert_eq!(response(&mut b).await.1, b"small");
        });
        let ran = threads.lock().unwrap().clone();
        // The first large answer's handler starts on the listener's runtime; from then on
        // connection a is served by the large-answer thread; b stays.
        assert_eq!(
            ran,
            [
                "listener",
                "listener",
                LARGE_ANSWER_THREAD_NAME,
                LARGE_ANSWER_THREAD_NAME,
                "listener"
            ]
        );
    }

    #[test]
    fn a_trickling_request_moves_its_connection_and_a_whole_one_does_not() {
        let rt = listener_runtime();
        let threads: Threads = Arc::default();
        let (addr, counters) = serve_app(&rt, &threads, test_limits(Some(LARGE_ANSWER)));
        rt.block_on(async {
            let request = b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n";
            // b: whole requests on a keep-alive connection, idle between them for longer
            // than a request may take to arrive; never moves.
            let mut b = tokio::net::TcpStream::connect(addr).await.unwrap();
            for _ in 0..2 {
                b.write_all(request).await.unwrap();
                assert_eq!(response(&mut b).await.1, b"small");
                tokio::time::sleep(SLOW_REQUEST + Duration::from_millis(100)).await;
            }
            // a: the request in three parts, the second arriving after `after`: the
            // connection moves before its head is complete, then asks again whole.
            let mut a = tokio::net::TcpStream::connect(addr).await.unwrap();
            trickle(&mut a, &counters).await;
            a.write_all(request).await.unwrap();
            assert_eq!(response(&mut a).await.1, b"small");
        });
        assert_eq!(counters.slow_requests_moved.load(Ordering::Relaxed), 1);
        assert_eq!(
            threads.lock().unwrap().clone(),
            [
                "listener",
                "listener",
                LARGE_ANSWER_THREAD_NAME,
                LARGE_ANSWER_THREAD_NAME
            ]
        );
    }

    #[test]
    fn a_moved_connection_is_served_while_the_listeners_workers_are_busy() {
        let rt = listener_runtime();
        let client = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let threads: Threads = Arc::default();
        let (addr, counters) = serve_app(&rt, &threads, test_limits(Some(LARGE_ANSWER)));
        let request = b"GET /small HTTP/1.1\r\nHost: x\r\n\r\n";
        let mut a = client.block_on(async {
            let mut a = tokio::net::TcpStream::connect(addr).await.unwrap();
            trickle(&mut a, &counters).await;
            a
        });
        // Both listener workers blocked: nothing polls the listener runtime's I/O driver
        // or timers until they are released.
        let held = moving::hold_workers(&rt, 2);
        let answer = client.block_on(async {
            a.write_all(request).await.unwrap();
            tokio::time::timeout(Duration::from_secs(5), response(&mut a)).await
        });
        drop(held);
        let answer = answer.expect("answered without the listener's workers");
        assert_eq!(answer.1, b"small");
        assert_eq!(
            threads.lock().unwrap().clone(),
            [LARGE_ANSWER_THREAD_NAME, LARGE_ANSWER_THREAD_NAME]
        );
    }

    /// An answer handed over in frames that keeps its deadline armed until its last frame
    /// is taken.
    struct Guarded {
        rest: axum::body::Bytes,
        guard: Option<ArmedDeadline>,
    }

    impl HttpBody for Guarded {
        type Data = axum::body::Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
            if self.rest.is_empty() {
                self.guard = None;
                return Poll::Ready(None);
            }
            let n = self.rest.len().min(256 * 1024);
            let frame = self.rest.split_to(n);
            if self.rest.is_empty() {
                self.guard = None;
            }
            Poll::Ready(Some(Ok(hyper::body::Frame::data(frame))))
        }

        fn size_hint(&self) -> hyper::body::SizeHint {
            hyper::body::SizeHint::with_exact(self.rest.len() as u64)
        }
    }

    /// Bytes of the deadline test's answer: far more than loopback's socket buffers hold,
    /// so a client that does not read leaves most of it unwritten.
    const DEADLINE_ANSWER: usize = 32 << 20;

    fn deadline_app() -> Router {
        let answer = |within: Duration| {
            move |axum::Extension(d): axum::Extension<AnswerDeadline>| async move {
                let guard = d.arm(Instant::now() + within);
                Body::new(Guarded {
                    rest: vec![7u8; DEADLINE_ANSWER].into(),
                    guard: Some(guard),
                })
            }
        };
        Router::new()
            .route("/short", get(answer(Duration::from_millis(300))))
            .route("/long", get(answer(Duration::from_secs(60))))
    }

    #[tokio::test]
    async fn a_connection_that_does_not_take_its_answer_by_the_deadline_is_closed() {
        // On this runtime, so the reader below is not held up by an idle-priority thread
        // on a busy test machine.
        let limits = test_limits(None);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (_, counters) = spawn_serve(listener, deadline_app(), limits, std::future::pending());
        let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");

        // A client that asks and does not read: closed once its deadline passes.
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(get("/short").as_bytes()).await.unwrap();
        let mut waited = 0;
        while counters.late_answers_closed.load(Ordering::Relaxed) == 0 {
            assert!(waited < 100, "not closed within 10 s of a 300 ms deadline");
            tokio::time::sleep(Duration::from_millis(100)).await;
            waited += 1;
        }
        // What it can still read is what was in the socket buffers: the connection ends
        // short of the answer.
        let mut got = 0usize;
        let mut chunk = vec![0u8; 1 << 20];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), slow.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => got += n,
                Err(_) => panic!("the closed connection neither ended nor failed"),
            }
        }
        assert!(got < DEADLINE_ANSWER, "read {got} bytes of a closed answer");

        // A client that reads is given the whole answer, and its deadline never fires.
        let mut fair = tokio::net::TcpStream::connect(addr).await.unwrap();
        fair.write_all(get("/long").as_bytes()).await.unwrap();
        let (head, body) = response(&mut fair).await;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert_eq!(body.len(), DEADLINE_ANSWER);
        // The same connection answers again: it was not closed.
        fair.write_all(get("/long").as_bytes()).await.unwrap();
        assert_eq!(response(&mut fair).await.1.len(), DEADLINE_ANSWER);
        assert_eq!(counters.late_answers_closed.load(Ordering::Relaxed), 1);
    }
}
