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
use super::{wall_ms, DropPolicy, Inner};
use crate::interfaces::{ChannelInfo, TrafficType};

/// Window in which a representative counts as online.
pub const ONLINE_WINDOW: Duration = Duration::from_secs(300);
/// Peers queried per crawl.
const PEERS_PER_CRAWL: usize = 10;

/// A representative reachable through one of our channels.
#[derive(Debug, Clone)]
pub struct Representative {
    pub account: PublicKey,
    /// Ledger weight when last seen.
    pub weight: Amount,
    pub channel: ChannelInfo,
    pub last_seen: Instant,
}

#[derive(Default)]
pub(super) struct RepCrawler {
    reps: Mutex<HashMap<PublicKey, Representative>>,
    /// Trended weight cached from the last sample (None until computed).
    trended: Mutex<Option<Amount>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl RepCrawler {
    /// Looks at a vote that arrived on `ch`. Votes from accounts without weight are
    /// ignored; a known (account, channel) pair only refreshes its time; a new one is
    /// recorded after its signature is checked.
    pub(super) fn observe(&self, inner: &Inner, ch: &Channel, vote: &Vote) {
        let weight = inner.ledger.weight(&vote.account);
        if weight.is_zero() {
            return;
        }
        {
            let mut reps = lock(&self.reps);
            if let Some(r) = reps.get_mut(&vote.account) {
                if r.channel.id == ch.info.id {
                    r.last_seen = Instant::now();
                    r.weight = weight;
                    return;
                }
            }
        }
        if !vote.verify() {
            inner.stats.inc("rep_crawler", "bad_signature", "in");
            return;
        }
        let known = lock(&self.reps)
            .insert(
                vote.account,
                Representative {
                    account: vote.account,
                    weight,
                    channel: ch.info.clone(),
                    last_seen: Instant::now(),
                },
            )
            .is_some();
        if !known {
            inner.stats.inc("rep_crawler", "rep_new", "");
            tracing::debug!(
                rep = %vote.account.encode_account(),
                peer = %ch.info.endpoint,
                "representative found"
            );
        }
    }

    pub(super) fn representatives(&self, inner: &Inner) -> Vec<Representative> {
        let live: std::collections::HashSet<u64> =
            inner.all_channels().iter().map(|c| c.info.id).collect();
        let mut v: Vec<Representative> = lock(&self.reps)
            .values()
            .filter(|r| live.contains(&r.channel.id))
            .cloned()
            .collect();
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
        txn.put_online_weight(wall_ms(), weight)?;
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
        let mut list = inner.distinct_channels();
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
