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
