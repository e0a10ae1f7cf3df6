//! `nanocap`, the Nano protocol analyzer: captures or imports Nano traffic, reassembles TCP
//! streams, decodes every message with `nano-messages` (the node's own codec) and stores
//! the result in SQLite, which a small web console queries while capture runs.
//!
//! Pipeline: [`input`] / live capture → [`net`] (link, IP, TCP/UDP) → [`tcp`] (per
//! direction byte streams) → [`analyzer`] (framing, decoding, rows) → [`db`] (writer
//! thread). [`web`] serves the console and REST API over [`query`].

pub mod analyzer;
pub mod config;
pub mod db;
pub mod engine;
pub mod input;
#[cfg(feature = "live")]
pub mod live;
pub mod net;
pub mod query;
pub mod schema;
pub mod sqlraw;
pub mod status;
pub mod synth;
pub mod tcp;
pub mod timefmt;
pub mod web;

/// Version string shown by `--version` and `/api/v1/status`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
