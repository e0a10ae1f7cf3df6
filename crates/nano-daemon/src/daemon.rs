//! `nano_node --daemon`: sets up logging from `config-log.toml`, loads the other configs,
//! raises the open-file limit, opens the node's stores, starts the RPC server (in process,
//! or `nano_rpc` as a child process) and runs until SIGINT, SIGTERM or the `stop` action,
//! then shuts down in order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use nano_ledger::{Ledger, StoreOptions};
use nano_node::DaemonConfig;

use crate::limits::raise_open_file_limit;

/// Everything the daemon needs to know before it starts.
pub struct DaemonOptions {
    pub network: Network,
    pub data_dir: PathBuf,
    pub config_overrides: Vec<String>,
    pub rpc_overrides: Vec<String>,
}

/// The ledger file (the reference node's `data.ldb`, with LMDB's `data.ldb-lock` beside
/// it) in the data directory.
pub fn ledger_path(data_dir: &Path) -> PathBuf {
    data_dir.join("data.ldb")
}

/// Where an offline command finds the ledger and how it opens it. The node's
/// `[node.lmdb]` settings (config-node.toml, then `--config` overrides) hold for every
/// command that opens the file, as for `--daemon`: a map size raised for a large
/// snapshot, or a sync mode, is not silently dropped when a command upgrades or writes.
#[derive(Debug, Clone)]
pub struct LedgerAt {
    pub network: Network,
    pub dir: PathBuf,
    pub options: StoreOptions,
}

impl LedgerAt {
    /// Loads the node config of `dir` and sends the store's upgrade and migration
    /// progress to standard error and to the node log (standard output is the
    /// command's answer).
    pub fn for_command(network: Network, dir: PathBuf, overrides: &[String]) -> Result<LedgerAt> {
        let config = DaemonConfig::load(network, &dir, overrides)?;
        if dir.is_dir() {
            if let Err(e) = crate::logging::init_file_only(&dir, overrides) {
                eprintln!("no node log for this command: {e}");
            }
        }
        let options = StoreOptions {
            progress: Some(nano_store::Progress(Arc::new(|line: &str| {
                eprintln!("{line}");
                tracing::info!(target: "nano_store", "{line}");
            }))),
            // As the node: only representatives whose votes count are kept in memory.
            rep_weight_cache_minimum: nano_core::Amount::decode_dec(
                &config.node.representative_vote_weight_minimum,
            )
            .unwrap_or_default(),
            ..config.node.lmdb.store_options()
        };
        Ok(LedgerAt {
            network,
            dir,
            options,
        })
    }

    /// The ledger file (`<dir>/data.ldb`).
    pub fn path(&self) -> PathBuf {
        ledger_path(&self.dir)
    }
}

/// Opens (creating if needed) the ledger with the genesis of its network: what
/// `--initialize` does and the first step of the ledger commands that write.
pub fn initialize(at: &LedgerAt) -> Result<Arc<Ledger>> {
    std::fs::create_dir_all(&at.dir)
        .with_context(|| format!("cannot create data directory {}", at.dir.display()))?;
    // The store's errors name the file and the problem.
    let ledger = Ledger::open_with(&at.path(), at.network, &at.options)?;
    Ok(Arc::new(ledger))
}

async fn wait_for_stop(ctx: Arc<ApiContext>) -> &'static str {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => return "SIGINT",
                _ = ctx.stop.notified() => return "stop action",
            }
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
        _ = ctx.stop.notified() => "stop action",
    }
}

/// Runs the node until it is asked to stop.
pub fn run(opts: DaemonOptions) -> Result<()> {
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("cannot create data directory {}", opts.data_dir.display()))?;
    crate::logging::init(
        crate::logging::Program::Node,
        &opts.data_dir,
        &opts.config_overrides,
    )?;
    let config = DaemonConfig::load(opts.network, &opts.data_dir, &opts.config_overrides)?;
    let rpc_config = RpcConfig::load(opts.network, &opts.data_dir, &opts.rpc_overrides)?;
    match raise_open_file_limit() {
        Ok((before, after)) if after > before => {
            tracing::info!("raised the open file limit from {before} to {after}")
        }
        Ok((_, after)) => tracing::info!("open file limit is {after}"),
        Err(e) => tracing::warn!("could not raise the open file limit: {e}"),
    }
    tracing::info!(
        "starting node on the {} network, data in {}",
        opts.network,
        opts.data_dir.display()
    );
    // A long-running node gives its allocator's free pages back (see `heap_trim`).
    nano_node::heap_trim::start_heap_trimmer();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("nano")
        .build()?;
    let api_rt = api_runtime(rpc_config.server_threads)?;
    let api = api_rt.as_ref().map(|r| r.handle().clone());
    rt.block_on(async move {
        let node = nano_node::node::Node::start(&config.node, opts.network, &opts.data_dir)
            .await
            .with_context(|| format!("cannot start the node in {}", opts.data_dir.display()))?;
        if let Some(ep) = node.local_endpoint() {
            tracing::info!("peering on {ep}");
        }
        let mut ctx = ApiContext::new(opts.network);
        ctx.attach(&node);
        ctx.enable_sign_hash = config.rpc.enable_sign_hash;
        // 0 disables local work: work then comes from work peers only, or is refused.
        ctx.work_threads = config.node.work_threads as usize;
        // Validated when the config loaded.
        ctx.preconfigured_representatives = config
            .node
            .preconfigured_representatives
            .iter()
            .filter_map(|r| nano_core::PublicKey::decode_account(r).ok())
            .collect();
        ctx.max_work_generate_multiplier = config.node.max_work_generate_multiplier;
        // The node executes the actions for in-process RPC and for IPC (a child nano_rpc
        // forwards over IPC), so its slow-action pool and answer cap come from here.
        rpc_config.apply_to(&mut ctx);
        if let Ok(m) = nano_core::Amount::decode_dec(&config.node.receive_minimum) {
            if let Ok(mut g) = ctx.receive_minimum.lock() {
                *g = m;
            }
        }
        if let Ok(mut wp) = ctx.work_peers.lock() {
            for p in &config.node.work_peers {
                match p
                    .rsplit_once(':')
                    .and_then(|(h, port)| Some((h.to_string(), port.parse::<u16>().ok()?)))
                {
                    Some(entry) => wp.push(entry),
                    None => tracing::warn!("ignoring work peer {p:?}: expected address:port"),
                }
            }
        }
        let ctx = Arc::new(ctx);
        let access = Arc::new(
            nano_api::access::AccessControl::load(&opts.data_dir)
                .map_err(|e| anyhow::anyhow!("config-access.toml: {e}"))?,
        );
        if let Err(e) = nano_api::access::spawn_sighup_reloader(access.clone()) {
            tracing::warn!("SIGHUP reload of config-access.toml unavailable: {e}");
        }
        let v2 = nano_api::api_v2::V2Service::new(ctx.clone(), access);
        v2.broker.forward_node_events(&node.events);

        let shutdown = Arc::new(tokio::sync::Notify::new());
        let mut child = None;
        if config.rpc.enable {
            if config.rpc.child_process.enable {
                let path = resolve_rpc_path(&config.rpc.child_process.rpc_path);
                let mut command = tokio::process::Command::new(&path);
                stop_with_parent(&mut command);
                let c = command
                    .arg("--network")
                    .arg(opts.network.as_str())
                    .arg("--data_path")
                    .arg(&opts.data_dir)
                    .args(
                        opts.rpc_overrides
                            .iter()
                            .flat_map(|o| ["--rpcconfig".to_string(), o.clone()]),
                    )
                    .kill_on_drop(true)
                    .spawn()
                    .with_context(|| {
                        format!("cannot start RPC child process {}", path.display())
                    })?;
                tracing::info!("RPC child process started ({})", path.display());
                child = Some(c);
            } else {
                let s = shutdown.clone();
                let (v2, cfg) = (v2.clone(), rpc_config.clone());
                let addr = on_api_runtime(&api, async move {
                    nano_api::http::serve_with_v2(v2, &cfg, async move { s.notified().await }).await
                })
                .await?
                .with_context(|| {
                    format!(
                        "cannot start RPC server on [{}]:{}",
                        rpc_config.address, rpc_config.port
                    )
                })?;
                tracing::info!("RPC server listening on {addr}");
            }
        }
        let (ipc_v2, ipc_cfg) = (v2.clone(), config.node.ipc.clone());
        let mut ipc = on_api_runtime(&api, async move {
            nano_api::ipc::server::IpcServer::start(ipc_v2, &ipc_cfg).await
        })
        .await?
        .context("cannot start the IPC server")?;
        for a in ipc.tcp_addrs() {
            tracing::info!("IPC listening on {a}");
        }
        let mut ws_settings = nano_api::websocket::WebsocketSettings::new(node.params);
        ws_settings.stats = Some(node.stats.clone());
        ws_settings.history = Some(nano_node::confirmation_history::ConfirmationHistory::new(
            node.ledger.clone(),
        ));
        let wallets = node.wallets.clone();
        ws_settings.local_accounts = Some(Arc::new(move || {
            wallets
                .all_accounts()
                .map(|v| v.into_iter().map(|(_, a)| a).collect())
                .unwrap_or_default()
        }));
        let (ws_cfg, events) = (config.node.websocket.clone(), node.events.clone());
        let ws = on_api_runtime(&api, async move {
            nano_api::websocket::WebsocketServer::start(&ws_cfg, &events, ws_settings).await
        })
        .await?
        .context("cannot start the WebSocket server")?;
        if let Some(w) = &ws {
            tracing::info!("WebSocket listening on {}", w.local_addr());
        }
        let callback = nano_api::callback::HttpCallbackClient::start(
            &config.node.httpcallback,
            &node.events,
            nano_node::confirmation_history::ConfirmationHistory::new(node.ledger.clone()),
            nano_api::callback::CallbackSettings {
                stats: Some(node.stats.clone()),
                ..nano_api::callback::CallbackSettings::from_config(&config.node.httpcallback)
            },
        );
        let auto_receive = crate::auto_receive::spawn(ctx.clone(), node.events.clone());

        let why = wait_for_stop(ctx.clone()).await;
        tracing::info!("stopping node ({why})");
        auto_receive.abort();
        shutdown.notify_waiters();
        ipc.stop();
        if let Some(w) = ws {
            w.shutdown().await;
        }
        if let Some(c) = callback {
            c.shutdown().await;
        }
        if let Some(mut c) = child {
            let _ = c.kill().await;
        }
        node.stop().await;
        anyhow::Ok(())
    })?;
    drop(rt);
    if let Some(r) = api_rt {
        r.shutdown_timeout(API_SHUTDOWN);
    }
    tracing::info!("node stopped");
    Ok(())
}

/// How long the API servers' runtime may take to end its tasks once the node stopped.
const API_SHUTDOWN: std::time::Duration = std::time::Duration::from_secs(5);

/// The runtime of the RPC, IPC and WebSocket servers (`server_threads` of
/// config-rpc.toml), or none when they share the node's (0). On their own threads,
/// accepting, parsing and answering API requests (and refusing a flood of them) do not
/// queue behind the peering tasks of the node's runtime, nor these behind them.
fn api_runtime(threads: u32) -> Result<Option<tokio::runtime::Runtime>> {
    if threads == 0 {
        return Ok(None);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads as usize)
        .enable_all()
        .thread_name("nano api")
        .build()
        .context("cannot start the API servers' runtime")?;
    Ok(Some(rt))
}

/// Runs `fut` (a server's start, whose accept loop and connections are spawned where it
/// runs) on the API runtime if there is one, else here.
async fn on_api_runtime<T: Send + 'static>(
    api: &Option<tokio::runtime::Handle>,
    fut: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T> {
    match api {
        Some(h) => h
            .spawn(fut)
            .await
            .map_err(|e| anyhow::anyhow!("API server start failed: {e}")),
        None => Ok(fut.await),
    }
}

/// `nano_rpc` next to the running executable unless the configured path is absolute.
fn resolve_rpc_path(configured: &str) -> PathBuf {
    let p = PathBuf::from(configured);
    if p.is_absolute() {
        return p;
    }
    std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(|d| d.join(&p)))
        .unwrap_or(p)
}

/// Asks the kernel to send SIGTERM to the RPC child when this process dies, however it
/// dies. `kill_on_drop` covers an orderly exit only: after a SIGKILL or a crash of the
/// node, an orphaned `nano_rpc` would keep the RPC port bound and the restarted node
/// could not serve RPC.
#[cfg(target_os = "linux")]
fn stop_with_parent(command: &mut tokio::process::Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and calls only
    // async-signal-safe functions (prctl, getppid, _exit).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The node may have died between fork and prctl; then no signal would come.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn stop_with_parent(_command: &mut tokio::process::Command) {}
