//! The JSON configuration file (`nanocap.config`): the reference tool's keys, their
//! defaults, and loading with unknown keys tolerated. Two deliberate changes from the
//! reference: the web console binds to 127.0.0.1 by default, and `capture.interface`
//! selects a live interface by name.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Capture and decoding options (`capture.*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct CaptureConfig {
    /// Start live capture at launch (ignored when importing a file).
    pub enabled: bool,
    /// Interface to capture on, by one of its IP addresses; empty = guess.
    pub device_ip: String,
    /// Interface to capture on, by name; wins over `device_ip`.
    pub interface: String,
    /// BPF filter for live capture and for file import.
    pub filter: String,
    /// Stop writing when the database file grows past this many MiB.
    pub max_capture_megabytes: u64,
    /// Write block rows.
    pub block_details: bool,
    /// Write bootstrap response rows and "end of ..." connection events.
    pub bootstrap_details: bool,
    /// Write one `connection` row per message.
    pub connection_details: bool,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            enabled: true,
            device_ip: String::new(),
            interface: String::new(),
            filter: String::new(),
            max_capture_megabytes: 4096,
            block_details: true,
            bootstrap_details: true,
            connection_details: true,
        }
    }
}

/// Web console and REST API options (`web.*`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct WebConfig {
    pub enabled: bool,
    /// Localhost by default: the console runs arbitrary read-only SQL.
    pub bind: String,
    pub port: u16,
    /// Row cap for query results.
    pub max_query_result: usize,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            bind: "127.0.0.1".into(),
            port: 8077,
            max_query_result: 5000,
        }
    }
}

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Config {
    pub capture: CaptureConfig,
    /// SQLite file; empty or `:memory:` keeps everything in memory (no web queries then).
    pub database: String,
    pub web: WebConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capture: CaptureConfig::default(),
            database: "capture.db".into(),
            web: WebConfig::default(),
        }
    }
}

impl Config {
    /// Parses a config document; missing keys take their defaults.
    pub fn from_json(text: &str) -> anyhow::Result<Config> {
        Ok(serde_json::from_str(text)?)
    }

    /// Loads `path`; a missing file gives the defaults only when `must_exist` is false.
    pub fn load(path: &Path, must_exist: bool) -> anyhow::Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                Config::from_json(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                Ok(Config::default())
            }
            Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    /// The defaults as a pretty JSON document (what `--print-config` shows).
    pub fn default_json() -> String {
        serde_json::to_string_pretty(&Config::default()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_sample_parses() {
        let c = Config::from_json(
            r#"{"capture":{"enabled":true,"device_ip":"","filter":"(tcp port 7075 or tcp port 54000)",
            "max_capture_megabytes":8192,"block_details":true,"bootstrap_details":true,
            "connection_details":true},"database":"capture.db",
            "web":{"enabled":true,"bind":"0.0.0.0","port":8077,"max_query_result":5000}}"#,
        )
        .unwrap();
        assert_eq!(c.capture.max_capture_megabytes, 8192);
        assert_eq!(c.web.bind, "0.0.0.0");
        let d = Config::from_json("{}").unwrap();
        assert_eq!(d, Config::default());
        assert_eq!(d.web.bind, "127.0.0.1");
        assert!(Config::from_json("[").is_err());
    }
}
