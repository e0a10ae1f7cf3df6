//! Counters the node keeps about itself (messages by type and direction, drops,
//! handshakes, blocks processed ...), and samplers: the last values of a few measured
//! quantities (election durations, hashes per generated vote, bootstrap request round
//! trips). Counters are lock-free so hot paths can count freely; both are read by the
//! `stats` RPC (types `counters` and `samples`) and counters by `/metrics`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// type → detail → direction → counter. Nested so a lookup borrows the `&str`s it is
/// given: counting allocates only the first time a key is seen (hot paths count several
/// times per network message).
type Counters = BTreeMap<String, BTreeMap<String, BTreeMap<String, Arc<AtomicU64>>>>;

/// Named counters keyed by (type, detail, direction), as the reference node's `stats`
/// RPC reports them.
#[derive(Default, Debug)]
pub struct Stats {
    counters: RwLock<Counters>,
    samplers: Mutex<BTreeMap<&'static str, Sampler>>,
}

/// Values a sampler keeps between two reads: the reference node's default
/// `stats.max_samples`, so a node nobody asks keeps at most this many per sampler
/// (a ring: the oldest value goes first).
pub const MAX_SAMPLES: usize = 16 * 1024;

/// One sampler: the range its values are expected in (reported with them) and the values
/// recorded since the last read.
#[derive(Debug)]
struct Sampler {
    expected: (i64, i64),
    values: VecDeque<i64>,
}

/// What a read of one sampler returns: its name, expected (min, max), and the values
/// recorded since the previous read, oldest first.
pub type SamplerValues = (&'static str, (i64, i64), Vec<i64>);

fn find<'a>(m: &'a Counters, kind: &str, detail: &str, dir: &str) -> Option<&'a Arc<AtomicU64>> {
    m.get(kind)?.get(detail)?.get(dir)
}

impl Stats {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&self, kind: &str, detail: &str, dir: &str, n: u64) {
        {
            let m = self.counters.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = find(&m, kind, detail, dir) {
                c.fetch_add(n, Ordering::Relaxed);
                return;
            }
        }
        let mut m = self.counters.write().unwrap_or_else(|e| e.into_inner());
        m.entry(kind.to_string())
            .or_default()
            .entry(detail.to_string())
            .or_default()
            .entry(dir.to_string())
            .or_default()
            .fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self, kind: &str, detail: &str, dir: &str) {
        self.add(kind, detail, dir, 1);
    }

    pub fn get(&self, kind: &str, detail: &str, dir: &str) -> u64 {
        let m = self.counters.read().unwrap_or_else(|e| e.into_inner());
        find(&m, kind, detail, dir).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// Every counter as (type, detail, dir, value), sorted.
    pub fn snapshot(&self) -> Vec<(String, String, String, u64)> {
        let m = self.counters.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (kind, details) in m.iter() {
            for (detail, dirs) in details {
                for (dir, c) in dirs {
                    out.push((
                        kind.clone(),
                        detail.clone(),
                        dir.clone(),
                        c.load(Ordering::Relaxed),
                    ));
                }
            }
        }
        out
    }

    /// Zeroes every counter and drops every sampler (the reference's `stats_clear`).
    pub fn clear(&self) {
        let m = self.counters.read().unwrap_or_else(|e| e.into_inner());
        for c in m.values().flat_map(|d| d.values()).flat_map(|d| d.values()) {
            c.store(0, Ordering::Relaxed);
        }
        self.samplers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Records `value` in the sampler `name`, whose values are expected within
    /// `expected` (min, max); the first record of a sampler fixes its range.
    pub fn sample(&self, name: &'static str, value: i64, expected: (i64, i64)) {
        let mut m = self.samplers.lock().unwrap_or_else(|e| e.into_inner());
        let s = m.entry(name).or_insert_with(|| Sampler {
            expected,
            values: VecDeque::new(),
        });
        if s.values.len() >= MAX_SAMPLES {
            s.values.pop_front();
        }
        s.values.push_back(value);
    }

    /// Every sampler by name with the values recorded since the previous read; reading
    /// empties them, as the reference's `stats` of type `samples` does.
    pub fn take_samples(&self) -> Vec<SamplerValues> {
        let mut m = self.samplers.lock().unwrap_or_else(|e| e.into_inner());
        m.iter_mut()
            .map(|(name, s)| (*name, s.expected, Vec::from(std::mem::take(&mut s.values))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_clears() {
        let s = Stats::new();
        s.inc("message", "publish", "in");
        s.add("message", "publish", "in", 2);
        s.inc("message", "keepalive", "out");
        assert_eq!(s.get("message", "publish", "in"), 3);
        s.inc("message", "publish", "out");
        let snap = s.snapshot();
        assert_eq!(snap.len(), 3);
        assert_eq!(
            snap[1],
            ("message".into(), "publish".into(), "in".into(), 3)
        );
        assert_eq!(s.get("message", "publish", "out"), 1);
        s.clear();
        assert_eq!(s.get("message", "publish", "in"), 0);
    }

    #[test]
    fn samples_are_kept_in_order_bounded_and_emptied_by_a_read() {
        let s = Stats::new();
        s.sample("b_sampler", 5, (0, 999));
        s.sample("a_sampler", 1, (0, 10));
        s.sample("a_sampler", 2, (0, 10));
        let taken = s.take_samples();
        assert_eq!(
            taken,
            vec![
                ("a_sampler", (0, 10), vec![1, 2]),
                ("b_sampler", (0, 999), vec![5])
            ]
        );
        // Read once: the next read lists the samplers without values.
        assert_eq!(s.take_samples()[0].2, Vec::<i64>::new());
        for v in 0..(MAX_SAMPLES as i64 + 3) {
            s.sample("a_sampler", v, (0, 10));
        }
        let a = s.take_samples().remove(0).2;
        assert_eq!(a.len(), MAX_SAMPLES);
        assert_eq!(a[0], 3, "the oldest values go first");
        s.sample("a_sampler", 1, (0, 10));
        s.clear();
        assert!(s.take_samples().is_empty());
    }
}
