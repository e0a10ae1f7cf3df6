//! Behaviour of the wallet store through its public API: known-answer seed derivation,
//! keys, passwords, encryption at rest, persistence, send ids, moves, seed changes,
//! export/import and concurrent use.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use nano_core::keys::public_from_private;
use nano_core::{Account, BlockHash, RawKey};
use nano_wallet::{KeyKind, Restore, WalletError, WalletId, Wallets, WalletsConfig};
use tempfile::TempDir;

const SEED0_INDEX0_PUBLIC: &str =
    "C008B814A7D269A1FA3C6528B19201A24D797912DB9996FF02A1FF356E45552B";
const SEED0_INDEX0_PRIVATE: &str =
    "9F0E444C69F77A49BD0BE89DB92C38FE713E0963165CCA12FAF5712D7657120F";

fn open(dir: &TempDir) -> Wallets {
    Wallets::open(dir.path(), WalletsConfig::dev()).unwrap()
}

fn rep() -> Account {
    Account::from([0x11; 32])
}

fn file_bytes(dir: &TempDir) -> Vec<u8> {
    std::fs::read(dir.path().join(nano_wallet::WALLETS_FILE)).unwrap()
}

fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn known_seed_gives_known_accounts_and_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let zero = RawKey([0; 32]);
    let id = {
        let w = open(&dir);
        let (id, restored) = w.create_from_seed(rep(), &zero, Restore::Count(1)).unwrap();
        assert_eq!(restored.count, 1);
        let acc = restored.last_account.unwrap();
        assert_eq!(acc.encode_hex(), SEED0_INDEX0_PUBLIC);
        assert_eq!(w.accounts(id).unwrap(), vec![acc]);
        assert_eq!(
            w.private_key(id, &acc).unwrap().encode_hex(),
            SEED0_INDEX0_PRIVATE
        );
        assert_eq!(w.deterministic_index(id).unwrap(), 1);
        let next = w.deterministic_insert(id).unwrap();
        assert_eq!(next, public_from_private(&zero.derive(1)));
        let many = w.deterministic_insert_many(id, 3).unwrap();
        assert_eq!(
            many,
            (2..5)
                .map(|i| public_from_private(&zero.derive(i)))
                .collect::<Vec<_>>()
        );
        let at = w.deterministic_insert_at(id, 100).unwrap();
        assert_eq!(at, public_from_private(&zero.derive(100)));
        assert_eq!(w.deterministic_index(id).unwrap(), 5);
        assert_eq!(w.seed(id).unwrap(), zero);
        assert_eq!(w.representative(id).unwrap(), rep());
        id
    };
    let w = open(&dir);
    assert_eq!(w.wallet_ids().unwrap(), vec![id]);
    assert!(!w.locked(id).unwrap(), "empty password unlocks on open");
    let entries = w.account_entries(id).unwrap();
    assert_eq!(entries.len(), 6);
    let idx: HashSet<u32> = entries
        .iter()
        .map(|e| match e.kind {
            KeyKind::Deterministic(i) => i,
            k => panic!("unexpected {k:?}"),
        })
        .collect();
    assert_eq!(idx, [0, 1, 2, 3, 4, 100].into_iter().collect());
    let acc0 = Account::decode_hex(SEED0_INDEX0_PUBLIC).unwrap();
    assert!(w.contains(id, &acc0).unwrap());
    assert_eq!(
        w.key_pair(id, &acc0).unwrap().private().encode_hex(),
        SEED0_INDEX0_PRIVATE
    );
    // Insert skips indexes the wallet already holds.
    assert_eq!(w.deterministic_index(id).unwrap(), 5);
}

#[test]
fn adhoc_insert_remove_and_watch() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(&dir);
    let id = w.create(rep()).unwrap();
    assert!(w.accounts(id).unwrap().is_empty());
    let key = RawKey([0x42; 32]);
    let acc = w.insert_adhoc(id, &key).unwrap();
    assert_eq!(acc, public_from_private(&key));
    assert_eq!(w.insert_adhoc(id, &key).unwrap(), acc, "idempotent");
    assert!(w.contains(id, &acc).unwrap());
    assert_eq!(w.private_key(id, &acc).unwrap(), key);
    assert_eq!(w.account_entries(id).unwrap()[0].kind, KeyKind::Adhoc);

    let watched = Account::from([0x55; 32]);
    w.insert_watch(id, &[watched]).unwrap();
    assert!(matches!(
        w.private_key(id, &watched),
        Err(WalletError::WatchOnly)
    ));
    assert_eq!(w.accounts(id).unwrap().len(), 2);

    w.remove_account(id, &acc).unwrap();
    assert!(!w.contains(id, &acc).unwrap());
    assert!(matches!(
        w.remove_account(id, &acc),
        Err(WalletError::AccountNotFound)
    ));
    assert!(matches!(
        w.private_key(id, &acc),
        Err(WalletError::AccountNotFound)
    ));
    let missing = WalletId([9; 32]);
    assert!(matches!(
        w.accounts(missing),
        Err(WalletError::WalletNotFound)
    ));
    assert!(matches!(
        w.insert_adhoc(missing, &key),
        Err(WalletError::WalletNotFound)
    ));
}

#[test]
fn password_lifecycle_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let key = RawKey([0x24; 32]);
    let (id, acc) = {
        let w = open(&dir);
        let id = w.create(rep()).unwrap();
        let acc = w.insert_adhoc(id, &key).unwrap();
        assert!(w.valid_password(id).unwrap());
        w.password_change(id, "correct horse").unwrap();
        assert!(w.valid_password(id).unwrap(), "changing keeps it unlocked");
        w.lock(id).unwrap();
        assert!(w.locked(id).unwrap());
        assert!(matches!(
            w.password_change(id, "x"),
            Err(WalletError::Locked)
        ));
        (id, acc)
    };
    let w = open(&dir);
    assert!(
        w.locked(id).unwrap(),
        "a password-protected wallet opens locked"
    );
    assert!(matches!(w.private_key(id, &acc), Err(WalletError::Locked)));
    assert!(matches!(w.seed(id), Err(WalletError::Locked)));
    assert!(matches!(
        w.deterministic_insert(id),
        Err(WalletError::Locked)
    ));
    assert!(matches!(
        w.insert_adhoc(id, &RawKey([1; 32])),
        Err(WalletError::Locked)
    ));
    // Locked wallets still answer non-secret queries.
    assert_eq!(w.accounts(id).unwrap(), vec![acc]);
    assert!(matches!(
        w.enter_password(id, "wrong"),
        Err(WalletError::InvalidPassword)
    ));
    assert!(matches!(
        w.enter_password(id, ""),
        Err(WalletError::InvalidPassword)
    ));
    assert!(w.locked(id).unwrap());
    w.enter_password(id, "correct horse").unwrap();
    assert!(!w.locked(id).unwrap());
    assert_eq!(w.private_key(id, &acc).unwrap(), key);
    // A wrong attempt locks again, as the reference node does.
    assert!(w.enter_password(id, "nope").is_err());
    assert!(w.locked(id).unwrap());
    w.enter_password(id, "correct horse").unwrap();
    // Back to the empty password: opens unlocked again.
    w.password_change(id, "").unwrap();
    drop(w);
    let w = open(&dir);
    assert!(!w.locked(id).unwrap());
    assert_eq!(w.private_key(id, &acc).unwrap(), key);
    assert!(matches!(
        w.enter_password(WalletId([3; 32]), ""),
        Err(WalletError::WalletNotFound)
    ));
}

#[test]
fn key_material_never_in_file_in_clear() {
    for password in ["", "hunter2"] {
        let dir = tempfile::tempdir().unwrap();
        let seed = RawKey([0xA5; 32]);
        let adhoc = RawKey([0x5A; 32]);
        let id = {
            let w = open(&dir);
            let (id, _) = w.create_from_seed(rep(), &seed, Restore::Count(4)).unwrap();
            w.insert_adhoc(id, &adhoc).unwrap();
            w.password_change(id, password).unwrap();
            // Change the seed too, so both old and new seeds have been written.
            let new_seed = RawKey([0x3C; 32]);
            w.change_seed(id, &new_seed, Restore::Count(2)).unwrap();
            w.change_seed(id, &seed, Restore::Count(4)).unwrap();
            id
        };
        let bytes = file_bytes(&dir);
        assert!(bytes.len() > 4096);
        let mut secrets = vec![seed.0, adhoc.0, [0x3C; 32]];
        secrets.extend((0..4).map(|i| seed.derive(i).0));
        for s in &secrets {
            assert!(!contains_bytes(&bytes, s), "secret in clear ({password:?})");
            assert!(!contains_bytes(&bytes, &s[..16]), "half a secret in clear");
        }
        // Public data is stored as is (sanity check that the grep works).
        assert!(contains_bytes(&bytes, &public_from_private(&adhoc).0));
        assert!(contains_bytes(&bytes, &id.0));
        let w = open(&dir);
        assert_eq!(w.locked(id).unwrap(), !password.is_empty());
        w.enter_password(id, password).unwrap();
        assert_eq!(w.seed(id).unwrap(), seed);
        assert_eq!(
            w.private_key(id, &public_from_private(&adhoc)).unwrap(),
            adhoc
        );
        assert_eq!(w.accounts(id).unwrap().len(), 5);
    }
}

#[test]
fn send_ids_are_idempotent_and_persistent() {
    let dir = tempfile::tempdir().unwrap();
    let hash = BlockHash::from([7; 32]);
    let id = {
        let w = open(&dir);
        let id = w.create(rep()).unwrap();
        let calls = AtomicUsize::new(0);
        let build = || -> Result<(BlockHash, Vec<u8>), WalletError> {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok((hash, b"block".to_vec()))
        };
        let first = w.send_once(id, "tx-1", build).unwrap();
        assert!(first.fresh);
        let again = w.send_once(id, "tx-1", build).unwrap();
        assert!(!again.fresh);
        assert_eq!((again.hash, again.payload), (hash, b"block".to_vec()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A failing build records nothing.
        let failed: Result<_, WalletError> =
            w.send_once(id, "tx-2", || Err(WalletError::AccountNotFound));
        assert!(failed.is_err());
        assert_eq!(w.send_id_get(id, "tx-2").unwrap(), None);
        assert!(matches!(
            w.send_id_get(id, ""),
            Err(WalletError::InvalidSendId { .. })
        ));
        assert!(w.send_id_get(id, &"x".repeat(401)).is_err());
        id
    };
    let w = open(&dir);
    assert_eq!(
        w.send_id_get(id, "tx-1").unwrap(),
        Some((hash, b"block".to_vec()))
    );
    let r = w
        .send_once::<WalletError>(id, "tx-1", || panic!("must not build twice"))
        .unwrap();
    assert_eq!(r.hash, hash);
    assert!(!r.fresh);
}

#[test]
fn concurrent_sends_with_one_id_build_once() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(open(&dir));
    let id = w.create(rep()).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let w = w.clone();
            let calls = calls.clone();
            std::thread::spawn(move || {
                w.send_once::<WalletError>(id, "same", || {
                    calls.fetch_add(1, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    Ok((BlockHash::from([t as u8; 32]), vec![]))
                })
                .unwrap()
                .hash
            })
        })
        .collect();
    let hashes: HashSet<BlockHash> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(hashes.len(), 1);
}

#[test]
fn move_accounts_between_wallets() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(&dir);
    let a = w.create(rep()).unwrap();
    let b = w.create(rep()).unwrap();
    let adhoc = RawKey([0x61; 32]);
    let acc_adhoc = w.insert_adhoc(a, &adhoc).unwrap();
    let acc_det = w.deterministic_insert(a).unwrap();
    let det_key = w.private_key(a, &acc_det).unwrap();
    let watched = Account::from([0x77; 32]);
    w.insert_watch(a, &[watched]).unwrap();
    w.work_set(a, &acc_det, 0xfeed).unwrap();
    let stay = w.deterministic_insert(a).unwrap();

    // All or nothing: one unknown account aborts the whole move.
    assert!(matches!(
        w.move_accounts(b, a, &[acc_adhoc, Account::from([1; 32])]),
        Err(WalletError::AccountNotFound)
    ));
    assert!(w.contains(a, &acc_adhoc).unwrap());
    assert!(w.accounts(b).unwrap().is_empty());

    w.move_accounts(b, a, &[acc_adhoc, acc_det, watched])
        .unwrap();
    assert_eq!(w.accounts(a).unwrap(), vec![stay]);
    let mut moved = w.accounts(b).unwrap();
    moved.sort();
    let mut expect = vec![acc_adhoc, acc_det, watched];
    expect.sort();
    assert_eq!(moved, expect);
    assert_eq!(w.private_key(b, &acc_adhoc).unwrap(), adhoc);
    assert_eq!(w.private_key(b, &acc_det).unwrap(), det_key);
    assert_eq!(w.work_get(b, &acc_det).unwrap(), 0xfeed);
    let kinds: Vec<KeyKind> = w
        .account_entries(b)
        .unwrap()
        .iter()
        .filter(|e| e.account == acc_det)
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec![KeyKind::Adhoc], "deterministic becomes ad-hoc");
    // Moving needs both wallets unlocked.
    w.lock(b).unwrap();
    assert!(matches!(
        w.move_accounts(b, a, &[stay]),
        Err(WalletError::Locked)
    ));
}

#[test]
fn change_seed_clears_and_restores() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(&dir);
    let id = w.create(rep()).unwrap();
    let old: Vec<Account> = w.deterministic_insert_many(id, 5).unwrap();
    let adhoc = w.insert_adhoc(id, &RawKey([0x13; 32])).unwrap();
    let seed = RawKey([0x99; 32]);

    let r = w.change_seed(id, &seed, Restore::Count(3)).unwrap();
    assert_eq!(r.count, 3);
    assert_eq!(r.last_account, Some(public_from_private(&seed.derive(2))));
    let accounts: HashSet<Account> = w.accounts(id).unwrap().into_iter().collect();
    assert!(old.iter().all(|a| !accounts.contains(a)));
    assert!(accounts.contains(&adhoc));
    assert_eq!(accounts.len(), 4);
    assert_eq!(w.deterministic_index(id).unwrap(), 3);
    assert_eq!(w.seed(id).unwrap(), seed);

    // Scan: accounts 7 and 90 have ledger activity; the window after 7 ends at
    // 7 + 64 + 7/64 = 71, before 90, so only 0..=7 are restored.
    let used: HashSet<Account> = [7u32, 90]
        .iter()
        .map(|i| public_from_private(&seed.derive(*i)))
        .collect();
    let is_used = |a: &Account| used.contains(a);
    let r = w.change_seed(id, &seed, Restore::Scan(&is_used)).unwrap();
    assert_eq!(r.count, 8);
    assert_eq!(r.last_account, Some(public_from_private(&seed.derive(7))));
    // With 60 also used, the window reaches 90.
    let used2: HashSet<Account> = [7u32, 60, 90]
        .iter()
        .map(|i| public_from_private(&seed.derive(*i)))
        .collect();
    let is_used2 = |a: &Account| used2.contains(a);
    let (id2, r) = w
        .create_from_seed(rep(), &seed, Restore::Scan(&is_used2))
        .unwrap();
    assert_eq!(r.count, 91);
    assert_eq!(w.accounts(id2).unwrap().len(), 91);
    assert_eq!(w.deterministic_index(id2).unwrap(), 91);
    // Nothing used: index 0 only.
    let (_, r) = w
        .create_from_seed(rep(), &RawKey([1; 32]), Restore::Scan(&|_| false))
        .unwrap();
    assert_eq!(r.count, 1);
}

#[test]
fn representative_work_destroy_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, acc) = {
        let w = open(&dir);
        let a = w.create(rep()).unwrap();
        let b = w.create(Account::ZERO).unwrap();
        let acc = w.deterministic_insert(a).unwrap();
        assert_eq!(w.work_get(a, &acc).unwrap(), 0);
        w.work_set(a, &acc, 0x1234_5678_9abc_def0).unwrap();
        assert!(matches!(
            w.work_set(a, &Account::from([2; 32]), 1),
            Err(WalletError::AccountNotFound)
        ));
        let new_rep = Account::from([0x22; 32]);
        w.representative_set(a, &new_rep).unwrap();
        w.deterministic_insert(b).unwrap();
        (a, b, acc)
    };
    let w = open(&dir);
    assert_eq!(w.work_get(a, &acc).unwrap(), 0x1234_5678_9abc_def0);
    assert_eq!(w.representative(a).unwrap(), Account::from([0x22; 32]));
    let mut ids = vec![a, b];
    ids.sort();
    assert_eq!(w.wallet_ids().unwrap(), ids);
    assert_eq!(w.all_accounts().unwrap().len(), 2);
    assert_eq!(w.find_account(&acc).unwrap(), Some(a));
    let kp = w.unlocked_key_pairs(|x| *x == acc).unwrap();
    assert_eq!(kp.len(), 1);
    assert_eq!(kp[0].public(), acc);
    w.destroy(a).unwrap();
    assert!(!w.exists(a).unwrap());
    assert!(matches!(w.destroy(a), Err(WalletError::WalletNotFound)));
    assert!(matches!(w.locked(a), Err(WalletError::WalletNotFound)));
    assert_eq!(w.wallet_ids().unwrap(), vec![b]);
    assert_eq!(w.all_accounts().unwrap().len(), 1);
    assert_eq!(w.find_account(&acc).unwrap(), None);
    assert!(w.create_with_id(a, rep()).unwrap());
    assert!(!w.create_with_id(a, rep()).unwrap());
    assert!(w.accounts(a).unwrap().is_empty());
}

#[test]
fn export_and_import() {
    let dir = tempfile::tempdir().unwrap();
    let w = open(&dir);
    let src = w.create(rep()).unwrap();
    let det = w.deterministic_insert_many(src, 2).unwrap();
    let adhoc = w.insert_adhoc(src, &RawKey([0x31; 32])).unwrap();
    let watched = Account::from([0x44; 32]);
    w.insert_watch(src, &[watched]).unwrap();
    w.work_set(src, &adhoc, 99).unwrap();
    w.send_once::<WalletError>(src, "s", || Ok((BlockHash::from([1; 32]), vec![])))
        .unwrap();
    w.password_change(src, "pw").unwrap();
    w.lock(src).unwrap();

    let json = w.export_json(src).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let obj = v.as_object().unwrap();
    assert_eq!(obj["0000"], "00000001");
    assert_eq!(obj["0004"], rep().encode_hex());
    assert_eq!(obj["0006"], "00000002");
    assert!(obj.contains_key(&format!("01{}", adhoc.encode_hex())));
    assert!(obj.contains_key("0273"), "send id \"s\"");
    assert_eq!(obj.len(), 7 + 4 + 1);

    let dst = w.create(rep()).unwrap();
    assert!(matches!(
        w.import_json(dst, &json, "wrong"),
        Err(WalletError::InvalidPassword)
    ));
    assert!(matches!(
        w.import_json(dst, "[1]", "pw"),
        Err(WalletError::InvalidExport(_))
    ));
    let imported = w.import_json(dst, &json, "pw").unwrap();
    assert_eq!(imported.len(), 4);
    w.enter_password(src, "pw").unwrap();
    for a in det.iter().chain([&adhoc]) {
        assert_eq!(
            w.private_key(dst, a).unwrap(),
            w.private_key(src, a).unwrap()
        );
    }
    assert_eq!(w.work_get(dst, &adhoc).unwrap(), 99);
    assert!(w.contains(dst, &watched).unwrap());
}

#[test]
fn many_threads_one_store() {
    let dir = tempfile::tempdir().unwrap();
    let w = Arc::new(open(&dir));
    let id = w.create(rep()).unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let w = w.clone();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                for i in 0..10 {
                    mine.push(w.deterministic_insert(id).unwrap());
                    if i % 3 == 0 {
                        mine.push(w.insert_adhoc(id, &RawKey::random()).unwrap());
                    }
                    assert!(w.contains(id, mine.last().unwrap()).unwrap());
                    let _ = w.accounts(id).unwrap();
                    let _ = t;
                }
                mine
            })
        })
        .collect();
    let all: Vec<Account> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let unique: HashSet<Account> = all.iter().copied().collect();
    assert_eq!(unique.len(), all.len());
    assert_eq!(w.accounts(id).unwrap().len(), all.len());
    assert_eq!(w.deterministic_index(id).unwrap(), 40);
}
