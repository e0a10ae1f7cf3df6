//! One balance bucket of the priority scheduler (reference `scheduler::bucket`): the
//! candidate blocks waiting for an election, ordered by their account's last activity
//! (least recently active first) and bounded, and the rules deciding when the bucket
//! may start another election and when it must cancel one. The bucket's running
//! elections are indexed by [`ActiveElections`](super::super::active::ActiveElections)
//! (each carries its [`BucketSlot`](super::super::election::BucketSlot)), so they
//! leave the bucket whenever they leave the active set, however they end.

use std::collections::BTreeMap;

use nano_core::{Block, BlockHash};

use crate::consensus::limits;

/// The per-bucket limits (reference `priority_bucket_config`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketLimits {
    /// Candidates kept; the latest-active one is dropped beyond it.
    pub max_blocks: usize,
    /// Elections the bucket may start as long as the active elections have room.
    pub reserved_elections: usize,
    /// Elections the bucket may hold before it cancels one.
    pub max_elections: usize,
}

impl Default for BucketLimits {
    fn default() -> Self {
        BucketLimits {
            max_blocks: limits::PRIORITY_BUCKET_MAX_BLOCKS,
            reserved_elections: limits::PRIORITY_BUCKET_RESERVED_ELECTIONS,
            max_elections: limits::PRIORITY_BUCKET_MAX_ELECTIONS,
        }
    }
}

/// The lower balance bounds of the buckets, ascending (reference `priority`
/// constructor): one bucket from zero, one from 2^79, then the ranges 2^88..2^120 split
/// into 2, 4, 8, 16, 16, 8, 4, 2 equal parts per 2^4 step (finest around the balances
/// most accounts hold), and one from 2^120. 63 buckets.
pub fn bucket_minimums() -> Vec<u128> {
    let mut minimums = vec![0u128];
    let mut region = |begin: u32, end: u32, count: u128| {
        let (begin, end) = (1u128 << begin, 1u128 << end);
        let width = (end - begin) / count;
        for i in 0..count {
            minimums.push(begin + i * width);
        }
    };
    region(79, 88, 1);
    region(88, 92, 2);
    region(92, 96, 4);
    region(96, 100, 8);
    region(100, 104, 16);
    region(104, 108, 16);
    region(108, 112, 8);
    region(112, 116, 4);
    region(116, 120, 2);
    minimums.push(1u128 << 120);
    minimums
}

/// The index of the bucket for `balance` in ascending `minimums`: the last bucket
/// whose minimum is at most `balance`.
pub fn bucket_index(minimums: &[u128], balance: u128) -> usize {
    minimums
        .partition_point(|m| *m <= balance)
        .saturating_sub(1)
}

/// Candidates of one bucket.
#[derive(Debug, Default)]
pub struct Bucket {
    /// Ordered by (activity time, hash), as the reference's `block_entry` compares.
    queue: BTreeMap<(u64, BlockHash), Block>,
}

impl Bucket {
    /// Queues `block` with its account's activity `time`. Returns false for a duplicate
    /// and for a candidate that sorts last in a full bucket (it is dropped at once);
    /// otherwise a full bucket drops its last candidate to make room.
    pub fn push(&mut self, time: u64, block: Block, max_blocks: usize) -> bool {
        let key = (time, block.hash());
        if self.queue.contains_key(&key) {
            return false;
        }
        self.queue.insert(key, block);
        if self.queue.len() > max_blocks {
            let last = self.queue.keys().next_back().copied();
            if let Some(last) = last {
                self.queue.remove(&last);
                return last != key;
            }
        }
        true
    }

    /// The activity time of the first candidate.
    pub fn top_time(&self) -> Option<u64> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    /// Takes the first candidate.
    pub fn pop(&mut self) -> Option<(u64, Block)> {
        self.queue.pop_first().map(|((t, _), b)| (t, b))
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// The candidates' hashes in order.
    #[cfg(test)]
    pub fn hashes(&self) -> Vec<BlockHash> {
        self.queue.keys().map(|(_, h)| *h).collect()
    }
}

/// A bucket's running elections as its rules see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketElections {
    /// Elections the bucket started that are still running.
    pub count: usize,
    /// The smallest activity time among them.
    pub lowest: Option<u64>,
    /// Priority vacancy of the active elections (negative when over).
    pub vacancy: i64,
}

/// May the bucket start an election for a candidate of activity time `candidate`?
/// (reference `bucket::election_vacancy`): below its election limit, if the active
/// elections have room; at or above it, only a candidate sorting at or before the
/// bucket's first election, and only up to twice the limit (which bounds how often
/// elections are reprioritised).
pub fn election_vacancy(limits: &BucketLimits, e: &BucketElections, candidate: u64) -> bool {
    if e.count < limits.reserved_elections || e.count < limits.max_elections {
        return e.vacancy > 0;
    }
    match e.lowest {
        Some(lowest) if candidate <= lowest => e.count < limits.max_elections * 2,
        _ => false,
    }
}

/// Must the bucket cancel an election? (reference `bucket::election_overfill`): never
/// below its reserved elections; below its limit only when the active elections are
/// over their size; at or above its limit always.
pub fn election_overfill(limits: &BucketLimits, e: &BucketElections) -> bool {
    if e.count < limits.reserved_elections {
        return false;
    }
    if e.count < limits.max_elections {
        return e.vacancy < 0;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use nano_ledger::test_support::{test_key, Chain};

    fn blocks(n: usize) -> Vec<Block> {
        let mut c = Chain::dev_genesis();
        (0..n)
            .map(|i| c.send(&test_key(i as u32).public(), 1))
            .collect()
    }

    #[test]
    fn boundaries_are_the_references() {
        let m = bucket_minimums();
        assert_eq!(m.len(), 63);
        assert_eq!(m[0], 0);
        assert_eq!(m[1], 1 << 79);
        assert_eq!(m[2], 1 << 88);
        assert_eq!(m[3], (1 << 88) + ((1u128 << 92) - (1 << 88)) / 2);
        assert_eq!(m[4], 1 << 92);
        assert_eq!(*m.last().unwrap(), 1 << 120);
        assert!(m.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(bucket_index(&m, 0), 0);
        assert_eq!(bucket_index(&m, (1 << 79) - 1), 0);
        assert_eq!(bucket_index(&m, 1 << 79), 1);
        assert_eq!(bucket_index(&m, 1 << 88), 2);
        assert_eq!(bucket_index(&m, u128::MAX), 62);
    }

    #[test]
    fn candidates_ordered_by_activity_and_bounded() {
        let b = blocks(4);
        let mut bucket = Bucket::default();
        assert!(bucket.push(2000, b[0].clone(), 2));
        assert!(!bucket.push(2000, b[0].clone(), 2), "duplicate");
        assert!(bucket.push(900, b[1].clone(), 2));
        assert!(
            !bucket.push(3000, b[2].clone(), 2),
            "sorts last in a full bucket"
        );
        assert!(bucket.push(1001, b[3].clone(), 2), "drops 2000");
        assert!(bucket.push(1000, b[0].clone(), 2), "drops 1001");
        assert_eq!(bucket.hashes(), vec![b[1].hash(), b[0].hash()]);
        assert_eq!(bucket.top_time(), Some(900));
        assert_eq!(bucket.pop().map(|(t, _)| t), Some(900));
        assert_eq!(bucket.len(), 1);
    }

    #[test]
    fn vacancy_and_overfill_rules() {
        let l = BucketLimits {
            max_blocks: 10,
            reserved_elections: 2,
            max_elections: 3,
        };
        let e = |count, lowest, vacancy| BucketElections {
            count,
            lowest,
            vacancy,
        };
        // Below the limit: the active elections' room decides.
        assert!(election_vacancy(&l, &e(2, Some(5), 1), 9));
        assert!(!election_vacancy(&l, &e(2, Some(5), 0), 9));
        // At the limit: only a candidate sorting at or before the first election, up
        // to twice the limit.
        assert!(!election_vacancy(&l, &e(3, Some(5), 100), 6));
        assert!(election_vacancy(&l, &e(3, Some(5), 0), 5));
        assert!(election_vacancy(&l, &e(5, Some(5), 0), 4));
        assert!(!election_vacancy(&l, &e(6, Some(5), 0), 4));
        // Overfill: never below reserved; between reserved and the limit when the
        // active elections are over their size; always at the limit.
        assert!(!election_overfill(&l, &e(1, Some(5), -4)));
        assert!(!election_overfill(&l, &e(2, Some(5), 0)));
        assert!(election_overfill(&l, &e(2, Some(5), -1)));
        assert!(election_overfill(&l, &e(3, Some(5), 10)));
    }
}
