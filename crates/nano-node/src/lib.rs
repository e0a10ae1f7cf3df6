//! `nano-node` owns the running node: its configuration (`config-node.toml`), data
//! directory, statistics, the event bus the API layer subscribes to, and (as they land)
//! transports, peering, block processing, elections and bootstrap.

pub mod bootstrap;
pub mod config;
pub mod confirmation_history;
pub mod consensus;
pub mod container_info;
pub mod events;
pub(crate) mod hash_churn;
pub mod heap_trim;
pub mod interfaces;
pub mod network;
pub mod node;
pub(crate) mod recent_map;
pub(crate) mod recent_set;
pub mod stats;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_utils;
pub(crate) mod wire_block;

pub use config::{ConfigError, DaemonConfig, NodeConfig};
