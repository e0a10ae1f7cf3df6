//! `config-rpc.toml`: where the HTTP RPC listens and what it allows, with the reference
//! node's keys and defaults (localhost, control disabled, depth 20, 32 MiB bodies).

use std::path::Path;

use nano_core::Network;
use nano_node::config::{merge_sources, render_documented, ConfigError};
use serde::{Deserialize, Serialize};

/// Threads of the API servers' runtime by default: the servers only accept, parse and
/// answer (scans run on the slow-action pool), so two keep one slow connection from
/// delaying another without adding much to a small machine.
pub const DEFAULT_SERVER_THREADS: u32 = 2;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcConfig {
    pub address: String,
    pub port: u16,
    pub enable_control: bool,
    pub max_json_depth: u32,
    pub max_request_size: u64,
    /// Extension: web page origins (`scheme://host[:port]`) allowed to make control
    /// requests and `wallet_export` ([`crate::browser_origin`]); default none.
    pub allowed_origins: Vec<String>,
    /// Extension: open connections at once; further ones are closed at accept.
    pub connections_max: u32,
    /// Extension: seconds to receive a request head (also the keep-alive idle limit).
    pub header_timeout: u64,
    /// Extension: seconds to receive a request body.
    pub read_timeout: u64,
    /// Extension: seconds without a byte moving either way before a connection is closed.
    pub idle_timeout: u64,
    /// Extension: workers running slow actions for HTTP and IPC ([`crate::worker_pool`]).
    pub slow_action_threads: u32,
    /// Extension: slow requests waiting for a worker; beyond them a request is refused.
    pub slow_action_queue: u32,
    /// Extension: slow requests one client (source address, or IPC Unix connection) may
    /// have waiting; beyond them that client's request is refused.
    pub slow_action_client_queue: u32,
    /// Extension: slow requests one client may have running at once
    /// ([`crate::worker_pool::default_client_threads`]).
    pub slow_action_client_threads: u32,
    /// Extension: nice steps the slow-action workers run below the rest of the process
    /// ([`crate::worker_priority`]).
    pub slow_action_nice: u32,
    /// Extension: cores the slow-action workers and the large-answer thread leave to the
    /// rest of the process ([`nano_http::background_cpus`]).
    pub slow_action_spare_cores: u32,
    /// Extension: the slow-action workers under `SCHED_IDLE` rather than `SCHED_BATCH`
    /// ([`crate::worker_priority::DEFAULT_IDLE`]).
    pub slow_action_idle_policy: bool,
    /// Extension: threads at the process's priority that run light clients' slow
    /// actions only ([`crate::worker_pool`]).
    pub slow_action_light_threads: u32,
    /// Extension: milliseconds of CPU time per second one client's slow actions may use
    /// unless it is light (0: no budget; [`crate::cpu_budget`]).
    pub slow_action_client_budget: u32,
    /// Extension: the same for all clients together.
    pub slow_action_budget: u32,
    /// Extension: bytes of one client's slow-action answers held until written above
    /// which its next slow request waits (0: no limit; [`crate::worker_pool`]).
    pub slow_action_client_answer_memory: u64,
    /// Extension: the same for all clients together.
    pub slow_action_answer_memory: u64,
    /// Extension: bytes per second at which a connection must take a held HTTP answer
    /// ([`crate::answer_memory::AnswerMemory::min_rate`]); 0: no minimum.
    pub slow_action_answer_min_rate: u64,
    /// Extension: threads of the node's runtime for its RPC, IPC and WebSocket servers
    /// (0: they share the runtime that drives peering).
    pub server_threads: u32,
    /// Extension: largest answer in bytes ([`crate::response_cap`]).
    pub max_response_size: u64,
    pub process: RpcProcess,
    pub logging: RpcLogging,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcProcess {
    pub io_threads: u32,
    pub ipc_address: String,
    pub ipc_port: u16,
    pub num_ipc_connections: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RpcLogging {
    pub log_rpc: bool,
}

const DOCS: &[(&str, &str)] = &[
    ("address", "Bind address for the RPC server.\ntype:string,ip"),
    ("port", "Listening port for the RPC server.\ntype:uint16"),
    ("enable_control", "Enable or disable control-level requests.\nWARNING: Enabling this gives anyone with RPC access the ability to stop the node and access wallet funds.\ntype:bool"),
    ("max_json_depth", "Maximum number of levels in JSON requests.\ntype:uint8"),
    ("max_request_size", "Maximum number of bytes allowed in request bodies.\ntype:uint64"),
    ("allowed_origins", "Web page origins (scheme://host[:port], exactly as browsers send them in the Origin header) allowed to make control requests and wallet_export. A request carrying any other Origin is refused those (a web page visited on this machine must not stop the node or export a wallet); requests without an Origin header (curl, libraries) are unaffected. The reference node has no such rule.\ntype:list of strings"),
    ("connections_max", "Maximum number of open client connections; further connections are closed at once.\ntype:uint32,[1..]"),
    ("header_timeout", "Seconds a client has to send a request's headers, counted from when the server waits for them (so an idle keep-alive connection is closed after this long too).\ntype:seconds,[1..]"),
    ("read_timeout", "Seconds a client has to send a request's body once its headers arrived.\ntype:seconds,[1..]"),
    ("idle_timeout", "Seconds without any byte received or sent after which a connection is closed. Must exceed the longest request (work_generate on a slow machine).\ntype:seconds,[1..]"),
    ("slow_action_threads", "Threads that run slow actions (scans of receivables, chains, wallets or the ledger; work; key derivation; block processing) for HTTP and IPC requests, apart from the threads that drive peering. Also read by the node for its IPC server when RPC runs as a child process. The reference node has no such setting.\ntype:uint32,[1..]"),
    ("slow_action_queue", "Slow requests that may wait for a free thread; a slow request beyond them is answered at once with an error instead of waiting, unless another client has at least two more waiting than its own client: then that client's newest waiting request is answered with the error instead and this one takes its place. The reference node has no such setting.\ntype:uint32,[1..]"),
    ("slow_action_client_queue", "Slow requests one client may have waiting, out of slow_action_queue. A client is a source IPv4 address or IPv6 /64 (HTTP, IPC over TCP) or one IPC Unix-socket connection; a free thread serves the client that used the least thread time lately, so clients flooding expensive requests delay one making cheap requests by about one running request, and beyond this many waiting a client is refused at once. The reference node has no such setting.\ntype:uint32,[1..]"),
    ("slow_action_client_threads", "Slow requests one client (as for slow_action_client_queue) may have running at once, even while other threads are idle: a client flooding scans keeps at most this many threads busy, so the others stay free for everyone else's slow requests. Default: half of slow_action_threads, rounded up; a value above slow_action_threads means no limit. The reference node has no such setting.\ntype:uint32,[1..]"),
    ("slow_action_nice", "How many nice steps (0 to 19) the slow-action threads run below the rest of the process, under the SCHED_BATCH policy (unless slow_action_idle_policy): while scans keep every core busy, the threads that serve peering and answer quick requests still get nearly all the CPU they ask for, and the scans get the rest. 0 leaves them at the process's priority. Linux only (elsewhere only 0 is accepted). The reference node lowers its work-generation threads only.\ntype:uint32,[0..19]"),
    ("slow_action_idle_policy", "Run the slow-action threads (and the wallet's work precomputation) under the SCHED_IDLE policy: a thread serving peering or a quick request that wakes on a core running a scan takes it at once, instead of waiting for the scan's time slice, and a core running only scans counts as free. The cost: scans, and work generation requested by RPC, then run only on CPU time the node's other threads leave, so on a node whose block processing keeps every core busy they wait for it. false (the default) uses SCHED_BATCH with slow_action_nice; a bench on a shared 2-core machine showed no gain in the tail latency of quick requests under scan floods with true. Linux only (elsewhere only false is accepted). The reference node has no such setting.\ntype:bool"),
    ("slow_action_spare_cores", "Cores the slow-request workers and the thread that writes large answers leave to the rest of the node: they run on the cores the node may use except the first this many, so a thread woken to answer a cheap request or to drive peering finds a core where no scan runs. With no more cores than this, they run everywhere. 0: every core. Default 1. The reference node has no such setting.\ntype:uint32"),
    ("slow_action_light_threads", "Threads, besides slow_action_threads and at the process's own priority, that run only the slow requests of clients whose recent slow requests were all short (at most 5 ms each for the last minute, at least one of them) and who have none running: a wallet checking balances is answered at once while every other thread holds a long scan. 0 disables. The reference node has no such setting.\ntype:uint32"),
    ("slow_action_client_budget", "Milliseconds of CPU time per second that one client's slow requests (client as for slow_action_client_queue) may use, counting time on a CPU only (not waits for work or the block processor), unless all its slow requests in the last minute were short (as for slow_action_light_threads). A client that has used its budget has its next slow requests wait in its queue until the budget refills (it holds at most one second's worth), so one address flooding scans costs the node this much CPU, not whatever is idle. 0: no budget. Default 250 (a quarter of a core: about nine receivable calls a second over an account with 200,000 receivables on a 2-core machine). The reference node has no such setting.\ntype:milliseconds per second"),
    ("slow_action_budget", "Milliseconds of CPU time per second that all clients' slow requests together may use, with the same exemption and the same waiting as slow_action_client_budget: many addresses flooding scans, each within its own budget, cost the node at most this much CPU. 0: no budget. Default 250 per core of the machine. The reference node has no such setting.\ntype:milliseconds per second"),
    ("server_threads", "Threads of the runtime that runs the node's RPC, IPC and WebSocket servers, apart from the runtime that drives peering, so that a flood of API requests and the node's peering do not wait for each other's tasks. 0 runs the servers on the node's runtime, as the reference node does. Read by the node only; a child nano_rpc uses process.io_threads.\ntype:uint32"),
    ("slow_action_client_answer_memory", "Bytes of one client's slow-request answers (client as for slow_action_client_queue) held in memory until its connections have taken them. While a client holds this much (it asked for large answers and reads them slowly, or not at all), its next slow requests wait in its queue, then are refused. 0: no limit. Default 67108864 (64 MiB: two answers of the default max_response_size). The reference node has no such setting.\ntype:uint64"),
    ("slow_action_answer_memory", "Bytes of all clients' slow-request answers held in memory until taken by their connections; while they hold this much, every slow request waits, then is refused. A separate nano_rpc process counts the v1 answers it has not yet written to its clients against the same two limits: it refuses a client's request at once while that client holds its own limit, lets at most one request per IPC connection through before its answer counts, and while everyone holds this one a client holding answers itself waits in line (up to 30 seconds, then refused) while one holding none is let through and gets answers of at most 64 KiB (a larger one is refused, and that client's next requests wait for room too). The answers in memory stay below this plus one answer of at most max_response_size per slow-action thread, however many connections read slowly. 0: no limit. Default 268435456 (256 MiB). The reference node has no such setting.\ntype:uint64"),
    ("slow_action_answer_min_rate", "Bytes per second at which an HTTP connection must take the answer to a slow request held in memory (those counted by slow_action_answer_memory), in nano_rpc too: a connection that has not taken the whole answer within 10 seconds plus its size at this rate is closed, its bytes given back, and its client's slow requests wait (behind nano_rpc: are refused) for the next 60 seconds, so connections that ask and read a byte now and then cannot keep the answer memory full while other clients wait. IPC answers are held to the IPC io_timeout instead. 0: no minimum (the idle timeout alone). Default 524288 (512 KiB/s: 35 s for a 13 MB answer). The reference node has no such setting.\ntype:uint64"),
    ("max_response_size", "Largest answer in bytes; a larger one is replaced by an error asking for fewer entries (the reference node sends any size).\ntype:uint64,[1..]"),
    ("process.io_threads", "Number of threads used to serve IO.\ntype:uint32"),
    ("process.ipc_address", "Address of IPC server.\ntype:string,ip"),
    ("process.ipc_port", "Listening port of IPC server.\ntype:uint16"),
    ("process.num_ipc_connections", "Number of IPC connections to establish.\ntype:uint32"),
    ("logging.log_rpc", "Whether to log RPC calls.\ntype:bool"),
];

impl RpcConfig {
    pub fn defaults(network: Network) -> RpcConfig {
        let p = network.params();
        RpcConfig {
            address: "::1".into(),
            port: p.default_rpc_port,
            enable_control: false,
            max_json_depth: 20,
            max_request_size: 32 * 1024 * 1024,
            allowed_origins: Vec::new(),
            connections_max: 1024,
            header_timeout: 10,
            read_timeout: 30,
            idle_timeout: 300,
            slow_action_threads: crate::worker_pool::default_threads() as u32,
            slow_action_queue: crate::worker_pool::DEFAULT_QUEUE as u32,
            slow_action_client_queue: crate::worker_pool::DEFAULT_CLIENT_QUEUE as u32,
            slow_action_client_threads: crate::worker_pool::default_client_threads(
                crate::worker_pool::default_threads(),
            ) as u32,
            slow_action_nice: crate::worker_priority::DEFAULT_NICE,
            slow_action_idle_policy: crate::worker_priority::DEFAULT_IDLE,
            slow_action_spare_cores: nano_http::background_cpus::DEFAULT_SPARE_CORES as u32,
            slow_action_light_threads: crate::worker_pool::DEFAULT_LIGHT_THREADS as u32,
            slow_action_client_budget: budget_ms(crate::cpu_budget::DEFAULT_CLIENT_BUDGET),
            slow_action_budget: budget_ms(crate::cpu_budget::default_pool_budget()),
            slow_action_client_answer_memory: crate::worker_pool::DEFAULT_CLIENT_ANSWER_MEMORY
                as u64,
            slow_action_answer_memory: crate::worker_pool::DEFAULT_ANSWER_MEMORY as u64,
            slow_action_answer_min_rate: crate::answer_memory::DEFAULT_ANSWER_MIN_RATE as u64,
            server_threads: DEFAULT_SERVER_THREADS,
            max_response_size: crate::response_cap::DEFAULT_MAX_RESPONSE as u64,
            process: RpcProcess {
                io_threads: std::thread::available_parallelism()
                    .map(|n| n.get() as u32)
                    .unwrap_or(1)
                    .max(4),
                ipc_address: "::1".into(),
                ipc_port: p.default_ipc_port,
                num_ipc_connections: match network {
                    Network::Live | Network::Test => 8,
                    Network::Beta => 4,
                    Network::Dev => 1,
                },
            },
            logging: RpcLogging { log_rpc: true },
        }
    }

    pub fn from_sources(
        network: Network,
        file: Option<&str>,
        overrides: &[String],
    ) -> Result<RpcConfig, ConfigError> {
        let merged = merge_sources(&Self::defaults(network), file, "config-rpc.toml", overrides)?;
        let cfg: RpcConfig = merged
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.message().to_string()))?;
        for (name, v) in [
            ("connections_max", u64::from(cfg.connections_max)),
            ("header_timeout", cfg.header_timeout),
            ("read_timeout", cfg.read_timeout),
            ("idle_timeout", cfg.idle_timeout),
            ("slow_action_threads", u64::from(cfg.slow_action_threads)),
            ("slow_action_queue", u64::from(cfg.slow_action_queue)),
            (
                "slow_action_client_queue",
                u64::from(cfg.slow_action_client_queue),
            ),
            (
                "slow_action_client_threads",
                u64::from(cfg.slow_action_client_threads),
            ),
            ("max_response_size", cfg.max_response_size),
        ] {
            if v == 0 {
                return Err(ConfigError::Invalid(format!("{name} must be at least 1")));
            }
        }
        let nice_max = if cfg!(target_os = "linux") {
            crate::worker_priority::MAX_NICE
        } else {
            0
        };
        if cfg.slow_action_nice > nice_max {
            return Err(ConfigError::Invalid(format!(
                "slow_action_nice must be at most {nice_max} on this system"
            )));
        }
        if cfg.slow_action_idle_policy && !cfg!(target_os = "linux") {
            return Err(ConfigError::Invalid(
                "slow_action_idle_policy is supported on Linux only".into(),
            ));
        }
        Ok(cfg)
    }

    /// The connection limits of the HTTP listener this config describes.
    pub fn http_limits(&self) -> crate::bounded_http::HttpLimits {
        crate::bounded_http::HttpLimits {
            max_connections: self.connections_max as usize,
            header_timeout: std::time::Duration::from_secs(self.header_timeout),
            read_timeout: std::time::Duration::from_secs(self.read_timeout),
            idle_timeout: Some(std::time::Duration::from_secs(self.idle_timeout)),
            max_body: self.max_request_size as usize,
            large_answer: Some(crate::bounded_http::LARGE_ANSWER),
            slow_request: Some(crate::bounded_http::SLOW_REQUEST),
        }
    }

    /// Sets what this config governs in the context that executes the actions: the
    /// slow-action pool and the answer cap.
    pub fn apply_to(&self, ctx: &mut crate::ApiContext) {
        ctx.slow_actions = crate::worker_pool::WorkerPool::with_client_queue(
            self.slow_action_threads as usize,
            self.slow_action_queue as usize,
            self.slow_action_client_queue as usize,
        )
        .with_nice(self.slow_action_nice)
        .with_idle_policy(self.slow_action_idle_policy)
        .with_spare_cores(self.slow_action_spare_cores as usize)
        .with_client_threads(self.slow_action_client_threads as usize)
        .with_light_threads(self.slow_action_light_threads as usize)
        .with_budgets(crate::worker_pool::Budgets {
            client: per_second(self.slow_action_client_budget),
            pool: per_second(self.slow_action_budget),
        })
        .with_answer_memory(self.answer_memory());
        ctx.max_response_size = usize::try_from(self.max_response_size).unwrap_or(usize::MAX);
        self.apply_to_process();
    }

    /// Sets what this config governs in the whole process: the cores the large-answer
    /// thread leaves free (the thread is the process's: the last config applied sets
    /// it). `nano_rpc`, which executes no action, applies only this.
    pub fn apply_to_process(&self) {
        nano_http::background_cpus::set_spare_cores(self.slow_action_spare_cores as usize);
    }

    /// The answer-memory limits ([`crate::answer_memory`]) of the slow-action pool and of
    /// `nano_rpc`'s front.
    pub fn answer_memory(&self) -> crate::answer_memory::AnswerMemory {
        crate::answer_memory::AnswerMemory {
            client: bytes_limit(self.slow_action_client_answer_memory),
            total: bytes_limit(self.slow_action_answer_memory),
            min_rate: bytes_limit(self.slow_action_answer_min_rate),
            grace: crate::answer_memory::ANSWER_GRACE,
            cooldown: crate::answer_memory::LATE_ANSWER_COOLDOWN,
        }
    }

    /// Defaults, then `config-rpc.toml` in `data_dir` if present, then `--rpcconfig`.
    pub fn load(
        network: Network,
        data_dir: &Path,
        overrides: &[String],
    ) -> Result<RpcConfig, ConfigError> {
        let path = data_dir.join("config-rpc.toml");
        let file = match std::fs::read_to_string(&path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(ConfigError::Read { path, source }),
        };
        Self::from_sources(network, file.as_deref(), overrides)
    }

    /// `--generate_config rpc` output.
    pub fn generate(network: Network, use_defaults: bool) -> String {
        render_documented(&Self::defaults(network), DOCS, use_defaults)
    }
}

/// A budget in the config's unit, milliseconds per second.
fn budget_ms(per_second: std::time::Duration) -> u32 {
    u32::try_from(per_second.as_millis()).unwrap_or(u32::MAX)
}

/// A budget from the config's unit (0: none).
fn per_second(ms: u32) -> Option<std::time::Duration> {
    (ms > 0).then(|| std::time::Duration::from_millis(u64::from(ms)))
}

/// A byte limit from the config (0: none).
fn bytes_limit(bytes: u64) -> Option<usize> {
    (bytes > 0).then(|| usize::try_from(bytes).unwrap_or(usize::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        let c =
            RpcConfig::from_sources(Network::Live, None, &["enable_control=true".into()]).unwrap();
        assert!(c.enable_control);
        assert_eq!(c.port, 7076);
        assert_eq!(c.address, "::1");
        assert_eq!(c.max_json_depth, 20);
        let small = RpcConfig::from_sources(
            Network::Dev,
            None,
            &[
                "slow_action_threads=2".into(),
                "slow_action_queue=3".into(),
                "slow_action_client_queue=1".into(),
                "slow_action_client_threads=1".into(),
                "slow_action_nice=3".into(),
                "slow_action_idle_policy=true".into(),
                "slow_action_spare_cores=0".into(),
                "slow_action_light_threads=2".into(),
                "slow_action_client_budget=0".into(),
                "slow_action_budget=700".into(),
                "slow_action_client_answer_memory=0".into(),
                "slow_action_answer_memory=1000".into(),
                "slow_action_answer_min_rate=4096".into(),
            ],
        )
        .unwrap();
        let mut ctx = crate::ApiContext::new(Network::Dev);
        small.apply_to(&mut ctx);
        let pool = &ctx.slow_actions;
        assert_eq!(
            (
                pool.threads(),
                pool.queue(),
                pool.client_queue(),
                pool.nice()
            ),
            (2, 3, 1, 3)
        );
        assert!(pool.lowering().idle);
        assert_eq!(pool.spare_cores(), 0);
        assert_eq!(pool.light_threads(), 2);
        assert_eq!(pool.client_threads(), 1);
        assert_eq!(
            pool.budgets(),
            crate::worker_pool::Budgets {
                client: None,
                pool: Some(std::time::Duration::from_millis(700)),
            }
        );
        assert_eq!(
            pool.answer_memory(),
            crate::worker_pool::AnswerMemory {
                client: None,
                total: Some(1000),
                min_rate: Some(4096),
                grace: crate::answer_memory::ANSWER_GRACE,
                cooldown: crate::answer_memory::LATE_ANSWER_COOLDOWN,
            }
        );
        let mut ctx = crate::ApiContext::new(Network::Dev);
        RpcConfig::defaults(Network::Dev).apply_to(&mut ctx);
        let threads = ctx.slow_actions.threads();
        assert_eq!(
            ctx.slow_actions.lowering(),
            crate::worker_priority::Lowering::DEFAULT
        );
        assert_eq!(
            ctx.slow_actions.budgets(),
            crate::worker_pool::Budgets::defaults()
        );
        assert_eq!(
            ctx.slow_actions.answer_memory(),
            crate::worker_pool::AnswerMemory::DEFAULT
        );
        assert_eq!(
            ctx.slow_actions.spare_cores(),
            nano_http::background_cpus::DEFAULT_SPARE_CORES
        );
        assert!(ctx.slow_actions.client_threads() < threads || threads == 1);
        let e = RpcConfig::from_sources(Network::Dev, None, &["slow_action_nice=20".into()])
            .unwrap_err();
        assert!(e.to_string().contains("slow_action_nice"), "{e}");
        for zero in [
            "slow_action_threads=0",
            "slow_action_queue=0",
            "slow_action_client_queue=0",
            "slow_action_client_threads=0",
            "max_response_size=0",
        ] {
            let e = RpcConfig::from_sources(Network::Dev, None, &[zero.into()]).unwrap_err();
            assert!(
                e.to_string().contains(zero.split('=').next().unwrap()),
                "{e}"
            );
        }
        let text = RpcConfig::generate(Network::Dev, true);
        assert_eq!(
            RpcConfig::from_sources(Network::Dev, Some(&text), &[]).unwrap(),
            RpcConfig::defaults(Network::Dev)
        );
    }
}
