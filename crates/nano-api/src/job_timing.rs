//! Where the slow-action pool's short jobs spend their time (benchmarks, diagnostics):
//! for every job that ran no longer than [`crate::worker_pool::LIGHT_JOB`] (a cheap call
//! such as `account_balance`, never a flood's scan), the time from its submission to its
//! start (waiting in its client's queue and for a thread to wake and take it), the time
//! it ran, and how many jobs were running when it started. A benchmark reads the totals
//! before and after a phase and subtracts the pool's part from the latency its client
//! measured; the rest is the server's runtime (accepting, parsing, writing the answer).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the queue-wait classes [`ShortJobs::waits`] counts (the last class
/// is everything above the last bound).
pub const WAIT_CLASSES: [Duration; 3] = [
    Duration::from_micros(100),
    Duration::from_millis(1),
    Duration::from_millis(10),
];

/// Running totals since the pool started; figures of a phase are the difference of two.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShortJobs {
    /// Short jobs run.
    pub count: u64,
    /// Of them, run by a light-lane thread.
    pub on_lane: u64,
    /// Their time from submission to start, summed.
    pub waited: Duration,
    /// Their time running (wall clock), summed.
    pub ran: Duration,
    /// Jobs running (on any thread) when each started, summed.
    pub busy_at_start: u64,
    /// How many waited within each of [`WAIT_CLASSES`], and above the last.
    pub waits: [u64; 4],
}

impl ShortJobs {
    /// The figures of the span between `earlier` and `self`.
    pub fn since(&self, earlier: &ShortJobs) -> ShortJobs {
        let mut waits = [0; 4];
        for (w, (a, b)) in waits.iter_mut().zip(self.waits.iter().zip(earlier.waits)) {
            *w = a.saturating_sub(b);
        }
        ShortJobs {
            count: self.count.saturating_sub(earlier.count),
            on_lane: self.on_lane.saturating_sub(earlier.on_lane),
            waited: self.waited.saturating_sub(earlier.waited),
            ran: self.ran.saturating_sub(earlier.ran),
            busy_at_start: self.busy_at_start.saturating_sub(earlier.busy_at_start),
            waits,
        }
    }
}

/// The pool's counters (atomics: recorded by the thread that ran the job, outside the
/// pool's lock).
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    count: AtomicU64,
    on_lane: AtomicU64,
    waited_ns: AtomicU64,
    ran_ns: AtomicU64,
    busy: AtomicU64,
    waits: [AtomicU64; 4],
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl Recorder {
    /// Records one short job.
    pub(crate) fn record(&self, waited: Duration, ran: Duration, busy: usize, lane: bool) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if lane {
            self.on_lane.fetch_add(1, Ordering::Relaxed);
        }
        self.waited_ns.fetch_add(nanos(waited), Ordering::Relaxed);
        self.ran_ns.fetch_add(nanos(ran), Ordering::Relaxed);
        self.busy
            .fetch_add(u64::try_from(busy).unwrap_or(u64::MAX), Ordering::Relaxed);
        let class = WAIT_CLASSES
            .iter()
            .position(|b| waited <= *b)
            .unwrap_or(WAIT_CLASSES.len());
        self.waits[class].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn totals(&self) -> ShortJobs {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ShortJobs {
            count: get(&self.count),
            on_lane: get(&self.on_lane),
            waited: Duration::from_nanos(get(&self.waited_ns)),
            ran: Duration::from_nanos(get(&self.ran_ns)),
            busy_at_start: get(&self.busy),
            waits: [0, 1, 2, 3].map(|i| get(&self.waits[i])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_differences_add_up() {
        let r = Recorder::default();
        let us = Duration::from_micros(1);
        r.record(us * 50, us * 300, 4, true);
        let first = r.totals();
        r.record(us * 500, us * 200, 2, false);
        r.record(us * 20_000, us * 100, 3, false);
        let all = r.totals();
        assert_eq!(all.count, 3);
        assert_eq!(all.waits, [1, 1, 0, 1]);
        let later = all.since(&first);
        assert_eq!(
            later,
            ShortJobs {
                count: 2,
                on_lane: 0,
                waited: us * 20_500,
                ran: us * 300,
                busy_at_start: 5,
                waits: [0, 1, 0, 1],
            }
        );
    }
}
