//! `nano-store` owns the node's on-disk ledger: one LMDB file, `data.ldb`, in the
//! reference node's layout (its ten named tables and their byte encodings, store
//! version 24), so a downloaded reference ledger snapshot opens here and a ledger
//! written here opens in the reference node. It also owns the read/write transaction
//! types, the upgrades of older reference versions (21–23), the refusals of files it
//! cannot use, and the one-time migration of this node's earlier `data.ldb/` directory
//! layout.
//!
//! It knows no ledger rules: the ledger decides *what* to write, the store only makes it
//! durable and atomic. LMDB gives many concurrent readers and one writer; a
//! [`WriteTxn`] is the unit of atomicity, so a caller that processes a batch of blocks in
//! one transaction either commits all of them or none (also across `kill -9`).
//!
//! Representative weights and the cemented-block count are also cached in memory; a write
//! transaction records its changes to them and the cache is updated only when the
//! transaction commits, so an aborted batch leaves the cache untouched.

use std::path::PathBuf;

pub mod codec;
mod env;
mod file_check;
pub mod migrate;
mod store;
pub mod tail;
mod upgrade;

pub use codec::{
    AccountInfo, BlockDetails, BlockSideband, ConfirmationHeightInfo, PendingInfo, PendingKey,
    StoredBlock,
};
pub use env::{LmdbSync, Progress, StoreOptions, STORE_VERSION, STORE_VERSION_MINIMUM};
pub use heed::DatabaseStat;
pub use store::confirmation_log::{
    ConfirmationOrigin, ConfirmationRecord, DEFAULT_CONFIRMATION_HISTORY,
};
pub use store::{online_weight_key, ReadTxn, Store, Txn, WriteTxn};

/// Why the store could not do what was asked. Ledger rule violations are not errors of
/// the store; these are I/O, corruption and identity problems.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("LMDB error: {0}")]
    Lmdb(#[from] heed::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt {table} entry: {detail}")]
    Corrupt { table: &'static str, detail: String },
    #[error("the table {0} is missing (not a complete version-24 ledger)")]
    MissingTable(&'static str),
    #[error(
        "not an LMDB ledger file ({0}); restore it from a backup or a fresh snapshot, or \
         delete it to start a new ledger"
    )]
    NotLedger(String),
    #[error(
        "the file is truncated: {size} bytes, but its pages reach byte {needed}; restore \
         it from a backup or a fresh snapshot"
    )]
    Truncated { size: u64, needed: u64 },
    #[error(
        "the ledger belongs to the {found} network, not {expected} (its genesis block is \
         not this network's); use a different data path"
    )]
    WrongNetwork { expected: String, found: String },
    #[error(
        "The version of the ledger ({found}) is too high for this node (it supports {supported})"
    )]
    VersionTooNew { found: u32, supported: u32 },
    #[error(
        "The version of the ledger ({found}) is lower than the minimum ({minimum}) which is \
         supported for upgrades. Either upgrade a node first or delete the ledger."
    )]
    VersionTooOld { found: u32, minimum: u32 },
    #[error("cannot upgrade the ledger from store version {from}: {reason}")]
    Upgrade { from: u32, reason: String },
    #[error("cannot migrate this node's earlier ledger directory: {0}")]
    Migrate(String),
    #[error("cannot open the ledger {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: Box<StoreError>,
    },
}

impl StoreError {
    /// The underlying error of an [`StoreError::Open`] (the error itself otherwise).
    pub fn cause(&self) -> &StoreError {
        match self {
            StoreError::Open { source, .. } => source.cause(),
            e => e,
        }
    }
}

/// Lookups a long scan (a walk over many accounts or blocks) makes in one read
/// transaction before it opens a fresh one. While a read transaction lives, LMDB cannot
/// reuse any page a writer frees after it began, so the file grows by every page the
/// block processor rewrites meanwhile: a scan of thousands of lookups held for 0.1-0.6 s
/// during a sync pinned tens of thousands of pages. 256 lookups take a few
/// milliseconds, shorter than one write batch, so a scan pins at most a batch's pages.
pub const SCAN_LOOKUPS_PER_TXN: usize = 256;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The storage vendor as the reference node's `version` RPC names it: `LMDB` and the
/// linked library's version.
pub fn vendor() -> String {
    let v = heed::lmdb_version();
    format!("LMDB {}.{}.{}", v.major, v.minor, v.patch)
}
