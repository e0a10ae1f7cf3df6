//! Online weight and the quorum delta (fact sheet §8): which representatives have been
//! heard from recently, the sum of their weights, the trended value (median of the
//! periodic samples kept in the store's `online_weight` table, with the configured
//! minimum), and `delta = 67% × max(online, trended, minimum)`.
//!
//! Consensus observes representatives through the votes it processes; the network
//! layer's rep crawler can add its own view through [`OnlineWeightSource`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nano_core::{Account, Amount};

/// Percentage of online weight needed to confirm.
pub const QUORUM_PERCENT: u128 = 67;
/// How long a representative counts as online after it was last heard from.
pub const ONLINE_WINDOW: Duration = Duration::from_secs(300);

/// Another view of online weight (the network's rep crawler). Both are optional: what is
/// unknown is `None`.
pub trait OnlineWeightSource: Send + Sync {
    /// Sum of the weights of representatives known to be online.
    fn online_weight(&self) -> Option<Amount>;
    /// Sum of the weights of representatives among the connected peers.
    fn peers_weight(&self) -> Option<Amount> {
        None
    }
}

/// `x × 67 / 100` without overflowing 128 bits (the reference computes it in 256 bits).
pub fn quorum_of(x: Amount) -> Amount {
    let v = x.0;
    Amount((v / 100) * QUORUM_PERCENT + (v % 100) * QUORUM_PERCENT / 100)
}

/// Median of the samples together with the minimum: the element at index len/2 of the
/// sorted list, as the reference node picks it.
pub fn trended(samples: &[Amount], minimum: Amount) -> Amount {
    let mut all: Vec<Amount> = samples.to_vec();
    all.push(minimum);
    all.sort_unstable();
    all[all.len() / 2]
}

/// Representatives heard from recently.
#[derive(Debug, Default)]
pub struct OnlineReps {
    last_heard: HashMap<Account, Instant>,
}

impl OnlineReps {
    /// Notes a live vote from `rep` (with non-zero weight).
    pub fn observe(&mut self, rep: Account) {
        self.last_heard.insert(rep, Instant::now());
    }

    /// Forgets representatives silent for longer than the window; returns those left.
    pub fn current(&mut self) -> Vec<Account> {
        let now = Instant::now();
        self.last_heard
            .retain(|_, t| now.duration_since(*t) <= ONLINE_WINDOW);
        self.last_heard.keys().copied().collect()
    }

    /// Sum of the current weights of the online representatives.
    pub fn online_weight(&mut self, weight: impl Fn(&Account) -> Amount) -> Amount {
        self.current().iter().fold(Amount::ZERO, |acc, r| {
            acc.checked_add(weight(r)).unwrap_or(Amount::MAX)
        })
    }
}

/// The numbers behind the quorum, as the `confirmation_quorum` RPC prints them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuorumInfo {
    pub quorum_delta: Amount,
    pub online_weight_quorum_percent: u32,
    pub online_weight_minimum: Amount,
    pub online_stake_total: Amount,
    pub trended_stake_total: Amount,
    pub peers_stake_total: Amount,
}

impl QuorumInfo {
    pub fn compute(online: Amount, trended: Amount, minimum: Amount, peers: Amount) -> Self {
        let base = online.max(trended).max(minimum);
        QuorumInfo {
            quorum_delta: quorum_of(base),
            online_weight_quorum_percent: QUORUM_PERCENT as u32,
            online_weight_minimum: minimum,
            online_stake_total: online,
            trended_stake_total: trended,
            peers_stake_total: peers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_and_trend() {
        assert_eq!(quorum_of(Amount(100)), Amount(67));
        assert_eq!(quorum_of(Amount(1000)), Amount(670));
        assert!(quorum_of(Amount::MAX) < Amount::MAX);
        assert_eq!(trended(&[], Amount(5)), Amount(5));
        assert_eq!(trended(&[Amount(1), Amount(9)], Amount(5)), Amount(5));
        assert_eq!(
            trended(&[Amount(7), Amount(9), Amount(8)], Amount(5)),
            Amount(8)
        );
        let q = QuorumInfo::compute(Amount(10), Amount(300), Amount(200), Amount(0));
        assert_eq!(q.quorum_delta, Amount(201));
    }
}
