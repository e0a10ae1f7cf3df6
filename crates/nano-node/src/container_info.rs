//! The node's memory view for RPC `stats` of type `objects`: a tree of the containers
//! that grow with traffic, each leaf with its entry count and an estimate of its size
//! (entries × the in-memory size of one entry), in the shape the reference node prints.
//! Every figure is read from the running container when asked.

use std::mem::size_of;

use serde_json::{Map, Value};

use crate::consensus::elections::election::Election;
use crate::consensus::votes::cache::CachedVote;
use crate::consensus::{lock, Consensus};
use crate::node::Node;

/// One node of the tree: a group of containers, or one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerInfo {
    Composite {
        name: &'static str,
        children: Vec<ContainerInfo>,
    },
    Leaf {
        name: &'static str,
        count: usize,
        /// Bytes one entry takes in the container (its type's size; heap data an entry
        /// points to is not followed, as in the reference's estimate).
        element_size: usize,
    },
}

impl ContainerInfo {
    fn leaf(name: &'static str, count: usize, element_size: usize) -> Self {
        ContainerInfo::Leaf {
            name,
            count,
            element_size,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            ContainerInfo::Composite { name, .. } | ContainerInfo::Leaf { name, .. } => name,
        }
    }

    /// The JSON object `stats` answers: `{name: {child: ..., leaf: {"count", "size"}}}`
    /// with the numbers as decimal strings.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert(self.name().into(), self.body());
        Value::Object(m)
    }

    fn body(&self) -> Value {
        match self {
            ContainerInfo::Leaf {
                count,
                element_size,
                ..
            } => serde_json::json!({
                "count": count.to_string(),
                "size": count.saturating_mul(*element_size).to_string(),
            }),
            ContainerInfo::Composite { children, .. } => Value::Object(
                children
                    .iter()
                    .map(|c| (c.name().to_string(), c.body()))
                    .collect(),
            ),
        }
    }

    /// The leaf at `path` (names from the root's children down), for tests.
    pub fn find(&self, path: &[&str]) -> Option<&ContainerInfo> {
        let Some((first, rest)) = path.split_first() else {
            return Some(self);
        };
        match self {
            ContainerInfo::Composite { children, .. } => children
                .iter()
                .find(|c| c.name() == *first)
                .and_then(|c| c.find(rest)),
            ContainerInfo::Leaf { .. } => None,
        }
    }
}

impl Consensus {
    /// Elections, the vote cache, the gap table, the block processor queue and the
    /// priority scheduler's candidate blocks.
    pub fn container_info(&self) -> ContainerInfo {
        let s = &self.shared;
        let active = lock(&s.active).len();
        let vote_cache = lock(&s.vote_cache).len();
        let unchecked = lock(&s.unchecked).len();
        let (queue, checked) = {
            let q = lock(&s.queue);
            (q.queued_len(), q.checked_len())
        };
        let candidates: usize = lock(&s.priority).bucket_sizes().iter().sum();
        ContainerInfo::Composite {
            name: "consensus",
            children: vec![
                ContainerInfo::leaf("active_elections", active, size_of::<Election>()),
                ContainerInfo::leaf(
                    "vote_cache",
                    vote_cache,
                    size_of::<(nano_core::BlockHash, Vec<CachedVote>)>(),
                ),
                ContainerInfo::leaf(
                    "unchecked",
                    unchecked,
                    size_of::<crate::consensus::block_processor::unchecked::UncheckedItem>(),
                ),
                ContainerInfo::leaf("block_processor", queue, size_of::<nano_core::Block>()),
                ContainerInfo::leaf("block_checked", checked, size_of::<nano_core::Block>()),
                ContainerInfo::leaf(
                    "priority_candidates",
                    candidates,
                    size_of::<nano_core::Block>(),
                ),
            ],
        }
    }
}

impl Node {
    /// RPC `stats` of type `objects`: consensus, network and bootstrap containers.
    pub fn container_info(&self) -> ContainerInfo {
        let mut children = vec![self.consensus.container_info()];
        if let Some(n) = &self.network {
            children.push(ContainerInfo::Composite {
                name: "network",
                children: vec![
                    ContainerInfo::leaf(
                        "peers",
                        n.peer_count(),
                        size_of::<crate::network::PeerInfo>(),
                    ),
                    ContainerInfo::leaf(
                        "telemetry",
                        n.telemetry().len(),
                        size_of::<crate::network::PeerTelemetry>(),
                    ),
                    ContainerInfo::leaf(
                        "representatives",
                        n.representatives().len(),
                        size_of::<crate::network::Representative>(),
                    ),
                ],
            });
        }
        if let Some(b) = &self.bootstrap {
            let st = b.status();
            children.push(ContainerInfo::Composite {
                name: "bootstrap_ascending",
                children: vec![
                    ContainerInfo::leaf(
                        "priorities",
                        st.priorities,
                        size_of::<nano_core::Account>(),
                    ),
                    ContainerInfo::leaf(
                        "blocking",
                        st.blocked,
                        size_of::<(nano_core::Account, nano_core::BlockHash)>(),
                    ),
                ]
                .into_iter()
                .chain(b.client_sets().into_iter().map(|(name, n)| {
                    ContainerInfo::leaf(
                        name,
                        n,
                        size_of::<(nano_core::Account, nano_core::BlockHash)>(),
                    )
                }))
                .collect(),
            });
        }
        // The ledger's in-memory weights: one entry per representative with weight,
        // the one cache that grows with the ledger rather than with traffic.
        let weights = self.ledger.store().with_rep_weights_cached(|w| w.len());
        children.push(ContainerInfo::Composite {
            name: "ledger",
            children: vec![ContainerInfo::leaf(
                "rep_weights",
                weights,
                size_of::<(nano_core::Account, nano_core::Amount)>(),
            )],
        });
        ContainerInfo::Composite {
            name: "node",
            children,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_the_reference_tree_with_sizes_from_counts() {
        let t = ContainerInfo::Composite {
            name: "node",
            children: vec![
                ContainerInfo::Composite {
                    name: "consensus",
                    children: vec![ContainerInfo::leaf("active_elections", 3, 100)],
                },
                ContainerInfo::leaf("peers", 0, 64),
            ],
        };
        assert_eq!(
            t.to_json(),
            serde_json::json!({"node": {
                "consensus": {"active_elections": {"count": "3", "size": "300"}},
                "peers": {"count": "0", "size": "0"},
            }})
        );
        assert_eq!(
            t.find(&["consensus", "active_elections"]),
            Some(&ContainerInfo::leaf("active_elections", 3, 100))
        );
        assert_eq!(t.find(&["consensus", "nothing"]), None);
    }
}
