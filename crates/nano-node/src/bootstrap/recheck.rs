//! The ascending client's recheck list: accounts whose blocks the block processor
//! released from its gap table (or that are parked behind their first block), looked
//! at again once those blocks had time to land.
//!
//! Looks back off per account. During a sync the processor is never idle, and an
//! account whose released blocks were dropped by the bounded gap table never lands:
//! looking at every such account every half second made the list's ledger lookups the
//! cost that grew with the sync (at 3.3M blocks, 112k accounts looked at twice a second
//! took half of the syncing process's CPU). An account whose head moves since its last
//! look starts again at the shortest delay; one whose head stands still waits twice as
//! long each time, up to [`RECHECK_LEVELS`] steps.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nano_core::{Account, BlockHash};

use super::shrink::shrink_sparse;

/// The first wait: about the time the processor needs to take in what a dependency
/// released (a few thousand blocks at the sync's rate).
pub(crate) const RECHECK_FIRST: Duration = Duration::from_millis(500);

/// Delays double up to `RECHECK_FIRST << (RECHECK_LEVELS - 1)` (16 s). After the last
/// one, an account whose head stood still through every look (about 32 s in all) has
/// had far longer than the processor's full queue takes to drain, so what it waited
/// for is taken to be dropped.
pub(crate) const RECHECK_LEVELS: usize = 6;

/// One account waiting to be looked at again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Recheck {
    pub account: Account,
    /// The local head at the previous look (`None` before the first).
    pub seen: Option<BlockHash>,
    /// How many looks in a row found the head where it was.
    pub level: u8,
}

impl Recheck {
    /// Whether this look, finding the head at `seen_now`, ends the last wait with the
    /// head still where it was.
    pub fn exhausted(&self, seen_now: Option<BlockHash>) -> bool {
        usize::from(self.level) + 1 >= RECHECK_LEVELS && self.seen == seen_now
    }
}

/// The waiting accounts, one FIFO per delay: entries of one level are pushed with the
/// same delay, so each queue is in due order and finding what is due touches only due
/// entries.
pub(crate) struct RecheckList {
    levels: [VecDeque<(Instant, Recheck)>; RECHECK_LEVELS],
    /// Everything is due at the next take (the processor settled: the backoff was only
    /// for while it was busy).
    flush: bool,
    /// At most this many accounts wait (the caller's `blocking_max`: the list holds
    /// accounts leaving the blocked set, or that could not enter it).
    max: usize,
}

fn delay(level: usize) -> Duration {
    RECHECK_FIRST * (1u32 << level)
}

impl RecheckList {
    /// A list of at most `max` accounts.
    pub fn new(max: usize) -> Self {
        RecheckList {
            levels: Default::default(),
            flush: false,
            max,
        }
    }

    pub fn len(&self) -> usize {
        self.levels.iter().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.levels.iter().all(VecDeque::is_empty)
    }

    /// A first look at `account` after the shortest delay; false (and nothing added)
    /// when the list is full.
    pub fn push_new(&mut self, account: Account, now: Instant) -> bool {
        if self.len() >= self.max {
            return false;
        }
        self.levels[0].push_back((
            now + RECHECK_FIRST,
            Recheck {
                account,
                seen: None,
                level: 0,
            },
        ));
        true
    }

    /// Another look at `prev`'s account, which now has its head at `seen_now`: soon if
    /// the head moved, twice the last delay if it did not.
    pub fn again(&mut self, prev: Recheck, seen_now: Option<BlockHash>, now: Instant) {
        let level = if prev.seen == seen_now {
            (usize::from(prev.level) + 1).min(RECHECK_LEVELS - 1)
        } else {
            0
        };
        self.levels[level].push_back((
            now + delay(level),
            Recheck {
                account: prev.account,
                seen: seen_now,
                level: level as u8,
            },
        ));
    }

    /// Makes every entry due at the next [`take_due`](Self::take_due).
    pub fn flush(&mut self) {
        self.flush = !self.is_empty();
    }

    pub fn any_due(&self, now: Instant) -> bool {
        if self.flush {
            return true;
        }
        self.levels
            .iter()
            .any(|q| q.front().is_some_and(|(t, _)| *t <= now))
    }

    /// Removes and returns the entries due at `now` (all of them after a flush).
    pub fn take_due(&mut self, now: Instant) -> Vec<Recheck> {
        let all = std::mem::take(&mut self.flush);
        let mut due = Vec::new();
        for q in &mut self.levels {
            while let Some(&(t, r)) = q.front() {
                if !all && t > now {
                    break;
                }
                q.pop_front();
                due.push(r);
            }
        }
        due
    }

    /// Gives back memory after the list held far more than it does now.
    pub fn shrink(&mut self) {
        for q in &mut self.levels {
            shrink_sparse(q);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u8) -> Account {
        Account::from_bytes([n; 32])
    }

    fn head(n: u8) -> Option<BlockHash> {
        Some(BlockHash::from_bytes([n; 32]))
    }

    #[test]
    fn a_still_head_waits_twice_as_long_each_look_and_a_moving_one_starts_over() {
        let t0 = Instant::now();
        let mut list = RecheckList::new(100);
        list.push_new(account(1), t0);
        assert!(!list.any_due(t0));
        let mut now = t0 + RECHECK_FIRST;
        let mut r = list.take_due(now);
        assert_eq!(r.len(), 1);
        // The first look always counts as movement (nothing was seen before).
        list.again(r[0], head(7), now);
        let mut waits = Vec::new();
        for _ in 0..RECHECK_LEVELS + 1 {
            let before = now;
            // Not due a millisecond early.
            let due_at = (0..200u64)
                .map(|ms| before + Duration::from_millis(ms * 250))
                .find(|t| list.any_due(*t))
                .unwrap();
            waits.push(due_at - before);
            now = due_at;
            r = list.take_due(now);
            assert_eq!(r.len(), 1);
            list.again(r[0], head(7), now);
        }
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 4000, 8000, 16000, 16000]);
        let last = list.take_due(now + Duration::from_secs(16));
        assert!(last[0].exhausted(head(7)));
        assert!(!last[0].exhausted(head(8)));
        // The head moved: back to the shortest delay.
        list.again(last[0], head(8), now);
        assert!(list.any_due(now + RECHECK_FIRST));
        assert_eq!(list.take_due(now + RECHECK_FIRST)[0].level, 0);
    }

    #[test]
    fn a_flush_makes_every_entry_due_once() {
        let t0 = Instant::now();
        let mut list = RecheckList::new(100);
        for n in 0..5 {
            list.push_new(account(n), t0);
        }
        let first = list.take_due(t0 + RECHECK_FIRST);
        for r in first {
            // Long waits for all but one.
            let mut r = r;
            r.seen = head(1);
            r.level = 3;
            list.again(r, head(1), t0);
        }
        assert!(!list.any_due(t0 + RECHECK_FIRST));
        list.flush();
        assert!(list.any_due(t0));
        assert_eq!(list.take_due(t0).len(), 5);
        assert!(list.is_empty());
        assert!(!list.any_due(t0 + Duration::from_secs(60)));
        // A flush of an empty list leaves nothing pending.
        list.flush();
        assert!(!list.any_due(t0));
    }

    #[test]
    fn a_full_list_refuses_new_accounts_but_keeps_those_it_holds() {
        let t0 = Instant::now();
        let mut list = RecheckList::new(2);
        assert!(list.push_new(account(1), t0));
        assert!(list.push_new(account(2), t0));
        assert!(!list.push_new(account(3), t0));
        assert_eq!(list.len(), 2);
        // Taken out and put back: still both held.
        for r in list.take_due(t0 + RECHECK_FIRST) {
            list.again(r, head(1), t0 + RECHECK_FIRST);
        }
        assert_eq!(list.len(), 2);
        assert!(!list.push_new(account(3), t0));
    }

    #[test]
    fn entries_come_out_in_due_order_within_a_level() {
        let t0 = Instant::now();
        let mut list = RecheckList::new(100);
        for n in 0..3u8 {
            list.push_new(account(n), t0 + Duration::from_millis(u64::from(n) * 100));
        }
        let due = list.take_due(t0 + RECHECK_FIRST + Duration::from_millis(150));
        let got: Vec<Account> = due.iter().map(|r| r.account).collect();
        assert_eq!(got, vec![account(0), account(1)]);
        assert_eq!(list.len(), 1);
    }
}
