//! Malformed IPC input: each bad frame gets an error answer or a closed connection, fast,
//! and a second client connected all along keeps being served.

mod ipc_common;

use std::time::{Duration, Instant};

use nano_api::api_v2::{flatbuffer_request, Response};
use nano_api::ipc::client::IpcClient;
use nano_api::ipc::Encoding;
use serde_json::{json, Value};

const DEV_ACCOUNT: &str = "nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo";
const DEV_PUB: &str = "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0";
const IO_TIMEOUT: Duration = Duration::from_millis(500);

/// True if the server closed the connection (EOF or reset) rather than answering.
async fn closed(c: &mut IpcClient) -> bool {
    c.set_timeout(Duration::from_secs(10));
    c.read_frame().await.is_err()
}

async fn still_served(bystander: &mut IpcClient) {
    let r = bystander
        .json_v1(&json!({"action": "account_key", "account": DEV_ACCOUNT}))
        .await
        .unwrap();
    assert_eq!(r["key"], DEV_PUB);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_close_or_answer_and_others_are_unaffected() {
    let node = ipc_common::start(None, IO_TIMEOUT).await;
    let port = node.tcp.port();
    let mut bystander = IpcClient::connect_unix(&node.unix).await.unwrap();
    still_served(&mut bystander).await;

    let closing_frames: Vec<(&str, Vec<u8>)> = vec![
        ("wrong magic", b"X\x01\0\0\0\0\0\x02{}".to_vec()),
        ("reserved byte 2", b"N\x01\x01\0\0\0\0\x02{}".to_vec()),
        ("reserved byte 3", b"N\x01\0\x07\0\0\0\x02{}".to_vec()),
        ("unknown encoding 0", b"N\0\0\0\0\0\0\x02{}".to_vec()),
        ("unknown encoding 9", b"N\x09\0\0\0\0\0\x02{}".to_vec()),
        ("oversized length", b"N\x01\0\0\xff\xff\xff\xff".to_vec()),
        (
            "just over 32 MiB",
            [&b"N\x04\0\0"[..], &(32u32 * 1024 * 1024 + 1).to_be_bytes()].concat(),
        ),
    ];
    for (what, frame) in closing_frames {
        for tcp in [true, false] {
            let mut c = if tcp {
                IpcClient::connect_tcp("127.0.0.1", port).await.unwrap()
            } else {
                IpcClient::connect_unix(&node.unix).await.unwrap()
            };
            c.send_raw(&frame).await.unwrap();
            let t = Instant::now();
            assert!(closed(&mut c).await, "{what}: expected a close");
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "{what}: closed promptly"
            );
            still_served(&mut bystander).await;
        }
    }

    // Truncated length or payload: closed after io_timeout, not held forever.
    for frame in [&b"N\x01\0\0\0\0"[..], &b"N\x01\0\0\0\0\0\x10{\"ac"[..]] {
        let mut c = IpcClient::connect_tcp("127.0.0.1", port).await.unwrap();
        c.send_raw(frame).await.unwrap();
        let t = Instant::now();
        assert!(closed(&mut c).await);
        assert!(t.elapsed() >= IO_TIMEOUT - Duration::from_millis(50));
        assert!(t.elapsed() < Duration::from_secs(5));
        still_served(&mut bystander).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_payloads_get_errors_and_the_session_continues() {
    let node = ipc_common::start(None, IO_TIMEOUT).await;
    let mut c = IpcClient::connect_tcp("127.0.0.1", node.tcp.port())
        .await
        .unwrap();
    let mut bystander = IpcClient::connect_unix(&node.unix).await.unwrap();

    for enc in [Encoding::JsonV1, Encoding::JsonV1Unsafe] {
        // What the reference's JSON handler answers: a body that is no JSON object gives
        // the parse error; an action that is no known name gives the unknown command.
        for (bad, error) in [
            (&b"{not json"[..], "Unable to parse JSON"),
            (b"", "Unable to parse JSON"),
            (b"[1,2]", "Unable to parse JSON"),
            (b"\xff\xfe", "Unable to parse JSON"),
            (b"{\"hello\":1}", "Unable to parse JSON"),
            (b"{\"action\":12}", "Unknown command"),
        ] {
            let r: Value = serde_json::from_slice(&c.request(enc, bad).await.unwrap()).unwrap();
            assert_eq!(r, json!({ "error": error }), "{bad:?}");
        }
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let r: Value =
            serde_json::from_slice(&c.request(enc, deep.as_bytes()).await.unwrap()).unwrap();
        assert_eq!(r, json!({"error": "Max JSON depth exceeded"}));
    }

    // Each answer names what is wrong, with the generic code. The text after "not valid
    // JSON: " (where the reference's parser would stop on a shape this node does not
    // walk) is the JSON parser's own and is not checked.
    let format = |what: &str| format!("Invalid message format: {what}");
    let not_json = format("not valid JSON: ");
    // JSON that is no object, or nothing: the reference's FlatBuffers parser takes it for
    // a schema declaration and names the line and the column after the first token.
    let declaration = |at: &str| format(&format!("{at}: error: declaration expected"));
    let envelopes: [(&[u8], String); 20] = [
        (
            b"{not json",
            format("1: 4: error: expecting: string constant instead got: not"),
        ),
        (b"{\"message_type\": \"IsAlive\", \"x\": 'y' 1}", not_json),
        (b"", format("1: 0: error: input file is empty")),
        (b" \n\t", format("2: 1: error: input file is empty")),
        (b"[]", declaration("1: 1")),
        (b"  [{\"message_type\": \"IsAlive\"}]", declaration("1: 3")),
        (b"\"IsAlive\"", declaration("1: 9")),
        (b"\"a\\\"b\" ", declaration("1: 6")),
        (b"\n  -12.5e3\n", declaration("2: 9")),
        (b"null", declaration("1: 4")),
        // No type: the envelope reads and names no message; with a message, the parser
        // looks for the type after it.
        (b"{}", "Unknown message type".into()),
        (
            br#"{"message": {"account": "x"}}"#,
            format("1: 29: error: expecting: , instead got: }"),
        ),
        (
            br#"{"message": {}, "credentials": "k"}"#,
            format("1: 30: error: missing type field for this union value: message"),
        ),
        (
            br#"{"message_type": "NoSuchMessage", "message": {}}"#,
            format("1: 32: error: unknown enum value: NoSuchMessage"),
        ),
        (
            br#"{"message_type": 99, "message": {}}"#,
            format("1: 33: error: illegal type id for: message"),
        ),
        (
            br#"{"message_type": "AccountWeight", "message": {"account": 5}}"#,
            format("1: 58: error: expecting: string constant instead got: integer constant"),
        ),
        (
            br#"{"message_type": "AccountWeight", "message": []}"#,
            format("1: 48: error: wrong number of unnamed fields in table vector"),
        ),
        (
            br#"{"message_type": "ServiceStop", "message": {"restart": true}}"#,
            format("1: 61: error: required field is missing: service_name in ServiceStop"),
        ),
        // A response type is no request.
        (
            br#"{"message_type": "AccountWeightResponse", "message": {"voting_weight": "1"}}"#,
            "Unknown message type".into(),
        ),
        (
            br#"{"message_type": "TopicConfirmation", "message": {"options": {"accounts": [1]}}}"#,
            format("1: 76: error: expecting: string constant instead got: integer constant"),
        ),
    ];
    for (bad, want) in envelopes {
        let r: Value =
            serde_json::from_slice(&c.request(Encoding::FlatBuffersJson, bad).await.unwrap())
                .unwrap();
        let bad = String::from_utf8_lossy(bad);
        assert_eq!(r["message_type"], "Error", "{bad}: {r}");
        assert_eq!(r["message"]["code"], 1, "{bad}: {r}");
        let text = r["message"]["message"].as_str().unwrap();
        if want.ends_with(": ") {
            assert!(text.starts_with(&want), "{bad}: {r}");
        } else {
            assert_eq!(text, want, "{bad}");
        }
    }
    let r: Value = serde_json::from_slice(
        &c.request(
            Encoding::FlatBuffersJson,
            br#"{"message_type": "ServiceStop", "message": {}}"#,
        )
        .await
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        r["message"],
        json!({"code": 1,
            "message": "Invalid message format: 1: 46: error: required field is missing: service_name in ServiceStop"})
    );

    // FlatBuffers: garbage, truncations and bit flips of a valid request all answer with
    // an Error envelope (or, if a flip happens to leave a valid buffer, some envelope).
    let good = flatbuffer_request(
        "AccountWeight",
        json!({"account": DEV_ACCOUNT}),
        Some("k"),
        Some("c"),
    )
    .unwrap();
    let mut bad_buffers: Vec<Vec<u8>> =
        vec![vec![], vec![0; 3], vec![0xff; 64], b"{\"json\":1}".to_vec()];
    for cut in [1, 4, 8, good.len() / 2, good.len() - 1] {
        bad_buffers.push(good[..cut].to_vec());
    }
    for i in (0..good.len()).step_by(3) {
        let mut m = good.clone();
        m[i] ^= 0xa5;
        bad_buffers.push(m);
    }
    let mut errors = 0;
    for b in &bad_buffers {
        let answer = c.request(Encoding::FlatBuffers, b).await.unwrap();
        let r = Response::from_flatbuffer(&answer).expect("answers are always envelopes");
        if r.message_type == "Error" {
            errors += 1;
        }
    }
    assert!(errors >= 9, "garbage and truncations are errors ({errors})");

    // The same session still answers properly, and so does the other client.
    let r = c
        .json_v2(&json!({"message_type": "IsAlive"}))
        .await
        .unwrap();
    assert_eq!(r["message_type"], "IsAlive");
    still_served(&mut bystander).await;
}
