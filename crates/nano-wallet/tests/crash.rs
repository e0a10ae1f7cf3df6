//! Crash safety: a child process (this test binary, re-invoked with an environment
//! variable) adds accounts in a loop and reports each one after the call returns; it is
//! killed with SIGKILL at arbitrary points, several times. Every reported account must be
//! there afterwards and the store must open and unlock normally.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use nano_core::keys::public_from_private;
use nano_core::{Account, RawKey};
use nano_wallet::{Wallets, WalletsConfig};

const CHILD_DIR: &str = "NANO_WALLET_CRASH_CHILD_DIR";

/// The child's body; a no-op in a normal test run.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let wallets = Wallets::open(&dir, WalletsConfig::dev()).unwrap();
    let id = match wallets.wallet_ids().unwrap().first() {
        Some(id) => *id,
        None => wallets.create(Account::ZERO).unwrap(),
    };
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let account = if i % 4 == 3 {
            wallets.insert_adhoc(id, &RawKey::random()).unwrap()
        } else {
            wallets.deterministic_insert(id).unwrap()
        };
        wallets.work_set(id, &account, i + 1).unwrap();
        writeln!(out, "CREATED {} {}", account.encode_hex(), i + 1).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut reported: Vec<(Account, u64)> = Vec::new();
    for round in 0..4usize {
        let mut child = Command::new(&exe)
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let target = 10 + round * 7;
        let mut seen = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(rest) = line.strip_prefix("CREATED ") {
                let (hex, work) = rest.split_once(' ').unwrap();
                reported.push((Account::decode_hex(hex).unwrap(), work.parse().unwrap()));
                seen += 1;
                if seen >= target {
                    break;
                }
            }
        }
        // Child::kill is SIGKILL on Unix: no destructors, no flush, mid-transaction.
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(seen, target, "child stopped early in round {round}");
    }
    let wallets = Wallets::open(dir.path(), WalletsConfig::dev()).unwrap();
    let ids = wallets.wallet_ids().unwrap();
    assert_eq!(ids.len(), 1);
    let id = ids[0];
    assert!(!wallets.locked(id).unwrap());
    let present: HashSet<Account> = wallets.accounts(id).unwrap().into_iter().collect();
    for (account, work) in &reported {
        assert!(present.contains(account), "lost {account:?}");
        let key = wallets.private_key(id, account).unwrap();
        assert_eq!(public_from_private(&key), *account);
        assert_eq!(wallets.work_get(id, account).unwrap(), *work);
    }
    // The store is still writable and consistent.
    let next = wallets.deterministic_insert(id).unwrap();
    assert!(!present.contains(&next));
}
