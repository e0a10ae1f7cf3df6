//! `nano-daemon` owns the command line of the `nano_node` binary: parsing the reference
//! node's flag names, choosing the network and data directory, and running the command
//! that was asked for.

pub mod auto_receive;
pub mod cli;
pub mod daemon;
pub mod data_dir;
pub mod debug;
pub mod key_tools;
pub mod ledger_lock;
pub mod limits;
pub mod log_config;
pub mod log_file;
pub mod log_format;
pub mod log_writer;
pub mod logging;
pub mod maintenance;
pub mod rep_weights;
pub mod update_config;
pub mod vacuum;
