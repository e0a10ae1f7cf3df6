//! `nano-ledger` owns the ledger rules over `nano-store`: which blocks are accepted and
//! what they change (`process`), how they are undone (`rollback`), representative
//! weights, receivables, epochs, and confirmation height (`confirm`), plus the read
//! queries the RPC layer needs.
//!
//! Usage: open a [`Ledger`], take a write transaction from [`Ledger::store`], call
//! [`Ledger::process`] for a batch of blocks and commit once. If any call returns a
//! store error the transaction must be aborted (dropped); rule rejections
//! ([`ProcessError::Rejected`]) write nothing and the transaction stays usable.

mod cement;
mod check;
mod process;
mod queries;
mod rollback;
#[cfg(any(test, feature = "test-utils"))]
pub mod test_support;
mod validate;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use nano_core::{Account, Amount, Block, BlockHash, Network, NetworkParams};
/// The database engine and its version (`LMDB x.y.z`).
pub use nano_store::vendor as store_vendor;
pub use nano_store::{
    AccountInfo, BlockDetails, BlockSideband, ConfirmationHeightInfo, ConfirmationOrigin,
    ConfirmationRecord, PendingInfo, PendingKey, ReadTxn, Store, StoreError, StoreOptions,
    StoredBlock, Txn, WriteTxn, DEFAULT_CONFIRMATION_HISTORY,
};

pub use cement::Cementing;
pub use check::ConsistencyReport;
pub use queries::BlockInfo;
pub use validate::{Problem, Subject, ValidationSummary};

/// The outcome of processing a block, with the reference node's names and order. Never
/// on the wire; RPC and logs print [`BlockStatus::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockStatus {
    Progress,
    BadSignature,
    Old,
    NegativeSpend,
    Fork,
    Unreceivable,
    GapPrevious,
    GapSource,
    GapEpochOpenPending,
    OpenedBurnAccount,
    BalanceMismatch,
    RepresentativeMismatch,
    BlockPosition,
    InsufficientWork,
}

impl BlockStatus {
    pub const ALL: [BlockStatus; 14] = [
        BlockStatus::Progress,
        BlockStatus::BadSignature,
        BlockStatus::Old,
        BlockStatus::NegativeSpend,
        BlockStatus::Fork,
        BlockStatus::Unreceivable,
        BlockStatus::GapPrevious,
        BlockStatus::GapSource,
        BlockStatus::GapEpochOpenPending,
        BlockStatus::OpenedBurnAccount,
        BlockStatus::BalanceMismatch,
        BlockStatus::RepresentativeMismatch,
        BlockStatus::BlockPosition,
        BlockStatus::InsufficientWork,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BlockStatus::Progress => "progress",
            BlockStatus::BadSignature => "bad_signature",
            BlockStatus::Old => "old",
            BlockStatus::NegativeSpend => "negative_spend",
            BlockStatus::Fork => "fork",
            BlockStatus::Unreceivable => "unreceivable",
            BlockStatus::GapPrevious => "gap_previous",
            BlockStatus::GapSource => "gap_source",
            BlockStatus::GapEpochOpenPending => "gap_epoch_open_pending",
            BlockStatus::OpenedBurnAccount => "opened_burn_account",
            BlockStatus::BalanceMismatch => "balance_mismatch",
            BlockStatus::RepresentativeMismatch => "representative_mismatch",
            BlockStatus::BlockPosition => "block_position",
            BlockStatus::InsufficientWork => "insufficient_work",
        }
    }
}

impl std::fmt::Display for BlockStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a block does, as RPC names it (`subtype`). Legacy blocks map to their type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockSubtype {
    Send,
    Receive,
    Open,
    Change,
    Epoch,
}

impl BlockSubtype {
    pub fn as_str(self) -> &'static str {
        match self {
            BlockSubtype::Send => "send",
            BlockSubtype::Receive => "receive",
            BlockSubtype::Open => "open",
            BlockSubtype::Change => "change",
            BlockSubtype::Epoch => "epoch",
        }
    }

    /// Derives the subtype from the block and the classification stored with it.
    pub fn of(block: &Block, sideband: &BlockSideband) -> BlockSubtype {
        match block {
            Block::Send(_) => BlockSubtype::Send,
            Block::Receive(_) => BlockSubtype::Receive,
            Block::Open(_) => BlockSubtype::Open,
            Block::Change(_) => BlockSubtype::Change,
            Block::State(_) => {
                let d = &sideband.details;
                if d.is_epoch {
                    BlockSubtype::Epoch
                } else if d.is_send {
                    BlockSubtype::Send
                } else if d.is_receive {
                    if sideband.height == 1 {
                        BlockSubtype::Open
                    } else {
                        BlockSubtype::Receive
                    }
                } else {
                    BlockSubtype::Change
                }
            }
        }
    }
}

impl std::fmt::Display for BlockSubtype {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why `process` did not accept a block.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A ledger rule refused the block; nothing was written.
    #[error("block rejected: {0}")]
    Rejected(BlockStatus),
    /// The store failed; the transaction may hold partial writes and must be aborted.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ProcessError {
    /// The rule that refused the block, `None` for store failures.
    pub fn status(&self) -> Option<BlockStatus> {
        match self {
            ProcessError::Rejected(s) => Some(*s),
            ProcessError::Store(_) => None,
        }
    }
}

/// What an accepted block did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub hash: BlockHash,
    pub account: Account,
    pub sideband: BlockSideband,
    pub subtype: BlockSubtype,
    /// Amount sent or received (zero for change and epoch blocks).
    pub amount: Amount,
}

/// Failures of rollback, cementing and queries.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("block {0} is not in the ledger")]
    BlockNotFound(BlockHash),
    #[error("block {0} is cemented and cannot be rolled back")]
    Cemented(BlockHash),
    #[error("ledger inconsistency: {0}")]
    Inconsistent(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The ledger of one network over one store.
pub struct Ledger {
    store: Store,
    params: &'static NetworkParams,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("network", &self.params.network)
            .field("store", &self.store)
            .finish()
    }
}

pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Ledger {
    /// Opens (creating if needed) the ledger file `path` (`<data_dir>/data.ldb`, the
    /// reference node's layout) for `network`.
    pub fn open(path: &Path, network: Network) -> Result<Ledger, StoreError> {
        Self::open_with(path, network, &StoreOptions::default())
    }

    pub fn open_with(
        path: &Path,
        network: Network,
        options: &StoreOptions,
    ) -> Result<Ledger, StoreError> {
        Self::new(Store::open(path, network, options)?)
    }

    /// Opens an existing ledger file read-only ([`Store::open_read_only`]): for the tools
    /// that check or dump a ledger and must leave the file exactly as it was. Nothing is
    /// written, not even the genesis block of an empty ledger.
    pub fn open_read_only(
        path: &Path,
        network: Network,
        options: &StoreOptions,
    ) -> Result<Ledger, StoreError> {
        let store = Store::open_read_only(path, network, options)?;
        let params = store.network().params();
        Ok(Ledger { store, params })
    }

    /// Wraps an opened store, writing the network's genesis block when `accounts` is
    /// empty, as the reference does (the store already refused a ledger of another
    /// network).
    pub fn new(store: Store) -> Result<Ledger, StoreError> {
        let params = store.network().params();
        let ledger = Ledger { store, params };
        {
            let mut txn = ledger.store.write_txn()?;
            if !ledger.store.is_initialized(&txn)? {
                ledger.write_genesis(&mut txn)?;
                txn.commit()?;
            }
        }
        Ok(ledger)
    }

    /// Genesis goes in directly (its work is below threshold on some networks and it has
    /// no source): height 1, whole supply, cemented.
    fn write_genesis(&self, txn: &mut WriteTxn<'_>) -> Result<(), StoreError> {
        let p = self.params;
        let now = now_secs();
        let sideband = BlockSideband {
            successor: BlockHash::ZERO,
            account: p.genesis_account,
            height: 1,
            timestamp: now,
            balance: p.genesis_amount,
            details: BlockDetails::default(),
            source_epoch: nano_core::Epoch::Epoch0,
        };
        txn.put_block_parts(&p.genesis_hash, &p.genesis, &sideband)?;
        txn.put_account(
            &p.genesis_account,
            &AccountInfo {
                head: p.genesis_hash,
                representative: p.genesis_account,
                open_block: p.genesis_hash,
                balance: p.genesis_amount,
                modified: now,
                block_count: 1,
                epoch: nano_core::Epoch::Epoch0,
            },
        )?;
        txn.put_rep_weight(&p.genesis_account, p.genesis_amount)?;
        txn.put_confirmation_height(
            &p.genesis_account,
            &ConfirmationHeightInfo {
                height: 1,
                frontier: p.genesis_hash,
            },
        )?;
        Ok(())
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The store's LMDB statistics (RPC `stats` of type `database`).
    pub fn database_stat(&self) -> nano_store::DatabaseStat {
        self.store.database_stat()
    }

    pub fn params(&self) -> &'static NetworkParams {
        self.params
    }

    pub fn network(&self) -> Network {
        self.params.network
    }

    pub fn read_txn(&self) -> Result<ReadTxn<'_>, StoreError> {
        self.store.read_txn()
    }

    pub fn write_txn(&self) -> Result<WriteTxn<'_>, StoreError> {
        self.store.write_txn()
    }
}
