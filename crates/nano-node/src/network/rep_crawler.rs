//! The representative crawler: asks peers to vote on a random recent block
//! (confirm_req), and records as representatives the peers whose votes come from
//! accounts with ledger weight. From the representatives seen within the weight period
//! it computes the online weight, samples it into the store's online_weight table every
//! weight period, and derives the trended online weight (median of samples, floored at
//! `online_weight_minimum`) that quorum is measured against.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nano_core::{Amount, BlockHash, PublicKey, Root};
use nano_messages::{ConfirmReq, Message, Vote};
use rand::seq::SliceRandom;

use super::channel::Channel;
use super::{DropPolicy, Inner};
use crate::interfaces::{ChannelInfo, TrafficType};

/// Window in which a representative counts as online.
pub const ONLINE_WINDOW: Duration = Duration::from_secs(300);
/// Peers queried per crawl.
const PEERS_PER_CRAWL: usize = 10;
/// A representative seen on the same channel more recently than this is not looked at
/// again: refreshing it would cost a signature check per vote, and against the online
/// window of 300 s a last-seen time 5 s old is exact enough.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5);
/// At most one signature check per account in this long, so forged votes naming a
/// weighted account cost one check a second at most, not one each.
const VERIFY_THROTTLE: Duration = Duration::from_secs(1);
/// Accounts whose last check time is remembered. Past it, checks older than the
/// throttle are forgotten; if that is not enough, votes of further accounts are left
/// unchecked (and unrecorded) until it is.
const ATTEMPTS_MAX: usize = 4096;
/// Representatives remembered. The live network has about a hundred principal
/// representatives and some thousands of accounts with weight that vote; 16 Ki entries
/// (a few MB) hold them all, while an attacker holding many lightly weighted accounts
/// cannot grow the table past it. When full, entries not seen within the online window
/// go first, then the lightest representative gives way to a heavier one, so the weight
/// counted online stays the largest the table can hold.
pub const REPS_MAX: usize = 16 * 1024;

/// A representative reachable through one of our channels.
#[derive(Debug, Clone)]
pub struct Representative {
    pub account: PublicKey,
    /// Ledger weight when last seen.
    pub weight: Amount,
    pub channel: ChannelInfo,
    /// When a vote of it on this channel last passed the signature check.
    pub last_seen: Instant,
}

/// What a vote did to the crawler's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Observed {
    /// Seen on this channel within [`REFRESH_INTERVAL`]: not checked, nothing changed.
    Fresh,
    /// The account was checked within [`VERIFY_THROTTLE`] (or too many accounts were):
    /// not checked, nothing changed.
    Throttled,
    /// The signature did not verify: nothing changed.
    BadSignature,
    /// A new (account, channel) pair was recorded.
    New,
    /// The table is full of representatives at least as heavy: not recorded.
    Full,
    /// The representative's last-seen time (and channel) were refreshed.
    Refreshed,
}

#[derive(Default)]
pub(super) struct RepCrawler {
    reps: Mutex<HashMap<PublicKey, Representative>>,
    /// Last signature check per account (bounded by [`ATTEMPTS_MAX`]).
    attempts: Mutex<HashMap<PublicKey, Instant>>,
    /// Trended weight cached from the last sample (None until computed).
    trended: Mutex<Option<Amount>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RepCrawler {
    /// Looks at a vote that arrived on `ch` from an account with weight. A
    /// representative's last-seen time moves only for a vote whose signature verified.
    pub(super) fn observe(&self, inner: &Inner, ch: &Channel, vote: &Vote) {
        let weight = inner.ledger.weight(&vote.account);
        if weight.is_zero() {
            return;
        }
        let now = Instant::now();
        match self.observe_at(vote.account, weight, &ch.info, now, || vote.verify()) {
            Observed::BadSignature => inner.stats.inc("rep_crawler", "bad_signature", "in"),
            Observed::Throttled => inner.stats.inc("rep_crawler", "throttled", "in"),
            Observed::New => {
                inner.stats.inc("rep_crawler", "rep_new", "");
                tracing::debug!(
                    rep = %vote.account.encode_account(),
                    peer = %ch.info.endpoint,
                    "representative found"
                );
            }
            Observed::Full => inner.stats.inc("rep_crawler", "table_full", "in"),
            Observed::Fresh | Observed::Refreshed => {}
        }
    }

    /// [`RepCrawler::observe`] at time `now`, `verify` checking the vote's signature.
    pub(super) fn observe_at(
        &self,
        account: PublicKey,
        weight: Amount,
        channel: &ChannelInfo,
        now: Instant,
        verify: impl FnOnce() -> bool,
    ) -> Observed {
        if let Some(r) = lock(&self.reps).get(&account) {
            if r.channel.id == channel.id && now.duration_since(r.last_seen) < REFRESH_INTERVAL {
                return Observed::Fresh;
            }
        }
        if !self.may_check(account, now) {
            return Observed::Throttled;
        }
        if !verify() {
            return Observed::BadSignature;
        }
        let rep = Representative {
            account,
            weight,
            channel: channel.clone(),
            last_seen: now,
        };
        let mut reps = lock(&self.reps);
        if reps.len() >= REPS_MAX
            && !reps.contains_key(&account)
            && !make_room(&mut reps, weight, now)
        {
            return Observed::Full;
        }
        match reps.insert(account, rep) {
            Some(_) => Observed::Refreshed,
            None => Observed::New,
        }
    }

    /// Representatives in the table (live channel or not).
    #[cfg(test)]
    fn len(&self) -> usize {
        lock(&self.reps).len()
    }

    /// Whether `account`'s vote may be checked now (records the check).
    fn may_check(&self, account: PublicKey, now: Instant) -> bool {
        let mut attempts = lock(&self.attempts);
        if attempts
            .get(&account)
            .is_some_and(|t| now.duration_since(*t) < VERIFY_THROTTLE)
        {
            return false;
        }
        if attempts.len() >= ATTEMPTS_MAX && !attempts.contains_key(&account) {
            attempts.retain(|_, t| now.duration_since(*t) < VERIFY_THROTTLE);
            if attempts.len() >= ATTEMPTS_MAX {
                return false;
            }
        }
        attempts.insert(account, now);
        true
    }

    pub(super) fn representatives(&self, inner: &Inner) -> Vec<Representative> {
        let mut v: Vec<Representative> = lock(&self.reps).values().cloned().collect();
        // Only those whose channel is still open (a lookup each, not a set of every
        // channel: this runs for every block and vote the node floods).
        v.retain(|r| inner.channel(r.channel.id).is_some());
        v.sort_by_key(|r| std::cmp::Reverse(r.last_seen));
        v
    }

    pub(super) fn online_weight(&self, inner: &Inner) -> Amount {
        let reps = lock(&self.reps);
        let total: u128 = reps
            .values()
            .filter(|r| r.last_seen.elapsed() < ONLINE_WINDOW)
            .map(|r| inner.ledger.weight(&r.account).0)
            .fold(0u128, |a, w| a.saturating_add(w));
        Amount(total)
    }

    pub(super) fn trended(&self, inner: &Inner) -> Amount {
        let cached = *lock(&self.trended);
        let median = cached.unwrap_or_else(|| {
            let m = median_of_samples(inner);
            *lock(&self.trended) = Some(m);
            m
        });
        median.max(minimum(inner))
    }
}

/// Frees one slot of a full table for a representative of `weight`: forgets entries not
/// seen within the online window, else the lightest entry if lighter than `weight`.
fn make_room(reps: &mut HashMap<PublicKey, Representative>, weight: Amount, now: Instant) -> bool {
    reps.retain(|_, r| now.duration_since(r.last_seen) < ONLINE_WINDOW);
    if reps.len() < REPS_MAX {
        return true;
    }
    let lightest = reps
        .values()
        .min_by_key(|r| r.weight)
        .filter(|r| r.weight < weight)
        .map(|r| r.account);
    match lightest {
        Some(a) => {
            reps.remove(&a);
            true
        }
        None => false,
    }
}

/// A representative is principal when its weight is at least the trended online weight
/// divided by this: the reference's `principal_weight_factor` (0.1%), as its
/// `node::minimum_principal_weight` and `rep_crawler::principal_representatives` apply.
pub(crate) const PRINCIPAL_WEIGHT_FACTOR: u128 = 1000;

/// Whether a representative of `weight` is a principal one when the trended online
/// weight is `trended`.
pub(crate) fn is_principal(weight: Amount, trended: Amount) -> bool {
    weight.0 >= trended.0 / PRINCIPAL_WEIGHT_FACTOR
}

fn minimum(inner: &Inner) -> Amount {
    Amount::decode_dec(&inner.config.online_weight_minimum)
        .unwrap_or(inner.params.online_weight_minimum)
}

fn median_of_samples(inner: &Inner) -> Amount {
    let store = inner.ledger.store();
    let mut samples: Vec<Amount> = match store.read_txn() {
        Ok(txn) => match store.iter_online_weight(&txn) {
            Ok(it) => it.filter_map(Result::ok).map(|(_, w)| w).collect(),
            Err(_) => Vec::new(),
        },
        Err(_) => Vec::new(),
    };
    if samples.is_empty() {
        return Amount::ZERO;
    }
    samples.sort();
    samples[samples.len() / 2]
}

/// Stores the current online weight as a sample, trims to `max_weight_samples` and
/// refreshes the trended value.
pub(super) fn sample(inner: &Inner) {
    let weight = inner.reps.online_weight(inner);
    let store = inner.ledger.store();
    let r = (|| -> Result<(), nano_store::StoreError> {
        let old: Vec<u64> = {
            let txn = store.read_txn()?;
            let count = store.online_weight_count(&txn)? as usize + 1;
            let excess = count.saturating_sub(inner.params.max_weight_samples);
            let v = store
                .iter_online_weight(&txn)?
                .take(excess)
                .filter_map(Result::ok)
                .map(|(t, _)| t)
                .collect();
            v
        };
        let mut txn = store.write_txn()?;
        for t in old {
            txn.del_online_weight(t)?;
        }
        txn.put_online_weight(
            nano_store::online_weight_key(std::time::SystemTime::now()),
            weight,
        )?;
        txn.commit()
    })();
    if r.is_err() {
        inner.stats.inc("error", "online_weight_store", "");
    }
    let m = median_of_samples(inner);
    *lock(&inner.reps.trended) = Some(m);
}

/// A (hash, root) pair to ask about: the frontier of a random account, or genesis.
fn random_target(inner: &Inner) -> (BlockHash, Root) {
    let ledger = &inner.ledger;
    let fallback = (inner.params.genesis_hash, inner.params.genesis.root());
    let Ok(txn) = ledger.read_txn() else {
        return fallback;
    };
    let start = PublicKey(rand::random());
    let found = ledger
        .frontiers(&txn, &start, 1)
        .ok()
        .and_then(|v| v.into_iter().next())
        .or_else(|| {
            ledger
                .frontiers(&txn, &PublicKey::ZERO, 1)
                .ok()
                .and_then(|v| v.into_iter().next())
        });
    let Some((_, head)) = found else {
        return fallback;
    };
    match ledger.block(&txn, &head) {
        Ok(Some(b)) => (head, b.block.root()),
        _ => fallback,
    }
}

fn crawl_period(inner: &Inner) -> Duration {
    inner
        .flags
        .rep_crawler_period
        .unwrap_or(if inner.params.network == nano_core::Network::Dev {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(7)
        })
}

pub(super) async fn crawl_loop(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(crawl_period(&inner));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = inner.token.cancelled() => break,
            _ = tick.tick() => {}
        }
        let mut list = inner.distinct_channels().to_vec();
        if list.is_empty() {
            continue;
        }
        list.shuffle(&mut rand::rng());
        list.truncate(PEERS_PER_CRAWL);
        let i = inner.clone();
        let target = tokio::task::spawn_blocking(move || random_target(&i))
            .await
            .unwrap_or((inner.params.genesis_hash, inner.params.genesis.root()));
        let msg = Message::ConfirmReq(ConfirmReq {
            pairs: vec![target],
        });
        let Some(bytes) = inner.encode(&msg) else {
            continue;
        };
        for ch in list {
            inner.push(
                &ch,
                bytes.clone(),
                "confirm_req",
                TrafficType::Background,
                DropPolicy::Never,
            );
        }
        inner.stats.inc("rep_crawler", "crawl", "");
    }
}

pub(super) async fn sample_loop(inner: Arc<Inner>) {
    let period = inner.flags.weight_period.unwrap_or(ONLINE_WINDOW);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = inner.token.cancelled() => break,
            _ = tick.tick() => {}
        }
        let i = inner.clone();
        let _ = tokio::task::spawn_blocking(move || sample(&i)).await;
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv6Addr, SocketAddrV6};

    use super::*;

    fn channel(id: u64) -> ChannelInfo {
        ChannelInfo {
            id,
            endpoint: SocketAddrV6::new(Ipv6Addr::LOCALHOST, 7075, 0, 0),
            node_id: PublicKey::ZERO,
            protocol_version: 21,
        }
    }

    #[test]
    fn principal_from_a_thousandth_of_the_trended_weight() {
        let trended = Amount(5_000_000);
        assert!(is_principal(Amount(5_000), trended));
        assert!(is_principal(Amount(5_001), trended));
        assert!(!is_principal(Amount(4_999), trended));
        assert!(!is_principal(Amount(0), trended));
        assert!(
            is_principal(Amount(0), Amount(999)),
            "below 1000 raw, every weight is"
        );
    }

    fn last_seen(c: &RepCrawler, account: &PublicKey) -> Option<Instant> {
        lock(&c.reps).get(account).map(|r| r.last_seen)
    }

    #[test]
    fn last_seen_moves_only_for_votes_that_verify() {
        let c = RepCrawler::default();
        let rep = PublicKey([7; 32]);
        let w = Amount(100);
        let t0 = Instant::now();
        // A forged vote records nothing.
        assert_eq!(
            c.observe_at(rep, w, &channel(1), t0, || false),
            Observed::BadSignature
        );
        assert_eq!(last_seen(&c, &rep), None);
        let t1 = t0 + VERIFY_THROTTLE;
        assert_eq!(
            c.observe_at(rep, w, &channel(1), t1, || true),
            Observed::New
        );
        assert_eq!(last_seen(&c, &rep), Some(t1));
        // Later forged votes on the same channel: never a refresh, whether skipped as
        // fresh (not even checked), throttled or checked and refused.
        let t2 = t1 + Duration::from_secs(1);
        let mut checked = false;
        let out = c.observe_at(rep, w, &channel(1), t2, || {
            checked = true;
            false
        });
        assert_eq!(out, Observed::Fresh);
        assert!(!checked, "a fresh entry costs no signature check");
        let t3 = t1 + REFRESH_INTERVAL + Duration::from_secs(1);
        assert_eq!(
            c.observe_at(rep, w, &channel(1), t3, || false),
            Observed::BadSignature
        );
        assert_eq!(
            c.observe_at(rep, w, &channel(1), t3, || true),
            Observed::Throttled,
            "one check per account per second"
        );
        assert_eq!(last_seen(&c, &rep), Some(t1));
        // A verified vote refreshes it.
        let t4 = t3 + VERIFY_THROTTLE;
        assert_eq!(
            c.observe_at(rep, w, &channel(1), t4, || true),
            Observed::Refreshed
        );
        assert_eq!(last_seen(&c, &rep), Some(t4));
    }

    fn account(i: u32) -> PublicKey {
        let mut b = [0u8; 32];
        b[..4].copy_from_slice(&i.to_le_bytes());
        b[31] = 1;
        PublicKey(b)
    }

    /// Verified votes from more weighted accounts than the table holds: it stays at
    /// [`REPS_MAX`], lighter newcomers are refused, heavier ones replace the lightest,
    /// and entries out of the online window make room.
    #[test]
    fn representative_table_is_bounded_under_a_flood_of_accounts() {
        let c = RepCrawler::default();
        let t0 = Instant::now();
        let flood = REPS_MAX as u32 + 2_000;
        let mut t = t0;
        for i in 0..flood {
            // Spread over time so the per-second check budget is not what limits it.
            if i % (ATTEMPTS_MAX as u32 / 2) == 0 {
                t += VERIFY_THROTTLE;
            }
            let w = Amount(1_000 + u128::from(i % 7));
            c.observe_at(account(i), w, &channel(1), t, || true);
        }
        assert_eq!(c.len(), REPS_MAX);
        t += VERIFY_THROTTLE;
        let light = account(flood + 1);
        assert_eq!(
            c.observe_at(light, Amount(1), &channel(1), t, || true),
            Observed::Full
        );
        let heavy = account(flood + 2);
        assert_eq!(
            c.observe_at(heavy, Amount(1_000_000), &channel(1), t, || true),
            Observed::New
        );
        assert_eq!(c.len(), REPS_MAX);
        assert!(last_seen(&c, &heavy).is_some());
        // Once everything is older than the online window, a light newcomer fits.
        let later = t + ONLINE_WINDOW;
        assert_eq!(
            c.observe_at(light, Amount(1), &channel(1), later, || true),
            Observed::New
        );
        assert!(c.len() <= 2, "stale entries forgotten: {}", c.len());
    }

    #[test]
    fn check_times_are_bounded() {
        let c = RepCrawler::default();
        let t = Instant::now();
        for i in 0..ATTEMPTS_MAX as u32 {
            let mut b = [0u8; 32];
            b[..4].copy_from_slice(&i.to_le_bytes());
            c.observe_at(PublicKey(b), Amount(1), &channel(1), t, || false);
        }
        let extra = PublicKey([0xff; 32]);
        assert_eq!(
            c.observe_at(extra, Amount(1), &channel(1), t, || true),
            Observed::Throttled
        );
        assert_eq!(lock(&c.attempts).len(), ATTEMPTS_MAX);
        // Once the earlier checks are older than the throttle they make room.
        let later = t + VERIFY_THROTTLE;
        assert_eq!(
            c.observe_at(extra, Amount(1), &channel(1), later, || true),
            Observed::New
        );
        assert_eq!(lock(&c.attempts).len(), 1);
    }
}
