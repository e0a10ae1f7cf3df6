//! Helpers for tests that run real `nano_node` processes on the dev network: free ports,
//! a tiny HTTP client, and a child process that is killed (by PID) when dropped.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

pub const DEV_KEY: &str = "34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4";
pub const DEV_ACCOUNT: &str = "nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo";

/// Ports handed to daemons come from below the kernel's ephemeral range (32768–60999 by
/// default): a port from `bind(0)`, once released, can go to any outgoing connection (the
/// nodes of a test running beside this one connect to each other) before the daemon binds
/// it, and the daemon then stops with "address in use".
const TEST_PORTS: Range<u16> = 20_000..32_000;

/// How many ports of [`TEST_PORTS`] one call tries before giving up: the range is far
/// larger than any test's needs, so running out means something else holds the ports.
const PORT_TRIES: u16 = 1_000;

/// The next port [`free_port`] tries, as an offset into [`TEST_PORTS`]; 0 until first use.
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// A port of [`TEST_PORTS`] that nothing listens on now; no two calls in one test process
/// return the same one (the starting point depends on the process id, so test binaries
/// that run at once start apart too).
pub fn free_port() -> u16 {
    let span = TEST_PORTS.end - TEST_PORTS.start;
    let _ = NEXT_PORT.compare_exchange(
        0,
        1 + (std::process::id() % u32::from(span - 1)) as u16,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..PORT_TRIES {
        let offset = NEXT_PORT.fetch_add(1, Ordering::Relaxed) % span;
        let port = TEST_PORTS.start + offset;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {TEST_PORTS:?} after {PORT_TRIES} tries");
}

pub fn post(addr: SocketAddr, body: &str) -> Option<serde_json::Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).ok()?;
    let req = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    serde_json::from_str(out.split("\r\n\r\n").nth(1)?).ok()
}

pub fn rpc(addr: SocketAddr, v: serde_json::Value) -> serde_json::Value {
    post(addr, &v.to_string()).unwrap_or_else(|| panic!("no answer to {v}"))
}

pub struct Daemon {
    pub child: Child,
    pub rpc: SocketAddr,
    /// The daemon's standard error, read back when it stops early so the failure says why.
    pub stderr: tempfile::NamedTempFile,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `nano_node --daemon --network dev` in `dir` with RPC on `127.0.0.1:<free>` and
/// waits until it answers. IPC and WebSocket are off unless `extra` turns them on.
pub fn start_daemon(dir: &Path, control: bool, extra: &[String]) -> Daemon {
    let port = free_port();
    start_daemon_on(dir, control, port, extra)
}

pub fn start_daemon_on(dir: &Path, control: bool, port: u16, extra: &[String]) -> Daemon {
    start_daemon_to(dir, control, port, extra, Stdio::null())
}

/// [`start_daemon_on`] with the daemon's standard output going to `stdout`.
pub fn start_daemon_to(
    dir: &Path,
    control: bool,
    port: u16,
    extra: &[String],
    stdout: Stdio,
) -> Daemon {
    let mut args: Vec<String> = vec![
        "--daemon".into(),
        "--network".into(),
        "dev".into(),
        "--data_path".into(),
        dir.display().to_string(),
        "--config".into(),
        "node.websocket.enable=false".into(),
        "--config".into(),
        "node.ipc.tcp.enable=false".into(),
        "--rpcconfig".into(),
        "address=\"127.0.0.1\"".into(),
        "--rpcconfig".into(),
        format!("port={port}"),
        "--rpcconfig".into(),
        format!("enable_control={control}"),
    ];
    args.extend(extra.iter().cloned());
    let stderr = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_nano_node"))
        .args(&args)
        .stdout(stdout)
        .stderr(stderr.reopen().unwrap())
        .spawn()
        .unwrap();
    let rpc: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut d = Daemon { child, rpc, stderr };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if post(rpc, r#"{"action":"version"}"#).is_some() {
            return d;
        }
        if let Ok(Some(status)) = d.child.try_wait() {
            let said = std::fs::read_to_string(d.stderr.path()).unwrap_or_default();
            panic!("daemon exited early: {status:?}; its stderr:\n{said}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = d.child.kill();
    panic!("daemon RPC did not come up");
}

/// Polls `f` until it returns true or the deadline passes.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}
