//! Block-by-block validation of a stored ledger (`nano_node --validate_blocks`): every
//! block's hash, signature, proof of work, chain links, sideband and source, every
//! account's head and open block, and every confirmation height. Unlike
//! [`Ledger::check_consistency`] it does not stop at the first problem: each one is
//! handed to the caller as it is found, so a damaged ledger yields a full list, and it
//! streams (nothing proportional to the ledger is kept in memory).

use std::fmt;

use nano_core::keys::{verify_batch, VerifyItem};
use nano_core::{Account, Block, BlockHash, Epoch, Signature};
use nano_store::{AccountInfo, ConfirmationHeightInfo, StoreError, StoredBlock, Txn};

use crate::rollback::{received_from, sent_to};
use crate::Ledger;

/// What a [`Problem`] is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Block(BlockHash),
    Account(Account),
    /// The ledger as a whole (totals, undecodable rows).
    Ledger,
}

/// One thing wrong with the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub subject: Subject,
    pub message: String,
}

impl Problem {
    fn block(hash: &BlockHash, message: impl Into<String>) -> Problem {
        Problem {
            subject: Subject::Block(*hash),
            message: message.into(),
        }
    }

    fn account(account: &Account, message: impl Into<String>) -> Problem {
        Problem {
            subject: Subject::Account(*account),
            message: message.into(),
        }
    }
}

/// `block <HASH>: <message>`, `account <nano_...>: <message>` or `ledger: <message>`:
/// one line per problem, easy to grep.
impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Block(h) => write!(f, "block {}: {}", h.encode_hex(), self.message),
            Subject::Account(a) => write!(f, "account {}: {}", a.encode_account(), self.message),
            Subject::Ledger => write!(f, "ledger: {}", self.message),
        }
    }
}

/// What [`Ledger::validate`] looked at and how many problems it found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationSummary {
    pub blocks: u64,
    pub accounts: u64,
    pub confirmation_heights: u64,
    pub problems: u64,
}

/// Blocks checked per batch; the signature and work checks of a batch are spread over
/// the worker threads.
const BATCH: usize = 2048;

impl Ledger {
    /// The checks that need no other row: the block hashes to its key, carries a valid
    /// signature from its signer (the account; the epoch signer for epoch blocks) and
    /// enough work for its epoch and kind. The genesis block's work is not checked (it
    /// is below the threshold on some networks).
    pub fn validate_block_contents(&self, hash: &BlockHash, stored: &StoredBlock) -> Vec<Problem> {
        let signed = self
            .signer(stored)
            .map(|s| stored.block.verify_signature(&s));
        self.contents_with_signature(hash, stored, signed)
    }

    /// Who must have signed the block: its account, or the epoch signer for an epoch
    /// block (`None` for an epoch the network has no signer for).
    fn signer(&self, stored: &StoredBlock) -> Option<Account> {
        let sb = &stored.sideband;
        match &stored.block {
            Block::State(_) if sb.details.is_epoch => self.params.epoch_signer(sb.details.epoch),
            Block::State(b) => Some(b.account),
            _ => Some(sb.account),
        }
    }

    /// [`Ledger::validate_block_contents`] with the signature already checked: `signed`
    /// is whether it verified against [`Self::signer`] (`None`: there is no signer).
    fn contents_with_signature(
        &self,
        hash: &BlockHash,
        stored: &StoredBlock,
        signed: Option<bool>,
    ) -> Vec<Problem> {
        let mut out = Vec::new();
        let block = &stored.block;
        let sb = &stored.sideband;
        let actual = block.hash();
        if actual != *hash {
            out.push(Problem::block(
                hash,
                format!("stored under the wrong key: its contents hash to {actual}"),
            ));
        }
        match signed {
            Some(true) => {}
            Some(false) => out.push(Problem::block(hash, "invalid signature")),
            None => out.push(Problem::block(
                hash,
                format!(
                    "epoch block of {} has no epoch signer",
                    sb.details.epoch.as_str()
                ),
            )),
        }
        if *hash != self.params.genesis_hash {
            let (epoch, receive_like) = match block {
                Block::State(_) => (
                    sb.details.epoch,
                    sb.details.is_receive || sb.details.is_epoch,
                ),
                Block::Receive(_) | Block::Open(_) => (Epoch::Epoch0, true),
                Block::Send(_) | Block::Change(_) => (Epoch::Epoch0, false),
            };
            if !self
                .params
                .work
                .validate(&block.root(), block.work(), epoch, receive_like)
            {
                out.push(Problem::block(
                    hash,
                    format!(
                        "insufficient work {:016x} (value {:016x}, {} threshold {:016x})",
                        block.work(),
                        nano_core::work::work_value(&block.root(), block.work()),
                        epoch.as_str(),
                        self.params.work.threshold(epoch, receive_like)
                    ),
                ));
            }
        }
        out
    }

    /// The checks against other rows: the sideband agrees with the block and its
    /// predecessor (account, height, balance, kind), previous and successor link both
    /// ways, the account exists and its chain covers the block, and a receive's source
    /// is a send to this account (or was pruned).
    pub fn validate_block_links<T: Txn>(
        &self,
        txn: &T,
        hash: &BlockHash,
        stored: &StoredBlock,
    ) -> Result<Vec<Problem>, StoreError> {
        let s = &self.store;
        let mut out = Vec::new();
        let mut bad = |m: String| out.push(Problem::block(hash, m));
        let block = &stored.block;
        let sb = &stored.sideband;
        let account = sb.account;
        if let Some(a) = block.account_field() {
            if a != account {
                bad(format!(
                    "account field {} differs from sideband account {}",
                    a.encode_account(),
                    account.encode_account()
                ));
            }
        }
        if let Some(b) = block.balance_field() {
            if b != sb.balance {
                bad(format!(
                    "balance field {} differs from sideband balance {}",
                    b.encode_dec(),
                    sb.balance.encode_dec()
                ));
            }
        }
        // Predecessor.
        let previous = block.previous();
        let mut previous_balance = None;
        if previous.is_zero() {
            if sb.height != 1 {
                bad(format!("open block at height {}", sb.height));
            }
        } else {
            match s.block(txn, &previous)? {
                None => bad(format!("previous block {previous} missing")),
                Some(p) => {
                    previous_balance = Some(p.sideband.balance);
                    if p.sideband.account != account {
                        bad(format!(
                            "previous block {previous} belongs to {}",
                            p.sideband.account.encode_account()
                        ));
                    }
                    if p.sideband.height + 1 != sb.height {
                        bad(format!(
                            "height {} does not follow previous height {}",
                            sb.height, p.sideband.height
                        ));
                    }
                    if p.sideband.successor != *hash {
                        bad(format!(
                            "previous block {previous} names successor {}",
                            p.sideband.successor
                        ));
                    }
                    if p.sideband.details.epoch > sb.details.epoch && block.is_state() {
                        bad(format!(
                            "epoch {} below previous block's {}",
                            sb.details.epoch.as_str(),
                            p.sideband.details.epoch.as_str()
                        ));
                    }
                }
            }
        }
        // Successor.
        if !sb.successor.is_zero() {
            match s.block(txn, &sb.successor)? {
                None => bad(format!("successor block {} missing", sb.successor)),
                Some(n) if n.block.previous() != *hash => bad(format!(
                    "successor block {} has previous {}",
                    sb.successor,
                    n.block.previous()
                )),
                Some(_) => {}
            }
        }
        // Kind: the sideband's send/receive/epoch flags agree with the balances.
        let d = &sb.details;
        if [d.is_send, d.is_receive, d.is_epoch]
            .iter()
            .filter(|f| **f)
            .count()
            > 1
        {
            bad("sideband marks more than one of send, receive, epoch".into());
        }
        match block {
            Block::State(b) => {
                let before = previous_balance.unwrap_or_default();
                if previous.is_zero() || previous_balance.is_some() {
                    if d.is_send != (b.balance < before) {
                        bad(format!(
                            "sideband send flag {} but balance went from {} to {}",
                            d.is_send,
                            before.encode_dec(),
                            b.balance.encode_dec()
                        ));
                    }
                    if d.is_receive && b.balance < before {
                        bad("receive with a lower balance".into());
                    }
                }
                if d.is_epoch {
                    if self.params.epoch_of_link(&b.link) != Some(d.epoch) {
                        bad(format!(
                            "epoch block of {} without its epoch link",
                            d.epoch.as_str()
                        ));
                    }
                    if previous_balance.is_some() && b.balance != before {
                        bad("epoch block changes the balance".into());
                    }
                }
                if d.is_receive && b.link.is_zero() {
                    bad("receive without a source".into());
                }
            }
            _ => {
                // Legacy blocks store no details (their type says what they are): the
                // flags read back false, as in the reference.
                if d.is_send || d.is_receive || d.is_epoch {
                    bad("legacy block with sideband flags".into());
                }
                if d.epoch != Epoch::Epoch0 {
                    bad(format!("legacy block with epoch {}", d.epoch.as_str()));
                }
            }
        }
        // Source of a receive.
        if *hash != self.params.genesis_hash {
            if let Some(source) = received_from(block, sb) {
                match s.block(txn, &source)? {
                    Some(src) => {
                        if sent_to(&src.block, &src.sideband) != Some(account) {
                            bad(format!(
                                "source {source} is not a send to {}",
                                account.encode_account()
                            ));
                        } else if previous.is_zero() || previous_balance.is_some() {
                            // The amount received is the amount sent.
                            let before_send = s
                                .block_sideband(txn, &src.block.previous())?
                                .map(|p| p.balance)
                                .unwrap_or_default();
                            let sent = before_send.checked_sub(src.sideband.balance);
                            let received =
                                sb.balance.checked_sub(previous_balance.unwrap_or_default());
                            if sent != received {
                                bad(format!(
                                    "receives {} but source {source} sent {}",
                                    received.map(|a| a.encode_dec()).unwrap_or_default(),
                                    sent.map(|a| a.encode_dec()).unwrap_or_default()
                                ));
                            }
                        }
                    }
                    None if s.pruned_exists(txn, &source)? => {}
                    None => bad(format!("source block {source} missing")),
                }
            }
        }
        // The account's chain covers this block.
        match s.account(txn, &account)? {
            None => bad(format!(
                "account {} not in the accounts table",
                account.encode_account()
            )),
            Some(info) => {
                if sb.height > info.block_count {
                    bad(format!(
                        "height {} above the account's block count {}",
                        sb.height, info.block_count
                    ));
                }
                if sb.successor.is_zero() && info.head != *hash {
                    bad(format!(
                        "no successor, but the account's head is {}",
                        info.head
                    ));
                }
                if previous.is_zero() && info.open_block != *hash {
                    bad(format!(
                        "opens the chain, but the account's open block is {}",
                        info.open_block
                    ));
                }
            }
        }
        Ok(out)
    }

    /// An account's head and open block exist, belong to it and sit at the right
    /// heights; its balance and epoch match its head.
    pub fn validate_account<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
        info: &AccountInfo,
    ) -> Result<Vec<Problem>, StoreError> {
        let s = &self.store;
        let mut out = Vec::new();
        let mut bad = |m: String| out.push(Problem::account(account, m));
        match s.block(txn, &info.head)? {
            None => bad(format!("head block {} missing", info.head)),
            Some(h) => {
                if h.sideband.account != *account {
                    bad(format!(
                        "head block {} belongs to another account",
                        info.head
                    ));
                }
                if h.sideband.height != info.block_count {
                    bad(format!(
                        "head block {} at height {}, block count {}",
                        info.head, h.sideband.height, info.block_count
                    ));
                }
                if !h.sideband.successor.is_zero() {
                    bad(format!(
                        "head block {} has successor {}",
                        info.head, h.sideband.successor
                    ));
                }
                if h.sideband.balance != info.balance {
                    bad(format!(
                        "balance {} differs from head balance {}",
                        info.balance.encode_dec(),
                        h.sideband.balance.encode_dec()
                    ));
                }
                if h.block.is_state() && h.sideband.details.epoch != info.epoch {
                    bad(format!(
                        "epoch {} differs from head epoch {}",
                        info.epoch.as_str(),
                        h.sideband.details.epoch.as_str()
                    ));
                }
            }
        }
        match s.block_sideband(txn, &info.open_block)? {
            None => bad(format!("open block {} missing", info.open_block)),
            Some(o) if o.account != *account || o.height != 1 => bad(format!(
                "open block {} is not this account's first block",
                info.open_block
            )),
            Some(_) => {}
        }
        Ok(out)
    }

    /// A confirmation height lies within its account's chain and names the block at
    /// that height as its frontier.
    pub fn validate_confirmation_height<T: Txn>(
        &self,
        txn: &T,
        account: &Account,
        conf: &ConfirmationHeightInfo,
    ) -> Result<Vec<Problem>, StoreError> {
        let s = &self.store;
        let mut out = Vec::new();
        let mut bad = |m: String| out.push(Problem::account(account, m));
        let count = s.account(txn, account)?.map(|i| i.block_count);
        match count {
            None if conf.height > 0 => bad(format!(
                "confirmation height {} for an account without blocks",
                conf.height
            )),
            Some(n) if conf.height > n => bad(format!(
                "confirmation height {} above block count {n}",
                conf.height
            )),
            _ => {}
        }
        if conf.height > 0 {
            match s.block_sideband(txn, &conf.frontier)? {
                Some(f) if f.account == *account && f.height == conf.height => {}
                Some(f) => bad(format!(
                    "confirmed frontier {} is at height {} of {}, not {}",
                    conf.frontier,
                    f.height,
                    f.account.encode_account(),
                    conf.height
                )),
                None => bad(format!("confirmed frontier {} missing", conf.frontier)),
            }
        }
        Ok(out)
    }

    /// Validates the whole ledger in `txn`: every block ([`Ledger::validate_block_contents`]
    /// on `threads` threads, then [`Ledger::validate_block_links`]), every account, every
    /// confirmation height, and that the blocks table holds exactly the accounts' blocks.
    /// Each problem goes to `report` as soon as it is found.
    pub fn validate<T: Txn>(
        &self,
        txn: &T,
        threads: usize,
        mut report: impl FnMut(&Problem),
    ) -> Result<ValidationSummary, StoreError> {
        let mut sum = ValidationSummary::default();
        let mut emit = |p: Problem, sum: &mut ValidationSummary| {
            sum.problems += 1;
            report(&p);
        };
        let threads = threads.max(1);
        let mut batch: Vec<(BlockHash, StoredBlock)> = Vec::with_capacity(BATCH);
        let mut iter = self.store.iter_blocks(txn)?;
        loop {
            batch.clear();
            for item in iter.by_ref() {
                match item {
                    Ok(b) => batch.push(b),
                    Err(StoreError::Corrupt { table, detail }) => {
                        sum.blocks += 1;
                        emit(
                            Problem {
                                subject: Subject::Ledger,
                                message: format!("undecodable {table} row: {detail}"),
                            },
                            &mut sum,
                        );
                    }
                    Err(e) => return Err(e),
                }
                if batch.len() == BATCH {
                    break;
                }
            }
            if batch.is_empty() {
                break;
            }
            let contents = self.contents_problems(&batch, threads);
            for ((hash, stored), problems) in batch.iter().zip(contents) {
                sum.blocks += 1;
                for p in problems {
                    emit(p, &mut sum);
                }
                for p in self.validate_block_links(txn, hash, stored)? {
                    emit(p, &mut sum);
                }
            }
        }
        let mut chain_blocks = 0u64;
        for item in self.store.accounts_from(txn, &Account::ZERO)? {
            let (account, info) = item?;
            sum.accounts += 1;
            chain_blocks += info.block_count;
            for p in self.validate_account(txn, &account, &info)? {
                emit(p, &mut sum);
            }
        }
        for item in self.store.confirmation_heights_from(txn, &Account::ZERO)? {
            let (account, conf) = item?;
            sum.confirmation_heights += 1;
            for p in self.validate_confirmation_height(txn, &account, &conf)? {
                emit(p, &mut sum);
            }
        }
        if chain_blocks != sum.blocks {
            emit(
                Problem {
                    subject: Subject::Ledger,
                    message: format!(
                        "the blocks table holds {} blocks, the accounts' chains {chain_blocks}",
                        sum.blocks
                    ),
                },
                &mut sum,
            );
        }
        Ok(sum)
    }

    /// [`Ledger::validate_block_contents`] for each block of `batch`, in order, spread
    /// over `threads` threads.
    fn contents_problems(
        &self,
        batch: &[(BlockHash, StoredBlock)],
        threads: usize,
    ) -> Vec<Vec<Problem>> {
        // The signatures of a part are checked together (`verify_batch`: one
        // multi-scalar multiplication for the part, each signature alone only if that
        // fails), about twice as fast as one by one; they were three quarters of the
        // CPU time of a validation. Each signature is checked over the stored block's
        // own hash, so a block stored under the wrong key is still reported as such.
        let check = |part: &[(BlockHash, StoredBlock)]| -> Vec<Vec<Problem>> {
            let signers: Vec<Option<Account>> = part.iter().map(|(_, b)| self.signer(b)).collect();
            let hashes: Vec<BlockHash> = part.iter().map(|(_, b)| b.block.hash()).collect();
            let sigs: Vec<Signature> = part.iter().map(|(_, b)| b.block.signature()).collect();
            let mut items = Vec::with_capacity(part.len());
            for (i, signer) in signers.iter().enumerate() {
                if let Some(key) = signer {
                    items.push(VerifyItem {
                        key,
                        msg: &hashes[i].0,
                        sig: &sigs[i],
                    });
                }
            }
            let mut verified = verify_batch(&items).into_iter();
            part.iter()
                .zip(&signers)
                .map(|((h, b), signer)| {
                    let signed = signer.map(|_| verified.next().unwrap_or(false));
                    self.contents_with_signature(h, b, signed)
                })
                .collect()
        };
        if threads == 1 || batch.len() < 64 {
            return check(batch);
        }
        let chunk = batch.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = batch
                .chunks(chunk)
                .map(|part| scope.spawn(move || check(part)))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| match h.join() {
                    Ok(v) => v,
                    Err(e) => std::panic::resume_unwind(e),
                })
                .collect()
        })
    }
}
