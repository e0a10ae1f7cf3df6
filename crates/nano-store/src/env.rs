//! The LMDB environment of the ledger file and its table set: how the file is opened
//! (the reference's flags, map size, sync mode), the ten reference tables and this
//! node's extra ones by name, the `meta` version encoding, and creating or opening the
//! tables. The store, the upgrades and the migration all build on this; it knows
//! nothing of them.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;
use std::sync::Arc;

use heed::types::Bytes;
use heed::{CommitOrAbort, EnvFlags, EnvOpenOptions, WithoutTls};
use nano_core::Amount;

use crate::{Result, StoreError};

/// The layout this software writes: the reference's `version_current`.
pub const STORE_VERSION: u32 = 24;
/// The oldest version the reference (and this node) upgrades: `version_minimum`.
pub const STORE_VERSION_MINIMUM: u32 = 21;

pub(crate) type Db = heed::Database<'static, Bytes, Bytes>;

/// The `meta` table's one key: the 32-byte big-endian integer 1.
pub(crate) const META_VERSION_KEY: [u8; 32] = {
    let mut k = [0u8; 32];
    k[31] = 1;
    k
};

/// `[node.lmdb] sync`: how commits reach the disk (the reference's modes and flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LmdbSync {
    /// fsync on every commit: a crash loses nothing committed.
    #[default]
    Always,
    /// `MDB_NOMETASYNC`: the meta page is not synced; a crash may lose the last commit
    /// but never corrupts the file.
    NosyncSafe,
    /// `MDB_NOSYNC`: no fsync; a system crash may lose or corrupt recent commits.
    NosyncUnsafe,
    /// `MDB_NOSYNC | MDB_WRITEMAP | MDB_MAPASYNC`: fastest, same risk, and the whole map
    /// may become resident.
    NosyncUnsafeLargeMemory,
}

impl LmdbSync {
    /// Parses the config value; anything else is refused (the caller names the key).
    pub fn from_name(s: &str) -> Option<LmdbSync> {
        Some(match s {
            "always" => LmdbSync::Always,
            "nosync_safe" => LmdbSync::NosyncSafe,
            "nosync_unsafe" => LmdbSync::NosyncUnsafe,
            "nosync_unsafe_large_memory" => LmdbSync::NosyncUnsafeLargeMemory,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LmdbSync::Always => "always",
            LmdbSync::NosyncSafe => "nosync_safe",
            LmdbSync::NosyncUnsafe => "nosync_unsafe",
            LmdbSync::NosyncUnsafeLargeMemory => "nosync_unsafe_large_memory",
        }
    }

    fn flags(self) -> EnvFlags {
        match self {
            LmdbSync::Always => EnvFlags::empty(),
            LmdbSync::NosyncSafe => EnvFlags::NO_META_SYNC,
            LmdbSync::NosyncUnsafe => EnvFlags::NO_SYNC,
            LmdbSync::NosyncUnsafeLargeMemory => {
                EnvFlags::NO_SYNC | EnvFlags::WRITE_MAP | EnvFlags::MAP_ASYNC
            }
        }
    }
}
/// Receives one line per step of a long operation (upgrade, migration), for the log.
#[derive(Clone)]
pub struct Progress(pub Arc<dyn Fn(&str) + Send + Sync>);

impl Progress {
    pub fn report(progress: &Option<Progress>, line: &str) {
        if let Some(p) = progress {
            (p.0)(line)
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress(..)")
    }
}

/// How the environment is opened.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Virtual size of the memory map: the largest the file may grow. Only address space
    /// is reserved, so a generous value costs nothing on 64-bit systems. LMDB raises it
    /// to the file's used size if that is larger.
    pub map_size: usize,
    /// Concurrent read transactions allowed (LMDB reader slots).
    pub max_readers: u32,
    pub sync: LmdbSync,
    /// Where upgrade and migration progress goes (nowhere when `None`).
    pub progress: Option<Progress>,
    /// Representatives at or above this weight are kept in memory (the reference's
    /// `representative_vote_weight_minimum`, which the node passes: votes of lighter
    /// ones are not counted, so only their weight queries need them, and those read the
    /// table). Zero keeps every representative, for tools and tests that open a ledger
    /// without a node config.
    pub rep_weight_cache_minimum: Amount,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            map_size: if cfg!(target_pointer_width = "64") {
                64 << 30
            } else {
                1 << 30
            },
            max_readers: 512,
            sync: LmdbSync::Always,
            progress: None,
            rep_weight_cache_minimum: Amount::ZERO,
        }
    }
}

pub(crate) struct Tables {
    pub(crate) blocks: Db,
    pub(crate) accounts: Db,
    pub(crate) pending: Db,
    pub(crate) confirmation_height: Db,
    pub(crate) rep_weights: Db,
    pub(crate) final_votes: Db,
    pub(crate) online_weight: Db,
    pub(crate) peers: Db,
    pub(crate) pruned: Db,
    pub(crate) meta: Db,
}

impl Tables {
    /// Each table with its LMDB name, in [`TABLE_NAMES`] order.
    pub(crate) fn named(&self) -> [(&'static str, Db); 10] {
        let t = [
            self.blocks,
            self.accounts,
            self.pending,
            self.confirmation_height,
            self.rep_weights,
            self.final_votes,
            self.online_weight,
            self.peers,
            self.pruned,
            self.meta,
        ];
        std::array::from_fn(|i| (TABLE_NAMES[i], t[i]))
    }
}

/// The ten tables of a version-24 reference ledger, by their LMDB names.
pub(crate) const TABLE_NAMES: [&str; 10] = [
    "blocks",
    "accounts",
    "pending",
    "confirmation_height",
    "rep_weights",
    "final_votes",
    "online_weight",
    "peers",
    "pruned",
    "meta",
];

/// LMDB's limit on named databases. Every read transaction allocates and zeroes one
/// table record (49 bytes) per allowed database, so the reference's 128 made each read
/// transaction clear ~6.3 KB, about a third of the cost of opening one and reading a row.
/// This store opens at most [`NAMED_TABLES_AT_MOST`]; the margin keeps a future table
/// from failing at open with `MDB_DBS_FULL` before the assertion below is updated.
const MAX_DBS: u32 = 16;

/// The named tables one environment holds open at most: the ten reference tables, the
/// confirmation log's two, and an upgrade's one old table (`unchecked` or `frontiers`).
const NAMED_TABLES_AT_MOST: u32 = TABLE_NAMES.len() as u32 + 2 + 1;
const _: () = assert!(NAMED_TABLES_AT_MOST <= MAX_DBS);

/// This node's own tables in the ledger file (the reference ignores them): the
/// confirmation log, `sequence (u64 big-endian) -> origin (1 byte) ++ block hash (32
/// bytes)`, and its consumers' cursors, `consumer name -> last delivered sequence (u64
/// big-endian)`.
pub(crate) const LOG_TABLE: &str = "confirmation_log";
pub(crate) const CURSOR_TABLE: &str = "confirmation_cursors";

fn table_array<T>(v: Vec<T>) -> [T; 10] {
    match v.try_into() {
        Ok(a) => a,
        Err(_) => unreachable!("one table per name"),
    }
}

fn tables_from(arr: [Db; 10]) -> Tables {
    let [blocks, accounts, pending, confirmation_height, rep_weights, final_votes, online_weight, peers, pruned, meta] =
        arr;
    Tables {
        blocks,
        accounts,
        pending,
        confirmation_height,
        rep_weights,
        final_votes,
        online_weight,
        peers,
        pruned,
        meta,
    }
}

/// Creates the ten tables and records version 24: a fresh ledger, as the reference
/// makes one (the ledger adds genesis afterwards).
pub(crate) fn create_tables(env: &heed::Env<WithoutTls>) -> Result<Tables> {
    create(env, true)
}

/// The ten tables without a store version: a ledger being filled by a migration, which
/// writes the version last.
pub(crate) fn create_tables_unversioned(env: &heed::Env<WithoutTls>) -> Result<Tables> {
    create(env, false)
}

fn create(env: &heed::Env<WithoutTls>, versioned: bool) -> Result<Tables> {
    let wtxn = env.write_txn()?;
    // Committing through heed's database opener yields `'static` table handles: they stay
    // valid for as long as the environment, which the `Store` owns alongside them.
    let dbs = env
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            let mut out = Vec::with_capacity(TABLE_NAMES.len());
            for name in TABLE_NAMES {
                out.push(opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?);
            }
            let meta = out[TABLE_NAMES.len() - 1];
            if versioned && meta.get(wtxn, &META_VERSION_KEY)?.is_none() {
                meta.put(wtxn, &META_VERSION_KEY, &version_value(STORE_VERSION))?;
            }
            Ok(CommitOrAbort::<_, ()>::Commit(table_array(out)))
        })?
        .unwrap_commit();
    Ok(tables_from(dbs))
}

/// Opens the ten tables of an existing version-24 ledger; a missing one is an error (the
/// reference refuses such a file too), and nothing is written.
pub(crate) fn open_tables(env: &heed::Env<WithoutTls>) -> Result<Tables> {
    let rtxn = env.read_txn()?;
    let dbs = env
        .open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_, StoreError> {
            let mut out = Vec::with_capacity(TABLE_NAMES.len());
            for name in TABLE_NAMES {
                match opener.open_database::<Bytes, Bytes>(rtxn, Some(name))? {
                    Some(db) => out.push(db),
                    None => return Err(StoreError::MissingTable(name)),
                }
            }
            Ok(CommitOrAbort::<_, ()>::Commit(table_array(out)))
        })?
        .unwrap_commit();
    Ok(tables_from(dbs))
}

/// Opens one named table read-only if it exists (the version check, the network check
/// and the upgrades look at a file before deciding to write it).
pub(crate) fn open_table(env: &heed::Env<WithoutTls>, name: &str) -> Result<Option<Db>> {
    let rtxn = env.read_txn()?;
    Ok(env
        .open_databases_and_commit(rtxn, |opener, rtxn| -> Result<_, heed::Error> {
            Ok(CommitOrAbort::<_, ()>::Commit(
                opener.open_database::<Bytes, Bytes>(rtxn, Some(name))?,
            ))
        })?
        .unwrap_commit())
}

/// The `meta` value for `version`: a 32-byte big-endian integer.
pub(crate) fn version_value(version: u32) -> [u8; 32] {
    let mut v = [0u8; 32];
    v[28..].copy_from_slice(&version.to_be_bytes());
    v
}

pub(crate) fn decode_version(v: &[u8]) -> Result<u32> {
    if v.len() != 32 || v[..28].iter().any(|b| *b != 0) {
        return Err(StoreError::Corrupt {
            table: "meta",
            detail: format!("version value {v:02x?}"),
        });
    }
    Ok(u32::from_be_bytes([v[28], v[29], v[30], v[31]]))
}

/// Opens the LMDB environment of the ledger file `path` (`MDB_NOSUBDIR`, so LMDB's lock
/// file is `<path>-lock`), with the reference's flags.
pub(crate) fn open_env(path: &Path, options: &StoreOptions) -> Result<heed::Env<WithoutTls>> {
    open_env_with(path, options, EnvFlags::empty())
}

/// [`open_env`] with LMDB's `MDB_RDONLY`: the data file is opened and mapped read-only
/// (only the lock file is written, to register the reader).
pub(crate) fn open_env_read_only(
    path: &Path,
    options: &StoreOptions,
) -> Result<heed::Env<WithoutTls>> {
    open_env_with(path, options, EnvFlags::READ_ONLY)
}

fn open_env_with(
    path: &Path,
    options: &StoreOptions,
    extra: EnvFlags,
) -> Result<heed::Env<WithoutTls>> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)?;
        }
    }
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    // LMDB wants whole pages; the reference passes any configured byte count through,
    // so round it up rather than refuse a value the reference accepts.
    let map_size = options.map_size.max(1).next_multiple_of(page_size());
    opts.map_size(map_size)
        .max_dbs(MAX_DBS)
        .max_readers(options.max_readers);
    // SAFETY: the flags are LMDB's own; the memory map is only unsafe if the file is
    // modified behind LMDB's back (another program writing it without LMDB, or a
    // network filesystem); LMDB's lock file serialises every process that opens it
    // through LMDB.
    unsafe {
        opts.flags(
            EnvFlags::NO_SUB_DIR
                | EnvFlags::NO_READ_AHEAD
                | EnvFlags::NO_MEM_INIT
                | options.sync.flags()
                | extra,
        );
        Ok(opts.open(path)?)
    }
}

/// The host's memory page size (LMDB's page size for files created here).
fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions; it answers -1 on error.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if n > 0 {
        n as usize
    } else {
        4096
    }
}
impl Tables {
    /// Every table, in [`TABLE_NAMES`] order.
    pub(crate) fn all(&self) -> [&Db; 10] {
        [
            &self.blocks,
            &self.accounts,
            &self.pending,
            &self.confirmation_height,
            &self.rep_weights,
            &self.final_votes,
            &self.online_weight,
            &self.peers,
            &self.pruned,
            &self.meta,
        ]
    }
}
