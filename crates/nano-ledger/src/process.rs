//! Block acceptance: the reference node's checks, in its order, for state blocks
//! (send/receive/open/change), epoch blocks and the four legacy types, and the writes an
//! accepted block makes (block + sideband, successor link, account info, weights,
//! receivables).
//!
//! Every check runs before the first write, so a rejection leaves the transaction as it
//! was. The order matters: peers and RPC callers see the first failing rule's name.

use nano_core::keys::verify;
use nano_core::{
    Account, Amount, Block, BlockHash, BlockType, ChangeBlock, Epoch, OpenBlock, ReceiveBlock,
    SendBlock, StateBlock,
};
use nano_store::{
    AccountInfo, BlockDetails, BlockSideband, PendingInfo, PendingKey, StoreError, Txn, WriteTxn,
};

use crate::{now_secs, BlockStatus, BlockSubtype, Ledger, ProcessError, Processed};

type PResult = Result<Processed, ProcessError>;

fn reject(s: BlockStatus) -> PResult {
    Err(ProcessError::Rejected(s))
}

/// Whether legacy block rules may follow a block of type `prev` (legacy blocks never
/// follow a state block).
fn legacy_may_follow(prev: BlockType) -> bool {
    matches!(
        prev,
        BlockType::Send | BlockType::Receive | BlockType::Open | BlockType::Change
    )
}

impl Ledger {
    /// Validates `block` against every ledger rule (signature and work included) and, if
    /// it is accepted, writes it and its effects in `txn`.
    pub fn process(&self, txn: &mut WriteTxn<'_>, block: &Block) -> PResult {
        self.process_inner(txn, block, true)
    }

    /// As [`Ledger::process`] but trusts the signature: for callers that verified it
    /// already (for example in a batch). The caller must have checked it against the
    /// right signer: the account for state blocks, the epoch signer for epoch blocks, the
    /// chain's owner for legacy blocks. Work is still checked.
    pub fn process_preverified(&self, txn: &mut WriteTxn<'_>, block: &Block) -> PResult {
        self.process_inner(txn, block, false)
    }

    fn process_inner(&self, txn: &mut WriteTxn<'_>, block: &Block, check_sig: bool) -> PResult {
        let hash = block.hash();
        match block {
            Block::State(b) => self.state_block(txn, block, b, hash, check_sig),
            Block::Send(b) => self.legacy_send(txn, block, b, hash, check_sig),
            Block::Receive(b) => self.legacy_receive(txn, block, b, hash, check_sig),
            Block::Open(b) => self.legacy_open(txn, block, b, hash, check_sig),
            Block::Change(b) => self.legacy_change(txn, block, b, hash, check_sig),
        }
    }

    /// `old` covers pruned blocks too: they were in the ledger.
    pub(crate) fn block_or_pruned_exists<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<bool, StoreError> {
        Ok(self.store.block_exists(txn, hash)? || self.store.pruned_exists(txn, hash)?)
    }

    /// The receivable `key` names, else why a receive of it fails: `GapSource` when
    /// its source is neither in the ledger nor pruned, `Unreceivable` when it is (the
    /// reference's order of checks). A receivable exists only for a send the ledger
    /// holds or held, so the source is looked up only when there is none: one lookup
    /// in the blocks table and one in the pruned table fewer per receive written.
    fn receivable_for_receive<T: Txn>(
        &self,
        txn: &T,
        key: &PendingKey,
    ) -> Result<Result<PendingInfo, BlockStatus>, StoreError> {
        if let Some(p) = self.store.pending(txn, key)? {
            return Ok(Ok(p));
        }
        if self.block_or_pruned_exists(txn, &key.hash)? {
            Ok(Err(BlockStatus::Unreceivable))
        } else {
            Ok(Err(BlockStatus::GapSource))
        }
    }

    fn sig_ok(check: bool, signer: &Account, hash: &BlockHash, block: &Block) -> bool {
        !check || verify(signer, &hash.0, &block.signature())
    }

    fn work_ok(&self, block: &Block, epoch: Epoch, receive_like: bool) -> bool {
        self.params
            .work
            .validate(&block.root(), block.work(), epoch, receive_like)
    }

    /// Writes a new block and links it from its predecessor.
    fn put_new_block(
        &self,
        txn: &mut WriteTxn<'_>,
        hash: &BlockHash,
        block: &Block,
        sideband: &BlockSideband,
    ) -> Result<(), StoreError> {
        txn.put_block_parts(hash, block, sideband)?;
        let previous = block.previous();
        if !previous.is_zero() && !txn.set_successor(&previous, hash)? {
            return Err(StoreError::Corrupt {
                table: "blocks",
                detail: format!("predecessor {previous} of {hash} vanished"),
            });
        }
        Ok(())
    }

    /// Moves weight from (old_rep, old_balance) to (new_rep, new_balance).
    pub(crate) fn move_weight(
        &self,
        txn: &mut WriteTxn<'_>,
        old: Option<(Account, Amount)>,
        new: Option<(Account, Amount)>,
    ) -> Result<(), StoreError> {
        match (old, new) {
            (Some((or, ob)), Some((nr, nb))) if or == nr => {
                if ob != nb {
                    let w = self.store.rep_weight(txn, &or)?;
                    let w = w
                        .checked_sub(ob)
                        .and_then(|w| w.checked_add(nb))
                        .ok_or_else(|| weight_corrupt(&or))?;
                    txn.put_rep_weight(&or, w)?;
                }
            }
            (old, new) => {
                if let Some((r, b)) = old {
                    if !b.is_zero() {
                        let w = self.store.rep_weight(txn, &r)?;
                        let w = w.checked_sub(b).ok_or_else(|| weight_corrupt(&r))?;
                        txn.put_rep_weight(&r, w)?;
                    }
                }
                if let Some((r, b)) = new {
                    if !b.is_zero() {
                        let w = self.store.rep_weight(txn, &r)?;
                        let w = w.checked_add(b).ok_or_else(|| weight_corrupt(&r))?;
                        txn.put_rep_weight(&r, w)?;
                    }
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------- state blocks

    fn state_block(
        &self,
        txn: &mut WriteTxn<'_>,
        block: &Block,
        b: &StateBlock,
        hash: BlockHash,
        check_sig: bool,
    ) -> PResult {
        // An epoch link only makes an epoch block if the balance is unchanged; otherwise
        // it is an ordinary send to the account with those bytes.
        if let Some(epoch) = self.params.epoch_of_link(&b.link) {
            let previous_balance = if b.previous.is_zero() {
                Amount::ZERO
            } else {
                match self.store.block_sideband(txn, &b.previous)? {
                    Some(sb) => sb.balance,
                    None => {
                        if check_sig {
                            let signer = self.params.epoch_signer(epoch).unwrap_or_default();
                            if !verify(&b.account, &hash.0, &b.signature)
                                && !verify(&signer, &hash.0, &b.signature)
                            {
                                return reject(BlockStatus::BadSignature);
                            }
                        }
                        return reject(BlockStatus::GapPrevious);
                    }
                }
            };
            if b.balance == previous_balance {
                return self.epoch_block(txn, block, b, hash, epoch, check_sig);
            }
        }
        self.state_regular(txn, block, b, hash, check_sig)
    }

    fn state_regular(
        &self,
        txn: &mut WriteTxn<'_>,
        block: &Block,
        b: &StateBlock,
        hash: BlockHash,
        check_sig: bool,
    ) -> PResult {
        if self.block_or_pruned_exists(txn, &hash)? {
            return reject(BlockStatus::Old);
        }
        if !Self::sig_ok(check_sig, &b.account, &hash, block) {
            return reject(BlockStatus::BadSignature);
        }
        if b.account.is_zero() {
            return reject(BlockStatus::OpenedBurnAccount);
        }
        let existing = self.store.account(txn, &b.account)?;
        let mut epoch = Epoch::Epoch0;
        let mut source_epoch = Epoch::Epoch0;
        let mut is_send = false;
        let is_receive;
        let amount;
        match &existing {
            Some(info) => {
                epoch = info.epoch;
                if b.previous.is_zero() {
                    return reject(BlockStatus::Fork);
                }
                // The head always exists; only a different previous needs a lookup.
                if b.previous != info.head && !self.store.block_exists(txn, &b.previous)? {
                    return reject(BlockStatus::GapPrevious);
                }
                is_send = b.balance < info.balance;
                is_receive = !is_send && !b.link.is_zero();
                amount = b.balance.abs_diff(info.balance);
                if b.previous != info.head {
                    return reject(BlockStatus::Fork);
                }
            }
            None => {
                if !b.previous.is_zero() {
                    return reject(BlockStatus::GapPrevious);
                }
                is_receive = true;
                amount = b.balance;
                if b.link.is_zero() {
                    return reject(BlockStatus::GapSource);
                }
            }
        }
        let mut pending_key = None;
        if !is_send {
            if !b.link.is_zero() {
                let source = b.link.as_block_hash();
                let key = PendingKey::new(b.account, source);
                let pending = match self.receivable_for_receive(txn, &key)? {
                    Ok(p) => p,
                    Err(st) => return reject(st),
                };
                if amount != pending.amount {
                    return reject(BlockStatus::BalanceMismatch);
                }
                source_epoch = pending.epoch;
                epoch = epoch.max(source_epoch);
                pending_key = Some(key);
            } else if !amount.is_zero() {
                return reject(BlockStatus::BalanceMismatch);
            }
        }
        if !self.work_ok(block, epoch, is_receive) {
            return reject(BlockStatus::InsufficientWork);
        }

        // Accepted: write.
        let now = now_secs();
        let height = existing.map_or(0, |i| i.block_count) + 1;
        let sideband = BlockSideband {
            successor: BlockHash::ZERO,
            account: b.account,
            height,
            timestamp: now,
            balance: b.balance,
            details: BlockDetails {
                epoch,
                is_send,
                is_receive,
                is_epoch: false,
            },
            source_epoch,
        };
        self.put_new_block(txn, &hash, block, &sideband)?;
        self.move_weight(
            txn,
            existing.map(|i| (i.representative, i.balance)),
            Some((b.representative, b.balance)),
        )?;
        if is_send {
            txn.put_pending(
                &PendingKey::new(b.link.as_account(), hash),
                &PendingInfo {
                    source: b.account,
                    amount,
                    epoch,
                },
            )?;
        } else if let Some(key) = pending_key {
            txn.del_pending(&key)?;
        }
        txn.put_account(
            &b.account,
            &AccountInfo {
                head: hash,
                representative: b.representative,
                open_block: existing.map_or(hash, |i| i.open_block),
                balance: b.balance,
                modified: now,
                block_count: height,
                epoch,
            },
        )?;
        Ok(Processed {
            hash,
            account: b.account,
            subtype: BlockSubtype::of(block, &sideband),
            sideband,
            amount,
        })
    }

    fn epoch_block(
        &self,
        txn: &mut WriteTxn<'_>,
        block: &Block,
        b: &StateBlock,
        hash: BlockHash,
        epoch: Epoch,
        check_sig: bool,
    ) -> PResult {
        if self.block_or_pruned_exists(txn, &hash)? {
            return reject(BlockStatus::Old);
        }
        let signer = self.params.epoch_signer(epoch).unwrap_or_default();
        if !Self::sig_ok(check_sig, &signer, &hash, block) {
            return reject(BlockStatus::BadSignature);
        }
        if b.account.is_zero() {
            return reject(BlockStatus::OpenedBurnAccount);
        }
        let existing = self.store.account(txn, &b.account)?;
        match &existing {
            Some(info) => {
                if b.previous.is_zero() || b.previous != info.head {
                    return reject(BlockStatus::Fork);
                }
                if b.representative != info.representative {
                    return reject(BlockStatus::RepresentativeMismatch);
                }
            }
            None => {
                if !b.representative.is_zero() {
                    return reject(BlockStatus::RepresentativeMismatch);
                }
                if !self.store.pending_any(txn, &b.account)? {
                    return reject(BlockStatus::GapEpochOpenPending);
                }
            }
        }
        let info = existing.unwrap_or_default();
        let valid_upgrade = match existing {
            // Existing accounts upgrade one epoch at a time.
            Some(i) => i.epoch.next() == Some(epoch),
            // An unopened account may start at any real epoch.
            None => epoch >= Epoch::Epoch1,
        };
        if !valid_upgrade {
            return reject(BlockStatus::BlockPosition);
        }
        if b.balance != info.balance {
            return reject(BlockStatus::BalanceMismatch);
        }
        if !self.work_ok(block, epoch, true) {
            return reject(BlockStatus::InsufficientWork);
        }

        let now = now_secs();
        let height = info.block_count + 1;
        let sideband = BlockSideband {
            successor: BlockHash::ZERO,
            account: b.account,
            height,
            timestamp: now,
            balance: info.balance,
            details: BlockDetails {
                epoch,
                is_send: false,
                is_receive: false,
                is_epoch: true,
            },
            source_epoch: Epoch::Epoch0,
        };
        self.put_new_block(txn, &hash, block, &sideband)?;
        txn.put_account(
            &b.account,
            &AccountInfo {
                head: hash,
                representative: b.representative,
                open_block: if existing.is_some() {
                    info.open_block
                } else {
                    hash
                },
                balance: info.balance,
                modified: now,
                block_count: height,
                epoch,
            },
        )?;
        Ok(Processed {
            hash,
            account: b.account,
            subtype: BlockSubtype::Epoch,
            sideband,
            amount: Amount::ZERO,
        })
    }

    // ---------------------------------------------------------------- legacy blocks

    /// The common front of legacy send/receive/change: old → gap_previous →
    /// block_position → fork. Returns the owning account and its info.
    fn legacy_predecessor(
        &self,
        txn: &WriteTxn<'_>,
        hash: &BlockHash,
        previous: &BlockHash,
    ) -> Result<(Account, AccountInfo), ProcessError> {
        if self.block_or_pruned_exists(txn, hash)? {
            return Err(ProcessError::Rejected(BlockStatus::Old));
        }
        let Some(prev) = self.store.block(txn, previous)? else {
            return Err(ProcessError::Rejected(BlockStatus::GapPrevious));
        };
        if !legacy_may_follow(prev.block.block_type()) {
            return Err(ProcessError::Rejected(BlockStatus::BlockPosition));
        }
        let account = prev.sideband.account;
        let info = self
            .store
            .account(txn, &account)?
            .ok_or_else(|| StoreError::Corrupt {
                table: "accounts",
                detail: format!("block {previous} belongs to missing account {account}"),
            })?;
        if info.head != *previous {
            return Err(ProcessError::Rejected(BlockStatus::Fork));
        }
        Ok((account, info))
    }

    /// Legacy blocks carry no details on disk (the reference stores none: the block
    /// type says what they are), so they get the all-false epoch_0 details here too and
    /// the in-memory sideband equals what reads back.
    fn legacy_sideband(
        account: Account,
        info: &AccountInfo,
        balance: Amount,
        now: u64,
    ) -> BlockSideband {
        BlockSideband {
            successor: BlockHash::ZERO,
            account,
            height: info.block_count + 1,
            timestamp: now,
            balance,
            details: BlockDetails::default(),
            source_epoch: Epoch::Epoch0,
        }
    }

    fn legacy_send(
        &self,
        txn: &mut WriteTxn<'_>,
        block: &Block,
        b: &SendBlock,
        hash: BlockHash,
        check_sig: bool,
    ) -> PResult {
        let (account, info) = self.legacy_predecessor(txn, &hash, &b.previous)?;
        if !Self::sig_ok(check_sig, &account, &hash, block) {
            return reject(BlockStatus::BadSignature);
        }
        if !self.work_ok(block, Epoch::Epoch0, false) {
            return reject(BlockStatus::InsufficientWork);
        }
        let Some(amount) = info.balance.checked_sub(b.balance) else {
            return reject(BlockStatus::NegativeSpend);
        };
        let now = now_secs();
        let sideband = Self::legacy_sideband(account, &info, b.balance, now);
        self.put_new_block(txn, &hash, block, &sideband)?;
        self.move_weight(
            txn,
            Some((info.representative, info.balance)),
            Some((info.representative, b.balance)),
        )?;
        txn.put_account(
            &account,
            &AccountInfo {
                head: hash,
                balance: b.balance,
                modified: now,
                block_count: sideband.height,
                epoch: Epoch::Epoch0,
                ..info
            },
        )?;
        txn.put_pending(
            &PendingKey::new(b.destination, hash),
            &PendingInfo {
                source: account,
                amount,
                epoch: Epoch::Epoch0,
            },
        )?;
        Ok(Processed {
            hash,
            account,
            subtype: BlockSubtype::Send,
            sideband,
            amount,
        })
    }

    fn legacy_receive(
        &self,
        txn: &mut WriteTxn<'_>,
        block: &Block,
        b: &ReceiveBlock,
        hash: BlockHash,
        check_sig: bool,
    ) -> PResult {
        let (account, info) = self.legacy_predecessor(txn, &hash, &b.previous)?;
        if !Self::sig_ok(check_sig, &account, &hash, block) {
            return reject(BlockStatus::BadSignature);
        }
        let key = PendingKey::new(account, b.source);
        let pending = match self.receivable_for_receive(txn, &key)? {
            Ok(p) => p,
            Err(st) => return reject(st),
        };
        // Legacy blocks cannot receive sends made at epoch 1 or later.
        if pending.epoch != Epoch::Epoch0 {
            return reject(BlockStatus::Unreceivable);
        }
        if !self.work_ok(block, Epoch::Epoch0, true) {
            return reject(BlockStatus::InsufficientWork);
        }
        let balance =
            info.balance
                .checked_add(pending.amount)
                .ok_or_else(|| StoreError::Corrupt {
                    table: "accounts",
                    detail: format!("balance of {account} overflows"),
                })?;
        let now = now_secs();
        let sideband = Self::legacy_sideband(account, &info, balance, now);
        txn.del_pending(&key)?;
        self.put_new_block(txn, &hash, block, &sideband)?;
        txn.put_account(
            &account,
            &AccountInfo {
                head: hash,
                balance,
                modified: now,
                block_count: sideband.height,
                epoch: Epoch::Epoch0,
                ..info
            },
        )?;
        self.move_weight(
            txn,
            Some((info.representative, info.balance)),
            Some((info.representative, balance)),
        )?;
        Ok(Processed {
            hash,
            account,
            subtype: BlockSubtype::Receive,
            sideband,
            amount: pending.amount,
        })
    }

    fn legacy_open(
        &self,
        txn: &mut WriteTxn<'_>,
        block: &Block,
        b: &OpenBlock,
        hash: BlockHash,
        check_sig: bool,
    ) -> PResult {
        if self.block_or_pruned_exists(txn, &hash)? {
            return reject(BlockStatus::Old);
        }
        if !Self::sig_ok(check_sig, &b.account, &hash, block) {
            return reject(BlockStatus::BadSignature);
        }
        let key = PendingKey::new(b.account, b.source);
        let pending = self.receivable_for_receive(txn, &key)?;
        if pending == Err(BlockStatus::GapSource) {
            return reject(BlockStatus::GapSource);
        }
        if self.store.account(txn, &b.account)?.is_some() {
            return reject(BlockStatus::Fork);
        }
        let pending = match pending {
            Ok(p) => p,
            Err(st) => return reject(st),
        };
        if b.account.is_zero() {
            return reject(BlockStatus::OpenedBurnAccount);
        }
        if pending.epoch != Epoch::Epoch0 {
            return reject(BlockStatus::Unreceivable);
        }
        if !self.work_ok(block, Epoch::Epoch0, true) {
            return reject(BlockStatus::InsufficientWork);
        }
        let now = now_secs();
        let info = AccountInfo::default();
        let sideband = Self::legacy_sideband(b.account, &info, pending.amount, now);
        txn.del_pending(&key)?;
        self.put_new_block(txn, &hash, block, &sideband)?;
        txn.put_account(
            &b.account,
            &AccountInfo {
                head: hash,
                representative: b.representative,
                open_block: hash,
                balance: pending.amount,
                modified: now,
                block_count: 1,
                epoch: Epoch::Epoch0,
            },
        )?;
        self.move_weight(txn, None, Some((b.representative, pending.amount)))?;
        Ok(Processed {
            hash,
            account: b.account,
            subtype: BlockSubtype::Open,
            sideband,
            amount: pending.amount,
        })
    }

    fn legacy_change(
        &self,
        txn: &mut WriteTxn<'_>,
        block: &Block,
        b: &ChangeBlock,
        hash: BlockHash,
        check_sig: bool,
    ) -> PResult {
        let (account, info) = self.legacy_predecessor(txn, &hash, &b.previous)?;
        if !Self::sig_ok(check_sig, &account, &hash, block) {
            return reject(BlockStatus::BadSignature);
        }
        if !self.work_ok(block, Epoch::Epoch0, false) {
            return reject(BlockStatus::InsufficientWork);
        }
        let now = now_secs();
        let sideband = Self::legacy_sideband(account, &info, info.balance, now);
        self.put_new_block(txn, &hash, block, &sideband)?;
        self.move_weight(
            txn,
            Some((info.representative, info.balance)),
            Some((b.representative, info.balance)),
        )?;
        txn.put_account(
            &account,
            &AccountInfo {
                head: hash,
                representative: b.representative,
                modified: now,
                block_count: sideband.height,
                epoch: Epoch::Epoch0,
                ..info
            },
        )?;
        Ok(Processed {
            hash,
            account,
            subtype: BlockSubtype::Change,
            sideband,
            amount: Amount::ZERO,
        })
    }
}

pub(crate) fn weight_corrupt(rep: &Account) -> StoreError {
    StoreError::Corrupt {
        table: "rep_weights",
        detail: format!("weight of {rep} would leave the 128-bit range"),
    }
}
