//! `--vacuum`, `--snapshot` and `--rebuild_database`: compacted copies of the ledger.
//!
//! LMDB never gives space back to the file system: pages freed by deletions (a cleared
//! unchecked table, rolled-back blocks) are reused, but the file keeps its size. A
//! *compacting copy* writes only the pages in use, renumbered in order. The copy is
//! built in a work directory beside the ledger, optionally cleaned on the way
//! (`--unchecked_clear`, `--online_weight_clear`, `--peer_clear`,
//! `--confirmation_height_clear`, applied to an intermediate copy that is then compacted
//! again, so the cleared rows take no space), and checked to open with the same block
//! and account counts. Then:
//!
//! * `--vacuum` swaps it in for `data.ldb` while holding the ledger lock. The previous
//!   file stays as `backup.vacuum.ldb` in the data directory (the old file itself,
//!   moved aside: delete it to free its space); an earlier backup there is replaced. Until the final rename the original is untouched, so any failure leaves
//!   the ledger as it was.
//! * `--snapshot` moves it to `snapshot.ldb` (a ledger file in the reference layout, like
//!   the snapshots the reference's operators publish) and leaves the live ledger alone;
//!   it may run while the node runs (the copy reads in one LMDB read transaction).
//! * `--rebuild_database` first re-inserts every row, in key order, into a fresh store
//!   (filling B-tree pages completely, which compaction alone does not do), then
//!   proceeds as `--vacuum`.
//!
//! Space needed: about the size of the compacted ledger (twice that with cleanup flags
//! or a rebuild, for the intermediate copy).

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use nano_ledger::{Ledger, StoreOptions};

use crate::daemon::LedgerAt;
use crate::ledger_lock::{LedgerLock, IN_USE};
use crate::maintenance::{
    clear_confirmation_heights, clear_online_weight, clear_peers, clear_unchecked, open_existing,
};

/// Where `--vacuum` keeps the previous ledger file, relative to the data directory.
pub const BACKUP_FILE: &str = "backup.vacuum.ldb";
/// Where `--snapshot` writes, relative to the data directory.
pub const SNAPSHOT_FILE: &str = "snapshot.ldb";

/// Tables to empty in the copy (the cleanup flags given with `--vacuum`/`--snapshot`).
#[derive(Debug, Clone, Default)]
pub struct Cleanup {
    pub unchecked: bool,
    pub online_weight: bool,
    pub peers: bool,
    /// `--confirmation_height_clear --account <account or all>`.
    pub confirmation_height: Option<String>,
}

impl Cleanup {
    pub fn is_empty(&self) -> bool {
        !self.unchecked && !self.online_weight && !self.peers && self.confirmation_height.is_none()
    }

    fn apply(&self, l: &Ledger, out: &mut String) -> Result<()> {
        if self.unchecked {
            out.push_str(&clear_unchecked(l)?);
        }
        if self.online_weight {
            out.push_str(&clear_online_weight(l)?);
        }
        if self.peers {
            out.push_str(&clear_peers(l)?);
        }
        if let Some(account) = &self.confirmation_height {
            out.push_str(&clear_confirmation_heights(l, account)?);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    blocks: u64,
    accounts: u64,
}

fn count(l: &Ledger) -> Result<Counts> {
    let t = l.read_txn()?;
    Ok(Counts {
        blocks: l.block_count(&t)?,
        accounts: l.account_count(&t)?,
    })
}

/// Store options for the intermediate copies: the configured ones, with room for at
/// least twice `size` bytes, so a ledger larger than the configured map still fits.
fn options_for(at: &LedgerAt, size: u64) -> StoreOptions {
    let d = at.options.clone();
    let gib = 1u64 << 30;
    let want = size.saturating_mul(2).div_ceil(gib).saturating_mul(gib);
    StoreOptions {
        map_size: d.map_size.max(usize::try_from(want).unwrap_or(d.map_size)),
        ..d
    }
}

fn remove_dir_if_exists(p: &Path) -> Result<()> {
    match fs::remove_dir_all(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}

fn remove_file_if_exists(p: &Path) -> Result<()> {
    match fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}

/// LMDB's lock file of the ledger file `p`.
fn lock_file(p: &Path) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push("-lock");
    PathBuf::from(s)
}

fn sync_dir(p: &Path) -> Result<()> {
    fs::File::open(p)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot sync {}", p.display()))
}

fn file_size(p: &Path) -> Result<u64> {
    Ok(fs::metadata(p)
        .with_context(|| format!("cannot read {}", p.display()))?
        .len())
}

/// Builds the compacted (and cleaned, and possibly rebuilt) copy of `src` in `work`;
/// returns the copy's ledger file.
fn build_copy(
    at: &LedgerAt,
    src: &Ledger,
    work: &Path,
    cleanup: &Cleanup,
    rebuild: bool,
    out: &mut String,
) -> Result<PathBuf> {
    let done = work.join("data.ldb");
    if !rebuild && cleanup.is_empty() {
        src.store()
            .copy_compacted(&done)
            .context("compacting copy failed")?;
        return Ok(done);
    }
    let stage = work.join("stage.ldb");
    let options = options_for(at, src.store().file_size()?);
    if rebuild {
        let rows = src
            .store()
            .rebuild_into(&stage, &options)
            .context("rebuilding the tables failed")?;
        out.push_str(&format!("Rebuilt {rows} rows in key order\n"));
    } else {
        src.store()
            .copy_compacted(&stage)
            .context("compacting copy failed")?;
    }
    {
        let staged = Ledger::open_with(&stage, at.network, &options)
            .with_context(|| format!("cannot open the copy in {}", stage.display()))?;
        cleanup.apply(&staged, out)?;
        staged
            .store()
            .copy_compacted(&done)
            .context("compacting copy failed")?;
    }
    remove_file_if_exists(&stage)?;
    remove_file_if_exists(&lock_file(&stage))?;
    Ok(done)
}

/// Builds the copy of the ledger file `ledger` inside `work` and checks that it opens
/// with the same counts (when `stable`: nothing can write the ledger meanwhile). On
/// error `work` is removed.
fn checked_copy(
    at: &LedgerAt,
    ledger: &Path,
    work: &Path,
    cleanup: &Cleanup,
    rebuild: bool,
    stable: bool,
    out: &mut String,
) -> Result<(PathBuf, Counts)> {
    remove_dir_if_exists(work)?;
    let r = (|| {
        let (done, before) = {
            let src = open_existing(at, ledger)?;
            let before = count(&src)?;
            (build_copy(at, &src, work, cleanup, rebuild, out)?, before)
        };
        let copy = Ledger::open_with(&done, at.network, &options_for(at, file_size(&done)?))
            .with_context(|| format!("the copy in {} does not open", done.display()))?;
        let after = count(&copy)?;
        drop(copy);
        // Only the data file is used from here on; LMDB makes a new lock file.
        remove_file_if_exists(&lock_file(&done))?;
        if stable && after != before {
            bail!(
                "the copy holds {} blocks and {} accounts, the ledger {} and {}",
                after.blocks,
                after.accounts,
                before.blocks,
                before.accounts
            );
        }
        Ok((done, after))
    })();
    if r.is_err() {
        let _ = fs::remove_dir_all(work);
    }
    r
}

/// Replaces `data` by `new`, keeping the old file as `backup`. `data` stays in place
/// (old or new) at every moment when hard links work; otherwise it is moved aside and
/// moved back if the second rename fails.
fn swap_in(data: &Path, new: &Path, backup: &Path) -> Result<()> {
    // The new file gets the old one's permissions (LMDB creates ledgers owner-only).
    let perms = fs::metadata(data)
        .with_context(|| format!("cannot read {}", data.display()))?
        .permissions();
    fs::set_permissions(new, perms)
        .with_context(|| format!("cannot set the permissions of {}", new.display()))?;
    remove_file_if_exists(backup)?;
    match fs::hard_link(data, backup) {
        Ok(()) => {
            if let Err(e) = fs::rename(new, data) {
                let _ = fs::remove_file(backup);
                return Err(e).context("cannot move the compacted copy into place");
            }
        }
        Err(_) => {
            fs::rename(data, backup).with_context(|| {
                format!("cannot move {} to {}", data.display(), backup.display())
            })?;
            if let Err(e) = fs::rename(new, data) {
                fs::rename(backup, data).with_context(|| {
                    format!(
                        "cannot move the compacted copy into place ({e}), nor the ledger back \
                         from {}: move it back by hand",
                        backup.display()
                    )
                })?;
                return Err(e).context("cannot move the compacted copy into place");
            }
        }
    }
    Ok(())
}

/// `--vacuum` (and `--rebuild_database` with `rebuild`): compacts the ledger into a copy
/// and swaps it in, keeping the old file as a backup.
pub fn vacuum(at: &LedgerAt, cleanup: &Cleanup, rebuild: bool) -> Result<String> {
    let dir = at.dir.as_path();
    let data = at.path();
    if !data.is_file() {
        bail!("No ledger found at {}", data.display());
    }
    let lock = LedgerLock::acquire(&data)?;
    let before = file_size(&data)?;
    let mut out = format!(
        "{} the ledger {}\nSize before: {before} bytes\n",
        if rebuild {
            "Rebuilding and vacuuming"
        } else {
            "Vacuuming"
        },
        data.display()
    );
    let work = dir.join("vacuum.tmp");
    let (done, counts) = checked_copy(at, &data, &work, cleanup, rebuild, true, &mut out)?;
    // Every environment this process opened is closed now, which released our lock
    // (see ledger_lock): take it again, and give up if someone opened the ledger since.
    if !lock.try_lock()? {
        let _ = fs::remove_dir_all(&work);
        bail!(IN_USE);
    }
    let backup = dir.join(BACKUP_FILE);
    let swapped =
        remove_file_if_exists(&lock_file(&backup)).and_then(|_| swap_in(&data, &done, &backup));
    if let Err(e) = swapped {
        let _ = fs::remove_dir_all(&work);
        return Err(e.context("vacuum failed; the ledger was left as it was"));
    }
    lock.reset_lock_file()?;
    sync_dir(dir)?;
    drop(lock);
    remove_dir_if_exists(&work)?;
    let after = file_size(&data)?;
    // The swapped-in ledger opens and holds what the old one did.
    let reopened = count(&open_existing(at, &data)?)?;
    if reopened != counts {
        bail!(
            "the vacuumed ledger holds {} blocks, expected {}; the previous file is {}",
            reopened.blocks,
            counts.blocks,
            backup.display()
        );
    }
    out.push_str(&format!(
        "Size after: {after} bytes ({} blocks, {} accounts)\n\
         The previous ledger file is kept as {} (delete it to free its space)\n\
         Vacuum completed\n",
        counts.blocks,
        counts.accounts,
        backup.display()
    ));
    Ok(out)
}

/// `--snapshot`: a compacted (and optionally cleaned) copy of the ledger in
/// `snapshot.ldb`; the live ledger is not changed. A previous snapshot is replaced once
/// the new one is complete.
pub fn snapshot(at: &LedgerAt, cleanup: &Cleanup) -> Result<String> {
    let dir = at.dir.as_path();
    let data = at.path();
    if !data.is_file() {
        bail!("No ledger found at {}", data.display());
    }
    let size = file_size(&data)?;
    let mut out = format!(
        "Taking a snapshot of the ledger {} ({size} bytes)\n",
        data.display()
    );
    let work = dir.join("snapshot.tmp");
    let (done, counts) = checked_copy(at, &data, &work, cleanup, false, false, &mut out)?;
    let target = dir.join(SNAPSHOT_FILE);
    let placed = remove_file_if_exists(&lock_file(&target)).and_then(|_| {
        fs::rename(&done, &target)
            .with_context(|| format!("cannot move the snapshot to {}", target.display()))
    });
    let _ = fs::remove_dir_all(&work);
    placed?;
    sync_dir(dir)?;
    let snap = target;
    let perms = fs::metadata(&data)
        .with_context(|| format!("cannot read {}", data.display()))?
        .permissions();
    fs::set_permissions(&snap, perms)
        .with_context(|| format!("cannot set the permissions of {}", snap.display()))?;
    out.push_str(&format!(
        "Snapshot written to {}: {} bytes ({} blocks, {} accounts)\n",
        snap.display(),
        file_size(&snap)?,
        counts.blocks,
        counts.accounts
    ));
    Ok(out)
}
