//! Budgets of slow-action CPU time ([`crate::worker_pool`]): how much time on a CPU per
//! second the jobs of one client, and of all clients together, may use. Time on a CPU,
//! not time holding a worker: a job that waits (for work generated on the work pool, or
//! for the block processor) costs the machine next to nothing, and the pool's other
//! bounds already cover the threads it holds. A flood of scans
//! that are each within every other bound (one address, two running, a full queue of its
//! own) still takes whatever CPU the machine leaves, for as long as it lasts; with a
//! budget the flood's share is set by configuration, and the jobs beyond it wait in the
//! flooder's own bounded queue (then are refused) instead of running.
//!
//! A budget is a bucket of CPU time refilled at its rate and holding at most
//! [`BURST`] of it. A job may start while its bucket is not in debt; it is charged what it
//! used when it ends, so a job longer than the bucket holds runs whole and then keeps its
//! client waiting until the debt is repaid: the long-run average stays at the rate.

use std::time::{Duration, Instant};

/// Seconds of the rate a full bucket holds: a client that was idle may use one second's
/// worth at once (a burst of scans is not slowed), while a flood averages to the rate
/// within a second or two.
pub const BURST: Duration = Duration::from_secs(1);

/// CPU time one client's jobs may use per second by default: a quarter of one core. That is
/// about nine `receivable` calls a second over an account with 200,000 receivables (27 ms
/// each on a 2-core machine) and hundreds over ordinary accounts, while one address
/// flooding scans takes at most a quarter of a core, not whatever the machine leaves.
/// Clients whose slow calls are all short are not held to it (see
/// [`crate::worker_pool`]'s light clients).
pub const DEFAULT_CLIENT_BUDGET: Duration = Duration::from_millis(250);

/// CPU time all clients' jobs together may use per second by default, per core: a quarter
/// of the machine, so that a flood of scans from many addresses (each within its own
/// budget) leaves three quarters of every core to the node and to everyone else.
pub const DEFAULT_POOL_BUDGET_PER_CORE: Duration = Duration::from_millis(250);

/// The pool's default budget on this machine: [`DEFAULT_POOL_BUDGET_PER_CORE`] per core.
pub fn default_pool_budget() -> Duration {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    DEFAULT_POOL_BUDGET_PER_CORE * u32::try_from(cores).unwrap_or(u32::MAX)
}

/// One budget's bucket. The rate is passed in on every call, so that the pool's buckets
/// follow a rate changed at run time without rewriting them.
#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    /// Seconds of CPU time available as of `at` (negative: in debt).
    balance: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket for budget `rate` (CPU time per second).
    pub fn full(rate: Duration, now: Instant) -> Bucket {
        Bucket {
            balance: capacity(rate),
            at: now,
        }
    }

    /// Seconds available at `now` (negative: in debt).
    pub fn balance_at(&self, rate: Duration, now: Instant) -> f64 {
        let age = now.saturating_duration_since(self.at).as_secs_f64();
        (self.balance + age * rate.as_secs_f64()).min(capacity(rate))
    }

    /// Whether a job may start at `now`.
    pub fn allows(&self, rate: Duration, now: Instant) -> bool {
        self.balance_at(rate, now) >= 0.0
    }

    /// Charges a finished job's `used` time.
    pub fn charge(&mut self, rate: Duration, used: Duration, now: Instant) {
        self.balance = self.balance_at(rate, now) - used.as_secs_f64();
        self.at = now;
    }

    /// How long from `now` until a job may start (zero if it may now); None for a zero
    /// rate in debt, which never refills.
    pub fn ready_in(&self, rate: Duration, now: Instant) -> Option<Duration> {
        let balance = self.balance_at(rate, now);
        if balance >= 0.0 {
            return Some(Duration::ZERO);
        }
        let per_second = rate.as_secs_f64();
        (per_second > 0.0).then(|| Duration::from_secs_f64(-balance / per_second))
    }
}

fn capacity(rate: Duration) -> f64 {
    rate.as_secs_f64() * BURST.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_bucket_allows_its_burst_then_refills_at_its_rate() {
        let rate = MS * 250;
        let now = Instant::now();
        let mut b = Bucket::full(rate, now);
        assert!((b.balance_at(rate, now) - 0.25).abs() < 1e-9);
        // Idle time adds nothing beyond one burst.
        assert!((b.balance_at(rate, now + Duration::from_secs(60)) - 0.25).abs() < 1e-9);
        // One job of 1.25 s runs (the bucket was not in debt), then leaves a 1 s debt.
        assert!(b.allows(rate, now));
        b.charge(rate, MS * 1250, now);
        assert!(!b.allows(rate, now));
        assert_eq!(b.ready_in(rate, now), Some(Duration::from_secs(4)));
        assert!(!b.allows(rate, now + MS * 3999));
        assert!(b.allows(rate, now + Duration::from_secs(4)));
        assert_eq!(
            b.ready_in(rate, now + Duration::from_secs(5)),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn a_flood_of_jobs_averages_to_the_rate() {
        let rate = MS * 250;
        let start = Instant::now();
        let mut b = Bucket::full(rate, start);
        let mut now = start;
        let mut used = Duration::ZERO;
        // Jobs of 27 ms started whenever the bucket allows, for 20 simulated seconds.
        while now < start + Duration::from_secs(20) {
            match b.ready_in(rate, now) {
                Some(Duration::ZERO) => {
                    b.charge(rate, MS * 27, now + MS * 27);
                    used += MS * 27;
                    now += MS * 27;
                }
                Some(wait) => now += wait,
                None => unreachable!("a positive rate refills"),
            }
        }
        // 20 s at 250 ms/s plus the first burst, and at most one job over.
        let most = 20.0 * 0.25 + 0.25 + 0.027;
        assert!(used.as_secs_f64() <= most, "{used:?}");
        assert!(used.as_secs_f64() >= 20.0 * 0.25 - 0.03, "{used:?}");
    }

    #[test]
    fn a_zero_rate_in_debt_never_refills() {
        let now = Instant::now();
        let mut b = Bucket::full(Duration::ZERO, now);
        assert!(b.allows(Duration::ZERO, now));
        b.charge(Duration::ZERO, MS, now);
        assert_eq!(
            b.ready_in(Duration::ZERO, now + Duration::from_secs(9)),
            None
        );
    }
}
