//! The RPC front doors against their ceiling, in one run: a running dev node's HTTP RPC
//! (`block_count`, `account_info`), `/api/v2` (`AccountWeight`) and IPC over the Unix
//! socket (`block_count`), next to bare servers on the same stack (axum + hyper under the
//! node's connection limits):
//! - the **44-byte ceiling** answers a constant body of the size of a `block_count`
//!   answer, the same for every case;
//! - each HTTP case's **replay ceiling** answers a constant copy of that case's own answer
//!   (the body and the headers the node sent, taken from one request before loading), so
//!   the cost of moving a bigger answer through the loopback is not charged to the node:
//!   what separates a case from its replay ceiling is the node's own work.
//!
//! HTTP load comes from `wrk -t2 -c8 -d<secs>s` (Debian package `wrk`), IPC load from 8
//! persistent connections of this bench's own client (IPC has no replay ceiling: it does
//! not go through HTTP). The cases alternate, round after round, each replay ceiling right
//! before its case, so every figure is compared with ceilings measured next to it. Prints
//! each figure and its fractions of both ceilings of the same round.
//!
//! Next to the rate it prints the server's CPU time per request: this process's CPU time
//! during the case (all threads but the IPC client's) over the requests answered. On a
//! shared machine the rate follows whatever else runs, while the CPU a request costs
//! moves much less, so the CPU fraction (ceiling's cost over the case's) tells whether a
//! change made the path cheaper when the rates are too noisy to say. That time is also
//! printed as its user and kernel parts, with the server threads' context switches per
//! request: a case and its replay ceiling move the same bytes through the same stack, so
//! a difference in kernel time or switches per request is how the load was scheduled,
//! while the node's own work shows in user time.
//!
//! wrk runs on the same cores as the server, so its own CPU time per request (its
//! process's user and kernel time, read from this process's waited-for children's times
//! in `/proc/self/stat`) bounds every HTTP case: no server can answer more than the
//! cores' time over wrk's and its own CPU per request. Each HTTP case prints that bound,
//! and the one of a server of no cost; for an external node it prints what twice that
//! node's rate would leave a server per request once wrk has taken its share (wrk's
//! cost as against this process's node), next to the 44-byte ceiling's and this node's.
//!
//! Before loading, each HTTP case's router and its replay ceiling's router are also
//! called in this process (no socket, no HTTP parsing or writing) on one thread, and the
//! thread's CPU time per request is printed for both: their difference is the node's own
//! work per request, a figure that other processes on the machine barely move.
//!
//! With `API_BENCH_COUNT_ALLOCS=1` it also counts heap allocations (in this process, by
//! a counting global allocator) and prints them per request, in process and under load:
//! an allocation the node makes beyond its replay ceiling's is work the in-process loop
//! may not show at its real cost under load (another thread frees it, the allocator's
//! caches are cold). Off by default, as the count itself costs an atomic add per
//! allocation on every thread.
//!
//! Run: `cargo bench -p nano-api --bench rpc_ceiling` (env `API_BENCH_SECS`, default 8,
//! per case; `API_BENCH_ROUNDS`, default 3; `API_BENCH_ONLY`, a part of a case name: only
//! the ceilings and the cases whose name contains it, e.g. to profile one path;
//! `API_BENCH_EXTERNAL`, other nodes' RPC URLs to load in the same rounds, see
//! [`EXTERNAL_ENV`]).

#[path = "support/replay.rs"]
mod replay;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::routing::any;
use axum::Router;
use nano_api::access::AccessControl;
use nano_api::api_v2::V2Service;
use nano_api::ipc::client::IpcClient;
use nano_api::ipc::server::{IpcServer, TransportOptions};
use nano_api::ipc::Encoding;
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use nano_node::node::{Node, NodeOptions};
use nano_node::DaemonConfig;
use replay::{capture, replay_router, start_replay};

/// The system allocator, counting allocations while [`COUNT_ALLOCS`] is set.
struct CountingAlloc;

/// Whether [`CountingAlloc`] counts (`API_BENCH_COUNT_ALLOCS=1`).
static COUNT_ALLOCS: AtomicBool = AtomicBool::new(false);

/// Allocations (and reallocations, each a new block) counted so far.
static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: every call is passed to the system allocator unchanged; the count has no
// effect on the memory handed out.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNT_ALLOCS.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from the system allocator through this one.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        if COUNT_ALLOCS.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: as for `alloc`.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        if COUNT_ALLOCS.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: `ptr` and `layout` came from this allocator; the caller's contract
        // for `realloc` is the system allocator's.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Concurrent connections of every case: wrk's `-c8`, and the IPC client's.
const CONNECTIONS: usize = 8;

/// The name of the IPC client's threads, whose CPU time is not the server's.
const CLIENT_THREAD: &str = "bench-ipc-client";

/// What the 44-byte ceiling answers: a `block_count` answer of a small ledger.
const CONSTANT_BODY: &str = r#"{"count":"1","unchecked":"0","cemented":"1"}"#;

enum Load {
    /// wrk POSTs `body` to `path`.
    Wrk { path: String, body: String },
    /// The IPC client sends `body` (encoding 1) over the Unix socket.
    Ipc { body: String },
}

struct Case {
    name: String,
    /// The 44-byte ceiling's own row (its fraction is 1 by definition).
    ceiling: bool,
    /// Where the HTTP load goes: `127.0.0.1:<port>` for this process's servers, the
    /// host of an `API_BENCH_EXTERNAL` URL for another node (unused for IPC).
    host: String,
    /// Another process's server: no replay ceiling or in-process measure; its CPU time is
    /// that of the process listening on its port (`external_pid`), when one is found.
    external: bool,
    external_pid: Option<u32>,
    load: Load,
}

/// The environment variable naming other nodes' RPC URLs to load in every round with
/// the same wrk command, e.g. `rsnano=http://[::1]:45700/,daemon=http://[::1]:45600/`
/// (comma-separated, each `label=URL` or a bare URL): a comparison with another node
/// counts only when both ran in the same run on this machine, next to the same ceiling.
const EXTERNAL_ENV: &str = "API_BENCH_EXTERNAL";

/// The external nodes of [`EXTERNAL_ENV`]: (label, host, path) of each `http://` URL.
fn external_nodes() -> Vec<(String, String, String)> {
    let list = std::env::var(EXTERNAL_ENV).unwrap_or_default();
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (label, url) = match entry.split_once('=') {
                Some((l, u)) if !l.contains("://") => (l.trim(), u.trim()),
                _ => (entry, entry),
            };
            let Some(rest) = url.strip_prefix("http://") else {
                eprintln!("{EXTERNAL_ENV}: {url:?} is not an http:// URL");
                std::process::exit(2);
            };
            let (host, path) = match rest.find('/') {
                Some(i) => (&rest[..i], &rest[i..]),
                None => (rest, "/"),
            };
            (label.to_string(), host.to_string(), path.to_string())
        })
        .collect()
}

fn main() {
    let secs: u64 = env_or("API_BENCH_SECS", 8);
    let rounds: usize = env_or("API_BENCH_ROUNDS", 3);
    COUNT_ALLOCS.store(
        env_or("API_BENCH_COUNT_ALLOCS", 0u8) == 1,
        Ordering::Relaxed,
    );
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed (Debian: apt-get install wrk)");
        std::process::exit(2);
    }
    // The server side: a runtime like the daemon's on this machine (one worker per core).
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let servers = server_rt.block_on(start_servers(dir.path()));
    let (rpc, ceiling, unix) = (servers.rpc, servers.ceiling, servers.unix.clone());
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(CLIENT_THREAD)
        .enable_all()
        .build()
        .unwrap();

    let genesis = nano_core::Network::Dev
        .params()
        .genesis_account
        .encode_account();
    let only = std::env::var("API_BENCH_ONLY").unwrap_or_default();
    let local = |name: &str, port: u16, path: &str, body: String| Case {
        name: name.into(),
        ceiling: false,
        host: format!("127.0.0.1:{port}"),
        external: false,
        external_pid: None,
        load: Load::Wrk {
            path: path.into(),
            body,
        },
    };
    let block_count = r#"{"action":"block_count"}"#.to_string();
    let account_info = format!(r#"{{"action":"account_info","account":"{genesis}"}}"#);
    let mut cases = vec![
        Case {
            ceiling: true,
            ..local(
                "ceiling: bare axum/hyper, 44-byte body",
                ceiling.port(),
                "/",
                block_count.clone(),
            )
        },
        local("HTTP RPC block_count", rpc.port(), "/", block_count.clone()),
        local(
            "HTTP RPC account_info",
            rpc.port(),
            "/",
            account_info.clone(),
        ),
        local(
            "HTTP /api/v2/AccountWeight",
            rpc.port(),
            "/api/v2/AccountWeight",
            format!(r#"{{"account":"{genesis}"}}"#),
        ),
        Case {
            name: "IPC Unix socket block_count (enc. 1)".into(),
            ceiling: false,
            host: String::new(),
            external: false,
            external_pid: None,
            load: Load::Ipc {
                body: block_count.clone(),
            },
        },
    ];
    // Other nodes, loaded with the same two RPC requests (the dev genesis account).
    for (label, host, path) in external_nodes() {
        let pid = listening_pid(&host);
        println!(
            "external {label}: {host}, {}",
            pid.map_or("no process found listening there: rate only".into(), |p| {
                format!("served by process {p} (its CPU time per request is measured)")
            })
        );
        for (action, body) in [
            ("block_count", &block_count),
            ("account_info", &account_info),
        ] {
            cases.push(Case {
                name: format!("external {label} {action}"),
                ceiling: false,
                host: host.clone(),
                external: true,
                external_pid: pid,
                load: Load::Wrk {
                    path: path.clone(),
                    body: body.clone(),
                },
            });
        }
    }
    let cases: Vec<Case> = cases
        .into_iter()
        .filter(|c| c.ceiling || c.name.contains(only.as_str()))
        .collect();
    println!(
        "{CONNECTIONS} connections, {secs} s per case, {rounds} rounds alternating; \
         wrk -t2 -c{CONNECTIONS}; machine: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Each HTTP case's replay ceiling, serving the answer its probe received.
    let replays: Vec<Option<u16>> = cases
        .iter()
        .map(|c| match &c.load {
            Load::Wrk { path, body } => {
                let answer = capture(&c.host, path, body);
                if c.external {
                    println!(
                        "{:<40} answer: {} bytes of body (another process)",
                        c.name,
                        answer.body.len()
                    );
                    return None;
                }
                if c.ceiling {
                    return None;
                }
                println!(
                    "{:<40} answer: {} bytes of body, headers {:?}",
                    c.name,
                    answer.body.len(),
                    answer.headers.iter().map(|(k, _)| k).collect::<Vec<_>>()
                );
                let (case_us, case_allocs) = in_process_us(&servers.rpc_app, path, body);
                let (replay_us, replay_allocs) = in_process_us(&replay_router(&answer), path, body);
                println!(
                    "{:<40} in process: {case_us:.2} us/req, its replay router {replay_us:.2} \
                     (the node's own work: {:.2} us/req){}",
                    "",
                    case_us - replay_us,
                    allocs_text(case_allocs, replay_allocs)
                );
                Some(server_rt.block_on(start_replay(&answer)).port())
            }
            Load::Ipc { .. } => None,
        })
        .collect();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let mut figures = vec![Vec::new(); cases.len()];
    for round in 1..=rounds {
        let mut ceiling = Measured::default();
        for (i, c) in cases.iter().enumerate() {
            let replay = replays[i].map(|port| {
                let host = format!("127.0.0.1:{port}");
                let m = measure(&dir, &client_rt, &unix, &host, &c.load, secs);
                println!(
                    "round {round}  {:<40} {:>9.0} req/s        | server CPU {:>5.1} us/req",
                    "  (its replay ceiling)", m.rate, m.us_per_req
                );
                println!("{:<49} {}", "", split_text(&m));
                m
            });
            let pid_before = c.external_pid.map(process_ticks);
            let mut m = measure(&dir, &client_rt, &unix, &c.host, &c.load, secs);
            if c.external {
                // This process's CPU time says nothing of another's: that process's own
                // (all its threads, its background work included), or none.
                let ticks = c.external_pid.map(process_ticks).zip(pid_before).map(
                    |((user, sys), (user_before, sys_before))| {
                        (
                            user.saturating_sub(user_before),
                            sys.saturating_sub(sys_before),
                        )
                    },
                );
                let per_req = |t: Option<u64>| {
                    t.map_or(f64::NAN, |t| {
                        t as f64 * 1e6 / TICKS_PER_SEC / m.requests as f64
                    })
                };
                m = Measured {
                    rate: m.rate,
                    requests: m.requests,
                    us_per_req: per_req(ticks.map(|(u, s)| u + s)),
                    user_us: per_req(ticks.map(|(u, _)| u)),
                    sys_us: per_req(ticks.map(|(_, s)| s)),
                    wrk_us: m.wrk_us,
                    wrk_user_us: m.wrk_user_us,
                    wrk_sys_us: m.wrk_sys_us,
                    ..Measured::default()
                };
            }
            if c.ceiling {
                ceiling = m;
            }
            let f = Figure {
                m,
                ceiling: m.fraction_of(&ceiling),
                replay: replay.map(|r| (r, m.fraction_of(&r))),
            };
            let replay_text = f.replay.map_or(String::new(), |(_, (rate, cpu))| {
                format!(
                    " | of replay ceiling: rate {:>5.1}%, CPU {:>5.1}%",
                    100.0 * rate,
                    100.0 * cpu
                )
            });
            let whose = if c.external {
                "its process's"
            } else {
                "server"
            };
            println!(
                "round {round}  {:<40} {:>9.0} req/s {:>5.1}% | {whose} CPU {:>5.1} us/req {:>5.1}% of 44-byte ceiling's{replay_text}",
                c.name,
                m.rate,
                100.0 * f.ceiling.0,
                m.us_per_req,
                100.0 * f.ceiling.1,
            );
            if c.external {
                println!(
                    "{:<49} of which user {:.1} us/req, kernel {:.1} us/req",
                    "", m.user_us, m.sys_us
                );
            } else {
                println!("{:<49} {}", "", split_text(&m));
            }
            if m.wrk_us.is_finite() {
                println!("{:<49} {}", "", bound_text(&m, cores));
            }
            figures[i].push(f);
        }
    }
    println!(
        "\nsummary per round: req/s (fraction of that round's 44-byte ceiling); \
         server CPU us/req (the 44-byte ceiling's cost over this one's) and its user and \
         kernel parts with the server threads' context switches per request; \
         for HTTP cases also the replay ceiling's req/s and CPU us/req and the same \
         fractions against it"
    );
    for (c, f) in cases.iter().zip(&figures) {
        let join = |g: &dyn Fn(&Figure) -> String| f.iter().map(g).collect::<Vec<_>>().join(" / ");
        println!(
            "{:<40} {}",
            c.name,
            join(&|x| format!("{:.0} ({:.0}%)", x.m.rate, 100.0 * x.ceiling.0))
        );
        // A row of per-round figures under a label.
        let row = |label: &str, g: &dyn Fn(&Figure) -> String| println!("{label:<40} {}", join(g));
        let wrk_line = || {
            row("  wrk CPU us/req (user + kernel)", &|x| {
                let m = &x.m;
                format!(
                    "{:.1} ({:.1} + {:.1})",
                    m.wrk_us, m.wrk_user_us, m.wrk_sys_us
                )
            });
            row("  CPU bound req/s (no-cost server's)", &|x| {
                let (all, wrk_only) = (
                    x.m.cpu_bound(cores, x.m.us_per_req),
                    x.m.cpu_bound(cores, 0.0),
                );
                format!("{all:.0} ({wrk_only:.0})")
            });
        };
        if c.external {
            println!(
                "{:<40} {}",
                "  its process's CPU us/req",
                join(&|x| format!("{:.1} ({:.0}%)", x.m.us_per_req, 100.0 * x.ceiling.1))
            );
            row("  its process's user + kernel us/req", &|x| {
                format!("{:.1} + {:.1}", x.m.user_us, x.m.sys_us)
            });
            wrk_line();
            // This process's node answering the same request in the same round, over it.
            let action = c.name.rsplit(' ').next().unwrap_or_default();
            let ours = cases
                .iter()
                .position(|o| !o.external && o.name == format!("HTTP RPC {action}"));
            if let Some(o) = ours {
                let ratios = f
                    .iter()
                    .zip(&figures[o])
                    .map(|(x, y)| format!("{:.2}", y.m.rate / x.m.rate))
                    .collect::<Vec<_>>()
                    .join(" / ");
                println!("{:<40} {ratios}", format!("  HTTP RPC {action} / this"));
                // Twice this node's rate under the same wrk on the same cores: what is
                // left of the cores' time per request once wrk has taken its share (wrk's
                // cost per request as against this process's node), against the
                // 44-byte ceiling's and this process's node's CPU per request. Twice the
                // rate it reached, and twice the rate its CPU allows (its own and wrk's
                // per request; what it reaches on a quiet machine, where the rate is
                // bound by the cores, while on a loaded one the rate is not).
                let ceiling = cases.iter().position(|o| o.ceiling);
                let twice = |target: &dyn Fn(&Figure) -> f64| {
                    f.iter()
                        .zip(&figures[o])
                        .enumerate()
                        .map(|(round, (x, ours))| {
                            let target = target(x);
                            let allowed = cores * 1e6 / target - ours.m.wrk_us;
                            let ceiling_us =
                                ceiling.map_or(f64::NAN, |k| figures[k][round].m.us_per_req);
                            format!(
                                "{target:.0}: {allowed:.1} (ceiling {ceiling_us:.1}, ours {:.1})",
                                ours.m.us_per_req
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(" / ")
                };
                println!(
                    "{:<40} {}",
                    "  2x this req/s: server us/req allowed",
                    twice(&|x| 2.0 * x.m.rate)
                );
                println!(
                    "{:<40} {}",
                    "  2x its CPU bound: server us/req allowed",
                    twice(&|x| 2.0 * x.m.cpu_bound(cores, x.m.us_per_req))
                );
            }
            continue;
        }
        println!(
            "{:<40} {}",
            "",
            join(&|x| format!("{:.1} ({:.0}%)", x.m.us_per_req, 100.0 * x.ceiling.1))
        );
        if f.iter().all(|x| x.m.wrk_us.is_finite()) {
            wrk_line();
        }
        println!(
            "{:<40} {}",
            "  user + kernel us/req, switches/req",
            join(&|x| format!(
                "{:.1} + {:.1}, {:.2}",
                x.m.user_us, x.m.sys_us, x.m.switches
            ))
        );
        if f.iter().all(|x| x.replay.is_some()) && !f.is_empty() {
            let r = |x: &Figure| x.replay.expect("checked above");
            println!(
                "{:<40} {}",
                "  replay ceiling req/s, case's fraction",
                join(&|x| format!("{:.0} ({:.0}%)", r(x).0.rate, 100.0 * r(x).1 .0))
            );
            println!(
                "{:<40} {}",
                "  replay ceiling us/req, case's fraction",
                join(&|x| format!("{:.1} ({:.0}%)", r(x).0.us_per_req, 100.0 * r(x).1 .1))
            );
        }
    }
}

/// One load run: the rate and the server's CPU time per request, and that time's split
/// into user and kernel time and the server threads' context switches per request (a
/// case and its replay ceiling move the same bytes, so extra kernel time or switches
/// per request are scheduling, not the node's own work).
#[derive(Clone, Copy)]
struct Measured {
    rate: f64,
    /// Requests answered during the run.
    requests: u64,
    us_per_req: f64,
    user_us: f64,
    sys_us: f64,
    switches: f64,
    /// Heap allocations of this process per request (0 unless counted; for IPC the
    /// in-process client's are included).
    allocs: f64,
    /// wrk's own CPU time per request (its process's user and kernel time over the
    /// run), and its user and kernel parts; NaN for IPC, which wrk does not load.
    wrk_us: f64,
    wrk_user_us: f64,
    wrk_sys_us: f64,
}

impl Default for Measured {
    fn default() -> Self {
        Measured {
            rate: f64::NAN,
            requests: 0,
            us_per_req: f64::NAN,
            user_us: f64::NAN,
            sys_us: f64::NAN,
            switches: f64::NAN,
            allocs: f64::NAN,
            wrk_us: f64::NAN,
            wrk_user_us: f64::NAN,
            wrk_sys_us: f64::NAN,
        }
    }
}

impl Measured {
    /// (rate over the ceiling's, the ceiling's CPU per request over this one's).
    fn fraction_of(&self, ceiling: &Measured) -> (f64, f64) {
        (
            self.rate / ceiling.rate,
            ceiling.us_per_req / self.us_per_req,
        )
    }

    /// The most requests per second any server could answer under this run's wrk on
    /// `cores` cores that wrk shares with it: all the cores' time over wrk's and the
    /// server's CPU time per request; with a server of no cost at all (`server_us` 0),
    /// wrk's own bound.
    fn cpu_bound(&self, cores: f64, server_us: f64) -> f64 {
        cores * 1e6 / (self.wrk_us + server_us)
    }
}

/// A run's CPU split, as printed under its figure (with its allocations when counted).
fn split_text(m: &Measured) -> String {
    let allocs = if COUNT_ALLOCS.load(Ordering::Relaxed) {
        format!("; {:.1} allocations/req", m.allocs)
    } else {
        String::new()
    };
    format!(
        "of which user {:.1} us/req, kernel {:.1} us/req; {:.2} context switches/req{allocs}",
        m.user_us, m.sys_us, m.switches
    )
}

/// wrk's CPU per request in a run and the rate the cores' time allows with it: all
/// `cores` cores' time over wrk's and the server's CPU time per request, and over
/// wrk's alone (a server of no cost): no server can pass the latter under this wrk on
/// this machine.
fn bound_text(m: &Measured, cores: f64) -> String {
    format!(
        "wrk CPU {:.1} us/req (user {:.1}, kernel {:.1}); wrk + server {:.1} us/req: \
         at most {:.0} req/s on {cores} cores, {:.0} with a server of no cost",
        m.wrk_us,
        m.wrk_user_us,
        m.wrk_sys_us,
        m.wrk_us + m.us_per_req,
        m.cpu_bound(cores, m.us_per_req),
        m.cpu_bound(cores, 0.0)
    )
}

/// The in-process allocation counts of a case and its replay router, when counted.
fn allocs_text(case: f64, replay: f64) -> String {
    if COUNT_ALLOCS.load(Ordering::Relaxed) {
        format!("; allocations/req: {case:.1}, its replay router {replay:.1}")
    } else {
        String::new()
    }
}

/// One case's figures in one round: against the 44-byte ceiling, and against its replay
/// ceiling (that ceiling's own figures first).
#[derive(Clone, Copy)]
struct Figure {
    m: Measured,
    ceiling: (f64, f64),
    replay: Option<(Measured, (f64, f64))>,
}

/// Runs `load` against `port` (or the Unix socket) for `secs`.
fn measure(
    dir: &tempfile::TempDir,
    client_rt: &tokio::runtime::Runtime,
    unix: &Path,
    host: &str,
    load: &Load,
    secs: u64,
) -> Measured {
    let before = server_cpu();
    let allocs_before = ALLOCS.load(Ordering::Relaxed);
    let (rate, requests, wrk_ticks) = match load {
        Load::Wrk { path, body } => {
            let (rate, requests, ticks) = wrk(dir.path(), host, path, body, secs);
            (rate, requests, Some(ticks))
        }
        Load::Ipc { body } => {
            let (rate, requests) = client_rt.block_on(ipc_load(unix, body, secs));
            (rate, requests, None)
        }
    };
    let after = server_cpu();
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs_before;
    let per_req = |ticks: u64| ticks as f64 * 1e6 / TICKS_PER_SEC / requests as f64;
    let (user, sys) = (
        after.user.saturating_sub(before.user),
        after.sys.saturating_sub(before.sys),
    );
    Measured {
        rate,
        requests,
        us_per_req: per_req(user + sys),
        user_us: per_req(user),
        sys_us: per_req(sys),
        switches: after.switches.saturating_sub(before.switches) as f64 / requests as f64,
        allocs: allocs as f64 / requests as f64,
        wrk_us: wrk_ticks.map_or(f64::NAN, |(u, s)| per_req(u + s)),
        wrk_user_us: wrk_ticks.map_or(f64::NAN, |(u, _)| per_req(u)),
        wrk_sys_us: wrk_ticks.map_or(f64::NAN, |(_, s)| per_req(s)),
    }
}

/// Linux's `USER_HZ`, the unit of the CPU times in `/proc/*/stat`.
const TICKS_PER_SEC: f64 = 100.0;

/// The server's CPU time and context switches so far.
#[derive(Default)]
struct ServerCpu {
    /// User time of this process less the IPC client threads', in ticks.
    user: u64,
    /// Kernel time, likewise.
    sys: u64,
    /// Voluntary and involuntary context switches of the live threads but the IPC
    /// client's (a thread that ended takes its count with it; the server's threads live
    /// for the whole run).
    switches: u64,
}

/// 0 where `/proc` is missing (the CPU figures then read as 0).
fn server_cpu() -> ServerCpu {
    let (_, user, sys) = std::fs::read_to_string("/proc/self/stat")
        .map(|s| stat_ticks(&s))
        .unwrap_or_default();
    let mut cpu = ServerCpu {
        user,
        sys,
        switches: 0,
    };
    for t in std::fs::read_dir("/proc/self/task").into_iter().flatten() {
        let Ok(t) = t else { continue };
        let Ok(s) = std::fs::read_to_string(t.path().join("stat")) else {
            continue;
        };
        let (name, user, sys) = stat_ticks(&s);
        // The kernel keeps 15 bytes of a thread's name.
        if CLIENT_THREAD.starts_with(&name) && !name.is_empty() {
            cpu.user = cpu.user.saturating_sub(user);
            cpu.sys = cpu.sys.saturating_sub(sys);
            continue;
        }
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        cpu.switches += status
            .lines()
            .filter(|l| {
                l.starts_with("voluntary_ctxt_switches")
                    || l.starts_with("nonvoluntary_ctxt_switches")
            })
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum::<u64>();
    }
    cpu
}

/// The name, utime and stime of a `/proc/*/stat` line.
fn stat_ticks(stat: &str) -> (String, u64, u64) {
    let name = stat
        .find('(')
        .zip(stat.rfind(')'))
        .map_or(String::new(), |(open, close)| {
            stat[open + 1..close].to_string()
        });
    (name, stat_field(stat, 14), stat_field(stat, 15))
}

/// Field `n` of a `/proc/*/stat` line as proc(5) numbers them (utime 14, stime 15, the
/// waited-for children's cutime 16 and cstime 17); 0 when absent.
fn stat_field(stat: &str, n: usize) -> u64 {
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    // After the name comes field 3, the state.
    stat[close + 1..]
        .split_whitespace()
        .nth(n - 3)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// User and kernel time of process `pid` so far, in ticks (0 once it is gone).
fn process_ticks(pid: u32) -> (u64, u64) {
    let (_, user, sys) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| stat_ticks(&s))
        .unwrap_or_default();
    (user, sys)
}

/// User and kernel time of this process's children that it waited for, in ticks: wrk's,
/// as each run ends before the next starts.
fn children_ticks() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    (stat_field(&stat, 16), stat_field(&stat, 17))
}

/// The process listening on `host`'s TCP port (`[::1]:45700`, `127.0.0.1:7076`): the
/// listening socket's inode from `/proc/net/tcp6` and `tcp`, then the process holding
/// it among `/proc/*/fd`. `None` when the port is not local or the process cannot be
/// read (another user's, without the right to read its descriptors).
fn listening_pid(host: &str) -> Option<u32> {
    let port: u16 = host.rsplit(':').next()?.parse().ok()?;
    /// State `0A` in `/proc/net/tcp*` is a listening socket.
    const LISTEN: &str = "0A";
    let inodes: Vec<String> = ["/proc/net/tcp6", "/proc/net/tcp"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    let local_port = f.get(1)?.rsplit(':').next()?;
                    (u16::from_str_radix(local_port, 16).ok()? == port && *f.get(3)? == LISTEN)
                        .then(|| f.get(9).map(|i| format!("socket:[{i}]")))
                        .flatten()
                })
                .collect::<Vec<_>>()
        })
        .collect();
    if inodes.is_empty() {
        return None;
    }
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|p| {
        let pid: u32 = p.file_name().to_str()?.parse().ok()?;
        let fds = std::fs::read_dir(p.path().join("fd")).ok()?;
        fds.flatten()
            .filter_map(|fd| std::fs::read_link(fd.path()).ok())
            .any(|l| inodes.iter().any(|i| l.as_os_str() == i.as_str()))
            .then_some(pid)
    })
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The ledger's map size: the bench's ledger holds the genesis block only, and the
/// default map (256 GiB of address space) cannot be reserved under valgrind, which the
/// in-process measure is run under to count instructions per request.
const BENCH_MAP_SIZE: u64 = 1 << 30;

/// A dev node with RPC (and `/api/v2`) on 127.0.0.1 and IPC on a Unix socket, and the
/// bare ceiling server.
/// The servers of a run, and the RPC router for the in-process measure.
struct Servers {
    rpc: SocketAddr,
    ceiling: SocketAddr,
    unix: PathBuf,
    rpc_app: Router,
    _node: Arc<Node>,
    _ipc: IpcServer,
}

async fn start_servers(dir: &Path) -> Servers {
    let mut c = DaemonConfig::defaults(Network::Dev).node;
    c.peering_port = 0;
    c.enable_udp = false;
    c.lmdb.map_size = BENCH_MAP_SIZE;
    let node = Node::start_with(NodeOptions::new(c, Network::Dev, &dir.join("node")))
        .await
        .expect("node starts");
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.attach(&node);
    let access = Arc::new(AccessControl::load(dir).unwrap());
    let v2 = V2Service::new(Arc::new(ctx), access);
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    let rpc = nano_api::http::serve_with_v2(v2.clone(), &cfg, std::future::pending())
        .await
        .unwrap();
    let rpc_app = nano_api::http::router_with_v2(v2.clone(), &cfg);
    let mut ipc = IpcServer::new(v2);
    let unix = dir.join("node.sock");
    ipc.bind_unix(
        &unix,
        TransportOptions {
            io_timeout: Duration::from_secs(15),
            allow_unsafe: false,
            idle_timeout: Duration::from_secs(300),
        },
    )
    .unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ceiling = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/",
        any(|| async {
            (
                [(axum::http::header::CONTENT_TYPE, "application/json")],
                CONSTANT_BODY,
            )
        }),
    );
    nano_api::bounded_http::spawn_serve(listener, app, cfg.http_limits(), std::future::pending());
    Servers {
        rpc,
        ceiling,
        unix,
        rpc_app,
        _node: node,
        _ipc: ipc,
    }
}

/// Requests each batch of the in-process measure sends.
const IN_PROCESS_BATCH: u32 = 20_000;

/// Batches of the in-process measure; the cheapest counts (the others were disturbed).
const IN_PROCESS_BATCHES: usize = 5;

/// The CPU time this thread spends per request when `app` answers POSTs of `body` to
/// `path` in this process (no socket, no HTTP parsing or writing: the router, the
/// handler and the answer's body), in microseconds, the cheapest of several batches; and
/// the heap allocations per request of all batches (0 unless counted).
fn in_process_us(app: &Router, path: &str, body: &str) -> (f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let body = axum::body::Bytes::from(body.to_string());
    let one = || {
        let req = axum::http::Request::builder()
            .method("POST")
            .uri(path)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.clone()))
            .unwrap();
        let mut app = app.clone();
        async move {
            let resp = tower_service::Service::call(&mut app, req).await.unwrap();
            let text = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            assert!(!text.is_empty());
        }
    };
    let allocs_before = ALLOCS.load(Ordering::Relaxed);
    let best = rt.block_on(async {
        let mut best = f64::INFINITY;
        for _ in 0..IN_PROCESS_BATCHES {
            let before = thread_cpu_ns();
            for _ in 0..IN_PROCESS_BATCH {
                one().await;
            }
            let ns = (thread_cpu_ns() - before) as f64 / IN_PROCESS_BATCH as f64;
            best = best.min(ns / 1000.0);
        }
        best
    });
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs_before;
    (
        best,
        allocs as f64 / (IN_PROCESS_BATCH as usize * IN_PROCESS_BATCHES) as f64,
    )
}

/// This thread's CPU time, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the clock into the timespec it is given, which lives
    // for the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Requests per second and requests wrk reports for POSTs of `body` to `path`, and wrk's
/// own user and kernel time in ticks.
fn wrk(dir: &Path, host: &str, path: &str, body: &str, secs: u64) -> (f64, u64, (u64, u64)) {
    let script = dir.join("post.lua");
    let lua = format!(
        "wrk.method = \"POST\"\nwrk.body = {body:?}\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"
    );
    std::fs::write(&script, lua).unwrap();
    let before = children_ticks();
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{secs}s"),
            "-s",
        ])
        .arg(&script)
        .arg(format!("http://{host}{path}"))
        .output()
        .expect("wrk runs");
    let after = children_ticks();
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        panic!("wrk saw failures:\n{text}");
    }
    let rate = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rate in wrk's output:\n{text}"));
    // "  123456 requests in 8.00s, 20.00MB read"
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk's output:\n{text}"));
    (rate, requests, (after.0 - before.0, after.1 - before.1))
}

/// Requests per second and requests of 8 IPC clients on persistent Unix socket
/// connections.
async fn ipc_load(unix: &Path, body: &str, secs: u64) -> (f64, u64) {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let (done, stop) = (done.clone(), stop.clone());
        let (unix, body) = (unix.to_path_buf(), body.as_bytes().to_vec());
        tasks.push(tokio::spawn(async move {
            let mut c = IpcClient::connect_unix(&unix).await.unwrap();
            while !stop.load(Ordering::Relaxed) {
                let r = c.request(Encoding::JsonV1, &body).await.unwrap();
                assert!(r.starts_with(b"{") && !r.windows(7).any(|w| w == b"\"error\""));
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    let n = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.unwrap();
    }
    // Requests still in flight at the stop are answered (and cost CPU) too.
    let n_all = done.load(Ordering::Relaxed);
    (n as f64 / elapsed.as_secs_f64(), n_all)
}
