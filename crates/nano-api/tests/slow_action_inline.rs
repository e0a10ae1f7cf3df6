//! A slow action whose cost is set by what it scans (`account_balance`: the account's
//! receivables) is answered on the front door's thread when the scan ends within
//! [`INLINE_SCAN`] entries, and goes to the slow pool otherwise. The bounded answer is the
//! full handler's, for accounts with none, a few, exactly the bound, one more and
//! thousands of receivables, confirmed-only or not. Over HTTP, with every pool slot
//! taken (so that any call handed to the pool is refused), a call on an account with
//! [`INLINE_SCAN`] receivables is answered and one with a receivable more is refused: the
//! bound is where the mechanism says it is. No timings are asserted.

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

fn req(account: &str, only_confirmed: Option<&str>) -> nano_api::json::Req {
    let mut r = json!({"action": "account_balance", "account": account});
    if let Some(c) = only_confirmed {
        r["include_only_confirmed"] = c.into();
    }
    r.as_object().unwrap().clone()
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

#[test]
fn over_http_the_bound_decides_inline_or_pool() {
    let f = common::ledger_fixture();
    let (at_bound, over) = (account(0), account(1));
    common::put_receivable_rows(&f.ledger, at_bound, INLINE_SCAN as u64);
    common::put_receivable_rows(&f.ledger, over, INLINE_SCAN as u64 + 1);
    let mut ctx = nano_api::ApiContext::new(nano_core::Network::Dev);
    ctx.ledger = Some(f.ledger.clone());
    // One worker, no light lane, no queue: one job takes every slot.
    ctx.slow_actions = WorkerPool::with_client_queue(1, 0, 1);
    let rpc = common::start_ctx(false, ctx);
    let pool = &rpc.ctx.slow_actions;
    let (release, gate) = channel::<()>();
    let gate = Arc::new(Mutex::new(gate));
    pool.try_spawn(Client::Unnamed, move || {
        let _ = gate.lock().unwrap().recv();
    })
    .unwrap();
    assert!(common::wait_until(|| pool.in_flight() == 1));

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
