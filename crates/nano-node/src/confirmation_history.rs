//! Reading the confirmation log back as notifications: what a resuming WebSocket client,
//! `confirmation_history_since` and the HTTP callback replay. Rows come from the store's
//! confirmation log (written with the confirmation height, see `nano_ledger::Ledger::confirm`)
//! and are completed from the ledger (block, account, amount, height), so a replayed
//! notification carries what a live one does except `election_info`, which is not kept.

use std::sync::Arc;

use nano_ledger::{Ledger, Txn};

use crate::events::{ConfirmationType, NodeEvent};

/// Why a replay cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// The rows asked for were trimmed from the bounded history.
    #[error(
        "sequence {requested} is older than the confirmation history, which starts at {oldest}"
    )]
    TooOld { requested: u64, oldest: u64 },
    #[error("store error: {0}")]
    Store(String),
}

fn store_err(e: impl std::fmt::Display) -> HistoryError {
    HistoryError::Store(e.to_string())
}

/// One page of replayed notifications.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub events: Vec<NodeEvent>,
    /// The sequence the next page starts at.
    pub next: u64,
    /// True when the page ends at the head of the log (as of its snapshot).
    pub complete: bool,
}

/// The confirmation log of one node's ledger.
#[derive(Clone)]
pub struct ConfirmationHistory {
    ledger: Arc<Ledger>,
}

impl ConfirmationHistory {
    pub fn new(ledger: Arc<Ledger>) -> Self {
        ConfirmationHistory { ledger }
    }

    /// The newest sequence number; 0 before the first confirmation.
    pub fn head(&self) -> Result<u64, HistoryError> {
        let txn = self.ledger.read_txn().map_err(store_err)?;
        Ok(self
            .ledger
            .store()
            .confirmation_head(&txn)
            .map_err(store_err)?
            .unwrap_or(0))
    }

    /// The oldest sequence number still replayable (`head + 1` when the log is empty,
    /// i.e. the next one to be written).
    pub fn oldest(&self) -> Result<u64, HistoryError> {
        let txn = self.ledger.read_txn().map_err(store_err)?;
        self.oldest_in(&txn)
    }

    fn oldest_in<T: Txn>(&self, txn: &T) -> Result<u64, HistoryError> {
        let store = self.ledger.store();
        match store.confirmation_oldest(txn).map_err(store_err)? {
            Some(o) => Ok(o),
            None => Ok(store
                .confirmation_head(txn)
                .map_err(store_err)?
                .unwrap_or(0)
                + 1),
        }
    }

    /// How many rows the history keeps at most.
    pub fn limit(&self) -> u64 {
        self.ledger.store().confirmation_history_limit()
    }

    /// Up to `max` notifications from sequence `from` on, in sequence order. A row whose
    /// block is no longer in the ledger (pruned) is skipped. Sequence 0 means "from the
    /// first ever", which is only servable while nothing was trimmed.
    pub fn read(&self, from: u64, max: usize) -> Result<Vec<NodeEvent>, HistoryError> {
        Ok(self.read_page(from, max)?.events)
    }

    /// [`Self::read`] with where the next page starts and whether this one reached the
    /// head, both from the same snapshot as the rows.
    pub fn read_page(&self, from: u64, max: usize) -> Result<HistoryPage, HistoryError> {
        let txn = self.ledger.read_txn().map_err(store_err)?;
        let oldest = self.oldest_in(&txn)?;
        let from = from.max(1);
        if from < oldest {
            return Err(HistoryError::TooOld {
                requested: from,
                oldest,
            });
        }
        let rows = self
            .ledger
            .store()
            .confirmations_from(&txn, from, max)
            .map_err(store_err)?;
        let complete = rows.len() < max;
        let next = rows.last().map_or(from, |r| r.sequence + 1);
        let mut events = Vec::with_capacity(rows.len());
        for r in rows {
            let Some(info) = self.ledger.block_info(&txn, &r.hash).map_err(store_err)? else {
                continue;
            };
            events.push(NodeEvent::confirmed(
                &info,
                ConfirmationType::of_origin(r.origin),
                None,
                Some(r.sequence),
            ));
        }
        Ok(HistoryPage {
            events,
            next,
            complete,
        })
    }

    /// The last sequence consumer `name` recorded as delivered.
    pub fn cursor(&self, name: &str) -> Result<Option<u64>, HistoryError> {
        let txn = self.ledger.read_txn().map_err(store_err)?;
        self.ledger
            .store()
            .confirmation_cursor(&txn, name)
            .map_err(store_err)
    }

    /// Records (durably) that consumer `name` delivered everything up to `sequence`.
    pub fn set_cursor(&self, name: &str, sequence: u64) -> Result<(), HistoryError> {
        let mut txn = self.ledger.write_txn().map_err(store_err)?;
        txn.put_confirmation_cursor(name, sequence)
            .map_err(store_err)?;
        txn.commit().map_err(store_err)
    }
}
