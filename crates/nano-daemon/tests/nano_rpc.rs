//! The out-of-process `nano_rpc`: started as a real process against an IPC server in this
//! test, its answers (RPC v1 and `/api/v2`) must equal the in-process HTTP server's, and
//! it must enforce its own `enable_control`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use nano_api::access::AccessControl;
use nano_api::api_v2::V2Service;
use nano_api::ipc::server::{IpcServer, TransportOptions};
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use serde_json::{json, Value};

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One POST with `Connection: close`; returns the body.
fn post(addr: SocketAddr, path: &str, headers: &str, body: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default()
}

/// Milliseconds since the Unix epoch, the clock an envelope's `time` is read from.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn without_time(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("time");
    }
    v
}

#[test]
fn nano_rpc_forwards_over_ipc_like_the_in_process_server() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ctx = Arc::new(ApiContext::new(Network::Dev));
    let v2 = V2Service::new(ctx, Arc::new(AccessControl::load(dir.path()).unwrap()));
    let (ipc_port, http, _ipc) = rt.block_on(async {
        let mut ipc = IpcServer::new(v2.clone());
        let opts = TransportOptions {
            io_timeout: Duration::from_secs(5),
            allow_unsafe: false,
            idle_timeout: Duration::from_secs(300),
        };
        let a = ipc
            .bind_tcp("127.0.0.1:0".parse().unwrap(), opts)
            .await
            .unwrap();
        let mut cfg = RpcConfig::defaults(Network::Dev);
        cfg.address = "127.0.0.1".into();
        cfg.port = 0;
        let http = nano_api::http::serve_with_v2(v2.clone(), &cfg, std::future::pending())
            .await
            .unwrap();
        (a.port(), http, ipc)
    });

    std::fs::write(
        dir.path().join("config-rpc.toml"),
        "address = \"127.0.0.1\"\nport = 0\n[process]\nipc_address = \"127.0.0.1\"\nnum_ipc_connections = 2\n",
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nano_rpc"))
        .args(["--network", "dev", "--data_path"])
        .arg(dir.path())
        .args(["--rpcconfig", &format!("process.ipc_port={ipc_port}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let child = Killed(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let rpc: SocketAddr = line
        .trim()
        .strip_prefix("nano_rpc listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .unwrap();

    let v1 = [
        json!({"action": "version"}).to_string(),
        json!({"action": "key_expand", "key": "34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4"}).to_string(),
        json!({"action": "account_key", "account": "nano_1"}).to_string(),
        json!({"action": "nano_to_raw", "amount": "12"}).to_string(),
        json!({"action": "work_generate", "hash": "00"}).to_string(),
        json!({"action": "stop"}).to_string(),
        json!({"action": "no_such_action"}).to_string(),
        "{broken".to_string(),
        format!("{}{}", "[".repeat(30), "]".repeat(30)),
    ];
    for body in &v1 {
        let a = post(http, "/", "", body);
        let b = post(rpc, "/", "", body);
        let (a, b): (Value, Value) = (
            serde_json::from_str(&a).unwrap(),
            serde_json::from_str(&b).unwrap(),
        );
        assert_eq!(a, b, "v1 {body}");
    }
    // enable_control = false in nano_rpc: the node (which trusts IPC) was not reached.
    let r: Value = serde_json::from_str(&post(rpc, "/", "", r#"{"action":"stop"}"#)).unwrap();
    assert_eq!(r["error"], "RPC control is disabled");

    let v2_calls = [
        (
            "/api/v2/IsAlive",
            "Nano-Correlation-Id: abc\r\n",
            "{}".to_string(),
        ),
        ("/api/v2/AccountWeight", "", "{}".to_string()),
        (
            "/api/v2/AccountWeight",
            "Nano-Api-Key: nobody\r\n",
            json!({"account": "nano_1"}).to_string(),
        ),
        (
            "/api/v2",
            "",
            json!({"message_type": "AccountWeight", "message": {"account": "nano_1"}}).to_string(),
        ),
    ];
    for (path, headers, body) in &v2_calls {
        let a: Value = serde_json::from_str(&post(http, path, headers, body)).unwrap();
        let before = now_ms();
        let b: Value = serde_json::from_str(&post(rpc, path, headers, body)).unwrap();
        if body == "{}" && *path == "/api/v2/AccountWeight" {
            // Refused by the reference's parser (no account): its hand-written answer,
            // which has no time.
            assert_eq!(b.get("time"), None, "{b}");
        } else {
            let time = b["time"].as_u64().unwrap();
            assert!((before..=now_ms()).contains(&time), "{time}: {b}");
        }
        assert_eq!(without_time(a), without_time(b), "v2 {path} {body}");
    }

    // Many requests through the pool's persistent connections.
    for _ in 0..50 {
        let r: Value = serde_json::from_str(&post(rpc, "/", "", r#"{"action":"account_key","account":"nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo"}"#)).unwrap();
        assert_eq!(
            r["key"],
            "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0"
        );
    }
    // config-log.toml defaults: nano_rpc also logs to <data_path>/log/rpc.log.
    let log = dir.path().join("log").join("rpc.log");
    let logged = (0..100).any(|_| {
        let found = std::fs::read_to_string(&log).is_ok_and(|t| t.contains("RPC on "));
        if !found {
            std::thread::sleep(Duration::from_millis(100));
        }
        found
    });
    assert!(logged, "startup line in {}", log.display());
    drop(child);
}
