//! Shared helpers for the network tests: dev-network services on loopback with
//! OS-assigned ports, recording inbound handlers and bounded polling.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nano_core::{KeyPair, Network};
use nano_ledger::Ledger;
use nano_messages::{decode_datagram, HandshakeResponse, Message, NodeIdHandshake};
use nano_node::config::DaemonConfig;
use nano_node::events::EventBus;
use nano_node::interfaces::{ChannelInfo, Inbound};
use nano_node::network::{
    load_or_create_node_id, NetworkFlags, NetworkInit, NetworkService, Transport,
};
use nano_node::stats::Stats;
use nano_node::NodeConfig;
use tokio::net::UdpSocket;

pub struct TestNode {
    pub net: NetworkService,
    pub ledger: Arc<Ledger>,
    pub stats: Arc<Stats>,
    pub events: EventBus,
    pub key: KeyPair,
}

pub fn dev_config(port: u16, peers: Vec<String>) -> NodeConfig {
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.peering_port = port;
    c.preconfigured_peers = peers;
    c.allow_local_peers = true;
    c
}

pub async fn start_node(dir: &Path, config: NodeConfig, flags: NetworkFlags) -> TestNode {
    let key = load_or_create_node_id(dir).expect("node id");
    let ledger = Arc::new(Ledger::open(&dir.join("ledger"), Network::Dev).expect("ledger"));
    let stats = Arc::new(Stats::new());
    let events = EventBus::default();
    let net = NetworkService::new(NetworkInit {
        params: Network::Dev.params(),
        config,
        node_id: key.clone(),
        ledger: ledger.clone(),
        stats: stats.clone(),
        events: events.clone(),
        flags,
    });
    net.start().await.expect("start");
    TestNode {
        net,
        ledger,
        stats,
        events,
        key,
    }
}

impl TestNode {
    pub fn peer_string(&self) -> String {
        format!("[::1]:{}", self.net.local_port())
    }

    /// Distinct peers reached over TCP.
    pub fn tcp_peers(&self) -> usize {
        let mut ids: Vec<_> = self
            .net
            .peers()
            .into_iter()
            .filter(|p| p.transport == Transport::Tcp)
            .map(|p| p.node_id)
            .collect();
        ids.sort();
        ids.dedup();
        ids.len()
    }

    pub fn udp_peers(&self) -> usize {
        self.net
            .peers()
            .into_iter()
            .filter(|p| p.transport == Transport::Udp)
            .count()
    }

    pub async fn shutdown(self) {
        self.net.stop().await;
    }
}

/// Polls `f` every 20 ms until it holds or `limit` passes.
pub async fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Records every message handed to consensus.
#[derive(Default)]
pub struct Recorder {
    pub got: Mutex<Vec<(ChannelInfo, Message)>>,
}

impl Inbound for Recorder {
    fn on_message(&self, from: &ChannelInfo, msg: Message) {
        self.got.lock().unwrap().push((from.clone(), msg));
    }
}

impl Recorder {
    pub fn count(&self, f: impl Fn(&Message) -> bool) -> usize {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, m)| f(m))
            .count()
    }
}

pub type RawConn = tokio_util::codec::Framed<tokio::net::TcpStream, nano_messages::MessageCodec>;

/// Connects to `port` on `[::1]` speaking `network`'s header magic, without handshaking.
pub async fn raw_connect(port: u16, network: Network) -> RawConn {
    raw_connect_from(std::net::Ipv6Addr::LOCALHOST.into(), port, network).await
}

/// Opens a TCP connection from the loopback address `src` to the node: `::1` connects
/// to `[::1]`, an IPv4 address (any of `127.0.0.0/8`) to `127.0.0.1`. Distinct loopback
/// addresses stand for distinct hosts (the node counts and excludes per address).
pub async fn tcp_from(src: std::net::IpAddr, port: u16) -> std::io::Result<tokio::net::TcpStream> {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    let (sock, dst) = match src {
        IpAddr::V4(_) => (
            tokio::net::TcpSocket::new_v4()?,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
        ),
        IpAddr::V6(_) => (tokio::net::TcpSocket::new_v6()?, src),
    };
    sock.bind(SocketAddr::new(src, 0))?;
    sock.connect(SocketAddr::new(dst, port)).await
}

/// As [`raw_connect`], from the loopback address `src` (see [`tcp_from`]).
pub async fn raw_connect_from(src: std::net::IpAddr, port: u16, network: Network) -> RawConn {
    let s = tcp_from(src, port).await.expect("connect");
    tokio_util::codec::Framed::new(s, nano_messages::MessageCodec::new(network))
}

/// Performs the dialler's side of the node_id handshake by hand, answering the node's
/// cookie with `genesis` in the v2 response. Returns the connection, or None when the
/// node closed it.
pub async fn raw_handshake(
    port: u16,
    key: &KeyPair,
    genesis: nano_core::BlockHash,
) -> Option<RawConn> {
    raw_handshake_from(std::net::Ipv6Addr::LOCALHOST.into(), port, key, genesis).await
}

/// As [`raw_handshake`], from the loopback address `src` (see [`tcp_from`]).
pub async fn raw_handshake_from(
    src: std::net::IpAddr,
    port: u16,
    key: &KeyPair,
    genesis: nano_core::BlockHash,
) -> Option<RawConn> {
    use futures::{SinkExt, StreamExt};
    use nano_messages::{HandshakeResponse, NodeIdHandshake};
    let mut c = raw_connect_from(src, port, Network::Dev).await;
    c.send(Message::NodeIdHandshake(Box::new(NodeIdHandshake::query(
        [3; 32],
    ))))
    .await
    .ok()?;
    let frame = tokio::time::timeout(Duration::from_secs(5), c.next())
        .await
        .ok()??
        .ok()?;
    let Ok(Message::NodeIdHandshake(h)) = frame.message else {
        return None;
    };
    let resp = HandshakeResponse::sign_v2(&h.query?, [4; 32], genesis, key);
    c.send(Message::NodeIdHandshake(Box::new(NodeIdHandshake {
        query: None,
        response: Some(resp),
        v2: true,
    })))
    .await
    .ok()?;
    Some(c)
}

/// True once the peer has closed `c` (reads until EOF or error, dropping messages).
pub async fn closed_by_peer(c: &mut RawConn, limit: Duration) -> bool {
    use futures::StreamExt;
    let end = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(end, c.next()).await {
            Err(_) => return false,
            Ok(None) | Ok(Some(Err(_))) => return true,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// A valid dev block (a send from genesis), distinct per `i`.
pub fn dev_block(i: u32) -> nano_core::Block {
    let mut chain = nano_ledger::test_support::Chain::dev_genesis();
    let dest = nano_ledger::test_support::test_key(i).public();
    chain.send(&dest, 1 + i as u128)
}

/// Whether every block of `hashes` is in the ledger and cemented.
pub fn all_cemented(ledger: &Ledger, hashes: &[nano_core::BlockHash]) -> bool {
    let Ok(txn) = ledger.read_txn() else {
        return false;
    };
    hashes.iter().all(|h| {
        ledger.block_exists(&txn, h).unwrap_or(false)
            && ledger.block_confirmed(&txn, h).unwrap_or(false)
    })
}

/// `n` sends spread over `accounts` fresh accounts (keys from `first_key` on): the
/// setup blocks (genesis sends and opens), the timed sends, and each account's head.
pub struct SpreadSends {
    pub setup: Vec<nano_core::Block>,
    pub timed: Vec<nano_core::Block>,
    pub heads: Vec<nano_core::BlockHash>,
}

pub fn spread_sends(n: usize, accounts: usize, first_key: u32) -> SpreadSends {
    use nano_ledger::test_support::{test_key, Chain};
    let mut g = Chain::dev_genesis();
    let mut setup = Vec::new();
    let mut chains: Vec<Chain> = (0..accounts as u32)
        .map(|i| Chain::unopened(test_key(first_key + i)))
        .collect();
    for c in chains.iter_mut() {
        let s = g.send(&c.account, 1_000_000);
        let h = s.hash();
        setup.push(s);
        setup.push(c.receive(&h, 1_000_000, nano_core::Epoch::Epoch0));
    }
    let dest = test_key(1).public();
    let timed = (0..n)
        .map(|i| chains[i % accounts].send(&dest, 1))
        .collect();
    SpreadSends {
        heads: chains.iter().map(|c| c.head).collect(),
        setup,
        timed,
    }
}

/// The node's peering port as reached from `src` (the same address family).
pub fn node_addr(src: IpAddr, port: u16) -> SocketAddr {
    let dst = match src {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    SocketAddr::new(dst, port)
}

/// Sends a query from `sock` (again, up to 5 times, while unanswered) and answers the
/// node's query with a fresh node id; true when the node answered.
pub async fn handshake_on(sock: &UdpSocket, to: SocketAddr) -> bool {
    let query = Message::NodeIdHandshake(Box::new(NodeIdHandshake::query(rand_cookie())));
    let bytes = query.to_bytes(Network::Dev).unwrap();
    let mut buf = vec![0u8; 2048];
    // The node rate-limits answers: ask again a few times before giving up.
    for _ in 0..5 {
        if sock.send_to(&bytes, to).await.is_err() {
            return false;
        }
        let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(500), sock.recv_from(&mut buf)).await
        else {
            continue;
        };
        let Ok((_, Message::NodeIdHandshake(h))) = decode_datagram(&buf[..n], Some(Network::Dev))
        else {
            continue;
        };
        let Some(cookie) = h.query else { return false };
        let key = KeyPair::random();
        let resp = HandshakeResponse::sign_v2(
            &cookie,
            rand_cookie(),
            Network::Dev.params().genesis_hash,
            &key,
        );
        let answer = Message::NodeIdHandshake(Box::new(NodeIdHandshake {
            query: None,
            response: Some(resp),
            v2: true,
        }));
        return sock
            .send_to(&answer.to_bytes(Network::Dev).unwrap(), to)
            .await
            .is_ok();
    }
    false
}

pub fn rand_cookie() -> [u8; 32] {
    rand::random()
}

/// Binds `n` sockets on `src` and completes a handshake from each, 64 at a time; returns
/// the sockets whose handshake the node answered.
pub async fn handshaken_sockets(src: IpAddr, port: u16, n: usize) -> Vec<UdpSocket> {
    let mut done = Vec::new();
    for chunk in 0..n.div_ceil(64) {
        let tasks: Vec<_> = (0..64.min(n - chunk * 64))
            .map(|_| {
                tokio::spawn(async move {
                    let sock = UdpSocket::bind(SocketAddr::new(src, 0)).await.ok()?;
                    handshake_on(&sock, node_addr(src, port))
                        .await
                        .then_some(sock)
                })
            })
            .collect();
        for t in tasks {
            if let Ok(Some(s)) = t.await {
                done.push(s);
            }
        }
    }
    done
}

/// Connects from `src` and sends a header with an invalid message type (one strike:
/// the node closes the connection and cools the address down); returns once the node
/// closed it.
pub async fn send_unframeable_header(src: IpAddr, port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut bad =
        nano_messages::Header::new(Network::Dev, nano_messages::MessageType::Keepalive, 0).encode();
    bad[5] = 0x09;
    let mut s = tcp_from(src, port).await.expect("connect");
    s.write_all(&bad).await.unwrap();
    let mut buf = [0u8; 64];
    let r = tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "bad header closed: {r:?}"
    );
}

/// What peers received: (peer index, what the test keeps of a message).
pub type PeerLog<T> = Arc<Mutex<Vec<(usize, T)>>>;

/// Sends `msg` as one datagram from a raw peer's `sock` to the node on 127.0.0.1:`port`.
pub async fn send_datagram(sock: &UdpSocket, port: u16, msg: &Message) {
    let to = node_addr(Ipv4Addr::LOCALHOST.into(), port);
    sock.send_to(&msg.to_bytes(Network::Dev).unwrap(), to)
        .await
        .unwrap();
}

/// `n` raw UDP peers from 127.0.0.1, each handshaken with the node on `port`; all of them
/// or the test fails.
pub async fn raw_udp_peers(port: u16, n: usize) -> Vec<Arc<UdpSocket>> {
    let socks: Vec<Arc<UdpSocket>> = handshaken_sockets(Ipv4Addr::LOCALHOST.into(), port, n)
        .await
        .into_iter()
        .map(Arc::new)
        .collect();
    assert_eq!(socks.len(), n);
    socks
}

/// Spawns one task per socket recording, for each datagram it receives (at most `max`),
/// what `keep` extracts from the decoded message. Abort the tasks when done.
pub fn record_peers<T: Send + 'static>(
    socks: &[Arc<UdpSocket>],
    max: usize,
    keep: fn(Message) -> Vec<T>,
) -> (PeerLog<T>, Vec<tokio::task::JoinHandle<()>>) {
    let log: PeerLog<T> = Arc::default();
    let tasks = socks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (s, log) = (s.clone(), log.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                for _ in 0..max {
                    let Ok((len, _)) = s.recv_from(&mut buf).await else {
                        return;
                    };
                    let Ok((_, msg)) = decode_datagram(&buf[..len], Some(Network::Dev)) else {
                        continue;
                    };
                    let got = keep(msg);
                    if !got.is_empty() {
                        let mut l = log.lock().unwrap();
                        l.extend(got.into_iter().map(|g| (i, g)));
                    }
                }
            })
        })
        .collect();
    (log, tasks)
}
