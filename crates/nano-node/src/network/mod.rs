//! The node's network layer: peering over TCP (and UDP datagrams, a project extension)
//! on the peering port, wire-compatible with the reference node at protocol 0x15.
//!
//! [`NetworkService`] owns the listener, outgoing dials, the node_id handshake, the
//! registry of realtime channels with their prioritised send queues, keepalive and peer
//! exchange, persisted peers, the representative crawler, telemetry and the duplicate
//! filter. Consensus sees it only through [`Outbound`] and receives realtime messages
//! through the [`Inbound`] set with [`NetworkService::set_inbound`]; legacy bootstrap
//! connections are handed to a [`BootstrapServer`].
//!
//! Sub-modules: `admission` (per-address caps before the handshake, peer exclusion),
//! [`kernel_filter`] (the same refusals applied in the kernel by a socket filter),
//! [`endpoint`] (address rules), [`node_id`] (identity file), [`channel`]
//! (channels and queues), `registry` (the channel table and its UDP index),
//! `handshake` (syn cookies), `tcp` and `udp` (transports; `udp_send` batches what is
//! sent to UDP channels, `udp_budget` bounds what one address or subnetwork may have
//! the UDP receive loop handle),
//! `peering` (keepalive, dialling, persistence), [`rep_crawler`], [`telemetry`],
//! [`filter`], [`bootstrap`] (the hand-off trait).

mod admission;
pub mod bootstrap;
mod bootstrap_pacer;
mod capture;
pub mod channel;
pub mod endpoint;
pub mod filter;
mod handshake;
pub mod kernel_filter;
pub(crate) mod limiter;
pub mod node_id;
mod peering;
mod quick_ack;
mod registry;
pub mod rep_crawler;
mod tcp;
pub mod telemetry;
mod udp;
mod udp_budget;
mod udp_send;

use std::io;
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::sync::atomic::{AtomicU16, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use nano_core::{Amount, KeyPair, NetworkParams, PublicKey};
use nano_ledger::Ledger;
use nano_messages::{Header, Message};
use rand::seq::IndexedRandom;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::NodeConfig;
use crate::events::EventBus;
use crate::interfaces::{
    fanout, ChannelId, ChannelInfo, Inbound, NullInbound, Outbound, PrincipalRep, TrafficType,
    OWN_VOTE_FLOOD_SCALE, PLAIN_FLOOD_SCALE,
};
use crate::stats::Stats;

pub use admission::{EXCLUSION_SCORE_LIMIT, MISBEHAVIOUR_COOLDOWN};
pub use bootstrap::{BootstrapConnection, BootstrapServer, CloseBootstrap};
pub use channel::{PeerInfo, Transport};
pub use node_id::{load_or_create_node_id, NODE_ID_FILE};
pub use rep_crawler::Representative;
pub use telemetry::PeerTelemetry;

use channel::{Admit, Channel};
use filter::DuplicateFilter;
use handshake::{HandshakeFailure, SynCookies};
use limiter::{BandwidthLimiter, TokenBucket};

/// Switches that the config file does not carry: test scenarios and tuning.
#[derive(Debug, Clone)]
pub struct NetworkFlags {
    /// No realtime traffic over TCP (no dials, handshakes refused); bootstrap
    /// connections are still classified and handed over. With UDP on, peers then talk
    /// over datagrams only (the reference node's `disable_tcp_realtime`).
    pub disable_tcp_realtime: bool,
    pub disable_rep_crawler: bool,
    pub disable_telemetry: bool,
    /// Messages per second accepted from one channel (0 = unlimited); a peer exceeding
    /// it by more than a second's worth within a second is disconnected. Over UDP it is
    /// also what one address may send, all its source ports together (twice that for a
    /// subnetwork), before the rest of the second's datagrams are dropped (`udp_budget`).
    pub inbound_messages_per_sec: u64,
    /// How often the representative crawler queries peers (default: 1 s dev, 7 s else).
    pub rep_crawler_period: Option<Duration>,
    /// How often online weight is sampled into the store (default 300 s).
    pub weight_period: Option<Duration>,
    /// How long an address is refused per strike once it reached the exclusion limit
    /// (malformed frames, another network or genesis); the reference node's one hour.
    pub exclusion_period: Duration,
    /// How long an address is refused after one strike below the exclusion limit
    /// (default [`MISBEHAVIOUR_COOLDOWN`]).
    pub misbehaviour_cooldown: Duration,
    /// Drop packets from refused addresses in the kernel ([`kernel_filter`]; Linux
    /// only). Off, they are refused at `accept` and in the UDP receive loop alone.
    pub kernel_filter: bool,
    /// Charge UDP datagrams to their address's and subnetwork's receive budget
    /// (`udp_budget`). Off only to measure what the budget buys: then one host's many
    /// source ports are bounded by each channel's rate and the handshake caps alone.
    pub udp_receive_budget: bool,
}

impl Default for NetworkFlags {
    fn default() -> Self {
        NetworkFlags {
            disable_tcp_realtime: false,
            disable_rep_crawler: false,
            disable_telemetry: false,
            inbound_messages_per_sec: 50_000,
            rep_crawler_period: None,
            weight_period: None,
            exclusion_period: Duration::from_secs(3600),
            misbehaviour_cooldown: MISBEHAVIOUR_COOLDOWN,
            kernel_filter: true,
            udp_receive_budget: true,
        }
    }
}

/// Everything [`NetworkService::new`] needs.
pub struct NetworkInit {
    pub params: &'static NetworkParams,
    pub config: NodeConfig,
    /// The persistent node-ID key ([`load_or_create_node_id`]).
    pub node_id: KeyPair,
    pub ledger: Arc<Ledger>,
    pub stats: Arc<Stats>,
    pub events: EventBus,
    pub flags: NetworkFlags,
}

/// The network layer. Cheap to clone (all clones are the same service).
#[derive(Clone)]
pub struct NetworkService {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    params: &'static NetworkParams,
    config: NodeConfig,
    flags: NetworkFlags,
    key: KeyPair,
    node_id: PublicKey,
    ledger: Arc<Ledger>,
    stats: Arc<Stats>,
    events: EventBus,
    inbound: RwLock<Arc<dyn Inbound>>,
    bootstrap: RwLock<Arc<dyn BootstrapServer>>,
    channels: Mutex<registry::ChannelTable>,
    next_channel_id: AtomicU64,
    tcp_cookies: SynCookies,
    udp_cookies: SynCookies,
    filter: DuplicateFilter,
    bandwidth: BandwidthLimiter,
    /// Bootstrap messages waiting for `bandwidth`'s bootstrap budget.
    pacer: Arc<bootstrap_pacer::BootstrapPacer>,
    udp_handshakes: TokenBucket,
    /// What each address and subnetwork may make the UDP receive loop handle.
    udp_budget: udp_budget::ReceiveBudget,
    port: AtomicU16,
    udp: OnceLock<Arc<UdpSocket>>,
    /// What waits to be sent to UDP channels (all of them share the socket).
    udp_out: udp_send::UdpQueue,
    capture: OnceLock<capture::Capture>,
    /// Whether the sockets are IPv6 (dual-stack); false after falling back to IPv4.
    ipv6: std::sync::atomic::AtomicBool,
    token: CancellationToken,
    tracker: TaskTracker,
    started: Instant,
    admission: Arc<admission::Admission>,
    kernel_filter: kernel_filter::KernelFilter,
    outbound_attempts: AtomicUsize,
    peering: peering::PeeringState,
    reps: rep_crawler::RepCrawler,
    telemetry: telemetry::TelemetryState,
}

/// Wall-clock milliseconds since the Unix epoch.
pub(crate) fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl NetworkService {
    pub fn new(init: NetworkInit) -> NetworkService {
        let params = init.params;
        let exclusion_period = init.flags.exclusion_period;
        let cooldown = init.flags.misbehaviour_cooldown;
        let kernel_filter = init.flags.kernel_filter;
        let udp_budget = udp_budget::ReceiveBudget::new(
            init.flags
                .inbound_messages_per_sec
                .saturating_mul(udp_budget::WINDOW.as_secs()),
            params.max_peers_per_ip,
        );
        let bandwidth = BandwidthLimiter::new(&init.config);
        let inner = Inner {
            params,
            node_id: init.node_id.public(),
            key: init.node_id,
            flags: init.flags,
            ledger: init.ledger,
            stats: init.stats,
            events: init.events,
            inbound: RwLock::new(Arc::new(NullInbound)),
            bootstrap: RwLock::new(Arc::new(CloseBootstrap)),
            channels: Mutex::new(registry::ChannelTable::default()),
            next_channel_id: AtomicU64::new(1),
            tcp_cookies: SynCookies::new(params.max_peers_per_ip),
            udp_cookies: SynCookies::new(params.max_peers_per_ip),
            filter: DuplicateFilter::new(256 * 1024),
            bandwidth,
            pacer: Arc::new(bootstrap_pacer::BootstrapPacer::default()),
            udp_handshakes: TokenBucket::new(500),
            udp_budget,
            port: AtomicU16::new(0),
            udp: OnceLock::new(),
            udp_out: udp_send::new_queue(init.config.tcp_incoming_connections_max as usize),
            capture: OnceLock::new(),
            ipv6: std::sync::atomic::AtomicBool::new(true),
            token: CancellationToken::new(),
            tracker: TaskTracker::new(),
            started: Instant::now(),
            admission: Arc::new(admission::Admission::new(
                init.config.tcp_incoming_connections_max as usize,
                params.max_peers_per_ip,
                params.max_peers_per_subnetwork,
                exclusion_period,
                cooldown,
            )),
            kernel_filter: kernel_filter::KernelFilter::new(kernel_filter),
            outbound_attempts: AtomicUsize::new(0),
            peering: peering::PeeringState::default(),
            reps: rep_crawler::RepCrawler::default(),
            telemetry: telemetry::TelemetryState::default(),
            config: init.config,
        };
        NetworkService {
            inner: Arc::new(inner),
        }
    }

    /// Sets where realtime messages from peers go (consensus is built after the network).
    pub fn set_inbound(&self, inbound: Arc<dyn Inbound>) {
        *self
            .inner
            .inbound
            .write()
            .unwrap_or_else(|e| e.into_inner()) = inbound;
    }

    /// Sets who serves legacy bootstrap connections (default: they are closed).
    pub fn set_bootstrap_server(&self, server: Arc<dyn BootstrapServer>) {
        *self
            .inner
            .bootstrap
            .write()
            .unwrap_or_else(|e| e.into_inner()) = server;
    }

    /// Binds the peering port (TCP and, unless disabled, UDP on the same port), then
    /// starts accepting, dialling stored and preconfigured peers, keepalive, the rep
    /// crawler and telemetry. Returns once the sockets are bound.
    pub async fn start(&self) -> io::Result<()> {
        let inner = &self.inner;
        if !inner.config.capture_path.is_empty() {
            let cap = capture::Capture::open(std::path::Path::new(&inner.config.capture_path))?;
            let _ = inner.capture.set(cap);
        }
        let listener = tcp::bind(inner, inner.config.peering_port).await?;
        let port = listener.local_addr()?.port();
        inner.port.store(port, Ordering::Relaxed);
        tracing::info!(port, node_id = %inner.node_id.encode_node_id(), "peering port bound");
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsFd;
            inner
                .kernel_filter
                .add(kernel_filter::Socket::Listener, listener.as_fd());
        }
        inner.tracker.spawn(tcp::listen(inner.clone(), listener));
        inner.tracker.spawn(bootstrap_pacer::run(
            inner.clone(),
            inner.pacer.clone(),
            inner.token.clone(),
        ));
        if inner.config.enable_udp {
            match udp::bind(inner, port).await {
                Ok(sock) => {
                    #[cfg(target_os = "linux")]
                    {
                        use std::os::fd::AsFd;
                        inner
                            .kernel_filter
                            .add(kernel_filter::Socket::Udp, sock.as_fd());
                    }
                    let sock = Arc::new(sock);
                    let _ = inner.udp.set(sock.clone());
                    inner
                        .tracker
                        .spawn(udp::receive_loop(inner.clone(), sock.clone()));
                    inner
                        .tracker
                        .spawn(udp_send::send_loop(inner.clone(), sock));
                }
                Err(e) => tracing::warn!(port, error = %e, "UDP disabled: cannot bind"),
            }
        }
        if inner.kernel_filter.enabled() {
            inner
                .tracker
                .spawn(kernel_filter::follow_admission(inner.clone()));
        }
        peering::start(inner);
        if !inner.flags.disable_rep_crawler {
            inner.tracker.spawn(rep_crawler::crawl_loop(inner.clone()));
        }
        inner.tracker.spawn(rep_crawler::sample_loop(inner.clone()));
        if !inner.flags.disable_telemetry {
            inner
                .tracker
                .spawn(telemetry::broadcast_loop(inner.clone()));
        }
        Ok(())
    }

    /// Stops every task and connection, saving the known peers first; returns when all
    /// network tasks have ended (bounded by a few seconds).
    pub async fn stop(&self) {
        let inner = &self.inner;
        if !inner.token.is_cancelled() {
            peering::save_peers(inner).await;
        }
        inner.token.cancel();
        inner.tracker.close();
        if tokio::time::timeout(Duration::from_secs(5), inner.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("network tasks did not stop within 5 s");
        }
        inner.channels_lock().clear();
        inner.kernel_filter.clear();
        if let Some(c) = inner.capture.get() {
            c.close();
        }
    }

    /// Whether packets from refused addresses are dropped in the kernel
    /// ([`kernel_filter`]): on Linux unless [`NetworkFlags::kernel_filter`] is off.
    pub fn kernel_filter_enabled(&self) -> bool {
        self.inner.kernel_filter.enabled()
    }

    /// The addresses the kernel filter on the listener (or the UDP socket) drops now.
    pub fn kernel_filtered(&self, udp: bool) -> Vec<Ipv6Addr> {
        let which = if udp {
            kernel_filter::Socket::Udp
        } else {
            kernel_filter::Socket::Listener
        };
        self.inner.kernel_filter.listed(which)
    }

    /// The addresses whose node_id handshakes the kernel filter on the UDP socket drops
    /// now (over their handshake budget).
    pub fn kernel_filtered_handshakes(&self) -> Vec<Ipv6Addr> {
        self.inner
            .kernel_filter
            .listed_handshakes(kernel_filter::Socket::Udp)
    }

    /// The subnetworks (network addresses) the kernel filter on the UDP socket drops now
    /// (over their receive budget).
    pub fn kernel_filtered_udp_subnets(&self) -> Vec<Ipv6Addr> {
        self.inner
            .kernel_filter
            .listed_subnets(kernel_filter::Socket::Udp)
    }

    /// The subnetworks (network addresses) the kernel filter on the listener drops now.
    pub fn kernel_filtered_subnets(&self) -> Vec<Ipv6Addr> {
        self.inner
            .kernel_filter
            .listed_subnets(kernel_filter::Socket::Listener)
    }

    /// The bound peering port (0 before [`Self::start`]).
    pub fn local_port(&self) -> u16 {
        self.inner.port.load(Ordering::Relaxed)
    }

    /// `[::1]:port`, where tests and local tools reach this node.
    pub fn local_endpoint(&self) -> SocketAddrV6 {
        SocketAddrV6::new(Ipv6Addr::LOCALHOST, self.local_port(), 0, 0)
    }

    pub fn node_id(&self) -> PublicKey {
        self.inner.node_id
    }

    /// Every live channel (TCP and UDP), for the `peers` RPC.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let mut v: Vec<PeerInfo> = self
            .inner
            .all_channels()
            .iter()
            .map(|c| c.peer_info())
            .collect();
        v.sort_by_key(|p| p.channel);
        v
    }

    /// Open inbound TCP connections (handshaking, realtime and bootstrap), as admitted
    /// against `tcp_incoming_connections_max`.
    pub fn inbound_connections(&self) -> usize {
        self.inner.admission.open()
    }

    /// Open inbound TCP connections from one address (held to `max_peers_per_ip`).
    pub fn inbound_connections_from(&self, ip: std::net::IpAddr) -> usize {
        let ip = endpoint::normalize(SocketAddr::new(ip, 0));
        self.inner.admission.open_from(ip.ip())
    }

    /// Distinct peers (by node id) with a live channel of any transport.
    pub fn peer_count(&self) -> usize {
        self.inner.distinct_channels().len()
    }

    /// Representatives seen answering (or voting) with weight, newest first.
    pub fn representatives(&self) -> Vec<Representative> {
        self.inner.reps.representatives(&self.inner)
    }

    /// `all` split into the channels of principal representatives and the others. A
    /// representative is matched by node id, so the one distinct channel of a peer
    /// reachable over both transports is the one that counts.
    fn split_principal<'a>(
        &self,
        all: &'a [Arc<Channel>],
    ) -> (Vec<Arc<Channel>>, Vec<&'a Arc<Channel>>) {
        let trended = self.trended_online_weight();
        let reps: std::collections::HashSet<PublicKey> = self
            .representatives()
            .into_iter()
            .filter(|r| rep_crawler::is_principal(self.inner.ledger.weight(&r.account), trended))
            .map(|r| r.channel.node_id)
            .collect();
        let (prs, others): (Vec<&Arc<Channel>>, Vec<&Arc<Channel>>) =
            all.iter().partition(|c| reps.contains(&c.info.node_id));
        (prs.into_iter().cloned().collect(), others)
    }

    /// Sum of the weights of representatives seen within the weight period (300 s).
    pub fn online_weight(&self) -> Amount {
        self.inner.reps.online_weight(&self.inner)
    }

    /// max(median of stored online-weight samples, online_weight_minimum): what quorum
    /// is computed against.
    pub fn trended_online_weight(&self) -> Amount {
        self.inner.reps.trended(&self.inner)
    }

    /// Records an online-weight sample now (normally every weight period).
    pub fn sample_online_weight(&self) {
        rep_crawler::sample(&self.inner);
    }

    /// The latest valid telemetry of each peer, within the cache cutoff.
    pub fn telemetry(&self) -> Vec<PeerTelemetry> {
        self.inner.telemetry.snapshot(&self.inner)
    }

    /// Where telemetry reads the count of blocks waiting for a dependency.
    pub fn set_unchecked_count_source(&self, source: telemetry::UncheckedCountSource) {
        self.inner.telemetry.set_unchecked_source(source);
    }

    /// Our own telemetry as we would send it now.
    pub fn local_telemetry(&self) -> nano_messages::TelemetryData {
        telemetry::build(&self.inner)
    }

    /// Queues a connection attempt to `endpoint` (the `keepalive` RPC, tests).
    pub fn connect(&self, endpoint: SocketAddr) {
        peering::enqueue(&self.inner, endpoint::normalize(endpoint), true);
    }

    /// The duplicate filter, so consensus can forget a payload it wants to see again.
    pub fn duplicate_filter(&self) -> &DuplicateFilter {
        &self.inner.filter
    }

    pub fn stats(&self) -> &Arc<Stats> {
        &self.inner.stats
    }
}

impl Outbound for NetworkService {
    fn send(&self, channel: ChannelId, msg: &Message, traffic: TrafficType) -> bool {
        let Some(ch) = self.inner.channel(channel) else {
            return false;
        };
        let Some(bytes) = self.inner.encode(msg) else {
            return false;
        };
        self.inner.push(
            &ch,
            bytes,
            msg.message_type().as_str(),
            traffic,
            DropPolicy::Limiter,
        )
    }

    fn flood(&self, msg: &Message, scale: f32) -> usize {
        let all = self.inner.distinct_channels();
        let list: Vec<&Arc<Channel>> = all.iter().collect();
        let list = random_subset(&list, fanout(all.len(), scale));
        self.inner
            .send_to_all(&list, msg, TrafficType::Realtime, DropPolicy::Limiter)
    }

    fn broadcast(&self, msg: &Message) -> usize {
        let list = self.inner.distinct_channels();
        self.inner
            .send_to_all(&list, msg, TrafficType::Realtime, DropPolicy::Limiter)
    }

    fn flood_initial(&self, msg: &Message) -> usize {
        // The reference's `flood_block_initial`: every principal representative, then
        // `list_non_pr (fanout (1.0))`: the count is taken over all channels, drawn from
        // those that are not a principal representative's. An account with a sliver of
        // weight voting from many channels gets no more than any other peer. What this
        // node originates is sent whatever the bandwidth limit (`no_limiter_drop`).
        let all = self.inner.distinct_channels();
        let (prs, others) = self.split_principal(&all);
        let others = random_subset(&others, fanout(all.len(), PLAIN_FLOOD_SCALE));
        self.inner
            .send_to_all(&prs, msg, TrafficType::Realtime, DropPolicy::Never)
            + self
                .inner
                .send_to_all(&others, msg, TrafficType::Realtime, DropPolicy::Never)
    }

    fn flood_own_vote(&self, msg: &Message) -> usize {
        // The reference's `vote_generator::broadcast_action`: `flood_vote_pr` (every
        // principal representative, whatever the bandwidth limit) and `flood_vote (vote,
        // 2.0f)` (random channels of all, principal ones included, under the limit). A
        // representative drawn again is not sent the same vote twice.
        let all = self.inner.distinct_channels();
        let (prs, _) = self.split_principal(&all);
        let every: Vec<&Arc<Channel>> = all.iter().collect();
        let drawn = random_subset(&every, fanout(all.len(), OWN_VOTE_FLOOD_SCALE));
        let drawn: Vec<Arc<Channel>> = drawn
            .into_iter()
            .filter(|c| !prs.iter().any(|p| p.info.id == c.info.id))
            .collect();
        self.inner
            .send_to_all(&prs, msg, TrafficType::Realtime, DropPolicy::Never)
            + self
                .inner
                .send_to_all(&drawn, msg, TrafficType::Realtime, DropPolicy::Limiter)
    }

    fn principal_representatives(&self) -> Vec<PrincipalRep> {
        let trended = self.trended_online_weight();
        let mut reps: Vec<(Amount, PrincipalRep)> = self
            .representatives()
            .into_iter()
            .map(|r| (self.inner.ledger.weight(&r.account), r))
            .filter(|(w, _)| rep_crawler::is_principal(*w, trended))
            .map(|(w, r)| {
                (
                    w,
                    PrincipalRep {
                        account: r.account,
                        channel: r.channel.id,
                    },
                )
            })
            .collect();
        reps.sort_by_key(|r| std::cmp::Reverse(r.0));
        reps.into_iter().map(|(_, r)| r).collect()
    }

    fn channels(&self) -> Vec<ChannelInfo> {
        self.inner
            .distinct_channels()
            .iter()
            .map(|c| c.info.clone())
            .collect()
    }
}

impl Inner {
    pub(crate) fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn channels_lock(&self) -> std::sync::MutexGuard<'_, registry::ChannelTable> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn channel(&self, id: ChannelId) -> Option<Arc<Channel>> {
        self.channels_lock().get(&id).cloned()
    }

    pub(crate) fn all_channels(&self) -> Vec<Arc<Channel>> {
        self.channels_lock().values().cloned().collect()
    }

    /// One channel per node id, TCP preferred: what sending and consensus use, so a peer
    /// reachable over both transports gets each message once.
    pub(crate) fn distinct_channels(&self) -> Arc<[Arc<Channel>]> {
        self.channels_lock().distinct()
    }

    pub(crate) fn udp_channel(&self, ep: &SocketAddrV6) -> Option<Arc<Channel>> {
        self.channels_lock().udp(ep).cloned()
    }

    /// Why a UDP handshake from `from` could not end in a channel (the stat detail to
    /// count), judged before any signature is made or checked: its address, subnetwork
    /// or the node is at a UDP channel cap, and `from` holds no channel a new handshake
    /// would replace. The caps are those [`Self::check_channel_caps`] applies when
    /// registering.
    pub(crate) fn udp_cap_reached(&self, from: &SocketAddrV6) -> Option<&'static str> {
        let table = self.channels_lock();
        if table.udp(from).is_some() {
            return None;
        }
        let load = table.udp_load(from.ip());
        if load.per_ip >= self.params.max_peers_per_ip {
            Some("refused_handshake_ip_limit")
        } else if load.per_subnetwork >= self.params.max_peers_per_subnetwork {
            Some("refused_handshake_subnetwork_limit")
        } else if load.total >= self.config.tcp_incoming_connections_max as usize {
            Some("refused_handshake_limit")
        } else {
            None
        }
    }

    pub(crate) fn encode(&self, msg: &Message) -> Option<Bytes> {
        match msg.to_bytes(self.params.network) {
            Ok(v) => Some(Bytes::from(v)),
            Err(e) => {
                tracing::debug!(error = %e, "cannot encode message");
                self.stats.inc("error", "encode", "out");
                None
            }
        }
    }

    /// Queues encoded bytes on a channel, applying the bandwidth limit of its traffic
    /// type; counts the message or the drop.
    pub(crate) fn push(
        &self,
        ch: &Arc<Channel>,
        bytes: Bytes,
        kind: &'static str,
        traffic: TrafficType,
        drop: DropPolicy,
    ) -> bool {
        if ch.is_closed() {
            return false;
        }
        // Bootstrap messages over the budget wait for it (bounded) rather than being
        // lost without a word; once some wait, the rest queue behind them.
        let paced = traffic == TrafficType::Bootstrap
            && drop == DropPolicy::Limiter
            && ch.transport == Transport::Tcp;
        if paced && self.pacer.is_waiting() {
            return self.hold_for_budget(ch, bytes, kind);
        }
        let pass = self.bandwidth.should_pass(bytes.len(), traffic);
        if !pass && drop == DropPolicy::Limiter {
            if paced {
                return self.hold_for_budget(ch, bytes, kind);
            }
            self.stats.inc("drop", "bandwidth_limit", "out");
            self.stats.inc("drop", kind, "out");
            return false;
        }
        self.queue_on_channel(ch, bytes, kind, traffic)
    }

    /// Hands a bootstrap message to the pacer; past its bounds it is dropped as before.
    fn hold_for_budget(&self, ch: &Arc<Channel>, bytes: Bytes, kind: &'static str) -> bool {
        match self
            .pacer
            .hold(self.bandwidth.bootstrap_bucket(), ch, bytes, kind)
        {
            Ok(()) => {
                self.stats.inc("bandwidth", "paced", "out");
                true
            }
            Err(full) => {
                self.stats.inc("drop", "bandwidth_limit", "out");
                self.stats.inc("drop", kind, "out");
                let why = match full {
                    bootstrap_pacer::Full::All => "paced_full",
                    bootstrap_pacer::Full::Channel => "paced_channel_full",
                    bootstrap_pacer::Full::TooLarge => "paced_too_large",
                };
                self.stats.inc("drop", why, "out");
                false
            }
        }
    }

    /// Puts bytes that passed the bandwidth limit on the channel's send queue (TCP) or
    /// the shared UDP queue; counts the message or the drop.
    pub(crate) fn queue_on_channel(
        &self,
        ch: &Arc<Channel>,
        bytes: Bytes,
        kind: &'static str,
        traffic: TrafficType,
    ) -> bool {
        if ch.is_closed() {
            return false;
        }
        let refused = match ch.transport {
            Transport::Tcp => (!ch.queue.push(bytes, traffic)).then_some(None),
            Transport::Udp => self
                .udp_out
                .push(
                    udp_send::Queued {
                        ch: ch.clone(),
                        to: udp::target(self, ch.info.endpoint),
                        bytes,
                    },
                    traffic,
                )
                .err()
                .map(Some),
        };
        match refused {
            None => {
                self.stats.inc("message", kind, "out");
                true
            }
            Some(udp) => {
                self.stats.inc("drop", "queue_full", "out");
                match udp {
                    Some(udp_send::Refused::Full) => {
                        self.stats.inc("drop", "udp_queue_full", "out")
                    }
                    Some(udp_send::Refused::ChannelShare) => {
                        self.stats.inc("drop", "udp_channel_share", "out")
                    }
                    Some(udp_send::Refused::AddressShare) => {
                        self.stats.inc("drop", "udp_address_share", "out")
                    }
                    None => {}
                }
                false
            }
        }
    }

    fn send_to_all(
        &self,
        list: &[Arc<Channel>],
        msg: &Message,
        traffic: TrafficType,
        drop: DropPolicy,
    ) -> usize {
        let Some(bytes) = self.encode(msg) else {
            return 0;
        };
        let kind = msg.message_type().as_str();
        list.iter()
            .filter(|c| self.push(c, bytes.clone(), kind, traffic, drop))
            .count()
    }

    fn next_id(&self) -> ChannelId {
        self.next_channel_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Builds a channel for a peer that passed the handshake.
    pub(crate) fn new_channel(
        &self,
        endpoint: SocketAddrV6,
        node_id: PublicKey,
        protocol_version: u8,
        transport: Transport,
        dialled: bool,
        peering: Option<SocketAddrV6>,
    ) -> Arc<Channel> {
        Arc::new(Channel::new(
            ChannelInfo {
                id: self.next_id(),
                endpoint,
                node_id,
                protocol_version,
            },
            transport,
            dialled,
            peering,
            self.token.child_token(),
            self.now_ms(),
            self.flags.inbound_messages_per_sec,
        ))
    }

    /// Adds a handshaken channel, unless one already exists for that node id from the
    /// same IP. Of two TCP connections between the same pair of nodes, both ends keep
    /// the one dialled by the node with the smaller node id, so simultaneous dials
    /// settle on the same connection instead of each end dropping a different one.
    pub(crate) fn register(&self, ch: &Arc<Channel>) -> Result<(), HandshakeFailure> {
        let mut map = self.channels_lock();
        let ip = *ch.info.endpoint.ip();
        let mut replace = None;
        for e in map.values() {
            if e.transport != ch.transport || e.is_closed() {
                continue;
            }
            let same_peer = e.info.node_id == ch.info.node_id && *e.info.endpoint.ip() == ip;
            if ch.transport == Transport::Udp {
                if same_peer || e.info.endpoint == ch.info.endpoint {
                    replace = Some(e.clone());
                }
                continue;
            }
            if same_peer {
                let dialer = |c: &Channel| {
                    if c.dialled {
                        self.node_id
                    } else {
                        c.info.node_id
                    }
                };
                let (new_d, old_d) = (dialer(ch), dialer(e));
                if new_d < old_d {
                    replace = Some(e.clone());
                } else {
                    return Err(HandshakeFailure::Duplicate);
                }
            }
        }
        if replace.is_none() {
            self.check_channel_caps(&map, ch)?;
        }
        if let Some(old) = replace {
            map.remove(&old.info.id);
            old.closed.cancel();
        }
        map.insert(ch.clone());
        drop(map);
        self.stats.inc("channel", ch.transport.as_str(), "new");
        Ok(())
    }

    /// The caps a new channel must fit under, the same for both transports: at most
    /// `max_peers_per_ip` channels per address and `max_peers_per_subnetwork` per
    /// subnetwork. UDP channels also have a global cap, `tcp_incoming_connections_max`,
    /// as a datagram peer needs no connection the listener could have refused.
    fn check_channel_caps(
        &self,
        map: &registry::ChannelTable,
        ch: &Channel,
    ) -> Result<(), HandshakeFailure> {
        let live = || {
            map.values()
                .filter(|e| e.transport == ch.transport && !e.is_closed())
        };
        let ip = ch.info.endpoint.ip();
        let refuse = |what: &str| {
            self.stats.inc(ch.transport.as_str(), what, "in");
            Err(HandshakeFailure::Refused)
        };
        if live().filter(|e| e.info.endpoint.ip() == ip).count() >= self.params.max_peers_per_ip {
            return refuse("refused_channel_ip_limit");
        }
        let subnet = subnetwork(ip);
        let per_subnet = live()
            .filter(|e| subnetwork(e.info.endpoint.ip()) == subnet)
            .count();
        if per_subnet >= self.params.max_peers_per_subnetwork {
            return refuse("refused_channel_subnetwork_limit");
        }
        if ch.transport == Transport::Udp
            && live().count() >= self.config.tcp_incoming_connections_max as usize
        {
            return refuse("refused_channel_limit");
        }
        Ok(())
    }

    pub(crate) fn remove_channel(&self, ch: &Channel) {
        ch.closed.cancel();
        let removed = self.channels_lock().remove(&ch.info.id).is_some();
        if removed {
            self.stats.inc("channel", ch.transport.as_str(), "closed");
            self.telemetry.remove(ch.info.id);
        }
    }

    /// Called once a channel is registered: tell the peer our listening port and
    /// known peers, and offer UDP to TCP peers.
    pub(crate) fn on_channel_established(&self, ch: &Arc<Channel>) {
        tracing::debug!(
            peer = %ch.info.endpoint,
            transport = ch.transport.as_str(),
            node_id = %ch.info.node_id.encode_account(),
            "channel established"
        );
        peering::send_keepalive(self, ch);
        if ch.transport == Transport::Tcp {
            if let Some(ep) = ch.peering_endpoint() {
                udp::initiate(self, ep);
            }
        }
    }

    pub(crate) fn fail_handshake(&self, f: HandshakeFailure, peer: &SocketAddrV6) {
        tracing::debug!(%peer, reason = f.as_str(), "handshake failed");
        self.stats.inc("handshake", "failed", "");
        self.stats.inc("handshake_failed", f.as_str(), "");
        if f == HandshakeFailure::WrongGenesis {
            // A signed answer for another ledger: never a useful peer.
            self.strike(peer, admission::EXCLUSION_SCORE_LIMIT);
        }
    }

    /// Counts misbehaviour against `peer`'s address (see [`admission`]).
    pub(crate) fn strike(&self, peer: &SocketAddrV6, strikes: u32) {
        self.stats.inc("peer", "misbehaved", "in");
        if self.admission.strike(*peer.ip(), strikes) {
            self.stats.inc("peer", "excluded", "in");
            tracing::info!(%peer, "address excluded after misbehaving");
        } else {
            self.stats.inc("peer", "cooldown", "in");
            tracing::debug!(%peer, "address cooled down after misbehaving");
        }
    }

    /// Strikes for a stream that could no longer be framed: another network's magic
    /// counts as much as the exclusion limit, any other broken header as one strike;
    /// an I/O error or a close mid-message is not the peer misbehaving.
    pub(crate) fn on_stream_error(&self, peer: &SocketAddrV6, e: &nano_messages::CodecError) {
        use nano_messages::{CodecError, HeaderError};
        let strikes = match e {
            CodecError::Header(HeaderError::WrongNetwork { .. })
            | CodecError::Header(HeaderError::UnknownNetwork(_)) => {
                admission::EXCLUSION_SCORE_LIMIT
            }
            CodecError::Header(_) => 1,
            _ => return,
        };
        self.stats.inc("error", "header", "in");
        self.strike(peer, strikes);
    }

    fn deliver(&self, ch: &Channel, msg: Message) {
        let handler = self
            .inbound
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        handler.on_message(&ch.info, msg);
    }

    /// One message received on a realtime channel (either transport), after framing.
    pub(crate) fn process_realtime(
        &self,
        ch: &Arc<Channel>,
        header: &Header,
        payload: &[u8],
        msg: Message,
    ) {
        let kind = header.message_type.as_str();
        self.stats.inc("message", kind, "in");
        ch.touch_recv(self.now_ms());
        match msg {
            Message::Keepalive(k) => peering::on_keepalive(self, ch, &k),
            Message::Publish(_) | Message::ConfirmAck(_) => {
                if let Message::ConfirmAck(a) = &msg {
                    if a.vote.account.is_zero() {
                        self.stats.inc("drop", "zero_account_vote", "in");
                        return;
                    }
                    // A vote from an account without weight can change nothing and costs
                    // its sender nothing to make: dropped before it costs a digest, a
                    // filter slot or a copy (consensus applies the configured minimum).
                    if self.ledger.weight(&a.vote.account).is_zero() {
                        self.stats.inc("drop", "vote_without_weight", "in");
                        return;
                    }
                }
                if self.filter.check_and_insert(payload) {
                    self.stats.inc("drop", "duplicate", "in");
                    return;
                }
                if let Message::ConfirmAck(a) = &msg {
                    self.reps.observe(self, ch, &a.vote);
                }
                self.deliver(ch, msg);
            }
            Message::ConfirmReq(_) | Message::AscPullReq(_) | Message::AscPullAck(_) => {
                self.deliver(ch, msg)
            }
            Message::TelemetryAck(t) => telemetry::on_ack(self, ch, t),
            Message::TelemetryReq => {}
            _ => self.stats.inc("drop", "not_realtime", "in"),
        }
    }

    /// Applies the channel's inbound rate; false when the message must not be processed
    /// (and closes the channel on a flood).
    pub(crate) fn admit(&self, ch: &Channel) -> bool {
        match ch.admit(self.now_ms()) {
            Admit::Accept => true,
            Admit::Drop => {
                self.stats.inc("drop", "rate_limited", "in");
                false
            }
            Admit::Disconnect => {
                self.stats.inc("drop", "rate_limited", "in");
                self.stats.inc("channel", "flood", "closed");
                tracing::info!(peer = %ch.info.endpoint, "disconnecting flooding peer");
                self.remove_channel(ch);
                false
            }
        }
    }

    pub(crate) fn handshake_timeout(&self) -> Duration {
        Duration::from_secs(self.config.tcp_io_timeout.clamp(1, 30))
    }

    pub(crate) fn io_timeout(&self) -> Duration {
        Duration::from_secs(self.config.tcp_io_timeout.max(1))
    }

    /// The endpoint to put in slot 0 of our keepalives.
    pub(crate) fn self_endpoint(&self) -> SocketAddrV6 {
        let c = &self.config;
        if c.external_port != 0 {
            if let Ok(ip) = c.external_address.parse::<std::net::IpAddr>() {
                if !ip.is_unspecified() {
                    return endpoint::normalize(SocketAddr::new(ip, c.external_port));
                }
            }
        }
        SocketAddrV6::new(
            Ipv6Addr::UNSPECIFIED,
            self.port.load(Ordering::Relaxed),
            0,
            0,
        )
    }
}

/// A random `n` of `list` (all when it holds fewer), drawn without shuffling the whole
/// list: a flood to a few of many peers costs what it sends.
fn random_subset(list: &[&Arc<Channel>], n: usize) -> Vec<Arc<Channel>> {
    list.choose_multiple(&mut rand::rng(), n.min(list.len()))
        .map(|c| (*c).clone())
        .collect()
}

/// Whether a message may be dropped when its traffic type is over its bandwidth limit
/// (the reference's buffer drop policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropPolicy {
    /// Dropped over the limit: floods, rebroadcasts, replies, keepalives, telemetry,
    /// bootstrap requests and answers.
    Limiter,
    /// Sent anyway (still counted against the limit): this node's own blocks and
    /// votes, and the representative crawler's queries.
    Never,
}

/// The subnetwork an address counts against for `max_peers_per_subnetwork`: the /64 for
/// IPv6, the /24 (as /120 of the mapped form) for IPv4-mapped addresses, so one operator
/// with a block of addresses cannot take every slot.
pub(crate) fn subnetwork(ip: &std::net::Ipv6Addr) -> [u8; 16] {
    let mut b = ip.octets();
    let keep = if ip.to_ipv4_mapped().is_some() { 15 } else { 8 };
    for x in b.iter_mut().skip(keep) {
        *x = 0;
    }
    b
}

#[cfg(test)]
mod subnetwork_tests {
    use super::subnetwork;
    use std::net::Ipv6Addr;

    #[test]
    fn v6_by_64_and_v4_by_24() {
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(subnetwork(&a), subnetwork(&b));
        assert_ne!(subnetwork(&a), subnetwork(&c));
        let d: Ipv6Addr = "::ffff:10.0.0.1".parse().unwrap();
        let e: Ipv6Addr = "::ffff:10.0.0.200".parse().unwrap();
        let f: Ipv6Addr = "::ffff:10.0.1.1".parse().unwrap();
        assert_eq!(subnetwork(&d), subnetwork(&e));
        assert_ne!(subnetwork(&d), subnetwork(&f));
    }
}
