//! [`NodeHandle`] for the real [`nano_node::node::Node`]: how the API's node-backed
//! actions reach block processing, the network and elections.

use std::sync::Arc;
use std::time::Duration;

use nano_core::{Account, Amount, Block, BlockHash, PublicKey};
use nano_node::node::Node;
use serde_json::{json, Value};

use crate::context::{NodeHandle, NodeStatus};
use crate::error::ProcessRefusal;

/// How long an RPC waits for the block processor before giving up.
const PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

pub struct NodeGlue(pub Arc<Node>);

impl crate::ApiContext {
    /// Serves `node`: its ledger, wallets, statistics and events, and the node itself
    /// for the node-backed actions.
    pub fn attach(&mut self, node: &Arc<Node>) {
        self.ledger = Some(node.ledger.clone());
        self.wallets = Some(node.wallets.clone());
        self.stats = node.stats.clone();
        self.node = Some(Arc::new(NodeGlue(node.clone())));
        self.events = Some(node.events.clone());
    }
}

impl NodeHandle for NodeGlue {
    fn status(&self) -> NodeStatus {
        NodeStatus {
            peers: self.0.peers().len(),
            active_elections: self.0.active_elections().len(),
            block_queue: self.0.consensus.queue_len(),
        }
    }

    fn process(&self, block: Block, force: bool) -> Result<BlockHash, ProcessRefusal> {
        let hash = block.hash();
        let status = if force {
            // The forced path answers through a channel any executor can wait on, so it
            // needs no Tokio runtime on this (blocking) thread.
            futures::executor::block_on(self.0.process_forced(block))
        } else {
            self.0.process_local_blocking(block, PROCESS_TIMEOUT)
        };
        ProcessRefusal::check(status).map(|()| hash)
    }

    fn block_confirm(&self, hash: BlockHash) -> bool {
        self.0.block_confirm(&hash).is_ok()
    }

    fn peers(&self) -> Vec<crate::context::PeerEntry> {
        let text = |ep: std::net::SocketAddrV6| format!("[{}]:{}", ep.ip(), ep.port());
        let mut peers = self.0.peers();
        peers.sort_by_key(|p| p.endpoint);
        peers
            .into_iter()
            .map(|p| crate::context::PeerEntry {
                endpoint: text(p.endpoint),
                peering: text(p.peering_endpoint.unwrap_or(p.endpoint)),
                protocol_version: p.protocol_version,
                node_id: p.node_id,
                transport: p.transport.as_str(),
            })
            .collect()
    }

    fn representative_peers(&self) -> Vec<(Account, String)> {
        self.0
            .representatives_online()
            .into_iter()
            .map(|r| {
                let ep = r.channel.endpoint;
                (r.account, format!("[{}]:{}", ep.ip(), ep.port()))
            })
            .collect()
    }

    fn representatives_online(&self) -> Vec<(Account, Amount)> {
        self.0
            .representatives_online()
            .into_iter()
            .map(|r| (r.account, r.weight))
            .collect()
    }

    fn confirmation_quorum(&self) -> Value {
        let q = self.0.confirmation_quorum();
        json!({
            "quorum_delta": q.quorum_delta.encode_dec(),
            "online_weight_quorum_percent": q.online_weight_quorum_percent.to_string(),
            "online_weight_minimum": q.online_weight_minimum.encode_dec(),
            "online_stake_total": q.online_stake_total.encode_dec(),
            "trended_stake_total": q.trended_stake_total.encode_dec(),
            "peers_stake_total": q.peers_stake_total.encode_dec(),
        })
    }

    fn telemetry(&self) -> Vec<Value> {
        self.0.telemetry().iter().map(|t| t.to_json()).collect()
    }

    fn local_telemetry(&self) -> Option<Value> {
        let n = self.0.network.as_ref()?;
        let own = nano_node::interfaces::ChannelInfo {
            id: Default::default(),
            endpoint: std::net::SocketAddrV6::new(std::net::Ipv6Addr::LOCALHOST, 0, 0, 0),
            node_id: n.node_id(),
            protocol_version: nano_core::network::PROTOCOL_VERSION,
        };
        let mut v = nano_node::network::telemetry::to_json(&n.local_telemetry(), &own);
        if let Value::Object(m) = &mut v {
            m.shift_remove("address");
            m.shift_remove("port");
        }
        Some(v)
    }

    fn node_id(&self) -> PublicKey {
        self.0
            .network
            .as_ref()
            .map(|n| n.node_id())
            .unwrap_or(PublicKey::ZERO)
    }

    fn republish(&self, blocks: Vec<Block>) {
        if let Some(n) = &self.0.network {
            use nano_node::interfaces::Outbound;
            for b in blocks {
                let msg = nano_messages::Message::Publish(Box::new(nano_messages::Publish {
                    block: b,
                    originator: false,
                }));
                n.flood(&msg, nano_node::interfaces::PLAIN_FLOOD_SCALE);
            }
        }
    }

    fn confirmation_history(&self) -> Vec<Value> {
        let mut out: Vec<Value> = self
            .0
            .confirmation_history()
            .into_iter()
            .map(|e| {
                json!({
                    "hash": e.winner.encode_hex(),
                    "duration": e.duration.as_millis().to_string(),
                    "time": (e.started_ms + e.duration.as_millis() as u64).to_string(),
                    "tally": e.tally.encode_dec(),
                    "final": e.final_tally.encode_dec(),
                    "blocks": e.blocks.to_string(),
                    "voters": e.voters.to_string(),
                    "request_count": e.request_count.to_string(),
                })
            })
            .collect();
        out.reverse();
        out
    }

    fn active_elections(&self) -> Vec<nano_node::consensus::ElectionSummary> {
        self.0.active_elections()
    }

    fn election(
        &self,
        qr: &nano_core::QualifiedRoot,
    ) -> Option<(nano_node::consensus::ElectionSummary, Vec<Block>)> {
        let summary = self.0.election(qr)?;
        let candidates = self.0.consensus.election_candidates(qr)?;
        Some((summary, candidates))
    }

    fn max_elections(&self) -> usize {
        self.0.consensus.max_elections()
    }

    fn peering_port(&self) -> Option<u16> {
        self.0.local_endpoint().map(|ep| ep.port())
    }

    fn connect(&self, endpoint: std::net::SocketAddr) {
        if let Some(n) = &self.0.network {
            n.connect(endpoint);
        }
    }

    fn unchecked_count(&self) -> usize {
        self.0.consensus.unchecked_len()
    }

    fn unchecked_clear(&self) {
        self.0.consensus.unchecked_clear()
    }

    fn unchecked_entries(
        &self,
        start: &nano_core::BlockHash,
        max: usize,
    ) -> Vec<nano_node::consensus::UncheckedEntry> {
        self.0.consensus.unchecked_entries(start, max)
    }

    fn unchecked_entry(
        &self,
        hash: &nano_core::BlockHash,
    ) -> Option<nano_node::consensus::UncheckedEntry> {
        self.0.consensus.unchecked_entry(hash)
    }

    fn bootstrap_legacy(&self, request: nano_node::bootstrap::LegacyRequest) -> bool {
        self.0
            .bootstrap
            .as_ref()
            .is_some_and(|b| b.bootstrap_legacy(request))
    }

    fn bootstrap_ascending(&self) -> bool {
        self.0
            .bootstrap
            .as_ref()
            .is_some_and(|b| b.bootstrap_ascending())
    }

    fn bootstrap_status(&self) -> Option<Value> {
        self.0.bootstrap.as_ref().map(|b| b.status().to_json())
    }

    fn bootstrap_priorities(&self) -> Option<crate::context::BootstrapPriorities> {
        self.0.bootstrap.as_ref().map(|b| b.priority_info())
    }

    fn populate_backlog(&self) {
        self.0.consensus.populate_backlog()
    }

    fn container_info(&self) -> Value {
        self.0.container_info().to_json()
    }
}
