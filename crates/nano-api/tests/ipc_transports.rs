//! IPC over TCP and the Unix socket: many requests on one persistent connection, many
//! connections at once, every encoding answered correctly, the socket file's life cycle.

mod ipc_common;

use std::time::Duration;

use nano_api::api_v2::{flatbuffer_request, Response};
use nano_api::ipc::client::IpcClient;
use nano_api::ipc::Encoding;
use serde_json::{json, Value};

const DEV_KEY: &str = "34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4";
const DEV_PUB: &str = "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0";
const DEV_ACCOUNT: &str = "nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo";

async fn clients(node: &ipc_common::Node) -> Vec<(&'static str, IpcClient)> {
    vec![
        (
            "tcp",
            IpcClient::connect_tcp("127.0.0.1", node.tcp.port())
                .await
                .unwrap(),
        ),
        ("unix", IpcClient::connect_unix(&node.unix).await.unwrap()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_requests_on_one_connection() {
    let node = ipc_common::start(None, Duration::from_secs(5)).await;
    let version = {
        let mut http = ipc_common::Http::connect(node.http).await;
        http.post_json("/", &json!({"action": "version"})).await
    };
    for (name, mut c) in clients(&node).await {
        for i in 0..1000 {
            if i % 2 == 0 {
                let r = c
                    .json_v1(&json!({"action": "key_expand", "key": DEV_KEY}))
                    .await
                    .unwrap();
                assert_eq!(r["public"], DEV_PUB, "{name} #{i}");
                assert_eq!(r["account"], DEV_ACCOUNT);
            } else {
                let r = c.json_v1(&json!({"action": "version"})).await.unwrap();
                assert_eq!(r, version, "{name} #{i}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_encoding_on_both_transports() {
    let node = ipc_common::start(None, Duration::from_secs(5)).await;
    for (name, mut c) in clients(&node).await {
        // 1: RPC v1, control allowed (the HTTP front enforces enable_control).
        let r = c
            .json_v1(&json!({"action": "account_key", "account": DEV_ACCOUNT}))
            .await
            .unwrap();
        assert_eq!(r["key"], DEV_PUB, "{name}");
        let body = c
            .request(
                Encoding::JsonV1,
                br#"{"action":"work_validate","work":"zz","hash":"0000000000000000000000000000000000000000000000000000000000000000"}"#,
            )
            .await
            .unwrap();
        let r: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(r, json!({"error": "Bad work"}), "{name}");
        // 2: RPC v1 with the unsafe flag.
        let body = c
            .request(Encoding::JsonV1Unsafe, br#"{"action":"key_expand","key":"34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4"}"#)
            .await
            .unwrap();
        let r: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(r["public"], DEV_PUB, "{name}");
        // 3: FlatBuffers.
        let req = flatbuffer_request("IsAlive", json!({}), None, Some("fb-1")).unwrap();
        let before = ipc_common::now_ms();
        let answer = c.request(Encoding::FlatBuffers, &req).await.unwrap();
        let r = Response::from_flatbuffer(&answer).expect("a FlatBuffers envelope");
        assert_eq!(r.message_type, "IsAlive", "{name}");
        assert_eq!(r.correlation_id.as_deref(), Some("fb-1"));
        assert!(
            (before..=ipc_common::now_ms()).contains(&r.time),
            "{}",
            r.time
        );
        let req =
            flatbuffer_request("AccountWeight", json!({"account": "nano_1"}), None, None).unwrap();
        let r = Response::from_flatbuffer(&c.request(Encoding::FlatBuffers, &req).await.unwrap())
            .unwrap();
        assert_eq!(r.message_type, "Error");
        assert_eq!(r.message["code"], 7);
        assert_eq!(r.message["message"], "Bad account number");
        // 4: JSON envelopes.
        let before = ipc_common::now_ms();
        let r = c
            .json_v2(&json!({"message_type": "IsAlive", "message": {}, "correlation_id": "j-1"}))
            .await
            .unwrap();
        assert_eq!(r["message_type"], "IsAlive", "{name}");
        assert_eq!(r["correlation_id"], "j-1");
        let time = r["time"].as_u64().unwrap();
        assert!((before..=ipc_common::now_ms()).contains(&time), "{r}");
        let r = c
            .json_v2(&json!({"message_type": "AccountWeight", "message": {"account": DEV_ACCOUNT}}))
            .await
            .unwrap();
        // No ledger is attached here: the answer names the problem with the generic code.
        assert_eq!(r["message_type"], "Error", "{name}: {r}");
        assert_eq!(
            r["message"],
            json!({"code": 1, "message": "This action needs the node's ledger, which is not running"})
        );
        let r = c
            .json_v2(&json!({"message_type": "AccountWeight", "message": {}}))
            .await
            .unwrap();
        assert_eq!(r["message_type"], "Error");
        // The reference parser's text, at the end of `{"message_type":"AccountWeight",
        // "message":{}}` as this client sends it (no spaces).
        assert_eq!(
            r["message"]["message"],
            "Invalid message format: 1: 45: error: required field is missing: account in AccountWeight"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_at_once() {
    let node = ipc_common::start(None, Duration::from_secs(5)).await;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (port, path) = (node.tcp.port(), node.unix.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = if i % 2 == 0 {
                IpcClient::connect_tcp("127.0.0.1", port).await.unwrap()
            } else {
                IpcClient::connect_unix(&path).await.unwrap()
            };
            for _ in 0..50 {
                let r = c
                    .json_v1(&json!({"action": "account_key", "account": DEV_ACCOUNT}))
                    .await
                    .unwrap();
                assert_eq!(r["key"], DEV_PUB);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unix_socket_file_life_cycle() {
    let mut node = ipc_common::start(None, Duration::from_secs(5)).await;
    let path = node.unix.clone();
    assert!(path.exists());
    // A live server is not displaced by a second one.
    let mut other = nano_api::ipc::server::IpcServer::new(node.v2.clone());
    let opts = nano_api::ipc::server::TransportOptions {
        io_timeout: Duration::from_secs(1),
        allow_unsafe: false,
        idle_timeout: Duration::from_secs(300),
    };
    assert!(other.bind_unix(&path, opts).is_err());
    node.ipc.stop();
    assert!(!path.exists(), "socket removed on stop");
    // A stale socket file (no listener) is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    other.bind_unix(&path, opts).unwrap();
    let mut c = IpcClient::connect_unix(&path).await.unwrap();
    let r = c
        .json_v1(&json!({"action": "account_key", "account": DEV_ACCOUNT}))
        .await
        .unwrap();
    assert_eq!(r["key"], DEV_PUB);
    // A regular file is never deleted.
    let file = node.dir.path().join("not-a-socket");
    std::fs::write(&file, b"x").unwrap();
    let mut third = nano_api::ipc::server::IpcServer::new(node.v2.clone());
    assert!(third.bind_unix(&file, opts).is_err());
    assert!(file.exists());
    drop(other);
    assert!(!path.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_from_node_config() {
    let node = ipc_common::start(None, Duration::from_secs(5)).await;
    let mut cfg = nano_node::config::DaemonConfig::defaults(nano_core::Network::Dev)
        .node
        .ipc;
    cfg.tcp.enable = true;
    cfg.tcp.port = 0;
    cfg.local.enable = true;
    cfg.local.path = node
        .dir
        .path()
        .join("cfg.sock")
        .to_string_lossy()
        .into_owned();
    let server = nano_api::ipc::server::IpcServer::start(node.v2.clone(), &cfg)
        .await
        .unwrap();
    assert!(!server.tcp_addrs().is_empty());
    for a in server.tcp_addrs() {
        assert!(a.ip().is_loopback(), "{a}");
        let mut c = IpcClient::connect_tcp(&a.ip().to_string(), a.port())
            .await
            .unwrap();
        let r = c
            .json_v1(&json!({"action": "account_key", "account": DEV_ACCOUNT}))
            .await
            .unwrap();
        assert_eq!(r["key"], DEV_PUB);
    }
    let mut c = IpcClient::connect_unix(server.unix_path().unwrap())
        .await
        .unwrap();
    let r = c
        .json_v2(&json!({"message_type": "IsAlive"}))
        .await
        .unwrap();
    assert_eq!(r["message_type"], "IsAlive");
}
