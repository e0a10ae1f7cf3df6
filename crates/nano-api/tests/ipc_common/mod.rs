//! Shared by the IPC tests and the IPC benchmark: an in-process node API (dev network)
//! with IPC on 127.0.0.1 and a Unix socket in a temporary directory, plus a minimal
//! keep-alive HTTP/1.1 client for the RPC and `/api/v2` routes.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nano_api::access::AccessControl;
use nano_api::api_v2::V2Service;
use nano_api::ipc::server::{IpcServer, TransportOptions};
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

pub struct Node {
    pub v2: Arc<V2Service>,
    pub access: Arc<AccessControl>,
    pub ipc: IpcServer,
    pub tcp: SocketAddr,
    pub unix: PathBuf,
    pub http: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// Starts IPC (TCP + Unix) and HTTP (v1 + /api/v2) in the current runtime. `access_toml`
/// is written to `config-access.toml` first when given.
pub async fn start(access_toml: Option<&str>, io_timeout: Duration) -> Node {
    let dir = tempfile::tempdir().unwrap();
    if let Some(t) = access_toml {
        std::fs::write(dir.path().join("config-access.toml"), t).unwrap();
    }
    let access = Arc::new(AccessControl::load(dir.path()).unwrap());
    let ctx = Arc::new(ApiContext::new(Network::Dev));
    let v2 = V2Service::new(ctx, access.clone());
    let mut ipc = IpcServer::new(v2.clone());
    let opts = TransportOptions {
        io_timeout,
        allow_unsafe: false,
        idle_timeout: Duration::from_secs(300),
    };
    let tcp = ipc
        .bind_tcp("127.0.0.1:0".parse().unwrap(), opts)
        .await
        .unwrap();
    let unix = dir.path().join("nano.sock");
    ipc.bind_unix(&unix, opts).unwrap();
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    let http = nano_api::http::serve_with_v2(v2.clone(), &cfg, std::future::pending())
        .await
        .unwrap();
    Node {
        v2,
        access,
        ipc,
        tcp,
        unix,
        http,
        dir,
    }
}

/// A keep-alive HTTP/1.1 client good enough for JSON POSTs to our own server.
pub struct Http {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpAnswer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl Http {
    pub async fn connect(addr: SocketAddr) -> Http {
        let s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        let (r, w) = s.into_split();
        Http {
            reader: BufReader::new(r),
            writer: w,
        }
    }

    pub async fn post(&mut self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> HttpAnswer {
        let mut req = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        let mut bytes = req.into_bytes();
        bytes.extend_from_slice(body);
        self.writer.write_all(&bytes).await.unwrap();
        let mut line = String::new();
        self.reader.read_line(&mut line).await.unwrap();
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await.unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap();
                }
                headers.push((k.to_string(), v.trim().to_string()));
            }
        }
        let mut body = vec![0u8; len];
        self.reader.read_exact(&mut body).await.unwrap();
        HttpAnswer {
            status,
            headers,
            body,
        }
    }

    pub async fn post_json(&mut self, path: &str, v: &Value) -> Value {
        let a = self.post(path, &[], v.to_string().as_bytes()).await;
        assert_eq!(a.status, 200);
        a.json()
    }
}

/// Milliseconds since the Unix epoch: the unit of an IPC 2.0 envelope's `time`, so a test
/// can bound it by two readings taken around the request.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
