//! Moving a connection off the listener's runtime onto the large-answer thread: the
//! socket wrapper that re-registers its readiness there ([`Rebinding`]), the runner that
//! hands a connection's future over ([`run_movable`]), and the mark that asks for the
//! move when a request trickles ([`mark_slow`]). The HTTP listeners ([`crate::spawn_serve`])
//! and the node's IPC sessions use them alike.

use std::future::Future;
use std::io;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A socket that can move its readiness registration to the runtime polling it now.
pub trait Rebind: Sized {
    /// Deregisters from the runtime it was registered with and registers with the current
    /// one; on error the socket is gone.
    fn rebind(self) -> io::Result<Self>;
}

impl Rebind for tokio::net::TcpStream {
    fn rebind(self) -> io::Result<Self> {
        tokio::net::TcpStream::from_std(self.into_std()?)
    }
}

#[cfg(unix)]
impl Rebind for tokio::net::UnixStream {
    fn rebind(self) -> io::Result<Self> {
        tokio::net::UnixStream::from_std(self.into_std()?)
    }
}

thread_local! {
    /// Set on the large-answer thread when it starts.
    static LARGE_ANSWER_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Marks the calling thread as the large-answer thread (its runtime's start hook).
pub(crate) fn mark_large_answer_thread() {
    LARGE_ANSWER_THREAD.with(|c| c.set(true));
}

fn on_large_answer_thread() -> bool {
    LARGE_ANSWER_THREAD.with(|c| c.get())
}

/// A socket that, when first used on the large-answer thread, registers its readiness
/// with that thread's runtime. Left with the listener's runtime, every byte a moved
/// connection reads or writes would still wake a listener worker (its I/O driver takes
/// the event and hands it over), which is the work the move is there to take away.
pub struct Rebinding<S> {
    /// `None` only after a failed [`Rebind`], which ends the connection.
    inner: Option<S>,
    rebound: bool,
}

impl<S: Rebind + Unpin> Rebinding<S> {
    pub fn new(inner: S) -> Self {
        Rebinding {
            inner: Some(inner),
            rebound: false,
        }
    }

    /// Re-registers the socket if this is the first use on the large-answer thread; true
    /// when it did just now (so the caller can move its own timers too).
    pub fn settle(&mut self) -> io::Result<bool> {
        if self.rebound || !on_large_answer_thread() {
            return Ok(false);
        }
        self.rebound = true;
        self.inner = match self.inner.take().map(Rebind::rebind) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => return Err(e),
            None => None,
        };
        Ok(true)
    }

    /// The socket, settled where it is used.
    pub fn get(&mut self) -> io::Result<Pin<&mut S>> {
        self.settle()?;
        self.settled()
    }

    /// The socket as it is registered now.
    pub fn settled(&mut self) -> io::Result<Pin<&mut S>> {
        match &mut self.inner {
            Some(s) => Ok(Pin::new(s)),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "socket lost in its move to the large-answer thread",
            )),
        }
    }

    /// Whether the socket takes vectored writes (false once lost).
    pub fn is_write_vectored(&self) -> bool
    where
        S: AsyncWrite,
    {
        self.inner.as_ref().is_some_and(S::is_write_vectored)
    }

    /// The socket, if it was not lost in a move.
    pub fn into_inner(self) -> Option<S> {
        self.inner
    }
}

/// Polls `f` with the settled socket, or answers the error that lost it.
macro_rules! with_socket {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get() {
            Ok($s) => $e,
            Err(err) => Poll::Ready(Err(err)),
        }
    };
}

impl<S: AsyncRead + Rebind + Unpin> AsyncRead for Rebinding<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        with_socket!(self, s => s.poll_read(cx, buf))
    }
}

impl<S: AsyncWrite + Rebind + Unpin> AsyncWrite for Rebinding<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        with_socket!(self, s => s.poll_write(cx, data))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with_socket!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        with_socket!(self, s => s.poll_shutdown(cx))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        with_socket!(self, s => s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        Rebinding::is_write_vectored(self)
    }
}

/// Runs `work` on the current runtime until it ends, or until `moving` is set while it
/// waits; then finishes it on the large-answer thread (here, if that thread could not be
/// started).
pub async fn run_movable<F>(work: F, moving: Arc<AtomicBool>)
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut work = Box::pin(work);
    let moved = std::future::poll_fn(|cx| match work.as_mut().poll(cx) {
        Poll::Ready(()) => Poll::Ready(false),
        Poll::Pending if moving.load(Ordering::Acquire) => Poll::Ready(true),
        Poll::Pending => Poll::Pending,
    })
    .await;
    if moved {
        match crate::large_answer_runtime() {
            Some(rt) => {
                rt.spawn(work);
            }
            None => work.await,
        }
    }
}

/// Awaits `read` (a part of a request whose first byte has arrived); if it is still
/// waiting at `at`, sets `moving` and keeps waiting, so that [`run_movable`] moves the
/// connection. The timer starts only when `read` first waits: a request that is already
/// in the buffer costs none.
pub async fn mark_slow<F: Future>(read: F, at: Instant, moving: &AtomicBool) -> F::Output {
    let mut read = pin!(read);
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = read.as_mut().poll(cx) {
            return Poll::Ready(v);
        }
        if !moving.load(Ordering::Relaxed) {
            let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
            if t.as_mut().poll(cx).is_ready() {
                moving.store(true, Ordering::Release);
            }
        }
        Poll::Pending
    })
    .await
}

/// Workers of a runtime blocked until this is dropped ([`hold_workers`]).
pub struct HeldWorkers {
    /// Dropping a sender ends its worker's wait.
    _release: Vec<std::sync::mpsc::Sender<()>>,
}

/// Blocks `n` of `rt`'s workers (each in a task that waits on a channel) and returns once
/// all are blocked: with every worker held, nothing polls the runtime's I/O driver or
/// timers, which shows that a moved connection needs none of them (tests of this crate
/// and of the IPC sessions).
pub fn hold_workers(rt: &tokio::runtime::Runtime, n: usize) -> HeldWorkers {
    let (started_tx, started) = std::sync::mpsc::channel();
    let mut releases = Vec::new();
    for _ in 0..n {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        releases.push(release);
        let started_tx = started_tx.clone();
        rt.spawn(async move {
            let _ = started_tx.send(());
            let _ = wait.recv();
        });
    }
    for _ in 0..n {
        let _ = started.recv();
    }
    HeldWorkers { _release: releases }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A pair of connected loopback sockets.
    async fn pair() -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = tokio::net::TcpStream::connect(l.local_addr().unwrap());
        let (c, a) = tokio::join!(c, l.accept());
        (a.unwrap().0, c.unwrap())
    }

    #[test]
    fn a_slow_read_moves_its_work_and_the_socket_follows() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("listener")
            .enable_all()
            .build()
            .unwrap();
        let client_rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        // The client's socket registered with its own runtime, which stays free.
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = client_rt
            .block_on(tokio::net::TcpStream::connect(addr))
            .unwrap();
        let server = rt.block_on(listener.accept()).unwrap().0;
        let (tx, rx) = std::sync::mpsc::channel();
        let moving = Arc::new(AtomicBool::new(false));
        let flag = moving.clone();
        let work = async move {
            let mut s = Rebinding::new(server);
            let mut first = [0u8; 1];
            s.read_exact(&mut first).await.unwrap();
            let at = Instant::now() + Duration::from_millis(50);
            let mut rest = [0u8; 3];
            mark_slow(s.read_exact(&mut rest), at, &flag).await.unwrap();
            let name = std::thread::current().name().map(str::to_string);
            s.write_all(b"ok").await.unwrap();
            tx.send((first, rest, name)).unwrap();
        };
        rt.spawn(run_movable(work, moving.clone()));
        client_rt.block_on(async {
            client.write_all(b"a").await.unwrap();
            for _ in 0..500 {
                if moving.load(Ordering::Acquire) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        assert!(
            moving.load(Ordering::Acquire),
            "the slow read asked the move"
        );
        // The listener's only worker blocked: only a socket registered with the
        // large-answer thread's runtime can still hear the rest.
        let held = hold_workers(&rt, 1);
        let answer = client_rt.block_on(async {
            client.write_all(b"bcd").await.unwrap();
            let mut ok = [0u8; 2];
            tokio::time::timeout(Duration::from_secs(5), client.read_exact(&mut ok))
                .await
                .map(|r| r.map(|_| ok))
        });
        drop(held);
        assert_eq!(answer.expect("answered").unwrap(), *b"ok");
        let (first, rest, name) = rx.recv().unwrap();
        assert_eq!((&first, &rest), (b"a", b"bcd"));
        assert_eq!(name.as_deref(), Some(crate::LARGE_ANSWER_THREAD_NAME));
    }

    #[tokio::test]
    async fn a_read_that_needs_no_wait_sets_nothing() {
        let (mut server, mut client) = pair().await;
        client.write_all(b"abc").await.unwrap();
        let moving = AtomicBool::new(false);
        let mut buf = [0u8; 3];
        // The bytes are there by the time of the read (same host, written before).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let at = Instant::now();
        mark_slow(server.read_exact(&mut buf), at, &moving)
            .await
            .unwrap();
        assert_eq!(&buf, b"abc");
        assert!(!moving.load(Ordering::Relaxed));
    }
}
