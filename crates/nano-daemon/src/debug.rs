//! Read-only `--debug_*` commands and `--validate_blocks`: they open an existing ledger
//! read-only (LMDB's `MDB_RDONLY`: the file cannot change; a missing ledger is an error,
//! never created; one that needs an upgrade or migration is refused)
//! and write to `out` as they go, so a dump of a large ledger streams instead of being
//! collected in memory.
//!
//! Output formats (one fact per line, easy to grep):
//!
//! * `--debug_block_count`: `Block count: N`
//! * `--debug_account_count`: `Account count: N`
//! * `--debug_cemented_block_count`: `Cemented block count: N`
//! * `--debug_block_dump`: one JSON object per line (JSON Lines), in hash order: `hash`,
//!   `account`, `height`, `balance`, `successor`, `local_timestamp`, `subtype`, `epoch`,
//!   `confirmed`, and the block itself under `contents` (the RPC form)
//! * `--debug_dump_representatives`: `<nano_ account> <weight in raw>` per line, heaviest
//!   first (ties by account)
//! * `--debug_account_versions`: `epoch_N accounts: N` per epoch, then
//!   `epoch_N unopened accounts with receivables: N` (an unopened account counts under
//!   the highest epoch among its receivables)
//! * `--validate_blocks`: one line per problem (`block <HASH>: ...`, `account <nano_...>:
//!   ...`, `ledger: ...`) unless `--silent`, then `Validated N blocks, N accounts, N
//!   confirmation heights: N problems`; a non-zero exit status if there were problems.

use std::io::Write;

use anyhow::{bail, Result};
use nano_core::{Account, Amount, Epoch};
use nano_ledger::{BlockSubtype, Ledger, PendingKey};
use serde_json::json;

use crate::daemon::LedgerAt;
use crate::maintenance::open_existing_read_only;

fn open(at: &LedgerAt) -> Result<Ledger> {
    open_existing_read_only(at, &at.path())
}

pub fn block_count(at: &LedgerAt, out: &mut dyn Write) -> Result<()> {
    let l = open(at)?;
    let t = l.read_txn()?;
    writeln!(out, "Block count: {}", l.block_count(&t)?)?;
    Ok(())
}

pub fn account_count(at: &LedgerAt, out: &mut dyn Write) -> Result<()> {
    let l = open(at)?;
    let t = l.read_txn()?;
    writeln!(out, "Account count: {}", l.account_count(&t)?)?;
    Ok(())
}

pub fn cemented_block_count(at: &LedgerAt, out: &mut dyn Write) -> Result<()> {
    let l = open(at)?;
    writeln!(out, "Cemented block count: {}", l.cemented_count())?;
    Ok(())
}

pub fn block_dump(at: &LedgerAt, out: &mut dyn Write) -> Result<()> {
    let l = open(at)?;
    let t = l.read_txn()?;
    for item in l.store().iter_blocks(&t)? {
        let (hash, stored) = item?;
        let sb = &stored.sideband;
        let confirmed = sb.height <= l.store().confirmation_height(&t, &sb.account)?.height;
        let line = json!({
            "hash": hash.encode_hex(),
            "account": sb.account.encode_account(),
            "height": sb.height.to_string(),
            "balance": sb.balance.encode_dec(),
            "successor": sb.successor.encode_hex(),
            "local_timestamp": sb.timestamp.to_string(),
            "subtype": BlockSubtype::of(&stored.block, sb).as_str(),
            "epoch": sb.details.epoch.as_str(),
            "confirmed": confirmed.to_string(),
            "contents": stored.block.to_json(),
        });
        writeln!(out, "{line}")?;
    }
    Ok(())
}

pub fn dump_representatives(at: &LedgerAt, out: &mut dyn Write) -> Result<()> {
    let l = open(at)?;
    let t = l.read_txn()?;
    let mut reps: Vec<(Account, Amount)> =
        l.store().iter_rep_weights(&t)?.collect::<Result<_, _>>()?;
    reps.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (rep, weight) in reps {
        writeln!(out, "{} {}", rep.encode_account(), weight.encode_dec())?;
    }
    Ok(())
}

const EPOCHS: [Epoch; 3] = [Epoch::Epoch0, Epoch::Epoch1, Epoch::Epoch2];

fn epoch_index(e: Epoch) -> usize {
    match e {
        Epoch::Epoch1 => 1,
        Epoch::Epoch2 => 2,
        _ => 0,
    }
}

pub fn account_versions(at: &LedgerAt, out: &mut dyn Write) -> Result<()> {
    let l = open(at)?;
    let t = l.read_txn()?;
    let mut opened = [0u64; 3];
    for item in l.store().accounts_from(&t, &Account::ZERO)? {
        let (_, info) = item?;
        opened[epoch_index(info.epoch)] += 1;
    }
    // Receivables come grouped by destination account: one account at a time.
    let mut unopened = [0u64; 3];
    let mut current: Option<(Account, usize)> = None;
    let mut finish = |c: Option<(Account, usize)>| -> Result<()> {
        if let Some((account, epoch)) = c {
            if l.store().account(&t, &account)?.is_none() {
                unopened[epoch] += 1;
            }
        }
        Ok(())
    };
    let start = PendingKey::new(Account::ZERO, Default::default());
    for item in l.store().pending_from(&t, &start)? {
        let (key, info) = item?;
        let e = epoch_index(info.epoch);
        match &mut current {
            Some((a, max)) if *a == key.account => *max = (*max).max(e),
            _ => {
                finish(current.take())?;
                current = Some((key.account, e));
            }
        }
    }
    finish(current)?;
    for (i, e) in EPOCHS.iter().enumerate() {
        writeln!(out, "{} accounts: {}", e.as_str(), opened[i])?;
    }
    for (i, e) in EPOCHS.iter().enumerate() {
        writeln!(
            out,
            "{} unopened accounts with receivables: {}",
            e.as_str(),
            unopened[i]
        )?;
    }
    Ok(())
}

/// `--validate_blocks`: checks on `threads` threads (all cores when `None`).
pub fn validate_blocks(
    at: &LedgerAt,
    threads: Option<usize>,
    silent: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let l = open(at)?;
    let t = l.read_txn()?;
    let threads = threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mut write_err = None;
    let sum = l.validate(&t, threads, |p| {
        if !silent && write_err.is_none() {
            if let Err(e) = writeln!(out, "{p}") {
                write_err = Some(e);
            }
        }
    })?;
    if let Some(e) = write_err {
        return Err(e.into());
    }
    writeln!(
        out,
        "Validated {} blocks, {} accounts, {} confirmation heights: {} problems",
        sum.blocks, sum.accounts, sum.confirmation_heights, sum.problems
    )?;
    if sum.problems > 0 {
        out.flush()?;
        bail!("the ledger has {} problems", sum.problems);
    }
    Ok(())
}
