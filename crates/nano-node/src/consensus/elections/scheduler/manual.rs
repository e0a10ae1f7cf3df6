//! Manual elections: RPC `block_confirm`.

use nano_core::BlockHash;

use crate::consensus::elections::Effects;
use crate::consensus::notify::confirmed_event;
use crate::consensus::{lock, BlockConfirmOutcome, ConsensusError, Shared};
use crate::events::ConfirmationType;

impl Shared {
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
            self.publish(confirmed_event(&info, ConfirmationType::Inactive, None));
            return Ok(BlockConfirmOutcome::AlreadyConfirmed);
        }
        drop(txn);
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            if !active.contains_hash(hash) {
                let bal = info.sideband.balance;
                self.start_election_locked(&mut active, info.block, bal, delta, &mut fx);
            }
        }
        self.dispatch(fx);
        Ok(BlockConfirmOutcome::Started)
    }
}
