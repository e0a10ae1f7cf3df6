//! config-access.toml applied to IPC encodings 3 and 4 and to `/api/v2`: the default
//! user, a bare user, a user whose role grants what its deny takes back, unknown
//! credentials; reloading changes what an already connected client may do; the HTTP
//! gateway's headers, envelope forms and missing-field errors.

mod ipc_common;

use std::time::Duration;

use nano_api::api_v2::{flatbuffer_request, Response};
use nano_api::ipc::client::IpcClient;
use nano_api::ipc::Encoding;
use serde_json::{json, Value};

const DEV_ACCOUNT: &str = "nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo";

const ACCESS: &str = r#"
[[role]]
id = "service_admin"
allow = "api_service_register, api_service_stop, api_topic_service_stop, api_account_weight"

[[user]]
id = "admin"
roles = "service_admin"
deny = "api_account_weight"

[[user]]
id = "viewer"
allow = "account_query"
bare = true

[[user]]
id = "bare-nothing"
bare = true
"#;

async fn ask(c: &mut IpcClient, user: Option<&str>, message_type: &str, message: Value) -> Value {
    let mut env = json!({"message_type": message_type, "message": message});
    if let Some(u) = user {
        env["credentials"] = u.into();
    }
    c.json_v2(&env).await.unwrap()
}

async fn ask_fb(
    c: &mut IpcClient,
    user: Option<&str>,
    message_type: &str,
    message: Value,
) -> Value {
    let req = flatbuffer_request(message_type, message, user, None).unwrap();
    let r =
        Response::from_flatbuffer(&c.request(Encoding::FlatBuffers, &req).await.unwrap()).unwrap();
    json!({"message_type": r.message_type, "message": r.message})
}

/// What an allowed request of `message_type` answers on a node without a ledger.
fn served(message_type: &str) -> Value {
    match message_type {
        "AccountWeight" => json!({"message_type": "Error", "message": {"code": 1,
            "message": "This action needs the node's ledger, which is not running"}}),
        "IsAlive" => json!({"message_type": "IsAlive", "message": {}}),
        "ServiceRegister" | "ServiceStop" => json!({"message_type": "Success", "message": {}}),
        _ => json!({"message_type": "EventAck", "message": {}}),
    }
}

/// What a refused request answers.
fn denied() -> Value {
    json!({"message_type": "Error", "message": {"code": 3, "message": "Access denied"}})
}

/// The answer `message_type` gets when `allowed` is what the rules say.
fn expected(message_type: &str, allowed: bool) -> Value {
    if allowed {
        served(message_type)
    } else {
        denied()
    }
}

/// The six requests of the permission rows, in order: IsAlive, AccountWeight,
/// ServiceRegister, ServiceStop, TopicServiceStop, TopicConfirmation.
fn calls() -> [(&'static str, Value); 6] {
    let svc = json!({"service_name": "svc"});
    [
        ("IsAlive", json!({})),
        ("AccountWeight", json!({"account": DEV_ACCOUNT})),
        ("ServiceRegister", svc.clone()),
        ("ServiceStop", svc),
        ("TopicServiceStop", json!({})),
        ("TopicConfirmation", json!({})),
    ]
}

/// Asserts each user's row, by the whole answer, in JSON and FlatBuffers, each row on a
/// fresh connection (the topic requests subscribe the session they come on, and a later
/// ServiceStop on it would put an event among the answers).
async fn assert_rows(node: &ipc_common::Node, rows: &[(Option<&str>, [bool; 6])]) {
    for (user, expect) in rows {
        let mut c = IpcClient::connect_unix(&node.unix).await.unwrap();
        for ((mt, msg), want) in calls().into_iter().zip(*expect) {
            let answer = expected(mt, want);
            let r = ask(&mut c, *user, mt, msg.clone()).await;
            let r = json!({"message_type": r["message_type"], "message": r["message"]});
            assert_eq!(r, answer, "json {user:?} {mt}");
            let r = ask_fb(&mut c, *user, mt, msg).await;
            assert_eq!(r, answer, "fb {user:?} {mt}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_matrix() {
    let node = ipc_common::start(Some(ACCESS), Duration::from_secs(5)).await;
    // Allowed: the action's own answer (no ledger is attached, so AccountWeight names
    // that); refused: the access error.
    assert_rows(
        &node,
        &[
            (None, [true, true, false, false, false, false]),
            (Some("admin"), [true, false, true, true, true, false]),
            (Some("viewer"), [true, true, false, false, false, false]),
            (
                Some("bare-nothing"),
                [true, false, false, false, false, false],
            ),
            (Some("stranger"), [true, false, false, false, false, false]),
        ],
    )
    .await;
}

/// Asserts what one already connected client is answered for a request that does not
/// subscribe it to anything.
async fn assert_answer(c: &mut IpcClient, user: Option<&str>, mt: &str, allowed: bool) {
    let msg = calls().into_iter().find(|(m, _)| *m == mt).unwrap().1;
    let r = ask(c, user, mt, msg).await;
    let r = json!({"message_type": r["message_type"], "message": r["message"]});
    assert_eq!(r, expected(mt, allowed), "{user:?} {mt}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_changes_a_connected_clients_rights() {
    let node = ipc_common::start(Some(ACCESS), Duration::from_secs(5)).await;
    let path = node.dir.path().join("config-access.toml");
    let mut c = IpcClient::connect_tcp("127.0.0.1", node.tcp.port())
        .await
        .unwrap();
    assert_answer(&mut c, Some("viewer"), "ServiceStop", false).await;
    assert_answer(&mut c, Some("viewer"), "AccountWeight", true).await;
    assert_answer(&mut c, None, "AccountWeight", true).await;
    assert_answer(&mut c, Some("admin"), "ServiceRegister", true).await;

    // The default user loses everything; viewer (no longer bare, so it inherits the now
    // empty default set) holds `service` and nothing else; admin is no longer a user.
    let reloaded = "[[user]]\nbare = true\n[[user]]\nid = \"viewer\"\nallow = \"service\"\n";
    std::fs::write(&path, reloaded).unwrap();
    node.access.reload().unwrap();
    assert_answer(&mut c, Some("viewer"), "ServiceStop", true).await;
    assert_answer(&mut c, Some("viewer"), "AccountWeight", false).await;
    assert_answer(&mut c, None, "AccountWeight", false).await;
    assert_answer(&mut c, Some("admin"), "ServiceRegister", false).await;
    let after_reload = [
        (None, [true, false, false, false, false, false]),
        (Some("viewer"), [true, false, true, true, true, false]),
        (Some("admin"), [true, false, false, false, false, false]),
    ];
    assert_rows(&node, &after_reload).await;

    // A broken file is refused, naming what is wrong, and the rules in force stay.
    std::fs::write(&path, "[[role]]\nid = \"r\"\ndeny = \"wallet\"\n").unwrap();
    assert_eq!(
        node.access.reload().unwrap_err().to_string(),
        "config-access.toml: role \"r\": a role may not have a deny list"
    );
    std::fs::write(&path, "[[user]]\nid = \"a\"\nroles = \"nope\"\n").unwrap();
    assert_eq!(
        node.access.reload().unwrap_err().to_string(),
        "config-access.toml: Unknown role: nope"
    );
    std::fs::write(&path, "this is not toml [").unwrap();
    assert_eq!(
        node.access.reload().unwrap_err().to_string(),
        "config-access.toml: key with no value, expected `=`"
    );
    assert_answer(&mut c, Some("viewer"), "ServiceStop", true).await;
    assert_answer(&mut c, None, "AccountWeight", false).await;
    assert_rows(&node, &after_reload).await;

    // Removing the file restores the built-in defaults: the default user may ask
    // AccountWeight, and no other user exists.
    std::fs::remove_file(&path).unwrap();
    node.access.reload().unwrap();
    assert_answer(&mut c, None, "AccountWeight", true).await;
    assert_answer(&mut c, Some("viewer"), "ServiceStop", false).await;
    assert_rows(
        &node,
        &[
            (None, [true, true, false, false, false, false]),
            (Some("viewer"), [true, false, false, false, false, false]),
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_stop_event_reaches_the_registered_service() {
    let node = ipc_common::start(Some(ACCESS), Duration::from_secs(5)).await;
    let mut service = IpcClient::connect_unix(&node.unix).await.unwrap();
    let r = ask(
        &mut service,
        Some("admin"),
        "ServiceRegister",
        json!({"service_name": "svc"}),
    )
    .await;
    assert_eq!(r["message_type"], "Success");
    let r = ask(&mut service, Some("admin"), "TopicServiceStop", json!({})).await;
    assert_eq!(r["message_type"], "EventAck");

    let mut admin = IpcClient::connect_tcp("127.0.0.1", node.tcp.port())
        .await
        .unwrap();
    let r = ask_fb(
        &mut admin,
        Some("admin"),
        "ServiceStop",
        json!({"service_name": "svc"}),
    )
    .await;
    assert_eq!(r["message_type"], "Success");
    service.set_timeout(Duration::from_secs(10));
    let ev: Value = serde_json::from_slice(&service.read_frame().await.unwrap()).unwrap();
    assert_eq!(ev["message_type"], "EventServiceStop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_v2_over_http() {
    let node = ipc_common::start(Some(ACCESS), Duration::from_secs(5)).await;
    let mut h = ipc_common::Http::connect(node.http).await;

    // An empty body is no message: the reference wraps it as `"message": }` and its
    // parser refuses it, in the answer it writes by hand (no time, no correlation id).
    let r = h
        .post("/api/v2/IsAlive", &[("Nano-Correlation-Id", "corr-7")], b"")
        .await;
    assert_eq!(r.header("nano-correlation-id"), None);
    assert_eq!(
        String::from_utf8(r.body).unwrap(),
        r#"{"message_type": "Error", "message": {"code": 1, "message": "Invalid message format: 1: 68: error: expecting: { instead got: }"}}"#
    );

    let before = ipc_common::now_ms();
    let a = h
        .post(
            "/api/v2/IsAlive",
            &[("Nano-Correlation-Id", "corr-7")],
            b"{}",
        )
        .await;
    assert_eq!(a.status, 200);
    let r = a.json();
    assert_eq!(r["message_type"], "IsAlive");
    assert_eq!(r["correlation_id"], "corr-7");
    let time = r["time"].as_u64().unwrap();
    assert!((before..=ipc_common::now_ms()).contains(&time), "{r}");
    assert_eq!(a.header("nano-correlation-id"), Some("corr-7"));

    // Credentials from the header.
    let body = json!({"service_name": "svc"}).to_string();
    let r = h
        .post("/api/v2/ServiceStop", &[], body.as_bytes())
        .await
        .json();
    assert_eq!(r["message"]["message"], "Access denied");
    let r = h
        .post(
            "/api/v2/ServiceStop",
            &[("Nano-Api-Key", "admin")],
            body.as_bytes(),
        )
        .await
        .json();
    assert_eq!(r["message_type"], "Success", "{r}");

    // The whole envelope at /api/v2.
    let env = json!({"message_type": "AccountWeight", "credentials": "admin", "correlation_id": "x",
        "message": {"account": DEV_ACCOUNT}});
    let r = h.post_json("/api/v2", &env).await;
    assert_eq!(
        r["message"]["code"], 3,
        "admin's deny wins over its role: {r}"
    );
    assert_eq!(r["correlation_id"], "x");
    let env = json!({"message_type": "AccountWeight", "message": {"account": DEV_ACCOUNT}});
    let r = h.post_json("/api/v2", &env).await;
    assert_eq!(
        json!({"message_type": r["message_type"], "message": r["message"]}),
        served("AccountWeight")
    );

    // Missing fields: the reference parser's texts, at the token after the message
    // (`{"message_type": "AccountWeight", "message": {}}` as the reference wraps it).
    let r = h.post_json("/api/v2/AccountWeight", &json!({})).await;
    assert_eq!(r["message_type"], "Error");
    assert_eq!(
        r["message"],
        json!({"code": 1,
            "message": "Invalid message format: 1: 48: error: required field is missing: account in AccountWeight"})
    );
    // Without a type, the parser looks for it after the message: `{"message":{}}`.
    let r = h.post_json("/api/v2", &json!({"message": {}})).await;
    assert_eq!(
        r["message"],
        json!({"code": 1,
            "message": "Invalid message format: 1: 14: error: expecting: , instead got: }"})
    );
    // With neither, the envelope reads and names no message.
    let r = h.post_json("/api/v2", &json!({"credentials": "x"})).await;
    assert_eq!(r["message_type"], "Error");
    assert_eq!(
        r["message"],
        json!({"code": 1, "message": "Unknown message type"})
    );
    // A name that is no message type, and a message that is no object.
    let r = h.post("/api/v2/NoSuch", &[], b"{}").await.json();
    assert_eq!(
        r["message"],
        json!({"code": 1, "message": "Invalid message format: 1: 25: error: unknown enum value: NoSuch"})
    );
    let r = h.post("/api/v2/AccountWeight", &[], b"\"x\"").await.json();
    assert_eq!(
        r["message"],
        json!({"code": 1,
            "message": "Invalid message format: 1: 48: error: expecting: { instead got: string constant"})
    );
    // A whole envelope that is JSON but no object: the reference parser's text.
    let r = h.post("/api/v2", &[], b" [1]").await.json();
    assert_eq!(
        r["message"],
        json!({"code": 1, "message": "Invalid message format: 1: 2: error: declaration expected"})
    );
    let r = h.post("/api/v2", &[], b"").await.json();
    assert_eq!(
        r["message"],
        json!({"code": 1, "message": "Invalid message format: 1: 0: error: input file is empty"})
    );
    let r = h.post("/api/v2/AccountWeight", &[], b"{oops").await.json();
    assert_eq!(r["message_type"], "Error");
    let r = h.post_json("/api/v2/NoSuchThing", &json!({})).await;
    assert_eq!(r["message_type"], "Error");
    // Subscriptions need an IPC session.
    let r = h
        .post(
            "/api/v2/TopicServiceStop",
            &[("Nano-Api-Key", "admin")],
            b"{}",
        )
        .await
        .json();
    assert_eq!(r["message_type"], "Error");
    assert_eq!(
        r["message"],
        json!({"code": 1, "message": "TopicServiceStop needs a persistent IPC session"})
    );

    // RPC v1 still answers at / on the same server.
    let r = h
        .post_json(
            "/",
            &json!({"action": "account_key", "account": DEV_ACCOUNT}),
        )
        .await;
    assert_eq!(
        r["key"],
        "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmation_events_follow_the_subscription_options() {
    let node = ipc_common::start(
        Some("[[user]]\nid = \"watcher\"\nallow = \"api_topic_confirmation\"\n"),
        Duration::from_secs(5),
    )
    .await;
    let mut c = IpcClient::connect_unix(&node.unix).await.unwrap();
    let sub = json!({"options": {"accounts": [DEV_ACCOUNT], "include_block": false}});
    let r = ask(&mut c, Some("watcher"), "TopicConfirmation", sub).await;
    assert_eq!(r["message_type"], "EventAck");
    let event = |account: &str| {
        json!({"confirmation_type": "active_quorum", "account": account, "amount": "1",
            "hash": "AB", "block_type": "BlockState", "block": {"hash": "AB"}})
        .as_object()
        .cloned()
        .unwrap()
    };
    let other = "nano_1111111111111111111111111111111111111111111111111111hifc8npp";
    node.v2.broker.publish_confirmation(&event(other));
    node.v2.broker.publish_confirmation(&event(DEV_ACCOUNT));
    c.set_timeout(Duration::from_secs(10));
    let ev: Value = serde_json::from_slice(&c.read_frame().await.unwrap()).unwrap();
    assert_eq!(ev["message_type"], "EventConfirmation");
    assert_eq!(ev["message"]["account"], DEV_ACCOUNT, "filtered by account");
    assert!(
        ev["message"].get("block").is_none(),
        "include_block = false"
    );
    // Unsubscribing stops the events; the next frame is the answer to IsAlive.
    let r = ask(
        &mut c,
        Some("watcher"),
        "TopicConfirmation",
        json!({"unsubscribe": true}),
    )
    .await;
    assert_eq!(r["message_type"], "EventAck");
    node.v2.broker.publish_confirmation(&event(DEV_ACCOUNT));
    let r = ask(&mut c, None, "IsAlive", json!({})).await;
    assert_eq!(r["message_type"], "IsAlive");
}
