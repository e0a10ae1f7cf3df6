//! Store versions, the network check, and the upgrades of older reference ledgers.
//!
//! The reference node accepts versions 21–24 and upgrades in place, in one write
//! transaction: 21 → 22 drops `unchecked`, 22 → 23 fills `rep_weights` from the
//! accounts, 23 → 24 drops `frontiers` (`reference/ledger-format.md` §13). The table
//! layouts shared by these versions are identical, so nothing else changes.

use heed::types::Bytes;
use heed::{CommitOrAbort, WithoutTls};
use nano_core::{Account, Amount, BlockHash, Network};

use crate::codec::AccountInfo;
use crate::env::{
    open_table, version_value, Progress, META_VERSION_KEY, STORE_VERSION, TABLE_NAMES,
};
use crate::{Result, StoreError};

/// Refuses a ledger of another network. There is no network marker in the file: a
/// ledger with accounts must hold this network's genesis block (in `blocks`, or in
/// `pruned`), as the reference checks at start. An empty ledger gets genesis later.
pub(crate) fn check_network(env: &heed::Env<WithoutTls>, network: Network) -> Result<()> {
    let (Some(accounts), Some(blocks)) = (open_table(env, "accounts")?, open_table(env, "blocks")?)
    else {
        return Ok(());
    };
    let pruned = open_table(env, "pruned")?;
    let r = env.read_txn()?;
    if accounts.is_empty(&r)? {
        return Ok(());
    }
    let holds = |hash: &BlockHash| -> Result<bool> {
        Ok(blocks.get(&r, &hash.0)?.is_some()
            || match &pruned {
                Some(p) => p.get(&r, &hash.0)?.is_some(),
                None => false,
            })
    };
    if holds(&network.params().genesis_hash)? {
        return Ok(());
    }
    let mut found = "an unknown".to_string();
    for other in Network::ALL {
        if holds(&other.params().genesis_hash)? {
            found = other.to_string();
        }
    }
    Err(StoreError::WrongNetwork {
        expected: network.to_string(),
        found,
    })
}

/// Brings a version `from` (21–23) ledger to [`STORE_VERSION`] in one write transaction,
/// so a crash mid-upgrade leaves the old version intact. Reports each step to `progress`.
pub(crate) fn upgrade(
    env: &heed::Env<WithoutTls>,
    from: u32,
    progress: &Option<Progress>,
) -> Result<()> {
    Progress::report(
        progress,
        &format!("Upgrade in progress: ledger store version {from} to {STORE_VERSION}"),
    );
    let wtxn = env.write_txn()?;
    env.create_databases_and_commit(wtxn, |opener, wtxn| -> Result<_, StoreError> {
        let mut tables = Vec::with_capacity(TABLE_NAMES.len());
        for name in TABLE_NAMES {
            tables.push(opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?);
        }
        let table = |name: &str| tables[TABLE_NAMES.iter().position(|n| *n == name).unwrap_or(0)];
        let mut version = from;
        if version == 21 {
            if let Some(db) = opener.open_database::<Bytes, Bytes>(wtxn, Some("unchecked"))? {
                // SAFETY: the handle is not used again; LMDB deletes the table in this
                // transaction.
                unsafe { db.remove(wtxn)? };
            }
            Progress::report(progress, "Upgrade 21 -> 22: removed the unchecked table");
            version = 22;
        }
        if version == 22 {
            let weights = table("rep_weights");
            weights.clear(wtxn)?;
            let accounts = table("accounts");
            let mut count = 0u64;
            let mut sums: std::collections::BTreeMap<Account, Amount> = Default::default();
            // Summed per representative in memory: one entry per representative (a few
            // thousand on the live network), not per account.
            for item in accounts.iter(wtxn)? {
                let (_, v) = item?;
                let info = AccountInfo::decode(v)?;
                if !info.balance.is_zero() {
                    let e = sums.entry(info.representative).or_default();
                    *e = e.checked_add(info.balance).ok_or_else(|| StoreError::Upgrade {
                        from: 22,
                        reason: "representative weight overflows".into(),
                    })?;
                }
                count += 1;
            }
            for (rep, w) in &sums {
                weights.put(wtxn, &rep.0, &w.to_be_bytes())?;
            }
            Progress::report(
                progress,
                &format!(
                    "Upgrade 22 -> 23: filled rep_weights for {} representatives from {count} accounts",
                    sums.len()
                ),
            );
            version = 23;
        }
        if version == 23 {
            if let Some(db) = opener.open_database::<Bytes, Bytes>(wtxn, Some("frontiers"))? {
                // SAFETY: as above.
                unsafe { db.remove(wtxn)? };
            }
            Progress::report(progress, "Upgrade 23 -> 24: removed the frontiers table");
            version = 24;
        }
        debug_assert_eq!(version, STORE_VERSION);
        table("meta").put(wtxn, &META_VERSION_KEY, &version_value(version))?;
        Ok(CommitOrAbort::<_, ()>::Commit(()))
    })?;
    Progress::report(progress, "Upgrade done");
    Ok(())
}
