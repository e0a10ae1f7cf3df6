//! The one fair queue of consensus intake (block processor, vote processor, confirm_req
//! aggregator), also used by the API's slow-action pool (one source per client, which
//! picks the source to serve itself with [`FairQueue::pop_from`]). Every source (a peer channel, local RPC, bootstrap, a representative
//! tier on a channel …) gets its own bounded sub-queue; sources are served in weighted
//! round robin, a source with priority `p` giving up to `p` items per turn. A busy source
//! therefore fills only its own sub-queue and gets only its share of the consumer, while
//! a quiet one is served on its next turn. A global cap bounds the sum over all sources.
//!
//! Sub-queues outlive their items so each keeps a count of what it dropped; sources that
//! are gone (closed channels) are removed by [`FairQueue::retain_sources`] once empty.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

/// Bound and share of one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    /// Most items the source may have waiting.
    pub max: usize,
    /// Items served from the source per round-robin turn (at least one).
    pub priority: usize,
}

/// Why an item was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The item's source already holds its maximum.
    SourceFull,
    /// All sources together hold the global maximum.
    GlobalFull,
}

/// Limits of a source, asked once when its sub-queue is created.
pub type LimitsFn<S> = Box<dyn Fn(&S) -> SourceLimits + Send + Sync>;

struct SubQueue<T> {
    items: VecDeque<T>,
    limits: SourceLimits,
    dropped: u64,
}

/// Per-source bounded queues served in weighted round robin, with a global cap.
pub struct FairQueue<S, T> {
    queues: BTreeMap<S, SubQueue<T>>,
    /// The source being served and how many items it gave this turn.
    current: Option<S>,
    served: usize,
    len: usize,
    global_max: usize,
    limits: LimitsFn<S>,
}

impl<S: Ord + Clone, T> FairQueue<S, T> {
    pub fn new(global_max: usize, limits: LimitsFn<S>) -> Self {
        FairQueue {
            queues: BTreeMap::new(),
            current: None,
            served: 0,
            len: 0,
            global_max,
            limits,
        }
    }

    /// Items waiting over all sources.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sub-queues held (including empty ones of live sources).
    pub fn sources(&self) -> usize {
        self.queues.len()
    }

    /// Items waiting from `source`.
    pub fn len_of(&self, source: &S) -> usize {
        self.queues.get(source).map_or(0, |q| q.items.len())
    }

    /// Items `source` had refused since its sub-queue was created.
    pub fn dropped_of(&self, source: &S) -> u64 {
        self.queues.get(source).map_or(0, |q| q.dropped)
    }

    /// Queues `item` at the back of its source's sub-queue; a refused item is handed
    /// back with the reason (its submitter may be waiting for an answer).
    pub fn push(&mut self, source: S, item: T) -> Result<(), (T, Rejected)> {
        let global_full = self.len >= self.global_max;
        let limits = &self.limits;
        let q = self.queues.entry(source).or_insert_with_key(|s| SubQueue {
            items: VecDeque::new(),
            limits: limits(s),
            dropped: 0,
        });
        let why = if q.items.len() >= q.limits.max {
            Rejected::SourceFull
        } else if global_full {
            Rejected::GlobalFull
        } else {
            q.items.push_back(item);
            self.len += 1;
            return Ok(());
        };
        q.dropped += 1;
        Err((item, why))
    }

    /// Puts items taken by [`FairQueue::pop_batch`] back at the front of their sources
    /// (a consumer that ran out of time). They were within the bounds when taken, so the
    /// bounds are not checked again: at most one batch above them.
    pub fn push_front(&mut self, items: Vec<(S, T)>) {
        for (source, item) in items.into_iter().rev() {
            let limits = &self.limits;
            let q = self.queues.entry(source).or_insert_with_key(|s| SubQueue {
                items: VecDeque::new(),
                limits: limits(s),
                dropped: 0,
            });
            q.items.push_front(item);
            self.len += 1;
        }
    }

    /// The next item in weighted round robin, with its source.
    pub fn pop(&mut self) -> Option<(S, T)> {
        if self.len == 0 {
            return None;
        }
        let stay = self
            .current
            .as_ref()
            .and_then(|c| self.queues.get(c))
            .is_some_and(|q| !q.items.is_empty() && self.served < q.limits.priority.max(1));
        if !stay {
            self.seek();
        }
        let source = self.current.clone()?;
        let item = self.queues.get_mut(&source)?.items.pop_front()?;
        self.len -= 1;
        self.served += 1;
        Some((source, item))
    }

    /// The next item of `source`, for a consumer that chooses the source itself (the API's
    /// slow-action pool, which serves the client that used the least worker time).
    pub fn pop_from(&mut self, source: &S) -> Option<T> {
        let item = self.queues.get_mut(source)?.items.pop_front()?;
        self.len -= 1;
        Some(item)
    }

    /// The newest item of `source`, for a consumer that makes room by evicting the last
    /// arrival of its largest source (the API's slow-action pool).
    pub fn pop_back_from(&mut self, source: &S) -> Option<T> {
        let item = self.queues.get_mut(source)?.items.pop_back()?;
        self.len -= 1;
        Some(item)
    }

    /// Sources with items waiting, in key order.
    pub fn waiting_sources(&self) -> impl Iterator<Item = &S> {
        self.queues
            .iter()
            .filter(|(_, q)| !q.items.is_empty())
            .map(|(s, _)| s)
    }

    /// Up to `max` items in weighted round robin.
    pub fn pop_batch(&mut self, max: usize) -> Vec<(S, T)> {
        let n = max.min(self.len);
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            match self.pop() {
                Some(x) => out.push(x),
                None => break,
            }
        }
        out
    }

    /// Moves `current` to the next source (in key order, wrapping) that has items.
    fn seek(&mut self) {
        self.served = 0;
        let after = match &self.current {
            Some(c) => self
                .queues
                .range((Bound::Excluded(c.clone()), Bound::Unbounded))
                .find(|(_, q)| !q.items.is_empty())
                .map(|(s, _)| s.clone()),
            None => None,
        };
        self.current = after.or_else(|| {
            self.queues
                .iter()
                .find(|(_, q)| !q.items.is_empty())
                .map(|(s, _)| s.clone())
        });
    }

    /// Removes the sub-queues of sources that are gone (`alive` false) once they are
    /// empty; what a dead source still queued is served first. The round robin goes on
    /// from where it was: the next turn is the source after the removed current one in
    /// key order, not the first source, which would favour low keys whenever the
    /// current source goes.
    pub fn retain_sources(&mut self, mut alive: impl FnMut(&S) -> bool) {
        self.queues.retain(|s, q| !q.items.is_empty() || alive(s));
    }

    /// Takes every item out (a stopping consumer answers their submitters).
    pub fn drain(&mut self) -> Vec<(S, T)> {
        let mut out = Vec::with_capacity(self.len);
        for (s, q) in std::mem::take(&mut self.queues) {
            out.extend(q.items.into_iter().map(|i| (s.clone(), i)));
        }
        self.len = 0;
        self.current = None;
        self.served = 0;
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn queue(global: usize, max: usize) -> FairQueue<u8, u32> {
        FairQueue::new(
            global,
            Box::new(move |s: &u8| SourceLimits {
                max,
                priority: (*s as usize % 4) + 1,
            }),
        )
    }

    #[test]
    fn per_source_limit_and_drop_count() {
        let mut q = queue(100, 2);
        assert!(q.push(0, 1).is_ok());
        assert!(q.push(0, 2).is_ok());
        assert_eq!(q.push(0, 3), Err((3, Rejected::SourceFull)));
        assert!(q.push(1, 4).is_ok(), "another source still has room");
        assert_eq!(q.dropped_of(&0), 1);
        assert_eq!(q.dropped_of(&1), 0);
        assert_eq!(q.len(), 3);
    }

    #[test]
    fn pop_back_from_takes_the_newest_of_that_source() {
        let mut q = queue(100, 10);
        for i in 0..3 {
            q.push(0, i).unwrap();
        }
        q.push(1, 7).unwrap();
        assert_eq!(q.pop_back_from(&0), Some(2));
        assert_eq!((q.len(), q.len_of(&0)), (3, 2));
        assert_eq!(q.pop_back_from(&2), None);
        assert_eq!(q.pop_from(&0), Some(0));
    }

    #[test]
    fn global_cap() {
        let mut q = queue(3, 10);
        for i in 0..3 {
            assert!(q.push(i as u8, i).is_ok());
        }
        assert_eq!(q.push(9, 9), Err((9, Rejected::GlobalFull)));
        assert_eq!(q.dropped_of(&9), 1);
        q.pop();
        assert!(q.push(9, 9).is_ok());
    }

    #[test]
    fn weighted_round_robin() {
        // Source 0 has priority 1, source 3 priority 4.
        let mut q = queue(100, 100);
        for i in 0..10 {
            q.push(0, i).unwrap();
            q.push(3, 100 + i).unwrap();
        }
        let order: Vec<u8> = q.pop_batch(10).into_iter().map(|(s, _)| s).collect();
        assert_eq!(order, vec![0, 3, 3, 3, 3, 0, 3, 3, 3, 3]);
        // Items keep their order within a source.
        let rest: Vec<u32> = q
            .pop_batch(100)
            .into_iter()
            .filter(|(s, _)| *s == 0)
            .map(|(_, i)| i)
            .collect();
        assert_eq!(rest, (2..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_flooding_source_does_not_delay_a_quiet_one() {
        let mut q = queue(10_000, 1000);
        for i in 0..1000 {
            q.push(1, i).unwrap();
        }
        q.push(2, 7).unwrap();
        let first: Vec<(u8, u32)> = q.pop_batch(4);
        assert!(first.contains(&(2, 7)), "{first:?}");
    }

    #[test]
    fn dead_sources_removed_once_empty() {
        let mut q = queue(100, 10);
        q.push(1, 1).unwrap();
        q.push(2, 2).unwrap();
        assert_eq!(q.pop().map(|x| x.0), Some(1));
        q.retain_sources(|_| false);
        assert_eq!(q.sources(), 1, "source 2 still has an item");
        assert_eq!(q.pop(), Some((2, 2)));
        q.retain_sources(|s| *s == 2);
        assert_eq!(q.sources(), 1);
        q.retain_sources(|_| false);
        assert_eq!(q.sources(), 0);
        assert!(q.pop().is_none());
    }

    #[test]
    fn removing_the_current_source_keeps_the_turn_order() {
        // Priority 1 for sources 0, 4 and 8.
        let mut q = queue(100, 10);
        q.push(0, 1).unwrap();
        q.push(4, 2).unwrap();
        q.push(8, 3).unwrap();
        assert_eq!(q.pop(), Some((0, 1)));
        assert_eq!(q.pop(), Some((4, 2)));
        // Source 4 is empty and goes; source 0 gets an item again.
        q.retain_sources(|s| *s != 4);
        q.push(0, 4).unwrap();
        assert_eq!(q.pop(), Some((8, 3)), "the turn after 4 is 8, not 0 again");
        assert_eq!(q.pop(), Some((0, 4)));
    }

    #[test]
    fn a_consumer_can_take_from_the_source_it_chooses() {
        let mut q = queue(100, 10);
        q.push(1, 10).unwrap();
        q.push(1, 11).unwrap();
        q.push(2, 20).unwrap();
        q.push(3, 30).unwrap();
        assert_eq!(q.pop_from(&3), Some(30));
        assert_eq!(q.waiting_sources().copied().collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(q.pop_from(&1), Some(10));
        assert_eq!(q.pop_from(&3), None);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop_batch(10), vec![(1, 11), (2, 20)]);
    }

    #[test]
    fn push_front_restores_order() {
        let mut q = queue(100, 10);
        for i in 0..4 {
            q.push(1, i).unwrap();
        }
        let taken = q.pop_batch(2);
        q.push_front(taken);
        let all: Vec<u32> = q.pop_batch(10).into_iter().map(|(_, i)| i).collect();
        assert_eq!(all, vec![0, 1, 2, 3]);
    }

    proptest! {
        /// Whatever is pushed: bounds hold, every accepted item comes out exactly once
        /// and in order within its source, and no source with items waits longer than
        /// one turn of every other source.
        #[test]
        fn bounded_complete_and_fair(
            ops in proptest::collection::vec((0u8..6, any::<bool>()), 1..400),
            global in 1usize..60,
            max in 1usize..20,
        ) {
            let mut q = queue(global, max);
            let mut accepted: Vec<Vec<u32>> = vec![Vec::new(); 6];
            let mut served: Vec<Vec<u32>> = vec![Vec::new(); 6];
            for (n, (src, pop)) in ops.into_iter().enumerate() {
                if pop {
                    if let Some((s, i)) = q.pop() {
                        served[s as usize].push(i);
                    }
                } else if q.push(src, n as u32).is_ok() {
                    accepted[src as usize].push(n as u32);
                }
                prop_assert!(q.len() <= global);
                for s in 0..6u8 {
                    prop_assert!(q.len_of(&s) <= max);
                }
            }
            // Drain, checking that between two items of a waiting source the others
            // give at most their priority each.
            let mut since: Vec<usize> = vec![0; 6];
            while let Some((s, i)) = q.pop() {
                served[s as usize].push(i);
                for (o, c) in since.iter_mut().enumerate() {
                    if o as u8 == s {
                        *c = 0;
                    } else if q.len_of(&(o as u8)) > 0 {
                        *c += 1;
                        // Other sources' priorities sum to at most 4*5 = 20 per turn,
                        // plus the turn this source may have been in.
                        prop_assert!(*c <= 24, "source {o} starved");
                    }
                }
            }
            prop_assert_eq!(accepted, served);
            prop_assert!(q.is_empty());
        }
    }
}
