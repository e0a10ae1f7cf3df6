//! SIGHUP reloads config-access.toml in a running server. Its own test binary (one
//! process, one test) because the signal goes to the whole process, and only after the
//! handler is installed.

mod ipc_common;

use std::time::{Duration, Instant};

use nano_api::ipc::client::IpcClient;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_access_rules() {
    let node = ipc_common::start(Some("[[user]]\nid = \"svc\"\n"), Duration::from_secs(5)).await;
    nano_api::access::spawn_sighup_reloader(node.access.clone()).unwrap();
    let mut c = IpcClient::connect_unix(&node.unix).await.unwrap();
    let env = json!({"message_type": "ServiceRegister", "credentials": "svc",
        "message": {"service_name": "a"}});
    let r = c.json_v2(&env).await.unwrap();
    assert_eq!(r["message_type"], "Error", "{r}");
    assert_eq!(
        r["message"],
        json!({"code": 3, "message": "Access denied"}),
        "{r}"
    );

    std::fs::write(
        node.dir.path().join("config-access.toml"),
        "[[user]]\nid = \"svc\"\nallow = \"api_service_register\"\n",
    )
    .unwrap();
    let status = std::process::Command::new("kill")
        .args(["-HUP", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    loop {
        let r = c.json_v2(&env).await.unwrap();
        if r["message_type"] == "Success" {
            assert_eq!(r["message"], json!({}), "{r}");
            break;
        }
        assert_eq!(
            r["message"]["code"], 3,
            "only a refusal may come before the reload: {r}"
        );
        assert!(t.elapsed() < Duration::from_secs(10), "not reloaded: {r}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
