//! How the ascending client's blocked accounts got free, and how long each waited: for
//! the bootstrap bench (RPC does not carry these). Every account blocked and freed is
//! counted by the way it went (the processor's report of its send, or the fallback
//! pass); for one account in [`SAMPLE_EVERY`] the time from its blocking to its freeing
//! goes into a histogram per way, the pass's split by whether the send was in the
//! ledger already when the account blocked (no report could come) or came later (its
//! report was missed). A pass that freed accounts late would show as a long tail there,
//! without timing every account.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use nano_core::Account;

/// One blocked account in this many is timed (chosen by its last key byte, so the
/// choice is the same for an account however often it blocks).
pub(crate) const SAMPLE_EVERY: u8 = 16;
/// Timed accounts held at once: a sixteenth of the default `blocking_max` (256 Ki), so
/// the timing map stays under about 1 MB whatever the blocked set holds; past it an
/// account goes untimed (it is still counted).
const TIMED_MAX: usize = 16 * 1024;
/// Histogram buckets: bucket `i` holds waits under `2^i` ms, the last one the rest
/// (over 2^16 ms, about a minute).
const BUCKETS: usize = 18;

/// How a blocked account got free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Freed {
    /// The processor reported its send inserted.
    Report,
    /// The fallback pass found its send in the ledger, and the send was not there
    /// when the account blocked: its report was missed.
    PassReportMissed,
    /// The fallback pass found its send, which was in the ledger already when the
    /// account blocked (no report could come).
    PassSendBefore,
}

impl Freed {
    const ALL: [Freed; 3] = [
        Freed::Report,
        Freed::PassReportMissed,
        Freed::PassSendBefore,
    ];

    fn name(self) -> &'static str {
        match self {
            Freed::Report => "report",
            Freed::PassReportMissed => "pass_report_missed",
            Freed::PassSendBefore => "pass_send_before",
        }
    }
}

/// The shared counters (since the node started).
#[derive(Default)]
pub(crate) struct UnblockStats {
    /// Accounts blocked (a new entry of the blocked set).
    blocked: AtomicU64,
    /// Of those, the ones whose send was in the ledger already.
    blocked_send_in: AtomicU64,
    /// Accounts freed (every account): by a report, by the pass.
    freed: [AtomicU64; 2],
    /// Timed accounts freed, by way: count, the sum of their waits (µs), histogram.
    timed: [AtomicU64; 3],
    wait_us: [AtomicU64; 3],
    hist: [[AtomicU64; BUCKETS]; 3],
}

impl UnblockStats {
    /// Every counter as `unblock.<what>`, the waits as count, mean and the upper
    /// bounds of the buckets holding the 50th, 90th and 99th percentiles (ms).
    pub(crate) fn list(&self) -> Vec<(String, u64)> {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = vec![
            ("unblock.blocked".to_string(), get(&self.blocked)),
            (
                "unblock.blocked_send_in".to_string(),
                get(&self.blocked_send_in),
            ),
        ];
        for (i, name) in ["report", "pass"].iter().enumerate() {
            out.push((format!("unblock.{name}"), get(&self.freed[i])));
        }
        for f in Freed::ALL {
            let i = f as usize;
            let name = f.name();
            let n = get(&self.timed[i]);
            if n == 0 {
                continue;
            }
            out.push((format!("unblock.{name}.timed"), n));
            out.push((
                format!("unblock.{name}.mean_ms"),
                get(&self.wait_us[i]) / n / 1000,
            ));
            let hist: Vec<u64> = self.hist[i].iter().map(get).collect();
            for (p, q) in [("p50", 50), ("p90", 90), ("p99", 99)] {
                out.push((format!("unblock.{name}.{p}_ms"), percentile(&hist, n, q)));
            }
        }
        out
    }
}

/// The upper bound (ms) of the bucket holding the `q`th percentile of `n` waits.
fn percentile(hist: &[u64], n: u64, q: u64) -> u64 {
    let want = (n * q).div_ceil(100).max(1);
    let mut seen = 0;
    for (i, c) in hist.iter().enumerate() {
        seen += c;
        if seen >= want {
            return 1 << i;
        }
    }
    1 << (hist.len() - 1)
}

fn bucket(ms: u128) -> usize {
    let mut i = 0;
    while i + 1 < BUCKETS && ms >= 1 << i {
        i += 1;
    }
    i
}

/// The client's own record of when its timed accounts blocked, and whether their send
/// was in the ledger then.
pub(crate) struct BlockTimes {
    timed: HashMap<Account, (Instant, bool)>,
}

impl BlockTimes {
    pub(crate) fn new() -> Self {
        BlockTimes {
            timed: HashMap::new(),
        }
    }

    /// `account` was newly blocked at `now`; `send_in`: its send was in the ledger.
    pub(crate) fn blocked(
        &mut self,
        stats: &UnblockStats,
        account: Account,
        send_in: bool,
        now: Instant,
    ) {
        stats.blocked.fetch_add(1, Ordering::Relaxed);
        if send_in {
            stats.blocked_send_in.fetch_add(1, Ordering::Relaxed);
        }
        if account.as_bytes()[31] % SAMPLE_EVERY == 0 && self.timed.len() < TIMED_MAX {
            self.timed.entry(account).or_insert((now, send_in));
        }
    }

    /// `account` was freed at `now`, `by_pass` (the fallback pass) or by a report.
    pub(crate) fn freed(
        &mut self,
        stats: &UnblockStats,
        account: &Account,
        by_pass: bool,
        now: Instant,
    ) {
        let entry = self.timed.remove(account);
        let way = match (by_pass, entry) {
            (false, _) => Freed::Report,
            (true, Some((_, true))) => Freed::PassSendBefore,
            (true, _) => Freed::PassReportMissed,
        };
        stats.freed[usize::from(by_pass)].fetch_add(1, Ordering::Relaxed);
        if let Some((at, _)) = entry {
            record(stats, way, now.saturating_duration_since(at).as_micros());
        }
    }

    /// Timed accounts held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.timed.len()
    }
}

fn record(stats: &UnblockStats, way: Freed, us: u128) {
    let i = way as usize;
    stats.timed[i].fetch_add(1, Ordering::Relaxed);
    stats.wait_us[i].fetch_add(us as u64, Ordering::Relaxed);
    stats.hist[i][bucket(us / 1000)].fetch_add(1, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn account(last: u8) -> Account {
        let mut b = [7u8; 32];
        b[31] = last;
        Account::from_bytes(b)
    }

    /// Frees by each way are counted for every account and timed for the sampled
    /// ones, with the wait from blocking to freeing in its bucket.
    #[test]
    fn frees_are_counted_by_way_and_timed_when_sampled() {
        let stats = UnblockStats::default();
        let mut times = BlockTimes::new();
        let t0 = Instant::now();
        let (a, b, c) = (account(0), account(SAMPLE_EVERY), account(1));
        times.blocked(&stats, a, false, t0);
        times.blocked(&stats, b, true, t0);
        times.blocked(&stats, c, false, t0);
        assert_eq!(times.len(), 2, "one in SAMPLE_EVERY accounts is timed");
        times.freed(&stats, &a, false, t0 + Duration::from_millis(3));
        times.freed(&stats, &b, true, t0 + Duration::from_millis(900));
        times.freed(&stats, &c, true, t0 + Duration::from_millis(5));
        assert_eq!(times.len(), 0);
        let l = stats.list();
        let get = |k: &str| l.iter().find(|(n, _)| n == k).map(|(_, v)| *v);
        assert_eq!(get("unblock.blocked"), Some(3));
        assert_eq!(get("unblock.blocked_send_in"), Some(1));
        assert_eq!(get("unblock.report"), Some(1));
        assert_eq!(get("unblock.report.timed"), Some(1));
        assert_eq!(get("unblock.report.p50_ms"), Some(4));
        assert_eq!(get("unblock.pass_send_before.timed"), Some(1));
        assert_eq!(get("unblock.pass_send_before.mean_ms"), Some(900));
        assert_eq!(get("unblock.pass_send_before.p99_ms"), Some(1024));
        // Untimed: counted as freed by the pass only.
        assert_eq!(get("unblock.pass"), Some(2));
        assert_eq!(get("unblock.pass_report_missed.timed"), None);
    }

    #[test]
    fn percentiles_name_their_buckets_upper_bound() {
        let mut hist = [0u64; BUCKETS];
        hist[0] = 50; // under 1 ms
        hist[4] = 40; // 8-16 ms
        hist[10] = 10; // 512-1024 ms
        assert_eq!(percentile(&hist, 100, 50), 1);
        assert_eq!(percentile(&hist, 100, 90), 16);
        assert_eq!(percentile(&hist, 100, 99), 1024);
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1), 1);
        assert_eq!(bucket(15), 4);
        assert_eq!(bucket(u128::MAX), BUCKETS - 1);
    }
}
