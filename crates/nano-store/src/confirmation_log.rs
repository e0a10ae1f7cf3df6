//! The confirmation log: one row per confirmation this node cemented (or was asked to
//! notify again), keyed by a sequence number that grows by exactly one per row, and the
//! delivery cursors of the consumers that read it (the HTTP callback).
//!
//! Rows are appended in the same write transaction as the confirmation height they
//! record, so the log and the ledger survive a crash together: after `kill -9` the log
//! holds exactly the cemented blocks the ledger holds, in cementing order. The log keeps
//! the newest `limit` rows (see [`Store::set_confirmation_history_limit`]); older ones are
//! deleted as new ones arrive, so keys stay contiguous from the oldest kept to the head.
//!
//! Both tables are extra named databases that the reference node's layout does not know
//! and ignores.

use heed::types::Bytes;
use heed::CommitOrAbort;
use nano_core::BlockHash;

use super::{Store, Txn, WriteTxn};
use crate::codec::decode_hash;
use crate::env::{Db, CURSOR_TABLE, LOG_TABLE};
use crate::{Result, StoreError};

/// Rows kept when the node does not configure a limit: at the reference network's
/// sustained rates (a few confirmations per second) this is days of history, and at
/// 41 bytes of key and value plus B-tree overhead about 80 MB at most.
pub const DEFAULT_CONFIRMATION_HISTORY: u64 = 1_000_000;

/// Rows deleted per write transaction when a lowered limit trims an existing log, so a
/// large trim does not hold the writer (and the block processor) for long.
const TRIM_BATCH: u64 = 65_536;

/// Why a row is in the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmationOrigin {
    /// The block cementing was asked for (an election winner, or a forced confirmation).
    Elected,
    /// Cemented because a block cemented after it depends on it.
    Dependency,
    /// Already cemented; a client asked (`block_confirm`) to be told again.
    Renotified,
}

impl ConfirmationOrigin {
    fn to_byte(self) -> u8 {
        match self {
            ConfirmationOrigin::Elected => 0,
            ConfirmationOrigin::Dependency => 1,
            ConfirmationOrigin::Renotified => 2,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            0 => ConfirmationOrigin::Elected,
            1 => ConfirmationOrigin::Dependency,
            2 => ConfirmationOrigin::Renotified,
            _ => return None,
        })
    }
}

/// One row of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConfirmationRecord {
    pub sequence: u64,
    pub hash: BlockHash,
    pub origin: ConfirmationOrigin,
}

/// The log's table handles and its size limit. The handles are `None` only in a
/// read-only open of a file that has no log (a reference snapshot): it reads as empty.
pub(super) struct ConfirmationLog {
    log: Option<Db>,
    cursors: Option<Db>,
    limit: std::sync::atomic::AtomicU64,
    /// Cleared only by benchmarks that measure what the log costs the cementing writer.
    enabled: std::sync::atomic::AtomicBool,
}

impl ConfirmationLog {
    /// Creates (or opens) both tables.
    pub(super) fn open(env: &heed::Env<heed::WithoutTls>) -> Result<ConfirmationLog> {
        let wtxn = env.write_txn()?;
        let (log, cursors) = env
            .create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, heed::Error> {
                let log = opener.create_database::<Bytes, Bytes>(wtxn, Some(LOG_TABLE))?;
                let cursors = opener.create_database::<Bytes, Bytes>(wtxn, Some(CURSOR_TABLE))?;
                Ok(CommitOrAbort::<_, ()>::Commit((log, cursors)))
            })?
            .unwrap_commit();
        Ok(Self::with(Some(log), Some(cursors)))
    }

    /// Opens both tables without writing (a read-only environment); a table the file
    /// lacks reads as empty.
    pub(super) fn open_existing(env: &heed::Env<heed::WithoutTls>) -> Result<ConfirmationLog> {
        Ok(Self::with(
            crate::env::open_table(env, LOG_TABLE)?,
            crate::env::open_table(env, CURSOR_TABLE)?,
        ))
    }

    fn with(log: Option<Db>, cursors: Option<Db>) -> ConfirmationLog {
        ConfirmationLog {
            log,
            cursors,
            limit: std::sync::atomic::AtomicU64::new(DEFAULT_CONFIRMATION_HISTORY),
            enabled: std::sync::atomic::AtomicBool::new(true),
        }
    }

    /// Both tables, for writing (a read-only store has no writer, so never absent there).
    fn writable(&self) -> Result<(&Db, &Db)> {
        match (&self.log, &self.cursors) {
            (Some(l), Some(c)) => Ok((l, c)),
            _ => Err(corrupt("the confirmation log tables are missing".into())),
        }
    }

    /// Copies both tables into `out` of another environment (store rebuilds).
    pub(super) fn copy_into(
        &self,
        src: &impl Txn,
        env: &heed::Env<heed::WithoutTls>,
        out: &ConfirmationLog,
    ) -> Result<u64> {
        let mut rows = 0;
        let (out_log, out_cursors) = out.writable()?;
        for (from, to) in [(&self.log, out_log), (&self.cursors, out_cursors)] {
            let Some(from) = from else { continue };
            let mut txn = env.write_txn()?;
            for item in from.iter(src.raw())? {
                let (k, v) = item?;
                to.put_with_flags(&mut txn, heed::PutFlags::APPEND, k, v)?;
                rows += 1;
            }
            txn.commit()?;
        }
        Ok(rows)
    }
}

fn corrupt(detail: String) -> StoreError {
    StoreError::Corrupt {
        table: LOG_TABLE,
        detail,
    }
}

fn decode_seq(k: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(k)
        .map(u64::from_be_bytes)
        .map_err(|_| corrupt(format!("key of {} bytes", k.len())))
}

fn decode_record(k: &[u8], v: &[u8]) -> Result<ConfirmationRecord> {
    let sequence = decode_seq(k)?;
    if v.len() != 33 {
        return Err(corrupt(format!("row {sequence} of {} bytes", v.len())));
    }
    let origin = ConfirmationOrigin::from_byte(v[0])
        .ok_or_else(|| corrupt(format!("row {sequence} has origin {}", v[0])))?;
    Ok(ConfirmationRecord {
        sequence,
        hash: decode_hash(LOG_TABLE, &v[1..])?,
        origin,
    })
}

impl Store {
    /// Keeps at most `limit` rows (at least 1, so the sequence is never lost); a lower
    /// limit than before trims the oldest rows now.
    pub fn set_confirmation_history_limit(&self, limit: u64) -> Result<()> {
        let limit = limit.max(1);
        self.conf_log
            .limit
            .store(limit, std::sync::atomic::Ordering::Relaxed);
        // Bounded: each round deletes TRIM_BATCH rows or finishes.
        loop {
            let mut txn = self.write_txn()?;
            let (Some(oldest), Some(head)) = (
                self.confirmation_oldest(&txn)?,
                self.confirmation_head(&txn)?,
            ) else {
                return Ok(());
            };
            if head - oldest < limit {
                return Ok(());
            }
            let end = (head - limit + 1).min(oldest + TRIM_BATCH);
            let (log, _) = self.conf_log.writable()?;
            for s in oldest..end {
                log.delete(&mut txn.txn, &s.to_be_bytes())?;
            }
            txn.commit()?;
        }
    }

    /// Turns appending off (`false`) or back on. Only for benchmarks that compare the
    /// cementing writer with and without the log in one run: a node never turns it off,
    /// since WebSocket resume, `confirmation_history_since` and the HTTP callback read it.
    #[doc(hidden)]
    pub fn set_confirmation_log_enabled_for_benchmarks(&self, enabled: bool) {
        self.conf_log
            .enabled
            .store(enabled, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn confirmation_history_limit(&self) -> u64 {
        self.conf_log
            .limit
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The newest sequence number written, `None` before the first confirmation.
    pub fn confirmation_head<T: Txn>(&self, txn: &T) -> Result<Option<u64>> {
        let Some(log) = &self.conf_log.log else {
            return Ok(None);
        };
        match log.last(txn.raw())? {
            Some((k, _)) => Ok(Some(decode_seq(k)?)),
            None => Ok(None),
        }
    }

    /// The oldest sequence number still in the history.
    pub fn confirmation_oldest<T: Txn>(&self, txn: &T) -> Result<Option<u64>> {
        let Some(log) = &self.conf_log.log else {
            return Ok(None);
        };
        match log.first(txn.raw())? {
            Some((k, _)) => Ok(Some(decode_seq(k)?)),
            None => Ok(None),
        }
    }

    /// Up to `max` rows from sequence `from` (inclusive) on, in order.
    pub fn confirmations_from<T: Txn>(
        &self,
        txn: &T,
        from: u64,
        max: usize,
    ) -> Result<Vec<ConfirmationRecord>> {
        let start = from.to_be_bytes();
        let range = (
            std::ops::Bound::Included(&start[..]),
            std::ops::Bound::Unbounded,
        );
        let mut out = Vec::with_capacity(max.min(4096));
        let Some(log) = &self.conf_log.log else {
            return Ok(out);
        };
        for item in log.range(txn.raw(), &range)?.take(max) {
            let (k, v) = item?;
            out.push(decode_record(k, v)?);
        }
        Ok(out)
    }

    /// The last sequence the consumer `name` recorded as delivered.
    pub fn confirmation_cursor<T: Txn>(&self, txn: &T, name: &str) -> Result<Option<u64>> {
        let Some(cursors) = &self.conf_log.cursors else {
            return Ok(None);
        };
        match cursors.get(txn.raw(), name.as_bytes())? {
            Some(v) => Ok(Some(decode_seq(v).map_err(|_| StoreError::Corrupt {
                table: CURSOR_TABLE,
                detail: format!("cursor {name:?} of {} bytes", v.len()),
            })?)),
            None => Ok(None),
        }
    }
}

impl WriteTxn<'_> {
    /// Appends one row and returns its sequence number (the head plus one; 1 for the
    /// first row ever). Deletes the row that falls out of the history limit. (0, and
    /// nothing written, only while a benchmark has the log turned off.)
    pub fn append_confirmation(
        &mut self,
        hash: &BlockHash,
        origin: ConfirmationOrigin,
    ) -> Result<u64> {
        let store = self.store;
        let log = &store.conf_log;
        if !log.enabled.load(std::sync::atomic::Ordering::Relaxed) {
            return Ok(0);
        }
        let (table, _) = log.writable()?;
        let seq = store.confirmation_head(self)?.map_or(1, |h| h + 1);
        let mut v = [0u8; 33];
        v[0] = origin.to_byte();
        v[1..].copy_from_slice(&hash.0);
        table.put_with_flags(
            &mut self.txn,
            heed::PutFlags::APPEND,
            &seq.to_be_bytes(),
            &v,
        )?;
        let limit = log.limit.load(std::sync::atomic::Ordering::Relaxed);
        if seq > limit {
            table.delete(&mut self.txn, &(seq - limit).to_be_bytes())?;
        }
        Ok(seq)
    }

    /// Records that consumer `name` has delivered everything up to `sequence`.
    pub fn put_confirmation_cursor(&mut self, name: &str, sequence: u64) -> Result<()> {
        let (_, cursors) = self.store.conf_log.writable()?;
        cursors.put(&mut self.txn, name.as_bytes(), &sequence.to_be_bytes())?;
        Ok(())
    }
}
