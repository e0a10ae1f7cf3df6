//! A slow action whose cost is set by what it scans (`account_balance`: the account's
//! receivables) is answered on the front door's thread when the scan ends within
//! [`INLINE_SCAN`] entries, and goes to the slow pool otherwise. The bounded answer is the
//! full handler's, for accounts with none, a few, exactly the bound, one more and
//! thousands of receivables, confirmed-only or not. Over HTTP, with every pool slot
//! taken (so that any call handed to the pool is refused), a call on an account with
//! [`INLINE_SCAN`] receivables is answered and one with a receivable more is refused: the
//! bound is where the mechanism says it is. `accounts_balances` and `wallet_balances` are
//! bounded the same way, each account counting one entry and each receivable read one,
//! across the list or the wallet.
//! No timings are asserted.

mod common;

use std::sync::mpsc::channel;
use std::sync::{Arc, Mutex};

use nano_api::actions::{action, dispatch, INLINE_SCAN};
use nano_api::context::Origin;
use nano_api::worker_pool::{Client, WorkerPool, BUSY};
use nano_core::PublicKey;
use serde_json::json;

/// Receivable counts around the bound, and far beyond it.
fn counts() -> [u64; 6] {
    let k = INLINE_SCAN as u64;
    [1, 5, k - 1, k, k + 1, 5_000]
}

fn account(i: usize) -> PublicKey {
    PublicKey([10 + i as u8; 32])
}

/// `body` with `include_only_confirmed` set to `only_confirmed` when given.
fn with_confirmed(
    mut body: serde_json::Value,
    only_confirmed: Option<&str>,
) -> nano_api::json::Req {
    if let Some(c) = only_confirmed {
        body["include_only_confirmed"] = c.into();
    }
    body.as_object().unwrap().clone()
}

fn req(account: &str, only_confirmed: Option<&str>) -> nano_api::json::Req {
    with_confirmed(
        json!({"action": "account_balance", "account": account}),
        only_confirmed,
    )
}

#[test]
fn the_bounded_balance_is_the_full_scans_answer_or_none() {
    let f = common::ledger_fixture();
    for (i, n) in counts().into_iter().enumerate() {
        common::put_receivable_rows(&f.ledger, account(i), n);
    }
    let mut ctx = nano_api::ApiContext::new(nano_core::Network::Dev);
    ctx.ledger = Some(f.ledger.clone());
    let entry = action("account_balance").unwrap();
    let bounded = entry
        .bounded
        .expect("account_balance is tried inline first");
    // (account, receivables, their sum). Genesis has none; B one unconfirmed send of
    // 500 raw; the rows (1 raw each) have sends that are not in the ledger (so never
    // confirmed): confirmed-only answers differ from the rest.
    let mut accounts = vec![
        (f.genesis.account.encode_account(), 0, 0),
        (f.b_account.encode_account(), 1, 500),
        (f.a.account.encode_account(), 0, 0),
    ];
    accounts.extend(
        counts()
            .into_iter()
            .enumerate()
            .map(|(i, n)| (account(i).encode_account(), n, n)),
    );
    let mut seen_unconfirmed = false;
    for (a, n, sum) in &accounts {
        for only in [None, Some("true"), Some("false")] {
            let r = req(a, only);
            let full = (entry.handler)(&ctx, &r).unwrap();
            let within = bounded(&ctx, &r, INLINE_SCAN).unwrap();
            if *n as usize <= INLINE_SCAN {
                assert_eq!(within.as_ref(), Some(&full), "{a} {only:?}");
            } else {
                assert_eq!(within, None, "{a} ({n} receivables) {only:?}");
            }
            if only == Some("false") && *n > 0 {
                assert_eq!(full["receivable"], sum.to_string(), "{a}");
                seen_unconfirmed = true;
            } else if only != Some("false") && *n > 0 {
                assert_eq!(full["receivable"], "0", "{a} {only:?}");
            }
        }
    }
    assert!(seen_unconfirmed);
    // Bad input answers the same error either way.
    let bad = req("nano_not_an_account", None);
    assert_eq!(
        bounded(&ctx, &bad, INLINE_SCAN).unwrap_err().to_json(),
        (entry.handler)(&ctx, &bad).unwrap_err().to_json()
    );
}

/// An RPC server over `ledger` whose slow pool (one worker, no light lane, no queue) runs
/// a job that holds every slot until the returned sender is used, so that any call handed
/// to the pool is refused.
fn rpc_with_every_pool_slot_taken(
    ledger: &Arc<nano_ledger::Ledger>,
) -> (common::TestRpc, std::sync::mpsc::Sender<()>) {
    let mut ctx = nano_api::ApiContext::new(nano_core::Network::Dev);
    ctx.ledger = Some(ledger.clone());
    ctx.slow_actions = WorkerPool::with_client_queue(1, 0, 1);
    let rpc = common::start_ctx(false, ctx);
    let (release, gate) = channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    rpc.ctx
        .slow_actions
        .try_spawn(Client::Unnamed, move || {
            let _ = gate.lock().unwrap().recv();
        })
        .unwrap();
    assert!(common::wait_until(|| rpc.ctx.slow_actions.in_flight() == 1));
    (rpc, release)
}

#[test]
fn over_http_the_bound_decides_inline_or_pool() {
    let f = common::ledger_fixture();
    let (at_bound, over) = (account(0), account(1));
    common::put_receivable_rows(&f.ledger, at_bound, INLINE_SCAN as u64);
    common::put_receivable_rows(&f.ledger, over, INLINE_SCAN as u64 + 1);
    let (rpc, release) = rpc_with_every_pool_slot_taken(&f.ledger);
    let pool = &rpc.ctx.slow_actions;

    let expected = |a: &PublicKey, only: Option<&str>| {
        dispatch(
            &rpc.ctx,
            &req(&a.encode_account(), only),
            Origin {
                control: false,
                allow_unsafe: false,
            },
        )
    };
    let call = |a: &PublicKey, only: Option<&str>| {
        let mut body = json!({"action": "account_balance", "account": a.encode_account()});
        if let Some(c) = only {
            body["include_only_confirmed"] = c.into();
        }
        common::post(rpc.addr, body)
    };
    for only in [None, Some("false")] {
        // Within the bound: answered while the pool cannot take a job.
        let answer = call(&at_bound, only);
        assert_eq!(answer, expected(&at_bound, only), "{only:?}");
        // One receivable more: handed to the pool, which refuses it.
        let refused = call(&over, only);
        assert_eq!(refused["error"], BUSY, "{only:?}: {refused}");
    }
    assert_eq!(pool.in_flight(), 1);
    release.send(()).unwrap();
    assert!(common::wait_until(|| pool.in_flight() == 0));
    // With the pool free again, the larger account is answered there, the same as its
    // one-shot answer.
    let answer = call(&over, Some("false"));
    assert_eq!(answer, expected(&over, Some("false")));
    assert_eq!(answer["receivable"], (INLINE_SCAN + 1).to_string());
}

fn balances_req(accounts: &[String], only_confirmed: Option<&str>) -> nano_api::json::Req {
    with_confirmed(
        json!({"action": "accounts_balances", "accounts": accounts}),
        only_confirmed,
    )
}

#[test]
fn the_bounded_accounts_balances_is_the_full_answer_or_none() {
    let f = common::ledger_fixture();
    let k = INLINE_SCAN;
    // Accounts whose receivables leave room for exactly one more account in the bound.
    let near = account(0);
    common::put_receivable_rows(&f.ledger, near, k as u64 - 2);
    let large = account(1);
    common::put_receivable_rows(&f.ledger, large, 5_000);
    let mut ctx = nano_api::ApiContext::new(nano_core::Network::Dev);
    ctx.ledger = Some(f.ledger.clone());
    let entry = action("accounts_balances").unwrap();
    let bounded = entry
        .bounded
        .expect("accounts_balances is tried inline first");
    let (genesis, b) = (
        f.genesis.account.encode_account(),
        f.b_account.encode_account(),
    );
    let bad = "nano_not_an_account".to_string();
    // (list, entries it costs: one per account plus its receivables).
    let lists: Vec<(Vec<String>, usize)> = vec![
        (vec![genesis.clone()], 1),
        (vec![genesis.clone(), b.clone(), bad.clone()], 4),
        (vec![near.encode_account(), genesis.clone()], k),
        (
            vec![near.encode_account(), genesis.clone(), b.clone()],
            k + 2,
        ),
        (
            vec![near.encode_account(), bad.clone(), genesis.clone()],
            k + 1,
        ),
        (vec![genesis.clone(); k], k),
        (vec![genesis.clone(); k + 1], k + 1),
        (vec![large.encode_account()], 5_001),
        (vec![bad.clone()], 1),
    ];
    for (list, cost) in &lists {
        for only in [None, Some("true"), Some("false")] {
            let r = balances_req(list, only);
            let full = (entry.handler)(&ctx, &r).unwrap();
            let within = bounded(&ctx, &r, k).unwrap();
            if *cost <= k {
                assert_eq!(within.as_ref(), Some(&full), "{list:?} {only:?}");
            } else {
                assert_eq!(within, None, "{list:?} ({cost} entries) {only:?}");
            }
        }
    }
    // The answers carry what the ledger holds: B's unconfirmed send of 500 raw counts
    // only when unconfirmed sends are asked for.
    let r = balances_req(std::slice::from_ref(&b), Some("false"));
    let within = bounded(&ctx, &r, k).unwrap().unwrap();
    assert_eq!(within["balances"][&b]["receivable"], "500", "{within}");
    let r = balances_req(std::slice::from_ref(&b), None);
    let within = bounded(&ctx, &r, k).unwrap().unwrap();
    assert_eq!(within["balances"][&b]["receivable"], "0", "{within}");
    // Bad input answers the same error either way.
    let mut missing = balances_req(&[], None);
    missing.remove("accounts");
    assert_eq!(
        bounded(&ctx, &missing, k).unwrap_err().to_json(),
        (entry.handler)(&ctx, &missing).unwrap_err().to_json()
    );
}

#[test]
fn over_http_accounts_balances_within_the_bound_is_answered_inline() {
    let f = common::ledger_fixture();
    let near = account(0);
    common::put_receivable_rows(&f.ledger, near, INLINE_SCAN as u64 - 2);
    let (rpc, release) = rpc_with_every_pool_slot_taken(&f.ledger);
    let pool = &rpc.ctx.slow_actions;
    let genesis = f.genesis.account.encode_account();
    let at_bound = vec![near.encode_account(), genesis.clone()];
    let over = vec![near.encode_account(), genesis, f.b_account.encode_account()];
    let origin = Origin {
        control: false,
        allow_unsafe: false,
    };
    let call = |list: &[String]| {
        common::post(
            rpc.addr,
            json!({"action": "accounts_balances", "accounts": list, "include_only_confirmed": "false"}),
        )
    };
    let answer = call(&at_bound);
    assert_eq!(
        answer,
        dispatch(&rpc.ctx, &balances_req(&at_bound, Some("false")), origin)
    );
    assert_eq!(
        answer["balances"][near.encode_account()]["receivable"],
        (INLINE_SCAN - 2).to_string()
    );
    let refused = call(&over);
    assert_eq!(refused["error"], BUSY, "{refused}");
    release.send(()).unwrap();
    assert!(common::wait_until(|| pool.in_flight() == 0));
    let answer = call(&over);
    assert_eq!(
        answer,
        dispatch(&rpc.ctx, &balances_req(&over, Some("false")), origin)
    );
}

#[test]
fn the_bounded_wallet_balances_is_the_full_answer_or_none() {
    let f = common::ledger_fixture();
    let k = INLINE_SCAN;
    let near = account(0);
    common::put_receivable_rows(&f.ledger, near, k as u64 - 2);
    let dir = tempfile::tempdir().unwrap();
    let wallets = Arc::new(
        nano_wallet::Wallets::open(dir.path(), nano_wallet::WalletsConfig::dev()).unwrap(),
    );
    // (watched accounts, entries the wallet costs: one per account plus its receivables;
    // wallet_balances counts unconfirmed receivables too, so B's send counts).
    let many: Vec<PublicKey> = (0..=k).map(|i| PublicKey([100 + i as u8; 32])).collect();
    let cases: Vec<(Vec<PublicKey>, usize)> = vec![
        (vec![], 0),
        (vec![f.b_account], 2),
        (vec![near, f.genesis.account], k),
        (vec![near, f.genesis.account, f.a.account], k + 1),
        (many[..k].to_vec(), k),
        (many.clone(), k + 1),
    ];
    let mut ctx = nano_api::ApiContext::new(nano_core::Network::Dev);
    ctx.ledger = Some(f.ledger.clone());
    ctx.wallets = Some(wallets.clone());
    let entry = action("wallet_balances").unwrap();
    let bounded = entry
        .bounded
        .expect("wallet_balances is tried inline first");
    for (watched, cost) in &cases {
        let id = wallets.create(PublicKey([0; 32])).unwrap();
        wallets.insert_watch(id, watched).unwrap();
        for threshold in [None, Some("1")] {
            let mut body = json!({"action": "wallet_balances", "wallet": id.encode_hex()});
            if let Some(t) = threshold {
                body["threshold"] = t.into();
            }
            let r = body.as_object().unwrap().clone();
            let full = (entry.handler)(&ctx, &r).unwrap();
            assert_eq!(
                full["balances"].as_object().map(|m| m.len()),
                Some(if threshold.is_some() {
                    watched
                        .iter()
                        .filter(|a| **a == f.genesis.account || **a == f.a.account)
                        .count()
                } else {
                    watched.len()
                }),
                "{full}"
            );
            let within = bounded(&ctx, &r, k).unwrap();
            // Below the threshold an account costs its lookup only.
            if *cost <= k || threshold.is_some() && watched.len() <= k {
                assert_eq!(within.as_ref(), Some(&full), "{watched:?} {threshold:?}");
            } else {
                assert_eq!(within, None, "{watched:?} ({cost} entries) {threshold:?}");
            }
        }
    }
    // What the answers hold: near's receivables and B's unconfirmed send.
    for (watched, expected) in [(near, (k - 2).to_string()), (f.b_account, "500".into())] {
        let id = wallets.create(PublicKey([0; 32])).unwrap();
        wallets.insert_watch(id, &[watched]).unwrap();
        let r = json!({"action": "wallet_balances", "wallet": id.encode_hex()});
        let within = bounded(&ctx, r.as_object().unwrap(), k).unwrap().unwrap();
        assert_eq!(
            within["balances"][watched.encode_account()]["receivable"],
            expected,
            "{within}"
        );
    }
    // Bad input answers the same error either way.
    let bad = json!({"action": "wallet_balances", "wallet": "00"});
    let bad = bad.as_object().unwrap();
    assert_eq!(
        bounded(&ctx, bad, k).unwrap_err().to_json(),
        (entry.handler)(&ctx, bad).unwrap_err().to_json()
    );
}
