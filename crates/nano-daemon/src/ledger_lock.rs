//! Is the ledger in use by another process? The offline commands that write to the
//! ledger (`--peer_clear`, `--rollback`, `--vacuum`, ...) must not run next to a node.
//!
//! LMDB answers this itself: every process that has an environment open holds a shared
//! `fcntl` lock on the first byte of its `data.ldb-lock` for as long as it is open (LMDB
//! takes it exclusively only to initialise the lock file when it is the first user). So
//! if *this* process can take an exclusive lock on that byte, no other process — a
//! running `nano_node --daemon`, a `nano_node` command, a test — has the ledger open.
//!
//! `fcntl` locks belong to the process, not the file descriptor: LMDB in this process
//! may later open the same environment (its lock does not conflict with ours), but
//! closing it releases every lock this process holds on `data.ldb-lock`, ours included. Call
//! [`LedgerLock::try_lock`] again after closing the environment and before any step that
//! relies on exclusivity (the vacuum swap does).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

/// The reference node's words when a write command finds the ledger in use.
pub const IN_USE: &str =
    "Write database error, this cannot be run while the node is already running";

/// An exclusive hold on a ledger's LMDB lock file `data.ldb-lock` (see the module docs).
#[derive(Debug)]
pub struct LedgerLock {
    file: File,
}

impl LedgerLock {
    /// Takes the lock on the ledger file `ledger` (its directory must exist), or fails
    /// with [`IN_USE`] if another process has that ledger open. LMDB's lock file of a
    /// `MDB_NOSUBDIR` environment is the file's path with `-lock` appended.
    pub fn acquire(ledger: &Path) -> Result<LedgerLock> {
        let mut name = ledger.as_os_str().to_owned();
        name.push("-lock");
        let path = std::path::PathBuf::from(name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        let lock = LedgerLock { file };
        if !lock.try_lock()? {
            bail!(IN_USE);
        }
        Ok(lock)
    }

    /// Takes (or takes again) the exclusive lock; false if another process holds a lock
    /// on the ledger.
    pub fn try_lock(&self) -> Result<bool> {
        // SAFETY: a zeroed `flock` is a valid value; the fields are set below.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        fl.l_start = 0;
        fl.l_len = 1;
        loop {
            // SAFETY: the descriptor is open for as long as `self`, `fl` outlives the call.
            let rc = unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_SETLK, &fl) };
            if rc == 0 {
                return Ok(true);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EACCES) | Some(libc::EAGAIN) => return Ok(false),
                _ => return Err(anyhow!("cannot lock the ledger's data.ldb-lock: {e}")),
            }
        }
    }

    /// Empties `data.ldb-lock` (while the lock is held): after the data file was replaced, no
    /// process may trust the old lock file's transaction state. The next process to open
    /// the ledger is its only user and initialises the file afresh; one that was already
    /// waiting for the lock fails instead of using stale state.
    pub fn reset_lock_file(&self) -> Result<()> {
        self.file
            .set_len(0)
            .context("cannot reset the ledger's data.ldb-lock")?;
        Ok(())
    }
}
