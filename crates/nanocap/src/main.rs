//! The `nanocap` command: parses flags, loads the config, starts the engine thread, the
//! web console and signal handling, and prints the import summary.

use std::io::IsTerminal;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use anyhow::Context;
use clap::Parser;

use nanocap::config::Config;
use nanocap::engine::Engine;
use nanocap::status::Status;
use nanocap::web::{self, AppState};

/// Nano protocol analyzer: capture or import Nano traffic into SQLite and query it.
#[derive(Parser, Debug)]
#[command(name = "nanocap", version = nanocap::VERSION, about)]
struct Cli {
    /// Import a pcap or pcapng file instead of capturing live.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    /// List capture interfaces and their addresses, then exit.
    #[arg(long = "if")]
    list_interfaces: bool,
    /// JSON config file (default: nanocap.config in the working directory, if present).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override `database`.
    #[arg(long, value_name = "FILE")]
    database: Option<PathBuf>,
    /// Override `capture.interface` (live capture by interface name).
    #[arg(long, value_name = "NAME")]
    interface: Option<String>,
    /// Override `capture.filter` (BPF).
    #[arg(long, value_name = "BPF")]
    filter: Option<String>,
    /// Override `web.port`.
    #[arg(long)]
    port: Option<u16>,
    /// Do not start the web console (an import then exits when done).
    #[arg(long)]
    no_web: bool,
    /// Print the default config and exit.
    #[arg(long)]
    print_config: bool,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("nanocap: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if cli.print_config {
        println!("{}", Config::default_json());
        return Ok(());
    }
    if cli.list_interfaces {
        return list_interfaces();
    }
    let mut cfg = match &cli.config {
        Some(p) => Config::load(p, true)?,
        None => Config::load(std::path::Path::new("nanocap.config"), false)?,
    };
    if let Some(d) = &cli.database {
        cfg.database = d.display().to_string();
    }
    if let Some(i) = cli.interface {
        cfg.capture.interface = i;
    }
    if let Some(f) = cli.filter {
        cfg.capture.filter = f;
    }
    if let Some(p) = cli.port {
        cfg.web.port = p;
    }
    if cli.no_web {
        cfg.web.enabled = false;
    }
    if cfg.database.is_empty() || cfg.database == ":memory:" {
        anyhow::bail!(
            "`database` must name a file (the console reads it through its own connection)"
        );
    }
    let db_path = PathBuf::from(&cfg.database);
    println!("nanocap {} (protocol 0x15)", nanocap::VERSION);

    let status = Arc::new(Status::default());
    let stop = Arc::new(AtomicBool::new(false));
    let source = match &cli.pcap {
        Some(p) => p.display().to_string(),
        None => "live".to_string(),
    };
    let mut engine = Engine::new(
        cfg.clone(),
        &db_path,
        &source,
        status.clone(),
        stop.clone(),
        cli.pcap.is_some(),
    )
    .with_context(|| format!("opening {}", db_path.display()))?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    {
        let stop = stop.clone();
        runtime.spawn(async move {
            let term = async {
                #[cfg(unix)]
                {
                    if let Ok(mut s) =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                    {
                        s.recv().await;
                    }
                }
                #[cfg(not(unix))]
                std::future::pending::<()>().await;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term => {},
            }
            stop.store(true, Ordering::Relaxed);
        });
    }
    let (ctl_tx, ctl_rx) = mpsc::channel();
    if cfg.web.enabled {
        let ip: IpAddr = cfg
            .web
            .bind
            .parse()
            .with_context(|| format!("web.bind {:?}", cfg.web.bind))?;
        let addr = SocketAddr::new(ip, cfg.web.port);
        let state = Arc::new(AppState::new(
            status.clone(),
            db_path.clone(),
            cfg.web.max_query_result,
            Some(ctl_tx.clone()),
        ));
        let stop = stop.clone();
        let limits = cfg.web.http_limits();
        runtime.spawn(async move {
            if let Err(e) = web::serve(state, addr, limits).await {
                eprintln!("nanocap: web console: {e:#}");
                stop.store(true, Ordering::Relaxed);
            }
        });
    }

    if let Some(path) = &cli.pcap {
        let progress = std::io::stderr().is_terminal();
        let report = engine.import(path, progress, Some(&ctl_rx))?;
        print!("{}", report.render());
        if !cfg.web.enabled {
            engine.close();
            return Ok(());
        }
        println!("import done; the web console keeps serving (Ctrl-C to quit)");
        engine.run(ctl_rx, false);
    } else {
        engine.run(ctl_rx, cfg.capture.enabled);
    }
    engine.close();
    drop(ctl_tx);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(())
}

#[cfg(feature = "live")]
fn list_interfaces() -> anyhow::Result<()> {
    for line in nanocap::live::list_interfaces()? {
        println!("{line}");
    }
    Ok(())
}

#[cfg(not(feature = "live"))]
fn list_interfaces() -> anyhow::Result<()> {
    anyhow::bail!("this build has no live capture (cargo feature `live`)")
}
