//! A ledger this node writes is the reference node's `data.ldb`, byte for byte: blocks of
//! every type and epoch, receivables, confirmation heights, representative weights, final
//! votes and the store version are read back here with a decoder written from the fact
//! sheet (`reference/ledger-format.md`), not with the store's own codec, straight from
//! the LMDB file.
//!
//! Set `REFLEDGER_OUT=<file>` to keep a copy of the written ledger (to run
//! `reference/refledger.py <file> check` on it).

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use common::*;
use heed::types::Bytes;
use heed::{EnvFlags, EnvOpenOptions};
use nano_core::{Account, Amount, Block, BlockHash, Epoch, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};

/// What the test expects of one stored block.
struct Want {
    block: Block,
    account: Account,
    height: u64,
    balance: Amount,
    /// (is_send, is_receive, is_epoch, epoch after, source epoch) for state blocks.
    details: Option<(bool, bool, bool, Epoch, Epoch)>,
}

fn record(want: &mut Vec<Want>, c: &Chain, b: &Block, details: Option<(bool, bool, bool, Epoch)>) {
    want.push(Want {
        block: b.clone(),
        account: c.account,
        height: c.height,
        balance: c.balance,
        details: details.map(|(s, r, e, src)| (s, r, e, c.epoch, src)),
    });
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b.try_into().unwrap())
}
fn le64(b: &[u8]) -> u64 {
    u64::from_le_bytes(b.try_into().unwrap())
}
fn be128(b: &[u8]) -> u128 {
    u128::from_be_bytes(b.try_into().unwrap())
}
/// The sheet's epoch byte: 2 epoch_0, 3 epoch_1, 4 epoch_2.
fn epoch_byte(e: Epoch) -> u8 {
    match e {
        Epoch::Epoch0 => 2,
        Epoch::Epoch1 => 3,
        Epoch::Epoch2 => 4,
        other => panic!("{other:?}"),
    }
}

type Table = BTreeMap<Vec<u8>, Vec<u8>>;

/// Every table of the file, raw, opened as the sheet's reading recipe says.
fn read_raw(path: &Path) -> HashMap<String, Table> {
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.max_dbs(64).map_size(1 << 30);
    // SAFETY: nothing else has the file open (the ledger was dropped).
    let env = unsafe {
        opts.flags(EnvFlags::NO_SUB_DIR | EnvFlags::READ_ONLY | EnvFlags::NO_LOCK);
        opts.open(path).unwrap()
    };
    let r = env.read_txn().unwrap();
    // Read everything inside the opener and hand it out as the "abort" value: nothing
    // is committed, the file is only read.
    let res = env
        .open_databases_and_commit(r, |opener, r| -> Result<_, heed::Error> {
            let main = opener.open_database::<Bytes, Bytes>(r, None)?.unwrap();
            let names: Vec<String> = main
                .iter(r)?
                .map(|x| String::from_utf8(x.unwrap().0.to_vec()).unwrap())
                .collect();
            let mut out = HashMap::new();
            for name in names {
                let db = opener
                    .open_database::<Bytes, Bytes>(r, Some(&name))?
                    .unwrap();
                let rows: Table = db
                    .iter(r)?
                    .map(|x| {
                        let (k, v) = x.unwrap();
                        (k.to_vec(), v.to_vec())
                    })
                    .collect();
                out.insert(name, rows);
            }
            Ok(heed::CommitOrAbort::<(), _>::Abort(out))
        })
        .unwrap();
    match res {
        heed::CommitOrAbort::Abort(out) => out,
        heed::CommitOrAbort::Commit(()) => unreachable!(),
    }
}

#[test]
fn a_ledger_written_here_decodes_with_the_fact_sheet() {
    let (dir, ledger) = new_ledger();
    let gk = dev_genesis_key();
    let p = Network::Dev.params();
    let mut g = Chain::dev_genesis();
    let mut a = Chain::unopened(test_key(1));
    let mut c = Chain::unopened(test_key(2));
    let d = Chain::unopened(test_key(3));
    let mut want = Vec::new();
    let genesis_want = Want {
        block: p.genesis.clone(),
        account: p.genesis_account,
        height: 1,
        balance: p.genesis_amount,
        details: None,
    };
    want.push(genesis_want);
    let e0 = Epoch::Epoch0;
    // Legacy: send, open, send, receive, change, send (to c, received by a state open).
    let s1 = g.legacy_send(&a.account, 1_000);
    record(&mut want, &g, &s1, None);
    let o = a.legacy_open(&s1.hash(), 1_000, &a.account.clone());
    record(&mut want, &a, &o, None);
    let s2 = g.legacy_send(&a.account, 500);
    record(&mut want, &g, &s2, None);
    let r = a.legacy_receive(&s2.hash(), 500);
    record(&mut want, &a, &r, None);
    let ch = a.legacy_change(&g.account.clone());
    record(&mut want, &a, &ch, None);
    let s3 = a.legacy_send(&c.account, 300);
    record(&mut want, &a, &s3, None);
    // State: open, epoch 1, send from genesis (epoch 0), receive, epoch 2 on c, change,
    // send to d (left receivable).
    let co = c.receive(&s3.hash(), 300, e0);
    record(&mut want, &c, &co, Some((false, true, false, e0)));
    let ce1 = c.epoch_block(Epoch::Epoch1, &gk);
    record(&mut want, &c, &ce1, Some((false, false, true, e0)));
    let ge1 = g.epoch_block(Epoch::Epoch1, &gk);
    record(&mut want, &g, &ge1, Some((false, false, true, e0)));
    let gs = g.send(&c.account, 200);
    record(&mut want, &g, &gs, Some((true, false, false, e0)));
    let cr = c.receive(&gs.hash(), 200, Epoch::Epoch1);
    record(
        &mut want,
        &c,
        &cr,
        Some((false, true, false, Epoch::Epoch1)),
    );
    let ce2 = c.epoch_block(Epoch::Epoch2, &gk);
    record(&mut want, &c, &ce2, Some((false, false, true, e0)));
    let cc = c.change(&a.account.clone());
    record(&mut want, &c, &cc, Some((false, false, false, e0)));
    let cs = c.send(&d.account, 50);
    record(&mut want, &c, &cs, Some((true, false, false, e0)));
    for w in &want[1..] {
        ok(&ledger, &w.block);
    }
    // Cement a's chain (and with it the genesis sends it received) and c up to its
    // epoch 1 block; final-vote two blocks.
    {
        let mut t = ledger.write_txn().unwrap();
        ledger.confirm(&mut t, &s3.hash()).unwrap();
        ledger.confirm(&mut t, &ce1.hash()).unwrap();
        assert!(t.put_final_vote(&cs.qualified_root(), &cs.hash()).unwrap());
        assert!(t.put_final_vote(&o.qualified_root(), &o.hash()).unwrap());
        t.commit().unwrap();
    }
    drop(ledger);
    let path = dir.path().join("data.ldb");
    assert!(path.is_file(), "one file, not a directory");
    assert!(dir.path().join("data.ldb-lock").is_file());
    if let Ok(out) = std::env::var("REFLEDGER_OUT") {
        std::fs::copy(&path, out).unwrap();
    }
    let t = read_raw(&path);

    // The ten tables of version 24, plus only this node's confirmation log tables
    // (extra named databases the reference does not open).
    let mut names: Vec<&str> = t
        .keys()
        .map(|s| s.as_str())
        .filter(|n| !matches!(*n, "confirmation_log" | "confirmation_cursors"))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "accounts",
            "blocks",
            "confirmation_height",
            "final_votes",
            "meta",
            "online_weight",
            "peers",
            "pending",
            "pruned",
            "rep_weights"
        ]
    );
    // meta: key u256 BE 1, value u256 BE 24.
    let meta: Vec<_> = t["meta"].iter().collect();
    let mut one = vec![0u8; 32];
    one[31] = 1;
    let mut v24 = vec![0u8; 32];
    v24[31] = 24;
    assert_eq!(meta, vec![(&one, &v24)]);

    // blocks: type ‖ wire body ‖ per-type sideband.
    let blocks = &t["blocks"];
    assert_eq!(blocks.len(), want.len());
    let mut next: HashMap<BlockHash, BlockHash> = HashMap::new();
    for w in &want {
        if !w.block.previous().is_zero() {
            next.insert(w.block.previous(), w.block.hash());
        }
    }
    for w in &want {
        let h = w.block.hash();
        let v = &blocks[&h.0.to_vec()];
        let mut body = Vec::new();
        w.block.serialize(&mut body);
        let ty = v[0];
        assert_eq!(ty, w.block.block_type() as u8);
        assert_eq!(&v[1..1 + body.len()], &body[..], "wire body of {h}");
        let sb = &v[1 + body.len()..];
        let successor = next.get(&h).copied().unwrap_or(BlockHash::ZERO);
        assert_eq!(&sb[..32], &successor.0, "successor of {h}");
        let rest = &sb[32..];
        match ty {
            // send: account, height BE, timestamp BE
            2 => {
                assert_eq!(sb.len(), 80);
                assert_eq!(&rest[..32], &w.account.0);
                assert_eq!(be64(&rest[32..40]), w.height);
            }
            // receive / change: account, height, balance, timestamp
            3 | 5 => {
                assert_eq!(sb.len(), 96);
                assert_eq!(&rest[..32], &w.account.0);
                assert_eq!(be64(&rest[32..40]), w.height);
                assert_eq!(be128(&rest[40..56]), w.balance.0);
            }
            // open: balance, timestamp
            4 => {
                assert_eq!(sb.len(), 56);
                assert_eq!(be128(&rest[..16]), w.balance.0);
            }
            // state: height, timestamp, details, source epoch
            6 => {
                assert_eq!(sb.len(), 50);
                assert_eq!(be64(&rest[..8]), w.height);
                let (s, r, e, epoch, src) = w.details.unwrap();
                let det = rest[16];
                assert_eq!(det & 0x80 != 0, s, "is_send of {h}");
                assert_eq!(det & 0x40 != 0, r, "is_receive of {h}");
                assert_eq!(det & 0x20 != 0, e, "is_epoch of {h}");
                assert_eq!(det & 0x1f, epoch_byte(epoch), "epoch of {h}");
                assert_eq!(rest[17], epoch_byte(src), "source epoch of {h}");
            }
            other => panic!("type {other}"),
        }
        // The timestamp (seconds, BE) is recent: 8 bytes before the end for legacy
        // blocks, 10 for state blocks.
        let ts_at = sb.len() - if ty == 6 { 10 } else { 8 };
        let ts = be64(&sb[ts_at..ts_at + 8]);
        assert!(ts > 1_700_000_000 && ts < 4_000_000_000, "timestamp {ts}");
    }

    // accounts: head, rep, open, balance BE, modified LE, block_count LE, epoch.
    let accounts = &t["accounts"];
    assert_eq!(accounts.len(), 3, "genesis, a, c (d has only a receivable)");
    for (chain, open) in [(&g, p.genesis_hash), (&a, o.hash()), (&c, co.hash())] {
        let v = &accounts[&chain.account.0.to_vec()];
        assert_eq!(v.len(), 129);
        assert_eq!(&v[..32], &chain.head.0);
        assert_eq!(&v[32..64], &chain.representative.0);
        assert_eq!(&v[64..96], &open.0);
        assert_eq!(be128(&v[96..112]), chain.balance.0);
        let modified = le64(&v[112..120]);
        assert!(modified > 1_700_000_000 && modified < 4_000_000_000);
        assert_eq!(le64(&v[120..128]), chain.height);
        assert_eq!(v[128], epoch_byte(chain.epoch));
    }

    // confirmation_height: height LE ‖ frontier; none for an account with nothing
    // cemented.
    let conf = &t["confirmation_height"];
    let expect_conf = [
        (&a, 4u64, s3.hash()),
        (&c, 2, ce1.hash()),
        (&g, 3, s2.hash()),
    ];
    assert_eq!(conf.len(), expect_conf.len());
    for (chain, height, frontier) in expect_conf {
        let v = &conf[&chain.account.0.to_vec()];
        assert_eq!(v.len(), 40);
        assert_eq!(le64(&v[..8]), height, "{}", chain.account);
        assert_eq!(&v[8..], &frontier.0);
    }

    // pending: account ‖ send hash → source ‖ amount BE ‖ epoch of the send.
    let pending: Vec<_> = t["pending"].iter().collect();
    let mut key = d.account.0.to_vec();
    key.extend_from_slice(&cs.hash().0);
    let mut val = c.account.0.to_vec();
    val.extend_from_slice(&50u128.to_be_bytes());
    val.push(epoch_byte(Epoch::Epoch2));
    assert_eq!(pending, vec![(&key, &val)]);

    // rep_weights: Σ balances by representative, zero weights absent.
    let reps = &t["rep_weights"];
    let mut sums: BTreeMap<Vec<u8>, u128> = BTreeMap::new();
    for chain in [&g, &a, &c] {
        *sums.entry(chain.representative.0.to_vec()).or_default() += chain.balance.0;
    }
    sums.retain(|_, w| *w != 0);
    assert_eq!(reps.len(), sums.len());
    for (k, w) in &sums {
        assert_eq!(be128(&reps[k]), *w);
    }

    // final_votes: root ‖ previous → hash.
    let fv = &t["final_votes"];
    assert_eq!(fv.len(), 2);
    let mut k = cs.previous().0.to_vec();
    k.extend_from_slice(&cs.previous().0);
    assert_eq!(
        fv[&k],
        cs.hash().0.to_vec(),
        "root = previous for a non-first block"
    );
    let mut k = a.account.0.to_vec();
    k.extend_from_slice(&[0u8; 32]);
    assert_eq!(
        fv[&k],
        o.hash().0.to_vec(),
        "root = account for an open block"
    );

    // The file reopens as this node's ledger with the same view.
    let reopened = open(&dir);
    let r = reopened.read_txn().unwrap();
    assert_eq!(reopened.block_count(&r).unwrap(), want.len() as u64);
    assert_eq!(reopened.cemented_count(), 9);
}
