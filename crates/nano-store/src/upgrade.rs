//! Schema versions and the upgrade hook: how a store written by an older version of this
//! software is brought to the current layout inside one write transaction.

use crate::store::WriteTxn;
use crate::{Result, StoreError};

/// The layout this software writes. Bump it, and add a step to [`upgrade`], whenever an
/// encoding or table changes.
pub const STORE_VERSION: u32 = 1;

/// Runs every upgrade step from `from` to [`STORE_VERSION`] in `txn`; the caller commits
/// once, so a crash mid-upgrade leaves the old version intact.
pub(crate) fn upgrade(txn: &mut WriteTxn<'_>, from: u32) -> Result<()> {
    let mut version = from;
    while version < STORE_VERSION {
        version = step(txn, version)?;
    }
    txn.put_version(version)
}

/// One migration: from `version` to the next. Version 1 is the first layout, so there is
/// nothing older to migrate from yet; future steps go here (`1 => { ...; Ok(2) }`).
fn step(_txn: &mut WriteTxn<'_>, version: u32) -> Result<u32> {
    Err(StoreError::Upgrade {
        from: version,
        reason: "no migration from this version exists".into(),
    })
}
