//! Counters the node keeps about itself (messages by type and direction, drops,
//! handshakes, blocks processed ...). They are lock-free so hot paths can count freely,
//! and are read by the `stats` RPC and the `/metrics` endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

/// Named counters keyed by (type, detail, direction), as the reference node's `stats`
/// RPC reports them.
#[derive(Default)]
pub struct Stats {
    counters: RwLock<BTreeMap<(String, String, String), std::sync::Arc<AtomicU64>>>,
}

impl Stats {
    pub fn new() -> Self {
        Self::default()
    }

    fn counter(&self, kind: &str, detail: &str, dir: &str) -> std::sync::Arc<AtomicU64> {
        let key = (kind.to_string(), detail.to_string(), dir.to_string());
        if let Some(c) = self.counters.read().ok().and_then(|m| m.get(&key).cloned()) {
            return c;
        }
        let mut m = self.counters.write().unwrap_or_else(|e| e.into_inner());
        m.entry(key).or_default().clone()
    }

    pub fn add(&self, kind: &str, detail: &str, dir: &str, n: u64) {
        self.counter(kind, detail, dir)
            .fetch_add(n, Ordering::Relaxed);
    }

    pub fn inc(&self, kind: &str, detail: &str, dir: &str) {
        self.add(kind, detail, dir, 1);
    }

    pub fn get(&self, kind: &str, detail: &str, dir: &str) -> u64 {
        let key = (kind.to_string(), detail.to_string(), dir.to_string());
        self.counters
            .read()
            .ok()
            .and_then(|m| m.get(&key).map(|c| c.load(Ordering::Relaxed)))
            .unwrap_or(0)
    }

    /// Every counter as (type, detail, dir, value), sorted.
    pub fn snapshot(&self) -> Vec<(String, String, String, u64)> {
        self.counters
            .read()
            .map(|m| {
                m.iter()
                    .map(|((a, b, c), v)| {
                        (a.clone(), b.clone(), c.clone(), v.load(Ordering::Relaxed))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn clear(&self) {
        if let Ok(m) = self.counters.read() {
            for v in m.values() {
                v.store(0, Ordering::Relaxed);
            }
        }
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
        assert_eq!(s.snapshot().len(), 2);
        s.clear();
        assert_eq!(s.get("message", "publish", "in"), 0);
    }
}
