//! Counters the node keeps about itself (messages by type and direction, drops,
//! handshakes, blocks processed ...). They are lock-free so hot paths can count freely,
//! and are read by the `stats` RPC and the `/metrics` endpoint.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// type → detail → direction → counter. Nested so a lookup borrows the `&str`s it is
/// given: counting allocates only the first time a key is seen (hot paths count several
/// times per network message).
type Counters = BTreeMap<String, BTreeMap<String, BTreeMap<String, Arc<AtomicU64>>>>;

/// Named counters keyed by (type, detail, direction), as the reference node's `stats`
/// RPC reports them.
#[derive(Default)]
pub struct Stats {
    counters: RwLock<Counters>,
}

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

    pub fn clear(&self) {
        let m = self.counters.read().unwrap_or_else(|e| e.into_inner());
        for c in m.values().flat_map(|d| d.values()).flat_map(|d| d.values()) {
            c.store(0, Ordering::Relaxed);
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
}
