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
    /// Create the data directory and ledger (with the genesis block) and exit.
    #[arg(long)]
    pub initialize: bool,
    /// Print a documented config file: node or rpc.
    #[arg(long = "generate_config", value_name = "TYPE")]
    pub generate_config: Option<String>,
    /// With --generate_config: print the values uncommented.
    #[arg(long = "use_defaults")]
    pub use_defaults: bool,
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

/// The data directory: `--data_path`, else the network's default under $HOME.
pub fn data_dir_of(args: &Args, network: Network) -> PathBuf {
    args.data_path
        .clone()
        .unwrap_or_else(|| crate::data_dir::default_data_dir(network))
}

/// Runs the command selected by `args` and returns what it prints on stdout.
pub fn run(args: &Args) -> Result<String> {
    let network = network_of(args)?;
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
    if let Some(kind) = &args.generate_config {
        let header = format!(
            "# This is an example configuration file for a Nano node.\n# Fields may need to be defined in the context of a [category] above them.\n# The desired configuration changes should be placed in config-{kind}.toml in the node data path.\n# To change a value from its default, uncomment (erasing #) the corresponding field.\n\n"
        );
        let body = match kind.as_str() {
            "node" => nano_node::config::generate_node_config(network, args.use_defaults),
            "rpc" => nano_api::RpcConfig::generate(network, args.use_defaults),
            other => bail!("Invalid configuration type {other}. Must be node or rpc."),
        };
        return Ok(header + &body);
    }
    if args.initialize {
        let dir = data_dir_of(args, network);
        crate::daemon::initialize(network, &dir)?;
        return Ok(String::new());
    }
    if args.daemon {
        crate::daemon::run(crate::daemon::DaemonOptions {
            network,
            data_dir: data_dir_of(args, network),
            config_overrides: args.config.clone(),
            rpc_overrides: args.rpcconfig.clone(),
        })?;
        return Ok(String::new());
    }
    bail!("Unknown command; see --help")
}
