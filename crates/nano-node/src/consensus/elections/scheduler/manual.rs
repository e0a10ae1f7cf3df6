//! Manual elections: RPC `block_confirm`.

use nano_core::BlockHash;

use crate::consensus::elections::election::Behavior;
use crate::consensus::elections::Effects;
use crate::consensus::notify::confirmed_event;
use crate::consensus::{lock, BlockConfirmOutcome, ConsensusError, Shared};
use crate::events::ConfirmationType;

impl Shared {
    /// Appends a re-notification of the cemented `hash` to the confirmation log.
    fn renotify(&self, hash: &BlockHash) -> Result<u64, ConsensusError> {
        let store_err = |e: &dyn std::fmt::Display| ConsensusError::Store(e.to_string());
        let mut txn = self.ledger.write_txn().map_err(|e| store_err(&e))?;
        let sequence = self
            .ledger
            .renotify(&mut txn, hash)
            .map_err(|e| store_err(&e))?;
        txn.commit().map_err(|e| store_err(&e))?;
        Ok(sequence)
    }

    pub(crate) fn block_confirm(
        &self,
        hash: &BlockHash,
    ) -> Result<BlockConfirmOutcome, ConsensusError> {
        let txn = self
            .ledger
            .read_txn()
            .map_err(|e| ConsensusError::Store(e.to_string()))?;
        let info = self
            .ledger
            .block_info(&txn, hash)
            .map_err(|e| ConsensusError::Store(e.to_string()))?
            .ok_or(ConsensusError::BlockNotFound)?;
        if info.confirmed {
            drop(txn);
            // As the reference does, a cemented block is announced again as confirmed by
            // confirmation height; the announcement gets its own row in the confirmation
            // log, so the HTTP callback and resuming WebSocket clients see it too.
            let sequence = self.renotify(hash)?;
            self.publish(confirmed_event(
                &info,
                ConfirmationType::ActiveConfirmationHeight,
                None,
                Some(sequence),
            ));
            return Ok(BlockConfirmOutcome::AlreadyConfirmed);
        }
        drop(txn);
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            if !active.contains_hash(hash) {
                let b = info.block;
                self.start_election_as(&mut active, b, delta, &mut fx, Behavior::Manual, None);
            }
        }
        self.dispatch(fx);
        Ok(BlockConfirmOutcome::Started)
    }
}
