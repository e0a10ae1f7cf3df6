//! Store-level behaviour: identity checks, transactions, caches and table round trips.
//! (The reference file format itself is proven in `reference_format.rs`.)

use std::net::SocketAddrV6;

use nano_core::{Account, Amount, BlockHash, Epoch, Network, QualifiedRoot, Root};
use nano_store::{
    AccountInfo, BlockSideband, ConfirmationHeightInfo, PendingInfo, PendingKey, Store, StoreError,
    StoreOptions, STORE_VERSION,
};

fn opts() -> StoreOptions {
    StoreOptions {
        map_size: 1 << 30,
        ..StoreOptions::default()
    }
}

fn acct(b: u8) -> Account {
    Account::from_bytes([b; 32])
}

/// Writes the dev genesis block and account, as the ledger does on a fresh store.
fn init_genesis(store: &Store, txn: &mut nano_store::WriteTxn<'_>) {
    let p = store.network().params();
    let sideband = BlockSideband {
        account: p.genesis_account,
        height: 1,
        balance: p.genesis_amount,
        ..Default::default()
    };
    txn.put_block_parts(&p.genesis_hash, &p.genesis, &sideband)
        .unwrap();
    txn.put_account(
        &p.genesis_account,
        &AccountInfo {
            head: p.genesis_hash,
            open_block: p.genesis_hash,
            block_count: 1,
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn identity_is_recorded_and_enforced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.ldb");
    {
        let store = Store::open(&path, Network::Dev, &opts()).unwrap();
        let mut txn = store.write_txn().unwrap();
        assert!(!store.is_initialized(&txn).unwrap());
        assert_eq!(store.version(&txn).unwrap(), Some(STORE_VERSION));
        init_genesis(&store, &mut txn);
        txn.commit().unwrap();
        let r = store.read_txn().unwrap();
        assert!(store.is_initialized(&r).unwrap());
    }
    let err = Store::open(&path, Network::Live, &opts()).unwrap_err();
    assert!(
        matches!(err.cause(), StoreError::WrongNetwork { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("dev"), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    // Same network reopens fine.
    let store = Store::open(&path, Network::Dev, &opts()).unwrap();
    // A newer version is refused.
    let mut txn = store.write_txn().unwrap();
    txn.set_version(STORE_VERSION + 1).unwrap();
    txn.commit().unwrap();
    drop(store);
    let err = Store::open(&path, Network::Dev, &opts()).unwrap_err();
    assert!(
        matches!(err.cause(), StoreError::VersionTooNew { .. }),
        "{err}"
    );
}

#[test]
fn older_unknown_version_is_refused_by_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.ldb");
    {
        let store = Store::open(&path, Network::Dev, &opts()).unwrap();
        let mut txn = store.write_txn().unwrap();
        init_genesis(&store, &mut txn);
        txn.set_version(20).unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&path, Network::Dev, &opts()).unwrap_err();
    assert!(
        matches!(err.cause(), StoreError::VersionTooOld { found: 20, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("lower than the minimum (21)"),
        "{err}"
    );
}

#[test]
fn aborted_writes_leave_no_trace_and_caches_follow_commits() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data.ldb"), Network::Dev, &opts()).unwrap();
    let mut txn = store.write_txn().unwrap();
    txn.put_rep_weight(&acct(1), Amount(10)).unwrap();
    txn.put_confirmation_height(
        &acct(1),
        &ConfirmationHeightInfo {
            height: 5,
            frontier: BlockHash([1; 32]),
        },
    )
    .unwrap();
    // Visible inside the transaction, not in the cache yet.
    assert_eq!(store.rep_weight(&txn, &acct(1)).unwrap(), Amount(10));
    assert_eq!(store.rep_weight_cached(&acct(1)), Amount::ZERO);
    txn.abort();
    assert_eq!(store.rep_weight_cached(&acct(1)), Amount::ZERO);
    assert_eq!(store.cemented_count(), 0);
    let r = store.read_txn().unwrap();
    assert_eq!(store.rep_weight(&r, &acct(1)).unwrap(), Amount::ZERO);
    drop(r);

    let mut txn = store.write_txn().unwrap();
    txn.put_rep_weight(&acct(1), Amount(10)).unwrap();
    txn.put_confirmation_height(
        &acct(1),
        &ConfirmationHeightInfo {
            height: 5,
            frontier: BlockHash([1; 32]),
        },
    )
    .unwrap();
    txn.commit().unwrap();
    assert_eq!(store.rep_weight_cached(&acct(1)), Amount(10));
    assert_eq!(store.cemented_count(), 5);
    drop(store);
    // Caches are rebuilt from the tables on open.
    let store = Store::open(&dir.path().join("data.ldb"), Network::Dev, &opts()).unwrap();
    assert_eq!(store.rep_weight_cached(&acct(1)), Amount(10));
    // The in-place view sees what the copy holds.
    let seen =
        store.with_rep_weights_cached(|w| w.iter().map(|(a, v)| (*a, *v)).collect::<Vec<_>>());
    assert_eq!(seen, vec![(acct(1), Amount(10))]);
    assert_eq!(store.cemented_count(), 5);
    let mut txn = store.write_txn().unwrap();
    txn.put_rep_weight(&acct(1), Amount::ZERO).unwrap();
    txn.commit().unwrap();
    assert!(store.rep_weights_cached().is_empty());
}

#[test]
fn weight_changes_list_the_representatives_committed_since_the_last_take() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data.ldb"), Network::Dev, &opts()).unwrap();
    // Loaded whole at open: the first taker looks at every weight.
    assert_eq!(store.take_weight_changes(), None);
    assert_eq!(store.take_weight_changes(), Some(vec![]));
    let mut txn = store.write_txn().unwrap();
    txn.put_rep_weight(&acct(1), Amount(10)).unwrap();
    txn.abort();
    assert_eq!(
        store.take_weight_changes(),
        Some(vec![]),
        "aborted: no change"
    );
    for (rep, w) in [(1, 10), (2, 20), (1, 0)] {
        let mut txn = store.write_txn().unwrap();
        txn.put_rep_weight(&acct(rep), Amount(w)).unwrap();
        txn.commit().unwrap();
    }
    let mut changed = store.take_weight_changes().unwrap();
    changed.sort();
    assert_eq!(changed, vec![acct(1), acct(2)]);
    assert_eq!(store.take_weight_changes(), Some(vec![]));
    // More than the bound at once: the taker is told to look at everything.
    let mut txn = store.write_txn().unwrap();
    for i in 0..70_000u32 {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_be_bytes());
        txn.put_rep_weight(&Account::from_bytes(b), Amount(1))
            .unwrap();
    }
    txn.commit().unwrap();
    assert_eq!(store.take_weight_changes(), None);
    assert_eq!(store.take_weight_changes(), Some(vec![]));
}

#[test]
fn accounts_iterate_in_key_order_and_pending_by_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data.ldb"), Network::Dev, &opts()).unwrap();
    let mut txn = store.write_txn().unwrap();
    for b in [9u8, 3, 7, 1] {
        let info = AccountInfo {
            block_count: b as u64,
            epoch: Epoch::Epoch0,
            ..Default::default()
        };
        txn.put_account(&acct(b), &info).unwrap();
        for h in [2u8, 1] {
            txn.put_pending(
                &PendingKey::new(acct(b), BlockHash([h; 32])),
                &PendingInfo {
                    source: acct(0),
                    amount: Amount(h as u128),
                    epoch: Epoch::Epoch1,
                },
            )
            .unwrap();
        }
    }
    txn.commit().unwrap();
    let r = store.read_txn().unwrap();
    let order: Vec<u8> = store
        .accounts_from(&r, &acct(2))
        .unwrap()
        .map(|x| x.unwrap().0 .0[0])
        .collect();
    assert_eq!(order, vec![3, 7, 9]);
    assert_eq!(store.account_count(&r).unwrap(), 4);
    let p: Vec<_> = store
        .pending_of(&r, &acct(7))
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].0.hash, BlockHash([1; 32]));
    assert_eq!(p[1].1.amount, Amount(2));
    assert!(store.pending_any(&r, &acct(3)).unwrap());
    assert!(!store.pending_any(&r, &acct(4)).unwrap());
}

#[test]
fn misc_tables_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data.ldb"), Network::Dev, &opts()).unwrap();
    let mut txn = store.write_txn().unwrap();
    let ep: SocketAddrV6 = "[::ffff:10.0.0.1]:44000".parse().unwrap();
    txn.put_peer(&ep, 1234).unwrap();
    txn.put_online_weight(20, Amount(2)).unwrap();
    txn.put_online_weight(10, Amount(1)).unwrap();
    let root = QualifiedRoot {
        root: Root([1; 32]),
        previous: BlockHash([2; 32]),
    };
    assert!(txn.put_final_vote(&root, &BlockHash([3; 32])).unwrap());
    assert!(txn.put_final_vote(&root, &BlockHash([3; 32])).unwrap());
    assert!(!txn.put_final_vote(&root, &BlockHash([4; 32])).unwrap());
    txn.commit().unwrap();
    let r = store.read_txn().unwrap();
    let peers: Vec<_> = store.iter_peers(&r).unwrap().map(|x| x.unwrap()).collect();
    assert_eq!(peers, vec![(ep, 1234)]);
    let samples: Vec<_> = store
        .iter_online_weight(&r)
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    assert_eq!(samples, vec![(10, Amount(1)), (20, Amount(2))]);
    assert_eq!(
        store.final_vote(&r, &root).unwrap(),
        Some(BlockHash([3; 32]))
    );
}

#[test]
fn concurrent_readers_see_committed_snapshots() {
    let dir = tempfile::tempdir().unwrap();
    let store = std::sync::Arc::new(
        Store::open(&dir.path().join("data.ldb"), Network::Dev, &opts()).unwrap(),
    );
    let before = store.read_txn().unwrap();
    let mut txn = store.write_txn().unwrap();
    txn.put_account(&acct(1), &AccountInfo::default()).unwrap();
    txn.commit().unwrap();
    // The old snapshot does not see the commit; a new one does, from another thread.
    assert!(store.account(&before, &acct(1)).unwrap().is_none());
    let s2 = store.clone();
    std::thread::spawn(move || {
        let r = s2.read_txn().unwrap();
        assert!(s2.account(&r, &acct(1)).unwrap().is_some());
    })
    .join()
    .unwrap();
}

#[test]
fn handles_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send::<nano_store::ReadTxn<'static>>();
}

/// A store with `n` accounts and `n` online weight samples, of which all but every
/// tenth are then deleted again: the file keeps its size, holding mostly free pages.
fn store_with_deletions(dir: &std::path::Path, n: u8) -> Store {
    let store = Store::open(dir, Network::Dev, &opts()).unwrap();
    let mut txn = store.write_txn().unwrap();
    init_genesis(&store, &mut txn);
    for i in 0..n as u32 * 100 {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        let info = AccountInfo {
            block_count: i as u64,
            ..AccountInfo::default()
        };
        txn.put_account(&Account::from_bytes(k), &info).unwrap();
        txn.put_online_weight(i as u64, Amount(i as u128)).unwrap();
    }
    txn.commit().unwrap();
    let mut txn = store.write_txn().unwrap();
    for i in 0..n as u32 * 100 {
        if i % 10 != 0 {
            let mut k = [0u8; 32];
            k[..4].copy_from_slice(&i.to_be_bytes());
            txn.del_account(&Account::from_bytes(k)).unwrap();
            txn.del_online_weight(i as u64).unwrap();
        }
    }
    txn.commit().unwrap();
    store
}

type Rows = (Vec<(Account, AccountInfo)>, Vec<(u64, Amount)>);

fn rows(store: &Store) -> Rows {
    let r = store.read_txn().unwrap();
    let a = store
        .accounts_from(&r, &Account::ZERO)
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    let w = store
        .iter_online_weight(&r)
        .unwrap()
        .map(|x| x.unwrap())
        .collect();
    (a, w)
}

#[test]
fn compacted_copy_drops_free_pages_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_deletions(&dir.path().join("src.ldb"), 200);
    let before = store.file_size().unwrap();
    let dest = dir.path().join("copy").join("data.ldb");
    let copied = store.copy_compacted(&dest).unwrap();
    assert_eq!(copied, std::fs::metadata(&dest).unwrap().len());
    assert!(
        copied * 2 < before,
        "copy {copied} bytes should be far smaller than {before}"
    );
    let expected = rows(&store);
    assert_eq!(expected.0.len(), 2001);
    drop(store);
    // The copy is a store of its own, with the same identity and rows.
    let copy = Store::open(&dest, Network::Dev, &opts()).unwrap();
    let r = copy.read_txn().unwrap();
    assert!(copy.is_initialized(&r).unwrap());
    assert_eq!(copy.version(&r).unwrap(), Some(STORE_VERSION));
    drop(r);
    assert_eq!(rows(&copy), expected);
    // Copying over an existing file replaces it.
    let again = copy
        .copy_compacted(&dir.path().join("copy2").join("data.ldb"))
        .unwrap();
    assert!(again <= copied);
}

#[test]
fn rebuild_writes_every_row_densely_and_refuses_an_existing_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_deletions(&dir.path().join("src.ldb"), 200);
    let before = store.file_size().unwrap();
    let dest = dir.path().join("rebuilt.ldb");
    let n = store.rebuild_into(&dest, &opts()).unwrap();
    // 2000 accounts + genesis (block and account) + 2000 samples + 1 meta row.
    assert_eq!(n, 4003);
    let expected = rows(&store);
    let err = store.rebuild_into(&dest, &opts()).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    drop(store);
    let rebuilt = Store::open(&dest, Network::Dev, &opts()).unwrap();
    assert!(rebuilt.file_size().unwrap() < before);
    assert_eq!(rows(&rebuilt), expected);
    // A rebuilt store is an ordinary store: it takes writes.
    let mut txn = rebuilt.write_txn().unwrap();
    txn.put_online_weight(1, Amount(5)).unwrap();
    txn.commit().unwrap();
    // And a store of another network refuses to open it.
    drop(rebuilt);
    assert!(Store::open(&dest, Network::Live, &opts()).is_err());
}

#[test]
fn every_sync_mode_reaches_lmdb_and_commits_survive_reopening() {
    use nano_store::LmdbSync;
    for mode in [
        LmdbSync::Always,
        LmdbSync::NosyncSafe,
        LmdbSync::NosyncUnsafe,
        LmdbSync::NosyncUnsafeLargeMemory,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data.ldb");
        let o = StoreOptions {
            sync: mode,
            // Not a whole number of pages: rounded up, as LMDB in the reference accepts it.
            map_size: (64 << 20) + 100,
            ..opts()
        };
        {
            let store = Store::open(&path, Network::Dev, &o).unwrap();
            assert_eq!(store.sync_mode().unwrap(), mode, "{}", mode.as_str());
            assert!(store.map_size() >= (64 << 20) + 100);
            assert_eq!(store.map_size() % 4096, 0);
            let mut t = store.write_txn().unwrap();
            init_genesis(&store, &mut t);
            t.put_peer(&"[::1]:7075".parse().unwrap(), 5).unwrap();
            t.commit().unwrap();
        }
        // A clean close keeps every commit in every mode (the relaxed modes only risk
        // the last commits on a system crash).
        let store = Store::open(&path, Network::Dev, &opts()).unwrap();
        assert_eq!(store.sync_mode().unwrap(), LmdbSync::Always);
        let r = store.read_txn().unwrap();
        assert_eq!(store.peer_count(&r).unwrap(), 1);
        assert_eq!(store.block_count(&r).unwrap(), 1);
    }
}

/// With a cache minimum (the node's `representative_vote_weight_minimum`), only
/// representatives at or above it stay in memory, as in the reference; a lighter one's
/// weight is still answered, from the table. A weight crossing the minimum moves the
/// representative in or out of the cache at commit, and a reopen loads the same set.
#[test]
fn only_representatives_at_the_minimum_are_cached_and_lighter_ones_read_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.ldb");
    let options = StoreOptions {
        rep_weight_cache_minimum: Amount(100),
        ..opts()
    };
    let cached = |store: &Store| {
        let mut v =
            store.with_rep_weights_cached(|w| w.iter().map(|(a, x)| (*a, *x)).collect::<Vec<_>>());
        v.sort();
        v
    };
    let store = Store::open(&path, Network::Dev, &options).unwrap();
    assert_eq!(store.rep_weight_cache_minimum(), Amount(100));
    let mut txn = store.write_txn().unwrap();
    txn.put_rep_weight(&acct(1), Amount(1_000)).unwrap();
    txn.put_rep_weight(&acct(2), Amount(10)).unwrap();
    txn.put_rep_weight(&acct(3), Amount(100)).unwrap();
    txn.commit().unwrap();
    assert_eq!(
        cached(&store),
        vec![(acct(1), Amount(1_000)), (acct(3), Amount(100))]
    );
    assert_eq!(store.rep_weight_cached(&acct(1)), Amount(1_000));
    assert_eq!(
        store.rep_weight_cached(&acct(2)),
        Amount(10),
        "from the table"
    );
    assert_eq!(store.rep_weight_cached(&acct(9)), Amount::ZERO);

    // acct(1) falls below the minimum, acct(2) rises to it.
    let mut txn = store.write_txn().unwrap();
    txn.put_rep_weight(&acct(1), Amount(99)).unwrap();
    txn.put_rep_weight(&acct(2), Amount(500)).unwrap();
    txn.commit().unwrap();
    assert_eq!(
        cached(&store),
        vec![(acct(2), Amount(500)), (acct(3), Amount(100))]
    );
    assert_eq!(store.rep_weight_cached(&acct(1)), Amount(99));
    assert_eq!(store.rep_weight_cached(&acct(2)), Amount(500));
    drop(store);

    let store = Store::open(&path, Network::Dev, &options).unwrap();
    assert_eq!(
        cached(&store),
        vec![(acct(2), Amount(500)), (acct(3), Amount(100))]
    );
    assert_eq!(store.rep_weight_cached(&acct(1)), Amount(99));
    drop(store);
    // Without a minimum every representative is cached.
    let store = Store::open(&path, Network::Dev, &opts()).unwrap();
    assert_eq!(cached(&store).len(), 3);
}

#[test]
fn table_stats_follow_each_tree_and_the_last_page_grows_with_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data.ldb"), Network::Dev, &opts()).unwrap();
    let before = store.last_page();
    let mut txn = store.write_txn().unwrap();
    init_genesis(&store, &mut txn);
    // 2,000 accounts of ~130 bytes each: more than one leaf page, so a branch page too.
    for i in 0..2000u32 {
        let mut k = [0u8; 32];
        k[..4].copy_from_slice(&i.to_be_bytes());
        txn.put_account(&Account::from_bytes(k), &AccountInfo::default())
            .unwrap();
    }
    txn.commit().unwrap();
    let stats = store.table_stats().unwrap();
    let names: Vec<&str> = stats.iter().map(|(n, _)| *n).collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert_eq!(names[0], "blocks");
    assert_eq!(names[9], "meta");
    let of = |name: &str| stats.iter().find(|(n, _)| *n == name).unwrap().1;
    assert_eq!(of("accounts").entries, 2001);
    assert!(of("accounts").depth >= 2, "{:?}", of("accounts"));
    assert!(of("accounts").branch_pages >= 1);
    assert!(of("accounts").leaf_pages >= 2);
    assert_eq!(of("blocks").entries, 1);
    assert_eq!(of("blocks").depth, 1);
    assert_eq!(of("pending").entries, 0);
    assert_eq!(of("meta").entries, 1);
    let used: usize = stats
        .iter()
        .map(|(_, s)| s.branch_pages + s.leaf_pages + s.overflow_pages)
        .sum();
    assert!(store.last_page() > before);
    assert!(store.last_page() >= used, "{} < {used}", store.last_page());
}
