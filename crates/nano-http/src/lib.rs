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
//! - is closed after [`HttpLimits::idle_timeout`] without a byte moving either way.
//!
//! Every request carries its connection's peer address as the extension
//! `ConnectInfo<SocketAddr>` (what axum's `ConnectInfo` extractor reads), so handlers can
//! treat clients apart (the RPC's slow-action pool queues per client).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
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
}

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
        let io = TokioIo::new(LimitedStream::new(
            stream,
            slot,
            limits.idle_timeout,
            counters.clone(),
        ));
        let app = app.clone();
        let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let mut req = req.map(Body::new);
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            tower_service::Service::call(&mut app.clone(), req)
        });
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let conn = builder.serve_connection(io, svc).with_upgrades();
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = async { stop.wait_for(|v| *v).await.map(|_| ()) } => {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
                }
            }
        });
    }
    let _ = stop_tx.send(true);
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
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
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
    inner: S,
    _slot: OwnedSemaphorePermit,
    idle: Option<(Duration, Pin<Box<Sleep>>)>,
    counters: Arc<HttpCounters>,
}

impl<S> LimitedStream<S> {
    fn new(
        inner: S,
        slot: OwnedSemaphorePermit,
        idle: Option<Duration>,
        counters: Arc<HttpCounters>,
    ) -> Self {
        LimitedStream {
            inner,
            _slot: slot,
            idle: idle.map(|d| (d, Box::pin(tokio::time::sleep(d)))),
            counters,
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

impl<S: AsyncRead + Unpin> AsyncRead for LimitedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.activity();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for LimitedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.activity();
                }
                Poll::Ready(r)
            }
            Poll::Pending => self.check_idle(cx).map(Err),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    self.activity();
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
