//! This node's earlier ledger layout (a `data.ldb/` directory with heed's `data.mdb`,
//! big-endian account and confirmation integers, one 98-byte sideband for every block
//! type, an `unchecked` table and network/genesis keys in `meta`) is migrated to the
//! reference layout at open: every table of the result equals, byte for byte, the
//! ledger the old directory was made from. A migration killed with SIGKILL part-way
//! leaves the old directory untouched and resumes at the next open.
//!
//! The old directory is written here from the earlier layout's description (the
//! migration module's docs), starting from a ledger in the new layout.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::*;
use heed::types::Bytes;
use heed::{CommitOrAbort, EnvFlags, EnvOpenOptions};
use nano_core::{Epoch, Network};
use nano_ledger::test_support::{dev_genesis_key, test_key, Chain};
use nano_ledger::{Ledger, StoreOptions};
use nano_store::{Progress, StoredBlock};

type Tables = HashMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Every named table of an LMDB environment, raw (`file`: a single-file environment).
fn read_all(path: &Path, file: bool) -> Tables {
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.max_dbs(64).map_size(1 << 30);
    // SAFETY: nothing else has the environment open.
    let env = unsafe {
        let mut f = EnvFlags::READ_ONLY | EnvFlags::NO_LOCK;
        if file {
            f |= EnvFlags::NO_SUB_DIR;
        }
        opts.flags(f);
        opts.open(path).unwrap()
    };
    let r = env.read_txn().unwrap();
    let res = env
        .open_databases_and_commit(r, |opener, r| -> Result<_, heed::Error> {
            let main = opener.open_database::<Bytes, Bytes>(r, None)?.unwrap();
            let names: Vec<String> = main
                .iter(r)?
                .map(|x| String::from_utf8(x.unwrap().0.to_vec()).unwrap())
                .collect();
            let mut out = Tables::new();
            for name in names {
                let db = opener
                    .open_database::<Bytes, Bytes>(r, Some(&name))?
                    .unwrap();
                let rows = db
                    .iter(r)?
                    .map(|x| {
                        let (k, v) = x.unwrap();
                        (k.to_vec(), v.to_vec())
                    })
                    .collect();
                out.insert(name, rows);
            }
            Ok(CommitOrAbort::<(), _>::Abort(out))
        })
        .unwrap();
    match res {
        CommitOrAbort::Abort(t) => t,
        CommitOrAbort::Commit(()) => unreachable!(),
    }
}

/// The earlier encoding of one row of `table`, from the reference-layout row.
fn to_old(table: &str, k: &[u8], v: &[u8]) -> Vec<u8> {
    match table {
        "blocks" => {
            let b = StoredBlock::decode(v).unwrap();
            let body_end = 1 + b.block.size();
            let sb = b.sideband;
            let mut out = v[..body_end].to_vec();
            out.extend_from_slice(&sb.successor.0);
            out.extend_from_slice(&sb.account.0);
            out.extend_from_slice(&sb.height.to_be_bytes());
            out.extend_from_slice(&sb.timestamp.to_be_bytes());
            out.extend_from_slice(&sb.balance.0.to_be_bytes());
            // The earlier layout flagged legacy sends and receives too.
            let details = match v[0] {
                2 => 0x80 | 2,
                3 | 4 => 0x40 | 2,
                5 => 2,
                _ => sb.details.to_byte(),
            };
            out.push(details);
            out.push(sb.source_epoch as u8);
            assert_eq!(out.len(), body_end + 98, "{k:02x?}");
            out
        }
        "accounts" => {
            let mut out = v.to_vec();
            let m = u64::from_le_bytes(v[112..120].try_into().unwrap());
            let c = u64::from_le_bytes(v[120..128].try_into().unwrap());
            out[112..120].copy_from_slice(&m.to_be_bytes());
            out[120..128].copy_from_slice(&c.to_be_bytes());
            out
        }
        "confirmation_height" => {
            let mut out = v.to_vec();
            let h = u64::from_le_bytes(v[..8].try_into().unwrap());
            out[..8].copy_from_slice(&h.to_be_bytes());
            out
        }
        _ => v.to_vec(),
    }
}

/// Writes the earlier layout of `new` into directory `dir`, plus `peers` filler rows.
fn write_old(dir: &Path, new: &Tables, network: Network) {
    std::fs::create_dir_all(dir).unwrap();
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.max_dbs(32).map_size(1 << 30);
    // SAFETY: a fresh directory only this test uses.
    let env = unsafe { opts.open(dir).unwrap() };
    let wtxn = env.write_txn().unwrap();
    env.create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
        for (name, rows) in new {
            if name == "meta" {
                continue;
            }
            let db = opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?;
            for (k, v) in rows {
                db.put(wtxn, k, &to_old(name, k, v))?;
            }
        }
        let unchecked = opener.create_database::<Bytes, Bytes>(wtxn, Some("unchecked"))?;
        unchecked.put(wtxn, &[7u8; 64], &[0u8; 20])?;
        let meta = opener.create_database::<Bytes, Bytes>(wtxn, Some("meta"))?;
        meta.put(wtxn, b"version", &1u32.to_be_bytes())?;
        meta.put(wtxn, b"network", &network.magic())?;
        meta.put(wtxn, b"genesis", &network.params().genesis_hash.0)?;
        Ok(CommitOrAbort::<_, ()>::Commit(()))
    })
    .unwrap();
}

/// A ledger in the new layout with every block type, a receivable, cemented blocks and
/// `peers` filler rows (the same bytes in both layouts) to make the copy take batches.
fn source_ledger(dir: &Path, peers: u32) -> Tables {
    let path = dir.join("source.ldb");
    {
        let ledger = Ledger::open_with(
            &path,
            Network::Dev,
            &StoreOptions {
                map_size: 1 << 30,
                ..StoreOptions::default()
            },
        )
        .unwrap();
        let gk = dev_genesis_key();
        let mut g = Chain::dev_genesis();
        let mut a = Chain::unopened(test_key(1));
        let mut c = Chain::unopened(test_key(2));
        let s1 = g.legacy_send(&a.account, 1_000);
        let o = a.legacy_open(&s1.hash(), 1_000, &a.account.clone());
        let s2 = g.legacy_send(&a.account, 500);
        let r = a.legacy_receive(&s2.hash(), 500);
        let ch = a.legacy_change(&g.account.clone());
        let s3 = a.legacy_send(&c.account, 300);
        let co = c.receive(&s3.hash(), 300, Epoch::Epoch0);
        let ce1 = c.epoch_block(Epoch::Epoch1, &gk);
        let cs = c.send(&test_key(3).public(), 5);
        for b in [&s1, &o, &s2, &r, &ch, &s3, &co, &ce1, &cs] {
            ok(&ledger, b);
        }
        let mut t = ledger.write_txn().unwrap();
        ledger.confirm(&mut t, &ce1.hash()).unwrap();
        t.put_final_vote(&cs.qualified_root(), &cs.hash()).unwrap();
        t.put_online_weight(1_700_000_000_000_000_000, nano_core::Amount(77))
            .unwrap();
        for i in 0..peers {
            let ip = std::net::Ipv6Addr::from((0xfd00u128 << 112) | i as u128);
            t.put_peer(&std::net::SocketAddrV6::new(ip, 7075, 0, 0), i as u64)
                .unwrap();
        }
        t.commit().unwrap();
    }
    let tables = read_all(&path, true);
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_file(dir.join("source.ldb-lock"));
    tables
}

fn logging_options(lines: Arc<Mutex<Vec<String>>>) -> StoreOptions {
    StoreOptions {
        map_size: 1 << 30,
        progress: Some(Progress(Arc::new(move |l: &str| {
            lines.lock().unwrap().push(l.to_string())
        }))),
        ..StoreOptions::default()
    }
}

fn assert_same_tables(migrated: &Tables, source: &Tables) {
    for (name, rows) in source {
        assert_eq!(
            migrated.get(name),
            Some(rows),
            "table {name} differs after migration"
        );
    }
    assert!(!migrated.contains_key("unchecked"));
}

#[test]
fn the_old_directory_layout_is_migrated_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let source = source_ledger(dir.path(), 10);
    let path = dir.path().join("data.ldb");
    write_old(&path, &source, Network::Dev);
    assert!(path.is_dir());
    let lines = Arc::new(Mutex::new(Vec::new()));
    let ledger = Ledger::open_with(&path, Network::Dev, &logging_options(lines.clone())).unwrap();
    assert!(path.is_file(), "now the reference's single file");
    assert!(
        !dir.path().join("data.ldb.old-layout").exists(),
        "removed once open"
    );
    assert!(!dir.path().join("data.ldb.migrating").exists());
    let log = lines.lock().unwrap().join("\n");
    assert!(log.contains("Migrating the ledger directory"), "{log}");
    assert!(log.contains("Migration complete"), "{log}");
    let r = ledger.read_txn().unwrap();
    assert_eq!(ledger.block_count(&r).unwrap(), 10);
    assert_eq!(ledger.cemented_count(), 9);
    drop(r);
    drop(ledger);
    assert_same_tables(&read_all(&path, true), &source);
}

#[test]
fn an_old_directory_of_another_network_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let source = source_ledger(dir.path(), 0);
    let path = dir.path().join("data.ldb");
    write_old(&path, &source, Network::Beta);
    let before = std::fs::read(path.join("data.mdb")).unwrap();
    let err = Ledger::open(&path, Network::Dev).unwrap_err();
    assert!(err.to_string().contains("beta"), "{err}");
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(std::fs::read(path.join("data.mdb")).unwrap(), before);
}

const CHILD_ENV: &str = "NANO_MIGRATE_CHILD_PATH";

/// Run by the parent test as a separate process: migrates slowly (a pause at every
/// progress line) so the parent can kill it part-way.
#[test]
fn migrate_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // Only meaningful when spawned by the parent test.
    };
    let opts = StoreOptions {
        map_size: 1 << 30,
        progress: Some(Progress(Arc::new(|l: &str| {
            eprintln!("PROGRESS {l}");
            std::thread::sleep(std::time::Duration::from_millis(300));
        }))),
        ..StoreOptions::default()
    };
    let _ = Ledger::open_with(Path::new(&path), Network::Dev, &opts);
}

#[test]
fn a_migration_killed_part_way_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // 300,000 peer rows: five batches of the copy.
    let source = source_ledger(dir.path(), 300_000);
    let path = dir.path().join("data.ldb");
    write_old(&path, &source, Network::Dev);
    let old_bytes = std::fs::read(path.join("data.mdb")).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "migrate_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut copied_batches = 0;
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        if line.contains("PROGRESS Migrating the ledger:") && line.contains(" rows (") {
            copied_batches += 1;
            if copied_batches == 2 {
                break;
            }
        }
    }
    assert_eq!(copied_batches, 2, "the child reported its batches");
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Killed part-way: the old directory is untouched and still in place, the partial
    // copy beside it.
    assert!(path.is_dir());
    assert_eq!(std::fs::read(path.join("data.mdb")).unwrap(), old_bytes);
    assert!(dir.path().join("data.ldb.migrating").is_file());
    // The next open resumes and completes.
    let lines = Arc::new(Mutex::new(Vec::new()));
    let ledger = Ledger::open_with(&path, Network::Dev, &logging_options(lines.clone())).unwrap();
    let log = lines.lock().unwrap().join("\n");
    assert!(log.contains("resuming peers after"), "{log}");
    assert!(log.contains("Migration complete"), "{log}");
    drop(ledger);
    assert!(path.is_file());
    assert_same_tables(&read_all(&path, true), &source);
}
