//! The block processor: the node's only ledger writer.
//!
//! Blocks wait in a bounded queue per source and are taken round robin (local
//! submissions get a larger share), so one busy peer cannot starve RPC or other peers.
//! The [`checker`] thread takes them from there and checks what needs no ledger (entry
//! work threshold, signatures of state blocks verified together with `verify_batch`)
//! while the writer thread writes the previous batch; the writer processes each checked
//! batch in one write transaction bounded in count ([`batch_bound`]: fewer blocks while
//! the ledger file is small) and time; one commit (one fsync)
//! covers the whole batch. The same transaction cements the winners of elections confirmed since the
//! last batch. Outcomes go to the submitters after the commit, so a `progress` answer
//! means the block is durable.
//!
//! After the commit: new blocks are published (local ones with the originator flag),
//! blocks waiting in [`unchecked`] for them are re-queued, each touched account's FIRST
//! uncemented block gets an election (the priority scheduler; blocks with cached votes
//! get one too), forks join their root's election, and confirmations are reported on
//! the event bus. Cementing a winner cements its uncemented dependents with it and
//! activates the next block of each account it touched.
//!
//! Parts: [`queue`] (per-source bounded queue), [`batch_bound`] (blocks per write
//! transaction), [`checker`] (checks beside the writer),
//! [`unchecked`] (gap blocks), [`inserted_sends`] (sends inserted, for bootstrap),
//! [`cementing`] (confirmed winners), [`forced`] (rollback and replace), [`writer_stats`]
//! (the writer's time, faults and bytes written per phase, for the bootstrap bench).

pub(crate) mod batch_bound;
pub(crate) mod cementing;
pub(crate) mod checker;
pub(crate) mod forced;
pub(crate) mod inserted_sends;
pub(crate) mod queue;
pub mod unchecked;
pub(crate) mod writer_stats;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Condvar, MutexGuard};
use std::time::Instant;

use nano_core::{Account, Amount, Block, BlockHash};
use nano_ledger::{BlockStatus, ProcessError, Processed};

use crate::consensus::elections::election::Behavior;
use crate::consensus::elections::{Confirmed, Effects};
use crate::consensus::notify::block_json;
use crate::consensus::{lock, BlockSource, Done, Shared, SubmitError};
use crate::events::NodeEvent;
use forced::ledger_block_at_root;
use queue::{Check, Entry, WriterQueue};
use unchecked::UncheckedItem;
use writer_stats::PhaseStart;

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

/// Outcome of a processed entry.
type Outcome = Result<Processed, BlockStatus>;

impl Shared {
    /// The queue once `idle` is false for the waiting thread (or the node stops);
    /// `cv` is that thread's condition variable, waited on in 200 ms steps.
    pub(crate) fn wait_queue(
        &self,
        cv: &Condvar,
        idle: fn(&WriterQueue) -> bool,
    ) -> MutexGuard<'_, WriterQueue> {
        let mut q = lock(&self.queue);
        while idle(&q) && !self.is_stopped() {
            q = cv
                .wait_timeout(q, std::time::Duration::from_millis(200))
                .map(|r| r.0)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        q
    }

    pub(crate) fn run_writer(&self) {
        while !self.is_stopped() {
            let idle = PhaseStart::now();
            let bound = batch_bound::write_batch_bound(
                self.config.batch_max,
                self.ledger.store().last_page(),
            );
            let (forced, cement, batch) = {
                let mut q = self.wait_queue(&self.writer_cv, WriterQueue::idle);
                let forced = std::mem::take(&mut q.forced);
                let cement = std::mem::take(&mut q.cement);
                let batch = q.pop_checked(bound);
                (forced, cement, batch)
            };
            self.writer_stats.idle.end(&idle);
            // Room for the checker's next batch.
            self.checker_cv.notify_one();
            if self.is_stopped() {
                for (e, _) in batch {
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

    /// Writes a batch of checked entries (and cements `cement`) in one write transaction.
    pub(crate) fn process_batch(&self, batch: Vec<(Entry, Check)>, cement: Vec<Confirmed>) {
        if batch.is_empty() && cement.is_empty() {
            return;
        }
        let ws = &self.writer_stats;
        let phase = PhaseStart::now();
        let txn = self.ledger.write_txn();
        let phase = ws.begin.end(&phase);
        let mut txn = match txn {
            Ok(t) => t,
            Err(e) => {
                let entries = batch.into_iter().map(|(e, _)| e).collect();
                self.fail_batch(entries, &e.to_string());
                return;
            }
        };
        let started = Instant::now();
        let mut results: Vec<(Entry, Outcome)> = Vec::with_capacity(batch.len());
        let mut rest: Vec<(Entry, Check)> = Vec::new();
        let mut store_error: Option<String> = None;
        let mut iter = batch.into_iter();
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
                            rest.push((entry, check));
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
        rest.extend(iter);
        if let Some(err) = store_error {
            drop(txn);
            let mut all: Vec<Entry> = results.into_iter().map(|(e, _)| e).collect();
            all.extend(rest.into_iter().map(|(e, _)| e));
            self.fail_batch(all, &err);
            // Cement requests are retried with the next batch.
            lock(&self.queue).cement.extend(cement);
            return;
        }
        if !rest.is_empty() {
            lock(&self.queue).push_front_checked(rest);
        }
        let (cemented, retry) = self.cement_in(&mut txn, cement);
        let phase = ws.process.end(&phase);
        let committed = txn.commit();
        let phase = ws.commit.end(&phase);
        if let Err(e) = committed {
            let all: Vec<Entry> = results.into_iter().map(|(e, _)| e).collect();
            self.fail_batch(all, &e.to_string());
            return;
        }
        ws.commits.fetch_add(1, Ordering::Relaxed);
        ws.blocks.fetch_add(results.len() as u64, Ordering::Relaxed);
        ws.largest_batch
            .fetch_max(results.len() as u64, Ordering::Relaxed);
        for f in retry {
            self.force(f.block, f.done, f.confirmed);
        }
        self.after_batch(results);
        self.after_cement(cemented);
        ws.after.end(&phase);
    }

    pub(crate) fn fail_batch(&self, entries: Vec<Entry>, err: &str) {
        self.stats.inc("blockprocessor", "store_error", "in");
        tracing::error!("block processor: store error: {err}");
        for e in entries {
            if let Some(d) = e.done {
                d(Err(SubmitError::Store(err.to_string())));
            }
        }
    }

    /// Local broadcasts, unchecked release, elections and events for a committed batch.
    pub(crate) fn after_batch(&self, results: Vec<(Entry, Outcome)>) {
        // Accounts with new blocks from somewhere other than bootstrap: each gets an
        // election for its first uncemented block right away (bootstrapped chains wait
        // for the backlog walk, which paces them to the election capacity).
        let mut live_accounts: HashSet<Account> = HashSet::new();
        let mut new_hashes = Vec::new();
        let mut forks = Vec::new();
        // This node's own new blocks, for the local broadcaster.
        let mut local_new = Vec::new();
        let notify = self.events.has_subscribers();
        let mut released = Vec::new();
        let mut progress = 0u64;
        // Sends inserted, for the bootstrap client when it watches (see [`inserted_sends`]).
        let watching_sends = lock(&self.inserted_sends).watching();
        let mut sends = Vec::new();
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
                    if watching_sends {
                        if let Some(d) = inserted_sends::send_destination(&entry.block, &p) {
                            sends.push((p.hash, d));
                        }
                    }
                    if notify {
                        self.publish(NodeEvent::NewUnconfirmedBlock {
                            block: block_json(&entry.block, p.subtype),
                            hash: p.hash,
                        });
                    }
                    // Only this node's own blocks are sent from here, by the local
                    // broadcaster; a peer's block reaches others through the election
                    // that publishes its winner, as in the reference, whose block
                    // processor republishes nothing.
                    if entry.source == BlockSource::Local {
                        local_new.push(entry.block.clone());
                    }
                    released.extend(lock(&self.unchecked).take(&p.hash));
                    new_hashes.push(p.hash);
                    if entry.source != BlockSource::Bootstrap {
                        live_accounts.insert(p.account);
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
        let live_accounts: Vec<Account> = live_accounts.into_iter().collect();
        self.activate_accounts(&live_accounts);
        self.add_local_blocks(local_new);
        // Blocks that votes already named: the hinted scheduler starts an election if
        // those votes reach its threshold.
        let cached: Vec<BlockHash> = {
            let vc = lock(&self.vote_cache);
            new_hashes.into_iter().filter(|h| vc.contains(h)).collect()
        };
        self.activate_hinted(&cached);
        let delta = self.quorum_delta();
        let mut fx = Effects::default();
        if !forks.is_empty() {
            self.handle_forks(forks, delta, &mut fx);
        }
        self.dispatch(fx);
        for (d, status) in replies {
            d(Ok(status));
        }
        // After the replies: a bootstrap client that finds these sends has heard every
        // outcome before them, so an account blocked by one of those outcomes is blocked
        // when its send is looked at.
        if !sends.is_empty() {
            lock(&self.inserted_sends).extend(&sends);
        }
    }

    /// A fork joins the election of its root (started with the ledger's block as winner).
    pub(crate) fn handle_forks(&self, forks: Vec<Block>, delta: Amount, fx: &mut Effects) {
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
            // Both candidates at once, outside the buckets: the fork must be decided
            // whatever the buckets hold.
            let mut active = lock(&self.active);
            let p = Behavior::Priority;
            self.start_election_as(&mut active, sb.block, delta, fx, p, None);
            self.start_election_as(&mut active, fork, delta, fx, p, None);
        }
    }

    pub(crate) fn submit(&self, block: Block, source: BlockSource, done: Option<Done>) -> bool {
        if self.is_stopped() {
            if let Some(d) = done {
                d(Err(SubmitError::Stopped));
            }
            return false;
        }
        let pushed = lock(&self.queue).push(Entry {
            block,
            source,
            done,
        });
        match pushed {
            Ok(()) => {
                self.checker_cv.notify_one();
                true
            }
            Err((done, why)) => {
                self.stats.inc("blockprocessor", "overfill", "in");
                self.stats.inc(
                    "blockprocessor_overfill",
                    overfill_detail(source, why),
                    "in",
                );
                if let Some(d) = done {
                    d(Err(SubmitError::Overloaded));
                }
                false
            }
        }
    }

    pub(crate) fn fail_queued(&self) {
        let (entries, forced) = lock(&self.queue).drain_all();
        for e in entries {
            if let Some(d) = e.done {
                d(Err(SubmitError::Stopped));
            }
        }
        for f in forced {
            if let Some(d) = f.done {
                d(Err(SubmitError::Stopped));
            }
        }
    }
}

/// Stat detail of a refused block: which kind of source, or the global cap.
fn overfill_detail(
    source: BlockSource,
    why: crate::consensus::fair_queue::Rejected,
) -> &'static str {
    use crate::consensus::fair_queue::Rejected;
    match (why, source) {
        (Rejected::GlobalFull, _) => "global",
        (_, BlockSource::Local) => "local",
        (_, BlockSource::Peer(_)) => "peer",
        (_, BlockSource::Unchecked) => "unchecked",
        (_, BlockSource::Bootstrap) => "bootstrap",
    }
}
