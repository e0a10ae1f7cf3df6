//! HTTP RPC: the ledger-free actions checked field by field, each with a bad-input case,
//! plus the server's gates (control, depth, parse errors, unknown actions).

mod common;

use common::{post, post_raw, start};
use serde_json::json;

const DEV_KEY: &str = "34F0A37AAD20F4A260F0A5B3CB3D7FB50673212263E58A380BC10474BB039CE4";
const DEV_ACCOUNT: &str = "nano_3e3j5tkog48pnny9dmfzj1r16pg8t1e76dz5tmac6iq689wyjfpiij4txtdo";

#[test]
fn key_and_account_utilities() {
    let rpc = start(false);
    let a = rpc.addr;
    let r = post(a, json!({"action": "key_expand", "key": DEV_KEY}));
    assert_eq!(r["private"], DEV_KEY);
    assert_eq!(
        r["public"],
        "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0"
    );
    assert_eq!(r["account"], DEV_ACCOUNT);
    assert_eq!(
        post(a, json!({"action": "key_expand", "key": "12x"}))["error"],
        "Bad private key"
    );

    let r = post(a, json!({"action": "key_create"}));
    let again = post(a, json!({"action": "key_expand", "key": r["private"]}));
    assert_eq!(r, again);

    let r = post(a, json!({"action": "account_key", "account": DEV_ACCOUNT}));
    assert_eq!(
        r["key"],
        "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0"
    );
    assert_eq!(
        post(a, json!({"action": "account_key", "account": "nano_1"}))["error"],
        "Bad account number"
    );

    let r = post(
        a,
        json!({"action": "account_get", "key": "B0311EA55708D6A53C75CDBF88300259C6D018522FE3D4D0A242E431F9E8B6D0"}),
    );
    assert_eq!(r["account"], DEV_ACCOUNT);
    assert_eq!(
        post(a, json!({"action": "account_get", "key": "zz"}))["error"],
        "Bad public key"
    );

    let r = post(
        a,
        json!({"action": "deterministic_key", "seed": "0".repeat(64), "index": "0"}),
    );
    assert_eq!(
        r["private"],
        "9F0E444C69F77A49BD0BE89DB92C38FE713E0963165CCA12FAF5712D7657120F"
    );
    assert_eq!(
        r["public"],
        "C008B814A7D269A1FA3C6528B19201A24D797912DB9996FF02A1FF356E45552B"
    );
    assert_eq!(
        r["account"],
        "nano_3i1aq1cchnmbn9x5rsbap8b15akfh7wj7pwskuzi7ahz8oq6cobd99d4r3b7"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "deterministic_key", "seed": "0".repeat(64), "index": "x"})
        )["error"],
        "Invalid index"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "deterministic_key", "seed": "0".repeat(65), "index": "1"})
        )["error"],
        "Bad seed"
    );

    assert_eq!(
        post(
            a,
            json!({"action": "validate_account_number", "account": DEV_ACCOUNT})
        )["valid"],
        "1"
    );
    let mut bad = DEV_ACCOUNT.to_string();
    bad.pop();
    bad.push('1');
    assert_eq!(
        post(
            a,
            json!({"action": "validate_account_number", "account": bad})
        )["valid"],
        "0"
    );

    assert_eq!(
        post(a, json!({"action": "nano_to_raw", "amount": "1"}))["amount"],
        "1000000000000000000000000000000"
    );
    assert_eq!(
        post(a, json!({"action": "nano_to_raw", "amount": "1000000000"}))["error"],
        "Amount too big"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "raw_to_nano", "amount": "2500000000000000000000000000000"})
        )["amount"],
        "2"
    );
    assert_eq!(
        post(a, json!({"action": "raw_to_nano", "amount": "-1"}))["error"],
        "Invalid amount number"
    );
}

/// The reference reads every 256-bit field (keys, seeds, hashes, wallet ids) with one
/// `decode_hex`: up to 64 characters of hex digits of either case (after leading blanks
/// and a `0x`), a short text being the number with its leading zeros left out. Each
/// ledger-free action is checked with a short text (the same answer as its 64-digit
/// form), 65 digits, an empty text and a non-hex digit.
#[test]
fn short_hex_fields_read_as_the_reference_reads_them() {
    let rpc = start(true);
    let a = rpc.addr;
    let padded = |s: &str| format!("{s:0>64}");
    // (request with the field set to a text, the field, the error for a bad text)
    let cases: [(serde_json::Value, &str, &str); 3] = [
        (json!({"action": "key_expand"}), "key", "Bad private key"),
        (json!({"action": "account_get"}), "key", "Bad public key"),
        (
            json!({"action": "deterministic_key", "index": "3"}),
            "seed",
            "Bad seed",
        ),
    ];
    for (req, field, bad) in cases {
        let with = |text: &str| {
            let mut q = req.clone();
            q[field] = text.into();
            post(a, q)
        };
        for short in ["1", "aBc", "0"] {
            let r = with(short);
            assert!(r.get("error").is_none(), "{field} {short}: {r}");
            assert_eq!(r, with(&padded(short)), "{field} {short}");
        }
        // Streamed in hex: leading blanks and a lower-case `0x` are read (and counted in
        // the 64 characters); a trailing blank, `0X` or a sign are not.
        for read in [" 1", "0x1", "\n 0x1"] {
            assert_eq!(with(read), with(&padded("1")), "{field} {read:?}");
        }
        for text in [
            "1".repeat(65),
            format!("0x{}", "1".repeat(63)),
            String::new(),
            "12x".into(),
            "0X1".into(),
            "1 ".into(),
            "-1".into(),
        ] {
            assert_eq!(with(&text)["error"], bad, "{field} {text:?}");
        }
    }
    // The key's number, not its text, decides: "1" is the private key 00..01.
    let r = post(a, json!({"action": "key_expand", "key": "1"}));
    assert_eq!(r["private"], padded("1"));

    // block_create and sign: key, previous, source and link.
    let create = |key: &str, previous: &str, source: &str| {
        post(
            a,
            json!({"action": "block_create", "type": "state", "key": key,
                "previous": previous, "representative": DEV_ACCOUNT, "balance": "1",
                "source": source, "work": "1", "json_block": "true"}),
        )
    };
    let long = create(&padded("7"), &padded("a"), &padded("5"));
    assert!(long.get("error").is_none(), "{long}");
    assert_eq!(create("7", "a", "5"), long);
    assert_eq!(long["block"]["previous"], padded("A"));
    assert_eq!(long["block"]["link"], padded("5"));
    assert_eq!(create("7", "a", &"5".repeat(65))["error"], "Bad source");
    assert_eq!(create("7", "", "5")["error"], "Bad previous");
    assert_eq!(create("", "a", "5")["error"], "Bad private key");
    let link = post(
        a,
        json!({"action": "block_create", "type": "state", "key": "7", "previous": "a",
            "representative": DEV_ACCOUNT, "balance": "1", "link": "5", "work": "1",
            "json_block": "true"}),
    );
    assert_eq!(link["hash"], long["hash"], "{link}");
    let signed = |key: &str| {
        post(
            a,
            json!({"action": "sign", "key": key, "json_block": "true", "block": long["block"]}),
        )
    };
    assert_eq!(signed("7")["signature"], long["block"]["signature"]);
    assert_eq!(signed(&"7".repeat(65))["error"], "Bad private key");
}

#[test]
fn block_hash_and_offline_block_create_and_sign() {
    let rpc = start(true);
    let a = rpc.addr;
    let p = nano_core::Network::Dev.params();
    // block_hash of the dev genesis in both block encodings.
    let g = p.genesis.to_json();
    let r = post(
        a,
        json!({"action": "block_hash", "json_block": "true", "block": g}),
    );
    assert_eq!(r["hash"], p.genesis_hash.encode_hex());
    let r = post(a, json!({"action": "block_hash", "block": g.to_string()}));
    assert_eq!(r["hash"], p.genesis_hash.encode_hex());
    assert_eq!(
        post(a, json!({"action": "block_hash", "block": "{}"}))["error"],
        "Block is invalid"
    );

    // The cold-wallet step: build and sign a send from genesis with only the private key.
    let r = post(
        a,
        json!({
            "action": "block_create", "json_block": "true", "type": "state",
            "balance": "1000", "key": DEV_KEY, "representative": DEV_ACCOUNT,
            "link": "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
            "previous": p.genesis_hash.encode_hex(),
        }),
    );
    let block = nano_core::Block::from_json(&r["block"]).expect("valid block JSON");
    assert_eq!(r["hash"], block.hash().encode_hex());
    assert!(block.verify_signature(&p.genesis_account));
    assert!(nano_core::work::work_value(&block.root(), block.work()) >= p.work.base);
    assert_eq!(r["block"]["subtype"], serde_json::Value::Null);
    assert_eq!(r["block"]["balance"], "1000");
    // Same block signed by `sign` gives the same signature.
    let mut unsigned = r["block"].clone();
    unsigned["signature"] = json!("0".repeat(128));
    let s = post(
        a,
        json!({"action": "sign", "json_block": "true", "key": DEV_KEY, "block": unsigned}),
    );
    assert_eq!(s["signature"], r["block"]["signature"]);
    // Key that does not own the account, and missing fields.
    let other = "1".repeat(64);
    let e = post(
        a,
        json!({"action": "block_create", "type": "state", "key": other, "account": DEV_ACCOUNT,
        "balance": "1", "representative": DEV_ACCOUNT, "link": "0".repeat(64), "previous": "0"}),
    );
    assert_eq!(e["error"], "Incorrect key for given account");
    let e = post(
        a,
        json!({"action": "block_create", "type": "state", "key": DEV_KEY}),
    );
    assert_eq!(
        e["error"],
        "Previous, representative, final balance and link (source or destination) are required"
    );
    let e = post(
        a,
        json!({"action": "block_create", "type": "bogus", "key": DEV_KEY}),
    );
    assert_eq!(e["error"], "Invalid block type");
    // Legacy send with explicit work: balance 10 − amount 3 = 7, hex in JSON.
    let r = post(
        a,
        json!({"action": "block_create", "json_block": true, "type": "send", "key": DEV_KEY,
        "previous": p.genesis_hash.encode_hex(), "destination": DEV_ACCOUNT, "balance": "10", "amount": "3",
        "work": "0000000000000001"}),
    );
    assert_eq!(r["block"]["balance"], "00000000000000000000000000000007");
    assert_eq!(r["block"]["work"], "0000000000000001");
    // sign with a bare hash is off by default.
    let e = post(
        a,
        json!({"action": "sign", "key": DEV_KEY, "hash": p.genesis_hash.encode_hex()}),
    );
    assert_eq!(e["error"], "Signing by block hash is disabled");
}

#[test]
fn work_generate_validate_cancel() {
    let rpc = start(true);
    let a = rpc.addr;
    let root = "718CC2121C3E641059BC1C2CFC45666C99E8AE922F7A807B7D07B62C995D79E2";
    let r = post(a, json!({"action": "work_generate", "hash": root}));
    let work = r["work"].as_str().unwrap().to_string();
    assert_eq!(work.len(), 16);
    assert_eq!(r["hash"], root);
    let v = post(
        a,
        json!({"action": "work_validate", "hash": root, "work": work}),
    );
    assert_eq!(v["valid_all"], "1");
    assert_eq!(v["valid_receive"], "1");
    assert_eq!(v["difficulty"], r["difficulty"]);
    // The difficulty is this work's value for the root, and the multiplier its ratio to
    // the dev base, (2^64 - base) / (2^64 - difficulty), printed with 15 decimals.
    let d = u64::from_str_radix(v["difficulty"].as_str().unwrap(), 16).unwrap();
    let nonce = u64::from_str_radix(&work, 16).unwrap();
    let root_value = nano_core::Root::decode_hex(root).unwrap();
    assert_eq!(nano_core::work::work_value(&root_value, nonce), d);
    let base = nano_core::Network::Dev.params().work.base;
    let ratio = ((1u128 << 64) - u128::from(base)) as f64 / ((1u128 << 64) - u128::from(d)) as f64;
    assert_eq!(v["multiplier"], format!("{ratio:.15}"));
    let v = post(
        a,
        json!({"action": "work_validate", "hash": root, "work": work, "difficulty": "ffffffffffffffff"}),
    );
    assert_eq!(v["valid"], "0");
    assert_eq!(
        post(
            a,
            json!({"action": "work_validate", "hash": root, "work": "xyz"})
        )["error"],
        "Bad work"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "work_generate", "hash": root, "difficulty": "ffffffffffffffff"})
        )["error"],
        "Difficulty above config limit or below publish threshold"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "work_generate", "hash": root, "version": "work_2"})
        )["error"],
        "Bad work version"
    );
}

/// A generation at a difficulty no work can meet only ends through `work_cancel`: the
/// answer is the reference's "Cancelled", the cancel flag is gone, and the WebSocket
/// `work` event says the request was cancelled.
#[test]
fn work_cancel_stops_a_generation_that_cannot_finish() {
    let mut ctx = nano_api::ApiContext::new(nano_core::Network::Dev);
    ctx.max_work_generate_multiplier = f64::MAX;
    ctx.work_threads = 1;
    let bus = nano_node::events::EventBus::new(16);
    let mut events = bus.subscribe();
    ctx.events = Some(bus);
    let rpc = common::start_ctx(true, ctx);
    let addr = rpc.addr;
    let root = "1".repeat(64);
    let r2 = root.clone();
    let h = std::thread::spawn(move || {
        post(
            addr,
            json!({"action": "work_generate", "hash": r2, "difficulty": "ffffffffffffffff"}),
        )
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while rpc.ctx.work_in_progress.lock().unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "generation never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        post(addr, json!({"action": "work_cancel", "hash": root}))["success"],
        ""
    );
    let r = h.join().unwrap();
    assert_eq!(r, json!({"error": "Cancelled"}));
    assert!(rpc.ctx.work_in_progress.lock().unwrap().is_empty());
    let nano_node::events::NodeEvent::Work { message } = events.try_recv().unwrap() else {
        panic!("not a work event");
    };
    assert_eq!(message["success"], "false");
    assert_eq!(message["reason"], "cancelled");
    assert_eq!(message["request"]["hash"], root);
    assert_eq!(message["request"]["difficulty"], "ffffffffffffffff");
    assert!(message.get("result").is_none());
}

/// Each generated work publishes a WebSocket `work` event with the request and result;
/// `work_threads = 0` disables local work as the reference does.
#[test]
fn work_generation_publishes_work_events_and_honours_zero_threads() {
    let mut ctx = nano_api::ApiContext::new(nano_core::Network::Dev);
    let bus = nano_node::events::EventBus::new(16);
    let mut events = bus.subscribe();
    ctx.events = Some(bus);
    let rpc = common::start_ctx(true, ctx);
    let root = "2".repeat(64);
    let r = post(rpc.addr, json!({"action": "work_generate", "hash": root}));
    let nano_node::events::NodeEvent::Work { message } = events.try_recv().unwrap() else {
        panic!("not a work event");
    };
    assert_eq!(message["success"], "true");
    assert_eq!(message["reason"], "");
    assert_eq!(message["request"]["version"], "work_1");
    assert_eq!(message["result"]["source"], "local");
    assert_eq!(message["result"]["work"], r["work"]);
    assert_eq!(message["result"]["difficulty"], r["difficulty"]);
    assert_eq!(message["bad_peers"], json!([]));

    let mut ctx = nano_api::ApiContext::new(nano_core::Network::Dev);
    ctx.work_threads = 0;
    let rpc = common::start_ctx(true, ctx);
    let ask = |extra: serde_json::Value| {
        let mut req = json!({"action": "work_generate", "hash": root});
        req.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        post(rpc.addr, req)["error"].clone()
    };
    assert_eq!(ask(json!({})), "Local work generation is disabled");
    assert_eq!(
        ask(json!({"use_peers": "true"})),
        "Work generation is disabled"
    );
}

#[test]
fn gates_and_malformed_requests() {
    let rpc = start(false);
    let a = rpc.addr;
    assert_eq!(
        post(
            a,
            json!({"action": "work_generate", "hash": "0".repeat(64)})
        )["error"],
        "RPC control is disabled"
    );
    assert_eq!(
        post(a, json!({"action": "stop"}))["error"],
        "RPC control is disabled"
    );
    assert_eq!(
        post(a, json!({"action": "block_create", "type": "state"}))["error"],
        "RPC control is disabled"
    );
    assert_eq!(
        post(a, json!({"action": "no_such_action"}))["error"],
        "Unknown command"
    );
    // No action field: the reference's lookup throws and it answers the parse error.
    assert_eq!(
        post(a, json!({"hello": 1}))["error"],
        "Unable to parse JSON"
    );
    assert_eq!(post(a, json!({"action": 12}))["error"], "Unknown command");
    let (_, body) = post_raw(a, b"{not json");
    assert_eq!(body, r#"{"error":"Unable to parse JSON"}"#);
    let deep = format!(
        "{{\"action\":\"version\",\"x\":{}1{}}}",
        "[".repeat(30),
        "]".repeat(30)
    );
    let (_, body) = post_raw(a, deep.as_bytes());
    assert_eq!(body, r#"{"error":"Max JSON depth exceeded"}"#);
    let r = post(a, json!({"action": "version"}));
    assert_eq!(r["network"], "dev");
    assert_eq!(r["protocol_version"], "21");
    // store_vendor: "LMDB major.minor.patch" as the reference prints it.
    let vendor = r["store_vendor"].as_str().unwrap();
    assert!(vendor.starts_with("LMDB 0.9."), "{vendor}");
    assert_eq!(
        r["network_identifier"],
        nano_core::Network::Dev.params().genesis_hash.encode_hex()
    );
    // uptime: whole seconds since this API started, read between two looks at its clock.
    let before = rpc.ctx.started.elapsed().as_secs();
    let r = post(a, json!({"action": "uptime"}));
    let after = rpc.ctx.started.elapsed().as_secs();
    let seconds: u64 = r["seconds"].as_str().unwrap().parse().unwrap();
    assert!(
        (before..=after).contains(&seconds),
        "{before} {seconds} {after}"
    );
}

#[test]
fn metrics_endpoint_reports_counts_and_latency() {
    use std::io::{Read, Write};
    let rpc = start(false);
    post(rpc.addr, json!({"action": "version"}));
    rpc.ctx.stats.add("message", "publish", "in", 3);
    let mut s = std::net::TcpStream::connect(rpc.addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(
        text.contains("nano_stat{type=\"message\",detail=\"publish\",dir=\"in\"} 3"),
        "{text}"
    );
    assert!(
        text.contains("nano_rpc_request_duration_seconds_count 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE nano_uptime_seconds gauge"));
}

#[test]
fn work_peers_produce_valid_work() {
    // Node B is a work peer of node A: A races its own CPU against B. Whichever wins, the
    // work must be valid, and B must have been asked (its request counter moves).
    let a = start(true);
    let b = start(true);
    let root = "5".repeat(64);
    let r = post(
        a.addr,
        json!({"action": "work_peer_add", "address": "127.0.0.1", "port": b.addr.port().to_string()}),
    );
    assert_eq!(r["success"], "");
    assert_eq!(
        post(a.addr, json!({"action": "work_peers"}))["work_peers"],
        json!([format!("127.0.0.1:{}", b.addr.port())])
    );
    let before = b.ctx.rpc_latency_count();
    let r = post(
        a.addr,
        json!({"action": "work_generate", "hash": root, "use_peers": "true"}),
    );
    let work = r["work"].as_str().unwrap();
    let v = post(
        a.addr,
        json!({"action": "work_validate", "hash": root, "work": work}),
    );
    assert_eq!(v["valid_all"], "1");
    // B received the forwarded work_generate (and then a work_cancel).
    let mut asked = false;
    for _ in 0..100 {
        if b.ctx.rpc_latency_count() > before {
            asked = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(asked, "the work peer was never asked");
    assert_eq!(
        post(a.addr, json!({"action": "work_peers_clear"}))["success"],
        ""
    );
    assert_eq!(
        post(a.addr, json!({"action": "work_peers"}))["work_peers"],
        ""
    );
}

#[test]
fn cors_preflight_and_method_check() {
    use std::io::{Read, Write};
    let rpc = start(false);
    let req = |head: &str| {
        let mut s = std::net::TcpStream::connect(rpc.addr).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        text.to_ascii_lowercase()
    };
    let pre = req("OPTIONS / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(pre.starts_with("http/1.1 200"), "{pre}");
    assert!(
        pre.contains("access-control-allow-methods: post, options"),
        "{pre}"
    );
    let get = req("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(get.starts_with("http/1.1 405"), "{get}");
    // The same at `/api/v2`, on `AccountWeight`'s own route and the `{message}` route.
    for path in ["/api/v2/AccountWeight", "/api/v2/IsAlive"] {
        let pre = req(&format!(
            "OPTIONS {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(pre.starts_with("http/1.1 200"), "{path}: {pre}");
        assert!(
            pre.contains("access-control-allow-methods: post, options"),
            "{path}: {pre}"
        );
        let get = req(&format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ));
        assert!(get.starts_with("http/1.1 405"), "{path}: {get}");
        assert!(get.ends_with("can only post requests"), "{path}: {get}");
    }
}

#[test]
fn work_answers_match_reference_shape() {
    let rpc = start(true);
    let a = rpc.addr;
    let root = "718CC2121C3E641059BC1C2CFC45666C99E8AE922F7A807B7D07B62C995D79E2";
    let r = post(a, json!({"action": "work_generate", "hash": root}));
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys, ["hash", "work", "difficulty", "multiplier"]);
    // Multipliers in fixed notation with 15 decimals, as the reference prints doubles.
    let m = r["multiplier"].as_str().unwrap();
    assert_eq!(m.split('.').nth(1).map(str::len), Some(15), "{m}");
    let work = r["work"].as_str().unwrap().to_string();
    // `valid` answers an explicit difficulty only, not a multiplier.
    let v = post(
        a,
        json!({"action": "work_validate", "hash": root, "work": work, "multiplier": "1"}),
    );
    assert!(v.get("valid").is_none(), "{v}");
    assert_eq!(v["valid_all"], "1");
    // A missing work is validated as 0 (the reference reads it as optional).
    let v = post(a, json!({"action": "work_validate", "hash": root}));
    assert_eq!(v["valid_all"], "0", "{v}");
    // A multiplier given with a difficulty wins (the reference reads it last).
    let v = post(
        a,
        json!({"action": "work_validate", "hash": root, "work": work,
        "difficulty": "ffffffffffffffff", "multiplier": "0.000001"}),
    );
    assert_eq!(v["valid"], "1", "{v}");
    // An optional block must have the hash as its root, and needs more work than it has.
    let block = json!({"type": "state",
        "account": "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
        "previous": root, "representative": "nano_1111111111111111111111111111111111111111111111111111hifc8npp",
        "balance": "0", "link": "0".repeat(64), "signature": "0".repeat(128), "work": work});
    assert_eq!(
        post(
            a,
            json!({"action": "work_generate", "hash": "1".repeat(64), "json_block": "true", "block": block})
        )["error"],
        "Root mismatch for block"
    );
    assert_eq!(
        post(
            a,
            json!({"action": "work_generate", "hash": root, "json_block": "true", "block": block})
        )["error"],
        "Provided work is already enough for given difficulty"
    );
}

#[test]
fn utility_quirks_match_reference() {
    let rpc = start(false);
    let a = rpc.addr;
    // The reference refuses 0 in nano_to_raw (its product is not above the amount).
    assert_eq!(
        post(a, json!({"action": "nano_to_raw", "amount": "0"}))["error"],
        "Amount too big"
    );
    // Hyphenated addresses work but are marked, ahead of the answer.
    let acc = post(
        a,
        json!({"action": "account_get", "key": "0".repeat(63) + "1"}),
    )["account"]
        .as_str()
        .unwrap()
        .replacen("nano_", "nano-", 1);
    let r = post(
        a,
        json!({"action": "validate_account_number", "account": acc}),
    );
    assert_eq!(r, json!({"deprecated_account_format": "1", "valid": "1"}));
    let keys: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["deprecated_account_format", "valid"]);
    let r = post(
        a,
        json!({"action": "account_key", "account": acc.replacen("nano-", "nano_", 1)}),
    );
    assert!(r.get("deprecated_account_format").is_none(), "{r}");
}

#[test]
fn stats_match_reference_shape() {
    let began = std::time::Instant::now();
    let rpc = start(false);
    let a = rpc.addr;
    let r = post(a, json!({"action": "stats", "type": "counters"}));
    let keys: Vec<&str> = r.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(
        keys,
        ["type", "created", "entries", "stat_duration_seconds"]
    );
    // created: "YYYY.MM.DD HH:MM:SS" as the reference's stats writer prints it.
    let created = r["created"].as_str().unwrap();
    let b = created.as_bytes();
    assert_eq!(created.len(), 19, "{created}");
    assert_eq!(
        (b[4], b[7], b[10], b[13], b[16]),
        (b'.', b'.', b' ', b':', b':')
    );
    let r = post(a, json!({"action": "stats", "type": "samples"}));
    assert_eq!(r["type"], "samples");
    assert_eq!(r["entries"], "");
    assert_eq!(
        post(a, json!({"action": "stats", "type": "nope"}))["error"],
        "Invalid or missing type argument"
    );
    // stat_duration_seconds counts from the last stats_clear.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let before = post(a, json!({"action": "stats", "type": "counters"}));
    // At least the 1.1 s slept, at most the time since before the node started.
    let seconds: u64 = before["stat_duration_seconds"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{before}"));
    assert!(
        (1..=began.elapsed().as_secs()).contains(&seconds),
        "{seconds} s, {:?} since the start",
        began.elapsed()
    );
    post(a, json!({"action": "stats_clear"}));
    let after = post(a, json!({"action": "stats", "type": "counters"}));
    assert_eq!(after["stat_duration_seconds"], "0");
}
