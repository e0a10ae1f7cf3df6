//! The actions answered from a typed record (`account_info`, `block_count`) print over
//! HTTP exactly the bytes of their `Value` answer (what `/api/v2` and in-process callers
//! see), with the keys in the reference's order, for every combination of flags.

mod common;

use common::{ledger_fixture, post_raw, start_with};
use nano_api::context::Origin;
use nano_core::Amount;
use serde_json::{json, Value};

fn keys(text: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(text).unwrap();
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn http_text_is_the_value_answer_byte_for_byte() {
    let f = ledger_fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let origin = Origin {
        control: false,
        allow_unsafe: true,
    };
    let g = f.genesis.account.encode_account();
    let flags = [
        "representative",
        "weight",
        "receivable",
        "include_confirmed",
    ];
    let mut requests = vec![json!({"action": "block_count"})];
    for account in [g.clone(), f.a.account.encode_account()] {
        for mask in 0..(1 << flags.len()) {
            let mut r = json!({"action": "account_info", "account": account});
            for (i, f) in flags.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    r[*f] = "true".into();
                }
            }
            requests.push(r);
        }
    }
    // The deprecated address form (its mark goes first) and the errors.
    requests.push(json!({"action": "account_info", "account": g.replacen("nano_", "xrb-", 1)}));
    requests.push(json!({"action": "account_info", "account": "nano_x"}));
    requests.push(json!({"action": "account_info", "account": f.b_account.encode_account()}));
    for req in &requests {
        let (status, text) = post_raw(rpc.addr, req.to_string().as_bytes());
        assert_eq!(status, 200);
        let value = nano_api::actions::dispatch(&rpc.ctx, req.as_object().unwrap(), origin);
        assert_eq!(text, value.to_string(), "{req}");
    }

    // Request texts of every form (the plain ones are answered without a request map,
    // the rest through it): the same text as the general dispatch of the same bytes.
    let b = f.b_account.encode_account();
    let texts = [
        r#"{"action":"block_count"}"#.to_string(),
        r#" { "action" : "block\u005fcount" } "#.to_string(),
        r#"{"action":"block_count","account":null,"weight":null}"#.to_string(),
        r#"{"action":"block_count","weight":"true"}"#.to_string(),
        r#"{"action":"block_count","action":"account_info"}"#.to_string(),
        r#"["block_count"]"#.to_string(),
        format!(
            r#"{{"action":"account_info","account":"{g}","weight":true,"representative":"1"}}"#
        ),
        format!(
            r#"{{"action":"account_info","account":"{g}","weight":"0","include_confirmed":"yes"}}"#
        ),
        format!(r#"{{"action":"account_info","account":"{g}","weight":1}}"#),
        format!(r#"{{"action":"account_info","account":"{g}","weight":null}}"#),
        format!(r#"{{"action":"account_info","account":"{g}","receivable":"true"}}"#),
        format!(r#"{{"action":"account_info","account":"{g}","count":"1"}}"#),
        format!(r#"{{"action":"account_info","account":"nano_x","account":"{g}"}}"#),
        format!(r#"{{"action":"account_info","account":"{b}"}}"#),
        r#"{"action":"account_info","account":null}"#.to_string(),
        r#"{"action":"account_info","account":5}"#.to_string(),
        r#"{"action":"account_info"}"#.to_string(),
        format!(
            r#"{{"action":"account_info","account":"{}"}}"#,
            g.replacen("nano_", "nano-", 1)
        ),
        format!(
            r#"{{"action":"account_info","account":"{}"}}"#,
            g.replacen("nano_", "xrb_", 1)
        ),
        r#"{"action":"block_count"} x"#.to_string(),
    ];
    for t in &texts {
        let (status, text) = post_raw(rpc.addr, t.as_bytes());
        assert_eq!(status, 200);
        let value = nano_api::actions::dispatch_text(&rpc.ctx, t.as_bytes(), origin, 128);
        assert_eq!(text, value.to_string(), "{t}");
    }
    // Which of them the plain route answers itself (the server takes it: no log
    // subscriber here, no Origin); the rest fall through to the general way.
    let plain: Vec<bool> = texts
        .iter()
        .map(|t| nano_api::actions::plain_query(&rpc.ctx, t.as_bytes(), 128).is_some())
        .collect();
    assert_eq!(
        plain,
        [
            true, true, true, false, false, false, true, true, false, true, false, false, false,
            true, false, false, false, false, true, false
        ]
    );
    // Under a depth limit of 0 even the plainest request is too deep: the general way
    // answers it.
    assert!(nano_api::actions::plain_query(&rpc.ctx, texts[0].as_bytes(), 0).is_none());
    assert_eq!(
        nano_api::actions::dispatch_text(&rpc.ctx, texts[0].as_bytes(), origin, 0),
        json!({"error": "Max JSON depth exceeded"})
    );
    // A deep value where the plain form wants a flag or a text is not its form (the
    // plain route does not scan the depth): the general way refuses its depth.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for field in ["weight", "account", "x"] {
        let t = format!(r#"{{"action":"account_info","{field}":{deep}}}"#);
        assert!(nano_api::actions::plain_query(&rpc.ctx, t.as_bytes(), 20).is_none());
        assert_eq!(
            nano_api::actions::dispatch_text(&rpc.ctx, t.as_bytes(), origin, 20),
            json!({"error": "Max JSON depth exceeded"}),
            "{field}"
        );
    }

    // Keys in the reference's order: without flags, and with every optional one.
    let answer_keys = |req: Value| keys(&post_raw(rpc.addr, req.to_string().as_bytes()).1);
    let head = ["frontier", "open_block", "representative_block", "balance"];
    let counts = ["modified_timestamp", "block_count", "account_version"];
    assert_eq!(
        answer_keys(json!({"action": "account_info", "account": g})),
        [
            &head[..],
            &counts[..],
            &["confirmation_height", "confirmation_height_frontier"]
        ]
        .concat()
    );
    let all = json!({"action": "account_info", "account": g, "representative": "true",
        "weight": "true", "pending": "true", "include_confirmed": "true"});
    let tail = [
        "confirmed_height",
        "confirmed_frontier",
        "representative",
        "confirmed_representative",
        "weight",
        "pending",
        "receivable",
        "confirmed_pending",
        "confirmed_receivable",
    ];
    assert_eq!(
        answer_keys(all),
        [&head[..], &["confirmed_balance"], &counts[..], &tail[..]].concat()
    );
    let (_, text) = post_raw(
        rpc.addr,
        json!({"action": "account_info", "account": g})
            .to_string()
            .as_bytes(),
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["balance"], Amount(u128::MAX - 1_500).encode_dec());
    assert_eq!(v["block_count"], "3");
    let (_, text) = post_raw(rpc.addr, br#"{"action":"block_count"}"#);
    assert_eq!(text, r#"{"count":"4","unchecked":"0","cemented":"2"}"#);
    let hyphen = json!({"action": "account_info", "account": g.replacen("nano_", "xrb-", 1)});
    assert_eq!(
        answer_keys(hyphen)[..2],
        ["deprecated_account_format", "frontier"]
    );
}

/// POSTs `body` to `path` with extra header lines; (status, head, body).
fn post_at(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// Milliseconds since the Unix epoch, as the envelope's `time` counts.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// How long before the check an answer's `time` may have been stamped: generous for a
/// loaded machine, yet far below what a wrong unit (seconds, microseconds) would give.
const ANSWER_AGE_MS: u64 = 60_000;

/// The answer's JSON text with its `time` (the only field that differs between two
/// answers to the same request) set to 0, after checking it is the moment the answer was
/// made, in milliseconds; a refusal by the reference's parser has none.
fn timeless(text: &str) -> String {
    let mut v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    if v.get("time").is_some() {
        let now = now_ms();
        let t = v["time"].as_u64().unwrap_or_else(|| panic!("{text}"));
        assert!(
            (now - ANSWER_AGE_MS..=now).contains(&t),
            "{t} vs {now}: {text}"
        );
        v["time"] = 0.into();
    }
    v.to_string()
}

/// Whether an answer is a refusal by the reference's parser (written by hand: no time).
fn parser_refusal(text: &str) -> bool {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    v.get("time").is_none()
}

#[test]
fn v2_account_weight_answers_as_the_envelope_route() {
    let f = ledger_fixture();
    let rpc = start_with(false, Some(f.ledger.clone()));
    let g = f.genesis.account.encode_account();
    let weight = f.ledger.weight(&f.genesis.account);
    assert!(!weight.is_zero());
    // `/api/v2/AccountWeight` with the plain message (the gateway's direct path), every
    // other form and failure, each against the whole envelope at `/api/v2`.
    let plain = format!(r#"{{"account":"{g}"}}"#);
    let messages = [
        plain.clone(),
        format!(" {{ \"account\" : \"{g}\" }} "),
        r#"{"account":"nano_x"}"#.to_string(),
        format!(r#"{{"account":"{}"}}"#, g.replacen("nano_", "xrb_", 1)),
        format!(r#"{{"account":"{}"}}"#, f.b_account.encode_account()),
        format!(r#"{{"account":"{g}","other":1e400}}"#),
        format!(r#"{{"account":"nano_x","account":"{g}"}}"#),
        r#"{"account":5}"#.to_string(),
        r#"{"account":null}"#.to_string(),
        format!(r#"["{g}"]"#),
        "{}".to_string(),
        "{oops".to_string(),
    ];
    let header_sets: [&[(&str, &str)]; 4] = [
        &[],
        &[("Nano-Correlation-Id", "c-9")],
        // Characters the answer's JSON text escapes.
        &[("Nano-Correlation-Id", r#"c-9 "q"#)],
        &[("Nano-Api-Key", "stranger"), ("Nano-Correlation-Id", "c-9")],
    ];
    for headers in header_sets {
        for m in &messages {
            let (status, head, direct) =
                post_at(rpc.addr, "/api/v2/AccountWeight", headers, m.as_bytes());
            assert_eq!(status, 200);
            let envelope = format!(r#"{{"message_type":"AccountWeight","message":{m}}}"#);
            let (_, env_head, via_envelope) =
                post_at(rpc.addr, "/api/v2", headers, envelope.as_bytes());
            // A JSON error names its place, which the envelope moves; so does the
            // reference parser's "<line>: <column>: ".
            let placeless = |t: &str| {
                let t = t.split(" at line ").next().unwrap();
                match t.split_once("Invalid message format: 1: ") {
                    Some((head, rest)) => {
                        let rest = rest.split_once(": ").map_or(rest, |(_, r)| r);
                        format!("{head}Invalid message format: {rest}")
                    }
                    None => t.to_string(),
                }
            };
            assert_eq!(
                placeless(&timeless(&direct)),
                placeless(&timeless(&via_envelope)),
                "{m} {headers:?}"
            );
            // The correlation id is echoed, except by the parser's refusals.
            let refused = parser_refusal(&direct);
            assert_eq!(refused, parser_refusal(&via_envelope), "{m} {headers:?}");
            let corr = |h: &str| h.contains("nano-correlation-id: c-9");
            assert_eq!(corr(&head), corr(&env_head), "{m} {headers:?}");
            assert_eq!(
                corr(&head),
                !headers.is_empty() && !refused,
                "{m} {headers:?}"
            );
        }
    }
    // The name percent-encoded reaches the `{message}` route, not `AccountWeight`'s own:
    // the same answers.
    for m in [&plain, &messages[5], &messages[11]] {
        let headers = &[("Nano-Correlation-Id", "c-9")];
        let (_, _, own) = post_at(rpc.addr, "/api/v2/AccountWeight", headers, m.as_bytes());
        let (_, _, encoded) = post_at(rpc.addr, "/api/v2/Account%57eight", headers, m.as_bytes());
        assert_eq!(timeless(&own), timeless(&encoded), "{m}");
    }
    // The values themselves.
    let (_, _, text) = post_at(rpc.addr, "/api/v2/AccountWeight", &[], plain.as_bytes());
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["message"],
        json!({"voting_weight": weight.encode_dec()}),
        "{text}"
    );
    assert_eq!(v["message_type"], "AccountWeightResponse");
    let (_, _, text) = post_at(
        rpc.addr,
        "/api/v2/AccountWeight",
        &[("Nano-Api-Key", "stranger")],
        plain.as_bytes(),
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["message"],
        json!({"code": 3, "message": "Access denied"}),
        "{text}"
    );
    let (_, _, text) = post_at(
        rpc.addr,
        "/api/v2/AccountWeight",
        &[],
        br#"{"account":"nano_x"}"#,
    );
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["message"],
        json!({"code": 7, "message": "Bad account number"}),
        "{text}"
    );
}
