//! `config-log.toml` end to end: a real `nano_node --daemon` writes its startup lines to
//! `<data_path>/log/node.log`, a bad file or a bad `NANO_LOG` stops it before it starts,
//! an unusable log directory does not, and `--generate_config log` reads back as the
//! defaults.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nano_daemon::log_config::LogConfig;
use serde_json::json;

/// Waits (bounded) for a child to exit; kills it if it does not.
fn wait_exit(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn daemon_writes_its_startup_lines_to_the_log_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config-log.toml"),
        "[log]\ndefault_level = \"info\"\n[log.console]\nenable = false\n[log.file]\nenable = true\nmax_size = 1048576\nrotation_count = 2\n",
    )
    .unwrap();
    // A key this node does not know is reported at start (and does not stop it).
    std::fs::write(
        dir.path().join("config-node.toml"),
        "[node]\nno_such_key = 1\n",
    )
    .unwrap();
    let mut d = common::start_daemon(
        dir.path(),
        true,
        &["--config".into(), "node.peering_port=0".into()],
    );
    let log = dir.path().join("log").join("node.log");
    let started = common::wait_until(30, || {
        let t = read(&log);
        t.contains("starting node on the dev network") && t.contains("RPC server listening on")
    });
    assert!(
        started,
        "startup lines in {}: {:?}",
        log.display(),
        read(&log)
    );
    let text = read(&log);
    assert!(
        text.contains(&format!("logging to file {}", log.display())),
        "{text}"
    );
    assert!(text.contains(" INFO "), "{text}");
    assert!(
        text.contains("unknown key node.no_such_key is not used by this node"),
        "{text}"
    );
    // rpc.logging.log_rpc (on by default) logs each request at info level.
    let r = common::rpc(d.rpc, json!({"action": "block_count"}));
    assert_eq!(r["count"], "1");
    assert!(
        common::wait_until(10, || read(&log)
            .contains("Request: {\"action\":\"block_count\"}")),
        "{}",
        read(&log)
    );
    let r = common::rpc(d.rpc, json!({"action": "stop"}));
    assert_eq!(r["success"], "");
    let status = wait_exit(&mut d.child, 30).expect("daemon exits after stop");
    assert!(status.success(), "{status:?}");
    let text = read(&log);
    assert!(text.contains("node stopped"), "shutdown lines too: {text}");
    let entries: Vec<_> = std::fs::read_dir(dir.path().join("log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["node.log"]);
}

/// Log lines are written by the log writer thread, in batches: every request line logged
/// before a SIGTERM is in the file and on standard output once the daemon has stopped.
#[test]
fn a_clean_shutdown_writes_every_queued_line_to_the_file_and_the_console() {
    const REQUESTS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config-log.toml"),
        "[log]\ndefault_level = \"info\"\n[log.console]\nenable = true\ncolors = false\n[log.file]\nenable = true\n",
    )
    .unwrap();
    let out_path = dir.path().join("stdout.txt");
    let mut d = common::start_daemon_to(
        dir.path(),
        false,
        common::free_port(),
        &["--config".into(), "node.peering_port=0".into()],
        Stdio::from(std::fs::File::create(&out_path).unwrap()),
    );
    for i in 0..REQUESTS {
        let r = common::rpc(d.rpc, json!({"action": "block_count", "id": i.to_string()}));
        assert_eq!(r["count"], "1");
    }
    // SAFETY: kill only sends a signal to the child this test started.
    assert_eq!(
        unsafe { libc::kill(d.child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let status = wait_exit(&mut d.child, 30).expect("daemon exits on SIGTERM");
    assert!(status.success(), "{status:?}");
    let file = read(&dir.path().join("log").join("node.log"));
    let console = read(&out_path);
    for (name, text) in [("node.log", &file), ("stdout", &console)] {
        let ids: Vec<usize> = text
            .lines()
            .filter_map(|l| l.split_once("Request: {\"action\":\"block_count\",\"id\":\""))
            .map(|(_, rest)| rest.split('"').next().unwrap().parse().unwrap())
            .collect();
        assert_eq!(
            ids,
            (0..REQUESTS).collect::<Vec<_>>(),
            "{name}: every request line, in order"
        );
        assert!(
            text.contains("node stopped"),
            "{name}: the shutdown lines too"
        );
    }
}

/// Runs `nano_node --daemon --network dev` in `dir` and expects it to refuse to start.
fn refused(dir: &Path, env: &[(&str, &str)]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_nano_node"));
    cmd.args(["--daemon", "--network", "dev", "--data_path"])
        .arg(dir)
        .args([
            "--config",
            "node.peering_port=0",
            "--config",
            "rpc.enable=false",
            "--config",
            "node.websocket.enable=false",
            "--config",
            "node.ipc.tcp.enable=false",
        ])
        .env_remove("NANO_LOG")
        .env_remove("NANO_LOG_LEVELS")
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let status = wait_exit(&mut child, 30).expect("daemon refuses to start, quickly");
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!dir.join("data.ldb").exists(), "nothing was started");
    err
}

#[test]
fn a_bad_log_config_stops_the_daemon_with_the_key_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config-log.toml");
    std::fs::write(&file, "[log]\ndefault_level = \"loud\"\n").unwrap();
    let err = refused(dir.path(), &[]);
    assert_eq!(
        err.trim(),
        format!(
            "Error: {}: log.default_level: unknown level \"loud\"; expected one of trace, debug, info, warn, error, critical, off",
            file.display()
        )
    );

    std::fs::write(&file, "[log.file]\nmax_size = \"big\"\n").unwrap();
    let err = refused(dir.path(), &[]);
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(
        err.contains("log.file.max_size: expected an integer"),
        "{err}"
    );

    std::fs::write(&file, "[log.console\nenable = false\n").unwrap();
    let err = refused(dir.path(), &[]);
    assert!(err.contains("invalid TOML at line 1"), "{err}");

    std::fs::remove_file(&file).unwrap();
    let err = refused(dir.path(), &[("NANO_LOG", "chatty")]);
    assert!(
        err.contains("environment variable NANO_LOG: unknown level \"chatty\""),
        "{err}"
    );
    let err = refused(dir.path(), &[("NANO_LOG_LEVELS", "network")]);
    assert!(
        err.contains("NANO_LOG_LEVELS: entry \"network\" is not name=level"),
        "{err}"
    );
}

#[test]
fn an_unusable_log_directory_does_not_stop_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("log"),
        "a file where the log directory goes",
    )
    .unwrap();
    let d = common::start_daemon(
        dir.path(),
        false,
        &["--config".into(), "node.peering_port=0".into()],
    );
    let r = common::rpc(d.rpc, json!({"action": "block_count"}));
    assert_eq!(r["count"], "1");
}

#[test]
fn generated_log_config_reads_back_as_the_defaults() {
    for use_defaults in [false, true] {
        let mut args = vec!["--generate_config", "log"];
        if use_defaults {
            args.push("--use_defaults");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_nano_node"))
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("[log.file]"), "{text}");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config-log.toml"), &text).unwrap();
        let c = LogConfig::load(LogConfig::daemon_default(), dir.path(), &[], "--config").unwrap();
        assert_eq!(c, LogConfig::daemon_default(), "{text}");
    }
}

#[test]
fn readme_lists_every_logger_name() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let section = readme
        .split("### Logging: config-log.toml")
        .nth(1)
        .expect("README has the logging section");
    for (name, _) in nano_daemon::log_config::LOGGERS {
        assert!(
            section.contains(&format!("`{name}`")),
            "README lists {name}"
        );
    }
}
