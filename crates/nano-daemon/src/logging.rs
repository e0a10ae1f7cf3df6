//! Installs the `tracing` subscriber of `nano_node --daemon` and `nano_rpc` from
//! `config-log.toml` (see [`crate::log_config`]): one level filter, a console sink
//! (standard output or error) and a size-rotated file sink in `<data_path>/log/`. The
//! thread that logs keeps the event's fields ([`crate::log_format`]); the log writer
//! thread ([`crate::log_writer`]) formats and writes each sink's line; [`finish`] writes
//! out what is queued at exit.
//!
//! A log file that cannot be opened is not fatal: the problem is logged and the console
//! is used (turned on if the file disabled it). A bad config file or a bad `NANO_LOG` /
//! `NANO_LOG_LEVELS` value is fatal: the caller gets the error before anything starts.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::log_config::{LogConfig, LogConfigError};
use crate::log_file::RotatingFile;
use crate::log_format::LineStyle;
use crate::log_writer::{Bounds, LogWriter, Sink};

/// The installed subscriber's writer, for [`finish`] and the panic hook.
static WRITER: Mutex<Option<LogWriter>> = Mutex::new(None);

/// How long a panicking thread waits for the queued lines to be written.
const PANIC_FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Writes and flushes every log line queued so far and stops the log writer: called by
/// the binaries once their command has returned (a clean shutdown loses no line). Lines
/// logged afterwards are not written. Does nothing if no subscriber was installed here.
pub fn finish() {
    let w = WRITER.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(w) = w {
        w.finish();
    }
}

/// Which program logs: chooses the defaults, the file name and the override flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    /// `nano_node --daemon`: `log/node.log`, overrides from `--config`.
    Node,
    /// `nano_rpc`: `log/rpc.log`, overrides from `--rpcconfig`, console on stderr.
    Rpc,
}

impl Program {
    pub fn defaults(self) -> LogConfig {
        match self {
            Program::Node => LogConfig::daemon_default(),
            Program::Rpc => LogConfig::rpc_default(),
        }
    }

    pub fn file_base(self) -> &'static str {
        match self {
            Program::Node => "node",
            Program::Rpc => "rpc",
        }
    }

    fn override_flag(self) -> &'static str {
        match self {
            Program::Node => "--config",
            Program::Rpc => "--rpcconfig",
        }
    }
}

/// The directory log files go to.
pub fn log_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("log")
}

/// The console sink to install, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Console {
    pub to_cerr: bool,
    pub colors: bool,
}

/// What will be installed, and what to say about it once logging works.
#[derive(Debug)]
pub struct Sinks {
    pub console: Option<Console>,
    pub file: Option<RotatingFile>,
    /// Warnings about the setup (file fallback, ignored names, no rotation).
    pub warnings: Vec<String>,
}

/// Opens the file sink if enabled, falling back to the console when it cannot be opened.
pub fn open_sinks(cfg: &LogConfig, data_dir: &Path, program: Program) -> Sinks {
    let mut warnings = Vec::new();
    let mut console = cfg.console.enable.then_some(Console {
        to_cerr: cfg.console.to_cerr,
        colors: cfg.console.colors,
    });
    let mut file = None;
    if cfg.file.enable {
        let dir = log_dir(data_dir);
        match RotatingFile::open(
            &dir,
            program.file_base(),
            cfg.file.max_size,
            cfg.file.rotation_count,
        ) {
            Ok(f) => {
                if cfg.file.max_size == 0 || cfg.file.rotation_count == 0 {
                    warnings.push(format!(
                        "log file rotation is disabled (log.file.max_size = {}, log.file.rotation_count = {}): {} grows without bound",
                        cfg.file.max_size,
                        cfg.file.rotation_count,
                        f.path().display()
                    ));
                }
                file = Some(f);
            }
            Err(e) => {
                warnings.push(format!(
                    "cannot write log files in {}: {e}; logging to the console only",
                    dir.display()
                ));
                console.get_or_insert(Console {
                    to_cerr: cfg.console.to_cerr,
                    colors: cfg.console.colors,
                });
            }
        }
    }
    let (_, unknown) = cfg.directives();
    if !unknown.is_empty() {
        warnings.push(format!(
            "config-log.toml: unknown logger name(s) ignored in [log.levels]: {}",
            unknown.join(", ")
        ));
    }
    Sinks {
        console,
        file,
        warnings,
    }
}

/// The level filter: `RUST_LOG` as a whole `tracing` filter if set, else the config's.
pub fn filter(cfg: &LogConfig, rust_log: Option<&str>) -> Result<EnvFilter, LogConfigError> {
    if let Some(spec) = rust_log.filter(|s| !s.trim().is_empty()) {
        return Ok(EnvFilter::builder().parse_lossy(spec));
    }
    let (directives, _) = cfg.directives();
    EnvFilter::builder()
        .parse(&directives)
        .map_err(|e| LogConfigError {
            origin: "log levels".into(),
            message: format!("cannot build the filter {directives:?}: {e}"),
        })
}

/// Reads `config-log.toml` from `data_dir` with the `log.` overrides and the environment,
/// installs the subscriber (if none is installed yet) and returns the log file's path.
pub fn init(
    program: Program,
    data_dir: &Path,
    overrides: &[String],
) -> Result<Option<PathBuf>, LogConfigError> {
    init_sinks(program, data_dir, overrides, true)
}

/// For the offline ledger commands (`--rollback`, `--vacuum`, `--debug_*`, ...): the
/// node's log file only, never the console, so what happens while a command opens the
/// ledger (an upgrade, a migration) is in the node log as it would be under `--daemon`,
/// while standard output stays the command's answer.
pub fn init_file_only(data_dir: &Path, overrides: &[String]) -> Result<(), LogConfigError> {
    init_sinks(Program::Node, data_dir, overrides, false).map(|_| ())
}

fn init_sinks(
    program: Program,
    data_dir: &Path,
    overrides: &[String],
    with_console: bool,
) -> Result<Option<PathBuf>, LogConfigError> {
    let mut cfg = LogConfig::load(
        program.defaults(),
        data_dir,
        overrides,
        program.override_flag(),
    )?;
    cfg.apply_env(|k| std::env::var(k).ok())?;
    let rust_log = std::env::var("RUST_LOG").ok();
    let filter = filter(&cfg, rust_log.as_deref())?;
    if !with_console {
        cfg.console.enable = false;
    }
    let mut sinks = open_sinks(&cfg, data_dir, program);
    if !with_console {
        // A file that cannot be opened turned the console on as a fallback; a command
        // then simply runs without a log.
        sinks.console = None;
    }
    let path = sinks.file.as_ref().map(|f| f.path());

    let mut outs = Vec::new();
    if let Some(c) = sinks.console {
        let colors = c.colors
            && if c.to_cerr {
                std::io::stderr().is_terminal()
            } else {
                std::io::stdout().is_terminal()
            };
        let sink = if c.to_cerr {
            Sink::Stderr
        } else {
            Sink::Stdout
        };
        outs.push((
            sink,
            LineStyle {
                target: false,
                ansi: colors,
            },
        ));
    }
    if let Some(f) = sinks.file {
        outs.push((Sink::File(f), LineStyle::FILE));
    }
    let writer = LogWriter::start(outs, Bounds::DEFAULT).map_err(|e| LogConfigError {
        origin: "log writer".into(),
        message: format!("cannot start the log writer thread: {e}"),
    })?;
    // One layer for both sinks: each event is taken once, and each sink's line (the
    // console's without the target) is formatted by the writer thread.
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(writer.layer())
        .try_init()
        .is_ok();
    if installed {
        *WRITER.lock().unwrap_or_else(|p| p.into_inner()) = Some(writer);
        // A panic's own message goes to standard error; the lines logged before it are
        // written out too, so they are not lost if the panic ends the process.
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            if let Ok(g) = WRITER.try_lock() {
                if let Some(w) = g.as_ref() {
                    w.flush(PANIC_FLUSH_WAIT);
                }
            }
        }));
    } else {
        writer.finish();
    }
    if installed && with_console {
        if let Some(p) = &path {
            tracing::info!("logging to file {}", p.display());
        }
        if rust_log.is_some_and(|s| !s.trim().is_empty()) {
            tracing::info!("RUST_LOG is set: it replaces the levels of config-log.toml");
        }
        for w in &sinks.warnings {
            tracing::warn!("{w}");
        }
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_sink_opens_in_the_log_directory() {
        let dir = tempfile::tempdir().unwrap();
        let s = open_sinks(&LogConfig::daemon_default(), dir.path(), Program::Node);
        assert_eq!(
            s.file.unwrap().path(),
            dir.path().join("log").join("node.log")
        );
        assert_eq!(
            s.console,
            Some(Console {
                to_cerr: false,
                colors: true
            })
        );
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        let s = open_sinks(&LogConfig::rpc_default(), dir.path(), Program::Rpc);
        assert_eq!(
            s.file.unwrap().path(),
            dir.path().join("log").join("rpc.log")
        );
        assert!(s.console.unwrap().to_cerr);
    }

    #[test]
    fn an_unusable_log_directory_falls_back_to_the_console() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("log"), "a file, not a directory").unwrap();
        let mut cfg = LogConfig::daemon_default();
        cfg.console.enable = false;
        let s = open_sinks(&cfg, dir.path(), Program::Node);
        assert!(s.file.is_none());
        assert!(s.console.is_some(), "console turned on as the fallback");
        assert_eq!(s.warnings.len(), 1);
        assert!(
            s.warnings[0].starts_with(&format!(
                "cannot write log files in {}",
                dir.path().join("log").display()
            )),
            "{:?}",
            s.warnings
        );
    }

    #[test]
    fn setup_warnings_name_ignored_loggers_and_unbounded_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = LogConfig::daemon_default();
        cfg.file.max_size = 0;
        cfg.levels
            .insert("qt".into(), crate::log_config::Level::Debug);
        let s = open_sinks(&cfg, dir.path(), Program::Node);
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(s.warnings[0].contains("rotation is disabled"));
        assert!(s.warnings[1].contains("qt"));
        cfg.console.enable = false;
        cfg.file.enable = false;
        let s = open_sinks(&cfg, dir.path(), Program::Node);
        assert!(s.console.is_none() && s.file.is_none());
    }

    #[test]
    fn rust_log_replaces_the_configured_levels() {
        use tracing::level_filters::LevelFilter;
        let mut cfg = LogConfig::daemon_default();
        cfg.default_level = crate::log_config::Level::Warn;
        assert_eq!(
            filter(&cfg, None).unwrap().max_level_hint(),
            Some(LevelFilter::WARN)
        );
        assert_eq!(
            filter(&cfg, Some("")).unwrap().max_level_hint(),
            Some(LevelFilter::WARN)
        );
        assert_eq!(
            filter(&cfg, Some("trace")).unwrap().max_level_hint(),
            Some(LevelFilter::TRACE)
        );
        cfg.default_level = crate::log_config::Level::Critical;
        cfg.levels
            .insert("network".into(), crate::log_config::Level::Debug);
        assert_eq!(
            filter(&cfg, None).unwrap().max_level_hint(),
            Some(LevelFilter::DEBUG)
        );
    }
}
