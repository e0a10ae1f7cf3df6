//! TCP on the peering port: the dual-stack listener, outgoing dials, classification of
//! accepted connections by their first message (handshake → realtime, bootstrap request
//! → the bootstrap server, anything else → closed), the node_id handshake in both roles,
//! and the reader and writer tasks of a realtime channel.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures::{SinkExt, StreamExt};
use nano_messages::{Frame, Message, MessageCodec};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio_util::codec::{Framed, FramedRead};

use super::admission::AdmissionTicket;
use super::bootstrap::BootstrapConnection;
use super::channel::{Channel, Transport};
use super::endpoint::{self, from_wire_endpoint};
use super::handshake::{self, verify_response, HandshakeFailure};
use super::quick_ack::QuickAckRead;
use super::Inner;

/// Binds `[::]:port` dual-stack (falling back to `0.0.0.0` where IPv6 is unavailable).
pub(super) async fn bind(inner: &Inner, port: u16) -> std::io::Result<TcpListener> {
    let v6 = SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), port);
    let sock = match TcpSocket::new_v6() {
        Ok(s) => s,
        Err(_) => {
            inner.ipv6.store(false, Ordering::Relaxed);
            let s = TcpSocket::new_v4()?;
            s.set_reuseaddr(true)?;
            s.bind(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port))?;
            return s.listen(1024);
        }
    };
    sock.set_reuseaddr(true)?;
    sock.bind(v6)?;
    sock.listen(1024)
}

/// Decrements the outbound attempt count when a dial task ends.
struct OutboundGuard(Arc<Inner>, SocketAddrV6);
impl Drop for OutboundGuard {
    fn drop(&mut self) {
        self.0.outbound_attempts.fetch_sub(1, Ordering::Relaxed);
        self.0.peering.finished(&self.1);
    }
}

/// Accepts connections until the node stops. A connection is checked against the
/// admission rules before the runtime learns of it: a refused one (its address, subnet
/// or the node at a cap, or its address cooled down) costs an `accept` and a `close`,
/// not a registration with the reactor and its removal, which matters when one host
/// opens tens of thousands of connections a second.
pub(super) async fn listen(inner: Arc<Inner>, listener: TcpListener) {
    let listener = match listener.into_std() {
        // SAFETY: the std listener owns its descriptor and is moved into the AsyncFd,
        // which deregisters it before dropping (closing) it.
        Ok(l) => unsafe { tokio::io::unix::AsyncFd::register(l) }.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let listener = match listener {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "peering listener lost");
            return;
        }
    };
    loop {
        let mut ready = tokio::select! {
            _ = inner.token.cancelled() => break,
            r = listener.readable() => match r {
                Ok(g) => g,
                Err(e) => {
                    tracing::error!(error = %e, "peering listener lost");
                    break;
                }
            },
        };
        // Every connection waiting now, then back to the reactor.
        loop {
            let (stream, addr) = match ready.get_inner().accept() {
                Ok(x) => x,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    ready.clear_ready();
                    break;
                }
                Err(e) => {
                    // Out of descriptors and similar: back off briefly instead of spinning.
                    tracing::debug!(error = %e, "accept failed");
                    drop(ready);
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                    break;
                }
            };
            if let Some((stream, remote, ticket)) = admit(&inner, stream, addr) {
                inner.stats.inc("tcp", "accepted", "in");
                inner
                    .tracker
                    .spawn(run_inbound(inner.clone(), stream, remote, ticket));
            }
        }
    }
}

/// The admission decision for one accepted connection: the stream registered with the
/// runtime, or None once it is refused (counted and closed).
fn admit(
    inner: &Inner,
    stream: std::net::TcpStream,
    addr: SocketAddr,
) -> Option<(TcpStream, SocketAddrV6, AdmissionTicket)> {
    let remote = endpoint::normalize(addr);
    let refusal = if !endpoint::is_acceptable_ip(remote.ip(), inner.config.allow_local_peers) {
        Err("refused_address")
    } else {
        // Refused connections are closed at once, before anything is read, so an idle
        // flood from one address holds at most its per-IP share of the inbound slots.
        inner
            .admission
            .admit(*remote.ip())
            .map_err(|refusal| refusal.as_str())
    };
    match refusal {
        Ok(ticket) => {
            if inner.kernel_filter.enabled() {
                use std::os::fd::AsFd;
                super::kernel_filter::detach_inherited(stream.as_fd());
            }
            let stream = stream
                .set_nonblocking(true)
                .and_then(|()| TcpStream::from_std(stream));
            match stream {
                Ok(s) => Some((s, remote, ticket)),
                Err(e) => {
                    tracing::debug!(error = %e, "cannot register an accepted connection");
                    None
                }
            }
        }
        Err(what) => {
            inner.stats.inc("tcp", what, "in");
            None
        }
    }
}

/// Dials `ep` and runs the connection until it ends. The caller has checked limits and
/// marked the attempt in progress.
pub(super) fn spawn_dial(inner: &Arc<Inner>, ep: SocketAddrV6) {
    inner.outbound_attempts.fetch_add(1, Ordering::Relaxed);
    let guard = OutboundGuard(inner.clone(), ep);
    inner.tracker.spawn(run_outbound(inner.clone(), ep, guard));
}

type Conn = Framed<TcpStream, MessageCodec>;

/// (local, remote) endpoints of a connection, for the capture file.
fn link_of(s: &TcpStream) -> Option<(SocketAddrV6, SocketAddrV6)> {
    Some((
        endpoint::normalize(s.local_addr().ok()?),
        endpoint::normalize(s.peer_addr().ok()?),
    ))
}

fn frame_bytes(frame: &Frame) -> Vec<u8> {
    let mut v = frame.header.encode().to_vec();
    v.extend_from_slice(&frame.payload);
    v
}

async fn next_frame(
    inner: &Inner,
    conn: &mut Conn,
    peer: &SocketAddrV6,
    deadline: Instant,
) -> Result<Frame, HandshakeFailure> {
    let left = deadline.saturating_duration_since(Instant::now());
    tokio::select! {
        _ = inner.token.cancelled() => Err(HandshakeFailure::Refused),
        r = tokio::time::timeout(left, conn.next()) => match r {
            Err(_) => Err(HandshakeFailure::Timeout),
            Ok(Some(Ok(f))) => {
                if let (Some(c), Some((l, r))) = (inner.capture.get(), link_of(conn.get_ref())) {
                    c.tcp(r, l, &frame_bytes(&f));
                }
                Ok(f)
            }
            Ok(Some(Err(e))) => {
                inner.on_stream_error(peer, &e);
                tracing::debug!(error = %e, "bad header during handshake");
                Err(HandshakeFailure::Unexpected)
            }
            Ok(None) => Err(HandshakeFailure::Refused),
        }
    }
}

async fn send_msg(inner: &Inner, conn: &mut Conn, msg: Message) -> Result<(), HandshakeFailure> {
    let kind = msg.message_type().as_str();
    let captured = inner
        .capture
        .get()
        .and_then(|_| msg.to_bytes(inner.params.network).ok());
    match tokio::time::timeout(inner.io_timeout(), conn.send(msg)).await {
        Ok(Ok(())) => {
            if let (Some(c), Some(b), Some((l, r))) =
                (inner.capture.get(), captured, link_of(conn.get_ref()))
            {
                c.tcp(l, r, &b);
            }
            inner.stats.inc("message", kind, "out");
            Ok(())
        }
        _ => Err(HandshakeFailure::Refused),
    }
}

async fn run_outbound(inner: Arc<Inner>, ep: SocketAddrV6, _guard: OutboundGuard) {
    inner.stats.inc("tcp", "connect", "out");
    let target = if inner.ipv6.load(Ordering::Relaxed) {
        SocketAddr::V6(ep)
    } else {
        from_wire_endpoint(ep)
    };
    let connect = tokio::time::timeout(inner.io_timeout(), TcpStream::connect(target));
    let stream = tokio::select! {
        _ = inner.token.cancelled() => return,
        r = connect => match r {
            Ok(Ok(s)) => s,
            _ => {
                inner.stats.inc("tcp", "connect_failed", "out");
                return;
            }
        }
    };
    let _ = stream.set_nodelay(true);
    let link = link_of(&stream);
    if let (Some(c), Some((l, r))) = (inner.capture.get(), link) {
        c.tcp_open(l, r);
    }
    let mut conn = Framed::new(stream, MessageCodec::new(inner.params.network));
    match outbound_handshake(&inner, &mut conn, ep).await {
        Ok((node_id, version)) => {
            run_channel(&inner, conn, ep, node_id, version, true, Some(ep)).await;
        }
        Err(f) => {
            inner.tcp_cookies.take(&ep);
            inner.fail_handshake(f, &ep);
        }
    }
    capture_end(&inner, link);
}

/// Writes the end of a captured connection (no-op when it already ended in the file).
/// Every connection that was opened in the capture ends in it, including ones refused
/// during or right after the handshake (a duplicate channel, for instance).
fn capture_end(inner: &Inner, link: Option<(SocketAddrV6, SocketAddrV6)>) {
    if let (Some(c), Some((l, r))) = (inner.capture.get(), link) {
        c.tcp_close(l, r);
    }
}

async fn outbound_handshake(
    inner: &Inner,
    conn: &mut Conn,
    ep: SocketAddrV6,
) -> Result<(nano_core::PublicKey, u8), HandshakeFailure> {
    let deadline = Instant::now() + inner.handshake_timeout();
    let cookie = inner
        .tcp_cookies
        .assign(ep)
        .ok_or(HandshakeFailure::NoCookie)?;
    let query = handshake::message(Some(cookie), None);
    send_msg(inner, conn, Message::NodeIdHandshake(Box::new(query))).await?;
    let frame = next_frame(inner, conn, &ep, deadline).await?;
    let Ok(Message::NodeIdHandshake(h)) = frame.message else {
        return Err(HandshakeFailure::Unexpected);
    };
    inner.stats.inc("message", "node_id_handshake", "in");
    let (Some(their_query), Some(resp)) = (h.query, h.response.as_ref()) else {
        return Err(HandshakeFailure::Unexpected);
    };
    let node_id = verify_response(
        &inner.tcp_cookies,
        &ep,
        resp,
        &inner.node_id,
        &inner.params.genesis_hash,
    )?;
    let ours = handshake::respond(&their_query, h.v2, &inner.key, inner.params.genesis_hash);
    let reply = handshake::message(None, Some(ours));
    send_msg(inner, conn, Message::NodeIdHandshake(Box::new(reply))).await?;
    Ok((node_id, frame.header.version_using))
}

async fn run_inbound(
    inner: Arc<Inner>,
    stream: TcpStream,
    remote: SocketAddrV6,
    ticket: AdmissionTicket,
) {
    let _ = stream.set_nodelay(true);
    let link = link_of(&stream);
    if let (Some(c), Some((l, r))) = (inner.capture.get(), link) {
        c.tcp_open(r, l);
    }
    let conn = Framed::new(stream, MessageCodec::new(inner.params.network));
    // A connection handed to the bootstrap server lives on there; any other ends here.
    if !inbound_session(&inner, conn, remote, ticket).await {
        capture_end(&inner, link);
    }
}

/// Runs an inbound connection's first message: a handshake (then the channel) or a
/// bootstrap request. Returns true when the connection was handed to the bootstrap
/// server.
async fn inbound_session(
    inner: &Arc<Inner>,
    mut conn: Conn,
    remote: SocketAddrV6,
    ticket: AdmissionTicket,
) -> bool {
    // The first message (handshake or bootstrap request) must arrive by the deadline:
    // an idle connection is closed and frees its admission slot.
    let deadline = Instant::now() + inner.handshake_timeout();
    let frame = match next_frame(inner, &mut conn, &remote, deadline).await {
        Ok(f) => f,
        Err(f) => {
            inner.fail_handshake(f, &remote);
            return false;
        }
    };
    let msg = match frame.message {
        Ok(m) => m,
        Err(_) => {
            inner.stats.inc("drop", "invalid_payload", "in");
            inner.fail_handshake(HandshakeFailure::Unexpected, &remote);
            return false;
        }
    };
    inner
        .stats
        .inc("message", frame.header.message_type.as_str(), "in");
    match msg {
        Message::NodeIdHandshake(h) => {
            if inner.flags.disable_tcp_realtime {
                inner.fail_handshake(HandshakeFailure::Refused, &remote);
                return false;
            }
            match inbound_handshake(inner, &mut conn, remote, *h, deadline).await {
                Ok((node_id, version)) => {
                    run_channel(inner, conn, remote, node_id, version, false, None).await
                }
                Err(f) => {
                    inner.tcp_cookies.take(&remote);
                    inner.fail_handshake(f, &remote);
                }
            }
            false
        }
        Message::BulkPull(_)
        | Message::BulkPullAccount(_)
        | Message::BulkPush
        | Message::FrontierReq(_) => {
            inner.stats.inc("tcp", "bootstrap", "in");
            let parts = conn.into_parts();
            let server = inner
                .bootstrap
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            server.serve(BootstrapConnection {
                stream: parts.io,
                read_buf: parts.read_buf,
                first: msg,
                remote,
                ticket,
            });
            true
        }
        _ => {
            inner.stats.inc("tcp", "unexpected_first_message", "in");
            false
        }
    }
}

async fn inbound_handshake(
    inner: &Inner,
    conn: &mut Conn,
    remote: SocketAddrV6,
    h: nano_messages::NodeIdHandshake,
    deadline: Instant,
) -> Result<(nano_core::PublicKey, u8), HandshakeFailure> {
    let (Some(query), None) = (h.query, &h.response) else {
        return Err(HandshakeFailure::Unexpected);
    };
    let cookie = inner
        .tcp_cookies
        .assign(remote)
        .ok_or(HandshakeFailure::NoCookie)?;
    let resp = handshake::respond(&query, h.v2, &inner.key, inner.params.genesis_hash);
    let reply = handshake::message(Some(cookie), Some(resp));
    send_msg(inner, conn, Message::NodeIdHandshake(Box::new(reply))).await?;
    let frame = next_frame(inner, conn, &remote, deadline).await?;
    let Ok(Message::NodeIdHandshake(h2)) = frame.message else {
        return Err(HandshakeFailure::Unexpected);
    };
    inner.stats.inc("message", "node_id_handshake", "in");
    // A second query after the first handshake message aborts the connection.
    let (None, Some(resp)) = (h2.query, h2.response.as_ref()) else {
        return Err(HandshakeFailure::Unexpected);
    };
    let node_id = verify_response(
        &inner.tcp_cookies,
        &remote,
        resp,
        &inner.node_id,
        &inner.params.genesis_hash,
    )?;
    Ok((node_id, frame.header.version_using))
}

/// Registers the handshaken connection as a channel and runs it until it closes.
async fn run_channel(
    inner: &Arc<Inner>,
    conn: Conn,
    remote: SocketAddrV6,
    node_id: nano_core::PublicKey,
    version: u8,
    dialled: bool,
    peering: Option<SocketAddrV6>,
) {
    let ch = inner.new_channel(remote, node_id, version, Transport::Tcp, dialled, peering);
    if let Err(f) = inner.register(&ch) {
        inner.fail_handshake(f, &remote);
        return;
    }
    inner.stats.inc("handshake", "ok", "");
    let link = link_of(conn.get_ref());
    let parts = conn.into_parts();
    let (r, w) = parts.io.into_split();
    let mut reader = FramedRead::new(QuickAckRead::new(r), parts.codec);
    *reader.read_buffer_mut() = parts.read_buf;
    inner
        .tracker
        .spawn(writer(inner.clone(), ch.clone(), w, link));
    inner.on_channel_established(&ch);
    read_loop(inner, &ch, reader, link).await;
    inner.remove_channel(&ch);
    if let (Some(c), Some((l, r))) = (inner.capture.get(), link) {
        c.tcp_close(l, r);
    }
}

async fn read_loop(
    inner: &Arc<Inner>,
    ch: &Arc<Channel>,
    mut reader: FramedRead<QuickAckRead, MessageCodec>,
    link: Option<(SocketAddrV6, SocketAddrV6)>,
) {
    loop {
        let next = tokio::select! {
            _ = ch.closed.cancelled() => break,
            r = reader.next() => r,
        };
        match next {
            None => break,
            Some(Err(e)) => {
                inner.on_stream_error(&ch.info.endpoint, &e);
                tracing::debug!(peer = %ch.info.endpoint, error = %e, "closing: unframeable stream");
                break;
            }
            Some(Ok(frame)) => {
                if let (Some(c), Some((l, r))) = (inner.capture.get(), link) {
                    c.tcp(r, l, &frame_bytes(&frame));
                }
                if !inner.admit(ch) {
                    if ch.is_closed() {
                        break;
                    }
                    continue;
                }
                match frame.message {
                    Ok(msg) => inner.process_realtime(ch, &frame.header, &frame.payload, msg),
                    Err(e) => {
                        inner.stats.inc("drop", "invalid_payload", "in");
                        tracing::trace!(peer = %ch.info.endpoint, error = %e, "dropping message");
                    }
                }
            }
        }
    }
}

/// Drains the channel's queue into the socket, batching what is ready into one write.
async fn writer(
    inner: Arc<Inner>,
    ch: Arc<Channel>,
    w: OwnedWriteHalf,
    link: Option<(SocketAddrV6, SocketAddrV6)>,
) {
    let cap = |b: &[u8]| {
        if let (Some(c), Some((l, r))) = (inner.capture.get(), link) {
            c.tcp(l, r, b);
        }
    };
    let mut w = BufWriter::with_capacity(64 * 1024, w);
    while let Some(first) = ch.queue.pop(&ch.closed).await {
        let batch = async {
            cap(&first);
            w.write_all(&first).await?;
            let mut written = first.len();
            while written < 256 * 1024 {
                let Some(b) = ch.queue.try_pop() else { break };
                cap(&b);
                w.write_all(&b).await?;
                written += b.len();
            }
            w.flush().await
        };
        match tokio::time::timeout(inner.io_timeout(), batch).await {
            Ok(Ok(())) => ch.touch_sent(inner.now_ms()),
            _ => {
                inner.stats.inc("error", "write", "out");
                break;
            }
        }
    }
    ch.closed.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), w.shutdown()).await;
}
