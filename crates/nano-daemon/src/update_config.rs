//! `--update_config`: reads `config-node.toml` from the data directory, and prints it
//! brought up to date in the documented layout of `--generate_config node`:
//!
//! * every key the file sets (or a `--config key=value` override sets) keeps its value,
//!   uncommented;
//! * every key it does not set is added with its default value, commented out (as in the
//!   generated file), so the result means exactly what the old file meant and still
//!   follows the defaults of later versions;
//! * keys this node does not know (obsolete or misspelt) are dropped and named on
//!   standard error.
//!
//! The file is parsed exactly as the node parses it at start-up, so a bad value fails
//! here with the same message.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use nano_core::Network;
use nano_node::config::{render_node_config, DaemonConfig};

/// The dotted paths of `v`'s non-table values (`node.ipc.tcp.port`, ...).
fn leaf_paths(v: &toml::Value, prefix: &str, out: &mut BTreeSet<String>) {
    match v.as_table() {
        Some(t) => {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                leaf_paths(v, &path, out);
            }
        }
        None => {
            out.insert(prefix.to_string());
        }
    }
}

/// The updated file, and the keys that were dropped.
pub fn updated_node_config(
    network: Network,
    dir: &Path,
    overrides: &[String],
) -> Result<(String, Vec<String>)> {
    let path = dir.join("config-node.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(anyhow!(
                "No config-node.toml in {} (--generate_config node prints one)",
                dir.display()
            ))
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let config = DaemonConfig::from_sources(network, Some(&text), overrides)?;
    let mut set = BTreeSet::new();
    // Both parse: from_sources has just parsed them.
    if let Ok(v) = toml::from_str::<toml::Value>(&text) {
        leaf_paths(&v, "", &mut set);
    }
    for o in overrides {
        if let Ok(v) = toml::from_str::<toml::Value>(o) {
            leaf_paths(&v, "", &mut set);
        }
    }
    let mut known = BTreeSet::new();
    leaf_paths(
        &toml::Value::try_from(&config).context("cannot serialise the config")?,
        "",
        &mut known,
    );
    let dropped = set.difference(&known).cloned().collect();
    let text = render_node_config(&config, &|key| !set.contains(key));
    Ok((text, dropped))
}

/// `--update_config`: the updated file for stdout; dropped keys go to stderr.
pub fn update_config(network: Network, dir: &Path, overrides: &[String]) -> Result<String> {
    let (text, dropped) = updated_node_config(network, dir, overrides)?;
    for key in dropped {
        eprintln!("Dropped unknown key {key}");
    }
    Ok(text)
}
