//! A browser-style request (an `Origin` header not in `allowed_origins`) cannot stop the
//! node or export a wallet, over RPC v1 or `/api/v2`; an allowed origin and requests
//! without an Origin (non-browser clients) are unaffected, and foreign pages can still
//! read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use nano_api::browser_origin::ORIGIN_REFUSED;
use nano_api::{ApiContext, RpcConfig};
use nano_core::Network;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// POSTs `body` to `path` with an optional Origin header, as a browser's fetch would.
async fn post(addr: SocketAddr, path: &str, origin: Option<&str>, body: &str) -> Value {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let origin = origin
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\n{origin}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut resp))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&resp);
    let json = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(json).unwrap_or(Value::Null)
}

fn error_of(v: &Value) -> String {
    v.get("error")
        .or_else(|| v.get("message").and_then(|m| m.get("message")))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_pages_cannot_stop_the_node_or_export_wallets() {
    let dir = tempfile::tempdir().unwrap();
    let access = Arc::new(nano_api::access::AccessControl::load(dir.path()).unwrap());
    let ctx = Arc::new(ApiContext::new(Network::Dev));
    let v2 = nano_api::api_v2::V2Service::new(ctx.clone(), access);
    let mut cfg = RpcConfig::defaults(Network::Dev);
    cfg.address = "127.0.0.1".into();
    cfg.port = 0;
    cfg.enable_control = true;
    cfg.allowed_origins = vec!["https://wallet.example".into()];
    let addr = nano_api::http::serve_with_v2(v2, &cfg, std::future::pending())
        .await
        .unwrap();
    let evil = Some("https://evil.example");

    let stop = r#"{"action":"stop"}"#;
    let export = r#"{"action":"wallet_export","wallet":"000D1BAEC8EC208142C99059B393051BAC8380F9B5A2E6B2489A277D81789F3F"}"#;
    for body in [stop, export] {
        let v = post(addr, "/", evil, body).await;
        assert_eq!(error_of(&v), ORIGIN_REFUSED, "{body}: {v}");
        let v = post(addr, "/", Some("null"), body).await;
        assert_eq!(error_of(&v), ORIGIN_REFUSED, "null origin, {body}: {v}");
    }
    // process with force is a control request too.
    let v = post(
        addr,
        "/",
        evil,
        r#"{"action":"process","force":"true","json_block":"true","block":{}}"#,
    )
    .await;
    assert_eq!(error_of(&v), ORIGIN_REFUSED, "{v}");
    // The allowed origin and non-browser clients reach the action, which answers what it
    // does for anyone without wallets open.
    let no_wallets = "This action needs the node's wallets, which are not open";
    let v = post(addr, "/", Some("https://wallet.example"), export).await;
    assert_eq!(error_of(&v), no_wallets, "{v}");
    let v = post(addr, "/", None, export).await;
    assert_eq!(error_of(&v), no_wallets, "{v}");
    // Foreign pages can still read.
    let v = post(addr, "/", evil, r#"{"action":"version"}"#).await;
    assert_eq!(v["rpc_version"], "1", "{v}");
    assert_eq!(v["network"], "dev", "{v}");
    // /api/v2: ServiceStop from a foreign page is refused.
    let v = post(
        addr,
        "/api/v2/ServiceStop",
        evil,
        r#"{"service_name":"node"}"#,
    )
    .await;
    assert_eq!(error_of(&v), ORIGIN_REFUSED, "{v}");
    // Without an Origin the stop request is accepted (control is enabled here).
    let v = post(addr, "/", None, stop).await;
    assert_eq!(v.get("success").and_then(Value::as_str), Some(""), "{v}");
}
