//! Online weight and the quorum delta (fact sheet §8): which representatives have been
//! heard from recently, the sum of their weights, the trended value (median of the
//! periodic samples kept in the store's `online_weight` table, with the configured
//! minimum), and `delta = 67% × max(online, trended, minimum)`.
//!
//! A representative counts online when this node has verified a vote of it within
//! [`ONLINE_WINDOW`]: votes from peers after their signature check, and the votes this
//! node's own representatives sign. Accounts below `representative_vote_weight_minimum`
//! never count. The network layer's rep crawler supplies only the weight of
//! representatives among the connected peers ([`OnlineWeightSource::peers_weight`]),
//! shown as `peers_stake_total`; it never enters the quorum.
//!
//! [`RepTiers`] sorts representatives by their share of the trended online weight, as
//! the reference's `rep_tiers` does, for the vote processor's fair queue: recomputed
//! from the ledger's representative weights every [`rep_tiers_interval`], looked up per
//! vote.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use nano_core::{Account, Amount};
use nano_ledger::Ledger;

use super::{lock, Shared};

/// Percentage of online weight needed to confirm.
pub const QUORUM_PERCENT: u128 = 67;
/// How long a representative counts as online after it was last heard from.
pub const ONLINE_WINDOW: Duration = Duration::from_secs(300);

/// The network's view of representatives (rep crawler); `None` when unknown.
pub trait OnlineWeightSource: Send + Sync {
    /// Sum of the weights of representatives among the connected peers.
    fn peers_weight(&self) -> Option<Amount>;
}

/// Tier thresholds as fractions of online weight (reference `rep_tiers`): above 1/1000
/// is tier 1, above 1/100 tier 2, above 1/20 tier 3. Rules of who is a principal
/// representative, not bounds: the vote queue's bounds per tier are in [`super::limits`].
pub const TIER_1_DIVISOR: u128 = 1000;
pub const TIER_2_DIVISOR: u128 = 100;
pub const TIER_3_DIVISOR: u128 = 20;

/// A representative's share of online weight (reference `rep_tiers`): the vote
/// processor queues and serves votes by tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RepTier {
    /// At most 0.1% of online weight (but at least the vote weight minimum).
    None,
    /// Above 0.1%.
    Tier1,
    /// Above 1%.
    Tier2,
    /// Above 5%.
    Tier3,
}

impl RepTier {
    /// The tier of `weight` when `online` is the online weight the quorum is based on.
    pub fn of(weight: Amount, online: Amount) -> RepTier {
        let w = weight.0;
        let o = online.0;
        if w > o / TIER_3_DIVISOR {
            RepTier::Tier3
        } else if w > o / TIER_2_DIVISOR {
            RepTier::Tier2
        } else if w > o / TIER_1_DIVISOR {
            RepTier::Tier1
        } else {
            RepTier::None
        }
    }
}

/// How often the tiers are recomputed: reference `rep_tiers` (10 minutes, 500 ms on
/// the dev network). Weights and the trend move slowly; a vote's tier is a set lookup.
pub fn rep_tiers_interval(network: nano_core::Network) -> Duration {
    if network == nano_core::Network::Dev {
        Duration::from_millis(500)
    } else {
        Duration::from_secs(600)
    }
}

/// Representatives above the tier 1 threshold and their tier, as last computed: one
/// entry per representative (three sets, one per tier, held a tier 3 representative
/// three times, and at 800k representatives cost three inserts each per pass).
/// Bounded: tier 1 needs more than 1/1000 of the trended weight, so it holds at most
/// 1000 × supply / trended accounts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RepTiers {
    tiers: HashMap<Account, RepTier>,
}

impl RepTiers {
    /// Tiers of the representatives in `weights` against the `trended` online weight
    /// (reference `rep_tiers::calculate_tiers`).
    pub fn compute(weights: impl IntoIterator<Item = (Account, Amount)>, trended: Amount) -> Self {
        let tiers = weights
            .into_iter()
            .map(|(rep, weight)| (rep, RepTier::of(weight, trended)))
            .filter(|(_, tier)| *tier >= RepTier::Tier1)
            .collect();
        RepTiers { tiers }
    }

    /// Sets the tier of each representative of `weights` (its weight now) against
    /// `trended`, the weight the others were computed against: what a whole
    /// [`RepTiers::compute`] would give when only these weights changed.
    pub fn update(
        &mut self,
        weights: impl IntoIterator<Item = (Account, Amount)>,
        trended: Amount,
    ) {
        for (rep, weight) in weights {
            match RepTier::of(weight, trended) {
                RepTier::None => self.tiers.remove(&rep),
                tier => self.tiers.insert(rep, tier),
            };
        }
    }

    /// The tier `rep` had when the tiers were last computed.
    pub fn tier(&self, rep: &Account) -> RepTier {
        self.tiers.get(rep).copied().unwrap_or(RepTier::None)
    }

    /// Representatives in tiers 1, 2 and 3.
    pub fn sizes(&self) -> (usize, usize, usize) {
        let at_least = |t: RepTier| self.tiers.values().filter(|v| **v >= t).count();
        (
            at_least(RepTier::Tier1),
            at_least(RepTier::Tier2),
            at_least(RepTier::Tier3),
        )
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

/// Representatives heard from recently. Bounded: only accounts holding at least the
/// vote weight minimum are recorded, and at most `supply / minimum` accounts can.
#[derive(Debug)]
pub struct OnlineReps {
    last_heard: HashMap<Account, Instant>,
    /// `representative_vote_weight_minimum`: lighter accounts are never online.
    weight_minimum: Amount,
}

impl OnlineReps {
    pub fn new(weight_minimum: Amount) -> Self {
        OnlineReps {
            last_heard: HashMap::new(),
            weight_minimum,
        }
    }

    /// Notes a verified vote from `rep`, whose ledger weight is `weight`; returns
    /// whether it counts (weight at least the minimum, and not zero).
    pub fn observe(&mut self, rep: Account, weight: Amount) -> bool {
        if weight.is_zero() || weight < self.weight_minimum {
            return false;
        }
        self.last_heard.insert(rep, Instant::now());
        true
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
    /// The weight the quorum is a share of: online, trended or the minimum, whichever
    /// is largest. Representative tiers are measured against it too.
    pub fn base(&self) -> Amount {
        self.online_stake_total
            .max(self.trended_stake_total)
            .max(self.online_weight_minimum)
    }

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

const ONLINE_SAMPLE_PERIOD: Duration = Duration::from_secs(300);

/// Online weight bookkeeping and the last computed quorum numbers.
pub(crate) struct OnlineState {
    pub(crate) reps: OnlineReps,
    pub(crate) samples: Vec<Amount>,
    pub(crate) minimum: Amount,
    pub(crate) last_sample: Instant,
    pub(crate) info: QuorumInfo,
}

impl OnlineState {
    /// `minimum` is `online_weight_minimum`; `weight_minimum` is
    /// `representative_vote_weight_minimum`.
    pub(crate) fn load(ledger: &Ledger, minimum: Amount, weight_minimum: Amount) -> OnlineState {
        let mut samples = Vec::new();
        if let Ok(txn) = ledger.read_txn() {
            if let Ok(it) = ledger.store().iter_online_weight(&txn) {
                samples = it.filter_map(|r| r.ok().map(|(_, w)| w)).collect();
            }
        }
        let t = trended(&samples, minimum);
        OnlineState {
            reps: OnlineReps::new(weight_minimum),
            samples,
            minimum,
            last_sample: Instant::now(),
            info: QuorumInfo::compute(Amount::ZERO, t, minimum, Amount::ZERO),
        }
    }
}

impl Shared {
    /// Recomputes online weight, samples it every 5 minutes, and updates the quorum.
    pub(crate) fn update_online(&self) {
        let source = self.online_source.read().ok().and_then(|s| s.clone());
        let net_peers = source.as_ref().and_then(|s| s.peers_weight());
        let mut st = lock(&self.online);
        let online = st.reps.online_weight(|r| self.ledger.weight(r));
        if st.last_sample.elapsed() >= ONLINE_SAMPLE_PERIOD {
            st.last_sample = Instant::now();
            st.samples.push(online);
            let max = self.params.max_weight_samples;
            if st.samples.len() > max {
                let excess = st.samples.len() - max;
                st.samples.drain(..excess);
            }
            self.store_online_sample(online);
        }
        let t = trended(&st.samples, st.minimum);
        let peers = net_peers.unwrap_or(online);
        st.info = QuorumInfo::compute(online, t, st.minimum, peers);
        *lock(&self.principal_minimum) =
            super::elections::principal_minimum(self.config.network, t);
    }

    fn store_online_sample(&self, online: Amount) {
        let Ok(mut txn) = self.ledger.write_txn() else {
            return;
        };
        let ts = nano_store::online_weight_key(std::time::SystemTime::now());
        let _ = txn.put_online_weight(ts, online);
        let store = self.ledger.store();
        let max = self.params.max_weight_samples as u64;
        let count = store.online_weight_count(&txn).unwrap_or(0);
        if count > max {
            let old: Vec<u64> = store
                .iter_online_weight(&txn)
                .map(|it| {
                    it.filter_map(|r| r.ok().map(|(t, _)| t))
                        .take((count - max) as usize)
                        .collect()
                })
                .unwrap_or_default();
            for t in old {
                let _ = txn.del_online_weight(t);
            }
        }
        let _ = txn.commit();
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

    #[test]
    fn only_reps_at_or_above_the_minimum_count_online() {
        let mut o = OnlineReps::new(Amount(10));
        let a = Account::from_bytes([1; 32]);
        let b = Account::from_bytes([2; 32]);
        let c = Account::from_bytes([3; 32]);
        assert!(!o.observe(a, Amount(9)));
        assert!(o.observe(b, Amount(10)));
        assert!(o.observe(c, Amount(500)));
        let weights = |r: &Account| if *r == b { Amount(10) } else { Amount(500) };
        assert_eq!(o.online_weight(weights), Amount(510));
        let mut zero_min = OnlineReps::new(Amount::ZERO);
        assert!(
            !zero_min.observe(a, Amount::ZERO),
            "no weight is never online"
        );
    }

    #[test]
    fn tiers_are_computed_once_and_looked_up() {
        let a = Account::from_bytes([1; 32]);
        let b = Account::from_bytes([2; 32]);
        let c = Account::from_bytes([3; 32]);
        let d = Account::from_bytes([4; 32]);
        let weights = [
            (a, Amount(50_001)),
            (b, Amount(10_001)),
            (c, Amount(1001)),
            (d, Amount(1000)),
        ];
        let t = RepTiers::compute(weights, Amount(1_000_000));
        assert_eq!(t.tier(&a), RepTier::Tier3);
        assert_eq!(t.tier(&b), RepTier::Tier2);
        assert_eq!(t.tier(&c), RepTier::Tier1);
        assert_eq!(t.tier(&d), RepTier::None);
        assert_eq!(t.sizes(), (3, 2, 1));
        // Against a ten times larger trended weight: only above 1/1000 (10,000).
        let t = RepTiers::compute(weights, Amount(10_000_000));
        assert_eq!(t.tier(&a), RepTier::Tier1);
        assert_eq!(t.tier(&b), RepTier::Tier1);
        assert_eq!(t.tier(&c), RepTier::None);
    }

    #[test]
    fn updating_the_changed_weights_gives_the_tiers_of_a_whole_pass() {
        let acc = |b: u8| Account::from_bytes([b; 32]);
        let trended = Amount(1_000_000);
        let before = [
            (acc(1), Amount(50_001)),
            (acc(2), Amount(10_001)),
            (acc(3), Amount(1001)),
            (acc(4), Amount(1000)),
        ];
        // 1 loses its weight, 3 rises to tier 3, 4 to tier 1, 5 is new in tier 2.
        let changes = [
            (acc(1), Amount(0)),
            (acc(3), Amount(60_000)),
            (acc(4), Amount(1001)),
            (acc(5), Amount(20_000)),
        ];
        let mut t = RepTiers::compute(before, trended);
        t.update(changes, trended);
        let after = [
            (acc(2), Amount(10_001)),
            (acc(3), Amount(60_000)),
            (acc(4), Amount(1001)),
            (acc(5), Amount(20_000)),
        ];
        assert_eq!(t, RepTiers::compute(after, trended));
        assert_eq!(t.tier(&acc(1)), RepTier::None);
        assert_eq!(t.tier(&acc(3)), RepTier::Tier3);
        assert_eq!(t.sizes(), (4, 3, 1));
    }

    #[test]
    fn tiers_by_share_of_online_weight() {
        let online = Amount(1_000_000);
        assert_eq!(RepTier::of(Amount(1000), online), RepTier::None);
        assert_eq!(RepTier::of(Amount(1001), online), RepTier::Tier1);
        assert_eq!(RepTier::of(Amount(10_001), online), RepTier::Tier2);
        assert_eq!(RepTier::of(Amount(50_001), online), RepTier::Tier3);
        assert_eq!(RepTier::of(Amount::MAX, Amount::MAX), RepTier::Tier3);
    }
}
