//! `nano_node --daemon`: loads the configs, raises the open-file limit, opens the node's
//! stores, starts the RPC server (in process, or `nano_rpc` as a child process) and runs
//! until SIGINT, SIGTERM or the `stop` action, then shuts down in order.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use nano_ledger::Ledger;
use nano_node::DaemonConfig;

use crate::limits::raise_open_file_limit;

/// Everything the daemon needs to know before it starts.
pub struct DaemonOptions {
    pub network: Network,
    pub data_dir: PathBuf,
    pub config_overrides: Vec<String>,
    pub rpc_overrides: Vec<String>,
}

/// The ledger lives in its own LMDB environment directory inside the data directory.
pub fn ledger_path(data_dir: &Path) -> PathBuf {
    data_dir.join("data.ldb")
}

/// Opens (creating if needed) the ledger with the genesis of `network`: what
/// `--initialize` does and the first step of `--daemon`.
pub fn initialize(network: Network, data_dir: &Path) -> Result<Arc<Ledger>> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let ledger = Ledger::open(&ledger_path(data_dir), network)
        .with_context(|| format!("cannot open the ledger in {}", data_dir.display()))?;
    Ok(Arc::new(ledger))
}

fn init_logging() {
    let filter = std::env::var("NANO_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .try_init();
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
    init_logging();
    std::fs::create_dir_all(&opts.data_dir)
        .with_context(|| format!("cannot create data directory {}", opts.data_dir.display()))?;
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
    let ledger = initialize(opts.network, &opts.data_dir)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("nano")
        .build()?;
    rt.block_on(async move {
        let mut ctx = ApiContext::new(opts.network);
        ctx.ledger = Some(ledger.clone());
        ctx.enable_sign_hash = config.rpc.enable_sign_hash;
        ctx.work_threads = config.node.work_threads.max(1) as usize;
        ctx.max_work_generate_multiplier = config.node.max_work_generate_multiplier;
        let ctx = Arc::new(ctx);
        let shutdown = Arc::new(tokio::sync::Notify::new());
        let mut child = None;
        if config.rpc.enable {
            if config.rpc.child_process.enable {
                let path = resolve_rpc_path(&config.rpc.child_process.rpc_path);
                let c = tokio::process::Command::new(&path)
                    .arg("--daemon")
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
                let addr =
                    nano_api::http::serve(
                        ctx.clone(),
                        &rpc_config,
                        async move { s.notified().await },
                    )
                    .await
                    .with_context(|| {
                        format!(
                            "cannot start RPC server on [{}]:{}",
                            rpc_config.address, rpc_config.port
                        )
                    })?;
                tracing::info!("RPC server listening on {addr}");
            }
        }
        let why = wait_for_stop(ctx.clone()).await;
        tracing::info!("stopping node ({why})");
        shutdown.notify_waiters();
        if let Some(mut c) = child {
            let _ = c.kill().await;
        }
        anyhow::Ok(())
    })?;
    drop(rt);
    tracing::info!("node stopped");
    Ok(())
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
