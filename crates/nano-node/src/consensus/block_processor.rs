//! The block processor: the node's only ledger writer.
//!
//! Blocks wait in a bounded queue per source and are taken round robin (local
//! submissions get a larger share), so one busy peer cannot starve RPC or other peers.
//! Each batch is checked before the write transaction opens (entry work threshold,
//! signatures of state blocks verified together with `verify_batch`), then processed in
//! one write transaction bounded in count and time; one commit (one fsync) covers the
//! whole batch. The same transaction cements the winners of elections confirmed since the
//! last batch. Outcomes go to the submitters after the commit, so a `progress` answer
//! means the block is durable.
//!
//! After the commit: new blocks are published (local ones with the originator flag),
//! blocks waiting in [`super::unchecked`] for them are re-queued, elections start for
//! each touched account's newest block (and for blocks with cached votes), forks join
//! their root's election, and confirmations are reported on the event bus.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use nano_core::keys::{verify_batch, VerifyItem};
use nano_core::{Account, Amount, Block, BlockHash};
use nano_ledger::{BlockStatus, BlockSubtype, LedgerError, ProcessError, Processed, WriteTxn};
use nano_messages::{Message, Publish};

use super::election::ElectionSummary;
use super::unchecked::UncheckedItem;
use super::voting::Effects;
use super::{lock, BlockSource, Done, ProcessStatus, Shared, SubmitError};
use crate::events::{ConfirmationType, NodeEvent};

/// A queued block.
pub(crate) struct Entry {
    pub block: Block,
    pub source: BlockSource,
    pub done: Option<Done>,
}

/// A block to put in the ledger regardless of what holds its root (fork resolution or
/// RPC `process` with `force`).
pub(crate) struct Forced {
    pub block: Block,
    pub done: Option<Done>,
    /// The confirmed election that decided it (the block is cemented afterwards).
    pub confirmed: Option<ElectionSummary>,
}

/// A confirmed election waiting to be cemented.
pub(crate) struct Confirmed {
    pub summary: ElectionSummary,
    pub winner: Option<Block>,
}

/// Everything the writer thread works on.
#[derive(Default)]
pub(crate) struct WriterQueue {
    sources: HashMap<BlockSource, VecDeque<Entry>>,
    rr: VecDeque<BlockSource>,
    total: usize,
    pub cement: Vec<Confirmed>,
    pub forced: Vec<Forced>,
}

impl WriterQueue {
    pub fn total(&self) -> usize {
        self.total
    }

    fn idle(&self) -> bool {
        self.total == 0 && self.cement.is_empty() && self.forced.is_empty()
    }

    /// Queues `e` unless its source already holds `cap` blocks (then its callback is
    /// handed back).
    pub fn push(&mut self, e: Entry, cap: usize) -> Result<(), Option<Done>> {
        let q = self.sources.entry(e.source).or_default();
        if q.len() >= cap {
            return Err(e.done);
        }
        if q.is_empty() {
            self.rr.push_back(e.source);
        }
        q.push_back(e);
        self.total += 1;
        Ok(())
    }

    /// Puts entries back at the front of their queues (a batch ran out of time).
    fn push_front(&mut self, entries: Vec<Entry>) {
        for e in entries.into_iter().rev() {
            let q = self.sources.entry(e.source).or_default();
            if q.is_empty() {
                self.rr.push_front(e.source);
            }
            q.push_front(e);
            self.total += 1;
        }
    }

    /// Up to `max` entries, round robin over sources (local submissions take up to four
    /// per turn).
    fn pop_batch(&mut self, max: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        while out.len() < max {
            let Some(src) = self.rr.pop_front() else {
                break;
            };
            let share = if src == BlockSource::Local { 4 } else { 1 };
            let Some(q) = self.sources.get_mut(&src) else {
                continue;
            };
            for _ in 0..share {
                match q.pop_front() {
                    Some(e) => {
                        self.total -= 1;
                        out.push(e);
                    }
                    None => break,
                }
                if out.len() >= max {
                    break;
                }
            }
            if q.is_empty() {
                self.sources.remove(&src);
            } else {
                self.rr.push_back(src);
            }
        }
        out
    }

    pub fn drain_all(&mut self) -> (Vec<Entry>, Vec<Forced>) {
        let mut entries = Vec::new();
        for (_, q) in self.sources.drain() {
            entries.extend(q);
        }
        self.rr.clear();
        self.total = 0;
        self.cement.clear();
        (entries, std::mem::take(&mut self.forced))
    }
}

/// The dependency a gap block waits for.
fn dependency(block: &Block, status: BlockStatus) -> Option<BlockHash> {
    match status {
        BlockStatus::GapPrevious => Some(block.previous()),
        BlockStatus::GapSource => match block {
            Block::State(b) => Some(b.link.as_block_hash()),
            _ => block.source_field(),
        },
        _ => None,
    }
}

/// The block the ledger holds at `block`'s root, if any (the other side of a fork).
fn ledger_block_at_root<T: nano_ledger::Txn>(
    s: &Shared,
    txn: &T,
    block: &Block,
) -> Option<BlockHash> {
    let previous = block.previous();
    if previous.is_zero() {
        let account = block.account_field()?;
        s.ledger
            .account_info(txn, &account)
            .ok()
            .flatten()
            .map(|i| i.open_block)
    } else {
        s.ledger.successor(txn, &previous).ok().flatten()
    }
}

/// Outcome of a processed entry.
type Outcome = Result<Processed, BlockStatus>;

/// A cementing result: the election that decided it (if any), its winner, and every
/// block newly cemented, dependencies first.
type Cemented = (Option<ElectionSummary>, BlockHash, Vec<BlockHash>);

impl Shared {
    pub(crate) fn run_writer(&self) {
        while !self.is_stopped() {
            let (forced, cement, batch) = {
                let mut q = lock(&self.queue);
                while q.idle() && !self.is_stopped() {
                    q = self
                        .writer_cv
                        .wait_timeout(q, std::time::Duration::from_millis(200))
                        .map(|r| r.0)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                let forced = std::mem::take(&mut q.forced);
                let cement = std::mem::take(&mut q.cement);
                let batch = q.pop_batch(self.config.batch_max);
                (forced, cement, batch)
            };
            if self.is_stopped() {
                for e in batch {
                    if let Some(d) = e.done {
                        d(Err(SubmitError::Stopped));
                    }
                }
                for f in forced {
                    if let Some(d) = f.done {
                        d(Err(SubmitError::Stopped));
                    }
                }
                break;
            }
            for f in forced {
                self.apply_forced(f);
            }
            self.process_batch(batch, cement);
        }
    }

    /// Entry checks done before the write transaction: `Err(status)` rejects, `Ok(true)`
    /// means the signature is already verified.
    fn precheck(&self, batch: &[Entry]) -> Vec<Result<bool, BlockStatus>> {
        let hashes: Vec<BlockHash> = batch.iter().map(|e| e.block.hash()).collect();
        let mut out: Vec<Result<bool, BlockStatus>> = Vec::with_capacity(batch.len());
        let mut items = Vec::new();
        let mut item_idx = Vec::new();
        let sigs: Vec<_> = batch.iter().map(|e| e.block.signature()).collect();
        for (i, e) in batch.iter().enumerate() {
            let b = &e.block;
            if !self
                .params
                .work
                .validate_entry(&b.root(), b.work(), b.is_state())
            {
                out.push(Err(BlockStatus::InsufficientWork));
                continue;
            }
            match b {
                // Epoch blocks are signed by the epoch signer; the ledger decides which
                // rule applies, so they (and legacy blocks, whose signer is the chain's
                // owner) are verified inside `process`.
                Block::State(sb) if self.params.epoch_of_link(&sb.link).is_none() => {
                    out.push(Ok(true));
                    items.push(VerifyItem {
                        key: &sb.account,
                        msg: &hashes[i].0,
                        sig: &sigs[i],
                    });
                    item_idx.push(i);
                }
                _ => out.push(Ok(false)),
            }
        }
        let valid = verify_batch(&items);
        for (k, ok) in valid.into_iter().enumerate() {
            if !ok {
                out[item_idx[k]] = Err(BlockStatus::BadSignature);
            }
        }
        out
    }

    fn process_batch(&self, batch: Vec<Entry>, cement: Vec<Confirmed>) {
        if batch.is_empty() && cement.is_empty() {
            return;
        }
        let checks = self.precheck(&batch);
        let mut txn = match self.ledger.write_txn() {
            Ok(t) => t,
            Err(e) => {
                self.fail_batch(batch, &e.to_string());
                return;
            }
        };
        let started = Instant::now();
        let mut results: Vec<(Entry, Outcome)> = Vec::with_capacity(batch.len());
        let mut rest: Vec<Entry> = Vec::new();
        let mut store_error: Option<String> = None;
        let mut iter = batch.into_iter().zip(checks);
        for (entry, check) in iter.by_ref() {
            let outcome = match check {
                Err(st) => Err(st),
                Ok(pre) => {
                    let r = if pre {
                        self.ledger.process_preverified(&mut txn, &entry.block)
                    } else {
                        self.ledger.process(&mut txn, &entry.block)
                    };
                    match r {
                        Ok(p) => Ok(p),
                        Err(ProcessError::Rejected(st)) => Err(st),
                        Err(ProcessError::Store(e)) => {
                            store_error = Some(e.to_string());
                            rest.push(entry);
                            break;
                        }
                    }
                }
            };
            results.push((entry, outcome));
            if started.elapsed() > self.config.batch_max_time {
                break;
            }
        }
        rest.extend(iter.map(|(e, _)| e));
        if let Some(err) = store_error {
            drop(txn);
            let mut all: Vec<Entry> = results.into_iter().map(|(e, _)| e).collect();
            all.extend(rest);
            self.fail_batch(all, &err);
            // Cement requests are retried with the next batch.
            lock(&self.queue).cement.extend(cement);
            return;
        }
        if !rest.is_empty() {
            lock(&self.queue).push_front(rest);
        }
        let (cemented, retry) = self.cement_in(&mut txn, cement);
        if let Err(e) = txn.commit() {
            let all: Vec<Entry> = results.into_iter().map(|(e, _)| e).collect();
            self.fail_batch(all, &e.to_string());
            return;
        }
        for f in retry {
            self.force(f.block, f.done, f.confirmed);
        }
        self.after_batch(results);
        self.after_cement(cemented);
    }

    fn fail_batch(&self, entries: Vec<Entry>, err: &str) {
        self.stats.inc("blockprocessor", "store_error", "in");
        tracing::error!("block processor: store error: {err}");
        for e in entries {
            if let Some(d) = e.done {
                d(Err(SubmitError::Store(err.to_string())));
            }
        }
    }

    /// Cements confirmed winners in `txn`; winners missing from the ledger (a fork
    /// candidate won) come back as forced work.
    fn cement_in(
        &self,
        txn: &mut WriteTxn<'_>,
        cement: Vec<Confirmed>,
    ) -> (Vec<Cemented>, Vec<Forced>) {
        let mut done = Vec::new();
        let mut forced = Vec::new();
        for c in cement {
            let w = c.summary.winner;
            match self.ledger.block_exists(txn, &w) {
                Ok(true) => match self.ledger.confirm(txn, &w) {
                    Ok(list) => done.push((Some(c.summary), w, list)),
                    Err(e) => {
                        self.stats.inc("confirmation_height", "error", "in");
                        tracing::warn!("cementing {w}: {e}");
                    }
                },
                Ok(false) => {
                    if let Some(block) = c.winner {
                        forced.push(Forced {
                            block,
                            done: None,
                            confirmed: Some(c.summary),
                        });
                    }
                }
                Err(e) => tracing::warn!("cementing {w}: {e}"),
            }
        }
        (done, forced)
    }

    /// Publishing, unchecked release, elections and events for a committed batch.
    fn after_batch(&self, results: Vec<(Entry, Outcome)>) {
        // Per account: the newest block, its balance and height, and whether any of its
        // new blocks came from somewhere other than bootstrap (only those start an
        // election right away; bootstrapped chains wait for the backlog activation,
        // which paces them to the election capacity).
        let mut heads: HashMap<Account, (Block, Amount, u64, bool)> = HashMap::new();
        let mut new_hashes = Vec::new();
        let mut forks = Vec::new();
        let outbound = self.outbound();
        let notify = self.events.has_subscribers();
        let mut released = Vec::new();
        let mut progress = 0u64;
        // Submitters hear back after elections started, so an RPC caller that asks about
        // the block next finds its election.
        let mut replies: Vec<(Done, BlockStatus)> = Vec::new();
        for (entry, outcome) in results {
            let status = match &outcome {
                Ok(_) => BlockStatus::Progress,
                Err(st) => *st,
            };
            self.stats.inc("ledger", status.as_str(), "in");
            // Gap blocks are parked before the submitter hears about them.
            let done = entry.done;
            let entry = Entry {
                block: entry.block,
                source: entry.source,
                done: None,
            };
            if let Err(st) = &outcome {
                if let Some(dep) = dependency(&entry.block, *st) {
                    lock(&self.unchecked).insert(
                        dep,
                        UncheckedItem {
                            block: entry.block.clone(),
                            source: entry.source,
                        },
                    );
                }
            }
            if let Some(d) = done {
                replies.push((d, status));
            }
            match outcome {
                Ok(p) => {
                    progress += 1;
                    if notify {
                        self.publish(NodeEvent::NewUnconfirmedBlock {
                            block: block_json(&entry.block, p.subtype),
                            hash: p.hash,
                        });
                    }
                    // Bootstrapped blocks are old news to peers: not republished.
                    let relay = outbound
                        .as_ref()
                        .filter(|_| entry.source != BlockSource::Bootstrap);
                    if let Some(out) = relay {
                        let (originator, exclude) = match entry.source {
                            BlockSource::Local => (true, None),
                            BlockSource::Peer(c) => (false, Some(c)),
                            _ => (false, None),
                        };
                        let msg = Message::Publish(Box::new(Publish {
                            block: entry.block.clone(),
                            originator,
                        }));
                        out.flood(&msg, if originator { 16 } else { 2 }, exclude);
                    }
                    released.extend(lock(&self.unchecked).take(&p.hash));
                    new_hashes.push(p.hash);
                    let h = p.sideband.height;
                    let live = entry.source != BlockSource::Bootstrap;
                    match heads.get_mut(&p.account) {
                        Some((_, _, old, l)) if *old >= h => *l |= live,
                        Some(e) => {
                            let l = e.3 || live;
                            *e = (entry.block, p.sideband.balance, h, l);
                        }
                        None => {
                            heads.insert(p.account, (entry.block, p.sideband.balance, h, live));
                        }
                    }
                }
                Err(st) => {
                    if st == BlockStatus::Fork {
                        forks.push(entry.block);
                    }
                }
            }
        }
        if progress > 0 {
            self.stats.add("blockprocessor", "progress", "in", progress);
        }
        for item in released {
            self.submit(item.block, BlockSource::Unchecked, None);
        }
        {
            let mut u = lock(&self.unconfirmed_accounts);
            for a in heads.keys() {
                u.insert(*a);
            }
        }
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        {
            let mut active = lock(&self.active);
            for (_, (block, balance, _, live)) in heads {
                if live {
                    self.start_election_locked(&mut active, block, balance, delta, &mut fx);
                }
            }
            // Blocks that votes already named get their own election so those votes
            // count (they may be below the head).
            let cached: Vec<BlockHash> = {
                let vc = lock(&self.vote_cache);
                new_hashes.into_iter().filter(|h| vc.contains(h)).collect()
            };
            if !cached.is_empty() {
                if let Ok(txn) = self.ledger.read_txn() {
                    for h in cached {
                        if active.contains_hash(&h) {
                            continue;
                        }
                        if let Ok(Some(sb)) = self.ledger.block(&txn, &h) {
                            let bal = sb.sideband.balance;
                            self.start_election_locked(&mut active, sb.block, bal, delta, &mut fx);
                        }
                    }
                }
            }
        }
        if !forks.is_empty() {
            self.handle_forks(forks, delta, &mut fx);
        }
        self.dispatch(fx);
        for (d, status) in replies {
            d(Ok(status));
        }
    }

    /// A fork joins the election of its root (started with the ledger's block as winner).
    fn handle_forks(&self, forks: Vec<Block>, delta: Amount, fx: &mut Effects) {
        let Ok(txn) = self.ledger.read_txn() else {
            return;
        };
        for fork in forks {
            self.stats.inc("ledger", "fork_handled", "in");
            let Some(existing) = ledger_block_at_root(self, &txn, &fork) else {
                continue;
            };
            if existing == fork.hash() {
                continue;
            }
            if self.ledger.block_confirmed(&txn, &existing).unwrap_or(true) {
                continue;
            }
            let Ok(Some(sb)) = self.ledger.block(&txn, &existing) else {
                continue;
            };
            let mut active = lock(&self.active);
            let balance = sb.sideband.balance;
            self.start_election_locked(&mut active, sb.block, balance, delta, fx);
            self.start_election_locked(&mut active, fork, balance, delta, fx);
        }
    }

    /// Events and bookkeeping for newly cemented blocks.
    fn after_cement(&self, cemented: Vec<Cemented>) {
        if cemented.is_empty() {
            return;
        }
        let notify = self.events.has_subscribers();
        let txn = self.ledger.read_txn().ok();
        let mut accounts: HashMap<Account, ()> = HashMap::new();
        let mut total = 0u64;
        for (summary, winner, list) in &cemented {
            total += list.len() as u64;
            {
                let mut active = lock(&self.active);
                for h in list {
                    // Elections of blocks cemented below a winner are settled too.
                    if let Some(root) = active.root_of(h) {
                        active.remove(&root);
                        active.remember(*h, root);
                    } else if h == winner {
                        if let Some(s) = summary {
                            active.remember(*h, s.qualified_root);
                        }
                    }
                }
            }
            let Some(txn) = &txn else { continue };
            for h in list {
                let Ok(Some(info)) = self.ledger.block_info(txn, h) else {
                    continue;
                };
                accounts.insert(info.account(), ());
                if !notify {
                    continue;
                }
                let (kind, election) = if h == winner && summary.is_some() {
                    (
                        ConfirmationType::ActiveQuorum,
                        summary.as_ref().map(|s| s.election_info_json()),
                    )
                } else {
                    (ConfirmationType::ActiveConfirmationHeight, None)
                };
                self.publish(confirmed_event(&info, kind, election));
            }
        }
        self.stats
            .add("confirmation_height", "blocks_confirmed", "in", total);
        if let Some(txn) = &txn {
            let mut u = lock(&self.unconfirmed_accounts);
            for a in accounts.keys() {
                let conf = self
                    .ledger
                    .store()
                    .confirmation_height(txn, a)
                    .map(|c| c.height);
                let count = self
                    .ledger
                    .account_info(txn, a)
                    .ok()
                    .flatten()
                    .map(|i| i.block_count);
                if let (Ok(c), Some(n)) = (conf, count) {
                    if c >= n {
                        u.remove(a);
                    }
                }
            }
        }
    }

    /// Queues forced processing of `block` (see [`Forced`]).
    pub(crate) fn force(
        &self,
        block: Block,
        done: Option<Done>,
        confirmed: Option<ElectionSummary>,
    ) {
        lock(&self.queue).forced.push(Forced {
            block,
            done,
            confirmed,
        });
        self.writer_cv.notify_one();
    }

    /// Rolls back whatever holds the block's root, processes the block and (for an
    /// election winner) cements it, all in one transaction.
    fn apply_forced(&self, f: Forced) {
        let Forced {
            block,
            done,
            confirmed,
        } = f;
        let hash = block.hash();
        let reply = |d: Option<Done>, r: ProcessStatus| {
            if let Some(d) = d {
                d(r);
            }
        };
        let mut txn = match self.ledger.write_txn() {
            Ok(t) => t,
            Err(e) => return reply(done, Err(SubmitError::Store(e.to_string()))),
        };
        let mut rolled_back: Vec<Block> = Vec::new();
        let exists = self.ledger.block_exists(&txn, &hash).unwrap_or(false);
        let mut status = BlockStatus::Old;
        let mut processed = None;
        if !exists {
            if let Some(existing) = ledger_block_at_root(self, &txn, &block) {
                match self.ledger.rollback(&mut txn, &existing) {
                    Ok(list) => rolled_back = list,
                    Err(LedgerError::Cemented(_)) => {
                        drop(txn);
                        self.stats.inc("rollback", "cemented", "in");
                        return reply(done, Ok(BlockStatus::Fork));
                    }
                    Err(e) => {
                        drop(txn);
                        tracing::warn!("rollback for {hash} failed: {e}");
                        return reply(done, Err(SubmitError::Store(e.to_string())));
                    }
                }
            }
            match self.ledger.process(&mut txn, &block) {
                Ok(p) => {
                    status = BlockStatus::Progress;
                    processed = Some(p);
                }
                Err(ProcessError::Rejected(st)) => {
                    // Keep the rollback only if something replaced it; otherwise undo.
                    drop(txn);
                    return reply(done, Ok(st));
                }
                Err(ProcessError::Store(e)) => {
                    drop(txn);
                    return reply(done, Err(SubmitError::Store(e.to_string())));
                }
            }
        }
        let mut cemented = Vec::new();
        if let Some(s) = &confirmed {
            match self.ledger.confirm(&mut txn, &hash) {
                Ok(list) => cemented.push((Some(s.clone()), hash, list)),
                Err(e) => tracing::warn!("cementing forced {hash}: {e}"),
            }
        }
        if let Err(e) = txn.commit() {
            return reply(done, Err(SubmitError::Store(e.to_string())));
        }
        self.stats
            .add("rollback", "blocks", "in", rolled_back.len() as u64);
        // Elections of rolled-back blocks are over.
        {
            let mut stopped = Vec::new();
            let mut active = lock(&self.active);
            for b in &rolled_back {
                let h = b.hash();
                if let Some(root) = active.root_of(&h) {
                    if confirmed.as_ref().map(|s| s.qualified_root) == Some(root) {
                        continue;
                    }
                    if let Some(e) = active.remove(&root) {
                        stopped.push(e.winner);
                    }
                }
            }
            drop(active);
            for h in stopped {
                self.publish(NodeEvent::ElectionStopped { hash: h });
            }
        }
        if let Some(p) = processed {
            if self.events.has_subscribers() {
                self.publish(NodeEvent::NewUnconfirmedBlock {
                    block: block_json(&block, p.subtype),
                    hash,
                });
            }
            if let Some(out) = self.outbound() {
                let msg = Message::Publish(Box::new(Publish {
                    block: block.clone(),
                    originator: false,
                }));
                out.flood(&msg, 2, None);
            }
            for item in lock(&self.unchecked).take(&hash) {
                self.submit(item.block, BlockSource::Unchecked, None);
            }
            lock(&self.unconfirmed_accounts).insert(p.account);
        }
        reply(done, Ok(status));
        self.after_cement(cemented);
    }
}

/// Block JSON with `subtype` for state blocks, as notifications carry it.
pub(crate) fn block_json(block: &Block, subtype: BlockSubtype) -> serde_json::Value {
    let mut v = block.to_json();
    if block.is_state() {
        if let Some(m) = v.as_object_mut() {
            m.insert("subtype".into(), subtype.as_str().into());
        }
    }
    v
}

pub(crate) fn confirmed_event(
    info: &nano_ledger::BlockInfo,
    kind: ConfirmationType,
    election: Option<serde_json::Value>,
) -> NodeEvent {
    NodeEvent::BlockConfirmed {
        hash: info.hash,
        account: info.account(),
        amount: info.amount,
        block: block_json(&info.block, info.subtype),
        subtype: info.subtype.as_str().to_string(),
        is_send: info.subtype == BlockSubtype::Send,
        confirmation_type: kind,
        height: info.height(),
        local_timestamp: info.sideband.timestamp,
        election,
    }
}
