//! Votes for blocks this node does not have yet (or has no election for). Votes often
//! overtake the blocks they name; keeping them lets an election that starts later count
//! them at once instead of waiting for representatives to vote again. Bounded in hashes
//! and in votes per hash; the oldest hashes are evicted first.

use std::collections::{HashMap, VecDeque};

use nano_core::{Account, BlockHash};

/// One cached vote for one hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachedVote {
    pub representative: Account,
    pub timestamp: u64,
}

#[derive(Debug)]
pub struct VoteCache {
    entries: HashMap<BlockHash, Vec<CachedVote>>,
    order: VecDeque<BlockHash>,
    max_hashes: usize,
    max_votes_per_hash: usize,
}

impl VoteCache {
    pub fn new(max_hashes: usize, max_votes_per_hash: usize) -> Self {
        VoteCache {
            entries: HashMap::new(),
            order: VecDeque::new(),
            max_hashes: max_hashes.max(1),
            max_votes_per_hash: max_votes_per_hash.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, hash: &BlockHash) -> bool {
        self.entries.contains_key(hash)
    }

    /// Records a vote; a newer vote of the same representative replaces its older one.
    pub fn insert(&mut self, hash: BlockHash, vote: CachedVote) {
        if !self.entries.contains_key(&hash) {
            while self.entries.len() >= self.max_hashes {
                match self.order.pop_front() {
                    Some(old) => {
                        self.entries.remove(&old);
                    }
                    None => break,
                }
            }
            self.order.push_back(hash);
        }
        let votes = self.entries.entry(hash).or_default();
        if let Some(v) = votes
            .iter_mut()
            .find(|v| v.representative == vote.representative)
        {
            if vote.timestamp > v.timestamp {
                *v = vote;
            }
            return;
        }
        if votes.len() < self.max_votes_per_hash {
            votes.push(vote);
        }
    }

    /// The cached votes for `hash`.
    pub fn votes(&self, hash: &BlockHash) -> &[CachedVote] {
        self.entries.get(hash).map_or(&[], |v| v.as_slice())
    }

    /// Removes and returns the votes for `hash`.
    pub fn take(&mut self, hash: &BlockHash) -> Vec<CachedVote> {
        // The order queue keeps the stale hash; eviction of a missing entry is a no-op.
        let v = self.entries.remove(hash).unwrap_or_default();
        if self.order.len() > 2 * self.max_hashes {
            let live = &self.entries;
            self.order.retain(|h| live.contains_key(h));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_vote_per_rep_and_bounded() {
        let mut c = VoteCache::new(2, 2);
        let h = |b: u8| BlockHash([b; 32]);
        let r = |b: u8| Account::from_bytes([b; 32]);
        c.insert(
            h(1),
            CachedVote {
                representative: r(1),
                timestamp: 5,
            },
        );
        c.insert(
            h(1),
            CachedVote {
                representative: r(1),
                timestamp: 3,
            },
        );
        c.insert(
            h(1),
            CachedVote {
                representative: r(2),
                timestamp: 1,
            },
        );
        c.insert(
            h(1),
            CachedVote {
                representative: r(3),
                timestamp: 1,
            },
        );
        assert_eq!(c.take(&h(1)).len(), 2);
        c.insert(
            h(1),
            CachedVote {
                representative: r(1),
                timestamp: 5,
            },
        );
        c.insert(
            h(2),
            CachedVote {
                representative: r(1),
                timestamp: 5,
            },
        );
        c.insert(
            h(3),
            CachedVote {
                representative: r(1),
                timestamp: 5,
            },
        );
        assert_eq!(c.len(), 2);
        assert!(!c.contains(&h(1)));
    }
}
