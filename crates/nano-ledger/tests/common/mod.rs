//! Shared helpers for the ledger's integration tests.
#![allow(dead_code)]

use nano_core::Block;
use nano_ledger::{BlockStatus, Ledger, ProcessError, Processed, StoreOptions};
use tempfile::TempDir;

pub fn new_ledger() -> (TempDir, Ledger) {
    let dir = tempfile::tempdir().unwrap();
    let ledger = open(&dir);
    (dir, ledger)
}

pub fn open(dir: &TempDir) -> Ledger {
    Ledger::open_with(
        &dir.path().join("data.ldb"),
        nano_core::Network::Dev,
        &StoreOptions {
            map_size: 1 << 30,
            ..StoreOptions::default()
        },
    )
    .unwrap()
}

/// Processes one block in its own transaction, committing only on success.
pub fn process(ledger: &Ledger, block: &Block) -> Result<Processed, BlockStatus> {
    let mut txn = ledger.write_txn().unwrap();
    match ledger.process(&mut txn, block) {
        Ok(p) => {
            txn.commit().unwrap();
            Ok(p)
        }
        Err(ProcessError::Rejected(s)) => Err(s),
        Err(e) => panic!("store failure: {e}"),
    }
}

/// Processes a block that must be accepted.
pub fn ok(ledger: &Ledger, block: &Block) -> Processed {
    match process(ledger, block) {
        Ok(p) => p,
        Err(s) => panic!("expected progress, got {s} for {block:?}"),
    }
}

/// Processes a block that must be refused with `status`, and checks nothing changed.
pub fn rejected(ledger: &Ledger, block: &Block, status: BlockStatus) {
    let before = snapshot(ledger);
    assert_eq!(process(ledger, block).err(), Some(status), "{block:?}");
    assert_eq!(
        snapshot(ledger),
        before,
        "a rejected block changed the ledger"
    );
}

pub fn check(ledger: &Ledger) -> nano_ledger::ConsistencyReport {
    let txn = ledger.read_txn().unwrap();
    let r = ledger.check_consistency(&txn).unwrap();
    assert!(ledger.weights_cache_matches(&txn).unwrap());
    r
}

/// Everything observable about the ledger except block timestamps: accounts,
/// receivables, weights, confirmation heights and the block set.
#[derive(Debug, PartialEq, Eq)]
pub struct Snapshot {
    pub accounts: Vec<(nano_core::Account, nano_ledger::AccountInfo)>,
    pub pending: Vec<(nano_ledger::PendingKey, nano_ledger::PendingInfo)>,
    pub weights: Vec<(nano_core::Account, nano_core::Amount)>,
    pub cached_weights: Vec<(nano_core::Account, nano_core::Amount)>,
    pub conf: Vec<(nano_core::Account, nano_ledger::ConfirmationHeightInfo)>,
    pub blocks: Vec<(nano_core::BlockHash, nano_ledger::StoredBlock)>,
    pub block_count: u64,
    pub account_count: u64,
    pub cemented: u64,
}

pub fn snapshot(ledger: &Ledger) -> Snapshot {
    let s = ledger.store();
    let txn = ledger.read_txn().unwrap();
    let zero = nano_core::Account::ZERO;
    let mut cached: Vec<_> = s.rep_weights_cached().into_iter().collect();
    cached.sort();
    Snapshot {
        accounts: s
            .accounts_from(&txn, &zero)
            .unwrap()
            .map(|r| r.unwrap())
            .collect(),
        pending: s
            .pending_from(
                &txn,
                &nano_ledger::PendingKey::new(zero, Default::default()),
            )
            .unwrap()
            .map(|r| r.unwrap())
            .collect(),
        weights: s
            .iter_rep_weights(&txn)
            .unwrap()
            .map(|r| r.unwrap())
            .collect(),
        cached_weights: cached,
        conf: s
            .confirmation_heights_from(&txn, &zero)
            .unwrap()
            .map(|r| r.unwrap())
            .collect(),
        blocks: s.iter_blocks(&txn).unwrap().map(|r| r.unwrap()).collect(),
        block_count: ledger.block_count(&txn).unwrap(),
        account_count: ledger.account_count(&txn).unwrap(),
        cemented: ledger.cemented_count(),
    }
}
