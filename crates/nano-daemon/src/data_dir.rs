//! Where a node keeps its files: `~/Nano` (live), `~/NanoBeta`, `~/NanoTest`, `~/NanoDev`
//! unless `--data_path` says otherwise, as the reference node does.

use std::path::PathBuf;

use nano_core::Network;

pub fn default_data_dir(network: Network) -> PathBuf {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(match network {
        Network::Live => "Nano",
        Network::Beta => "NanoBeta",
        Network::Test => "NanoTest",
        Network::Dev => "NanoDev",
    })
}
