//! `nano_rpc`: the RPC server as its own process. It reads `config-rpc.toml` and
//! `config-log.toml` (data directory from `--data_path`/`--network`, overrides from
//! `--rpcconfig key=value`; logs go to standard error and `log/rpc.log` by default),
//! serves HTTP RPC v1 and `/api/v2`, and forwards every request to the node over IPC TCP
//! (`process.ipc_address`/`process.ipc_port`) through `process.num_ipc_connections`
//! persistent connections, enforcing `enable_control` itself. It prints
//! `nano_rpc listening on <address>` once bound and stops on SIGINT/SIGTERM.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use nano_api::ipc::client::{IpcPool, IpcTarget};
use nano_api::RpcConfig;
use nano_core::Network;

#[derive(Parser, Debug)]
#[command(
    name = "nano_rpc",
    about = "Nano RPC server, forwarding to a node over IPC"
)]
struct Args {
    /// Start the server (accepted for compatibility; serving is the only mode).
    #[arg(long)]
    daemon: bool,
    #[arg(long, value_name = "NETWORK")]
    network: Option<String>,
    #[arg(long = "data_path", value_name = "PATH")]
    data_path: Option<PathBuf>,
    #[arg(long = "rpcconfig", value_name = "KEY=VALUE")]
    rpcconfig: Vec<String>,
}

/// How long one forwarded request may take end to end (work generation can be slow).
const IPC_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

fn main() {
    let result = run();
    // The log lines still queued are written before the process ends.
    nano_daemon::logging::finish();
    if let Err(e) = result {
        eprintln!("Error: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    let network: Network = match &args.network {
        Some(n) => n
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown network {n:?}"))?,
        None => Network::Live,
    };
    let data_dir = args
        .data_path
        .clone()
        .unwrap_or_else(|| nano_daemon::data_dir::default_data_dir(network));
    nano_daemon::logging::init(
        nano_daemon::logging::Program::Rpc,
        &data_dir,
        &args.rpcconfig,
    )?;
    let cfg = RpcConfig::load(network, &data_dir, &args.rpcconfig)
        .with_context(|| format!("loading config-rpc.toml from {}", data_dir.display()))?;
    // Its answers pass through this process too: large ones get their own mappings and
    // their writer leaves the first cores free, as in the node.
    nano_node::heap_trim::start_heap_trimmer();
    cfg.apply_to_process();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.process.io_threads.max(1) as usize)
        .enable_all()
        .build()?;
    rt.block_on(serve(cfg))
}

async fn serve(cfg: RpcConfig) -> Result<()> {
    let pool = Arc::new(IpcPool::new(
        IpcTarget::Tcp {
            host: cfg.process.ipc_address.clone(),
            port: cfg.process.ipc_port,
        },
        cfg.process.num_ipc_connections as usize,
        IPC_REQUEST_TIMEOUT,
    ));
    let local = nano_api::ipc::forward::serve(pool, &cfg, std::future::pending())
        .await
        .with_context(|| format!("binding {}:{}", cfg.address, cfg.port))?;
    println!("nano_rpc listening on {local}");
    tracing::info!(
        "RPC on {local}, forwarding to the node at {}:{} over {} IPC connection(s)",
        cfg.process.ipc_address,
        cfg.process.ipc_port,
        cfg.process.num_ipc_connections
    );
    shutdown_signal().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
