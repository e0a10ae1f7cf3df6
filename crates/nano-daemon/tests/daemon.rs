//! Runs `nano_node --daemon` as a real process on the dev network: RPC answers from the
//! ledger it created, the `stop` action and SIGTERM both end it cleanly, and
//! `--generate_config` prints files the node reads back; the API servers run on their own
//! runtime (`server_threads`) or on the node's.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::free_port;

fn post(addr: SocketAddr, body: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    serde_json::from_str(out.split("\r\n\r\n").nth(1)?).ok()
}

struct Node {
    child: Child,
    rpc: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(control: bool) -> Node {
    start_with(control, &[])
}

/// Starts the daemon with `extra` arguments after the usual ones.
fn start_with(control: bool, extra: &[&str]) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let spawned = Command::new(env!("CARGO_BIN_EXE_nano_node"))
        .args(["--daemon", "--network", "dev", "--data_path"])
        .arg(dir.path())
        .args([
            "--config",
            "node.peering_port=0",
            "--config",
            "node.websocket.enable=false",
            "--config",
            "node.ipc.tcp.enable=false",
            "--rpcconfig",
            "address=\"127.0.0.1\"",
            "--rpcconfig",
            &format!("port={port}"),
            "--rpcconfig",
            &format!("enable_control={control}"),
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rpc: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // Owned by `Node` from here on, so the child is killed and reaped on every path.
    let node = Node {
        child: spawned,
        rpc,
        _dir: dir,
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if post(rpc, r#"{"action":"version"}"#).is_some() {
            return node;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("daemon RPC did not come up");
}

fn wait_exit(child: &mut Child) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn daemon_serves_rpc_and_stops_on_the_stop_action() {
    let mut node = start(true);
    let r = post(node.rpc, r#"{"action":"block_count"}"#).unwrap();
    assert_eq!(r["count"], "1", "fresh dev ledger holds the genesis: {r}");
    let r = post(node.rpc, r#"{"action":"version"}"#).unwrap();
    assert_eq!(r["network"], "dev");
    let r = post(node.rpc, r#"{"action":"stop"}"#).unwrap();
    assert_eq!(r["success"], "");
    let status = wait_exit(&mut node.child).expect("daemon exits after stop");
    assert!(status.success(), "{status:?}");
}

#[test]
fn daemon_stops_cleanly_on_sigterm_and_keeps_control_gated() {
    let mut node = start(false);
    let r = post(node.rpc, r#"{"action":"stop"}"#).unwrap();
    assert_eq!(r["error"], "RPC control is disabled");
    // SAFETY: signalling the child we spawned, by its PID.
    unsafe { libc::kill(node.child.id() as i32, libc::SIGTERM) };
    let status = wait_exit(&mut node.child).expect("daemon exits after SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[test]
fn generated_configs_are_read_back() {
    for kind in ["node", "rpc"] {
        let out = Command::new(env!("CARGO_BIN_EXE_nano_node"))
            .args([
                "--generate_config",
                kind,
                "--use_defaults",
                "--network",
                "dev",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(format!("config-{kind}.toml")), &text).unwrap();
        if kind == "node" {
            let c =
                nano_node::DaemonConfig::load(nano_core::Network::Dev, dir.path(), &[]).unwrap();
            assert_eq!(
                c,
                nano_node::DaemonConfig::defaults(nano_core::Network::Dev)
            );
        } else {
            let c = nano_api::RpcConfig::load(nano_core::Network::Dev, dir.path(), &[]).unwrap();
            assert_eq!(c, nano_api::RpcConfig::defaults(nano_core::Network::Dev));
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_nano_node"))
        .args(["--generate_config", "wallet"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn initialize_creates_the_ledger_and_refuses_another_network() {
    let dir = tempfile::tempdir().unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_nano_node"))
        .args(["--initialize", "--network", "dev", "--data_path"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Command::new(env!("CARGO_BIN_EXE_nano_node"))
        .args(["--initialize", "--network", "live", "--data_path"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("dev"), "{err}");
}

/// Names of the threads of process `pid`.
fn thread_names(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        if let Ok(n) = std::fs::read_to_string(task.path().join("comm")) {
            names.push(n.trim().to_string());
        }
    }
    names
}

#[cfg(target_os = "linux")]
#[test]
fn api_servers_run_on_their_own_runtime_unless_server_threads_is_0() {
    let own = start_with(false, &["--rpcconfig", "server_threads=3"]);
    let r = post(own.rpc, r#"{"action":"block_count"}"#).unwrap();
    assert_eq!(r["count"], "1", "{r}");
    let names = thread_names(own.child.id());
    let api = names.iter().filter(|n| *n == "nano api").count();
    assert!(api >= 3, "{names:?}");
    drop(own);
    let shared = start_with(false, &["--rpcconfig", "server_threads=0"]);
    let r = post(shared.rpc, r#"{"action":"block_count"}"#).unwrap();
    assert_eq!(r["count"], "1", "{r}");
    let names = thread_names(shared.child.id());
    assert!(!names.iter().any(|n| n == "nano api"), "{names:?}");
    assert!(names.iter().any(|n| n == "nano"), "{names:?}");
}
