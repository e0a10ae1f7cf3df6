//! The open ledger ([`Store`]: opening with its checks, upgrades and migration, the
//! in-memory caches) and the two transaction types. Reads are methods of
//! [`Store`] taking any transaction (`&impl Txn`), so the ledger reads through its own
//! write transaction and sees its uncommitted writes; writes are methods of [`WriteTxn`].

use std::collections::{HashMap, HashSet};
use std::fs;
use std::net::SocketAddrV6;
use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

use heed::{EnvFlags, WithoutTls};
use nano_core::{Account, Amount, BlockHash, BlockType, Network, QualifiedRoot};

use crate::codec::{
    decode_account, decode_amount, decode_endpoint, decode_hash, decode_qualified_root, decode_u64,
    encode_endpoint, successor_offset, AccountInfo, BlockSideband, ConfirmationHeightInfo,
    PendingInfo, PendingKey, StoredBlock,
};
use crate::env::{
    create_tables, decode_version, open_env, open_table, open_tables, version_value, LmdbSync,
    StoreOptions, Tables, META_VERSION_KEY, STORE_VERSION, STORE_VERSION_MINIMUM,
};
use crate::tail::FileTail;
use crate::upgrade::{check_network, upgrade};

#[path = "confirmation_log.rs"]
pub(crate) mod confirmation_log;
use crate::{Result, StoreError};

/// The `online_weight` key of a sample taken at `at`: nanoseconds since the Unix epoch,
/// the unit the reference node writes on Linux (`system_clock` ticks) and RsNano writes
/// everywhere, so samples written here sort and age together with a snapshot's.
pub fn online_weight_key(at: std::time::SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The node's database. Share it behind an `Arc`: any number of threads may read
/// concurrently while one writes.
pub struct Store {
    env: heed::Env<WithoutTls>,
    t: Tables,
    network: Network,
    /// The weights of the representatives at or above `weight_minimum` as of the last
    /// commit; lighter ones are read from the table when asked.
    weights: RwLock<HashMap<Account, Amount>>,
    /// [`StoreOptions::rep_weight_cache_minimum`].
    weight_minimum: Amount,
    /// Representatives whose cached weight changed since the last
    /// [`Store::take_weight_changes`]: what something derived from every weight (the
    /// representative tiers) must look at again, instead of the whole cache.
    weight_changes: Mutex<WeightChanges>,
    cemented: AtomicU64,
    conf_log: confirmation_log::ConfirmationLog,
    /// The file's next pages written ahead of LMDB (see [`crate::tail`]); None for a
    /// read-only store and under `MDB_WRITEMAP` (LMDB then sizes the file to its map and
    /// writes through the map).
    tail: Option<FileTail>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.env.path())
            .field("network", &self.network)
            .finish()
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Either kind of transaction; every read accepts both.
pub trait Txn: sealed::Sealed {
    #[doc(hidden)]
    fn raw(&self) -> &heed::RoTxn<'_>;
}

/// A consistent snapshot for reading. Cheap to open; do not keep it for long, as LMDB
/// cannot reuse pages freed after the snapshot while it is alive. It may be sent to
/// another thread.
pub struct ReadTxn<'s> {
    txn: heed::RoTxn<'s, WithoutTls>,
}

/// The single writer. Nothing it writes is visible to others, or durable, until
/// [`WriteTxn::commit`]; dropping it aborts. Only one exists at a time: opening a second
/// one blocks until the first ends (on the same thread, that is a deadlock).
pub struct WriteTxn<'s> {
    txn: heed::RwTxn<'s>,
    store: &'s Store,
    weights: HashMap<Account, Amount>,
    cemented_delta: i128,
}

impl sealed::Sealed for ReadTxn<'_> {}
impl sealed::Sealed for WriteTxn<'_> {}

impl Txn for ReadTxn<'_> {
    fn raw(&self) -> &heed::RoTxn<'_> {
        &self.txn
    }
}

impl Txn for WriteTxn<'_> {
    fn raw(&self) -> &heed::RoTxn<'_> {
        &self.txn
    }
}

/// Rows written per transaction by [`Store::rebuild_into`].
const REBUILD_BATCH: u64 = 65_536;

/// Changed representatives remembered between two [`Store::take_weight_changes`];
/// beyond it only "too many" is: the taker then passes over the whole cache, which
/// costs about what that many changes would (64 Ki: ~2 MB of accounts; a sync changes
/// at most two weights per block, so the tiers' 500 ms interval stays within it below
/// 130k blocks/s).
const WEIGHT_CHANGES_MAX: usize = 65_536;

/// See [`Store::take_weight_changes`].
#[derive(Debug)]
struct WeightChanges {
    reps: HashSet<Account>,
    /// More than [`WEIGHT_CHANGES_MAX`] changed, or the cache was loaded whole.
    all: bool,
}

impl Store {
    /// Opens or creates the ledger file `path` (conventionally `<data_dir>/data.ldb`)
    /// for `network`.
    ///
    /// The file is the reference node's layout. A ledger of another network is refused;
    /// versions 21–23 are upgraded (in one transaction, as the reference does), older or
    /// newer versions, truncated or damaged files are refused before anything is written.
    /// A directory at `path` holding this node's earlier layout (`data.mdb`) is migrated
    /// first (see [`crate::migrate`]). Every error names the file.
    pub fn open(path: &Path, network: Network, options: &StoreOptions) -> Result<Store> {
        Self::open_inner(path, network, options).map_err(|e| match e {
            e @ StoreError::Open { .. } => e,
            e => StoreError::Open {
                path: path.to_path_buf(),
                source: Box::new(e),
            },
        })
    }

    fn open_inner(path: &Path, network: Network, options: &StoreOptions) -> Result<Store> {
        crate::migrate::migrate_if_needed(path, network, options)?;
        if path.exists() {
            crate::file_check::check_file(path)?;
        }
        let env = open_env(path, options)?;
        let version = stored_version(&env)?;
        let t = match version {
            None => {
                if let Some(blocks) = open_table(&env, "blocks")? {
                    let r = env.read_txn()?;
                    if !blocks.is_empty(&r)? {
                        return Err(StoreError::Corrupt {
                            table: "meta",
                            detail: "no store version, but the file holds blocks".into(),
                        });
                    }
                }
                create_tables(&env)?
            }
            Some(v) if v > STORE_VERSION => {
                return Err(StoreError::VersionTooNew {
                    found: v,
                    supported: STORE_VERSION,
                })
            }
            Some(v) if v < STORE_VERSION_MINIMUM => {
                return Err(StoreError::VersionTooOld {
                    found: v,
                    minimum: STORE_VERSION_MINIMUM,
                })
            }
            Some(v) => {
                check_network(&env, network)?;
                if v < STORE_VERSION {
                    upgrade(&env, v, &options.progress)?;
                }
                open_tables(&env)?
            }
        };
        // This node's extra tables (the reference ignores them), created only once the
        // file passed every check.
        let conf_log = confirmation_log::ConfirmationLog::open(&env)?;
        let mut store = Self::assemble(env, t, network, conf_log, options)?;
        if store.env.get_flags()? & EnvFlags::WRITE_MAP.bits() == 0 {
            let info = store.env.info();
            let page_size = u64::from(store.database_stat().page_size);
            store.tail = FileTail::open(path, page_size, info.map_size as u64);
        }
        crate::migrate::remove_old_layout(path, &options.progress)?;
        Ok(store)
    }

    /// Opens an existing ledger file for reading only: LMDB's `MDB_RDONLY` opens and maps
    /// the data file read-only, so nothing done through this store can change it (a
    /// write transaction fails). For the tools that check or dump a ledger, such as a
    /// downloaded snapshot before the node runs on it. The same refusals as
    /// [`Store::open`]; a file that needs an upgrade or a migration is refused too, since
    /// both write (the node does them at its next start). This node's confirmation log
    /// reads as empty in a file that has none.
    pub fn open_read_only(path: &Path, network: Network, options: &StoreOptions) -> Result<Store> {
        Self::open_read_only_inner(path, network, options).map_err(|e| StoreError::Open {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
    }

    fn open_read_only_inner(
        path: &Path,
        network: Network,
        options: &StoreOptions,
    ) -> Result<Store> {
        if path.is_dir() {
            return Err(StoreError::Migrate(
                "this is the earlier directory layout; start the node once to migrate it \
                 (a read-only open does not write)"
                    .into(),
            ));
        }
        if !path.exists() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no ledger file",
            )));
        }
        crate::file_check::check_file(path)?;
        let env = crate::env::open_env_read_only(path, options)?;
        let version = stored_version(&env)?;
        match version {
            None => {
                return Err(StoreError::Corrupt {
                    table: "meta",
                    detail: "no store version (not a ledger this node or the reference wrote)"
                        .into(),
                })
            }
            Some(v) if v > STORE_VERSION => {
                return Err(StoreError::VersionTooNew {
                    found: v,
                    supported: STORE_VERSION,
                })
            }
            Some(v) if v < STORE_VERSION => {
                return Err(StoreError::Upgrade {
                    from: v,
                    reason: format!(
                        "it needs the upgrade to version {STORE_VERSION}, which writes; start \
                         the node once to upgrade it (a read-only open does not write)"
                    ),
                })
            }
            Some(_) => {}
        }
        check_network(&env, network)?;
        let t = open_tables(&env)?;
        let conf_log = confirmation_log::ConfirmationLog::open_existing(&env)?;
        Self::assemble(env, t, network, conf_log, options)
    }

    /// The store over an opened environment, with its caches loaded.
    fn assemble(
        env: heed::Env<WithoutTls>,
        t: Tables,
        network: Network,
        conf_log: confirmation_log::ConfirmationLog,
        options: &StoreOptions,
    ) -> Result<Store> {
        let store = Store {
            env,
            t,
            network,
            weights: RwLock::new(HashMap::new()),
            weight_minimum: options.rep_weight_cache_minimum,
            weight_changes: Mutex::new(WeightChanges {
                reps: HashSet::new(),
                all: true,
            }),
            cemented: AtomicU64::new(0),
            conf_log,
            tail: None,
        };
        store.load_caches()?;
        Ok(store)
    }

    fn load_caches(&self) -> Result<()> {
        let txn = self.read_txn()?;
        let mut w = HashMap::new();
        for item in self.t.rep_weights.iter(txn.raw())? {
            let (k, v) = item?;
            let weight = decode_amount("rep_weights", v)?;
            if self.caches_weight(weight) {
                w.insert(decode_account("rep_weights", k)?, weight);
            }
        }
        let mut cemented = 0u64;
        for item in self.t.confirmation_height.iter(txn.raw())? {
            let (_, v) = item?;
            cemented += ConfirmationHeightInfo::decode(v)?.height;
        }
        *self.weights.write().unwrap_or_else(|e| e.into_inner()) = w;
        self.weight_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .all = true;
        self.cemented.store(cemented, Ordering::Release);
        Ok(())
    }

    pub fn network(&self) -> Network {
        self.network
    }

    /// The ledger file.
    pub fn path(&self) -> &Path {
        self.env.path()
    }

    pub fn read_txn(&self) -> Result<ReadTxn<'_>> {
        Ok(ReadTxn {
            txn: self.env.read_txn()?,
        })
    }

    pub fn write_txn(&self) -> Result<WriteTxn<'_>> {
        let txn = self.env.write_txn()?;
        // Before the transaction writes anything, with LMDB's writer lock held.
        if let Some(tail) = &self.tail {
            tail.extend(self.last_page() as u64);
        }
        Ok(WriteTxn {
            txn,
            store: self,
            weights: HashMap::new(),
            cemented_delta: 0,
        })
    }

    /// The sync mode the open environment really has, read back from LMDB's flags (what
    /// the node logs at start, so an operator sees a relaxed mode took effect).
    pub fn sync_mode(&self) -> Result<LmdbSync> {
        let f = self.env.get_flags()?;
        let has = |flag: EnvFlags| f & flag.bits() == flag.bits();
        Ok(if has(EnvFlags::WRITE_MAP) && has(EnvFlags::NO_SYNC) {
            LmdbSync::NosyncUnsafeLargeMemory
        } else if has(EnvFlags::NO_SYNC) {
            LmdbSync::NosyncUnsafe
        } else if has(EnvFlags::NO_META_SYNC) {
            LmdbSync::NosyncSafe
        } else {
            LmdbSync::Always
        })
    }

    /// The map size LMDB uses (the configured size rounded up to whole pages, or the
    /// file's used size if that is larger).
    pub fn map_size(&self) -> usize {
        self.env.info().map_size
    }

    /// Flushes the OS buffers of the data file (commits already sync unless
    /// `lmdb.sync` says otherwise; this is for backups and shutdown).
    pub fn sync(&self) -> Result<()> {
        Ok(self.env.force_sync()?)
    }

    /// LMDB's statistics of the environment's main database (page size, B-tree depth,
    /// page counts; its entries are the named tables): RPC `stats` of type `database`.
    pub fn database_stat(&self) -> heed::DatabaseStat {
        self.env.unnamed_database_stat()
    }

    /// LMDB's statistics of each of the ten tables by name (B-tree depth, branch, leaf
    /// and overflow pages, entries), read in one read transaction: how each tree grows
    /// with the ledger, for benches of the write path.
    pub fn table_stats(&self) -> Result<Vec<(&'static str, heed::DatabaseStat)>> {
        let r = self.env.read_txn()?;
        self.t
            .named()
            .into_iter()
            .map(|(name, db)| Ok((name, db.stat(&r)?)))
            .collect()
    }

    /// The number of the last page in use in the file (LMDB's `me_last_pgno`): the
    /// file's used size in pages, free pages included.
    pub fn last_page(&self) -> usize {
        self.env.info().last_page_number
    }

    /// Size in bytes of the ledger file on disk.
    pub fn file_size(&self) -> Result<u64> {
        Ok(self.env.real_disk_size()?)
    }

    /// Writes a compacted copy of the whole ledger to the file `dest` (itself a ledger
    /// file that opens with [`Store::open`]): only pages in use are copied, renumbered
    /// in order, so space freed by deletions is left behind. The copy is a consistent
    /// snapshot (it reads in one read transaction, so it may run while others write)
    /// and is flushed to disk before this returns. An existing `dest` is overwritten; on
    /// failure `dest` is removed. Returns the size of the copy.
    pub fn copy_compacted(&self, dest: &Path) -> Result<u64> {
        if let Some(parent) = dest.parent() {
            fs::create_dir_all(parent)?;
        }
        let file = self
            .env
            .copy_to_path(dest, heed::CompactionOption::Enabled)?;
        file.sync_all()?;
        Ok(file.metadata()?.len())
    }

    /// Writes every row of every table, in key order, into a new ledger file `dest`,
    /// appending (so B-tree pages are filled completely instead of being left half full
    /// by random inserts). `dest` must not exist yet. Commits every few tens of thousands
    /// of rows, so memory stays bounded; the result may hold a few free pages, which a
    /// [`Store::copy_compacted`] of it drops. Returns the number of rows written.
    pub fn rebuild_into(&self, dest: &Path, options: &StoreOptions) -> Result<u64> {
        if dest.exists() {
            return Err(StoreError::Io(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists", dest.display()),
            )));
        }
        let env = open_env(dest, options)?;
        let out = create_tables(&env)?;
        let src = self.read_txn()?;
        let mut rows = 0u64;
        for (from, to) in self.t.all().into_iter().zip(out.all()) {
            let mut txn = env.write_txn()?;
            if std::ptr::eq(to, &out.meta) {
                to.clear(&mut txn)?;
            }
            let mut in_txn = 0u64;
            for item in from.iter(src.raw())? {
                let (k, v) = item?;
                to.put_with_flags(&mut txn, heed::PutFlags::APPEND, k, v)?;
                rows += 1;
                in_txn += 1;
                if in_txn == REBUILD_BATCH {
                    txn.commit()?;
                    txn = env.write_txn()?;
                    in_txn = 0;
                }
            }
            txn.commit()?;
        }
        let out_log = confirmation_log::ConfirmationLog::open(&env)?;
        rows += self.conf_log.copy_into(&src, &env, &out_log)?;
        env.force_sync()?;
        Ok(rows)
    }

    // ---- meta ----

    /// True once the ledger holds its genesis account (the reference writes genesis
    /// exactly when `accounts` is empty).
    pub fn is_initialized<T: Txn>(&self, txn: &T) -> Result<bool> {
        Ok(!self.t.accounts.is_empty(txn.raw())?)
    }

    /// Store version recorded in `meta` (24 once open).
    pub fn version<T: Txn>(&self, txn: &T) -> Result<Option<u32>> {
        self.t
            .meta
            .get(txn.raw(), &META_VERSION_KEY)?
            .map(decode_version)
            .transpose()
    }

    // ---- blocks ----

    pub fn block<T: Txn>(&self, txn: &T, hash: &BlockHash) -> Result<Option<StoredBlock>> {
        match self.t.blocks.get(txn.raw(), &hash.0)? {
            Some(v) => Ok(Some(StoredBlock::decode(v)?)),
            None => Ok(None),
        }
    }

    /// The block's type and `previous` alone: cheaper than [`Store::block`] for a walk
    /// down a chain.
    pub fn block_type_and_previous<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<(BlockType, BlockHash)>> {
        match self.t.blocks.get(txn.raw(), &hash.0)? {
            Some(v) => Ok(Some(StoredBlock::decode_type_and_previous(v)?)),
            None => Ok(None),
        }
    }

    /// The sideband alone: cheaper than [`Store::block`] when the block is not needed.
    pub fn block_sideband<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<BlockSideband>> {
        match self.t.blocks.get(txn.raw(), &hash.0)? {
            Some(v) => Ok(Some(StoredBlock::decode_sideband(v)?)),
            None => Ok(None),
        }
    }

    pub fn block_exists<T: Txn>(&self, txn: &T, hash: &BlockHash) -> Result<bool> {
        Ok(self.t.blocks.get(txn.raw(), &hash.0)?.is_some())
    }

    pub fn block_count<T: Txn>(&self, txn: &T) -> Result<u64> {
        Ok(self.t.blocks.len(txn.raw())?)
    }

    /// Every block in hash order (diagnostics and exports).
    pub fn iter_blocks<'t, T: Txn>(
        &self,
        txn: &'t T,
    ) -> Result<impl Iterator<Item = Result<(BlockHash, StoredBlock)>> + 't> {
        Ok(self.t.blocks.iter(txn.raw())?.map(|r| {
            let (k, v) = r?;
            Ok((decode_hash("blocks", k)?, StoredBlock::decode(v)?))
        }))
    }

    pub fn pruned_exists<T: Txn>(&self, txn: &T, hash: &BlockHash) -> Result<bool> {
        Ok(self.t.pruned.get(txn.raw(), &hash.0)?.is_some())
    }

    pub fn pruned_count<T: Txn>(&self, txn: &T) -> Result<u64> {
        Ok(self.t.pruned.len(txn.raw())?)
    }

    // ---- accounts ----

    pub fn account<T: Txn>(&self, txn: &T, account: &Account) -> Result<Option<AccountInfo>> {
        match self.t.accounts.get(txn.raw(), &account.0)? {
            Some(v) => Ok(Some(AccountInfo::decode(v)?)),
            None => Ok(None),
        }
    }

    pub fn account_count<T: Txn>(&self, txn: &T) -> Result<u64> {
        Ok(self.t.accounts.len(txn.raw())?)
    }

    /// Accounts in ascending key order starting at `start` (inclusive): frontier
    /// requests, ledger RPCs and delegator scans walk this.
    pub fn accounts_from<'t, T: Txn>(
        &self,
        txn: &'t T,
        start: &Account,
    ) -> Result<impl Iterator<Item = Result<(Account, AccountInfo)>> + 't> {
        let range = (Bound::Included(&start.0[..]), Bound::Unbounded);
        Ok(self.t.accounts.range(txn.raw(), &range)?.map(|r| {
            let (k, v) = r?;
            Ok((decode_account("accounts", k)?, AccountInfo::decode(v)?))
        }))
    }

    // ---- pending (receivables) ----

    pub fn pending<T: Txn>(&self, txn: &T, key: &PendingKey) -> Result<Option<PendingInfo>> {
        match self.t.pending.get(txn.raw(), &key.encode())? {
            Some(v) => Ok(Some(PendingInfo::decode(v)?)),
            None => Ok(None),
        }
    }

    /// Receivables in key order starting at `start` (inclusive), across accounts.
    pub fn pending_from<'t, T: Txn>(
        &self,
        txn: &'t T,
        start: &PendingKey,
    ) -> Result<impl Iterator<Item = Result<(PendingKey, PendingInfo)>> + 't> {
        let key = start.encode();
        let range = (Bound::Included(&key[..]), Bound::Unbounded);
        Ok(self.t.pending.range(txn.raw(), &range)?.map(|r| {
            let (k, v) = r?;
            Ok((PendingKey::decode(k)?, PendingInfo::decode(v)?))
        }))
    }

    /// The receivables of one account, ordered by send hash.
    pub fn pending_of<'t, T: Txn>(
        &self,
        txn: &'t T,
        account: &Account,
    ) -> Result<impl Iterator<Item = Result<(PendingKey, PendingInfo)>> + 't> {
        Ok(self.t.pending.prefix_iter(txn.raw(), &account.0)?.map(|r| {
            let (k, v) = r?;
            Ok((PendingKey::decode(k)?, PendingInfo::decode(v)?))
        }))
    }

    pub fn pending_any<T: Txn>(&self, txn: &T, account: &Account) -> Result<bool> {
        Ok(self
            .t
            .pending
            .prefix_iter(txn.raw(), &account.0)?
            .next()
            .transpose()?
            .is_some())
    }

    pub fn pending_count<T: Txn>(&self, txn: &T) -> Result<u64> {
        Ok(self.t.pending.len(txn.raw())?)
    }

    // ---- confirmation height ----

    /// Height 0 (nothing cemented) for accounts without an entry.
    pub fn confirmation_height<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
    ) -> Result<ConfirmationHeightInfo> {
        match self.t.confirmation_height.get(txn.raw(), &account.0)? {
            Some(v) => ConfirmationHeightInfo::decode(v),
            None => Ok(ConfirmationHeightInfo::default()),
        }
    }

    pub fn confirmation_heights_from<'t, T: Txn>(
        &self,
        txn: &'t T,
        start: &Account,
    ) -> Result<impl Iterator<Item = Result<(Account, ConfirmationHeightInfo)>> + 't> {
        let range = (Bound::Included(&start.0[..]), Bound::Unbounded);
        Ok(self
            .t
            .confirmation_height
            .range(txn.raw(), &range)?
            .map(|r| {
                let (k, v) = r?;
                Ok((
                    decode_account("confirmation_height", k)?,
                    ConfirmationHeightInfo::decode(v)?,
                ))
            }))
    }

    /// Sum of all confirmation heights as of the last commit.
    pub fn cemented_count(&self) -> u64 {
        self.cemented.load(Ordering::Acquire)
    }

    // ---- representative weights ----

    /// Weight as written in `txn` (sees the transaction's own changes).
    pub fn rep_weight<T: Txn>(&self, txn: &T, rep: &Account) -> Result<Amount> {
        match self.t.rep_weights.get(txn.raw(), &rep.0)? {
            Some(v) => decode_amount("rep_weights", v),
            None => Ok(Amount::ZERO),
        }
    }

    /// Weight as of the last commit: from memory for a representative at or above
    /// [`StoreOptions::rep_weight_cache_minimum`] (every vote tallied), read from the
    /// table for a lighter one (zero if that read fails: the store is then failing
    /// for every reader, and the error surfaces on the next transaction).
    pub fn rep_weight_cached(&self, rep: &Account) -> Amount {
        if let Some(w) = self
            .weights
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(rep)
        {
            return *w;
        }
        if self.weight_minimum.is_zero() {
            return Amount::ZERO;
        }
        self.read_txn()
            .and_then(|t| self.rep_weight(&t, rep))
            .unwrap_or_default()
    }

    /// Whether the cache holds a representative of this weight: the reference keeps
    /// those at or above the minimum, and none of zero.
    fn caches_weight(&self, weight: Amount) -> bool {
        !weight.is_zero() && weight >= self.weight_minimum
    }

    /// The weight below which representatives are not cached
    /// ([`StoreOptions::rep_weight_cache_minimum`]).
    pub fn rep_weight_cache_minimum(&self) -> Amount {
        self.weight_minimum
    }

    /// Runs `f` over the cached weights (every representative at or above
    /// [`StoreOptions::rep_weight_cache_minimum`]) as of the last commit, without
    /// copying them: a periodic pass that copied would allocate the whole cache each
    /// time. Commits wait for `f` to return.
    pub fn with_rep_weights_cached<R>(&self, f: impl FnOnce(&HashMap<Account, Amount>) -> R) -> R {
        f(&self.weights.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The representatives whose cached weight changed since the last call (in no
    /// order), or None when the whole cache must be looked at (first call, or too many
    /// changed). For one taker: the representative tiers.
    pub fn take_weight_changes(&self) -> Option<Vec<Account>> {
        let mut c = self
            .weight_changes
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let reps = std::mem::take(&mut c.reps);
        if std::mem::replace(&mut c.all, false) {
            return None;
        }
        Some(reps.into_iter().collect())
    }

    /// A copy of the cached weights (every representative at or above
    /// [`StoreOptions::rep_weight_cache_minimum`]) as of the last commit.
    pub fn rep_weights_cached(&self) -> HashMap<Account, Amount> {
        self.weights
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn iter_rep_weights<'t, T: Txn>(
        &self,
        txn: &'t T,
    ) -> Result<impl Iterator<Item = Result<(Account, Amount)>> + 't> {
        Ok(self.t.rep_weights.iter(txn.raw())?.map(|r| {
            let (k, v) = r?;
            Ok((
                decode_account("rep_weights", k)?,
                decode_amount("rep_weights", v)?,
            ))
        }))
    }

    // ---- final votes ----

    pub fn final_vote<T: Txn>(&self, txn: &T, root: &QualifiedRoot) -> Result<Option<BlockHash>> {
        match self.t.final_votes.get(txn.raw(), &root.to_bytes())? {
            Some(v) => Ok(Some(decode_hash("final_votes", v)?)),
            None => Ok(None),
        }
    }

    pub fn iter_final_votes<'t, T: Txn>(
        &self,
        txn: &'t T,
    ) -> Result<impl Iterator<Item = Result<(QualifiedRoot, BlockHash)>> + 't> {
        Ok(self.t.final_votes.iter(txn.raw())?.map(|r| {
            let (k, v) = r?;
            Ok((decode_qualified_root(k)?, decode_hash("final_votes", v)?))
        }))
    }

    pub fn final_vote_count<T: Txn>(&self, txn: &T) -> Result<u64> {
        Ok(self.t.final_votes.len(txn.raw())?)
    }

    // ---- peers ----

    /// Known peers with their last-seen time (milliseconds since the Unix epoch).
    pub fn iter_peers<'t, T: Txn>(
        &self,
        txn: &'t T,
    ) -> Result<impl Iterator<Item = Result<(SocketAddrV6, u64)>> + 't> {
        Ok(self.t.peers.iter(txn.raw())?.map(|r| {
            let (k, v) = r?;
            // Values written before the reference's V27 are empty: read as 0.
            let seen = if v.is_empty() {
                0
            } else {
                decode_u64("peers", v)?
            };
            Ok((decode_endpoint(k)?, seen))
        }))
    }

    pub fn peer_count<T: Txn>(&self, txn: &T) -> Result<u64> {
        Ok(self.t.peers.len(txn.raw())?)
    }

    // ---- online weight samples ----

    /// Samples oldest first (keys are timestamps).
    pub fn iter_online_weight<'t, T: Txn>(
        &self,
        txn: &'t T,
    ) -> Result<impl Iterator<Item = Result<(u64, Amount)>> + 't> {
        Ok(self.t.online_weight.iter(txn.raw())?.map(|r| {
            let (k, v) = r?;
            Ok((
                decode_u64("online_weight", k)?,
                decode_amount("online_weight", v)?,
            ))
        }))
    }

    pub fn online_weight_count<T: Txn>(&self, txn: &T) -> Result<u64> {
        Ok(self.t.online_weight.len(txn.raw())?)
    }
}

/// The store version the file records in `meta`, `None` for a file without one (new,
/// or not a ledger): read the same way by the read-write and the read-only open.
fn stored_version(env: &heed::Env<WithoutTls>) -> Result<Option<u32>> {
    match open_table(env, "meta")? {
        None => Ok(None),
        Some(meta) => {
            let r = env.read_txn()?;
            meta.get(&r, &META_VERSION_KEY)?
                .map(decode_version)
                .transpose()
        }
    }
}

impl<'s> WriteTxn<'s> {
    pub fn store(&self) -> &'s Store {
        self.store
    }

    /// Makes every write durable (fsync) and visible, then publishes the cached weight
    /// and cemented-count changes.
    pub fn commit(self) -> Result<()> {
        let WriteTxn {
            txn,
            store,
            weights,
            cemented_delta,
        } = self;
        txn.commit()?;
        if let Some(tail) = &store.tail {
            tail.arm();
        }
        if !weights.is_empty() {
            let mut cache = store.weights.write().unwrap_or_else(|e| e.into_inner());
            {
                let mut c = store
                    .weight_changes
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                if !c.all {
                    c.reps.extend(weights.keys().copied());
                    if c.reps.len() > WEIGHT_CHANGES_MAX {
                        c.reps = HashSet::new();
                        c.all = true;
                    }
                }
            }
            for (rep, w) in weights {
                if store.caches_weight(w) {
                    cache.insert(rep, w);
                } else {
                    cache.remove(&rep);
                }
            }
        }
        if cemented_delta != 0 {
            let cur = store.cemented.load(Ordering::Acquire) as i128;
            store
                .cemented
                .store((cur + cemented_delta).max(0) as u64, Ordering::Release);
        }
        Ok(())
    }

    /// Discards every write of this transaction.
    pub fn abort(self) {
        self.txn.abort();
    }

    fn t(&self) -> &'s Tables {
        &self.store.t
    }

    // ---- meta ----

    /// Overwrites the store version; for upgrade tests and tools.
    pub fn set_version(&mut self, version: u32) -> Result<()> {
        let t = self.t();
        t.meta
            .put(&mut self.txn, &META_VERSION_KEY, &version_value(version))?;
        Ok(())
    }

    // ---- blocks ----

    pub fn put_block(&mut self, hash: &BlockHash, block: &StoredBlock) -> Result<()> {
        self.put_block_parts(hash, &block.block, &block.sideband)
    }

    pub fn put_block_parts(
        &mut self,
        hash: &BlockHash,
        block: &nano_core::Block,
        sideband: &BlockSideband,
    ) -> Result<()> {
        let t = self.t();
        t.blocks.put(
            &mut self.txn,
            &hash.0,
            &StoredBlock::encode_parts(block, sideband),
        )?;
        Ok(())
    }

    /// Rewrites only the successor field of a stored block. Returns false if the block
    /// does not exist. One search of the blocks table: the record is read and written
    /// back through the same cursor (a get and a put searched the tree twice, for every
    /// block written after its predecessor).
    pub fn set_successor(&mut self, hash: &BlockHash, successor: &BlockHash) -> Result<bool> {
        let t = self.t();
        let key = &hash.0[..];
        let range = (Bound::Included(key), Bound::Included(key));
        let mut at_key = t.blocks.range_mut(&mut self.txn, &range)?;
        let Some((_, v)) = at_key.next().transpose()? else {
            return Ok(false);
        };
        let mut v = v.to_vec();
        let t_byte = v.first().copied().unwrap_or(0);
        let at = nano_core::BlockType::from_u8(t_byte)
            .filter(|bt| bt.body_size().is_some())
            .map(successor_offset)
            .ok_or_else(|| StoreError::Corrupt {
                table: "blocks",
                detail: format!("bad type byte {t_byte}"),
            })?;
        if v.len() < at + 32 {
            return Err(StoreError::Corrupt {
                table: "blocks",
                detail: "value too short for a sideband".into(),
            });
        }
        v[at..at + 32].copy_from_slice(&successor.0);
        // SAFETY: the cursor stands on `hash` (the range holds that key only), and
        // neither the key nor the value written borrows from the database (`v` is a
        // copy).
        Ok(unsafe { at_key.put_current(&hash.0, &v)? })
    }

    pub fn del_block(&mut self, hash: &BlockHash) -> Result<bool> {
        let t = self.t();
        Ok(t.blocks.delete(&mut self.txn, &hash.0)?)
    }

    pub fn put_pruned(&mut self, hash: &BlockHash) -> Result<()> {
        let t = self.t();
        t.pruned.put(&mut self.txn, &hash.0, &[])?;
        Ok(())
    }

    pub fn del_pruned(&mut self, hash: &BlockHash) -> Result<bool> {
        let t = self.t();
        Ok(t.pruned.delete(&mut self.txn, &hash.0)?)
    }

    // ---- accounts ----

    pub fn put_account(&mut self, account: &Account, info: &AccountInfo) -> Result<()> {
        let t = self.t();
        t.accounts.put(&mut self.txn, &account.0, &info.encode())?;
        Ok(())
    }

    pub fn del_account(&mut self, account: &Account) -> Result<bool> {
        let t = self.t();
        Ok(t.accounts.delete(&mut self.txn, &account.0)?)
    }

    // ---- pending ----

    pub fn put_pending(&mut self, key: &PendingKey, info: &PendingInfo) -> Result<()> {
        let t = self.t();
        t.pending
            .put(&mut self.txn, &key.encode(), &info.encode())?;
        Ok(())
    }

    pub fn del_pending(&mut self, key: &PendingKey) -> Result<bool> {
        let t = self.t();
        Ok(t.pending.delete(&mut self.txn, &key.encode())?)
    }

    // ---- confirmation height ----

    /// Sets an account's cemented height; the cemented count follows on commit.
    pub fn put_confirmation_height(
        &mut self,
        account: &Account,
        info: &ConfirmationHeightInfo,
    ) -> Result<()> {
        let old = self.store.confirmation_height(self, account)?.height;
        let t = self.t();
        t.confirmation_height
            .put(&mut self.txn, &account.0, &info.encode())?;
        self.cemented_delta += info.height as i128 - old as i128;
        Ok(())
    }

    pub fn del_confirmation_height(&mut self, account: &Account) -> Result<bool> {
        let old = self.store.confirmation_height(self, account)?.height;
        let t = self.t();
        let existed = t.confirmation_height.delete(&mut self.txn, &account.0)?;
        self.cemented_delta -= old as i128;
        Ok(existed)
    }

    // ---- representative weights ----

    /// Sets a representative's weight; zero removes the row. The in-memory cache follows
    /// on commit.
    pub fn put_rep_weight(&mut self, rep: &Account, weight: Amount) -> Result<()> {
        let t = self.t();
        if weight.is_zero() {
            t.rep_weights.delete(&mut self.txn, &rep.0)?;
        } else {
            t.rep_weights
                .put(&mut self.txn, &rep.0, &weight.to_be_bytes())?;
        }
        self.weights.insert(*rep, weight);
        Ok(())
    }

    // ---- final votes ----

    /// Records that this node final-voted `hash` for `root`. Returns false, writing
    /// nothing, if a different block was already final-voted for that root.
    pub fn put_final_vote(&mut self, root: &QualifiedRoot, hash: &BlockHash) -> Result<bool> {
        let t = self.t();
        let key = root.to_bytes();
        if let Some(existing) = t.final_votes.get(&self.txn, &key)? {
            return Ok(existing == hash.0);
        }
        t.final_votes.put(&mut self.txn, &key, &hash.0)?;
        Ok(true)
    }

    pub fn del_final_vote(&mut self, root: &QualifiedRoot) -> Result<bool> {
        let t = self.t();
        Ok(t.final_votes.delete(&mut self.txn, &root.to_bytes())?)
    }

    pub fn clear_final_votes(&mut self) -> Result<()> {
        let t = self.t();
        t.final_votes.clear(&mut self.txn)?;
        Ok(())
    }

    // ---- peers ----

    pub fn put_peer(&mut self, endpoint: &SocketAddrV6, last_seen_ms: u64) -> Result<()> {
        let t = self.t();
        t.peers.put(
            &mut self.txn,
            &encode_endpoint(endpoint),
            &last_seen_ms.to_be_bytes(),
        )?;
        Ok(())
    }

    pub fn del_peer(&mut self, endpoint: &SocketAddrV6) -> Result<bool> {
        let t = self.t();
        Ok(t.peers.delete(&mut self.txn, &encode_endpoint(endpoint))?)
    }

    pub fn clear_peers(&mut self) -> Result<()> {
        let t = self.t();
        t.peers.clear(&mut self.txn)?;
        Ok(())
    }

    // ---- online weight ----

    /// Stores a sample under `timestamp`, which must be an [`online_weight_key`].
    pub fn put_online_weight(&mut self, timestamp: u64, weight: Amount) -> Result<()> {
        let t = self.t();
        t.online_weight.put(
            &mut self.txn,
            &timestamp.to_be_bytes(),
            &weight.to_be_bytes(),
        )?;
        Ok(())
    }

    pub fn del_online_weight(&mut self, timestamp: u64) -> Result<bool> {
        let t = self.t();
        Ok(t.online_weight
            .delete(&mut self.txn, &timestamp.to_be_bytes())?)
    }
}
