//! What the ascending client's pulls brought, counted by why each pull was made.
//!
//! A sync receives more blocks than it adds to the ledger (1.4–1.5 per block in the
//! first 2M of the 10M bench): a block is fetched again when the bounded gap table
//! dropped it, or when it was still parked there. These counters say which kind of
//! pull brought the blocks that did not go straight in, so a change of the request
//! logic is aimed at the pulls that waste, and its effect can be read off a run
//! (the bootstrap bench prints them; RPC `stats` `objects` does not carry them).

use std::sync::atomic::{AtomicU64, Ordering};

use nano_ledger::BlockStatus;

use crate::consensus::ProcessStatus;

/// Why a pull was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// The frontier scan found the account behind a peer.
    Scan,
    /// A dependency lookup named the account holding a missing source.
    Dependency,
    /// A full answer, continued at once from its last block (pipelined).
    Continue,
    /// A full first pull, continued after its last block went in.
    AfterFirst,
    /// An unblocked account, continued from its last received block once that landed.
    Landed,
    /// Pulled again from the ledger head: what was parked for it was dropped.
    Refetch,
    /// An answer ended short of the scanned head: asked again (maybe another peer).
    Retry,
    /// A request timed out, its peer was excluded, or the processor refused a block.
    Requeue,
    /// Queued by the previous round's saved state.
    Resume,
}

impl Why {
    const ALL: [Why; 9] = [
        Why::Scan,
        Why::Dependency,
        Why::Continue,
        Why::AfterFirst,
        Why::Landed,
        Why::Refetch,
        Why::Retry,
        Why::Requeue,
        Why::Resume,
    ];

    fn name(self) -> &'static str {
        match self {
            Why::Scan => "scan",
            Why::Dependency => "dependency",
            Why::Continue => "continue",
            Why::AfterFirst => "after_first",
            Why::Landed => "landed",
            Why::Refetch => "refetch",
            Why::Retry => "retry",
            Why::Requeue => "requeue",
            Why::Resume => "resume",
        }
    }
}

/// What is counted per reason.
const WHAT: [&str; 9] = [
    "pulls",
    "received",
    "progress",
    "old",
    "gap_previous",
    "gap_source",
    "other",
    "parked_already",
    "cut",
];
const PULLS: usize = 0;
const RECEIVED: usize = 1;
const PROGRESS: usize = 2;
const OLD: usize = 3;
const GAP_PREVIOUS: usize = 4;
const GAP_SOURCE: usize = 5;
const OTHER: usize = 6;
const PARKED_ALREADY: usize = 7;
const CUT: usize = 8;

/// The counters (since the node started).
#[derive(Default)]
pub(crate) struct PullStats {
    n: [[AtomicU64; WHAT.len()]; Why::ALL.len()],
}

impl PullStats {
    fn add(&self, why: Why, what: usize, n: u64) {
        self.n[why as usize][what].fetch_add(n, Ordering::Relaxed);
    }

    /// A pull request sent.
    pub fn pull(&self, why: Why) {
        self.add(why, PULLS, 1);
    }

    /// `fresh` new blocks received in one answer, `parked` of them already waiting in
    /// the gap table.
    pub fn received(&self, why: Why, fresh: u64, parked: u64) {
        self.add(why, RECEIVED, fresh);
        self.add(why, PARKED_ALREADY, parked);
    }

    /// `n` received blocks parked in the gap table directly, not submitted: the answer
    /// was cut before a receive whose source is missing.
    pub fn cut(&self, why: Why, n: u64) {
        self.add(why, CUT, n);
    }

    /// The block processor's answer for one received block.
    pub fn outcome(&self, why: Why, status: &ProcessStatus) {
        let what = match status {
            Ok(BlockStatus::Progress) => PROGRESS,
            Ok(BlockStatus::Old) => OLD,
            Ok(BlockStatus::GapPrevious) => GAP_PREVIOUS,
            Ok(BlockStatus::GapSource) => GAP_SOURCE,
            _ => OTHER,
        };
        self.add(why, what, 1);
    }

    /// Every non-zero counter as `reason.what`, in a fixed order.
    pub fn list(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for why in Why::ALL {
            for (i, what) in WHAT.iter().enumerate() {
                let v = self.n[why as usize][i].load(Ordering::Relaxed);
                if v > 0 {
                    out.push((format!("{}.{what}", why.name()), v));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::SubmitError;

    #[test]
    fn counts_land_under_their_reason_and_kind() {
        let s = PullStats::default();
        s.pull(Why::Continue);
        s.received(Why::Continue, 128, 3);
        s.outcome(Why::Continue, &Ok(BlockStatus::GapPrevious));
        s.outcome(Why::Continue, &Ok(BlockStatus::GapPrevious));
        s.outcome(Why::Refetch, &Ok(BlockStatus::Progress));
        s.outcome(Why::Refetch, &Err(SubmitError::Overloaded));
        s.cut(Why::Scan, 2);
        let l = s.list();
        let get = |k: &str| l.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(get("continue.pulls"), Some(1));
        assert_eq!(get("continue.received"), Some(128));
        assert_eq!(get("continue.parked_already"), Some(3));
        assert_eq!(get("continue.gap_previous"), Some(2));
        assert_eq!(get("refetch.progress"), Some(1));
        assert_eq!(get("refetch.other"), Some(1));
        assert_eq!(get("scan.cut"), Some(2));
        // Zero counters are left out.
        assert_eq!(get("scan.pulls"), None);
        assert_eq!(l.len(), 7);
    }
}
