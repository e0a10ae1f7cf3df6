//! `nano-store` owns the node's on-disk state: one LMDB environment (via heed) with a
//! named table per kind of row, the byte encodings of those rows, the schema version and
//! network identity recorded in `meta`, and the read/write transaction types.
//!
//! It knows no ledger rules: the ledger decides *what* to write, the store only makes it
//! durable and atomic. LMDB gives many concurrent readers and one writer; a
//! [`WriteTxn`] is the unit of atomicity, so a caller that processes a batch of blocks in
//! one transaction either commits all of them or none (also across `kill -9`).
//!
//! Representative weights and the cemented-block count are also cached in memory; a write
//! transaction records its changes to them and the cache is updated only when the
//! transaction commits, so an aborted batch leaves the cache untouched.

pub mod codec;
mod store;
mod upgrade;

pub use codec::{
    AccountInfo, BlockDetails, BlockSideband, ConfirmationHeightInfo, PendingInfo, PendingKey,
    StoredBlock, UncheckedEntry,
};
pub use store::confirmation_log::{
    ConfirmationOrigin, ConfirmationRecord, DEFAULT_CONFIRMATION_HISTORY,
};
pub use store::{ReadTxn, Store, StoreOptions, Txn, WriteTxn};
pub use upgrade::STORE_VERSION;

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
    #[error(
        "the ledger at this path belongs to the {found} network, not {expected}; \
         use a different data path"
    )]
    WrongNetwork { expected: String, found: String },
    #[error("the ledger's genesis block {found} is not this network's genesis {expected}")]
    WrongGenesis { expected: String, found: String },
    #[error(
        "the ledger's schema version {found} is newer than this software supports \
         ({supported}); upgrade the node"
    )]
    VersionTooNew { found: u32, supported: u32 },
    #[error("cannot upgrade the ledger from schema version {from}: {reason}")]
    Upgrade { from: u32, reason: String },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The storage vendor as the reference node's `version` RPC names it: `LMDB` and the
/// linked library's version.
pub fn vendor() -> String {
    let v = heed::lmdb_version();
    format!("LMDB {}.{}.{}", v.major, v.minor, v.patch)
}
