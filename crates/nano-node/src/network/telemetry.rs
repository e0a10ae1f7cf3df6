//! Telemetry: every telemetry interval this node signs a telemetry_ack with its real
//! ledger counts and sends it to every peer; received telemetry is checked (node id
//! matches the channel's handshake, signature, genesis) and kept per channel for the
//! `telemetry` RPC, and published on the event bus in the reference RPC's JSON shape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nano_core::network::PROTOCOL_VERSION;
use nano_messages::{Message, TelemetryData};
use serde_json::{json, Value};

use super::channel::Channel;
use super::{wall_ms, DropPolicy, Inner};
use crate::events::NodeEvent;
use crate::interfaces::{ChannelInfo, TrafficType};

/// The `maker` byte this implementation sends.
pub const MAKER: u8 = 0;

/// One peer's latest telemetry.
#[derive(Debug, Clone)]
pub struct PeerTelemetry {
    pub channel: ChannelInfo,
    pub data: TelemetryData,
    pub received: Instant,
}

impl PeerTelemetry {
    /// The entry as the reference `telemetry` RPC (raw) and WebSocket print it.
    pub fn to_json(&self) -> Value {
        to_json(&self.data, &self.channel)
    }
}

/// How many blocks this node holds waiting for a dependency, for the telemetry it sends.
/// The waiting blocks live with consensus (built after the network), so the node sets
/// the source once both exist.
pub type UncheckedCountSource = Arc<dyn Fn() -> u64 + Send + Sync>;

#[derive(Default)]
pub(super) struct TelemetryState {
    /// The latest answer of each live channel; an entry leaves with its channel, so
    /// there are at most as many as channels (bounded by the admission and UDP caps).
    by_channel: Mutex<HashMap<u64, PeerTelemetry>>,
    unchecked: Mutex<Option<UncheckedCountSource>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TelemetryState {
    pub(super) fn set_unchecked_source(&self, source: UncheckedCountSource) {
        *lock(&self.unchecked) = Some(source);
    }

    /// Blocks waiting for a dependency now; 0 until a source is set (a network built
    /// without consensus holds none).
    fn unchecked_count(&self) -> u64 {
        let source = lock(&self.unchecked).clone();
        source.map_or(0, |f| f())
    }

    pub(super) fn remove(&self, channel: u64) {
        lock(&self.by_channel).remove(&channel);
    }

    pub(super) fn snapshot(&self, inner: &Inner) -> Vec<PeerTelemetry> {
        let cutoff = Duration::from_millis(inner.params.telemetry_cache_cutoff_ms);
        let mut map = lock(&self.by_channel);
        map.retain(|_, t| t.received.elapsed() < cutoff);
        let mut v: Vec<PeerTelemetry> = map.values().cloned().collect();
        v.sort_by_key(|t| t.channel.id);
        v
    }
}

/// The reference JSON: numbers as decimal strings, hashes and signatures upper-case hex,
/// node id with the `node_` prefix, difficulty as 16 hex digits.
pub fn to_json(d: &TelemetryData, from: &ChannelInfo) -> Value {
    let node_id = d.node_id.encode_account().replacen("nano_", "node_", 1);
    json!({
        "block_count": d.block_count.to_string(),
        "cemented_count": d.cemented_count.to_string(),
        "unchecked_count": d.unchecked_count.to_string(),
        "account_count": d.account_count.to_string(),
        "bandwidth_cap": d.bandwidth_cap.to_string(),
        "peer_count": d.peer_count.to_string(),
        "protocol_version": d.protocol_version.to_string(),
        "uptime": d.uptime.to_string(),
        "genesis_block": d.genesis_block.encode_hex(),
        "major_version": d.major_version.to_string(),
        "minor_version": d.minor_version.to_string(),
        "patch_version": d.patch_version.to_string(),
        "pre_release_version": d.pre_release_version.to_string(),
        "maker": d.maker.to_string(),
        "timestamp": d.timestamp.to_string(),
        "active_difficulty": format!("{:016x}", d.active_difficulty),
        "node_id": node_id,
        "signature": d.signature.encode_hex(),
        "address": from.endpoint.ip().to_string(),
        "port": from.endpoint.port().to_string(),
    })
}

/// Our telemetry now, signed.
pub(super) fn build(inner: &Inner) -> TelemetryData {
    let ledger = &inner.ledger;
    let (blocks, accounts) = match ledger.read_txn() {
        Ok(txn) => (
            ledger.block_count(&txn).unwrap_or(0),
            ledger.account_count(&txn).unwrap_or(0),
        ),
        Err(_) => (0, 0),
    };
    let unchecked = inner.telemetry.unchecked_count();
    let version = |i: usize| {
        env!("CARGO_PKG_VERSION")
            .split('.')
            .nth(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    };
    let mut d = TelemetryData {
        block_count: blocks,
        cemented_count: ledger.cemented_count(),
        unchecked_count: unchecked,
        account_count: accounts,
        bandwidth_cap: inner.config.bandwidth_limit,
        peer_count: inner.distinct_channels().len() as u32,
        protocol_version: PROTOCOL_VERSION,
        uptime: inner.started.elapsed().as_secs(),
        genesis_block: inner.params.genesis_hash,
        major_version: version(0),
        minor_version: version(1),
        patch_version: version(2),
        pre_release_version: 0,
        maker: MAKER,
        timestamp: wall_ms(),
        active_difficulty: inner.params.work.base,
        ..TelemetryData::default()
    };
    d.sign(&inner.key);
    d
}

pub(super) async fn broadcast_loop(inner: Arc<Inner>) {
    let period = Duration::from_millis(inner.params.telemetry_interval_ms.max(100));
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = inner.token.cancelled() => break,
            _ = tick.tick() => {}
        }
        let list = inner.distinct_channels();
        if list.is_empty() {
            continue;
        }
        let i = inner.clone();
        let Ok(data) = tokio::task::spawn_blocking(move || build(&i)).await else {
            continue;
        };
        let Some(bytes) = inner.encode(&Message::TelemetryAck(Some(Box::new(data)))) else {
            continue;
        };
        for ch in list.iter() {
            inner.push(
                ch,
                bytes.clone(),
                "telemetry_ack",
                TrafficType::Background,
                DropPolicy::Limiter,
            );
        }
    }
}

pub(super) fn on_ack(inner: &Inner, ch: &Channel, data: Option<Box<TelemetryData>>) {
    let Some(data) = data else {
        inner.stats.inc("telemetry", "empty", "in");
        return;
    };
    if data.node_id != ch.info.node_id {
        inner.stats.inc("telemetry", "node_id_mismatch", "in");
        return;
    }
    if !data.verify_signature() {
        inner.stats.inc("telemetry", "invalid_signature", "in");
        return;
    }
    if data.genesis_block != inner.params.genesis_hash {
        inner.stats.inc("telemetry", "genesis_mismatch", "in");
        inner.remove_channel(ch);
        return;
    }
    inner.stats.inc("telemetry", "process", "in");
    let entry = PeerTelemetry {
        channel: ch.info.clone(),
        data: *data,
        received: Instant::now(),
    };
    inner.events.publish(NodeEvent::Telemetry {
        message: entry.to_json(),
    });
    lock(&inner.telemetry.by_channel).insert(ch.info.id, entry);
    // One entry per registered channel, so the table is bounded by the channel caps. A
    // channel removed while this answer was processed has already cleared its entry:
    // clear it again, or it would stay until the next `telemetry` call prunes it.
    if inner.channel(ch.info.id).is_none() {
        inner.telemetry.remove(ch.info.id);
    }
}
