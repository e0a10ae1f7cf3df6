//! Command-line parsing with the reference node's long flag names (`--key_create`,
//! `--data_path`, ...), and dispatch to the command asked for.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Result};
use clap::Parser;
use nano_core::Network;

use crate::key_tools;

#[derive(Parser, Debug, Default)]
#[command(
    name = "nano_node",
    about = "A Nano node, wire- and JSON-compatible with the reference node",
    disable_version_flag = true
)]
pub struct Args {
    /// Print the version and exit.
    #[arg(long)]
    pub version: bool,
    /// Run the node.
    #[arg(long)]
    pub daemon: bool,
    /// Network to join: live, beta, test or dev.
    #[arg(long, value_name = "NETWORK")]
    pub network: Option<String>,
    /// Directory for the ledger, wallets and config files.
    #[arg(long = "data_path", value_name = "PATH")]
    pub data_path: Option<PathBuf>,
    /// Override a config-node.toml value (repeatable): key=value.
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,
    /// Override a config-rpc.toml value (repeatable): key=value.
    #[arg(long = "rpcconfig", value_name = "KEY=VALUE")]
    pub rpcconfig: Vec<String>,
    /// Generate a random key pair.
    #[arg(long = "key_create")]
    pub key_create: bool,
    /// Derive public key and account from --key (private key hex).
    #[arg(long = "key_expand")]
    pub key_expand: bool,
    /// Print the account for --key (public key hex).
    #[arg(long = "account_get")]
    pub account_get: bool,
    /// Print the public key for --account.
    #[arg(long = "account_key")]
    pub account_key: bool,
    /// A key in hex, for the commands that take one.
    #[arg(long, value_name = "HEX")]
    pub key: Option<String>,
    /// An account, for the commands that take one.
    #[arg(long, value_name = "ACCOUNT")]
    pub account: Option<String>,
}

/// The network named on the command line (live when absent, as the reference node).
pub fn network_of(args: &Args) -> Result<Network> {
    match &args.network {
        None => Ok(Network::Live),
        Some(n) => n.parse::<Network>().map_err(|e| anyhow!("{e}")),
    }
}

/// The version line printed by `--version`.
pub fn version_string() -> String {
    format!(
        "Version: V{}\nProtocol: 0x{:02x}\n",
        env!("CARGO_PKG_VERSION"),
        0x15
    )
}

/// Runs the command selected by `args` and returns what it prints on stdout.
pub fn run(args: &Args) -> Result<String> {
    let _network = network_of(args)?;
    if args.version {
        return Ok(version_string());
    }
    if args.key_create {
        return Ok(key_tools::key_create());
    }
    if args.key_expand {
        let key = args
            .key
            .as_deref()
            .ok_or_else(|| anyhow!("key_expand command requires one <key> option"))?;
        return key_tools::key_expand(key);
    }
    if args.account_get {
        let key = args
            .key
            .as_deref()
            .ok_or_else(|| anyhow!("account command requires one <key> option"))?;
        return key_tools::account_get(key);
    }
    if args.account_key {
        let acc = args
            .account
            .as_deref()
            .ok_or_else(|| anyhow!("account_key command requires one <account> option"))?;
        return key_tools::account_key(acc);
    }
    if args.daemon {
        bail!("--daemon: the node runtime is not built yet in this version");
    }
    bail!("Unknown command; see --help")
}
