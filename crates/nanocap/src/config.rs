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
    /// Open console connections at once; further ones are closed at accept.
    pub connections_max: usize,
    /// Seconds to send a request's head (also how long an idle keep-alive connection
    /// is kept).
    pub header_timeout: u64,
    /// Seconds to send a request's body once its head arrived.
    pub read_timeout: u64,
    /// Seconds without a byte moving either way after which a connection is closed.
    pub idle_timeout: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            bind: "127.0.0.1".into(),
            port: 8077,
            max_query_result: 5000,
            // A console has a handful of users; 64 leaves room for tabs and scripts
            // while a flood of idle sockets cannot exhaust descriptors.
            connections_max: 64,
            header_timeout: 10,
            read_timeout: 30,
            // Longer than the slowest query (15 s limit) so an answer is never cut.
            idle_timeout: 120,
        }
    }
}

/// Largest request body the console reads: its requests carry their SQL in the URL and
/// the control endpoints take no body.
const WEB_MAX_BODY: usize = 64 * 1024;

impl WebConfig {
    /// The connection limits of the console's listener.
    pub fn http_limits(&self) -> nano_http::HttpLimits {
        nano_http::HttpLimits {
            max_connections: self.connections_max,
            header_timeout: std::time::Duration::from_secs(self.header_timeout),
            read_timeout: std::time::Duration::from_secs(self.read_timeout),
            idle_timeout: Some(std::time::Duration::from_secs(self.idle_timeout)),
            max_body: WEB_MAX_BODY,
            large_answer: Some(nano_http::LARGE_ANSWER),
            slow_request: Some(nano_http::SLOW_REQUEST),
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        for (name, v) in [
            ("web.connections_max", self.connections_max as u64),
            ("web.header_timeout", self.header_timeout),
            ("web.read_timeout", self.read_timeout),
            ("web.idle_timeout", self.idle_timeout),
        ] {
            if v == 0 {
                anyhow::bail!("{name} must be at least 1");
            }
        }
        Ok(())
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
        let c: Config = serde_json::from_str(text)?;
        c.web.validate()?;
        Ok(c)
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
        let e = Config::from_json(r#"{"web":{"header_timeout":0}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("web.header_timeout"), "{e}");
        let c = Config::from_json(r#"{"web":{"connections_max":3,"idle_timeout":7}}"#).unwrap();
        let l = c.web.http_limits();
        assert_eq!(l.max_connections, 3);
        assert_eq!(l.idle_timeout, Some(std::time::Duration::from_secs(7)));
        assert_eq!(l.header_timeout, std::time::Duration::from_secs(10));
    }
}
