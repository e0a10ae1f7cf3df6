//! The block processor's queue: bounded per source, taken round robin.

use std::collections::{HashMap, VecDeque};

use nano_core::Block;

use super::forced::Forced;
use crate::consensus::elections::Confirmed;
use crate::consensus::{BlockSource, Done};

/// A queued block.
pub(crate) struct Entry {
    pub block: Block,
    pub source: BlockSource,
    pub done: Option<Done>,
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

    pub(crate) fn idle(&self) -> bool {
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
    pub(crate) fn push_front(&mut self, entries: Vec<Entry>) {
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
    pub(crate) fn pop_batch(&mut self, max: usize) -> Vec<Entry> {
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
