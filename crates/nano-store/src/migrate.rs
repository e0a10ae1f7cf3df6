//! The one-time migration of this node's earlier ledger layout to the reference layout.
//!
//! Earlier versions of this node kept the ledger in a *directory* `data.ldb/` (heed's
//! default `data.mdb` + `lock.mdb`), with the same tables but some integers in another
//! byte order, one sideband layout for every block type, an `unchecked` table and
//! network/genesis keys in `meta` (its store version 1). The reference's `data.ldb` is a
//! *file*. When [`crate::Store::open`] finds the directory, it migrates:
//!
//! 1. Every table is copied, re-encoded, into `data.ldb.migrating` (a reference-layout
//!    file), in key order, committing every [`MIGRATE_BATCH`] rows with a progress line.
//!    The store version is written last, so an interrupted copy is recognisable; a
//!    restart resumes each table after the last key it holds (commits are atomic, so
//!    the copy is always a key-ordered prefix of the source).
//! 2. The old directory is renamed `data.ldb.old-layout`, then the new file renamed to
//!    `data.ldb`. A restart between the two renames finishes the second one.
//! 3. Once the new file has opened (network checked, caches loaded), the old directory
//!    is deleted. Until then it is kept, untouched: the source is opened read-only.

use std::ffi::OsString;
use std::fs;
use std::ops::Bound;
use std::path::{Path, PathBuf};

use heed::types::Bytes;
use heed::{CommitOrAbort, EnvFlags, EnvOpenOptions, WithoutTls};
use nano_core::{Account, Amount, BlockHash, BlockType, Epoch, Network};

use crate::codec::{AccountInfo, BlockDetails, BlockSideband, ConfirmationHeightInfo};
use crate::env::{
    create_tables_unversioned, open_env, open_table, version_value, Progress, StoreOptions,
    CURSOR_TABLE, LOG_TABLE, META_VERSION_KEY, STORE_VERSION, TABLE_NAMES,
};
use crate::{Result, StoreError};

/// Rows per write transaction of the copy: bounds the transaction's dirty pages (and so
/// memory) and the work lost to an interruption.
pub const MIGRATE_BATCH: u64 = 65_536;

/// The earlier layout's store version (its `meta` key `version`, u32 big-endian).
const OLD_VERSION: u32 = 1;

/// `<path><suffix>`, beside the ledger.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut s: OsString = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Where the old directory waits until the new file has opened.
pub fn old_layout_path(path: &Path) -> PathBuf {
    sibling(path, ".old-layout")
}

/// The reference-layout file being written.
pub fn migrating_path(path: &Path) -> PathBuf {
    sibling(path, ".migrating")
}

fn migrate_err(what: impl Into<String>) -> StoreError {
    StoreError::Migrate(what.into())
}

fn sync_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

/// Migrates the earlier directory layout at `path`, or finishes a migration that was
/// interrupted; does nothing when `path` is not such a directory.
pub(crate) fn migrate_if_needed(
    path: &Path,
    network: Network,
    options: &StoreOptions,
) -> Result<()> {
    let aside = old_layout_path(path);
    let tmp = migrating_path(path);
    if path.is_dir() {
        if !path.join("data.mdb").is_file() {
            return Err(StoreError::NotLedger(
                "a directory, but not this node's earlier ledger directory (no data.mdb)".into(),
            ));
        }
        if aside.exists() {
            return Err(migrate_err(format!(
                "{} already exists; move it away first",
                aside.display()
            )));
        }
        Progress::report(
            &options.progress,
            &format!(
                "Migrating the ledger directory {} to the reference node's single-file layout",
                path.display()
            ),
        );
        copy_old_layout(path, &tmp, network, options)?;
        fs::rename(path, &aside)?;
        sync_parent(path)?;
    }
    if !path.exists() && aside.is_dir() && tmp.is_file() {
        fs::rename(&tmp, path)?;
        let _ = fs::remove_file(sibling(&tmp, "-lock"));
        sync_parent(path)?;
        Progress::report(
            &options.progress,
            &format!(
                "Migration: the new ledger file {} is in place; the old directory is kept \
                 as {} until it opens",
                path.display(),
                aside.display()
            ),
        );
    }
    Ok(())
}

/// Deletes the old directory once the migrated file has opened.
pub(crate) fn remove_old_layout(path: &Path, progress: &Option<Progress>) -> Result<()> {
    let aside = old_layout_path(path);
    if aside.is_dir() && path.is_file() {
        fs::remove_dir_all(&aside)?;
        Progress::report(
            progress,
            &format!(
                "Migration complete: removed the old ledger directory {}",
                aside.display()
            ),
        );
    }
    Ok(())
}

type OldDb = heed::Database<'static, Bytes, Bytes>;

fn open_old(dir: &Path, options: &StoreOptions) -> Result<heed::Env<WithoutTls>> {
    let mut opts = EnvOpenOptions::new().read_txn_without_tls();
    opts.map_size(options.map_size).max_dbs(32);
    // SAFETY: read-only; nothing else writes the old directory (the node that used it
    // is this one, and it is migrating).
    unsafe {
        opts.flags(EnvFlags::READ_ONLY);
        Ok(opts.open(dir)?)
    }
}

fn create_extra(env: &heed::Env<WithoutTls>, name: &str) -> Result<OldDb> {
    let wtxn = env.write_txn()?;
    Ok(env
        .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
            Ok(CommitOrAbort::<_, ()>::Commit(
                opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?,
            ))
        })?
        .unwrap_commit())
}

fn copy_old_layout(
    src_dir: &Path,
    tmp: &Path,
    network: Network,
    options: &StoreOptions,
) -> Result<()> {
    let src = open_old(src_dir, options).map_err(|e| {
        migrate_err(format!(
            "cannot open the old directory {}: {e}",
            src_dir.display()
        ))
    })?;
    let meta = open_table(&src, "meta")?.ok_or_else(|| migrate_err("it has no meta table"))?;
    {
        let r = src.read_txn()?;
        match meta.get(&r, b"network")? {
            Some(m) if m == network.magic() => {}
            Some(m) => {
                return Err(StoreError::WrongNetwork {
                    expected: network.to_string(),
                    found: <[u8; 2]>::try_from(m)
                        .ok()
                        .and_then(Network::from_magic)
                        .map_or_else(|| format!("an unknown ({m:02x?})"), |n| n.to_string()),
                })
            }
            None => return Err(migrate_err("its meta table names no network")),
        }
        match meta.get(&r, b"version")? {
            Some(v) if v == OLD_VERSION.to_be_bytes() => {}
            v => {
                return Err(migrate_err(format!(
                    "unknown earlier store version {v:02x?}"
                )))
            }
        }
    }
    let dst = open_env(tmp, options)
        .map_err(|e| migrate_err(format!("cannot create {}: {e}", tmp.display())))?;
    let out = create_tables_unversioned(&dst)?;
    let mut done = 0u64;
    // Every source table is opened before the read transaction that copies them starts
    // (LMDB only lets a transaction use tables opened before it began).
    let mut pairs: Vec<(&str, OldDb, OldDb)> = Vec::new();
    for (name, to) in TABLE_NAMES.iter().zip(out.all()) {
        if *name != "meta" {
            if let Some(from) = open_table(&src, name)? {
                pairs.push((name, from, *to));
            }
        }
    }
    // The earlier layout may already hold the confirmation log; it keeps its bytes.
    for name in [LOG_TABLE, CURSOR_TABLE] {
        if let Some(from) = open_table(&src, name)? {
            pairs.push((name, from, create_extra(&dst, name)?));
        }
    }
    let rtxn = src.read_txn()?;
    let mut total_rows = 0u64;
    for (_, from, _) in &pairs {
        total_rows += from.len(&rtxn)?;
    }
    for (name, from, to) in pairs {
        // Resume after the last key already copied (the copy is a key-ordered prefix).
        let (last, already) = {
            let w = dst.read_txn()?;
            (to.last(&w)?.map(|(k, _)| k.to_vec()), to.len(&w)?)
        };
        let range = match &last {
            Some(k) => (Bound::Excluded(k.as_slice()), Bound::Unbounded),
            None => (Bound::Unbounded, Bound::Unbounded),
        };
        if already > 0 {
            Progress::report(
                &options.progress,
                &format!(
                    "Migrating the ledger: resuming {name} after {already} rows copied before"
                ),
            );
        }
        done += already;
        let mut txn = dst.write_txn()?;
        let mut in_txn = 0u64;
        for item in from.range(&rtxn, &range)? {
            let (k, v) = item?;
            let value = transcode(name, k, v)?;
            to.put_with_flags(&mut txn, heed::PutFlags::APPEND, k, &value)?;
            in_txn += 1;
            if in_txn == MIGRATE_BATCH {
                txn.commit()?;
                done += in_txn;
                in_txn = 0;
                Progress::report(
                    &options.progress,
                    &format!("Migrating the ledger: {done} of {total_rows} rows ({name})"),
                );
                txn = dst.write_txn()?;
            }
        }
        txn.commit()?;
        done += in_txn;
    }
    let mut txn = dst.write_txn()?;
    out.meta
        .put(&mut txn, &META_VERSION_KEY, &version_value(STORE_VERSION))?;
    txn.commit()?;
    dst.force_sync()?;
    Progress::report(
        &options.progress,
        &format!("Migrating the ledger: {done} of {total_rows} rows copied"),
    );
    Ok(())
}

/// Re-encodes one row of table `name` from the earlier layout.
fn transcode(name: &str, key: &[u8], v: &[u8]) -> Result<Vec<u8>> {
    match name {
        "blocks" => transcode_block(key, v),
        "accounts" => Ok(old_account_info(v)?.encode().to_vec()),
        "confirmation_height" => {
            if v.len() != ConfirmationHeightInfo::SIZE {
                return Err(old_corrupt("confirmation_height", v.len()));
            }
            Ok(ConfirmationHeightInfo {
                height: be64(v, 0),
                frontier: BlockHash(a32(v, 8)),
            }
            .encode()
            .to_vec())
        }
        // pending, rep_weights, final_votes, online_weight, peers, pruned: same bytes.
        _ => Ok(v.to_vec()),
    }
}

fn old_corrupt(table: &'static str, len: usize) -> StoreError {
    StoreError::Corrupt {
        table,
        detail: format!("earlier-layout value of {len} bytes"),
    }
}

fn be64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

fn a32(b: &[u8], at: usize) -> [u8; 32] {
    let mut a = [0u8; 32];
    a.copy_from_slice(&b[at..at + 32]);
    a
}

fn epoch(table: &'static str, v: u8) -> Result<Epoch> {
    Epoch::from_u8(v).ok_or_else(|| StoreError::Corrupt {
        table,
        detail: format!("epoch byte {v}"),
    })
}

/// The earlier `account_info`: the same 129 bytes, `modified` and `block_count`
/// big-endian.
fn old_account_info(v: &[u8]) -> Result<AccountInfo> {
    if v.len() != AccountInfo::SIZE {
        return Err(old_corrupt("accounts", v.len()));
    }
    let mut bal = [0u8; 16];
    bal.copy_from_slice(&v[96..112]);
    Ok(AccountInfo {
        head: BlockHash(a32(v, 0)),
        representative: Account::from_bytes(a32(v, 32)),
        open_block: BlockHash(a32(v, 64)),
        balance: Amount::from_be_bytes(bal),
        modified: be64(v, 112),
        block_count: be64(v, 120),
        epoch: epoch("accounts", v[128])?,
    })
}

/// Size of the earlier layout's sideband, the same for every block type: successor,
/// account, height (BE), timestamp (BE), balance, details, source epoch.
const OLD_SIDEBAND: usize = 32 + 32 + 8 + 8 + 16 + 1 + 1;

fn transcode_block(key: &[u8], v: &[u8]) -> Result<Vec<u8>> {
    let t = v
        .first()
        .and_then(|t| BlockType::from_u8(*t))
        .filter(|t| t.body_size().is_some())
        .ok_or_else(|| StoreError::Corrupt {
            table: "blocks",
            detail: format!("bad type byte in block {key:02x?}"),
        })?;
    let body_end = 1 + t.body_size().unwrap_or(0);
    if v.len() != body_end + OLD_SIDEBAND {
        return Err(old_corrupt("blocks", v.len()));
    }
    let sb = &v[body_end..];
    let mut bal = [0u8; 16];
    bal.copy_from_slice(&sb[80..96]);
    let details = BlockDetails::from_byte(sb[96])?;
    let sideband = BlockSideband {
        successor: BlockHash(a32(sb, 0)),
        account: Account::from_bytes(a32(sb, 32)),
        height: be64(sb, 64),
        timestamp: be64(sb, 72),
        balance: Amount::from_be_bytes(bal),
        details,
        source_epoch: epoch("blocks", sb[97])?,
    };
    let mut out = Vec::with_capacity(body_end + BlockSideband::size(t));
    out.extend_from_slice(&v[..body_end]);
    sideband.encode_for(t, &mut out);
    Ok(out)
}
