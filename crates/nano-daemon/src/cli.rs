//! Command-line parsing with the reference node's long flag names (`--key_create`,
//! `--data_path`, ...), and dispatch to the command asked for.

use std::io::Write;
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
    /// Override a config-node.toml value, or a config-log.toml `log.` value (repeatable): key=value.
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
    /// Print a documented config file: node, rpc or log.
    #[arg(long = "generate_config", value_name = "TYPE")]
    pub generate_config: Option<String>,
    /// With --generate_config: print the values uncommented.
    #[arg(long = "use_defaults")]
    pub use_defaults: bool,
    /// Self-test of hashing, key derivation and work.
    #[arg(long)]
    pub diagnostics: bool,
    /// Delete the stored peers.
    #[arg(long = "peer_clear")]
    pub peer_clear: bool,
    /// Delete the unchecked blocks table.
    #[arg(long = "unchecked_clear")]
    pub unchecked_clear: bool,
    /// Delete the online weight samples.
    #[arg(long = "online_weight_clear")]
    pub online_weight_clear: bool,
    /// Delete stored final votes (--root ROOT or --all).
    #[arg(long = "final_vote_clear")]
    pub final_vote_clear: bool,
    /// Reset confirmation heights (--account ACCOUNT or --account all).
    #[arg(long = "confirmation_height_clear")]
    pub confirmation_height_clear: bool,
    /// Roll back an uncemented block and its dependents (--hash).
    #[arg(long)]
    pub rollback: bool,
    /// Create a wallet (optionally --seed, --password) and print its id.
    #[arg(long = "wallet_create")]
    pub wallet_create: bool,
    /// List wallets and their accounts.
    #[arg(long = "wallet_list")]
    pub wallet_list: bool,
    /// Destroy --wallet.
    #[arg(long = "wallet_destroy")]
    pub wallet_destroy: bool,
    /// Insert --key into --wallet.
    #[arg(long = "wallet_add_adhoc")]
    pub wallet_add_adhoc: bool,
    /// Print the seed and private keys of --wallet.
    #[arg(long = "wallet_decrypt_unsafe")]
    pub wallet_decrypt_unsafe: bool,
    /// Print the representative of --wallet.
    #[arg(long = "wallet_representative_get")]
    pub wallet_representative_get: bool,
    /// Set --account as the representative of --wallet.
    #[arg(long = "wallet_representative_set")]
    pub wallet_representative_set: bool,
    /// Insert the next deterministic key into --wallet.
    #[arg(long = "account_create")]
    pub account_create: bool,
    #[arg(long, value_name = "WALLET_ID")]
    pub wallet: Option<String>,
    #[arg(long, value_name = "SEED")]
    pub seed: Option<String>,
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    #[arg(long, value_name = "HASH")]
    pub hash: Option<String>,
    #[arg(long, value_name = "ROOT")]
    pub root: Option<String>,
    /// With --final_vote_clear: every root.
    #[arg(long)]
    pub all: bool,
    /// Compact the ledger into a copy and swap it in (the old file is kept as
    /// backup.vacuum.ldb); with the cleanup flags, cleans the copy on the way.
    #[arg(long)]
    pub vacuum: bool,
    /// Write a compacted copy of the ledger to snapshot.ldb (cleanup flags apply
    /// to the copy only).
    #[arg(long)]
    pub snapshot: bool,
    /// Rebuild every table in key order, then vacuum.
    #[arg(long = "rebuild_database")]
    pub rebuild_database: bool,
    /// Delete stored send ids (not supported: they live in the wallet store).
    #[arg(long = "clear_send_ids")]
    pub clear_send_ids: bool,
    /// Print config-node.toml with missing keys added (commented defaults) and unknown
    /// keys dropped.
    #[arg(long = "update_config")]
    pub update_config: bool,
    /// Print the number of blocks in the ledger.
    #[arg(long = "debug_block_count")]
    pub debug_block_count: bool,
    /// Print the number of accounts in the ledger.
    #[arg(long = "debug_account_count")]
    pub debug_account_count: bool,
    /// Print the number of cemented blocks.
    #[arg(long = "debug_cemented_block_count")]
    pub debug_cemented_block_count: bool,
    /// Print every block, one JSON object per line.
    #[arg(long = "debug_block_dump")]
    pub debug_block_dump: bool,
    /// Print representatives and their weights, heaviest first.
    #[arg(long = "debug_dump_representatives")]
    pub debug_dump_representatives: bool,
    /// Count accounts (and unopened accounts with receivables) per epoch version.
    #[arg(long = "debug_account_versions")]
    pub debug_account_versions: bool,
    /// Check every block's hash, signature, work and links, and confirmation heights.
    #[arg(long = "validate_blocks", alias = "debug_validate_blocks")]
    pub validate_blocks: bool,
    /// Check the ledger's representative weights against the weights its accounts
    /// imply (summary, outliers, newcomers, every differing representative).
    #[arg(long = "compare_rep_weights")]
    pub compare_rep_weights: bool,
    /// Worker threads for --validate_blocks (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// With --validate_blocks: print only the summary.
    #[arg(long)]
    pub silent: bool,
}

/// The cleanup flags given with --vacuum or --snapshot.
fn cleanup_of(args: &Args) -> Result<crate::vacuum::Cleanup> {
    if args.clear_send_ids {
        bail!(SEND_IDS_UNSUPPORTED);
    }
    let confirmation_height = if args.confirmation_height_clear {
        Some(
            args.account
                .clone()
                .ok_or_else(|| anyhow!(CONF_HEIGHT_ACCOUNT))?,
        )
    } else {
        None
    };
    Ok(crate::vacuum::Cleanup {
        unchecked: args.unchecked_clear,
        online_weight: args.online_weight_clear,
        peers: args.peer_clear,
        confirmation_height,
    })
}

const CONF_HEIGHT_ACCOUNT: &str = "confirmation_height_clear command requires one <account> option that may contain an account or the value 'all'";

const SEND_IDS_UNSUPPORTED: &str = "--clear_send_ids is not supported: send ids are kept in the wallet store (wallets.ldb), not in the ledger";

/// Runs a command that streams its output to stdout (a broken pipe, as in `| head`, ends
/// it quietly).
fn streamed(f: impl FnOnce(&mut dyn Write) -> Result<()>) -> Result<String> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let r = f(&mut out).and_then(|_| out.flush().map_err(Into::into));
    match r {
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            Ok(String::new())
        }
        Err(e) => {
            let _ = out.flush();
            Err(e)
        }
        Ok(()) => Ok(String::new()),
    }
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
            "log" => crate::log_config::generate(args.use_defaults),
            other => bail!("Invalid configuration type {other}. Must be node, rpc or log."),
        };
        return Ok(header + &body);
    }
    let dir = || data_dir_of(args, network);
    // Every command that opens the ledger opens it as the node would (`[node.lmdb]`).
    let at = || crate::daemon::LedgerAt::for_command(network, dir(), &args.config);
    if args.update_config {
        return crate::update_config::update_config(network, &dir(), &args.config);
    }
    if args.vacuum || args.rebuild_database {
        let cleanup = cleanup_of(args)?;
        return crate::vacuum::vacuum(&at()?, &cleanup, args.rebuild_database);
    }
    if args.snapshot {
        let cleanup = cleanup_of(args)?;
        return crate::vacuum::snapshot(&at()?, &cleanup);
    }
    if args.clear_send_ids {
        bail!(SEND_IDS_UNSUPPORTED);
    }
    use crate::debug as d;
    if args.debug_block_count {
        return streamed(|o| d::block_count(&at()?, o));
    }
    if args.debug_account_count {
        return streamed(|o| d::account_count(&at()?, o));
    }
    if args.debug_cemented_block_count {
        return streamed(|o| d::cemented_block_count(&at()?, o));
    }
    if args.debug_block_dump {
        return streamed(|o| d::block_dump(&at()?, o));
    }
    if args.debug_dump_representatives {
        return streamed(|o| d::dump_representatives(&at()?, o));
    }
    if args.debug_account_versions {
        return streamed(|o| d::account_versions(&at()?, o));
    }
    if args.compare_rep_weights {
        return streamed(|o| crate::rep_weights::compare_rep_weights(&at()?, o));
    }
    if args.validate_blocks {
        return streamed(|o| d::validate_blocks(&at()?, args.threads, args.silent, o));
    }
    use crate::maintenance as m;
    if args.diagnostics {
        return m::diagnostics(network);
    }
    if args.peer_clear {
        return m::peer_clear(&at()?);
    }
    if args.unchecked_clear {
        return m::unchecked_clear(&at()?);
    }
    if args.online_weight_clear {
        return m::online_weight_clear(&at()?);
    }
    if args.final_vote_clear {
        return m::final_vote_clear(&at()?, args.root.as_deref(), args.all);
    }
    if args.confirmation_height_clear {
        let acc = args
            .account
            .as_deref()
            .ok_or_else(|| anyhow!(CONF_HEIGHT_ACCOUNT))?;
        return m::confirmation_height_clear(&at()?, acc);
    }
    if args.rollback {
        let h = args
            .hash
            .as_deref()
            .ok_or_else(|| anyhow!("rollback command requires one <hash> option"))?;
        return m::rollback(&at()?, h);
    }
    if args.wallet_create {
        let seed = args.seed.as_deref().or(args.key.as_deref());
        return m::wallet_create(network, &dir(), seed, args.password.as_deref());
    }
    if args.wallet_list {
        return m::wallet_list(network, &dir());
    }
    if args.wallet_destroy {
        return m::wallet_destroy(network, &dir(), args.wallet.as_deref());
    }
    if args.wallet_add_adhoc {
        return m::wallet_add_adhoc(
            network,
            &dir(),
            args.wallet.as_deref(),
            args.key.as_deref(),
            args.password.as_deref(),
        );
    }
    if args.wallet_decrypt_unsafe {
        return m::wallet_decrypt_unsafe(
            network,
            &dir(),
            args.wallet.as_deref(),
            args.password.as_deref(),
        );
    }
    if args.wallet_representative_get {
        return m::wallet_representative_get(network, &dir(), args.wallet.as_deref());
    }
    if args.wallet_representative_set {
        return m::wallet_representative_set(
            network,
            &dir(),
            args.wallet.as_deref(),
            args.account.as_deref(),
        );
    }
    if args.account_create {
        return m::account_create(
            network,
            &dir(),
            args.wallet.as_deref(),
            args.password.as_deref(),
        );
    }
    if args.initialize {
        crate::daemon::initialize(&at()?)?;
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
