//! What tests and benchmarks need to run real dev-network nodes side by side on one
//! machine (feature `test-utils`): the node configuration they share, and the address
//! another node dials to reach one.

use nano_core::{KeyPair, Network};

use crate::node::Node;
use crate::{DaemonConfig, NodeConfig};

/// A dev-network node configuration for nodes on 127.0.0.1: an OS-assigned peering port
/// (so parallel tests never collide), TCP only (UDP counts receptions elsewhere and would
/// add a second transport to every exchange), local peers allowed, `peers` dialled at
/// start, and voting with `representative` when one is given.
pub fn dev_node_config(peers: Vec<String>, representative: Option<&KeyPair>) -> NodeConfig {
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.peering_port = 0;
    c.preconfigured_peers = peers;
    c.allow_local_peers = true;
    c.enable_udp = false;
    c.enable_voting = representative.is_some();
    if let Some(k) = representative {
        c.representative_key = k.private().encode_hex();
    }
    c
}

/// The `127.0.0.1:port` entry of `preconfigured_peers` by which another node reaches
/// `node` (which must run its network).
pub fn loopback_peer(node: &Node) -> String {
    let port = node
        .local_endpoint()
        .expect("the node runs its network")
        .port();
    format!("127.0.0.1:{port}")
}
