//! Prompt TCP acknowledgements on realtime channels: the read half of a channel's socket,
//! switching Linux back to immediate ACKs after every read that returned data.
//!
//! Why: a peer that leaves Nagle's algorithm on (the reference node and RsNano never set
//! `TCP_NODELAY`) holds back each small write while any data it sent is unacknowledged.
//! Once a connection looks interactive (we answer soon after we receive), Linux delays
//! the ACK of data that gets no answer of its own (a publish, a keepalive, a vote) by up
//! to 40 ms, hoping to piggyback it; a node that sends little unprompted traffic gives it
//! nothing to ride on. The peer's next asc_pull_req then sits in its socket until the
//! timer fires. Measured here: RsNano's syncing client spent most of a 100,000-block sync
//! from this node waiting for such ACKs (its requests held by Nagle, its per-peer request
//! limit used up), 3-4× slower than from a node that happens to send more.
//!
//! Quick-ack mode is not sticky (the kernel returns to delayed ACKs by its own
//! heuristics), so it is re-armed after each read; setting it also sends an ACK that is
//! already due. One `setsockopt` per read call, and one read usually carries many
//! messages. Other platforms read unchanged.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::TcpStream;

/// A channel socket's read half that acknowledges what it read at once.
pub(crate) struct QuickAckRead {
    inner: OwnedReadHalf,
}

impl QuickAckRead {
    pub(crate) fn new(inner: OwnedReadHalf) -> Self {
        QuickAckRead { inner }
    }
}

impl AsyncRead for QuickAckRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            ack_now(this.inner.as_ref());
        }
        polled
    }
}

/// Leaves delayed-ACK mode (sending an ACK that is due). A failure only costs the
/// delay this avoids, so it is ignored.
#[cfg(target_os = "linux")]
fn ack_now(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
}

#[cfg(not(target_os = "linux"))]
fn ack_now(_stream: &TcpStream) {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A loopback connection: (client, server side).
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (client, server)
    }

    /// Request/answer rounds as a realtime channel sees them (the server answers each
    /// read at once, which makes the kernel treat the connection as interactive), then
    /// one more message that gets no answer. Returns whether the server's socket is in
    /// quick-ACK mode after reading it.
    async fn quick_after_unanswered<R: AsyncRead + Unpin>(
        client: &mut TcpStream,
        server_read: &mut R,
        server_write: &mut tokio::net::tcp::OwnedWriteHalf,
    ) -> bool {
        let mut buf = [0u8; 16];
        for round in 0..8u8 {
            client.write_all(&[round; 16]).await.unwrap();
            server_read.read_exact(&mut buf).await.unwrap();
            assert_eq!(buf, [round; 16]);
            server_write.write_all(&[round; 16]).await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
        }
        client.write_all(&[0xee; 16]).await.unwrap();
        server_read.read_exact(&mut buf).await.unwrap();
        assert_eq!(buf, [0xee; 16]);
        socket2::SockRef::from(server_write.as_ref())
            .tcp_quickack()
            .unwrap()
    }

    #[tokio::test]
    async fn reads_switch_the_socket_back_to_immediate_acks() {
        // Without re-arming, the kernel has moved the answered connection to delayed
        // ACKs: the state the peer's Nagle then waits on.
        let (mut client, server) = pair().await;
        let (mut r, mut w) = server.into_split();
        assert!(
            !quick_after_unanswered(&mut client, &mut r, &mut w).await,
            "plain reads: expected delayed-ACK mode after interactive rounds"
        );

        let (mut client, server) = pair().await;
        let (r, mut w) = server.into_split();
        let mut r = QuickAckRead::new(r);
        assert!(quick_after_unanswered(&mut client, &mut r, &mut w).await);
    }

    #[tokio::test]
    async fn reads_pass_the_bytes_through_unchanged() {
        let (mut client, server) = pair().await;
        let (r, _w) = server.into_split();
        let mut r = QuickAckRead::new(r);
        let sent: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
        let writer = tokio::spawn(async move {
            client.write_all(&sent).await.unwrap();
            client.shutdown().await.unwrap();
            sent
        });
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, writer.await.unwrap());
    }
}
