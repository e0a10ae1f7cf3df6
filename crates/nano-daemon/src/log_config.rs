//! `config-log.toml`: the reference node's log settings, mapped onto `tracing`.
//!
//! ```toml
//! [log]
//! default_level = "info"      # trace, debug, info, warn, error, critical (= error), off
//! [log.console]
//! enable = true
//! to_cerr = false             # standard error instead of standard output
//! colors = true               # only when the stream is a terminal
//! [log.file]
//! enable = true               # <data_path>/log/node.log (nano_node), rpc.log (nano_rpc)
//! max_size = 33554432         # bytes per file before it is rotated
//! rotation_count = 4          # files kept, the current one included
//! [log.levels]
//! network = "debug"           # a logger name from LOGGERS ...
//! "nano_node::network::tcp" = "trace"   # ... or a tracing target (module path)
//! ```
//!
//! Sources, later wins: the binary's built-in defaults, the file in the data directory,
//! `--config log.KEY=VALUE` overrides (`--rpcconfig` for `nano_rpc`), then the
//! environment: `NANO_LOG` replaces `default_level`, `NANO_LOG_LEVELS`
//! (`name=level,name2=level`) adds to and replaces entries of `[log.levels]`. `RUST_LOG`,
//! when set, is used as the whole `tracing` filter instead of the levels above.
//!
//! Invalid TOML, a wrong type or an unknown level name is an error naming the file (or the
//! override or variable) and the key; the daemon does not start. Unknown keys are ignored
//! and unknown logger names are reported and ignored, as the reference node does (its
//! sample lists about 70 logger names, most of which have no counterpart here).
//!
//! The generated file (`--generate_config log`) lists every logger name commented out even
//! with `--use_defaults`: an uncommented entry pins that logger to its level whatever
//! `default_level` says, which the reference node's sample does and which surprises.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

/// The file name in the data directory.
pub const FILE_NAME: &str = "config-log.toml";

/// A level as the reference node names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Critical,
    Off,
}

impl Level {
    pub const NAMES: &'static str = "trace, debug, info, warn, error, critical, off";

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Critical => "critical",
            Level::Off => "off",
        }
    }

    /// The `tracing` level filter: `critical` has no counterpart and means `error`.
    pub fn directive(self) -> &'static str {
        match self {
            Level::Critical => "error",
            other => other.as_str(),
        }
    }

    /// Parses a level name (ASCII case-insensitive).
    pub fn parse(s: &str) -> Option<Level> {
        let l = s.trim().to_ascii_lowercase();
        Some(match l.as_str() {
            "trace" => Level::Trace,
            "debug" => Level::Debug,
            "info" => Level::Info,
            "warn" => Level::Warn,
            "error" => Level::Error,
            "critical" => Level::Critical,
            "off" => Level::Off,
            _ => return None,
        })
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[log.console]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    pub enable: bool,
    pub to_cerr: bool,
    pub colors: bool,
}

/// `[log.file]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    pub enable: bool,
    /// Bytes per file; 0 disables rotation.
    pub max_size: u64,
    /// Files kept, the current one included; 0 disables rotation.
    pub rotation_count: u32,
}

/// The whole `config-log.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub default_level: Level,
    pub console: ConsoleConfig,
    pub file: FileConfig,
    /// Logger name (or tracing target) → level, as written.
    pub levels: BTreeMap<String, Level>,
}

/// An error in the log configuration: where (file path, override or variable) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfigError {
    pub origin: String,
    pub message: String,
}

impl fmt::Display for LogConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

impl std::error::Error for LogConfigError {}

/// Named loggers: a short name (reference node names where one exists) and the tracing
/// targets (module path prefixes) it stands for. Listed in the README.
pub const LOGGERS: &[(&str, &[&str])] = &[
    ("daemon", &["nano_daemon"]),
    ("node", &["nano_node::node"]),
    ("network", &["nano_node::network"]),
    ("tcp", &["nano_node::network::tcp"]),
    ("udp", &["nano_node::network::udp"]),
    ("channel", &["nano_node::network::channel"]),
    ("handshake", &["nano_node::network::handshake"]),
    ("peering", &["nano_node::network::peering"]),
    ("rep_crawler", &["nano_node::network::rep_crawler"]),
    ("telemetry", &["nano_node::network::telemetry"]),
    ("capture", &["nano_node::network::capture"]),
    (
        "bootstrap",
        &["nano_node::bootstrap", "nano_node::network::bootstrap"],
    ),
    ("bootstrap_ascending", &["nano_node::bootstrap::ascending"]),
    ("bootstrap_legacy", &["nano_node::bootstrap::legacy"]),
    (
        "bootstrap_server",
        &[
            "nano_node::bootstrap::server",
            "nano_node::network::bootstrap",
        ],
    ),
    ("consensus", &["nano_node::consensus"]),
    ("blockprocessor", &["nano_node::consensus::block_processor"]),
    ("election", &["nano_node::consensus::elections"]),
    ("voting", &["nano_node::consensus::votes"]),
    ("vote_cache", &["nano_node::consensus::votes::cache"]),
    (
        "unchecked",
        &["nano_node::consensus::block_processor::unchecked"],
    ),
    ("gap_cache", &["nano_node::consensus::gap_fetch"]),
    ("online_reps", &["nano_node::consensus::online"]),
    ("ledger", &["nano_ledger"]),
    ("lmdb", &["nano_store"]),
    ("wallet", &["nano_wallet", "nano_daemon::auto_receive"]),
    (
        "rpc",
        &[
            "nano_api::http",
            "nano_api::actions",
            "nano_api::api_v2",
            "nano_api::access",
            "nano_rpc",
        ],
    ),
    ("ipc", &["nano_api::ipc"]),
    ("websocket", &["nano_api::websocket"]),
    ("rpc_callbacks", &["nano_api::callback"]),
    ("work", &["nano_api::work_peers"]),
];

/// The tracing targets a `[log.levels]` name stands for: a name from [`LOGGERS`], or a
/// target written out (`nano_...` or containing `::`, made of letters, digits, `_`, `:`).
pub fn targets_of(name: &str) -> Option<Vec<&str>> {
    if let Some((_, t)) = LOGGERS.iter().find(|(n, _)| *n == name) {
        return Some(t.to_vec());
    }
    let is_target = (name.starts_with("nano_") || name.contains("::"))
        && !name.starts_with(':')
        && !name.ends_with(':')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
    is_target.then(|| vec![name])
}

impl LogConfig {
    /// What `nano_node --daemon` uses without a file (the reference daemon defaults).
    pub fn daemon_default() -> LogConfig {
        LogConfig {
            default_level: Level::Info,
            console: ConsoleConfig {
                enable: true,
                to_cerr: false,
                colors: true,
            },
            file: FileConfig {
                enable: true,
                max_size: 32 * 1024 * 1024,
                rotation_count: 4,
            },
            levels: BTreeMap::new(),
        }
    }

    /// What `nano_rpc` uses without a file: as the daemon, but the console is standard
    /// error, since its standard output carries the `nano_rpc listening on` line.
    pub fn rpc_default() -> LogConfig {
        let mut c = LogConfig::daemon_default();
        c.console.to_cerr = true;
        c
    }

    /// `fallback`, then `config-log.toml` in `data_dir` if present, then the `log.`
    /// entries of `overrides` (`key=value` TOML lines; others belong to other files),
    /// given on the command line with `flag` (named in errors).
    pub fn load(
        fallback: LogConfig,
        data_dir: &Path,
        overrides: &[String],
        flag: &str,
    ) -> Result<LogConfig, LogConfigError> {
        let path = data_dir.join(FILE_NAME);
        let origin = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(LogConfigError {
                    origin,
                    message: format!("cannot read the file: {e}"),
                })
            }
        };
        let mut cfg = fallback;
        if let Some(text) = text {
            cfg.apply_toml(&text, &origin)?;
        }
        for o in overrides.iter().filter(|o| is_log_override(o)) {
            cfg.apply_toml(o, &format!("override {flag} {o:?}"))?;
        }
        Ok(cfg)
    }

    /// Applies one TOML text (a file, or one override line) over `self`: keys present
    /// replace, `[log.levels]` entries are added.
    pub fn apply_toml(&mut self, text: &str, origin: &str) -> Result<(), LogConfigError> {
        let err = |message: String| LogConfigError {
            origin: origin.to_string(),
            message,
        };
        let doc: toml::Table = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let before = &text[..s.start.min(text.len())];
                    let line = before.matches('\n').count() + 1;
                    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                    format!(" at line {line}, column {col}")
                })
                .unwrap_or_default();
            err(format!(
                "invalid TOML{at}: {}",
                e.message().trim().replace('\n', " ")
            ))
        })?;
        let Some(log) = doc.get("log") else {
            return Ok(());
        };
        let log = table(log, "log").map_err(err)?;
        if let Some(v) = log.get("default_level") {
            self.default_level = level(v, "log.default_level").map_err(err)?;
        }
        if let Some(c) = log.get("console") {
            let c = table(c, "log.console").map_err(err)?;
            for (key, slot) in [
                ("enable", &mut self.console.enable),
                ("to_cerr", &mut self.console.to_cerr),
                ("colors", &mut self.console.colors),
            ] {
                if let Some(v) = c.get(key) {
                    *slot = boolean(v, &format!("log.console.{key}")).map_err(err)?;
                }
            }
        }
        if let Some(f) = log.get("file") {
            let f = table(f, "log.file").map_err(err)?;
            if let Some(v) = f.get("enable") {
                self.file.enable = boolean(v, "log.file.enable").map_err(err)?;
            }
            if let Some(v) = f.get("max_size") {
                self.file.max_size = integer(v, "log.file.max_size", u64::MAX).map_err(err)?;
            }
            if let Some(v) = f.get("rotation_count") {
                self.file.rotation_count =
                    integer(v, "log.file.rotation_count", u32::MAX.into()).map_err(err)? as u32;
            }
        }
        if let Some(l) = log.get("levels") {
            let l = table(l, "log.levels").map_err(err)?;
            for (name, v) in l {
                let lv = level(v, &format!("log.levels.{}", quote_key(name))).map_err(err)?;
                self.levels.insert(name.clone(), lv);
            }
        }
        Ok(())
    }

    /// Applies the environment as the reference node does: `NANO_LOG` replaces
    /// `default_level`, `NANO_LOG_LEVELS` (`name=level,name2=level`) replaces or adds
    /// `[log.levels]` entries. Empty variables count as unset; bad values are errors.
    pub fn apply_env(
        &mut self,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<(), LogConfigError> {
        let present = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(v) = present("NANO_LOG") {
            self.default_level = Level::parse(&v).ok_or_else(|| LogConfigError {
                origin: "environment variable NANO_LOG".into(),
                message: format!("unknown level {v:?}; expected one of {}", Level::NAMES),
            })?;
        }
        if let Some(v) = present("NANO_LOG_LEVELS") {
            let origin = "environment variable NANO_LOG_LEVELS";
            for entry in v.split(',').map(str::trim).filter(|e| !e.is_empty()) {
                let Some((name, lv)) = entry.split_once('=') else {
                    return Err(LogConfigError {
                        origin: origin.into(),
                        message: format!("entry {entry:?} is not name=level"),
                    });
                };
                let lv = Level::parse(lv).ok_or_else(|| LogConfigError {
                    origin: origin.into(),
                    message: format!(
                        "{}: unknown level {:?}; expected one of {}",
                        name.trim(),
                        lv.trim(),
                        Level::NAMES
                    ),
                })?;
                self.levels.insert(name.trim().to_string(), lv);
            }
        }
        Ok(())
    }

    /// The `tracing` filter directives (`info,nano_node::network=debug,...`) and the
    /// `[log.levels]` names that stand for no logger (reported, then ignored).
    pub fn directives(&self) -> (String, Vec<String>) {
        let mut by_target: BTreeMap<&str, Level> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (name, lv) in &self.levels {
            match targets_of(name) {
                Some(ts) => {
                    for t in ts {
                        by_target.insert(t, *lv);
                    }
                }
                None => unknown.push(name.clone()),
            }
        }
        let mut s = self.default_level.directive().to_string();
        for (t, lv) in by_target {
            s.push_str(&format!(",{t}={}", lv.directive()));
        }
        (s, unknown)
    }
}

/// True for a `--config` line that sets a `log.` key.
pub fn is_log_override(o: &str) -> bool {
    let key = o.split('=').next().unwrap_or("");
    key.split('.').next().map(str::trim) == Some("log")
}

fn quote_key(k: &str) -> String {
    if !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

fn describe(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => format!("string {s:?}"),
        toml::Value::Integer(i) => format!("integer {i}"),
        toml::Value::Float(f) => format!("float {f}"),
        toml::Value::Boolean(b) => format!("boolean {b}"),
        toml::Value::Datetime(d) => format!("datetime {d}"),
        toml::Value::Array(_) => "an array".into(),
        toml::Value::Table(_) => "a table".into(),
    }
}

fn table<'a>(v: &'a toml::Value, key: &str) -> Result<&'a toml::Table, String> {
    v.as_table()
        .ok_or_else(|| format!("{key}: expected a table, found {}", describe(v)))
}

fn boolean(v: &toml::Value, key: &str) -> Result<bool, String> {
    v.as_bool()
        .ok_or_else(|| format!("{key}: expected true or false, found {}", describe(v)))
}

fn integer(v: &toml::Value, key: &str, max: u64) -> Result<u64, String> {
    match v.as_integer() {
        Some(i) if i >= 0 && (i as u64) <= max => Ok(i as u64),
        Some(i) => Err(format!("{key}: {i} is out of range 0..={max}")),
        None => Err(format!("{key}: expected an integer, found {}", describe(v))),
    }
}

fn level(v: &toml::Value, key: &str) -> Result<Level, String> {
    let s = v.as_str().ok_or_else(|| {
        format!(
            "{key}: expected a level name string ({}), found {}",
            Level::NAMES,
            describe(v)
        )
    })?;
    Level::parse(s).ok_or_else(|| {
        format!(
            "{key}: unknown level {s:?}; expected one of {}",
            Level::NAMES
        )
    })
}

/// The documented file printed by `--generate_config log`: values commented out unless
/// `use_defaults`; logger names always commented out (see the module docs).
pub fn generate(use_defaults: bool) -> String {
    let d = LogConfig::daemon_default();
    let c = if use_defaults { "" } else { "#" };
    let mut out = String::new();
    let entry = |out: &mut String, doc: &str, key: &str, value: String| {
        for line in doc.lines() {
            out.push_str(&format!("# {line}\n"));
        }
        out.push_str(&format!("{c}{key} = {value}\n\n"));
    };
    out.push_str("[log]\n\n");
    entry(
        &mut out,
        "Level for every logger not listed in [log.levels]: trace, debug, info, warn, error, critical (same as error) or off.\nThe environment variable NANO_LOG replaces it; RUST_LOG, if set, replaces all levels with a tracing filter.\ntype:string",
        "default_level",
        format!("\"{}\"", d.default_level),
    );
    out.push_str("[log.console]\n\n");
    entry(
        &mut out,
        "Log to the console.\ntype:bool",
        "enable",
        d.console.enable.to_string(),
    );
    entry(
        &mut out,
        "Write to standard error instead of standard output (nano_rpc defaults to standard error).\ntype:bool",
        "to_cerr",
        d.console.to_cerr.to_string(),
    );
    entry(
        &mut out,
        "Colored output, when the console is a terminal.\ntype:bool",
        "colors",
        d.console.colors.to_string(),
    );
    out.push_str("[log.file]\n\n");
    entry(
        &mut out,
        "Write log files in the log directory of the data path: node.log (nano_node), rpc.log (nano_rpc).\ntype:bool",
        "enable",
        d.file.enable.to_string(),
    );
    entry(
        &mut out,
        "Rotate the file when a line would take it over this many bytes: node.log becomes node.1.log, node.1.log becomes node.2.log, ...\n0 disables rotation (the file grows without bound).\ntype:uint64",
        "max_size",
        d.file.max_size.to_string(),
    );
    entry(
        &mut out,
        "Number of files kept, the current one included; older ones are deleted. 0 disables rotation.\ntype:uint32",
        "rotation_count",
        d.file.rotation_count.to_string(),
    );
    out.push_str("[log.levels]\n\n");
    out.push_str(
        "# Per-logger levels, name = \"level\"; a listed logger keeps its level whatever default_level says.\n\
         # The environment variable NANO_LOG_LEVELS (name=level,name2=level) adds to and replaces these.\n\
         # A name is one of the loggers below or a tracing target (module path) in quotes,\n\
         # for example \"nano_node::network::tcp\" = \"trace\".\n",
    );
    for (name, targets) in LOGGERS {
        out.push_str(&format!(
            "#{name} = \"{}\"    # {}\n",
            d.default_level,
            targets.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<LogConfig, LogConfigError> {
        let mut c = LogConfig::daemon_default();
        c.apply_toml(text, "/data/config-log.toml")?;
        Ok(c)
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn defaults_follow_the_reference_daemon() {
        let d = LogConfig::daemon_default();
        assert_eq!(d.default_level, Level::Info);
        assert_eq!(
            d.console,
            ConsoleConfig {
                enable: true,
                to_cerr: false,
                colors: true
            }
        );
        assert_eq!(
            d.file,
            FileConfig {
                enable: true,
                max_size: 33554432,
                rotation_count: 4
            }
        );
        assert!(d.levels.is_empty());
        assert!(LogConfig::rpc_default().console.to_cerr);
        assert_eq!(parse("").unwrap(), d);
        assert_eq!(
            parse("[other]\nx = 1\n[log]\nunknown_key = 3\n").unwrap(),
            d
        );
        assert_eq!(d.directives(), ("info".to_string(), vec![]));
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(
            r#"
[log]
default_level = "debug"
[log.console]
enable = false
to_cerr = true
colors = false
[log.file]
enable = false
max_size = 1000
rotation_count = 7
[log.levels]
network = "trace"
ledger = "critical"
"nano_api::http" = "off"
"#,
        )
        .unwrap();
        assert_eq!(c.default_level, Level::Debug);
        assert_eq!(
            c.console,
            ConsoleConfig {
                enable: false,
                to_cerr: true,
                colors: false
            }
        );
        assert_eq!(
            c.file,
            FileConfig {
                enable: false,
                max_size: 1000,
                rotation_count: 7
            }
        );
        assert_eq!(c.levels.len(), 3);
        assert_eq!(c.levels["ledger"], Level::Critical);
        let (d, unknown) = c.directives();
        assert_eq!(
            d,
            "debug,nano_api::http=off,nano_ledger=error,nano_node::network=trace"
        );
        assert!(unknown.is_empty());
        // The directives are a valid tracing filter.
        tracing_subscriber::EnvFilter::builder().parse(&d).unwrap();
    }

    #[test]
    fn every_level_name_parses() {
        for (name, l) in [
            ("trace", Level::Trace),
            ("debug", Level::Debug),
            ("info", Level::Info),
            ("warn", Level::Warn),
            ("error", Level::Error),
            ("critical", Level::Critical),
            ("off", Level::Off),
            ("WARN", Level::Warn),
        ] {
            let c = parse(&format!("log.default_level = \"{name}\"")).unwrap();
            assert_eq!(c.default_level, l);
        }
        assert_eq!(Level::Critical.directive(), "error");
    }

    #[test]
    fn bad_values_name_the_file_and_the_key() {
        let e = err("[log]\ndefault_level = \"loud\"\n");
        assert_eq!(
            e,
            "/data/config-log.toml: log.default_level: unknown level \"loud\"; expected one of trace, debug, info, warn, error, critical, off"
        );
        let e = err("[log.console]\nenable = \"yes\"\n");
        assert_eq!(
            e,
            "/data/config-log.toml: log.console.enable: expected true or false, found string \"yes\""
        );
        let e = err("[log.file]\nmax_size = \"big\"\n");
        assert_eq!(
            e,
            "/data/config-log.toml: log.file.max_size: expected an integer, found string \"big\""
        );
        let e = err("[log.file]\nrotation_count = -1\n");
        assert_eq!(
            e,
            "/data/config-log.toml: log.file.rotation_count: -1 is out of range 0..=4294967295"
        );
        let e = err("[log.levels]\nnetwork = 3\n");
        assert!(
            e.starts_with(
                "/data/config-log.toml: log.levels.network: expected a level name string"
            ),
            "{e}"
        );
        let e = err("[log.levels]\n\"nano_node::tcp\" = \"chatty\"\n");
        assert!(
            e.starts_with(
                "/data/config-log.toml: log.levels.\"nano_node::tcp\": unknown level \"chatty\""
            ),
            "{e}"
        );
        let e = err("log = 5\n");
        assert_eq!(
            e,
            "/data/config-log.toml: log: expected a table, found integer 5"
        );
        let e = err("[log]\nconsole = true\n");
        assert_eq!(
            e,
            "/data/config-log.toml: log.console: expected a table, found boolean true"
        );
    }

    #[test]
    fn bad_toml_gives_the_position() {
        let e = err("[log]\ndefault_level = \"info\"\n[log.file\n");
        assert!(
            e.starts_with("/data/config-log.toml: invalid TOML at line 3, column"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn unknown_logger_names_are_reported_not_fatal() {
        let c = parse("[log.levels]\nqt = \"debug\"\nnode = \"debug\"\n\"bad name\" = \"info\"\n")
            .unwrap();
        let (d, unknown) = c.directives();
        assert_eq!(d, "info,nano_node::node=debug");
        assert_eq!(unknown, vec!["bad name".to_string(), "qt".to_string()]);
    }

    #[test]
    fn every_named_logger_is_a_valid_filter() {
        let mut c = LogConfig::daemon_default();
        for (name, _) in LOGGERS {
            c.levels.insert(name.to_string(), Level::Debug);
        }
        let (d, unknown) = c.directives();
        assert!(unknown.is_empty());
        tracing_subscriber::EnvFilter::builder().parse(&d).unwrap();
    }

    #[test]
    fn overrides_win_over_the_file_and_only_log_keys_are_taken() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE_NAME),
            "[log]\ndefault_level = \"warn\"\n[log.file]\nmax_size = 10\nrotation_count = 2\n",
        )
        .unwrap();
        let c = LogConfig::load(
            LogConfig::daemon_default(),
            dir.path(),
            &[
                "node.peering_port=0".into(),
                "log.default_level=\"trace\"".into(),
                "log.levels.ledger=\"debug\"".into(),
            ],
            "--config",
        )
        .unwrap();
        assert_eq!(c.default_level, Level::Trace);
        assert_eq!(c.file.max_size, 10);
        assert_eq!(c.file.rotation_count, 2);
        assert_eq!(c.levels["ledger"], Level::Debug);
        let e = LogConfig::load(
            LogConfig::daemon_default(),
            dir.path(),
            &["log.console.enable=1".into()],
            "--config",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "override --config \"log.console.enable=1\": log.console.enable: expected true or false, found integer 1"
        );
        // Without a file, the fallback is used as is.
        let empty = tempfile::tempdir().unwrap();
        let c =
            LogConfig::load(LogConfig::rpc_default(), empty.path(), &[], "--rpcconfig").unwrap();
        assert_eq!(c, LogConfig::rpc_default());
    }

    #[test]
    fn load_names_the_file_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE_NAME), "[log.file]\nenable = 0\n").unwrap();
        let e = LogConfig::load(LogConfig::daemon_default(), dir.path(), &[], "--config")
            .unwrap_err()
            .to_string();
        let path = dir.path().join(FILE_NAME).display().to_string();
        assert_eq!(
            e,
            format!("{path}: log.file.enable: expected true or false, found integer 0")
        );
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn environment_wins_over_the_file() {
        let mut c = parse(
            "[log]\ndefault_level = \"warn\"\n[log.levels]\nnetwork = \"error\"\nledger = \"info\"\n",
        )
        .unwrap();
        c.apply_env(env(&[
            ("NANO_LOG", "debug"),
            ("NANO_LOG_LEVELS", "network=trace, wallet=off,,"),
        ]))
        .unwrap();
        assert_eq!(c.default_level, Level::Debug);
        assert_eq!(c.levels["network"], Level::Trace);
        assert_eq!(c.levels["ledger"], Level::Info);
        assert_eq!(c.levels["wallet"], Level::Off);
        // Unset and empty variables change nothing.
        let before = c.clone();
        c.apply_env(env(&[("NANO_LOG", " ")])).unwrap();
        assert_eq!(c, before);
    }

    #[test]
    fn bad_environment_values_are_errors() {
        let mut c = LogConfig::daemon_default();
        let e = c
            .apply_env(env(&[("NANO_LOG", "verbose")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "environment variable NANO_LOG: unknown level \"verbose\"; expected one of trace, debug, info, warn, error, critical, off"
        );
        let e = c
            .apply_env(env(&[("NANO_LOG_LEVELS", "network")]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "environment variable NANO_LOG_LEVELS: entry \"network\" is not name=level"
        );
        let e = c
            .apply_env(env(&[("NANO_LOG_LEVELS", "node=info,network=loud")]))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("environment variable NANO_LOG_LEVELS: network: unknown level \"loud\""),
            "{e}"
        );
    }

    #[test]
    fn generated_file_parses_back_to_the_defaults() {
        for use_defaults in [false, true] {
            let text = generate(use_defaults);
            let c = parse(&text).unwrap();
            assert_eq!(c, LogConfig::daemon_default(), "{text}");
            for (name, _) in LOGGERS {
                assert!(text.contains(&format!("\n#{name} = \"info\"")), "{name}");
            }
        }
        let text = generate(true);
        for line in [
            "default_level = \"info\"",
            "enable = true",
            "to_cerr = false",
            "colors = true",
            "max_size = 33554432",
            "rotation_count = 4",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in {text}");
        }
        assert!(generate(false)
            .lines()
            .all(|l| l.is_empty() || l.starts_with('#') || l.starts_with('[')));
    }

    #[test]
    fn log_overrides_are_recognised() {
        assert!(is_log_override("log.default_level=\"debug\""));
        assert!(is_log_override(" log . file.enable = false"));
        assert!(!is_log_override("node.peering_port=1"));
        assert!(!is_log_override("logging.x=1"));
    }
}
