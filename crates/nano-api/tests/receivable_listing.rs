//! `receivable` and `accounts_receivable` read their receivables lazily (stopping after
//! `count` when nothing needs the whole set) and `receivable` writes its answer straight
//! to text: over HTTP, every combination of count, offset, threshold, source,
//! min_version and sorting answers the bytes a model of the reference's rules gives over
//! the whole list, the same bytes as the deprecated `pending` (the `Value` rendering),
//! and the size cap turns a larger answer into the cap's error. A listing long enough to
//! be written from the large-answer thread arrives whole, on a kept-alive connection that
//! goes on answering.

mod common;

use std::sync::Arc;

use common::{post_raw, start_ctx};
use nano_api::ApiContext;
use nano_core::{Amount, BlockHash, Epoch, Network, PublicKey};
use nano_ledger::{Ledger, PendingInfo, PendingKey};
use serde_json::{json, Map, Value};

/// Receivables of the main account: enough for offsets and counts on both sides of them.
const ROWS: u64 = 120;

/// One receivable row of `account`: amounts repeat (ties for the stable sort), epochs
/// vary; hashes rise with `i`, so the store's order is `i`'s.
fn row(account: PublicKey, i: u64) -> (PendingKey, PendingInfo) {
    let mut h = [0u8; 32];
    h[..8].copy_from_slice(&(i + 1).to_be_bytes());
    h[31] = account.0[0];
    let epoch = [Epoch::Epoch0, Epoch::Epoch1, Epoch::Epoch2][(i % 3) as usize];
    (
        PendingKey {
            account,
            hash: BlockHash(h),
        },
        PendingInfo {
            source: PublicKey([(i % 5) as u8 + 1; 32]),
            amount: Amount::raw((i * 7 % 13) as u128),
            epoch,
        },
    )
}

fn ledger_with(accounts: &[(PublicKey, u64)]) -> (tempfile::TempDir, Arc<Ledger>) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Ledger::open(&dir.path().join("data.ldb"), Network::Dev).unwrap());
    let mut txn = ledger.write_txn().unwrap();
    for (a, n) in accounts {
        for i in 0..*n {
            let (k, v) = row(*a, i);
            txn.put_pending(&k, &v).unwrap();
        }
    }
    txn.commit().unwrap();
    (dir, ledger)
}

/// One entry's value as the reference writes it: the amount alone, else an object of
/// the amount then the asked-for fields.
fn entry_value(info: &PendingInfo, source: bool, min_version: bool) -> Value {
    let amount = info.amount.encode_dec();
    let account = info.source.encode_account();
    let version = ["0", "1", "2"][match info.epoch {
        Epoch::Epoch1 => 1,
        Epoch::Epoch2 => 2,
        _ => 0,
    }];
    match (source, min_version) {
        (false, false) => json!(amount),
        (true, false) => json!({"amount": amount, "source": account}),
        (false, true) => json!({"amount": amount, "min_version": version}),
        (true, true) => json!({"amount": amount, "source": account, "min_version": version}),
    }
}

/// The reference's receivable over the whole list: unsorted, offset skips before the
/// threshold and count caps what is listed; sorted, threshold, stable sort by amount
/// (largest first), then offset and count. Empty prints as "".
fn model(
    all: &[(PendingKey, PendingInfo)],
    count: Option<usize>,
    offset: usize,
    threshold: u128,
    source: bool,
    min_version: bool,
    sorting: bool,
) -> Value {
    let count = count.unwrap_or(usize::MAX);
    let simple = threshold == 0 && !source && !min_version && !sorting;
    let picked: Vec<&(PendingKey, PendingInfo)> = if sorting {
        let mut kept: Vec<_> = all
            .iter()
            .filter(|(_, i)| i.amount.0 >= threshold)
            .collect();
        kept.sort_by_key(|(_, i)| std::cmp::Reverse(i.amount));
        kept.into_iter().skip(offset).take(count).collect()
    } else {
        all.iter()
            .skip(offset)
            .filter(|(_, i)| i.amount.0 >= threshold)
            .take(count)
            .collect()
    };
    let blocks = if picked.is_empty() {
        Value::String(String::new())
    } else if simple {
        picked
            .iter()
            .map(|(k, _)| Value::String(k.hash.encode_hex()))
            .collect()
    } else {
        let mut m = Map::new();
        for (k, i) in picked {
            m.insert(k.hash.encode_hex(), entry_value(i, source, min_version));
        }
        Value::Object(m)
    };
    json!({ "blocks": blocks })
}

fn body(addr: std::net::SocketAddr, req: &Value) -> String {
    let (status, body) = post_raw(addr, req.to_string().as_bytes());
    assert_eq!(status, 200, "{body}");
    body
}

#[test]
fn every_option_answers_the_reference_list_in_the_same_bytes_either_way() {
    let target = PublicKey([7u8; 32]);
    let (_dir, ledger) = ledger_with(&[(target, ROWS), (PublicKey([9u8; 32]), 4)]);
    let all: Vec<_> = (0..ROWS).map(|i| row(target, i)).collect();
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = Some(ledger);
    let rpc = start_ctx(false, ctx);
    let account = target.encode_account();
    let mut checked = 0;
    for count in [None, Some(0), Some(1), Some(5), Some(ROWS as usize)] {
        for offset in [
            None,
            Some(3),
            Some(ROWS as usize - 1),
            Some(ROWS as usize + 5),
        ] {
            for threshold in [None, Some(0u128), Some(6)] {
                for flags in 0..8u8 {
                    let (source, min_version, sorting) =
                        (flags & 1 != 0, flags & 2 != 0, flags & 4 != 0);
                    let mut req = json!({"action": "receivable", "account": account,
                        "include_only_confirmed": "false", "include_active": "true"});
                    if let Some(c) = count {
                        req["count"] = c.to_string().into();
                    }
                    if let Some(o) = offset {
                        req["offset"] = o.to_string().into();
                    }
                    if let Some(t) = threshold {
                        req["threshold"] = t.to_string().into();
                    }
                    for (k, on) in [
                        ("source", source),
                        ("min_version", min_version),
                        ("sorting", sorting),
                    ] {
                        if on {
                            req[k] = "true".into();
                        }
                    }
                    let want = model(
                        &all,
                        count,
                        offset.unwrap_or(0),
                        threshold.unwrap_or(0),
                        source,
                        min_version,
                        sorting,
                    )
                    .to_string();
                    let text = body(rpc.addr, &req);
                    assert_eq!(text, want, "{req}");
                    // The deprecated name takes the Value rendering: the same bytes after
                    // its mark.
                    req["action"] = "pending".into();
                    let marked = body(rpc.addr, &req);
                    assert_eq!(
                        marked.strip_prefix("{\"deprecated\":\"1\","),
                        text.strip_prefix('{'),
                        "{req}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert_eq!(checked, 5 * 4 * 3 * 8);
    // The confirmation filter applies before offset and count: none of these sends is in
    // the ledger, so none is confirmed.
    let req = json!({"action": "receivable", "account": account, "count": "3"});
    assert_eq!(body(rpc.addr, &req), r#"{"blocks":""}"#);
}

#[test]
fn the_size_cap_refuses_what_it_does_not_hold() {
    let target = PublicKey([7u8; 32]);
    let (_dir, ledger) = ledger_with(&[(target, ROWS)]);
    let req = json!({"action": "receivable", "account": target.encode_account(),
        "include_only_confirmed": "false", "include_active": "true", "source": "true"});
    let all: Vec<_> = (0..ROWS).map(|i| row(target, i)).collect();
    let full = model(&all, None, 0, 0, true, false, false).to_string();
    for (cap, fits) in [(full.len(), true), (full.len() - 1, false), (100, false)] {
        let mut ctx = ApiContext::new(Network::Dev);
        ctx.ledger = Some(ledger.clone());
        ctx.max_response_size = cap;
        let rpc = start_ctx(false, ctx);
        let text = body(rpc.addr, &req);
        if fits {
            assert_eq!(text, full);
        } else {
            let want = json!({ "error": nano_api::response_cap::too_large(cap) }).to_string();
            assert_eq!(text, want, "cap {cap}");
        }
    }
}

#[test]
fn accounts_receivable_reads_each_account_up_to_its_count() {
    let (a, b, none) = (
        PublicKey([7u8; 32]),
        PublicKey([9u8; 32]),
        PublicKey([11u8; 32]),
    );
    let (_dir, ledger) = ledger_with(&[(a, 30), (b, 6)]);
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = Some(ledger);
    let rpc = start_ctx(false, ctx);
    let rows = |acc: PublicKey, n: u64| -> Vec<_> { (0..n).map(|i| row(acc, i)).collect() };
    for count in [None, Some(0usize), Some(1), Some(4), Some(30)] {
        for threshold in [0u128, 6] {
            for (source, sorting) in [(false, false), (true, false), (false, true)] {
                let mut req = json!({"action": "accounts_receivable",
                    "accounts": [a.encode_account(), none.encode_account(), b.encode_account()],
                    "include_only_confirmed": "false", "include_active": "true",
                    "threshold": threshold.to_string()});
                if let Some(c) = count {
                    req["count"] = c.to_string().into();
                }
                if source {
                    req["source"] = "true".into();
                }
                if sorting {
                    req["sorting"] = "true".into();
                }
                let simple = threshold == 0 && !source && !sorting;
                // The reference: each account's list capped at count, then sorted; empty
                // lists left out.
                let mut blocks = Map::new();
                for (acc, n) in [(a, 30), (b, 6)] {
                    let mut kept: Vec<_> = rows(acc, n)
                        .into_iter()
                        .filter(|(_, i)| i.amount.0 >= threshold)
                        .take(count.unwrap_or(usize::MAX))
                        .collect();
                    if kept.is_empty() {
                        continue;
                    }
                    if sorting {
                        kept.sort_by_key(|(_, i)| std::cmp::Reverse(i.amount));
                    }
                    let v: Value = if simple {
                        kept.iter()
                            .map(|(k, _)| Value::String(k.hash.encode_hex()))
                            .collect()
                    } else {
                        let mut m = Map::new();
                        for (k, i) in &kept {
                            m.insert(k.hash.encode_hex(), entry_value(i, source, false));
                        }
                        Value::Object(m)
                    };
                    blocks.insert(acc.encode_account(), v);
                }
                let blocks = if blocks.is_empty() {
                    Value::String(String::new())
                } else {
                    Value::Object(blocks)
                };
                let want = json!({ "blocks": blocks }).to_string();
                assert_eq!(body(rpc.addr, &req), want, "{req}");
            }
        }
    }
}

/// Receivables for a listing over `nano_http::LARGE_ANSWER` bytes.
const LARGE_ROWS: u64 = 3_000;

/// One request on a kept-alive connection; the answer's body (read to its
/// `Content-Length`).
fn keep_alive_post(s: &mut std::net::TcpStream, req: &Value) -> String {
    use std::io::{Read, Write};
    let body = req.to_string();
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            assert!(head.starts_with("http/1.1 200"), "{head}");
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if buf.len() >= end + 4 + len {
                assert_eq!(buf.len(), end + 4 + len, "nothing past the answer");
                return String::from_utf8(buf[end + 4..].to_vec()).unwrap();
            }
        }
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed before the answer's end");
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn a_large_listing_arrives_whole_and_its_connection_keeps_answering() {
    let target = PublicKey([7u8; 32]);
    let (_dir, ledger) = ledger_with(&[(target, LARGE_ROWS)]);
    let all: Vec<_> = (0..LARGE_ROWS).map(|i| row(target, i)).collect();
    let mut ctx = ApiContext::new(Network::Dev);
    ctx.ledger = Some(ledger);
    let rpc = start_ctx(false, ctx);
    let req = json!({"action": "receivable", "account": target.encode_account(),
        "include_only_confirmed": "false", "include_active": "true", "source": "true",
        "min_version": "true"});
    let want = model(&all, None, 0, 0, true, true, false).to_string();
    assert!(
        want.len() >= nano_api::bounded_http::LARGE_ANSWER,
        "{}",
        want.len()
    );
    let mut s = std::net::TcpStream::connect(rpc.addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    assert_eq!(keep_alive_post(&mut s, &req), want);
    assert_eq!(keep_alive_post(&mut s, &req), want);
    let small = json!({"action": "receivable", "account": target.encode_account(),
        "include_only_confirmed": "false", "include_active": "true", "count": "1"});
    assert_eq!(
        keep_alive_post(&mut s, &small),
        model(&all, Some(1), 0, 0, false, false, false).to_string()
    );
    // The answers went out from the large-answer thread, which runs under SCHED_IDLE
    // (policy 5: field 41 of its stat, the 39th after the comm).
    let threads: Vec<(String, Option<i32>)> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            let (open, close) = (stat.find('(')?, stat.rfind(')')?);
            let policy = stat[close + 2..]
                .split_whitespace()
                .nth(41 - 3)
                .and_then(|f| f.parse().ok());
            Some((stat[open + 1..close].to_string(), policy))
        })
        .collect();
    let large: Vec<_> = threads
        .iter()
        .filter(|(n, _)| n == nano_api::bounded_http::LARGE_ANSWER_THREAD_NAME)
        .collect();
    assert!(!large.is_empty(), "{threads:?}");
    assert!(
        large.iter().all(|(_, p)| *p == Some(libc::SCHED_IDLE)),
        "{large:?}"
    );
}
