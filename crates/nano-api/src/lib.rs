//! `nano-api` owns the node's integration surfaces: one action dispatcher with the
//! reference node's RPC actions and error texts, and the front doors that feed it (HTTP
//! RPC; IPC, `/api/v2`, WebSocket and callbacks as they land).

pub mod access;
pub mod actions;
pub mod answer_body;
pub mod answer_memory;
pub(crate) mod answer_text;
pub mod api_v2;
pub mod async_process;
/// Connection limits and timeouts of every HTTP listener (a crate of its own so that
/// nanocap's console uses the same code without depending on the node).
pub use nano_http as bounded_http;
pub mod browser_origin;
pub mod callback;
pub mod context;
pub mod cpu_budget;
pub mod error;
pub mod http;
pub mod ipc;
pub mod job_timing;
pub mod json;
pub mod latency;
pub mod metrics;
pub mod node_glue;
pub mod refusal_pace;
pub mod response_cap;
pub mod rpc_config;
pub mod thread_time;
pub mod websocket;
pub mod work_generation;
pub mod work_peers;
pub mod worker_pool;
pub mod worker_priority;

pub use context::ApiContext;
pub use error::RpcError;
pub use rpc_config::RpcConfig;
