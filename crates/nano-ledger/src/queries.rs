//! Read-only questions the RPC, bootstrap and election code ask of the ledger. All take a
//! transaction so that a caller can answer several questions from one snapshot.

use nano_core::{Account, Amount, Block, BlockHash};
use nano_store::{
    AccountInfo, BlockSideband, ConfirmationHeightInfo, PendingInfo, PendingKey, StoreError, Txn,
};

use crate::{BlockSubtype, Ledger, LedgerError};

/// A block with everything RPC prints about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockInfo {
    pub hash: BlockHash,
    pub block: Block,
    pub sideband: BlockSideband,
    pub subtype: BlockSubtype,
    /// Amount moved by the block (zero for change and epoch blocks).
    pub amount: Amount,
    pub confirmed: bool,
}

impl BlockInfo {
    pub fn account(&self) -> Account {
        self.sideband.account
    }
    pub fn height(&self) -> u64 {
        self.sideband.height
    }
    /// Account balance after this block.
    pub fn balance(&self) -> Amount {
        self.sideband.balance
    }
}

impl Ledger {
    pub fn account_info<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
    ) -> Result<Option<AccountInfo>, StoreError> {
        self.store.account(txn, account)
    }

    /// The account's head block, `None` if it is not opened.
    pub fn latest<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
    ) -> Result<Option<BlockHash>, StoreError> {
        Ok(self.store.account(txn, account)?.map(|i| i.head))
    }

    pub fn block<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<nano_store::StoredBlock>, StoreError> {
        self.store.block(txn, hash)
    }

    /// The block's type and `previous` (zero for an open block), without decoding it.
    pub fn block_type_and_previous<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<(nano_core::BlockType, BlockHash)>, StoreError> {
        self.store.block_type_and_previous(txn, hash)
    }

    /// The block with its sideband, subtype, amount and confirmation status.
    pub fn block_info<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<BlockInfo>, LedgerError> {
        let Some(sb) = self.store.block(txn, hash)? else {
            return Ok(None);
        };
        let previous_balance = self.previous_balance(txn, &sb.block)?;
        let conf = self.store.confirmation_height(txn, &sb.sideband.account)?;
        Ok(Some(BlockInfo {
            hash: *hash,
            subtype: BlockSubtype::of(&sb.block, &sb.sideband),
            amount: sb.sideband.balance.abs_diff(previous_balance),
            confirmed: sb.sideband.height <= conf.height,
            block: sb.block,
            sideband: sb.sideband,
        }))
    }

    fn previous_balance<T: Txn>(&self, txn: &T, block: &Block) -> Result<Amount, LedgerError> {
        let previous = block.previous();
        if previous.is_zero() {
            return Ok(Amount::ZERO);
        }
        match self.store.block_sideband(txn, &previous)? {
            Some(p) => Ok(p.balance),
            None => Err(LedgerError::Inconsistent(format!(
                "predecessor {previous} missing (pruned?)"
            ))),
        }
    }

    pub fn block_exists<T: Txn>(&self, txn: &T, hash: &BlockHash) -> Result<bool, StoreError> {
        self.store.block_exists(txn, hash)
    }

    /// True for blocks in the ledger or pruned from it.
    pub fn block_or_pruned<T: Txn>(&self, txn: &T, hash: &BlockHash) -> Result<bool, StoreError> {
        self.block_or_pruned_exists(txn, hash)
    }

    pub fn block_account<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<Account>, StoreError> {
        Ok(self.store.block_sideband(txn, hash)?.map(|s| s.account))
    }

    /// Account balance right after block `hash`.
    pub fn balance_at<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<Amount>, StoreError> {
        Ok(self.store.block_sideband(txn, hash)?.map(|s| s.balance))
    }

    /// Amount moved by block `hash`.
    pub fn amount<T: Txn>(&self, txn: &T, hash: &BlockHash) -> Result<Option<Amount>, LedgerError> {
        Ok(self.block_info(txn, hash)?.map(|i| i.amount))
    }

    pub fn block_height<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self.store.block_sideband(txn, hash)?.map(|s| s.height))
    }

    /// The next block of the same account, `None` for a head or an unknown block.
    pub fn successor<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
    ) -> Result<Option<BlockHash>, StoreError> {
        Ok(self
            .store
            .block_sideband(txn, hash)?
            .map(|s| s.successor)
            .filter(|s| !s.is_zero()))
    }

    /// Up to `count` blocks of `account`'s chain starting at `start` (default: the head
    /// going down, the open block going up). `ascending` walks towards the head. The
    /// caller pages by passing the neighbour of the last returned block as `start`.
    pub fn history<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
        start: Option<BlockHash>,
        count: usize,
        ascending: bool,
    ) -> Result<Vec<BlockInfo>, LedgerError> {
        let mut out = Vec::new();
        let Some(info) = self.store.account(txn, account)? else {
            return Ok(out);
        };
        let mut cur = start.unwrap_or(if ascending {
            info.open_block
        } else {
            info.head
        });
        while out.len() < count && !cur.is_zero() {
            let Some(bi) = self.block_info(txn, &cur)? else {
                break;
            };
            if bi.sideband.account != *account {
                break;
            }
            cur = if ascending {
                bi.sideband.successor
            } else {
                bi.block.previous()
            };
            out.push(bi);
        }
        Ok(out)
    }

    /// Up to `count` (account, head) pairs in account order starting at `start`.
    pub fn frontiers<T: Txn>(
        &self,
        txn: &T,
        start: &Account,
        count: usize,
    ) -> Result<Vec<(Account, BlockHash)>, StoreError> {
        self.store
            .accounts_from(txn, start)?
            .take(count)
            .map(|r| r.map(|(a, i)| (a, i.head)))
            .collect()
    }

    /// Accounts with their info in account order from `start`, read one at a time, so a
    /// walk over the whole ledger holds one entry, not every account.
    pub fn accounts_from<'t, T: Txn>(
        &self,
        txn: &'t T,
        start: &Account,
    ) -> Result<impl Iterator<Item = Result<(Account, AccountInfo), StoreError>> + 't, StoreError>
    {
        self.store.accounts_from(txn, start)
    }

    /// Accounts delegating to `rep`, with their balances. Scans every account, as the
    /// reference node does; RPC pages over it.
    pub fn delegators<T: Txn>(
        &self,
        txn: &T,
        rep: &Account,
    ) -> Result<Vec<(Account, Amount)>, StoreError> {
        let mut out = Vec::new();
        for r in self.store.accounts_from(txn, &Account::ZERO)? {
            let (a, i) = r?;
            if i.representative == *rep {
                out.push((a, i.balance));
            }
        }
        Ok(out)
    }

    /// Up to `count` receivables of `account` worth at least `threshold`, in send-hash
    /// order.
    pub fn receivable<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
        threshold: Amount,
        count: usize,
    ) -> Result<Vec<(BlockHash, PendingInfo)>, StoreError> {
        let mut out = Vec::new();
        for r in self.store.pending_of(txn, account)? {
            if out.len() >= count {
                break;
            }
            let (k, v) = r?;
            if v.amount >= threshold {
                out.push((k.hash, v));
            }
        }
        Ok(out)
    }

    /// Sum of everything receivable by `account`.
    pub fn receivable_total<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
    ) -> Result<Amount, StoreError> {
        let mut total = Amount::ZERO;
        for r in self.store.pending_of(txn, account)? {
            total = total.checked_add(r?.1.amount).unwrap_or(Amount::MAX);
        }
        Ok(total)
    }

    /// The account's current balance, zero if it is not opened.
    pub fn account_balance<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
    ) -> Result<Amount, StoreError> {
        Ok(self
            .store
            .account(txn, account)?
            .map_or(Amount::ZERO, |i| i.balance))
    }

    /// Voting weight as of the last commit: from memory for a representative at or
    /// above the store's cache minimum (the vote minimum), from the table for a lighter
    /// one.
    pub fn weight(&self, rep: &Account) -> Amount {
        self.store.rep_weight_cached(rep)
    }

    /// Voting weight as seen by `txn`.
    pub fn weight_in<T: Txn>(&self, txn: &T, rep: &Account) -> Result<Amount, StoreError> {
        self.store.rep_weight(txn, rep)
    }

    pub fn block_count<T: Txn>(&self, txn: &T) -> Result<u64, StoreError> {
        self.store.block_count(txn)
    }

    /// Cemented blocks as of the last commit.
    pub fn cemented_count(&self) -> u64 {
        self.store.cemented_count()
    }

    pub fn account_count<T: Txn>(&self, txn: &T) -> Result<u64, StoreError> {
        self.store.account_count(txn)
    }

    /// The account's cemented height and frontier (zero for an account with nothing
    /// cemented or no blocks).
    pub fn confirmation_height<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
    ) -> Result<ConfirmationHeightInfo, StoreError> {
        self.store.confirmation_height(txn, account)
    }

    /// What `send` left receivable for `account`, `None` once received (or if it never
    /// was a send to `account`).
    pub fn pending_info<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
        send: &BlockHash,
    ) -> Result<Option<PendingInfo>, StoreError> {
        let key = PendingKey {
            account: *account,
            hash: *send,
        };
        self.store.pending(txn, &key)
    }

    /// Every receivable from `account`'s (inclusive) on, across accounts, in (account,
    /// send hash) order: lazily, so a caller can stop after the accounts it needs.
    pub fn receivables_from<'t, T: Txn>(
        &self,
        txn: &'t T,
        account: &Account,
    ) -> Result<impl Iterator<Item = Result<(PendingKey, PendingInfo), StoreError>> + 't, StoreError>
    {
        let start = PendingKey {
            account: *account,
            hash: BlockHash::ZERO,
        };
        self.store.pending_from(txn, &start)
    }

    /// The schema version recorded in the store, `None` for a store that has none yet.
    pub fn store_version<T: Txn>(&self, txn: &T) -> Result<Option<u32>, StoreError> {
        self.store.version(txn)
    }

    /// The newest confirmation sequence number, `None` before the first cementing.
    pub fn confirmation_log_head<T: Txn>(&self, txn: &T) -> Result<Option<u64>, StoreError> {
        self.store.confirmation_head(txn)
    }

    /// The oldest confirmation sequence number still replayable.
    pub fn confirmation_log_oldest<T: Txn>(&self, txn: &T) -> Result<Option<u64>, StoreError> {
        self.store.confirmation_oldest(txn)
    }

    /// The sequence number a named reader of the confirmation log last persisted.
    pub fn confirmation_log_cursor<T: Txn>(
        &self,
        txn: &T,
        name: &str,
    ) -> Result<Option<u64>, StoreError> {
        self.store.confirmation_cursor(txn, name)
    }
}
